"""The deployment model of self-hosted cost, on cases computed by hand (docs/metrics.md)."""

from __future__ import annotations

import pytest

from harness.compare.cost import break_even_monthly_queries, per_1k_from_rate
from harness.compare.deployment import (
    BreakEven,
    Deployment,
    billed_seconds,
    break_even,
    break_even_by_months,
    device_price,
    monthly_self_cost,
    replica_volume,
    replicas_needed,
)
from harness.report.words import break_even_text, deployment_text, unpriced_text

DEDICATED = Deployment()  # 1 replica always on, 730 h, peak 3x mean, planned at 60 %
PER_SECOND = Deployment(name="per_second", kind="per_second")


def test_h100_against_gpt_4o_breaks_even_near_672k_queries_a_month_not_264():
    """H100 at 2.99 USD/h measured at 36,000 queries/h; gpt-4o at 3.25 USD per 1,000; 10 USD of training over
    12 months. One replica always on: 730 h x 2.99 = 2,182.70 USD a month (+ 0.8333 training) against
    0.00325 USD a query: V = 2,183.5333 / 0.00325 = 671,856.4 queries a month."""
    assert monthly_self_cost(1, 36_000, 2.99, 1, DEDICATED) == pytest.approx(2182.70)
    be = break_even(10.0, 12.0, 36_000, 2.99, 1, 3.25, DEDICATED)
    assert be.first == pytest.approx(2183.5333333 / 0.00325)
    assert break_even_text(be) == "above 671,857"
    # the busy-seconds formula (today's) says 264 a month: per_second, no cold starts
    busy = break_even(10.0, 12.0, 36_000, 2.99, 1, 3.25, PER_SECOND)
    old = break_even_monthly_queries(10.0, 12.0, per_1k_from_rate(2.99, 36_000), 3.25)
    assert busy.first == pytest.approx(old) == pytest.approx(0.833333 / (0.00325 - 2.99 / 36_000), rel=1e-6)
    assert break_even_text(busy) == "above 264"


def test_replicas_follow_the_peak_and_cost_is_a_step_function():
    """36,000 q/h per replica at 60 % = 21,600 q/h usable. 12,000,000 queries a month: mean 16,438.4/h, peak
    49,315.1/h, 49,315.1 / 21,600 = 2.28 -> 3 replicas = 3 x 2.99 x 730 = 6,548.10 USD."""
    assert replicas_needed(12_000_000, 36_000, DEDICATED) == 3
    assert monthly_self_cost(12_000_000, 36_000, 2.99, 1, DEDICATED) == pytest.approx(6548.10)
    edge = replica_volume(1, 36_000, DEDICATED)  # 21,600 x 730 / 3 = 5,256,000 a month per replica
    assert edge == pytest.approx(5_256_000)
    assert replicas_needed(edge, 36_000, DEDICATED) == 1 and replicas_needed(edge + 1, 36_000, DEDICATED) == 2
    assert replicas_needed(0, 36_000, Deployment(min_replicas=2)) == 2
    # a replica of 4 devices costs 4 device-hours an hour
    assert monthly_self_cost(1, 36_000, 2.99, 4, DEDICATED) == pytest.approx(4 * 2182.70)


def test_per_second_without_cold_starts_is_the_busy_seconds_price_and_starts_are_billed():
    v = 1_000_000
    assert 1000 * monthly_self_cost(v, 36_000, 2.99, 1, PER_SECOND) / v == pytest.approx(per_1k_from_rate(2.99, 36_000))
    cold = Deployment(kind="per_second", cold_start_s=30, idle_timeout_s=270, cold_starts_per_month=100)
    # 100 starts x 300 s = 8.333 h billed on top of 1e6 / 36,000 = 27.78 busy hours
    assert monthly_self_cost(v, 36_000, 2.99, 1, cold) == pytest.approx(2.99 * (v / 36_000 + 100 * 300 / 3600))


