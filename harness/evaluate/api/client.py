"""Send chat-completion requests with the `openai` client: concurrent, rate-limited, retried, cached, metered.

The openai client's own retries are off (max_retries=0): retries happen here so that every attempt is counted,
every wait honours the server's Retry-After, and a cached answer is never requested again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai

from harness.errors import HarnessError
from harness.evaluate.api.cache import ResponseCache, request_key
from harness.evaluate.api.limits import RateLimiter, backoff_delay, retry_after_seconds
from harness.evaluate.api.meter import Meter
from harness.evaluate.api.pricing import cost

log = logging.getLogger(__name__)

# Estimates prompt and completion tokens when a server returns no `usage`: (messages, text) -> (p, c, how).
Estimator = Callable[[list[dict[str, Any]], str], tuple[int, int, str]]


def chars_estimate(messages: list[dict[str, Any]], text: str) -> tuple[int, int, str]:
    """The usual rule of thumb for English BPE vocabularies: about 4 characters per token."""
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    return max(1, round(chars / 4)), round(len(text) / 4), "estimated: characters / 4"


class FatalApiError(HarnessError):
    """Retrying cannot help (bad key, no quota, the model does not exist): stop the cell, keep what is cached."""


@dataclass
class Settings:
    concurrency: int = 4
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    max_retries: int = 6
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    timeout_s: float = 120.0
    stream: bool = True


class Transient(Exception):
    """A failed attempt worth retrying, with the server's requested wait if it sent one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


def classify(e: BaseException, key_env: str | None) -> Exception:
    """Map a failed attempt to Transient (retry), FatalApiError (stop the cell) or itself (fail this sample)."""
    if isinstance(e, openai.APIStatusError):
        status, headers = e.status_code, e.response.headers
        body = e.body if isinstance(e.body, dict) else {}
        code = (body.get("error") or body).get("code") if isinstance(body, dict) else None
        if status in (401, 403):
            where = f"the key in ${key_env}" if key_env else "this endpoint"
            return FatalApiError(
                f"the API refused {where} (HTTP {status}); check the key and its permissions."
            )
        if status == 429 and code == "insufficient_quota":
            return FatalApiError("the API account has no quota left (HTTP 429 insufficient_quota).")
        if status == 429 or status >= 500 or status in (408, 409):
            return Transient(f"HTTP {status}", retry_after_seconds(headers))
        if status == 404:
            return FatalApiError(f"the API does not know this model or path (HTTP 404): {e.message}")
        return e  # other 4xx: this request is wrong; retrying sends the same wrong request
    if isinstance(e, (openai.APIConnectionError, asyncio.TimeoutError, TimeoutError)):  # timeouts included
        return Transient(type(e).__name__)
    if isinstance(
        e, (openai.APIResponseValidationError, json.JSONDecodeError, ValueError, KeyError, IndexError)
    ):
        return Transient(f"malformed response ({type(e).__name__})")
    return Transient(f"{type(e).__name__}: {e}")


