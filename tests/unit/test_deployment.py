"""The deployment model of self-hosted cost, on cases computed by hand (docs/metrics.md)."""

from __future__ import annotations

import pytest

from harness.compare.cost import break_even_monthly_queries, per_1k_from_rate
from harness.compare.deployment import (
    BreakEven,
    Deployment,
    break_even,
    monthly_self_cost,
    replica_volume,
    replicas_needed,
)

DEDICATED = Deployment()  # 1 replica always on, 730 h, peak 3x mean, planned at 60 %
PER_SECOND = Deployment(name="per_second", kind="per_second")


def test_h100_against_gpt_4o_breaks_even_near_672k_queries_a_month_not_264():
    """H100 at 2.99 USD/h measured at 36,000 queries/h; gpt-4o at 3.25 USD per 1,000; 10 USD of training over
    12 months. One replica always on: 730 h x 2.99 = 2,182.70 USD a month (+ 0.8333 training) against
    0.00325 USD a query: V = 2,183.5333 / 0.00325 = 671,856.4 queries a month."""
    assert monthly_self_cost(1, 36_000, 2.99, 1, DEDICATED) == pytest.approx(2182.70)
    be = break_even(10.0, 12.0, 36_000, 2.99, 1, 3.25, DEDICATED)
    assert be.first == pytest.approx(2183.5333333 / 0.00325)
    assert be.text() == "above 671,857"
    # the busy-seconds formula (today's) says 264 a month: per_second, no cold starts
    busy = break_even(10.0, 12.0, 36_000, 2.99, 1, 3.25, PER_SECOND)
    old = break_even_monthly_queries(10.0, 12.0, per_1k_from_rate(2.99, 36_000), 3.25)
    assert busy.first == pytest.approx(old) == pytest.approx(0.833333 / (0.00325 - 2.99 / 36_000), rel=1e-6)
    assert busy.text() == "above 264"


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
    assert 1000 * monthly_self_cost(v, 36_000, 2.99, 1, PER_SECOND) / v == pytest.approx(
        per_1k_from_rate(2.99, 36_000)
    )
    cold = Deployment(kind="per_second", cold_start_s=30, idle_timeout_s=270, cold_starts_per_month=100)
    # 100 starts x 300 s = 8.333 h billed on top of 1e6 / 36,000 = 27.78 busy hours
    assert monthly_self_cost(v, 36_000, 2.99, 1, cold) == pytest.approx(
        2.99 * (v / 36_000 + 100 * 300 / 3600)
    )


def test_never_always_and_several_crossings():
    # the API is cheaper per query than a busy device: never, on either kind
    assert break_even(10, 12, 36_000, 2.99, 1, 0.05, PER_SECOND).text() == "never"
    assert break_even(10, 12, 36_000, 2.99, 1, 0.05, DEDICATED) == BreakEven(())
    # nothing to amortise, no idle cost, dearer API: always
    assert break_even(0, 12, 36_000, 2.99, 1, 3.25, PER_SECOND).text() == "always"
    # a slow replica (100 q/h, 5 USD/h) against an API at 0.12 USD a query: each replica serves 14,600 queries
    # a month for 3,650 USD. Step 1: cheaper from 3,650 / 0.12 = 30,417 to 14,600? No: 30,417 > 14,600 -> none.
    # Step 2 (14,600, 29,200]: cost 7,300 -> from 60,834: none. Each step adds 3,650 while the API adds 1,752:
    # never.
    assert break_even(0, 12, 100, 5.0, 1, 120.0, DEDICATED).text() == "never"
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
    assert be.text().startswith("from 12,167 to 14,600, and from 24,334 to 29,200")
    assert be.text().endswith("and above 60,834")


def _pair():
    """A LoRA row measured at 36,000 queries/h on an H100 priced 2.99 USD/h, 10 USD of training; an API row at
    3.25 USD per 1,000 queries (3,250 prompt tokens a query at 1 USD per 1M), on the same items."""
    from harness.evaluate.api.meter import Meter, aggregate
    from harness.testing import make_record

    tuned = make_record(
        "tuned000000000000000", model="m", score=0.7,
        finetune={"method": "lora", "train_task": "helpdesk", "artifact_id": "a" * 20, "seed": 1,
                  "data": {"n_domain": 64, "n_replay": 0}, "metering": {"train_seconds": 60.0,
                  "device": {"kind": "cuda"}, "train_tokens": 1, "final_train_loss": 1, "validation_loss": 1}},
        hardware={"profile": "h100", "kind": "cuda", "count": 1, "price_per_hour": 2.99, "currency": "USD"},
        cost={"currency": "USD", "per_1k_queries": 1000 * 2.99 / 36_000, "training": 10.0},
        inference={"latency_s": {"p50": 0.5, "p95": 0.9}, "queries_per_hour": 36_000.0},
    ).to_json()  # fmt: skip
    price = {"currency": "USD", "input_per_1m": 1.0, "cached_input_per_1m": None, "output_per_1m": 0.0}
    meter = Meter(prompt_tokens=3250, cached_tokens=0, completion_tokens=0, latency_s=1.0, cost=3250 / 1e6)
    api = make_record("a" * 20, source="api", model="gpt-x", display_name="GPT x", score=0.7,
                      api=aggregate([meter], price)).to_json()  # fmt: skip
    api["task"]["n"] = tuned["task"]["n"]
    return tuned, api