def test_never_always_and_several_crossings():
    # the API is cheaper per query than a busy device: never, on either kind
    assert break_even_text(break_even(10, 12, 36_000, 2.99, 1, 0.05, PER_SECOND)) == "never"
    assert break_even(10, 12, 36_000, 2.99, 1, 0.05, DEDICATED) == BreakEven(())
    # nothing to amortise, no idle cost, dearer API: always
    assert break_even_text(break_even(0, 12, 36_000, 2.99, 1, 3.25, PER_SECOND)) == "always"
    # a slow replica (100 q/h, 5 USD/h) against an API at 0.12 USD a query: each replica serves 14,600 queries
    # a month for 3,650 USD. Step 1: cheaper from 3,650 / 0.12 = 30,417 to 14,600? No: 30,417 > 14,600 -> none.
    # Step 2 (14,600, 29,200]: cost 7,300 -> from 60,834: none. Each step adds 3,650 while the API adds 1,752:
    # never.
    assert break_even_text(break_even(0, 12, 100, 5.0, 1, 120.0, DEDICATED)) == "never"
    # an API at 0.30 a query: a step of 14,600 adds 4,380 to the API and 3,650 to self-hosting.
    # Step 1: cheaper from 3,650 / 0.3 = 12,166.7 to 14,600; at the edge the API costs 4,380 < 7,300: dearer
    # again. Step 2: from 7,300 / 0.3 = 24,333.3 to 29,200; edge: 8,760 < 10,950. ... step k: from
    # 3,650k / 0.3 to 14,600k, until the margin at an edge (730k - 3,650 ... ) exceeds a step's 3,650.
    be = break_even(0, 12, 100, 5.0, 1, 300.0, DEDICATED)
    assert be.cheaper[0] == pytest.approx((3650 / 0.3, 14_600))
    assert be.cheaper[1] == pytest.approx((7300 / 0.3, 29_200))
    # margin at edge k = 0.3 x 14,600k - 3,650k = 730k: above a step's 3,650 from k = 6, so cheaper for good from
    # step 5's crossing (18,250 / 0.3 = 60,833.3): step 6 starts exactly on the API line (21,900 = 0.3 x 73,000)
    assert be.cheaper[-1] == pytest.approx((18_250 / 0.3, None))
    assert len(be.cheaper) == 5 and be.first == pytest.approx(60_833.333)
    assert break_even_text(be).startswith("from 12,167 to 14,600, and from 24,334 to 29,200")
    assert break_even_text(be).endswith("and above 60,834")


def _pair():
    """A LoRA row measured at 36,000 queries/h on an H100 priced 2.99 USD/h, 10 USD of training; an API row at
    3.25 USD per 1,000 queries (3,250 prompt tokens a query at 1 USD per 1M), on the same items."""
    from harness.api.meter import Meter, aggregate
    from tests.support.records import make_record

    tuned = make_record(
        "tuned000000000000000",
        model="m",
        score=0.7,
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
        hardware={"profile": "h100", "kind": "cuda", "count": 1, "price_per_hour": 2.99, "currency": "USD"},
        cost={"currency": "USD", "per_1k_queries": 1000 * 2.99 / 36_000, "training": 10.0},
        inference={"latency_s": {"p50": 0.5, "p95": 0.9}, "queries_per_hour": 36_000.0},
    ).to_json()
    price = {"currency": "USD", "input_per_1m": 1.0, "cached_input_per_1m": None, "output_per_1m": 0.0}
    meter = Meter(prompt_tokens=3250, cached_tokens=0, completion_tokens=0, latency_s=1.0, cost=3250 / 1e6)
    api = make_record(
        "a" * 20, source="api", model="gpt-x", display_name="GPT x", score=0.7, api=aggregate([meter], price)
    ).to_json()
    api["task"]["n"] = tuned["task"]["n"]
    return tuned, api


