"""Per-request rows of one load level -> its figures, and the levels -> capacity at the latency target.
Pure functions of the stored rows: a report recomputes them, a test computes them by hand. Formulas in words:
docs/metrics.md ("Serving under load").

Per request (answered, no error):
  TTFT   first content token - request sent
  TPOT   time per output token after the first: (end-to-end - TTFT) / (completion tokens - 1)
  ITL    each gap between two content chunks
  E2E    last byte - request sent
Per level: p50/p95/p99 of each (numpy's linear interpolation), requests/s = answered / window, output tokens/s
= completion tokens / window, error rate, and goodput = requests/s that met the target on their own (TTFT and
TPOT each within the target's value; a request with one output token has no TPOT and is judged on TTFT). The
window: closed loop, the wall seconds (first sent -> last finished: the users keep the server busy throughout);
open loop, the arrival window n / achieved send rate = (last sent - first sent) x n / (n - 1), because the wall
time adds the drain of the last requests' tails, when nothing arrives (16 requests at 4 per s answered in 2 s
each: 5.75 s of wall, 4 s of arrivals; answered / wall reads 2.8 per s, 30 % under the 4 per s served).
The level meets the target when its p95 TTFT and p95 TPOT are within it and its error rate is at most
`max_error_rate`.
Capacity at the target: among the levels that meet it, provided every lower level also does (latency rises
with load; a lower level that fails says the higher one passed by chance), the highest answered requests per
second (usually the highest level's; on a 2-core CPU two users can get less done than one).
Its 95 % interval comes from the level's repeats: closed loop, N users with no think time answer N / mean(E2E)
requests per second (Little's law), so the interval scales the measured rate by mean / (mean +- h), h = t(0.975,
n-1) x sd / sqrt(n) over the level's n answered requests (the upper end unbounded when mean <= h); open loop, the served rate is
a count of n arrivals in the window, rate x (1 +- 1.96 / sqrt(n)). `lowest` is the lowest level's rate: what a
replica answers when requests do not overlap (per-second billing at volumes too low to batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.api.meter import percentile


@dataclass(frozen=True)
class Slo:
    """The latency target: p95 time to first token and p95 time per output token, in seconds (None: no bound)."""

    ttft_p95_s: float | None = 1.0
    tpot_p95_s: float | None = 0.1
    max_error_rate: float = 0.01

    def describe(self) -> str:
        parts = []
        if self.ttft_p95_s is not None:
            parts.append(f"p95 TTFT <= {self.ttft_p95_s:g} s")
        if self.tpot_p95_s is not None:
            parts.append(f"p95 TPOT <= {self.tpot_p95_s * 1000:g} ms")
        return ", ".join(parts) + f", errors <= {self.max_error_rate:.0%}"


def tpot(row: dict[str, Any]) -> float | None:
    c = row.get("completion_tokens")
    if row.get("error") or row.get("e2e_s") is None or row.get("ttft_s") is None or not c or c < 2:
        return None
    return (row["e2e_s"] - row["ttft_s"]) / (c - 1)


def _pct(values: list[float]) -> dict[str, float | None]:
    return {
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "n": len(values),
    }


def met(row: dict[str, Any], slo: Slo) -> bool:
    """One request within the target on its own (for goodput)."""
    if row.get("error") or row.get("ttft_s") is None:
        return False
    if slo.ttft_p95_s is not None and row["ttft_s"] > slo.ttft_p95_s:
        return False
    t = tpot(row)
    return not (slo.tpot_p95_s is not None and t is not None and t > slo.tpot_p95_s)


def window(rows: list[dict[str, Any]], wall_s: float) -> tuple[float, str]:
    """(seconds the level's rates are taken over, which window): open-loop rows (scheduled_s set) the arrival
    window (last sent - first sent) x n / (n - 1); closed loop, or fewer than two sends apart, the wall time."""
    sent = sorted(r["sent_s"] for r in rows if r.get("scheduled_s") is not None and r.get("sent_s") is not None)
    if len(sent) == len(rows) and len(sent) > 1 and sent[-1] > sent[0]:
        return (sent[-1] - sent[0]) * len(sent) / (len(sent) - 1), "arrivals"
    return wall_s, "wall"


def level_figures(rows: list[dict[str, Any]], wall_s: float, slo: Slo) -> dict[str, Any]:
    ok = [r for r in rows if not r.get("error")]
    n = len(rows)
    span, basis = window(rows, wall_s)
    out_tokens = sum(r.get("completion_tokens") or 0 for r in ok)
    ttft = [r["ttft_s"] for r in ok if r.get("ttft_s") is not None]
    tpots = [t for t in (tpot(r) for r in ok) if t is not None]
    e2e = [r["e2e_s"] for r in ok if r.get("e2e_s") is not None]
    itl = [g for r in ok for g in r.get("itl_s") or []]
    error_rate = (n - len(ok)) / n if n else 0.0
    fig = {
        "n": n,
        "n_errors": n - len(ok),
        "error_rate": error_rate,
        "wall_s": wall_s,
        "window_s": span,  # what the rates below divide by
        "window": basis,  # arrivals (open loop) | wall (closed loop)
        "requests_per_s": len(ok) / span if span > 0 else None,
        "output_tokens_per_s": out_tokens / span if span > 0 else None,
        "goodput_per_s": sum(met(r, slo) for r in ok) / span if span > 0 else None,
        "ttft_s": _pct(ttft),
        "tpot_s": _pct(tpots),
        "itl_s": _pct(itl),
        "e2e_s": _pct(e2e),
        # the repeats behind the capacity's interval (capacity())
        "e2e_mean_s": sum(e2e) / len(e2e) if e2e else None,
        "e2e_sd_s": (sum((x - sum(e2e) / len(e2e)) ** 2 for x in e2e) / (len(e2e) - 1)) ** 0.5
        if len(e2e) > 1
        else None,
        "errors": sorted({r["error"] for r in rows if r.get("error")})[:5],
    }
    fig["meets_target"] = meets(fig, slo)
    return fig


def meets(fig: dict[str, Any], slo: Slo) -> bool:
    if fig["n"] == fig["n_errors"] or fig["error_rate"] > slo.max_error_rate:
        return False
    if slo.ttft_p95_s is not None and (fig["ttft_s"]["p95"] is None or fig["ttft_s"]["p95"] > slo.ttft_p95_s):
        return False
    p95 = fig["tpot_s"]["p95"]
    return not (slo.tpot_p95_s is not None and p95 is not None and p95 > slo.tpot_p95_s)


def capacity(levels: list[dict[str, Any]]) -> dict[str, Any] | None:
    """levels: [{"level", "figures"}] in rising order. Of the levels meeting the target with every lower one
    meeting it too, the one that answered the most requests per second (usually the highest; on a device where
    more concurrency only adds overhead, a lower one: a replica is then run at that concurrency), as {"level",
    "requests_per_s", "queries_per_hour", ...}; None when even the lowest fails."""
    passing = []
    for lv in sorted(levels, key=lambda x: x["level"]):
        if not lv["figures"]["meets_target"]:
            break
        passing.append(lv)
    best = max(passing, key=lambda x: (x["figures"]["requests_per_s"] or 0.0, x["level"]), default=None)
    if best is None:
        return None
    rps = best["figures"]["requests_per_s"]
    low, high = interval(best)
    lowest = min(levels, key=lambda x: x["level"])
    return {
        "level": best["level"],
        "requests_per_s": rps,
        "queries_per_hour": 3600 * rps,
        # 95 % interval of queries_per_hour (None: not enough repeats; high None: unbounded above)
        "queries_per_hour_low": None if low is None else 3600 * low,
        "queries_per_hour_high": None if high is None else 3600 * high,
        "lowest": {"level": lowest["level"], "queries_per_hour": 3600 * (lowest["figures"]["requests_per_s"] or 0.0)},
    }


def interval(lv: dict[str, Any]) -> tuple[float | None, float | None]:
    """95 % interval of a level's requests per second (module docstring); (None, None) with under 2 repeats."""
    fig = lv["figures"]
    rps, n = fig["requests_per_s"], fig["n"] - fig["n_errors"]
    if rps is None or n < 2:
        return None, None
    if fig.get("window") == "arrivals":
        half = 1.959964 / n**0.5
        return rps * max(0.0, 1 - half), rps * (1 + half)
    mean, sd = fig.get("e2e_mean_s"), fig.get("e2e_sd_s")
    if not mean or sd is None:
        return None, None
    from scipy.stats import t

    h = float(t.ppf(0.975, n - 1)) * sd / n**0.5
    # around the measured rate (answered / wall, which also counts the ramp at both ends): rate x mean / (mean +- h)
    return rps * mean / (mean + h), (rps * mean / (mean - h) if mean > h else None)