def test_the_report_prices_self_hosting_as_the_deployment_and_names_it(tmp_path):
    from harness.report.render import write_report
    from harness.report.table import break_even as table_break_even
    from harness.report.table import leaderboard

    tuned, api = _pair()
    [row] = table_break_even([tuned, api], 100_000, 12, DEDICATED).to_dict("records")
    assert row["break_even"] == "above 671,857" and row["break_even_first"] == pytest.approx(
        671_856.41, abs=0.01
    )
    # at 100,000 queries a month: one replica, 2,182.70 + 10 / 12 against 325.00
    assert row["self_monthly"] == pytest.approx(2182.70 + 10 / 12) and row["api_monthly"] == pytest.approx(
        325.0
    )
    lb = leaderboard([tuned, api], None, DEDICATED, 100_000)
    self_row = lb[lb["cell_id"] == tuned["cell_id"]].iloc[0]
    assert self_row["cost_per_1k"] == pytest.approx(1000 * 2182.70 / 100_000)  # 21.827, not 0.083
    assert self_row["cost_basis"].startswith("dedicated, 1 replica(s) at 100,000 queries a month")
    # per_second: the busy-seconds figures of before
    [old] = table_break_even([tuned, api], 100_000, 12, PER_SECOND).to_dict("records")
    assert old["break_even"] == "above 264"
    html = write_report(
        [tuned, api], tmp_path, "t", assumptions={"monthly_queries": 100_000, "amortise_months": 12}
    ).read_text()
    assert "<b>above 671,857</b>" in html
    assert (
        "fine-tuning is cheaper above 671,857 queries a month (self-hosted as dedicated: at least 1 replica(s)"
        in html
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
    from harness.testing import make_samples
    from tests.support.run import run_harness

    store = Store(tmp_path / "results")
    for record in _pair():
        store.write(record, make_samples([1.0] * record["task"]["n"]))
    out = {}
    for name in ("dedicated", "per_second"):
        p = run_harness("report", "--results", str(tmp_path / "results"), "--out", str(tmp_path / name),
                        "--monthly-queries", "100000", "--deployment", name, timeout=300)  # fmt: skip
        assert p.returncode == 0, p.stderr
        out[name] = (tmp_path / name / "index.html").read_text(encoding="utf-8")
    assert "<b>above 671,857</b>" in out["dedicated"] and "<b>above 264</b>" in out["per_second"]
    assert "per_second: billed per busy second, no cold starts" in out["per_second"]
    bad = run_harness(
        "report", "--results", str(tmp_path / "results"), "--deployment", "per_secnd", timeout=120
    )
    assert bad.returncode == 2 and "Did you mean 'per_second'" in bad.stderr


def test_every_crossing_is_marked_on_the_monthly_chart_and_the_row_names_its_capacity(tmp_path):
    """The slow-replica case above (100 q/h at 5 USD/h, nothing to amortise, the API at 0.30 a query): cheaper
    on 4 bounded intervals and for good above 60,833.3, so 4 x 2 + 1 = 9 volumes where the cheaper side
    changes, each marked on the chart (not only the last start)."""
    from harness.report.charts import monthly_cost_chart
    from harness.report.table import break_even as table_break_even

    tuned, api = _pair()
    tuned["inference"]["queries_per_hour"] = 100.0
    tuned["hardware"]["price_per_hour"] = 5.0
    tuned["cost"]["training"] = 0.0
    api["api"]["cost"]["per_1k_queries"] = 300.0
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
    assert row["capacity_basis"] == "batch throughput, no latency target"
    fig = monthly_cost_chart([row], DEDICATED.describe())
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
        ("deployment.cold_start_s=-1", "cold_start_s, idle_timeout_s and cold_starts_per_month must be >= 0"),
    ],
)
def test_a_deployment_out_of_range_is_refused_with_its_key(override, says):
    from harness.config.validate import value_problems
    from tests.support.run import compose_cfg

    assert value_problems(compose_cfg(["deployment=dedicated"])) == []
    assert value_problems(compose_cfg(["deployment=per_second"])) == []
    problems = value_problems(compose_cfg([override]))
    assert [p for p in problems if says in p], problems