def _load(qph: float = 36_000.0, price: float = 2.99) -> dict:
    """The tuned row's load record: one user answered `qph` queries an hour within the latency target (level 1,
    the capacity and the lowest level alike) on the h100 profile priced `price` USD/h."""
    from tests.support.loads import load_record

    return load_record(
        model_key="m", artifact_id="a" * 20, capacity_qph=qph, price_per_hour=price, profile="h100", one_user=(0.4, 0.7)
    )


def _measured() -> tuple[dict, dict]:
    """_pair with the tuned row's capacity attached from _load, as the report attaches it."""
    from harness.report.table import with_capacity

    tuned, api = with_capacity(list(_pair()), [_load()])
    return tuned, api


def test_the_report_prices_self_hosting_as_the_deployment_and_names_it(tmp_path):
    from harness.report.render import write_report
    from harness.report.table import break_even as table_break_even
    from harness.report.table import leaderboard

    tuned, api = _measured()
    [row] = table_break_even([tuned, api], 100_000, 12, DEDICATED).to_dict("records")
    assert row["break_even"] == "above 671,857" and row["break_even_first"] == pytest.approx(671_856.41, abs=0.01)
    # at 100,000 queries a month: one replica, 2,182.70 + 10 / 12 against 325.00
    assert row["self_monthly"] == pytest.approx(2182.70 + 10 / 12) and row["api_monthly"] == pytest.approx(325.0)
    lb = leaderboard([tuned, api], None, DEDICATED, 100_000)
    self_row = lb[lb["cell_id"] == tuned["cell_id"]].iloc[0]
    assert self_row["cost_per_1k"] == pytest.approx(1000 * 2182.70 / 100_000)  # 21.827, not 0.083
    assert self_row["cost_basis"].startswith("dedicated, 1 replica(s) at 100,000 queries a month")
    assert row["capacity_basis"].startswith("capacity at the target p95 TTFT <= 1 s")
    # per_second with its own price for the device (2.99 / 3,600 a second) and no starts: busy seconds only, the
    # figures of before (0.833 / (0.00325 - 2.99 / 36,000) = 264)
    busy = Deployment(name="per_second", kind="per_second", prices={"h100": 2.99 / 3600})
    [old] = table_break_even([tuned, api], 100_000, 12, busy).to_dict("records")
    assert old["break_even"] == "above 264"
    # a per_second deployment with no price for the device leaves it unpriced (never the on-demand hourly rate)
    [bare] = table_break_even([tuned, api], 100_000, 12, PER_SECOND).to_dict("records")
    assert bare["break_even"] == "unknown (no price under this deployment)" and bare["tuned_per_1k"] is None
    assert bare["tuned_missing"] == "no deployment price"
    assert bare["tuned_missing_label"] == "per_second has no per-second price for h100"
    # the batch figure alone (no load record) prices nothing
    [batch] = table_break_even(list(_pair()), 100_000, 12, DEDICATED).to_dict("records")
    assert batch["break_even"] == "unknown (not measured at a latency target)" and batch["tuned_per_1k"] is None
    html = write_report(
        list(_pair()),
        tmp_path,
        "t",
        assumptions={"monthly_queries": 100_000, "amortise_months": 12},
        loads=[_load()],
    ).read_text()
    assert "<b>above 671,857</b>" in html
    assert (
        "fine-tuning is cheaper above 671,857 queries a month (self-hosted as dedicated: at least 1 replica(s)" in html
    )
    assert "21.8270 USD" in html  # the leaderboard's cost for the self-hosted row
    assert 'id="chart-monthly"' in html and "Monthly cost against monthly volume" in html
    # the chart's curve: one replica up to 5,256,000 queries a month, two just above; the API a straight line
    edge = [(o, a) for v, o, a in row["curve"] if v == pytest.approx(5_256_000, rel=1e-12) and v <= 5_256_000]
    assert edge == [pytest.approx((2182.70 + 10 / 12, 3.25 * 5256))]
    above = min(v for v, _, _ in row["curve"] if v > 5_256_000)
    assert dict((v, o) for v, o, _ in row["curve"])[above] == pytest.approx(2 * 2182.70 + 10 / 12)


