"""The load generator: streams chat (or plain text) requests to an OpenAI-compatible endpoint and times every token.

Two modes, as serving benchmarks have them:
  closed  N users, each sending its next request as soon as its last one finished (N = the level)
  open    requests arriving at random (Poisson) at a rate of `level` requests per second, whatever the server
          does: the schedule is drawn from a fixed seed before the first request, and each request is sent at
          its time even if earlier ones have not finished. The schedule's rate is exactly `level` (arrivals
          conditioned on their count: see `schedule`), so a level offers the load it names.
Per request it records when it was scheduled and sent, time to first content token (TTFT), every gap between
content chunks (inter-token latency), end-to-end latency, the server's `usage` tokens, and any error.

Plain aiohttp and a line-by-line SSE reader, not the openai client: the generator must not be the bottleneck
(bench/load_generator.py checks it reaches 200 requests/s on 2 cores), and it must see every chunk's arrival.
A request's clock starts just before the request is written and stops at the last byte.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Target:
    """Where to send: the OpenAI base URL (…/v1), the model name to send, and the key (never stored)."""

    base_url: str
    model: str
    api_key: str = "EMPTY"
    timeout_s: float = 60.0  # the longest wait for the next piece of an answer (keep-alive comments excluded)
    deadline_s: float = 300.0  # one request, whole
    # what evaluation stops generation at (the task's `until`): the same answers, the same lengths
    stop: tuple[str, ...] = ()


# a row's error: the server answered (http, protocol, timeout) or it could not be reached (connection): a level
# with connection failures measured a server that went away, not one under load
CONNECTION = "connection"


def token_count(value: Any) -> int | None:
    """A `usage` count as the API client reads it: a non-negative integer, else None (the row says why)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


# What an open-loop schedule is, in the level's identity: levels stored with another schedule are measured again
ARRIVALS = "poisson-fixed-count"


def schedule(rate: float, n: int, seed: int) -> list[float]:
    """Open loop: send times (seconds from the start) of n Poisson arrivals at exactly `rate` per second, the
    first at 0 (the clock starts with it) and the last at (n - 1) / rate.

    Plain exponential gaps would offer a level 0.86-0.98 of its rate by chance (their sum scatters around
    (n - 1) / rate), and the level would measure a load nobody asked for. So the n - 1 gaps are drawn from
    `seed` and rescaled to sum to exactly (n - 1) / rate: a Poisson process conditioned on its count over that
    span, whose arrivals in between are uniform on it (exponential gaps over their sum are uniform spacings),
    still bursty as real traffic is."""
    if n < 2:
        return [0.0] * n
    gaps = np.random.default_rng(seed).exponential(1.0, size=n - 1)
    gaps *= (n - 1) / rate / gaps.sum()
    times = [0.0, *(float(t) for t in np.cumsum(gaps))]
    times[-1] = (n - 1) / rate  # exact, not the cumulative sum's rounding
    return times


