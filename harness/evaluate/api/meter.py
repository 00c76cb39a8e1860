"""Per-request meters and their aggregate for one cell: tokens, latency percentiles, money."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass
class Meter:
    """What one request cost and how long it took. Written into its sample's row as `api`."""

    prompt_tokens: int | None = None
    cached_tokens: int | None = None  # prompt tokens the provider served from its prompt cache
    completion_tokens: int | None = None
    usage_source: str = "server"  # server | estimated: <how>
    latency_s: float | None = None  # request sent -> last byte, of the attempt that answered
    ttft_s: float | None = None  # request sent -> first content token (streaming only)
    output_tokens_per_s: float | None = None  # completion tokens / (last byte - first token)
    cost: float | None = None  # usage x price: what this answer costs (None: unpriced)
    billed: float | None = None  # what this run paid for it: 0 when it came from the cache
    from_cache: bool = False
    attempts: int = 0  # requests sent this run (0: cache hit)
    waited_s: float = 0.0  # rate-limit and backoff waits before the answer
    error: str | None = None  # set when every attempt failed: the sample is scored as an empty answer
    finish_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile with linear interpolation between closest ranks (numpy's default, `linear`)."""
    return float(np.percentile(values, q)) if values else None


def aggregate(meters: list[Meter], price: dict[str, Any]) -> dict[str, Any]:
    ok = [m for m in meters if m.error is None]
    lat = [m.latency_s for m in ok if m.latency_s is not None]
    ttft = [m.ttft_s for m in ok if m.ttft_s is not None]
    tps = [m.output_tokens_per_s for m in ok if m.output_tokens_per_s is not None]

    def total(field: str) -> int:
        return sum(getattr(m, field) or 0 for m in ok)

    costs = [m.cost for m in ok]
    priced = bool(ok) and all(c is not None for c in costs)
    cost_total = sum(costs) if priced else None  # type: ignore[arg-type]
    n = len(meters)
    return {
        "n_requests": n,
        "n_answered": len(ok),
        "n_failed": n - len(ok),
        "failures": sorted({m.error for m in meters if m.error})[:5],
        "n_from_cache": sum(m.from_cache for m in meters),
        "attempts_this_run": sum(m.attempts for m in meters),
        "usage_source": sorted({m.usage_source for m in ok}),
        "tokens": {
            "prompt": total("prompt_tokens"),
            "cached": total("cached_tokens"),
            "completion": total("completion_tokens"),
            "prompt_per_sample": total("prompt_tokens") / len(ok) if ok else None,
            "completion_per_sample": total("completion_tokens") / len(ok) if ok else None,
        },
        "latency_s": {
            "p50": percentile(lat, 50),
            "p95": percentile(lat, 95),
            "p99": percentile(lat, 99),
            "mean": float(np.mean(lat)) if lat else None,
            "n": len(lat),
        },  # fmt: skip
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
