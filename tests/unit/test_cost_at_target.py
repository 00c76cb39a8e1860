"""Cost at a latency target, per-request latency at one user, ties that say tie (issue 30): the audit's cases on
hand-made records and load records, each figure worked out by hand in its docstring (docs/metrics.md)."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.compare.deployment import Deployment
from harness.load.figures import Slo, capacity, interval, level_figures
from harness.report import summary
from harness.report.table import break_even, cost_and_latency, leaderboard, with_capacity
from tests.support import page
from tests.support.loads import load_record
from tests.support.records import make_record as _make_record

DEDICATED = Deployment()  # 1 replica always on, 730 h, peak 3x the mean, planned at 60 %
T_975_3 = 3.182446  # Student's t, 0.975 quantile, 3 degrees of freedom (a table's value)


def make_record(*args, **kwargs) -> dict:
    return _make_record(*args, **kwargs).to_json()


def _local(model: str, score: float, **kw) -> dict:
    return make_record(model * 20 if len(model) == 1 else (model + "0" * 20)[:20], model=model, score=score, **kw)


def test_two_rows_costing_exactly_the_same_are_tied_and_the_higher_score_is_named():
    """m-a (0.70) and m-b (0.76), each measured at 3,600 queries/h within the target on a 0.50 USD/h device. At
    100,000 queries a month the peak is 100,000 / 730 x 3 = 411 queries/h, under one replica's 3,600 x 0.6 =
    2,160: one replica each, 730 x 0.50 = 365.00 a month = 3.6500 per 1,000 for both. A tie on cost: the higher
    score decides (m-b), and the finding says it is a tie, naming m-a."""
    records = [_local("m-a", 0.70), _local("m-b", 0.76)]
    loads = [load_record(model_key=m, capacity_qph=3600.0, price_per_hour=0.50, profile="l4") for m in ("m-a", "m-b")]
    df = leaderboard(with_capacity(records, loads), None, DEDICATED, 100_000)
    assert list(df["cost_per_1k"]) == [pytest.approx(3.65)] * 2
    [found] = summary.cheapest_meeting(df, 0.5)
    assert found.headline.endswith(": m-b · base")
    assert found.detail.startswith("3.6500 USD per 1,000 queries, score 0.760, measured on dedicated, 1 replica(s)")
    assert (
        "Tied on cost with m-a · base (3.650000 USD to 3.650000 USD: within 2% of the cheapest or inside its "
        "measured interval, a difference the measurement cannot tell from noise), so the higher score decides"
        in found.detail
    )
    # the scores the other way round: the same tie, the other row named
    df.loc[df["model_key"] == "m-a", "score"] = 0.80
    [found] = summary.cheapest_meeting(df, 0.5)
    assert found.headline.endswith(": m-a · base") and "Tied on cost with m-b · base" in found.detail


def _tuned(model: str, score: float, **kw) -> dict:
    return make_record(
        (model + "t" * 20)[:20],
        model=model,
        score=score,
        finetune={
            "method": "lora",
            "train_task": "helpdesk",
            "artifact_id": "a" * 20,
            "seed": 1,
            "data": {"n_domain": 64, "n_replay": 0},
            "metering": {
                "train_seconds": 60.0,
                "device": {"kind": "cuda"},
                "train_tokens": 1,
                "final_train_loss": 1,
                "validation_loss": 1,
            },
        },
        **kw,
    )


def test_a_row_not_measured_at_a_target_is_never_cheapest_nor_given_a_break_even(tmp_path):
    """m-u, fine-tuned, scores 0.90 and was never measured under load. Its batch throughput, 50,000 queries/h on a
    0.50 USD/h device, would be 0.0100 per 1,000: the cheapest row by far. It has no cost ("not measured at a
    target"), its 0.0100 stays in batch_per_1k, and the cheapest option is m-b (3.6500 per 1,000 at the target,
    as above). Its break-even against the API (0.50 per 1,000) is unknown, not a volume from batch throughput."""
    from harness.api.meter import Meter, aggregate
    from harness.report.render import write_report

    hw = {"profile": "l4", "kind": "cuda", "price_per_hour": 0.50}
    unmeasured = _tuned(
        "m-u",
        0.90,
        hardware=hw,
        inference={"queries_per_hour": 50_000.0},
        cost={"currency": "USD", "per_1k_queries": 1000 * 0.50 / 50_000, "training": 1.0},
    )
    measured = _local("m-b", 0.76, hardware=hw)
    price = {"currency": "USD", "input_per_1m": 1.0, "cached_input_per_1m": None, "output_per_1m": 0.0}
    meter = Meter(prompt_tokens=500, cached_tokens=0, completion_tokens=0, latency_s=1.0, cost=500 / 1e6)
    api = make_record("a" * 20, source="api", model="gpt", score=0.6, api=aggregate([meter], price))
    loads = [load_record(model_key="m-b", capacity_qph=3600.0, price_per_hour=0.50, profile="l4")]
    records = with_capacity([unmeasured, measured, api], loads)
    df = leaderboard(records, None, DEDICATED, 100_000)
    u = df[df["model_key"] == "m-u"].iloc[0]
    assert pd.isna(u["cost_per_1k"])  # None (NaN in a float column)
    assert u["cost_missing"] == "not at a target" and u["cost_missing_label"] == "not measured at a target"
    assert u["batch_per_1k"] == pytest.approx(0.01)
    [found] = summary.cheapest_meeting(df, 0.7)
    assert found.headline.endswith(": m-b · base") and "m-u" not in found.detail
    assert found.detail.startswith("3.6500 USD per 1,000 queries, score 0.760")
    [row] = break_even(records, 100_000, 12, DEDICATED).to_dict("records")
    assert row["tuned"].startswith("m-u") and row["break_even"] == "unknown (not measured at a latency target)"
    assert row["break_even_kind"] == "unknown" and row["break_even_first"] is None and row["curve"] is None
    html = write_report(
        [unmeasured, measured, api], tmp_path, "t", loads=loads, assumptions={"monthly_queries": 100_000}
    ).read_text()
    rows = page.leaderboard(html)
    [u_row] = [r for r in rows if r["model"].startswith("m-u")]
    assert u_row["cost"] == "not measured" and u_row["batch_cost"] == "0.0100 USD"
    assert u_row["notes"]["cost"][0].startswith("Not measured at a target: no capacity was measured under load")
    assert "3.6500 USD" in [r["cost"] for r in rows]


def _rows(e2e: list[float]) -> list[dict]:
    return [
        {
            "i": i,
            "scheduled_s": None,
            "sent_s": 0.0,
            "ttft_s": 0.5,
            "e2e_s": e,
            "itl_s": [],
            "prompt_tokens": 100,
            "completion_tokens": 10,
            "error": None,
        }
        for i, e in enumerate(e2e)
    ]


def test_the_capacity_interval_by_hand():
    """Closed loop, level 2: 4 answered requests, e2e 2.0, 2.2, 2.4, 2.6 s over a 4.8 s wall: 4 / 4.8 = 0.8333
    requests/s = 3,000 queries/h. Mean 2.3 s; deviations -0.3, -0.1, 0.1, 0.3: sd = sqrt(0.2 / 3) = 0.258199;
    h = t(0.975, 3) x sd / sqrt(4) = 3.182446 x 0.258199 / 2 = 0.410852. The rate scales by mean / (mean -+ h):
    low 3,000 x 2.3 / 2.710852 = 2,545.33, high 3,000 x 2.3 / 1.889148 = 3,652.44 queries/h.
    Dedicated at 2,000,000 queries a month on a 1.00 USD/h device: peak 2e6 / 730 x 3 = 8,219.2 queries/h over
    0.6 x capacity: 4.57 -> 5 replicas at 3,000, 5.38 -> 6 at the low end, 3.75 -> 4 at the high end; a replica is
    730 USD a month, 0.365 per 1,000 of 2e6: cost 1.825, interval 1.460 to 2.190 (more capacity costs less)."""
    fig = level_figures(_rows([2.0, 2.2, 2.4, 2.6]), 4.8, Slo(ttft_p95_s=1.0, tpot_p95_s=None))
    sd = (0.2 / 3) ** 0.5
    assert fig["requests_per_s"] == pytest.approx(4 / 4.8) and fig["window"] == "wall"
    assert fig["e2e_mean_s"] == pytest.approx(2.3) and fig["e2e_sd_s"] == pytest.approx(sd)
    lv = {"level": 2.0, "figures": fig}
    h = T_975_3 * sd / 2
    low, high = interval(lv)
    assert low == pytest.approx(4 / 4.8 * 2.3 / (2.3 + h), rel=1e-6)
    assert high == pytest.approx(4 / 4.8 * 2.3 / (2.3 - h), rel=1e-6)
    cap = capacity([lv])
    assert cap["queries_per_hour"] == pytest.approx(3000.0)
    assert cap["queries_per_hour_low"] == pytest.approx(2545.33, abs=0.01)
    assert cap["queries_per_hour_high"] == pytest.approx(3652.44, abs=0.01)
    assert cap["lowest"] == {"level": 2.0, "queries_per_hour": pytest.approx(3000.0)}
    # one answered request is no interval; a spread as wide as the mean leaves the upper end unbounded
    assert interval({"level": 1, "figures": level_figures(_rows([2.0]), 2.0, Slo(1.0, None))}) == (None, None)
    wide = level_figures(_rows([0.1, 0.1, 0.1, 9.0]), 4.8, Slo(1.0, None))
    assert interval({"level": 2, "figures": wide})[1] is None
    # the cost's interval under dedicated
    load = load_record(
        model_key="m-small",
        capacity_qph=cap["queries_per_hour"],
        price_per_hour=1.0,
        profile="l4",
        low_qph=cap["queries_per_hour_low"],
        high_qph=cap["queries_per_hour_high"],
    )
    [row] = with_capacity([make_record()], [load])
    c = cost_and_latency(row, DEDICATED, 2_000_000)
    assert c["cost_per_1k"] == pytest.approx(1.825)
    assert (c["cost_low"], c["cost_high"]) == (pytest.approx(1.46), pytest.approx(2.19))
    assert (c["capacity_low_qph"], c["capacity_high_qph"]) == (
        pytest.approx(2545.33, abs=0.01),
        pytest.approx(3652.44, abs=0.01),
    )


def test_a_cost_interval_overlapping_the_cheapest_is_a_tie_beyond_the_tie_share():
    """At 2,000,000 queries a month, 5 replicas each (3,000 queries/h, as above): m-c on a 1.00 USD/h device costs
    1.8250 per 1,000 with the interval 1.460 to 2.190; m-d on a 1.10 USD/h device 2.0075 (10 % dearer: beyond the
    2 % tie share), m-e on a 1.25 USD/h device 2.28125. m-d's 2.0075 lies inside m-c's interval: a tie, and m-d's
    higher score (0.80 over 0.70) decides; m-e (above 2.190) is not tied despite its 0.90. Without m-c's interval
    m-d is not tied and m-c is the cheapest."""
    records = [_local("m-c", 0.70), _local("m-d", 0.80), _local("m-e", 0.90)]

    def loads(interval_of_c: bool) -> list[dict]:
        span = {"low_qph": 2545.33, "high_qph": 3652.44} if interval_of_c else {}
        return [
            load_record(model_key="m-c", capacity_qph=3000.0, price_per_hour=1.0, profile="l4", **span),
            load_record(model_key="m-d", capacity_qph=3000.0, price_per_hour=1.1, profile="l4"),
            load_record(model_key="m-e", capacity_qph=3000.0, price_per_hour=1.25, profile="l4"),
        ]

    df = leaderboard(with_capacity(records, loads(True)), None, DEDICATED, 2_000_000)
    assert list(df.sort_values("model_key")["cost_per_1k"]) == pytest.approx([1.825, 2.0075, 2.28125])
    [found] = summary.cheapest_meeting(df, 0.5, monthly=2_000_000)
    assert found.headline.endswith(": m-d · base") and "m-e" not in found.detail
    assert found.detail.startswith("2.0075 USD per 1,000 queries, score 0.800")
    assert "Tied on cost with m-c · base (1.825000 USD to 2.007500 USD: within 2% of the cheapest or inside" in (
        found.detail
    )
    df = leaderboard(with_capacity(records, loads(False)), None, DEDICATED, 2_000_000)
    [found] = summary.cheapest_meeting(df, 0.5, monthly=2_000_000)
    assert found.headline.endswith(": m-c · base") and "Tied on cost" not in found.detail


def test_latency_is_per_request_at_one_user_for_local_and_api_rows_alike():
    """m-small's load record: one user's e2e p50 / p95 0.40 / 0.70 s, TTFT 0.10 / 0.20 s; the API baseline gpt's
    (endpoint {"baseline": "gpt"}): 0.90 / 1.80 s, TTFT 0.30 / 0.60 s. Those are the rows' p50_s / p95_s, not the
    local evaluation's batch wall time (1.50 / 2.50 s, in batch_p50_s / batch_p95_s) nor the API evaluation's
    latency (0.8 s a request). m-other has no load record: no one-user latency, its batch time 3.00 s apart."""
    local = make_record(inference={"latency_s": {"p50": 1.5, "p95": 2.5}})
    other = _local("m-other", 0.5, inference={"latency_s": {"p50": 2.0, "p95": 3.0}})
    api = make_record("a" * 20, source="api", model="gpt")
    loads = [
        load_record(model_key="m-small", one_user=(0.4, 0.7), one_user_ttft=(0.1, 0.2)),
        load_record(baseline="gpt", one_user=(0.9, 1.8), one_user_ttft=(0.3, 0.6)),
    ]
    attached = with_capacity([local, other, api], loads)
    got = {r["model"]["name"]: cost_and_latency(r, DEDICATED, 100_000) for r in attached}
    lat = ("p50_s", "p95_s", "ttft_p50_s", "ttft_p95_s", "batch_p50_s", "batch_p95_s")
    assert tuple(got["m-small"][k] for k in lat) == (0.4, 0.7, 0.1, 0.2, 1.5, 2.5)
    assert tuple(got["gpt"][k] for k in lat) == (0.9, 1.8, 0.3, 0.6, None, None)
    assert tuple(got["m-other"][k] for k in lat) == (None, None, None, None, 2.0, 3.0)
    assert got["m-small"]["latency_load_id"] == loads[0]["load_id"]
    assert got["gpt"]["latency_load_id"] == loads[1]["load_id"]
    # a load record of the API gives it no capacity (its money is metered), only its latency
    assert "capacity" not in attached[2] and got["gpt"]["cost_per_1k"] == attached[2]["api"]["cost"]["per_1k_queries"]
    # level 1 whose every request failed is no latency at one user
    broken = load_record(model_key="m-small")
    broken["levels"][0]["figures"]["n_errors"] = broken["levels"][0]["figures"]["n"]
    [row] = with_capacity([local], [broken])
    assert cost_and_latency(row)["p95_s"] is None and cost_and_latency(row)["batch_p95_s"] == 2.5


def test_the_default_volume_of_a_leaderboard_without_one_is_the_reports():
    from harness.config.schema import ReportConfig
    from harness.report.table import _DEFAULT_MONTHLY

    assert _DEFAULT_MONTHLY == ReportConfig().monthly_queries


def test_capacity_is_the_most_requests_per_second_among_the_levels_meeting_the_target():
    """Levels 1, 2 and 4 users: 1.5, 1.25 and 2.0 requests/s, level 4 missing the target. Capacity is level 1's
    1.5 per s (5,400 queries/h), not level 2's 1.25 although it is higher: two users got less done than one."""
    from harness.load.figures import capacity

    def lv(level: float, rps: float, meets: bool) -> dict:
        return {
            "level": level,
            "figures": {
                "requests_per_s": rps,
                "meets_target": meets,
                "n": 4,
                "n_errors": 0,
                "window": "wall",
                "e2e_mean_s": None,
                "e2e_sd_s": None,
            },
        }

    cap = capacity([lv(1, 1.5, True), lv(2, 1.25, True), lv(4, 2.0, False)])
    assert (cap["level"], cap["queries_per_hour"]) == (1, 5400.0)
    assert capacity([lv(1, 1.0, True), lv(2, 1.8, True)])["level"] == 2
    assert capacity([lv(1, 1.0, False), lv(2, 1.8, True)]) is None  # a lower level failing: no capacity


