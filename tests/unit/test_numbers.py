"""Decision-grade numbers (issue 16): multi-device prices, training priced where it trained, paired deltas,
Wilson intervals, the comparison with an earlier report, "not measured" vs "unpriced". Each case is worked out by
hand in its docstring (docs/metrics.md states the formulas)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from harness.compare.hardware import training_priced
from harness.compare.stats import ci95, is_binary, wilson
from harness.evaluate.timed import measured
from harness.execute.local import cost_section
from harness.report.diff import compare_rows, newcombe
from harness.report.table import cost_and_latency, leaderboard, tuning_effect
from tests.support.records import make_record as _make_record
from tests.support.records import make_samples


def make_record(*args, **kwargs) -> dict:
    return _make_record(*args, **kwargs).to_json()


H100 = {
    "profile": "h100-sxm",
    "kind": "cuda",
    "device_name": "NVIDIA H100 80GB HBM3",
    "price_per_hour": 2.99,
    "currency": "USD",
}


def _se(k: int, n: int) -> float:
    """lm-eval's standard error of k right out of n: sqrt(sample variance (n - 1) / n)."""
    p = k / n
    return math.sqrt(p * (1 - p) / (n - 1))


# -- 1. multi-device rows --------------------------------------------------------------------------------------
def test_four_processes_total_throughput_and_four_devices_priced():
    """4 processes (one H100 each) answer 100 queries together; their inference seconds 10, 9.5, 10, 9.8. The run
    took the slowest one's 10 s: 3600 x 100 / 10 = 36,000 queries/h for all four. Price 4 x 2.99 = 11.96 USD/h:
    1000 x 11.96 / 36,000 = 0.33222 USD per 1,000 queries (the old figure, one device's price, was 0.08306)."""
    inf = measured(100, 8, [10.0, 9.5, 10.0, 9.8], [("generate", 2.5, 8)] * 4)
    assert inf["queries_per_hour"] == pytest.approx(36_000)
    assert inf["processes"] == 4 and inf["seconds"] == 10.0
    cost = cost_section({**H100, "devices": 4}, inf, None)
    assert cost["per_1k_queries"] == pytest.approx(1000 * 11.96 / 36_000) == pytest.approx(0.332222, rel=1e-5)
    assert "x 4 device(s)" in cost["basis"]
    # a single process prices one device, as before
    one = cost_section({**H100, "devices": 1}, measured(25, 8, [10.0], []), None)
    assert one["per_1k_queries"] == pytest.approx(1000 * 2.99 / 9_000)


def test_the_deployment_prices_a_replica_of_all_the_devices_a_row_used():
    """The same 4-device row in the report, its capacity measured under load at the latency target on the 4
    devices (36,000 queries/h), dedicated: one replica = 4 x 2.99 x 730 = 8,730.80 USD a month; at 100,000 queries
    a month that is 87.308 USD per 1,000. A replica of 1 device (the same load on one) costs a quarter."""
    from harness.compare.deployment import Deployment
    from harness.report.table import with_capacity
    from tests.support.loads import load_record

    r = make_record(
        hardware={**H100, "devices": 4}, inference={"queries_per_hour": 36_000.0}, cost={"per_1k_queries": 0.3322}
    )
    load = load_record(model_key="m-small", capacity_qph=36_000.0, price_per_hour=2.99, profile="h100-sxm", devices=4)
    [priced] = with_capacity([r], [load])
    got = cost_and_latency(priced, Deployment(), 100_000)
    assert got["cost_per_1k"] == pytest.approx(1000 * 4 * 2.99 * 730 / 100_000) == pytest.approx(87.308)
    assert got["capacity_qph"] == 36_000.0 and got["batch_per_1k"] == 0.3322
    load["identity"]["device"]["devices"] = 1
    [one] = with_capacity([r], [load])
    assert cost_and_latency(one, Deployment(), 100_000)["cost_per_1k"] == pytest.approx(87.308 / 4)


class _Artifact:
    def __init__(self, metering):
        self.info = {"metering": metering}


