"""The load generator: streams chat requests to an OpenAI-compatible endpoint and times every token.

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
    timeout_s: float = 300.0


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


async def _one(session: Any, t: Target, messages: list[dict[str, str]], max_tokens: int, t0: float,
               scheduled: float | None, index: int) -> dict[str, Any]:  # fmt: skip
    import aiohttp

    body = {"model": t.model, "messages": messages, "max_tokens": max_tokens, "temperature": 0.0,
            "stream": True, "stream_options": {"include_usage": True}}  # fmt: skip
    headers = {"Authorization": f"Bearer {t.api_key}"}
    row: dict[str, Any] = {"i": index, "scheduled_s": scheduled, "sent_s": None, "ttft_s": None, "e2e_s": None,
                           "itl_s": [], "prompt_tokens": None, "completion_tokens": None, "error": None}  # fmt: skip
    sent = time.perf_counter()
    row["sent_s"] = sent - t0
    last = None
    try:
        async with session.post(
            f"{t.base_url.rstrip('/')}/chat/completions", json=body, headers=headers
        ) as resp:
            if resp.status != 200:
                text = (await resp.text())[:200]
                row["error"] = f"HTTP {resp.status}: {text}"
                return row
            async for raw in resp.content:
                line = raw.strip()
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    row["e2e_s"] = time.perf_counter() - sent
                    await resp.read()  # drain the response: its connection goes back to the pool (no new TLS)
                    break
                chunk = json.loads(data)
                now = time.perf_counter()
                usage = chunk.get("usage") or next(
                    (c.get("usage") for c in chunk.get("choices") or [] if c.get("usage")), None
                )  # Moonshot puts it inside the last choice
                if usage:
                    row["prompt_tokens"] = usage.get("prompt_tokens")
                    row["completion_tokens"] = usage.get("completion_tokens")
                if any((c.get("delta") or {}).get("content") for c in chunk.get("choices") or []):
                    if last is None:
                        row["ttft_s"] = now - sent
                    else:
                        row["itl_s"].append(now - last)
                    last = now
        if row["e2e_s"] is None:  # a stream that ended without [DONE]: its last byte is now
            row["e2e_s"] = time.perf_counter() - sent
        if row["ttft_s"] is None:
            row["error"] = "no content token in the answer"
    except (TimeoutError, OSError, ValueError, aiohttp.ClientError) as e:  # dropped stream, broken JSON...
        row["error"] = f"{type(e).__name__}: {e}"[:200]
    return row


def _session(t: Target, connections: int) -> Any:
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections, force_close=False),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=t.timeout_s, sock_read=t.timeout_s),
    )


async def closed_loop(t: Target, prompts: list[list[dict[str, str]]], max_tokens: int, users: int,
                      n_requests: int) -> tuple[list[dict[str, Any]], float]:  # fmt: skip
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


async def open_loop(t: Target, prompts: list[list[dict[str, str]]], max_tokens: int, rate: float,
                    n_requests: int, seed: int, max_in_flight: int = 1024) -> tuple[list[dict[str, Any]], float]:  # fmt: skip
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
            tasks.append(
                asyncio.create_task(_one(session, t, prompts[i % len(prompts)], max_tokens, t0, at, i))
            )
        rows = list(await asyncio.gather(*tasks))
        wall = time.perf_counter() - t0
    return rows, wall
