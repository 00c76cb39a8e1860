"""Send chat-completion requests with the `openai` client: concurrent, rate-limited, retried, cached, metered.

The openai client's own retries are off (max_retries=0): retries happen here so that every attempt is counted,
every wait honours the server's Retry-After, and a cached answer is never requested again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import openai

from harness.api.budget import DEFAULT_MAX_TOKENS, Budget, BudgetStop, Cap, run_scope_id, worst_case
from harness.api.cache import ResponseCache, request_key
from harness.api.limits import RateLimiter, backoff_delay, retry_after_seconds
from harness.api.meter import Meter, decode_rate
from harness.api.pricing import cost, is_priced
from harness.api.usage import adapter, implausible, overlong, parse
from harness.errors import HarnessError

log = logging.getLogger(__name__)

# Estimates prompt and completion tokens when a server returns no `usage`: (messages, text) -> (p, c, how).
Estimator = Callable[[list[dict[str, Any]], str], tuple[int, int, str]]


def chars_estimate(messages: list[dict[str, Any]], text: str) -> tuple[int, int, str]:
    """The usual rule of thumb for English BPE vocabularies: about 4 characters per token."""
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    return max(1, round(chars / 4)), round(len(text) / 4), "estimated: characters / 4"


MAX_RETRY_AFTER_S = 600.0
# After an answer's finish_reason and usage, the wait for the stream's end: a server that never ends it costs this,
# not the whole timeout_s, and the answer's latency is taken at its last piece either way
DONE_GRACE_S = 1.0  # longer waits stop the cell (answered requests stay cached)


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
    timeout_s: float = 120.0  # the longest wait for the next piece of an answer
    stream: bool = True
    deadline_s: float = 600.0  # the whole answer of one attempt

    @classmethod
    def of(cls, e: Any) -> Settings:
        """From a baseline's config (BaselineConfig: a baseline, a judge's or a teacher's endpoint)."""
        return cls(
            e.concurrency,
            e.requests_per_minute,
            e.tokens_per_minute,
            e.max_retries,
            e.backoff_base_s,
            e.backoff_max_s,
            e.timeout_s,
            e.stream,
            e.deadline_s,
        )


class Transient(Exception):
    """A failed attempt worth retrying, with the server's requested wait if it sent one."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class Overdue(TimeoutError):
    """An attempt stopped by the harness's own clock (timeout_s between pieces of the answer, or deadline_s for
    the whole of it), with the cause in words."""


class ProviderError(Exception):
    """The server answered (HTTP 200) with an error object instead of an answer: its own message."""


class EmptyStream(Exception):
    """HTTP 200, an event stream, and not one event in it. Not retried: the body may have been a whole answer the
    stream reader cannot see (a JSON body labelled text/event-stream), produced and billed; asking again would pay
    again. The sample fails with this message, and a re-run resends it once."""


def provider_message(doc: Any) -> str | None:
    """The provider's message from an `{"error": ...}` body, or None when `doc` is not one."""
    if not isinstance(doc, dict) or not doc.get("error") or doc.get("choices"):
        return None
    err = doc["error"]
    msg = (err.get("message") or err.get("code") or json.dumps(err)) if isinstance(err, dict) else err
    return str(msg)[:300]


def classify(e: BaseException, key_env: str | None) -> Exception:
    """Map a failed attempt to Transient (retry), FatalApiError (stop the cell) or itself (fail this sample)."""
    if isinstance(e, EmptyStream):
        return e  # fails this sample without a retry
    if isinstance(e, Overdue):
        return Transient(str(e))
    if isinstance(e, ProviderError):
        return Transient(f"the server answered with an error: {e}")
    if isinstance(e, openai.APIError) and not isinstance(e, (openai.APIStatusError, openai.APIConnectionError)):
        return Transient(f"the server answered with an error: {e.message}")  # an error event inside the stream
    if isinstance(e, openai.APIStatusError):
        status, headers = e.status_code, e.response.headers
        body = e.body if isinstance(e.body, dict) else {}
        code = (body.get("error") or body).get("code") if isinstance(body, dict) else None
        if status in (401, 403):
            where = f"the key in ${key_env}" if key_env else "this endpoint"
            return FatalApiError(f"the API refused {where} (HTTP {status}); check the key and its permissions.")
        if status == 429 and code == "insufficient_quota":
            return FatalApiError("the API account has no quota left (HTTP 429 insufficient_quota).")
        if status == 429 or status >= 500 or status in (408, 409):
            return Transient(f"HTTP {status}", retry_after_seconds(headers))
        if status == 404:
            return FatalApiError(f"the API does not know this model or path (HTTP 404): {e.message}")
        return e  # other 4xx: this request is wrong; retrying sends the same wrong request
    if isinstance(e, (openai.APIConnectionError, asyncio.TimeoutError, TimeoutError)):  # timeouts included
        return Transient(connection_cause(e))
    if isinstance(e, json.JSONDecodeError):
        return Transient(f"malformed response: not JSON ({e.msg}): {e.doc[:80]!r}")
    if isinstance(e, (openai.APIResponseValidationError, ValueError, KeyError, IndexError)):
        return Transient(f"malformed response ({type(e).__name__}: {e})")
    return Transient(f"{type(e).__name__}: {e}")