def test_training_is_priced_as_the_device_it_trained_on():
    """Trained 3,600 s on 2 H100s (2.99/h, stored with the artifact) = 5.98 USD, even when the artifact is
    evaluated on a CPU. An older artifact without a stored profile is priced as the evaluation device only when it
    is the same device; otherwise unpriced, never priced as the wrong hardware."""
    cuda = {"kind": "cuda", "name": "NVIDIA H100 80GB HBM3", "count": 2}
    cpu_eval = {"profile": "cpu-2", "kind": "cpu", "device_name": "cpu", "price_per_hour": 0.1}
    money, basis = training_priced({"train_seconds": 3600.0, "device": cuda, "hardware": H100}, cpu_eval)
    assert money == pytest.approx(5.98) and "h100-sxm, the device it trained on" in basis
    assert cost_section(cpu_eval, None, _Artifact({"train_seconds": 3600.0, "device": cuda, "hardware": H100}))[
        "training"
    ] == pytest.approx(5.98)
    old_same = training_priced({"train_seconds": 1800.0, "device": {**cuda, "count": 1}}, H100)
    assert old_same[0] == pytest.approx(1.495)
    old_other, why = training_priced({"train_seconds": 1800.0, "device": cuda}, cpu_eval)
    assert old_other is None and why.startswith("unpriced: trained on NVIDIA H100")
    nothing, why = training_priced(
        {"train_seconds": 1.0, "device": cuda, "hardware": {**H100, "price_per_hour": None}}, H100
    )
    assert nothing is None and "no hardware profile fits" in why


def test_a_cpu_is_priced_by_the_profile_that_fits_its_core_count(monkeypatch):
    """hardware=auto prices a CPU with the 2-vCPU instance's hourly price only on a machine with 2 logical CPUs:
    a measurement on 4 or 16 cores says nothing about that instance, so it stays unpriced. A named profile that
    does not fit is refused; one whose `cpus` is null prices any CPU (what the end-to-end tests use)."""
    import harness.compare.hardware as hardware
    from harness.config.options import load_option
    from harness.config.schema import HardwareConfig
    from harness.errors import PreflightError

    auto, vcpu2 = HardwareConfig(), load_option("hardware", "cpu-2vcpu", HardwareConfig)
    for cpus, price in ((2, 0.1323), (4, None), (16, None)):
        monkeypatch.setattr(hardware.os, "cpu_count", lambda n=cpus: n)
        hw = hardware.priced_as(auto, "cpu", "cpu", 1)
        assert (hw["cpus"], hw["price_per_hour"], hw["profile"]) == (
            cpus,
            price,
            "cpu-2vcpu" if price else None,
        )
    with pytest.raises(PreflightError, match="with 2 CPUs, but this cell runs on cpu \\(cpu, 16 CPUs\\)"):
        hardware.priced_as(vcpu2, "cpu", "cpu", 1)
    anywhere = HardwareConfig(**{**vcpu2.__dict__, "cpus": None})
    assert hardware.priced_as(anywhere, "cpu", "cpu", 1)["price_per_hour"] == 0.1323
    assert hardware.priced_as(auto, "cuda", "NVIDIA H100 80GB HBM3", 1)["profile"] == "h100"


# -- 4. intervals ---------------------------------------------------------------------------------------------------
def test_wilson_intervals_for_right_or_wrong_scores_are_monotone():
    """Wilson, z = 1.959964: 39/40 -> centre (0.975 + z^2/80) / (1 + z^2/40) = 0.93338, half-width 0.06220 ->
    [0.8712, 0.9956]; 40/40 -> [0.9124, 1]. The old +-1.96 SE gave [0.926, 1.0] for 39/40: above 40/40's."""
    lo39, hi39 = ci95(39 / 40, _se(39, 40), 40)
    assert (lo39, hi39) == (pytest.approx(0.87118, abs=1e-4), pytest.approx(0.99558, abs=1e-4))
    lo40, hi40 = ci95(1.0, 0.0, 40)
    assert lo40 == pytest.approx(0.91237, abs=1e-4) and hi40 == 1.0
    assert lo39 < lo40
    lows = [wilson(k, 40)[0] for k in range(41)]
    assert lows == sorted(lows)  # monotone in k
    assert is_binary(0.75, _se(30, 40), 40) and not is_binary(0.75, 0.05, 40)
    assert ci95(0.5, 0.1, 40) == (pytest.approx(0.5 - 0.1959964), pytest.approx(0.5 + 0.1959964))  # F1-like