def test_harness_report_reprices_a_store_under_another_deployment_without_running_anything(tmp_path):
    from harness.store import Store
    from tests.support.loads import store_load
    from tests.support.records import make_samples
    from tests.support.run import run_harness

    store = Store(tmp_path / "results")
    for record in _pair():
        store.write(record, make_samples([1.0] * record["task"]["n"]))
    store_load(store.root, _load())
    out = {}
    for name in ("dedicated", "per_second"):
        p = run_harness(
            "report",
            "--results",
            str(tmp_path / "results"),
            "--out",
            str(tmp_path / name),
            "--monthly-queries",
            "100000",
            "--deployment",
            name,
            timeout=300,
        )
        assert p.returncode == 0, p.stderr
        out[name] = (tmp_path / name / "index.html").read_text(encoding="utf-8")
    assert "<b>above 671,857</b>" in out["dedicated"]
    # per_second is a serverless bill now: 30 starts of 30 s + 300 s idle, not the busy-seconds figure of before
    assert (
        "per_second: billed per second: busy time plus 30 starts a month of 30 s cold start + 300 s idle each; "
        "each period rounded up to 1 s" in out["per_second"]
    )
    # by hand, at the lowest level's 36,000 queries/h (0.1 busy s a query) and its 0.00114562 USD per h100-second:
    # each of 30 starts bills up(0.1 V / 30 + 330) s. V in (3,600, 3,900] bills 343 s a start: 30 x 343 x
    # 0.00114562 = 11.78843 + 10 / 12 of training = 12.62176 against the API's 0.00325 V, cheaper from 12.62176 /
    # 0.00325 = 3,883.6; each later second of a start adds 0.0344 while 300 more queries add 0.975 to the API
    assert "<b>above 3,884</b>" in out["per_second"] and "<b>above 264</b>" not in out["per_second"]
    # its cost at 100,000 a month: 10,000 busy s / 30 + 330 = 663.3 -> 664 s x 30 x 0.00114562 = 22.82075 USD
    assert "0.2282 USD" in out["per_second"] and "21.8270 USD" in out["dedicated"]
    bad = run_harness("report", "--results", str(tmp_path / "results"), "--deployment", "per_secnd", timeout=120)
    assert bad.returncode == 2 and "Did you mean 'per_second'" in bad.stderr


def test_every_crossing_is_marked_on_the_monthly_chart_and_the_row_names_its_capacity(tmp_path):
    """The slow-replica case above (100 q/h at 5 USD/h, nothing to amortise, the API at 0.30 a query): cheaper
    on 4 bounded intervals and for good above 60,833.3, so 4 x 2 + 1 = 9 volumes where the cheaper side
    changes, each marked on the chart (not only the last start)."""
    from harness.report.charts import monthly_cost_chart
    from harness.report.table import break_even as table_break_even
    from harness.report.table import with_capacity

    tuned, api = _pair()
    tuned["cost"]["training"] = 0.0
    api["api"]["cost"]["per_1k_queries"] = 300.0
    load = _load(qph=100.0, price=5.0)
    tuned, api = with_capacity([tuned, api], [load])
    [row] = table_break_even([tuned, api], 100_000, 12, DEDICATED).to_dict("records")
    expected = [
        3650 / 0.3,
        14_600,
        7300 / 0.3,
        29_200,
        10_950 / 0.3,
        43_800,
        14_600 / 0.3,
        58_400,
        18_250 / 0.3,
    ]
    assert row["break_even_marks"] == pytest.approx(sorted(expected))
    assert row["capacity_basis"] == (
        f"capacity at the target p95 TTFT <= 1 s, p95 TPOT <= 100 ms, errors <= 1%, closed loop (load "
        f"{load['load_id'][:8]})"
    )
    fig = monthly_cost_chart([row], deployment_text(DEDICATED))
    [marks] = [t for t in fig.data if t.mode == "markers"]
    assert list(marks.x) == pytest.approx(sorted(expected))
    assert list(marks.y) == pytest.approx([0.3 * v for v in sorted(expected)])  # on the API's line


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("deployment.kind=spot", "deployment.kind=spot: must be dedicated or per_second"),
        ("deployment.peak_to_mean=0.5", "peak_to_mean >= 1"),
        ("deployment.target_utilisation=1.5", "0 < target_utilisation <= 1"),
        ("deployment.target_utilisation=0", "0 < target_utilisation <= 1"),
        ("deployment.min_replicas=0", "min_replicas >= 1"),
        ("deployment.hours_per_month=0", "hours_per_month must be > 0"),
        (
            "deployment.cold_start_s=-1",
            "cold_start_s, idle_timeout_s, cold_starts_per_month and min_billed_s",
        ),
        (
            "deployment.min_billed_s=-1",
            "cold_start_s, idle_timeout_s, cold_starts_per_month and min_billed_s",
        ),
        (
            "+deployment.prices.h1000=0.001",
            "deployment.prices.h1000: unknown hardware profile 'h1000'. Did you mean",
        ),
        (
            "deployment=modal deployment.prices.h100=0",
            "deployment.prices.h100=0.0: must be a price per device-second",
        ),
    ],
)
def test_a_deployment_out_of_range_is_refused_with_its_key(override, says):
    from harness.app.validate import value_problems
    from tests.support.run import compose_cfg

    assert value_problems(compose_cfg(["deployment=dedicated"])) == []
    assert value_problems(compose_cfg(["deployment=per_second"])) == []
    problems = value_problems(compose_cfg(override.split()))
    assert [p for p in problems if says in p], problems


