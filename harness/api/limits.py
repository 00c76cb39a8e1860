"""Client-side rate limits and retry timing.

Providers enforce requests- and tokens-per-minute limits per account; staying under them on our side is
cheaper than collecting 429s. Retries use exponential backoff with full jitter (the AWS architecture blog's
recommendation, also what the openai client does), and never come sooner than a server's Retry-After.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime


class RateLimiter:
    """At most `rpm` requests and `tpm` tokens in any sliding window of `period` seconds (None = no limit)."""

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        period: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.rpm, self.tpm, self.period, self.clock = rpm, tpm, period, clock
        self.sent: deque[tuple[float, int]] = deque()  # (time, tokens) of requests inside the window
        self.lock = asyncio.Lock()

    def _wait_time(self, tokens: int) -> float:
        """0 when the request fits now, else the time until the oldest request leaves the window."""
        now = self.clock()
        while self.sent and self.sent[0][0] <= now - self.period:
            self.sent.popleft()
        full = self.rpm is not None and len(self.sent) >= self.rpm
        # A single request larger than the whole token budget goes alone rather than waiting forever.
        if self.tpm is not None and self.sent and sum(n for _, n in self.sent) + tokens > self.tpm:
            full = True
        return max(self.sent[0][0] + self.period - now, 1e-3) if full else 0.0

    async def acquire(self, tokens: int) -> float:
        """Wait for room, then count this request. Returns the seconds waited."""
        waited = 0.0
        async with self.lock:  # one waiter at a time keeps the order fair (first come, first sent)
            while (delay := self._wait_time(tokens)) > 0:
                await asyncio.sleep(delay)
                waited += delay
            self.sent.append((self.clock(), tokens))
        return waited


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base x 2^attempt)] (attempt 0 = the first retry)."""
    return rng.uniform(0.0, min(cap, base * 2**attempt))


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """A server's requested wait: `retry-after-ms` (OpenAI), `retry-after` in seconds or as an HTTP date."""
    if not headers:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None