def test_wilson_covers_about_95_percent_near_0_9_at_n_40_where_the_normal_interval_does_not():
    """Exact coverage at n = 40 for true p from 0.85 to 0.95 (101 points): the sum of Binomial(40, p)
    probabilities of the k whose interval contains p. The old +- 1.96 SE (lm-eval's n - 1 SE) averages 0.902 and
    falls to 0.798; Wilson averages 0.956 and never falls below 0.934 (0.935 on this grid)."""

    def coverage(interval, p):
        return sum(binom.pmf(k, 40, p) for k in range(41) if interval(k)[0] <= p <= interval(k)[1])

    def wald(k):
        p = k / 40
        return p - 1.959964 * _se(k, 40), p + 1.959964 * _se(k, 40)

    ps = [0.85 + 0.001 * i for i in range(101)]
    old = [coverage(wald, p) for p in ps]
    new = [coverage(lambda k: wilson(k, 40), p) for p in ps]
    assert sum(old) / len(old) < 0.91 and min(old) < 0.80
    assert sum(new) / len(new) > 0.95 and min(new) > 0.93


# -- 4. paired deltas -----------------------------------------------------------------------------------------------
def _tuned_pair(base_scores, tuned_scores, task="general", train_task="helpdesk"):
    base = make_record("b" * 20, task=task, n=len(base_scores), score=sum(base_scores) / len(base_scores))
    tuned = make_record(
        "t" * 20,
        task=task,
        n=len(tuned_scores),
        score=sum(tuned_scores) / len(tuned_scores),
        finetune={"method": "lora", "base_cell_id": "b" * 20, "train_task": train_task},
    )
    samples = {"b" * 20: make_samples(base_scores), "t" * 20: make_samples(tuned_scores)}
    return [base, tuned], samples


def test_forgetting_delta_is_on_the_paired_items_with_their_count():
    """Base on 300 items: the first 100 all right, the other 200 all wrong (0.333). Tuned on the first 100 only:
    90 right (0.900). The old delta, 0.900 - 0.333 = +0.567, mixed item sets; on the 100 paired items the base
    scored 1.000 and the tuned 0.900: delta -0.100, n 100, McNemar on 10 discordant items all one way
    p = 2 x 0.5^10 = 0.00195: significant forgetting."""
    records, samples = _tuned_pair([1] * 100 + [0] * 200, [1] * 90 + [0] * 10)
    e = tuning_effect(records, samples.get).iloc[0]
    assert e["delta"] == pytest.approx(-0.1) and e["n"] == 100 and e["n_paired"] == 100
    assert e["base"] == 1.0 and e["tuned"] == pytest.approx(0.9)
    assert e["p_mcnemar"] == pytest.approx(2 * 0.5**10)
    assert e["forgetting"] and e["ci_high"] < 0
    assert e["items_note"] == "items differ: base on 300, tuned on 100; the change is on the 100 both answered"
    # without per-item scores the records' scores are not subtracted across different item counts
    e = tuning_effect(records, None).iloc[0]
    assert e["delta"] is None and "no per-item scores to pair" in e["items_note"]


def test_a_non_binary_metric_below_the_minimum_paired_items_is_not_tested():
    """F1-like scores on 5 paired items: below MIN_PAIRED_BOOTSTRAP (10), so no interval and no verdict."""
    records, samples = _tuned_pair([0.5, 0.4, 0.6, 0.5, 0.3], [0.9, 0.8, 0.9, 0.7, 0.8])
    e = tuning_effect(records, samples.get).iloc[0]
    assert e["delta"] == pytest.approx(0.36) and e["significant"] is None and e["ci_low"] is None