# The audit's case (issue 30): a fine-tuned model on the 2-vCPU CPU profile, 0.002297 USD of training amortised
# over 12 months, 8,949.3 queries/h of capacity, billed at 0.1323 USD per busy hour, against an API at
# 0.000048267 USD a query; a serverless bill of 30 starts a month, each 30 s cold start + 300 s idle, periods
# rounded up to 1 s.
AUDIT = Deployment(
    name="serverless",
    kind="per_second",
    cold_start_s=30,
    idle_timeout_s=300,
    cold_starts_per_month=30,
    min_billed_s=1,
    prices={"cpu-2vcpu": 0.1323 / 3600},
)


def test_the_audit_case_breaks_even_near_10_9_thousand_queries_a_month_not_6():
    """By hand. Per query: k = 3,600 / 8,949.3 = 0.4022661 busy seconds, 0.1323 / 8,949.3 = 0.0000147833 USD;
    the API 0.000048267, so each query saves 0.0000334837. Fixed a month: 0.002297 / 12 = 0.00019142 of training
    + 30 x 330 s x 0.1323 / 3,600 = 0.363825 for the starts = 0.3640164. Without rounding that is paid back at
    0.3640164 / 0.0000334837 = 10,871.4 queries a month. With whole seconds each start bills
    up(0.4022661 V / 30 + 330) s: at V = 10,871.4 that is 475.8 -> 476 s, 30 x 476 x 0.1323 / 3,600 = 0.524790
    + 0.00019142 = 0.524981 USD, which the API reaches at 0.524981 / 0.000048267 = 10,876.6; the 476 s level ends
    at V = 30 x (476 - 330) / 0.4022661 = 10,888.3; the 477 s level (0.526084 USD) is passed at 10,899.5, and
    from the 478 s level on the API's lead never returns (the lower bound's gap exceeds one rounding step).
    The busy-seconds figure of before (no starts) said 0.00019142 / 0.0000334837 = 5.7: "above 6"."""
    price, why = device_price(AUDIT, "cpu-2vcpu", 0.1323)
    assert price == pytest.approx(0.1323) and why is None
    be = break_even(0.002297, 12, 8949.3, price, 1, 0.048267, AUDIT)
    assert be.cheaper == (
        pytest.approx((10_876.6117, 10_888.315), abs=1e-3),
        (pytest.approx(10_899.4534, abs=1e-3), None),
    )
    assert be.first == pytest.approx(10_899.4534, abs=1e-3)
    assert break_even_text(be) == "from 10,877 to 10,889, and above 10,900"
    exact = Deployment(kind="per_second", cold_start_s=30, idle_timeout_s=300, cold_starts_per_month=30)
    assert break_even(0.002297, 12, 8949.3, 0.1323, 1, 0.048267, exact).first == pytest.approx(10_871.4446, abs=1e-3)
    assert break_even_text(break_even(0.002297, 12, 8949.3, 0.1323, 1, 0.048267, PER_SECOND)) == "above 6"
    # the bill at the first crossing: 476 s a start
    assert billed_seconds(10_876.6117, 8949.3, AUDIT) == pytest.approx(30 * 476)
    assert monthly_self_cost(10_876.6117, 8949.3, 0.1323, 1, AUDIT) == pytest.approx(0.524790)


