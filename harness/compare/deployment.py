"""What self-hosting costs a month as a deployment, not as a perfectly busy device; and the volumes where it
breaks even with an API. Formulas in words: docs/metrics.md ("Self-hosted cost: the deployment").

Two kinds (conf/deployment/):
  dedicated   replicas always on, billed every hour of the month. Replicas needed for a monthly volume V:
              max(min_replicas, ceil(peak rate / (capacity per replica x target utilisation))), with
              peak rate = V / hours_per_month x peak_to_mean. Monthly cost is a step function of V. The device is
              billed at its hardware profile's on-demand hourly price (conf/hardware/).
  per_second  a serverless bill at the deployment's own per-second device prices (`prices`: hardware profile ->
              money per device-second; a device without one is unpriced, never billed at the on-demand hourly
              rate). Billed seconds for V queries, with n = cold_starts_per_month starts from zero:
              n x up(busy / n + cold_start_s + idle_timeout_s), busy = V x 3,600 / capacity and up() rounding a
              period up to a multiple of min_billed_s; with no starts, up(busy). Also a step function of V.
Capacity per replica is a measured rate in queries per hour: at a latency target when the load stage measured it,
else the evaluation's batch throughput (harness.report.table.self_hosting chooses).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_STEPS = 1_000_000  # replicas (dedicated) or billed levels (per_second) examined for break-even points


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
    min_billed_s: float = 0.0  # per_second: each billed period is rounded up to a multiple of it (0: exact)
    # per_second: money per device-second by hardware profile name (conf/hardware/); a mapping is accepted and
    # kept as sorted (profile, price) pairs so that a Deployment stays hashable
    prices: Any = ()
    currency: str = "USD"
    as_of: str | None = None  # when the prices were read
    source: str | None = None  # the page they were read from
    note: str | None = None
    description: str = ""

    def __post_init__(self) -> None:
        pairs = self.prices.items() if isinstance(self.prices, Mapping) else self.prices or ()
        object.__setattr__(self, "prices", tuple(sorted((str(k), float(v)) for k, v in pairs)))

    @classmethod
    def of(cls, cfg: Any) -> Deployment:
        """From a DeploymentConfig (or any object or mapping with these fields)."""
        get = cfg.get if isinstance(cfg, Mapping) else (lambda k, d=None: getattr(cfg, k, d))
        return cls(**{f: get(f) for f in cls.__dataclass_fields__ if get(f) is not None})

    def price_per_second(self, profile: str | None) -> float | None:
        """per_second: this deployment's price of one second of the device priced as hardware profile `profile`
        (None: it has none)."""
        return dict(self.prices).get(profile) if profile is not None else None


def device_price(
    d: Deployment, profile_name: str | None, hourly_price: float | None
) -> tuple[float | None, str | None]:
    """(price of one device-hour as `d` bills it, why there is none): `dedicated` bills the hardware profile's
    on-demand `hourly_price` (None stays None: the row is unpriced as before); `per_second` bills its own price
    for that profile x 3,600, and a device it has no price for is unpriced, with the reason ("no_profile": no
    hardware profile fits the device; "no_price": the deployment has no price for it; harness.report.words says
    it in words); the on-demand hourly rate is never reused as a per-second price."""
    if d.kind != "per_second":
        return hourly_price, None
    per_second = d.price_per_second(profile_name)
    if per_second is not None:
        return per_second * 3600.0, None
    return None, "no_profile" if profile_name is None else "no_price"


def replicas_needed(monthly_queries: float, capacity_qph: float, d: Deployment) -> int:
    """Dedicated replicas to serve `monthly_queries` at the peak, each planned at `target_utilisation`."""
    peak = monthly_queries / d.hours_per_month * d.peak_to_mean
    return max(d.min_replicas, math.ceil(peak / (capacity_qph * d.target_utilisation) - 1e-12))


def replica_volume(replicas: int, capacity_qph: float, d: Deployment) -> float:
    """The largest monthly volume `replicas` dedicated replicas serve (the edge of a step)."""
    return replicas * capacity_qph * d.target_utilisation * d.hours_per_month / d.peak_to_mean


def _periods(d: Deployment) -> tuple[float, float]:
    """per_second: (billed periods a month, seconds each period bills besides its busy time): one per start from
    zero, each with its cold start and idle timeout; with no starts, the month's busy time as one period."""
    if d.cold_starts_per_month > 0:
        return d.cold_starts_per_month, d.cold_start_s + d.idle_timeout_s
    return 1.0, 0.0


def _round_up(seconds: float, step: float) -> float:
    """`seconds` rounded up to a multiple of `step` (0: as they are); a float a hair above a multiple is on it."""
    return step * max(0, math.ceil(seconds / step - 1e-9)) if step > 0 else seconds