class ApiCaller:
    def __init__(self, *, base_url: str | None, api_key: str, model: str, endpoint_id: str, price: dict[str, Any],
                 settings: Settings, cache: ResponseCache, cell_id: str | None = None,
                 estimator: Estimator = chars_estimate, key_env: str | None = None, seed: int = 1234):  # fmt: skip
        self.base_url, self.api_key, self.model, self.endpoint_id = base_url, api_key, model, endpoint_id
        self.price, self.s, self.cache, self.cell_id = price, settings, cache, cell_id
        self.estimator, self.key_env = estimator, key_env
        self.rng = random.Random(seed)  # jitter: reproducible schedules in tests

    # -- one attempt -------------------------------------------------------------------------------------------
    async def _attempt(self, client: openai.AsyncOpenAI, body: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        first = None
        usage = None
        parts: list[str] = []
        finish = None
        if self.s.stream:
            stream = await client.chat.completions.create(
                model=self.model, stream=True, stream_options={"include_usage": True}, **body
            )
            async for chunk in stream:
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices or []:
                    if choice.delta and choice.delta.content:
                        if first is None:
                            first = time.perf_counter()
                        parts.append(choice.delta.content)
                    finish = choice.finish_reason or finish
            if finish is None and usage is None:
                raise ValueError("the stream ended before the answer did")
        else:
            resp = await client.chat.completions.create(model=self.model, **body)
            usage = resp.usage
            parts.append(resp.choices[0].message.content or "")
            finish = resp.choices[0].finish_reason
        ended = time.perf_counter()
        text = "".join(parts)
        if usage is not None:
            details = getattr(usage, "prompt_tokens_details", None)
            p, c = usage.prompt_tokens, usage.completion_tokens
            cached = (getattr(details, "cached_tokens", None) or 0) if details else 0
            source = "server"
        else:
            p, c, source = self.estimator(body["messages"], text)
            cached = 0
        tps = c / (ended - first) if first is not None and c and c > 1 and ended > first else None
        return {"text": text, "prompt_tokens": p, "cached_tokens": cached, "completion_tokens": c,
                "usage_source": source, "latency_s": ended - started,
                "ttft_s": None if first is None else first - started, "output_tokens_per_s": tps,
                "finish_reason": finish}  # fmt: skip

    # -- one request, with retries ------------------------------------------------------------------------------
    async def call(self, client: openai.AsyncOpenAI, body: dict[str, Any], sem: asyncio.Semaphore,
                   limiter: RateLimiter) -> tuple[str, Meter]:  # fmt: skip
        key = request_key(self.endpoint_id, self.model, body)
        hit = self.cache.get(key)
        if hit is not None:
            meter = self._meter(hit, from_cache=True)
            return hit["text"], meter
        attempts, waited, last = 0, 0.0, ""
        # Rough token count for the tokens-per-minute limit: prompt characters / 4 + the output allowance.
        budget = sum(len(str(m.get("content", ""))) for m in body["messages"]) // 4 + int(
            body.get("max_tokens") or 0
        )
        while True:
            async with sem:
                waited += await limiter.acquire(budget)
                attempts += 1
                try:
                    got = await asyncio.wait_for(self._attempt(client, body), self.s.timeout_s)
                except Exception as e:  # noqa: BLE001 - classified just below
                    err = classify(e, self.key_env)
                else:
                    err = None
            if err is None:
                price_cost = cost(
                    got["prompt_tokens"], got["cached_tokens"], got["completion_tokens"], self.price
                )
                self.cache.put(key, self.endpoint_id, self.model, body, got, self.cell_id, price_cost,
                               self.price.get("currency", "USD"))  # fmt: skip
                meter = self._meter(got, from_cache=False)
                meter.attempts, meter.waited_s = attempts, waited
                return got["text"], meter
            if isinstance(err, FatalApiError):
                raise err
            last = str(err)
            if not isinstance(err, Transient) or attempts > self.s.max_retries:
                log.warning("request failed after %d attempt(s): %s", attempts, last)
                return "", Meter(attempts=attempts, waited_s=waited, error=last, usage_source="none")
            delay = backoff_delay(attempts - 1, self.s.backoff_base_s, self.s.backoff_max_s, self.rng)
            if err.retry_after is not None:
                delay = max(delay, err.retry_after)  # never sooner than the server asked
            log.info("attempt %d: %s; retrying in %.2f s", attempts, last, delay)
            await asyncio.sleep(delay)
            waited += delay

    def _meter(self, r: dict[str, Any], from_cache: bool) -> Meter:
        c = cost(r["prompt_tokens"], r["cached_tokens"], r["completion_tokens"], self.price)
        return Meter(
            prompt_tokens=r["prompt_tokens"], cached_tokens=r["cached_tokens"],
            completion_tokens=r["completion_tokens"], usage_source=r["usage_source"], latency_s=r["latency_s"],
            ttft_s=r["ttft_s"], output_tokens_per_s=r["output_tokens_per_s"], cost=c,
            billed=None if c is None else (0.0 if from_cache else c), from_cache=from_cache,
            finish_reason=r.get("finish_reason"),
        )  # fmt: skip

    # -- all requests --------------------------------------------------------------------------------------------
    async def _run(self, bodies: list[dict[str, Any]]) -> list[tuple[str, Meter]]:
        sem = asyncio.Semaphore(max(1, self.s.concurrency))
        limiter = RateLimiter(self.s.requests_per_minute, self.s.tokens_per_minute)
        client = openai.AsyncOpenAI(base_url=self.base_url, api_key=self.api_key, max_retries=0,
                                    timeout=self.s.timeout_s)  # fmt: skip
        try:
            return list(await asyncio.gather(*(self.call(client, b, sem, limiter) for b in bodies)))
        finally:
            await client.close()

    def run(self, bodies: list[dict[str, Any]]) -> list[tuple[str, Meter]]:
        return asyncio.run(self._run(bodies))