def test_the_staircase_crossings_match_a_dense_scan_of_the_bill():
    """The crossings found level by level are where the bill and the API really cross: a scan every 0.05 query
    over 10,800 to 11,000 agrees except within 0.05 of a crossing."""
    be = break_even(0.002297, 12, 8949.3, 0.1323, 1, 0.048267, AUDIT)
    edges = [v for span in be.cheaper for v in span if v is not None]
    for i in range(4001):
        v = 10_800 + 0.05 * i
        if min(abs(v - e) for e in edges) < 0.05:
            continue
        cheaper = monthly_self_cost(v, 8949.3, 0.1323, 1, AUDIT) + 0.002297 / 12 < 0.000048267 * v
        inside = any(s <= v and (e is None or v <= e) for s, e in be.cheaper)
        assert cheaper == inside, v


def test_each_billed_period_is_rounded_up_to_the_minimum_increment():
    """1,000 queries at 3,600 queries/h = 1,000 busy seconds at 0.001 USD a second (3.6 USD/h). 3 starts of
    10 s + 20 s idle: each period 1,000 / 3 + 30 = 363.33 s; in 60 s increments 420 s, 3 x 420 = 1,260 s =
    1.26 USD, against 1,090 s = 1.09 USD billed exactly. With no starts, one period: 1,000 s -> 1,020 s."""
    starts = Deployment(kind="per_second", cold_start_s=10, idle_timeout_s=20, cold_starts_per_month=3)
    rounded = Deployment(
        kind="per_second", cold_start_s=10, idle_timeout_s=20, cold_starts_per_month=3, min_billed_s=60
    )
    assert billed_seconds(1000, 3600, starts) == pytest.approx(1090)
    assert billed_seconds(1000, 3600, rounded) == pytest.approx(1260)
    assert monthly_self_cost(1000, 3600, 3.6, 1, starts) == pytest.approx(1.09)
    assert monthly_self_cost(1000, 3600, 3.6, 1, rounded) == pytest.approx(1.26)
    assert monthly_self_cost(1000, 3600, 3.6, 2, rounded) == pytest.approx(2.52)  # a replica of 2 devices
    no_starts = Deployment(kind="per_second", min_billed_s=60)
    assert billed_seconds(1000, 3600, no_starts) == pytest.approx(1020)
    assert billed_seconds(1020, 3600, no_starts) == pytest.approx(1020)  # on a multiple: not one more
    # no queries: each start still bills its cold start and idle timeout, rounded: 3 x 60 s
    assert billed_seconds(0, 3600, rounded) == pytest.approx(180)
    assert billed_seconds(0, 3600, no_starts) == 0