def connection_cause(e: BaseException) -> str:
    """The root of a connection failure, in words. The openai client reports a refused connection as
    `APITimeoutError` ("Request timed out."); the cause chain below it says what really happened."""
    chain, x = [], e
    while x is not None and len(chain) < 10:
        chain.append(x)
        x = x.__cause__ or x.__context__
    for x in chain:
        if isinstance(x, ConnectionRefusedError):
            return f"cannot connect: connection refused ({x.strerror or x}); is the server running at that address?"
    for x in chain:
        if isinstance(x, OSError) and not isinstance(x, TimeoutError):
            return f"cannot connect: {x}"
    for x in chain:
        if "Cannot connect" in str(x) or "Name or service" in str(x):
            return f"cannot connect: {x}"
    return f"timed out ({type(e).__name__}: no answer within the timeout)"


def aio_client(timeout: float) -> Any:
    try:
        return openai.DefaultAioHttpClient(timeout=timeout)
    except RuntimeError:  # the openai build lacks its aiohttp extra: its default transport works too
        return None


@dataclass
class _Streamed:
    """An answer as it streams in."""

    parts: list[str] = field(default_factory=list)
    usage: Any = None
    first: float | None = None  # when the first content token came
    finish: Any = None
    reasoned: bool = False  # reasoning arrived in the stream (DeepSeek, Qwen, GLM and Kimi send it apart)
    note: str | None = None  # how it ended, when not as it should
    last: float | None = None  # when the last piece came


async def _aiter(items: Any) -> Any:
    """An async iterator over a stream, or over a list of chunks read from a body."""
    if hasattr(items, "__aiter__"):
        async for x in items:
            yield x
    else:
        for x in items:
            yield x