def billed_seconds(monthly_queries: float, capacity_qph: float, d: Deployment) -> float:
    """per_second: the seconds a replica is billed a month for `monthly_queries`: busy seconds
    (V x 3,600 / capacity) shared equally among the starts, each start's period (its busy share + cold start +
    idle timeout) rounded up to min_billed_s; with no starts, the busy seconds rounded up as one period."""
    n, extra = _periods(d)
    busy = monthly_queries * 3600.0 / capacity_qph
    return n * _round_up(busy / n + extra, d.min_billed_s)


def monthly_self_cost(
    monthly_queries: float, capacity_qph: float, price_per_hour: float, devices: int, d: Deployment
) -> float:
    """Money a month for serving `monthly_queries` (inference only; training is added by the caller).
    `price_per_hour` is one device's, as the deployment bills it (device_price); a replica is `devices` devices."""
    per_replica_hour = price_per_hour * devices
    if d.kind == "per_second":
        return per_replica_hour * billed_seconds(monthly_queries, capacity_qph, d) / 3600.0
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


def break_even(
    training: float,
    months: float,
    capacity_qph: float,
    price_per_hour: float,
    devices: int,
    api_per_1k: float,
    d: Deployment,
) -> BreakEven:
    """Where api(V) = V x api_per_1k / 1000 exceeds self(V) = monthly_self_cost(V) + training / months.
    `price_per_hour`: one device's, as the deployment bills it (device_price)."""
    a, fixed = api_per_1k / 1000.0, training / months
    per_replica_hour = price_per_hour * devices
    if d.kind == "per_second":
        return _per_second_break_even(a, fixed, capacity_qph, per_replica_hour / 3600.0, d)
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
    return _break_even(regions)


def _break_even(regions: list[list[float | None]]) -> BreakEven:
    return BreakEven(tuple((float(s), None if e is None else float(e)) for s, e in regions))  # type: ignore[arg-type]


def _per_second_break_even(a: float, fixed: float, capacity_qph: float, per_second: float, d: Deployment) -> BreakEven:
    """per_second's crossings, exact with the rounding. With n periods of `extra` seconds besides busy time,
    k = 3,600 / capacity busy seconds a query and p the price of a replica-second, self(V) = fixed + p x n x
    up(k V / n + extra) lies between L(V) = fixed + p (k V + n extra) and L(V) + p n min_billed_s. So the API
    (a V) is dearer at every V <= V_L, where a V_L = L(V_L), and cheaper at every V >= V_U, where it meets the
    upper line; in between self(V) is a staircase (level j: n j min_billed_s seconds billed, on
    V in (n ((j - 1) step - extra) / k, n (j step - extra) / k]) examined level by level."""
    n, extra = _periods(d)
    k, step = 3600.0 / capacity_qph, d.min_billed_s
    slope = per_second * k  # money a query adds to the lower line
    if a <= slope:
        return BreakEven(())  # self(V) >= L(V) >= a V at every volume
    base = fixed + per_second * n * extra  # L(0)
    if step <= 0:
        return BreakEven(((base / (a - slope) if base > 0 else 0.0, None),))
    lower, upper = base / (a - slope), (base + per_second * n * step) / (a - slope)

    def edge(j: int) -> float:  # the largest volume billed at most level j
        return n * (j * step - extra) / k

    regions: list[list[float | None]] = []
    j = max(1, math.floor((k * lower / n + extra) / step))  # the level at V_L (or one below)
    for _level in range(MAX_STEPS):
        lo, hi = max(0.0, edge(j - 1)), edge(j)
        if lo >= upper:
            break
        start = max(lo, (fixed + per_second * n * step * j) / a)
        if start < hi:  # cheaper on [start, hi]
            if regions and regions[-1][1] == lo and start <= lo:
                regions[-1][1] = hi
            else:
                regions.append([start, hi])
        j += 1
    else:
        lo = upper  # levels beyond the bound not examined: cheaper for good from V_U at the latest
    if regions and regions[-1][1] == lo:
        regions[-1][1] = None
    else:
        regions.append([lo, None])
    return _break_even(regions)


def break_even_by_months(
    training: float,
    capacity_qph: float,
    price_per_hour: float,
    devices: int,
    api_per_1k: float,
    d: Deployment,
    months: tuple[float, ...] = (1, 6, 12),
) -> dict[float, BreakEven]:
    """break_even with the training amortised over each of `months` (the break-even table's 1, 6 and 12)."""
    return {m: break_even(training, m, capacity_qph, price_per_hour, devices, api_per_1k, d) for m in months}
