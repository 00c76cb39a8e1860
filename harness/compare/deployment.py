"""What self-hosting costs a month as a deployment, not as a perfectly busy device; and the volumes where it
breaks even with an API. Formulas in words: docs/metrics.md ("Self-hosted cost: the deployment").

Two kinds (conf/deployment/):
  dedicated   replicas always on, billed every hour of the month. Replicas needed for a monthly volume V:
              max(min_replicas, ceil(peak rate / (capacity per replica x target utilisation))), with
              peak rate = V / hours_per_month x peak_to_mean. Monthly cost is a step function of V.
  per_second  serverless devices billed only for busy time (V / capacity hours), plus each start from zero:
              cold_start_s + idle_timeout_s billed per start, cold_starts_per_month starts. With no starts this is
              the old "device price / measured queries per hour" figure.
Capacity per replica is a measured rate in queries per hour: today the evaluation's batch throughput (no latency
target), replaceable by a capacity measured under a latency target.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

MAX_STEPS = 1_000_000  # replica counts examined for break-even points (a bound, never reached in practice)


def _english(message: str, **params: Any) -> str:
    return message % params


# The report's language. This layer may not import harness.report, so the report installs its gettext and number
# formatting here (harness.report.table does, on import: use_report_language); until then, English.
_translate: Any = _english
_integer: Any = lambda v: f"{round(v):,}"  # noqa: E731
_percent: Any = lambda v: f"{v:.0%}"  # noqa: E731


def use_report_language(gettext: Any, integer: Any, percent: Any) -> None:
    """Write describe(), BreakEven.text() and cost.fmt_volume with `gettext` (harness.report.i18n.gettext: the
    message in the current report language, its %(name)s parameters filled), `integer` (12,345) and `percent`
    (a share as 60%), the report language's."""
    global _translate, _integer, _percent
    _translate, _integer, _percent = gettext, integer, percent


def _(message: str, **params: Any) -> str:
    """A message of the report (harness.report.i18n's rules: one message per phrase, named parameters)."""
    return _translate(message, **params)


def integer(v: float) -> str:
    return _integer(v)


def percent(v: float) -> str:
    return _percent(v)


@dataclass(frozen=True)
class Deployment:
    name: str = "dedicated"
    kind: str = "dedicated"  # dedicated | per_second
    hours_per_month: float = 730.0
    min_replicas: int = 1
    peak_to_mean: float = 3.0  # busiest hour's traffic / the month's mean hourly traffic
    target_utilisation: float = 0.6  # the share of a replica's capacity planned to be used at the peak
    cold_start_s: float = 0.0  # per_second: billed seconds of each start from zero
    idle_timeout_s: float = 0.0  # per_second: billed seconds a replica stays up after its last request
    cold_starts_per_month: float = 0.0  # per_second: starts from zero in a month
    description: str = ""

    @classmethod
    def of(cls, cfg: Any) -> Deployment:
        """From a DeploymentConfig (or any object or mapping with these fields)."""
        get = cfg.get if isinstance(cfg, dict) else (lambda k, d=None: getattr(cfg, k, d))
        return cls(**{f: get(f) for f in cls.__dataclass_fields__ if get(f) is not None})

    def describe(self) -> str:
        """The deployment in a phrase, in the report's language (use_report_language)."""
        if self.kind == "per_second":
            if self.cold_starts_per_month:
                return _("%(name)s: billed per busy second, %(starts)s starts a month billed %(seconds)s s each",
                         name=self.name, starts=f"{self.cold_starts_per_month:g}",
                         seconds=f"{self.cold_start_s + self.idle_timeout_s:g}")  # fmt: skip
            return _("%(name)s: billed per busy second, no cold starts", name=self.name)
        return _("%(name)s: at least %(n)s replica(s) always on, %(hours)s h a month, sized for a peak of %(peak)sx "
                 "the mean traffic at %(utilisation)s utilisation", name=self.name, n=integer(self.min_replicas),
                 hours=f"{self.hours_per_month:g}", peak=f"{self.peak_to_mean:g}",
                 utilisation=percent(self.target_utilisation))  # fmt: skip