def test_a_per_second_deployment_prices_only_the_devices_it_has_a_price_for():
    # dedicated: the hardware profile's on-demand hourly price, as before
    assert device_price(DEDICATED, "cpu-2vcpu", 0.1323) == (0.1323, None)
    assert device_price(DEDICATED, None, None) == (None, None)
    # per_second: its own per-second price x 3,600, whatever the on-demand rate
    assert device_price(AUDIT, "cpu-2vcpu", 99.0) == (pytest.approx(0.1323), None)
    # a device it has no price for is unpriced, with the reason: never the on-demand rate billed per second
    assert device_price(AUDIT, "h100", 2.99) == (None, "no_price")
    assert unpriced_text(AUDIT, "h100") == "serverless has no per-second price for h100"
    price, why = device_price(AUDIT, None, None)
    assert (
        price is None
        and why == "no_profile"
        and unpriced_text(AUDIT, None)
        == "serverless prices devices by hardware profile, and no profile fits this device"
    )


def test_break_even_at_1_6_and_12_months_of_amortisation():
    """H100 at 36,000 queries/h, gpt-4o at 3.25 USD per 1,000, 10 USD of training, busy seconds only
    (per_second, no starts): V = (10 / M) / (0.00325 - 2.99 / 36,000) = (10 / M) / 0.0031669444:
    3,157.62 over 1 month, 526.27 over 6, 263.13 over 12."""
    by = break_even_by_months(10.0, 36_000, 2.99, 1, 3.25, PER_SECOND)
    assert list(by) == [1, 6, 12]
    per_query = 0.00325 - 2.99 / 36_000
    for months, volume in ((1, 3157.62), (6, 526.27), (12, 263.13)):
        assert by[months].first == pytest.approx(10 / months / per_query) == pytest.approx(volume, abs=0.01)
    assert by[12] == break_even(10.0, 12, 36_000, 2.99, 1, 3.25, PER_SECOND)
    assert list(break_even_by_months(10.0, 36_000, 2.99, 1, 3.25, DEDICATED, months=(24,))) == [24]


def test_every_deployment_profile_composes_and_a_serverless_one_prices_the_default_job():
    """Each conf/deployment/ profile composes under its own name; each per_second one has dated, sourced prices
    for real hardware profiles, and at least one prices cpu-2vcpu (the default job's device)."""
    from harness.config.options import load_option, option_files
    from harness.config.schema import DeploymentConfig
    from tests.support.run import compose_cfg

    names = set(option_files("deployment"))
    assert {"dedicated", "per_second", "modal", "cloud_run"} <= names
    hardware = set(option_files("hardware")) - {"auto"}
    priced_cpu = []
    for name in sorted(names):
        assert compose_cfg([f"deployment={name}"]).deployment.name == name
        d = Deployment.of(load_option("deployment", name, DeploymentConfig))
        if d.kind == "per_second":
            assert d.prices and {p for p, _ in d.prices} <= hardware, name
            assert d.as_of and d.source and d.source.startswith("https://") and "not re-checked" in (d.note or "")
            assert d.cold_starts_per_month > 0 and d.min_billed_s > 0, name
            priced_cpu += [name] if d.price_per_second("cpu-2vcpu") else []
    assert "cloud_run" in priced_cpu and "per_second" in priced_cpu
    # Cloud Run's 2 vCPU / 8 GiB: 2 x 0.000024 + 8 x 0.0000025 = 0.000068 USD a second = 0.2448 USD/h
    run = Deployment.of(load_option("deployment", "cloud_run", DeploymentConfig))
    assert device_price(run, "cpu-2vcpu", 0.1323) == (pytest.approx(0.2448), None)
    assert device_price(run, "h100", 2.99)[0] is None
    # Modal: an H100 0.001097 + a host of 1 core 0.0000131 + 16 GiB x 0.00000222 = 0.00114562 USD a second
    modal = Deployment.of(load_option("deployment", "modal", DeploymentConfig))
    assert modal.price_per_second("h100") == pytest.approx(0.001097 + 0.0000131 + 16 * 0.00000222)


def test_describe_states_the_billing_rules():
    assert deployment_text(AUDIT) == (
        "serverless: billed per second: busy time plus 30 starts a month of 30 s cold start + 300 s idle each; "
        "each period rounded up to 1 s"
    )
    assert deployment_text(PER_SECOND) == "per_second: billed per busy second, no cold starts"