def _two_general_checks(g2_tuned: float) -> list[dict]:
    """One LoRA artifact (trained on helpdesk) checked on two general tasks g1 and g2, each beside its base
    (0.5 on 40 items); tuned 0.5 on g1 and `g2_tuned` on g2."""
    ft = {"method": "lora", "train_task": "helpdesk", "artifact_id": "art" * 6}
    return [
        make_record("b1" * 10, task="g1", n=40, score=0.5),
        make_record("b2" * 10, task="g2", n=40, score=0.5),
        make_record("t1" * 10, task="g1", n=40, score=0.5, finetune={**ft, "base_cell_id": "b1" * 10}),
        make_record("t2" * 10, task="g2", n=40, score=g2_tuned, finetune={**ft, "base_cell_id": "b2" * 10}),
        make_record("t0" * 10, task="helpdesk", n=40, score=0.9, finetune=ft),
    ]


def test_the_leaderboard_lists_forgetting_on_every_general_task_and_sorts_by_the_worst():
    from harness.report.analysis import with_forgetting

    records = _two_general_checks(g2_tuned=0.25)
    samples = {
        "b1" * 10: make_samples([1] * 20 + [0] * 20),
        "t1" * 10: make_samples([1] * 20 + [0] * 20),
        "b2" * 10: make_samples([1] * 20 + [0] * 20),
        "t2" * 10: make_samples([1] * 10 + [0] * 30),
    }
    df = with_forgetting(leaderboard(records), tuning_effect(records, samples.get))
    row = df[df["cell_id"] == "t0" * 10].iloc[0]
    assert [c["task"] for c in row["forget_all"]] == ["g1", "g2"]
    assert row["forget_task"] == "g2" and row["forget_delta"] == pytest.approx(-0.25) and row["forgetting"]


# -- 4. the comparison with an earlier report --------------------------------------------------------------------------
def test_earlier_report_comparison_is_paired_when_both_cells_are_in_the_store():
    """Earlier cell e: 30 of 40 right; now cell c: the same 30 plus 4 more = 34 of 40. Paired: 4 discordant items,
    all one way, McNemar p = 2 x 0.5^4 = 0.125: not a change. Unpaired (no samples): Newcombe from both Wilson
    intervals, 0.1 - hypot(0.85 - 0.7095, 0.8581 - 0.75) < 0: within noise too."""
    e = {
        "task": "t",
        "model_key": "m",
        "model": "m",
        "variant": "base",
        "n": 40,
        "metric": "contains",
        "cell_id": "e" * 20,
        "score": 0.75,
        "ci_low": wilson(30, 40)[0],
        "ci_high": wilson(30, 40)[1],
    }
    now = {**e, "cell_id": "c" * 20, "score": 0.85, "ci_low": wilson(34, 40)[0], "ci_high": wilson(34, 40)[1]}
    samples = {"e" * 20: make_samples([1] * 30 + [0] * 10), "c" * 20: make_samples([1] * 34 + [0] * 6)}
    assert compare_rows([now], [e], samples.get) == []
    assert compare_rows([now], [e]) == []
    # 40 of 40 now: 10 discordant, p = 0.00195 -> improved, paired on 40 items
    now40 = {**now, "score": 1.0}
    samples["c" * 20] = make_samples([1] * 40)
    (d,) = compare_rows([now40], [e], samples.get)
    assert d["status"] == "improved" and d["delta"] == pytest.approx(0.25) and d["basis"].startswith("paired on 40")


def test_newcombe_interval_of_a_difference_by_hand():
    """now 0.8 in [0.70, 0.87], before 0.6 in [0.50, 0.69]: 0.2 - hypot(0.10, 0.09) = 0.06546,
    0.2 + hypot(0.07, 0.10) = 0.32207."""
    lo, hi = newcombe(0.8, (0.70, 0.87), 0.6, (0.50, 0.69))
    assert lo == pytest.approx(0.2 - math.hypot(0.10, 0.09)) and hi == pytest.approx(0.2 + math.hypot(0.07, 0.10))