def replicas_needed(monthly_queries: float, capacity_qph: float, d: Deployment) -> int:
    """Dedicated replicas to serve `monthly_queries` at the peak, each planned at `target_utilisation`."""
    peak = monthly_queries / d.hours_per_month * d.peak_to_mean
    return max(d.min_replicas, math.ceil(peak / (capacity_qph * d.target_utilisation) - 1e-12))


def replica_volume(replicas: int, capacity_qph: float, d: Deployment) -> float:
    """The largest monthly volume `replicas` dedicated replicas serve (the edge of a step)."""
    return replicas * capacity_qph * d.target_utilisation * d.hours_per_month / d.peak_to_mean


def monthly_self_cost(
    monthly_queries: float, capacity_qph: float, price_per_hour: float, devices: int, d: Deployment
) -> float:
    """Money a month for serving `monthly_queries` (inference only; training is added by the caller).
    `price_per_hour` is one device's; a replica is `devices` devices."""
    per_replica_hour = price_per_hour * devices
    if d.kind == "per_second":
        starts = d.cold_starts_per_month * (d.cold_start_s + d.idle_timeout_s) / 3600.0
        return per_replica_hour * (monthly_queries / capacity_qph + starts)
    return replicas_needed(monthly_queries, capacity_qph, d) * per_replica_hour * d.hours_per_month


@dataclass(frozen=True)
class BreakEven:
    """Monthly volumes where self-hosting (inference + amortised training) is cheaper than the API, as intervals
    [start, end) (end None: every volume above start). Empty: never. One interval from 0 to None: always."""

    cheaper: tuple[tuple[float, float | None], ...]

    @property
    def first(self) -> float | None:
        """The smallest volume above which self-hosting is cheaper for good (None when it never is for good)."""
        last = self.cheaper[-1] if self.cheaper else None
        return last[0] if last is not None and last[1] is None else None

    def text(self) -> str:
        """The volumes in words, in the report's language (use_report_language)."""
        if not self.cheaper:
            return _("never")
        if self.cheaper == ((0.0, None),):
            return _("always")
        out = ""
        for a, b in self.cheaper:
            part = (
                _("above %(volume)s", volume=_q(a)) if b is None
                else _("from %(start)s to %(end)s", start=_q(a), end=_q(b))
            )  # fmt: skip
            out = _("%(earlier)s, and %(later)s", earlier=out, later=part) if out else part
        return out


def _q(v: float) -> str:
    return integer(math.ceil(v))


def break_even(
    training: float,
    months: float,
    capacity_qph: float,
    price_per_hour: float,
    devices: int,
    api_per_1k: float,
    d: Deployment,
) -> BreakEven:
    """Where api(V) = V x api_per_1k / 1000 exceeds self(V) = monthly_self_cost(V) + training / months."""
    a, fixed = api_per_1k / 1000.0, training / months
    per_replica_hour = price_per_hour * devices
    if d.kind == "per_second":
        slope = per_replica_hour / capacity_qph
        intercept = fixed + monthly_self_cost(0.0, capacity_qph, price_per_hour, devices, d)
        if a <= slope:
            return BreakEven(())
        return BreakEven(((intercept / (a - slope) if intercept > 0 else 0.0, None),))
    step_cost, width = per_replica_hour * d.hours_per_month, replica_volume(1, capacity_qph, d)
    regions: list[list[float | None]] = []
    lo, r = 0.0, d.min_replicas
    for _step in range(MAX_STEPS):
        hi = replica_volume(r, capacity_qph, d)
        cost = r * step_cost + fixed  # self(V) on (lo, hi]
        start = max(lo, cost / a) if a > 0 else math.inf  # where the API line passes this step
        if start < hi:  # cheaper on [start, hi]
            if regions and regions[-1][1] == lo and start <= lo:
                regions[-1][1] = hi  # continues across the step edge
            else:
                regions.append([start, hi])
        margin = a * hi - cost  # how much cheaper self-hosting is at this step's upper edge
        if margin > step_cost and a * width >= step_cost:
            regions[-1][1] = None  # cheaper at every later volume: each step adds less than the API does
            break
        if margin < 0 and a * width <= step_cost:
            break  # the API's lead only grows
        lo, r = hi, r + 1
    return BreakEven(tuple((float(s), None if e is None else float(e)) for s, e in regions))