@dataclass
class _Job:
    """One distinct request: its cache key, body, the positions it answers, and its progress."""

    key: str
    body: dict[str, Any]
    indices: list[int]
    attempts: int = 0
    waited: float = 0.0
    result: tuple[str, Meter] | None = None

    @property
    def prompt_estimate(self) -> int:
        """Rough prompt tokens: ~4 characters per token for Latin scripts; about one token per CJK character."""
        text = "".join(str(m.get("content", "")) for m in self.body["messages"])
        cjk = sum(1 for ch in text if "\u3000" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af")
        return (len(text) - cjk) // 4 + cjk

    @property
    def budget(self) -> int:
        """Rough tokens for the tokens-per-minute limit: prompt characters / 4 + the output allowance."""
        return self.prompt_estimate + int(self.body.get("max_tokens") or 0)


class _Refused(Exception):
    """A money cap refused this request: nothing was sent."""

    def __init__(self, cap: Cap):
        super().__init__(cap.key)
        self.cap = cap


class ApiCaller:
    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        model: str,
        endpoint_id: str,
        price: dict[str, Any],
        settings: Settings,
        cache: ResponseCache,
        cell_id: str | None = None,
        estimator: Estimator = chars_estimate,
        key_env: str | None = None,
        seed: int = 1234,
        key_model: str | None = None,
        usage: str = "openai",
        budget: Budget | None = None,
    ):
        self.base_url, self.api_key, self.model, self.endpoint_id = base_url, api_key, model, endpoint_id
        self.price, self.s, self.cache, self.cell_id = price, settings, cache, cell_id
        self.estimator, self.key_env = estimator, key_env
        # The cache's name for the model: the model id, or for a local server a name that does not move with
        # the weights folder (the path it is sent as).
        self.key_model = key_model or model
        self.rng = random.Random(seed)  # jitter: reproducible schedules in tests
        self.usage = adapter(usage).name  # how its `usage` is read (usage.py); an unknown name fails here
        # Money caps (budget.py). Without a budget, the ledger still notes the run (its rows count against the
        # run's cap for the requests that have one).
        self.budget = budget
        self.run_id = budget.run_id if budget is not None else run_scope_id()
        self.refused: Cap | None = None  # set by the first refusal: no request is sent after it
        # metered / estimated prompt tokens, the worst so far: later reservations scale up by it
        self.prompt_ratio = 1.0
        if budget is not None and budget.caps and not is_priced(price):
            raise HarnessError(
                f"{budget.caps[0].key} is set but this endpoint is unpriced: a cap cannot be "
                "checked without a price (set its price.input_per_1m and price.output_per_1m)."
            )

    # -- one attempt -------------------------------------------------------------------------------------------
    async def _attempt(self, client: openai.AsyncOpenAI, body: dict[str, Any]) -> dict[str, Any]:
        # `client.post` (the openai client's documented way to send a raw body) rather than
        # `chat.completions.create`: same transport, auth, base URL and typed errors, without re-validating the
        # request and building typed objects per chunk, which cost about 2 ms of event-loop time per request and
        # held back throughput at high concurrency (bench/api_throughput.py). Chunks arrive as plain dicts.
        started = time.perf_counter()
        payload = {"model": self.model, **body}
        # One clock bounds the attempt: timeout_s from one piece of the answer to the next (the client's own
        # timeout is per socket read, which SSE keep-alive comments reset forever) and deadline_s for all of it.
        loop = asyncio.get_running_loop()
        hard = loop.time() + self.s.deadline_s
        step = lambda: min(hard, loop.time() + self.s.timeout_s)  # noqa: E731
        got = _Streamed()
        resp: Any = None
        try:
            async with asyncio.timeout_at(step()) as clock:
                if self.s.stream:
                    resp = await self._stream(client, payload, clock, step, got)
                else:
                    clock.reschedule(hard)  # one body: its first byte is the whole answer
                    resp = await client.post("/chat/completions", body=payload, cast_to=dict[str, Any])
        except TimeoutError:
            if got.finish is None:
                if loop.time() >= hard - 0.05:
                    raise Overdue(f"no complete answer within deadline_s={self.s.deadline_s:g} s") from None
                raise Overdue(
                    f"nothing of the answer for timeout_s={self.s.timeout_s:g} s (a server that sends "
                    "only keep-alive comments, or none, stops here)"
                ) from None
            # the answer was complete (its finish_reason came) but the stream was never closed: it is paid for,
            # so it is kept, not asked for again; it ended with its last piece
            got.note = "the stream stayed open after its answer ended (finish_reason came, then nothing)"
        if resp is not None:  # not streamed, or a stream request answered with one body
            if not isinstance(resp, dict):  # e.g. an HTML error page from a proxy, with status 200
                raise ValueError(f"the server answered with something that is not JSON: {str(resp)[:80]!r}")
            said = provider_message(resp)
            if said is not None:
                raise ProviderError(said)
            choice = resp["choices"][0]
            got = _Streamed(
                parts=[choice["message"].get("content") or ""],
                usage=resp.get("usage"),
                finish=choice.get("finish_reason"),
                note="a stream was asked for; the server answered with one JSON body" if self.s.stream else None,
            )
        ended = got.last if got.note and got.last is not None else time.perf_counter()
        out = self._read_answer(
            body, "".join(got.parts), got.usage, got.first, ended, started, got.finish, got.reasoned
        )
        if got.note:
            out["usage_warnings"].append(got.note)
        return out

    async def _stream(
        self, client: openai.AsyncOpenAI, payload: dict[str, Any], clock: Any, step: Callable[[], float], got: _Streamed
    ) -> Any:
        """One streamed attempt into `got` (kept as it arrives: a timeout after the answer's end keeps it).
        Returns a whole body instead when the server answered the stream request with one (JSON, whatever its
        content type says), else None."""
        payload = {**payload, "stream": True, "stream_options": {"include_usage": True}}
        stream = await client.post(
            "/chat/completions",
            body=payload,
            cast_to=dict[str, Any],
            stream=True,
            stream_cls=openai.AsyncStream[dict[str, Any]],
        )
        kind = str(getattr(stream.response, "headers", {}).get("content-type", ""))
        if not kind.startswith("text/event-stream"):  # not a stream: an error object, or a whole answer
            raw = (await stream.response.aread()).decode("utf-8", "replace")
            try:
                return json.loads(raw)
            except ValueError:
                if "data:" not in raw:
                    return raw
            events = [ln[5:].strip() for ln in raw.splitlines() if ln.startswith("data:")]  # an unlabelled stream
            chunks = [json.loads(e) for e in events if e and e != "[DONE]"]
        else:
            chunks = stream
        async for chunk in _aiter(chunks):
            got.last = time.perf_counter()
            clock.reschedule(step())
            said = provider_message(chunk)
            if said is not None:
                raise ProviderError(said)
            if chunk.get("usage"):
                got.usage = chunk["usage"]
            for choice in chunk.get("choices") or []:
                if choice.get("usage") and not chunk.get("usage"):  # Moonshot: inside the last choice
                    got.usage = choice["usage"]
                delta = choice.get("delta") or {}
                got.reasoned = got.reasoned or bool(delta.get("reasoning_content") or delta.get("reasoning"))
                content = delta.get("content")
                if content:
                    if got.first is None:
                        got.first = time.perf_counter()
                    got.parts.append(content)
                got.finish = choice.get("finish_reason") or got.finish
            if got.finish is not None and got.usage is not None:  # all in: only [DONE] may follow, soon
                clock.reschedule(min(clock.when() or math.inf, asyncio.get_running_loop().time() + DONE_GRACE_S))
        if got.last is None:
            raise EmptyStream(
                "the server answered 200 with an event stream holding no event (a whole JSON body "
                "labelled text/event-stream?); not retried, as it may have been billed: run again "
                "to resend it once"
            )
        if got.finish is None and got.usage is None:
            raise ValueError(
                "the stream ended before the answer did (or it was not an OpenAI-style event stream: check base_url)"
            )
        return None

    def _read_answer(
        self,
        body: dict[str, Any],
        text: str,
        usage: Any,
        first: float | None,
        ended: float,
        started: float,
        finish: Any,
        reasoned: bool,
    ) -> dict[str, Any]:
        """An answer and its tokens. Usage that contradicts the request or the answer (not a count, far above
        max_tokens, far above the prompt's or the text's own size) is not taken as fact: the tokens are
        estimated from the request and the answer instead, and both the record and the report say so."""
        u = parse(usage, self.usage)
        warnings = list(u.warnings)
        est_p, est_c, how = self.estimator(body["messages"], text)
        max_tokens = body.get("max_tokens")
        bad = implausible(usage, u, est_p, est_c, max_tokens)
        longer = overlong(est_c, max_tokens)
        if longer:
            warnings.append(longer)
        if u.reported and not bad:
            p, cached, c, r = u.prompt_tokens, u.cached_tokens, u.completion_tokens, u.reasoning_tokens
            source = "server"
        elif bad:
            p, c, cached, r = est_p, est_c, 0, None
            source = f"{how} (the server's usage was implausible)"
            warnings.append(
                f"usage not taken: {'; '.join(bad)}; the tokens are "
                f"{how.replace('estimated: ', 'estimated with ')} instead"
            )
        else:  # no usage, or a partial one: a good answer is kept, its tokens counted here and marked so
            p, c, source = est_p, est_c, how
            cached, r = 0, None
        if reasoned and not r:  # reasoning tokens uncounted, or unseparated inside completion_tokens
            warnings.append(
                "usage: the answer streamed reasoning but no reasoning token count came with it"
                + ("" if u.reported else " (usage estimated from the answer's text: reasoning not counted)")
                + "; decode rate not computed"
            )
            tps = None
        else:
            tps = decode_rate(c, r, first, ended)
        return {
            "text": text,
            "prompt_tokens": p,
            "cached_tokens": cached,
            "completion_tokens": c,
            "reasoning_tokens": r,
            "usage_warnings": warnings,
            "usage_source": source,
            "latency_s": ended - started,
            "ttft_s": None if first is None else first - started,
            "output_tokens_per_s": tps,
            "finish_reason": finish,
            # the provider's own object, as sent: kept in the response cache to re-check a count later
            "usage": usage if isinstance(usage, dict) else None,
        }

    # -- one attempt of one request, and what to do next ------------------------------------------------------------
    async def _try(self, client: openai.AsyncOpenAI, job: _Job, limiter: RateLimiter | None) -> float | None:
        """Send `job` once. Returns None when it is settled (answered or failed for good), else the delay before
        its next attempt. Raises FatalApiError when no request can succeed (bad key, no quota, unknown model)."""
        if limiter is not None:
            job.waited += await limiter.acquire(job.budget)
        reservation, reserved, prompt_est = self._reserve(job)  # raises _Refused: not sent
        job.attempts += 1
        try:
            # The client's timeout bounds each wait for bytes (connect, a read), not the whole answer: a long
            # answer that keeps streaming is not cut off and paid for again.
            got = await self._attempt(client, job.body)
        except BaseException as e:  # classified just below; a cancelled attempt frees its reservation too
            if reservation is not None:
                self.cache.release(reservation)
            if not isinstance(e, Exception):
                raise
            err = classify(e, self.key_env)
        else:
            price_cost = cost(got["prompt_tokens"], got["cached_tokens"], got["completion_tokens"], self.price)
            got["concurrency"] = self.s.concurrency  # what its latency was measured at, kept with the answer
            args = (
                job.key,
                self.endpoint_id,
                self.key_model,
                job.body,
                got,
                self.cell_id,
                price_cost,
                self.price.get("currency", "USD"),
            )
            extra = {"run_id": self.run_id, "baseline": None if self.budget is None else self.budget.baseline}
            try:
                self.cache.put(*args, **extra, reservation=reservation)
            except Exception as e:  # noqa: BLE001 - a paid answer is kept whatever else fails
                self._spill(args, extra, e)
            if reservation is not None:
                self._learn(got, prompt_est, reserved, price_cost)
            meter = self._meter(got, from_cache=False)
            meter.attempts, meter.waited_s = job.attempts, job.waited
            job.result = (got["text"], meter)
            return None
        if isinstance(err, FatalApiError):
            raise err
        if not isinstance(err, Transient) or job.attempts > self.s.max_retries:
            log.warning("request failed after %d attempt(s): %s", job.attempts, err)
            job.result = (
                "",
                Meter(attempts=job.attempts, waited_s=job.waited, error=str(err), usage_source="none"),
            )
            return None
        delay = backoff_delay(job.attempts - 1, self.s.backoff_base_s, self.s.backoff_max_s, self.rng)
        if err.retry_after is not None:
            if err.retry_after > MAX_RETRY_AFTER_S:  # a quota that resets in hours: waiting is not retrying
                raise FatalApiError(
                    f"the API asks to wait {err.retry_after:.0f} s ({err}); run again later, "
                    "answered requests are kept."
                )
            delay = max(delay, err.retry_after)  # never sooner than the server asked
        log.info("attempt %d: %s; retrying in %.2f s", job.attempts, err, delay)
        job.waited += delay
        return delay

    def _spill(self, args: tuple, extra: dict[str, Any], e: Exception) -> None:
        """The cache could not take a paid answer (a full disk): keep it in the spill folder, which the cache
        reads and moves back in (cache.py). When that fails too, stop sending: every further answer would be
        paid for and lost."""
        try:
            where = self.cache.spill(*args, **extra)
        except Exception as e2:  # noqa: BLE001
            raise FatalApiError(
                f"the API response cache cannot be written ({type(e).__name__}: {e}) and neither "
                f"can {self.cache.spill_dir} ({type(e2).__name__}: {e2}): stopped sending, so that "
                "no further answer is paid for and lost. Free some space and run again."
            ) from None
        log.error(
            "the API response cache could not take a paid answer (%s: %s); kept in %s, which the cache moves "
            "back in when it can",
            type(e).__name__,
            e,
            where.parent,
        )

    # -- money caps --------------------------------------------------------------------------------------------
    def _reserve(self, job: _Job) -> tuple[int | None, float, int]:
        """Reserve the request's worst-case cost under the budget's caps: (reservation id or None when nothing is
        capped, the amount, the prompt estimate). Raises _Refused when a cap has no room for it, and for every
        request after a refusal (the cell stops; what is in flight finishes)."""
        if self.refused is not None:
            raise _Refused(self.refused)
        if self.budget is None or not self.budget.caps:
            return None, 0.0, 0
        prompt = self._prompt_tokens(job)
        max_tokens = int(job.body.get("max_tokens") or DEFAULT_MAX_TOKENS)
        amount = worst_case(math.ceil(prompt * self.prompt_ratio), max_tokens, self.price)
        got = self.cache.reserve(self.budget, amount)
        if isinstance(got, Cap):
            self.refused = got
            log.warning("%s reached: %s stops sending (%.6f USD more would pass it)", got.key, self.cell_id, amount)
            raise _Refused(got)
        return got, amount, prompt

    def _prompt_tokens(self, job: _Job) -> int:
        """Prompt tokens before sending: counted by the model's tokenizer when the client has one (the served
        stand-in), else estimated as for the tokens-per-minute limit."""
        if self.estimator is not chars_estimate:
            return self.estimator(job.body["messages"], "")[0]
        return job.prompt_estimate

    def _learn(self, got: dict[str, Any], prompt_est: int, reserved: float, paid: float | None) -> None:
        """An estimate below the metered prompt scales the later reservations up by the same ratio; a bill above
        its reservation (the cap may then be passed by that difference) is said."""
        if got["usage_source"] == "server" and prompt_est > 0 and got["prompt_tokens"] > prompt_est:
            self.prompt_ratio = max(self.prompt_ratio, got["prompt_tokens"] / prompt_est)
        if paid is not None and paid > reserved * (1 + 1e-9):
            log.warning(
                "a response cost %.6f USD, more than the %.6f reserved for it (its prompt was longer than "
                "estimated); later reservations are scaled by %.2f",
                paid,
                reserved,
                self.prompt_ratio,
            )

    @staticmethod
    def _meter_dup(m: Meter) -> Meter:
        """The meter of a duplicate request in the same run: same answer and usage, not billed again."""
        from dataclasses import replace

        # not a second measurement: no latency of its own (percentiles count each request once)
        return replace(
            m,
            billed=None if m.cost is None else 0.0,
            from_cache=True,
            attempts=0,
            waited_s=0.0,
            latency_s=None,
            ttft_s=None,
            output_tokens_per_s=None,
        )

    def _reread(self, hit: dict[str, Any]) -> dict[str, Any]:
        """A cached answer's tokens read again with this baseline's usage adapter, from the provider's own usage
        object kept with it: an answer cached under another adapter (or before a fix) is billed as the provider
        reported it. An answer cached before that object was kept cannot be re-read: said so when its provider
        reports usage differently from OpenAI."""
        raw = hit.get("usage")
        if isinstance(raw, dict) and hit.get("usage_source") == "server":
            u = parse(raw, self.usage)
            if u.reported:
                kept = [w for w in hit.get("usage_warnings") or [] if "streamed reasoning" in w]
                return {
                    **hit,
                    "prompt_tokens": u.prompt_tokens,
                    "cached_tokens": u.cached_tokens,
                    "completion_tokens": u.completion_tokens,
                    "reasoning_tokens": u.reasoning_tokens,
                    "usage_warnings": [*u.warnings, *kept],
                }
        elif "usage" not in hit and self.usage != "openai" and hit.get("usage_source") == "server":
            note = (
                f"usage: answer cached before usage adapters, counted with OpenAI's field names, not re-read "
                f"as {self.usage} (its prompt-cache hits may be billed at the input price)"
            )
            return {**hit, "usage_warnings": [*(hit.get("usage_warnings") or []), note]}
        return hit

    def _meter(self, r: dict[str, Any], from_cache: bool) -> Meter:
        c = cost(r["prompt_tokens"], r["cached_tokens"], r["completion_tokens"], self.price)
        return Meter(
            prompt_tokens=r["prompt_tokens"],
            cached_tokens=r["cached_tokens"],
            completion_tokens=r["completion_tokens"],
            usage_source=r["usage_source"],
            latency_s=r["latency_s"],
            ttft_s=r["ttft_s"],
            output_tokens_per_s=r["output_tokens_per_s"],
            cost=c,
            billed=None if c is None else (0.0 if from_cache else c),
            from_cache=from_cache,
            concurrency=r.get("concurrency") if from_cache else self.s.concurrency,
            finish_reason=r.get("finish_reason"),
            # answers cached before these were metered replay without them: unmeasured, not zero
            reasoning_tokens=r.get("reasoning_tokens"),
            usage_warnings=list(r.get("usage_warnings") or []),
        )

    # -- all requests --------------------------------------------------------------------------------------------
    async def _run(self, bodies: list[dict[str, Any]], variants: list[int] | None = None) -> list[tuple[str, Meter]]:
        """Answers in the order of `bodies`. Cached answers first; identical requests are sent once; the rest go
        to `concurrency` workers that each send one request at a time. A request waiting for its retry frees its
        worker (it re-enters the queue when its delay is over)."""
        results: list[tuple[str, Meter] | None] = [None] * len(bodies)
        jobs: dict[str, _Job] = {}
        for i, body in enumerate(bodies):
            # variant v > 0: the v-th sample of the same request (k answers per item), a different answer to keep
            v = variants[i] if variants else 0
            key = request_key(self.endpoint_id, self.key_model, body if v == 0 else {**body, "_sample": v})
            if key in jobs:
                jobs[key].indices.append(i)
                continue
            hit = self.cache.get(key)
            if hit is not None:
                results[i] = (hit["text"], self._meter(self._reread(hit), from_cache=True))
                continue
            jobs[key] = _Job(key, body, [i])
        if jobs:
            await self._send_all(list(jobs.values()))
        if self.refused is not None:  # no answers returned: no record is stored; what was answered is cached
            cap = self.refused
            answered = sum(r is not None for r in results) + sum(
                len(j.indices) for j in jobs.values() if j.result is not None and j.result[1].error is None
            )
            paid = self.cache.spent(self.run_id, cap.baseline)
            raise BudgetStop(cap, answered, len(bodies), paid)
        for job in jobs.values():
            text, meter = job.result  # type: ignore[misc]
            for n, i in enumerate(job.indices):  # a duplicate shares the answer, and was not paid twice
                results[i] = (text, meter if n == 0 else self._meter_dup(meter))
        return results  # type: ignore[return-value]

    async def _send_all(self, jobs: list[_Job]) -> None:
        limits = self.s.requests_per_minute is not None or self.s.tokens_per_minute is not None
        limiter = RateLimiter(self.s.requests_per_minute, self.s.tokens_per_minute) if limits else None
        # aiohttp as the client's transport (the openai package's own `DefaultAioHttpClient`): less event-loop
        # time per request than the default, which shows at high concurrency (bench/api_throughput.py).
        # the transport's own timeout a little later than the attempt's clock (_attempt), which names the cause
        transport_timeout = self.s.timeout_s + 5.0
        client = openai.AsyncOpenAI(
            base_url=self.base_url,
            api_key=self.api_key,
            max_retries=0,
            timeout=transport_timeout,
            http_client=aio_client(transport_timeout),
        )
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[_Job] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)
        left = [len(jobs)]
        in_flight = [0]
        settled = asyncio.Event()
        fatal: list[BaseException] = []

        async def worker() -> None:
            while True:
                job = await queue.get()
                if self.refused is not None:  # a cap stopped the cell: nothing more is sent
                    continue
                in_flight[0] += 1
                try:
                    delay = await self._try(client, job, limiter)
                except _Refused:  # not sent, left unanswered; the cell stops
                    delay = 0.0
                except Exception as e:  # noqa: BLE001 - FatalApiError, or a bug: stop all, never hang
                    fatal.append(e)
                    settled.set()
                    return
                finally:
                    in_flight[0] -= 1
                if self.refused is not None:
                    # stopped by a cap: over once the requests in flight have finished (their answers are kept);
                    # requests waiting for a retry or in the queue are not sent
                    if in_flight[0] == 0:
                        settled.set()
                elif delay is None:
                    left[0] -= 1
                    if left[0] == 0:
                        settled.set()
                else:
                    loop.call_later(delay, queue.put_nowait, job)

        workers = [asyncio.create_task(worker()) for _ in range(max(1, min(self.s.concurrency, len(jobs))))]
        try:
            await settled.wait()
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            await client.close()
        if fatal:
            raise fatal[0]

    def run(self, bodies: list[dict[str, Any]], variants: list[int] | None = None) -> list[tuple[str, Meter]]:
        return asyncio.run(self._run(bodies, variants))