# -- 5. "not measured" is not "unpriced" ------------------------------------------------------------------------------
def test_zero_throughput_and_an_api_cell_that_never_answered_read_not_measured():
    """A priced device with no capacity measured at a latency target (here not even a batch throughput) is "not
    measured at a target", never "unpriced"; an unpriced device is "unpriced"; an API cell whose every request
    failed is "not measured"."""
    priced_cpu = {"profile": "cpu-2", "price_per_hour": 0.1}
    r = make_record(hardware=priced_cpu, inference={"queries_per_hour": None})
    got = cost_and_latency(r)
    assert got["cost_missing"] == "not at a target" and got["cost_missing_label"] == "not measured at a target"
    assert got["cost_per_1k"] is None and got["batch_per_1k"] is None
    assert cost_and_latency(make_record())["cost_missing"] == "unpriced"
    api = make_record("a" * 20, source="api", model="gpt")
    api["api"]["cost"].update(per_1k_queries=None, priced=False)
    api["api"].update(n_answered=0, n_failed=api["api"]["n_requests"])
    assert cost_and_latency(api)["cost_missing"] == "not measured"


def test_a_cached_answers_latency_is_labelled_as_measured_earlier_at_its_concurrency():
    """3 answers: 1 fetched now at concurrency 4, 2 replayed from the cache, fetched at concurrency 8 and 16."""
    from harness.api.meter import Meter, aggregate
    from harness.report.table import earlier_latency

    price = {"currency": "USD", "input_per_1m": 1.0, "output_per_1m": 1.0}
    meters = [
        Meter(prompt_tokens=10, completion_tokens=5, latency_s=1.0, concurrency=4, cost=1.5e-5),
        Meter(prompt_tokens=10, completion_tokens=5, latency_s=2.0, concurrency=16, from_cache=True, cost=1.5e-5),
        Meter(prompt_tokens=10, completion_tokens=5, latency_s=3.0, concurrency=8, from_cache=True, cost=1.5e-5),
    ]
    lat = aggregate(meters, price)["latency_s"]
    assert lat["from_earlier_runs"] == 2 and lat["earlier_concurrency"] == [8, 16] and lat["p50"] == 2.0
    assert earlier_latency(lat) == (
        "; 2 of 3 latencies measured in an earlier run at concurrency 8, 16 (answers from the cache)"
    )
    assert earlier_latency(aggregate(meters[:1], price)["latency_s"]) == ""


@pytest.mark.parametrize("args", [["--monthly-queries", "0"], ["--amortise-months", "0"], ["--amortise-months", "nan"]])
def test_a_zero_volume_or_period_is_refused_with_a_message_not_a_crash(args, tmp_path):
    from harness.app.commands.report import cmd_report
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="--monthly-queries must be at least 1 and --amortise-months a number"):
        cmd_report(["--results", str(tmp_path), "--out", str(tmp_path / "r"), *args])


def test_the_summary_never_calls_a_row_below_the_best_after_correction_tied_with_it():
    """T 0.90, X 0.80, Y 0.79 on 100 items (T vs X 10/0, p = 0.00195, significant after Holm; T vs Y 20/9 and
    X vs Y 10/9 not): all three rank 1, but X is below T after correction. The summary lists X apart, and the
    cheapest option (X the cheapest) is chosen among T and Y only."""
    import pandas as pd

    from harness.report import summary

    pattern = {"111": 70, "100": 10, "110": 10, "001": 9, "000": 1}
    cols = {k: [] for k in "TXY"}
    for bits, count in pattern.items():
        for name, bit in zip("TXY", bits, strict=True):
            cols[name] += [int(bit)] * count
    from harness.compare.deployment import Deployment
    from harness.report.table import with_capacity
    from tests.support.loads import load_record

    # devices at 3.00, 1.00 and 2.00 USD/h, each measured at 3,600 queries/h within the target: one dedicated
    # replica at 100,000 queries a month, 730 x price / 100 = 21.90, 7.30 and 14.60 USD per 1,000
    price = {"T": 3.0, "X": 1.0, "Y": 2.0}
    records = [
        make_record(
            name * 20,
            model=name,
            n=100,
            score=sum(v) / 100,
            stderr=_se(sum(v), 100),
            cost={"per_1k_queries": price[name]},
        )
        for name, v in cols.items()
    ]
    loads = [
        load_record(model_key=name, capacity_qph=3600.0, price_per_hour=price[name], profile="l4") for name in price
    ]
    samples = {name * 20: make_samples(v) for name, v in cols.items()}
    df = leaderboard(with_capacity(records, loads), samples.get, Deployment(), 100_000)
    assert list(df["cost_per_1k"]) == pytest.approx([21.9, 7.3, 14.6])
    assert list(df["rank"]) == [1, 1, 1] and list(df["below_leader"]) == [False, True, False]
    [best] = summary.best_per_task(df)
    assert (
        "not separated from (tied with): Y" in best.detail
        and "significantly below it after correction: X" in best.detail
    )
    [cheap] = summary.cheapest_meeting(pd.DataFrame(df), None)
    assert cheap.headline.endswith(": Y · base")  # 14.60 per 1,000, not X's 7.30
    assert cheap.detail.startswith("14.6000 USD per 1,000 queries, score 0.790")


