"""Per-request meters and their aggregate for one cell: tokens, latency percentiles, money."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Meter:
    """What one request cost and how long it took. Written into its sample's row as `api`."""

    prompt_tokens: int | None = None
    cached_tokens: int | None = None  # prompt tokens the provider served from its prompt cache
    completion_tokens: int | None = None  # billed output: the answer plus any reasoning tokens
    reasoning_tokens: int | None = None  # of which reasoning; None: not measured (older record, estimated)
    usage_source: str = "server"  # server | estimated: <how>
    latency_s: float | None = None  # request sent -> last byte, of the attempt that answered
    # the concurrency the latency was measured at: this run's, or for a cached answer the run that fetched it
    # (None: cached before it was recorded)
    concurrency: int | None = None
    ttft_s: float | None = None  # request sent -> first content token (streaming only)
    output_tokens_per_s: float | None = None  # decode rate of the answer: see decode_rate
    cost: float | None = None  # usage x price: what this answer costs (None: unpriced)
    billed: float | None = None  # what this run paid for it: 0 when it came from the cache
    from_cache: bool = False
    attempts: int = 0  # requests sent this run (0: cache hit)
    waited_s: float = 0.0  # rate-limit and backoff waits before the answer
    error: str | None = None  # set when every attempt failed: the sample is scored as an empty answer
    finish_reason: str | None = None
    usage_warnings: list[str] = field(default_factory=list)  # what in the provider's usage did not add up

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def decode_rate(
    completion_tokens: int, reasoning_tokens: int | None, first: float | None, ended: float
) -> float | None:
    """Answer tokens per second after the first one. The clock starts at the first *content* token, which comes
    after any reasoning, so reasoning tokens (billed, inside completion_tokens) are left out of the count:
    (completion - reasoning - 1) / (ended - first). None without a first token (not streamed) or a second one."""
    visible = completion_tokens - (reasoning_tokens or 0)
    if first is None or visible <= 1 or ended <= first:
        return None
    return (visible - 1) / (ended - first)


MAX_WARNINGS = 5  # distinct ones kept in a cell's aggregate; each sample's row has its own


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile with linear interpolation between closest ranks (numpy's default, `linear`)."""
    return float(np.percentile(values, q)) if values else None


def aggregate(meters: list[Meter], price: dict[str, Any]) -> dict[str, Any]:
    ok = [m for m in meters if m.error is None]
    lat = [m.latency_s for m in ok if m.latency_s is not None]
    ttft = [m.ttft_s for m in ok if m.ttft_s is not None]
    tps = [m.output_tokens_per_s for m in ok if m.output_tokens_per_s is not None]

    def total(key: str) -> int:
        return sum(getattr(m, key) or 0 for m in ok)

    costs = [m.cost for m in ok]
    priced = bool(ok) and all(c is not None for c in costs)
    cost_total = sum(costs) if priced else None  # type: ignore[arg-type]
    n = len(meters)
    warned = [m for m in ok if m.usage_warnings]
    tokens: dict[str, Any] = {
        "prompt": total("prompt_tokens"),
        "cached": total("cached_tokens"),
        "completion": total("completion_tokens"),
        "prompt_per_sample": total("prompt_tokens") / len(ok) if ok else None,
        "completion_per_sample": total("completion_tokens") / len(ok) if ok else None,
    }
    # a cached answer's timings were measured when it was fetched, maybe at another concurrency: said so
    earlier = [m for m in ok if m.from_cache and m.latency_s is not None]
    if any(m.reasoning_tokens is not None for m in ok):  # absent, as in older records, when none was measured
        tokens["reasoning"] = total("reasoning_tokens")  # billed, and inside "completion"
        tokens["reasoning_per_sample"] = tokens["reasoning"] / len(ok)
    return {
        "n_requests": n,
        "n_answered": len(ok),
        "n_failed": n - len(ok),
        "failures": sorted({m.error for m in meters if m.error})[:5],
        "n_from_cache": sum(m.from_cache for m in meters),
        "attempts_this_run": sum(m.attempts for m in meters),
        "usage_source": sorted({m.usage_source for m in ok}),
        "n_usage_warned": len(warned),  # answers whose usage needed a correction or could not be checked
        "usage_warnings": list(dict.fromkeys(w for m in warned for w in m.usage_warnings))[:MAX_WARNINGS],
        "tokens": tokens,
        "latency_s": {
            "p50": percentile(lat, 50),
            "p95": percentile(lat, 95),
            "p99": percentile(lat, 99),
            "mean": float(np.mean(lat)) if lat else None,
            "n": len(lat),
            "from_earlier_runs": len(earlier),  # of n: answers replayed from the response cache
            "earlier_concurrency": sorted({m.concurrency for m in earlier if m.concurrency is not None}),
        },
        "ttft_s": {"p50": percentile(ttft, 50), "p95": percentile(ttft, 95), "n": len(ttft)},
        "output_tokens_per_s": {"p50": percentile(tps, 50), "n": len(tps)},
        "cost": {
            "currency": price.get("currency", "USD"),
            "priced": priced,
            "total": cost_total,  # what answering these samples costs at the price (cache or not)
            "per_sample": cost_total / len(ok) if priced else None,
            "per_1k_queries": 1000 * cost_total / len(ok) if priced else None,
            "billed_this_run": sum(m.billed or 0 for m in ok) if priced else None,
            "price": price,
        },
    }