async def _one(
    session: Any,
    t: Target,
    messages: list[dict[str, str]] | str,
    max_tokens: int,
    t0: float,
    scheduled: float | None,
    index: int,
) -> dict[str, Any]:
    import aiohttp
    from aiohttp.http_exceptions import HttpProcessingError

    # a chat prompt (messages) goes to /chat/completions; a plain model's prompt (text, no chat template: what
    # lm-eval sends it) to /completions
    text = isinstance(messages, str)
    body = {
        "model": t.model,
        "prompt" if text else "messages": messages,
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if t.stop:
        body["stop"] = list(t.stop)
    headers = {"Authorization": f"Bearer {t.api_key}"}
    row: dict[str, Any] = {
        "i": index,
        "scheduled_s": scheduled,
        "sent_s": None,
        "ttft_s": None,
        "e2e_s": None,
        "itl_s": [],
        "prompt_tokens": None,
        "completion_tokens": None,
        "error": None,
    }
    sent = time.perf_counter()
    row["sent_s"] = sent - t0
    try:
        # the deadline bounds the whole answer; timeout_s the wait between data events (a server that sends only
        # SSE keep-alive comments resets a socket read timeout forever)
        async with asyncio.timeout(t.deadline_s):
            await _exchange(session, t, body, headers, row, sent, "completions" if text else "chat/completions")
    except TimeoutError:
        waited = time.perf_counter() - sent
        # the answer was whole (its finish_reason came) and the stream never ended: answered, at its last piece
        if row.get("_done_s") is not None and row["ttft_s"] is not None:
            row["e2e_s"] = row.pop("_done_s")
            return row
        row["error"] = (
            f"deadline: no complete answer within load.deadline_s={t.deadline_s:g} s"
            if waited >= t.deadline_s - 0.05
            else f"timeout: nothing of the answer for load.timeout_s={t.timeout_s:g} s"
        )
        row["error_kind"] = "timeout"
    except (OSError, aiohttp.ClientConnectionError) as e:  # refused, reset, the server went away mid-answer
        row["error"] = f"{type(e).__name__}: {e}"[:200]
        row["error_kind"] = CONNECTION
    except (ValueError, TypeError, AttributeError, aiohttp.ClientError, HttpProcessingError) as e:
        # broken JSON, chunks of the wrong shape, a line longer than aiohttp reads: the answer is not usable
        row["error"] = f"malformed stream ({type(e).__name__}: {e})"[:200]
        row["error_kind"] = "protocol"
    row.pop("_done_s", None)
    return row


async def _exchange(
    session: Any,
    t: Target,
    body: dict[str, Any],
    headers: dict[str, str],
    row: dict[str, Any],
    sent: float,
    path: str = "chat/completions",
) -> None:
    last = None
    heard = sent  # the last data event (or the request): keep-alive comments do not count
    async with session.post(f"{t.base_url.rstrip('/')}/{path}", json=body, headers=headers) as resp:
        if resp.status != 200:
            text = (await resp.text())[:200]
            row["error"], row["error_kind"] = f"HTTP {resp.status}: {text}", "http"
            return
        if not resp.content_type.startswith("text/event-stream"):  # an error object with status 200, say
            text = await resp.text()
            try:
                doc = json.loads(text)
                err = doc.get("error") if isinstance(doc, dict) else None
            except ValueError:
                err = None
            said = (err.get("message") if isinstance(err, dict) else err) or f"not an event stream: {text[:80]!r}"
            row["error"], row["error_kind"] = f"the server answered with an error: {str(said)[:160]}", "http"
            return
        finished = False
        async for raw in resp.content:
            line = raw.strip()
            now = time.perf_counter()
            if not line.startswith(b"data:"):
                if now - heard > t.timeout_s:
                    raise TimeoutError
                continue
            heard = now
            data = line[5:].strip()
            if data == b"[DONE]":
                row["e2e_s"] = now - sent
                await resp.read()  # drain the response: its connection goes back to the pool (no new TLS)
                break
            chunk = json.loads(data)
            if not isinstance(chunk, dict):
                raise ValueError(f"an event that is not a JSON object: {data[:60]!r}")
            if chunk.get("error"):
                err = chunk["error"]
                said = err.get("message") if isinstance(err, dict) else err
                row["error"], row["error_kind"] = (
                    f"the server answered with an error: {str(said)[:160]}",
                    "http",
                )
                return
            usage = chunk.get("usage") or next(
                (c.get("usage") for c in chunk.get("choices") or [] if c.get("usage")), None
            )  # Moonshot puts it inside the last choice
            if isinstance(usage, dict):
                _usage(row, usage)
            choices = chunk.get("choices") or []
            finished = finished or any(c.get("finish_reason") for c in choices)
            if finished:  # the answer is whole: a stream left open after it ends at its last piece
                row["_done_s"] = now - sent
            if any((c.get("delta") or {}).get("content") or c.get("text") for c in choices):
                if last is None:
                    row["ttft_s"] = now - sent
                else:
                    row["itl_s"].append(now - last)
                last = now
    if row["e2e_s"] is None:  # a stream that ended without [DONE]: its last byte is now
        row["e2e_s"] = time.perf_counter() - sent
        if not finished:  # cut off mid-answer: the server went away, this is not a measured answer
            row["error"], row["error_kind"] = (
                "the stream ended before the answer did (no finish_reason)",
                CONNECTION,
            )
            return
    if row["ttft_s"] is None:
        row["error"], row["error_kind"] = "no content token in the answer", "protocol"


def _usage(row: dict[str, Any], usage: dict[str, Any]) -> None:
    """The row's token counts from the server's usage, validated as the API client does: a count that is not a
    non-negative integer is not stored (a string would be summed later), and the row says why."""
    for key in ("prompt_tokens", "completion_tokens"):
        value = usage.get(key)
        row[key] = token_count(value)
        if value is not None and row[key] is None:
            row.setdefault("usage_warnings", []).append(f"usage.{key} = {value!r:.24} is not a token count")


def _session(t: Target, connections: int) -> Any:
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, force_close=False),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=t.timeout_s, sock_read=t.timeout_s),  # + _one's
    )


async def closed_loop(
    t: Target, prompts: list[Any], max_tokens: int, users: int, n_requests: int
) -> tuple[list[dict[str, Any]], float]:
    """`users` concurrent users, `n_requests` in all (prompt i % len(prompts)). Returns (rows, wall seconds)."""
    rows: list[dict[str, Any]] = []
    nxt = iter(range(n_requests))
    async with _session(t, users) as session:
        t0 = time.perf_counter()

        async def user() -> None:
            for i in nxt:  # a shared iterator: each request index is taken once
                rows.append(await _one(session, t, prompts[i % len(prompts)], max_tokens, t0, None, i))

        await asyncio.gather(*(user() for _ in range(users)))
        wall = time.perf_counter() - t0
    return sorted(rows, key=lambda r: r["i"]), wall


async def open_loop(
    t: Target, prompts: list[Any], max_tokens: int, rate: float, n_requests: int, seed: int, max_in_flight: int = 1024
) -> tuple[list[dict[str, Any]], float]:
    """Poisson arrivals at `rate` requests/s. Each request is sent at its scheduled time (its lag behind the
    schedule is recorded: sent_s - scheduled_s). Returns (rows, wall seconds)."""
    times = schedule(rate, n_requests, seed)
    tasks = []
    async with _session(t, max_in_flight) as session:
        t0 = time.perf_counter()
        for i, at in enumerate(times):
            delay = t0 + at - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(_one(session, t, prompts[i % len(prompts)], max_tokens, t0, at, i)))
        rows = list(await asyncio.gather(*tasks))
        wall = time.perf_counter() - t0
    return rows, wall