def test_an_unbounded_capacity_puts_the_cost_low_end_at_unlimited_capacity():
    """Capacity 300 queries/h, interval [200, unbounded]; 100,000 queries a month under `dedicated` (peak
    100,000 / 730 x 3 = 410.96 an hour, 60 % of a replica planned): 300 -> ceil(410.96 / 180) = 3 replicas,
    200 -> ceil(410.96 / 120) = 4, unlimited -> the 1 replica always on. At 0.1 USD an hour x 730 h = 73 USD a
    replica: 219, 292 and 73 USD a month, per 1,000 of 100,000 queries: 2.19, 2.92 and 0.73."""
    from harness.compare.deployment import Deployment
    from harness.report.table import cost_and_latency
    from tests.support.records import make_record

    rec = make_record("u" * 20, hardware={"price_per_hour": 0.1, "profile": "cpu-2vcpu"}).to_json()
    rec["capacity"] = {
        "queries_per_hour": 300.0,
        "queries_per_hour_low": 200.0,
        "queries_per_hour_high": None,
        "price_per_hour": 0.1,
        "devices": 1,
        "profile": "cpu-2vcpu",
        "mode": "closed",
        "target": "t",
        "slo": None,
        "load_id": "l" * 20,
    }
    got = cost_and_latency(rec, Deployment(), 100_000)
    assert got["cost_per_1k"] == pytest.approx(2.19)
    assert (got["cost_low"], got["cost_high"]) == (pytest.approx(0.73), pytest.approx(2.92))