def test_a_missing_score_sorts_last_instead_of_breaking_the_ranking():
    from harness.compare.ranking import rank_rows

    rows = [
        {"task": "t", "metric": "m", "score": s, "cell_id": c, "n": 3}
        for c, s in (("a", float("nan")), ("b", 0.5), ("c", 0.9))
    ]
    ranks = rank_rows(rows, lambda r: None)
    assert (ranks["c"]["rank"], ranks["b"]["rank"], ranks["a"]["rank"]) == (1, 2, 3)


def test_many_items_keep_the_power_to_separate_rows_at_40_rows():
    """40 rows x 2,000 partial-credit items: the work cap leaves ~10,000 resamples, whose smallest p (1e-4) could
    not pass Holm's first step at 780 pairs (6.4e-5); the normal limit of the sign-flip test is used instead.
    One row 0.2 better on every item is separated from all 39 others (which share rank 2)."""
    from harness.compare.ranking import rank_rows

    rng = np.random.default_rng(7)
    base = rng.uniform(0.2, 0.6, size=2000)
    x = {f"r{i:02d}": np.clip(base + rng.normal(0, 0.05, size=2000), 0, 1) for i in range(40)}
    x["r00"] = np.clip(base + 0.2, 0, 1)
    rows = [{"task": "t", "metric": "f1", "score": float(v.mean()), "cell_id": k, "n": 2000} for k, v in x.items()]
    items = {k: {str(i): float(s) for i, s in enumerate(v)} for k, v in x.items()}
    ranks = rank_rows(rows, lambda r: items[r["cell_id"]])
    assert ranks["r00"]["rank"] == 1 and ranks["r00"]["tied_with"] == []
    assert {ranks[k]["rank"] for k in x if k != "r00"} == {2}


def test_forgetting_checks_with_missing_intervals_export_as_null_not_nan(tmp_path):
    import json

    from harness.report.analysis import records_of, with_forgetting

    records = _two_general_checks(g2_tuned=0.4)
    # g1 has per-item scores (an interval), g2 has none (no interval): the column is partly filled
    samples = {"b1" * 10: make_samples([1] * 20 + [0] * 20), "t1" * 10: make_samples([1] * 20 + [0] * 20)}
    df = with_forgetting(leaderboard(records), tuning_effect(records, lambda c: samples.get(c, [])))
    row = [r for r in records_of(df) if r["cell_id"] == "t0" * 10][0]
    g2 = [c for c in row["forget_all"] if c["task"] == "g2"][0]
    assert g2["ci_low"] is None and g2["delta"] == pytest.approx(-0.1)
    json.loads(json.dumps(row["forget_all"], allow_nan=False))  # strict JSON: no NaN


def test_a_group_task_gets_wilson_when_its_items_are_right_or_wrong():
    """mmlu-like group: lm-eval pools its subtasks' standard errors (0.02098 for 450 items at 0.544), which is not
    sqrt(p(1 - p)/(n - 1)) = 0.02350, so the figures alone cannot tell; read from the 0/1 items, it gets Wilson."""
    assert not is_binary(245 / 450, 0.02098, 450)
    assert ci95(245 / 450, 0.02098, 450, binary=True) == wilson(245, 450)
    assert ci95(245 / 450, 0.02098, 450) != wilson(245, 450)
