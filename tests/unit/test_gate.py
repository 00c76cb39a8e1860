"""The regression gate end to end on stored records and hand-written run manifests: exit codes, the rows named,
and p-values and changes computed by hand (McNemar: 2 x 0.5^k for k discordant items all one way)."""

from __future__ import annotations

import json
import math
import sys

import pytest
from scipy.optimize import brentq
from scipy.stats import norm

from harness.app.gate import check_gate_settings, gate_run, holm_adjusted
from harness.errors import HarnessError
from harness.store import Store
from tests.support.records import make_record, make_samples

N = 40
BEFORE = [1] * 30 + [0] * 10  # 30 of 40 right


def put(store: Store, cid: str, scores: list[float], **kw) -> dict:
    """A stored cell whose primary score is the mean of its item scores (0/1: lm-eval's standard error)."""
    edits = kw.pop("edit", [])
    n, p = len(scores), sum(scores) / len(scores)
    rec = make_record(cid, n=n, score=p, stderr=math.sqrt(p * (1 - p) / (n - 1)), **kw).to_json()
    for change in edits:
        change(rec)
    store.write(rec, make_samples(scores, metric=kw.get("metric", "contains")))
    return rec


def manifest(store: Store, run_id: str, cells: list[str], started: str, status: str = "finished", **extra) -> None:
    """A run manifest as harness/store/runs.py writes it (with a failed cell, which has no rows, and extra keys)."""
    entries = [
        {"cell_id": c, "model": "m", "task": "t", "step": "cell", "status": "computed", "message": "", "seconds": 1.0}
        for c in cells
    ]
    entries.append(
        {
            "cell_id": "f" * 20,
            "model": "m",
            "task": "t",
            "step": "cell",
            "status": "failed",
            "message": "boom",
            "seconds": 0.0,
        }
    )
    doc = {
        "kind": "run",
        "schema_version": 1,
        "run_id": run_id,
        "sweep": "default",
        "status": status,
        "started_at": started,
        "ended_at": None,
        "report": "reports/default/index.html",
        "cells": entries,
        "budget": {"spent": 0.0},
        **extra,
    }
    (store.root / "runs").mkdir(parents=True, exist_ok=True)
    (store.root / "runs" / f"{run_id}.json").write_text(json.dumps(doc), encoding="utf-8")


A, B = "20261201T000000Z-aaaaaa", "20261202T000000Z-bbbbbb"


def two_runs(tmp_path, now_scores: list[float], **kw) -> Store:
    """Run A: m-small 30/40 (cell a1) and m-large 20/40 (cell a2). Run B: m-small computed again with
    `now_scores` (cell b1), m-large reused (the same cell a2)."""
    store = Store(tmp_path / "results")
    put(store, "a1" * 10, BEFORE)
    put(store, "a2" * 10, [1] * 20 + [0] * 20, model="m-large")
    put(store, "b1" * 10, now_scores, **kw)
    manifest(store, A, ["a1" * 10, "a2" * 10], "2026-12-01T00:00:00+00:00")
    manifest(store, B, ["b1" * 10, "a2" * 10], "2026-12-02T00:00:00+00:00")
    manifest(store, "20261203T000000Z-cccccc", ["a1" * 10], "2026-12-03T00:00:00+00:00", status="running")
    return store


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """`harness gate ...` through the real entry point (harness.app.cli.main): exit code, stdout, stderr."""
    from harness.app.cli import main as cli_main

    monkeypatch.setattr(sys, "argv", ["harness", "gate", *args])
    code = 0
    try:
        cli_main()
    except SystemExit as e:
        code = e.code or 0
    out, err = capsys.readouterr()
    return code, out, err


# -- runs against runs (paired) --------------------------------------------------------------------------------------
def test_no_change_passes(tmp_path, monkeypatch, capsys):
    """b1 has a1's very item scores (recomputed: another cell id): McNemar with no discordant item, p = 1. a2 is the
    same cell on both sides: unchanged, not tested. Defaults: the newest finished run (B, not the running C)."""
    store = two_runs(tmp_path, BEFORE)
    code, out, err = run_cli(monkeypatch, capsys, "--against", A, "--results", str(store.root))
    assert code == 0, err
    assert out.startswith("### Regression gate: **PASS**, no regression in 2 compared rows")
    assert f"run {B} against run {A}" in out
    assert "within noise: 1 · unchanged (the same cell on both sides): 1" in out
    result = gate_run(store, B, A)
    by_row = {x["row"]: x for x in result.rows}
    assert by_row["helpdesk: m-small · base"]["p"] == 1.0
    assert by_row["helpdesk: m-large · base"]["status"] == "unchanged"
    assert result.exit_code == 0 and result.regressions == [] and result.new == [] and result.missing == []


def test_planted_regression_fails_and_names_the_row(tmp_path, monkeypatch, capsys):
    """20 of a1's 30 right items now wrong (30/40 -> 10/40): McNemar p = 2 x 0.5^20 = 1.907e-6, one tested row so
    Holm changes nothing; delta = -0.5."""
    store = two_runs(tmp_path, [1] * 10 + [0] * 30)
    md = tmp_path / "gate.md"
    code, out, _ = run_cli(
        monkeypatch,
        capsys,
        "--against",
        A,
        "--run",
        B,
        "--results",
        str(store.root),
        "--markdown",
        str(md),
        "--report-url",
        "https://ci.example/report/index.html",
    )
    assert code == 1
    assert out.startswith("### Regression gate: **FAIL**, 1 regression(s) in 1 of 2 compared rows")
    assert "| helpdesk: m-small · base | contains | 0.750 → 0.250 | −0.500 [" in out
    assert (
        "| 1.9e-06 (paired on 40 items, McNemar exact) |" in out
        and "Report: https://ci.example/report/index.html" in out
    )
    assert md.read_text(encoding="utf-8") == out
    (reg,) = gate_run(store, B, A).regressions
    assert reg["p"] == pytest.approx(2 * 0.5**20) and reg["p_adj"] == pytest.approx(2 * 0.5**20)
    assert reg["delta"] == pytest.approx(-0.5) and reg["ci"][1] < 0 and reg["basis"].startswith("paired on 40")


@pytest.mark.parametrize(
    ("now", "p"),
    [
        ([0] + [1] * 29 + [0] * 10, 1.0),  # one item flipped right -> wrong: 2 x P(X <= 0 | 1) = 1
        ([0, 0] + [1] * 28 + [0] * 10, 0.5),  # two flipped: 2 x 0.5^2
        ([0] + [1] * 29 + [1] + [0] * 9, 1.0),  # one each way: score unchanged
    ],
)
def test_a_change_inside_the_noise_passes(tmp_path, now, p):
    store = two_runs(tmp_path, now)
    result = gate_run(store, B, A)
    row = next(x for x in result.rows if x["row"] == "helpdesk: m-small · base")
    assert result.exit_code == 0 and row["status"] == "within noise" and row["p"] == pytest.approx(p)


def test_a_significant_improvement_passes(tmp_path):
    """All 10 wrong items now right: p = 2 x 0.5^10 = 0.00195, delta +0.25: improved, not a failure."""
    result = gate_run(two_runs(tmp_path, [1] * 40), B, A)
    row = next(x for x in result.rows if x["status"] == "improved")
    assert result.exit_code == 0 and row["p"] == pytest.approx(2 * 0.5**10) and row["delta"] == pytest.approx(0.25)
    assert "Improved: 1 ·" in result.markdown


def _api(store: Store, cid: str, cost_factor: float = 1.0) -> None:
    def edit(rec):
        rec["api"]["cost"]["per_1k_queries"] *= cost_factor

    put(store, cid, BEFORE, source="api", model="gpt", edit=[edit])


def test_cost_and_p95_thresholds(tmp_path):
    """An API row with the same answers: cost per 1,000 queries 0.0345 -> 0.05175 (+50 %, limit +10 %) fails. A
    local row with no load record (so no latency at one user) is compared on its batch p95: 0.8 s -> 0.88 s (+10 %,
    limit +20 %) passes, and fails at a +5 % limit. An API row's evaluation latency is not a p95 to compare (only
    a load record's one user is)."""
    store = Store(tmp_path / "results")
    _api(store, "p1" * 10)
    _api(store, "p2" * 10, cost_factor=1.5)
    put(store, "l1" * 10, BEFORE, inference={"latency_s": {"p50": 0.5, "p95": 0.8}})
    put(store, "l2" * 10, BEFORE, inference={"latency_s": {"p50": 0.5, "p95": 0.88}})
    manifest(store, A, ["p1" * 10, "l1" * 10], "2026-12-01T00:00:00+00:00")
    manifest(store, B, ["p2" * 10], "2026-12-02T00:00:00+00:00")
    manifest(store, "20261203T000000Z-cccccc", ["l2" * 10], "2026-12-03T00:00:00+00:00")
    cost = gate_run(store, B, A, max_cost_increase=0.10)
    (reg,) = cost.regressions
    assert cost.exit_code == 1 and reg["what"] == "cost" and reg["row"] == "helpdesk: gpt · none (API)"
    assert reg["cost"]["before"] == pytest.approx(0.0345) and reg["cost"]["change"] == pytest.approx(0.5)
    assert "| cost per 1,000 queries (USD) | 0.0345 → 0.05175 | +50.0 % (limit +10 %) | — |" in cost.markdown
    assert reg["status"] == "within noise"  # the score did not move (same items, p = 1)
    assert reg["p95"] is None  # the API's evaluation latency: no one-user p95 on either side
    assert gate_run(store, B, A, max_cost_increase=0.60).exit_code == 0
    p95 = gate_run(store, "20261203T000000Z-cccccc", A, max_p95_increase=0.20)
    [row] = [x for x in p95.rows if x["row"] == "helpdesk: m-small · base"]
    assert p95.exit_code == 0 and row["p95"]["change"] == pytest.approx(0.10) and not row["p95"]["regressed"]
    assert (row["p95"]["before"], row["p95"]["now"]) == (0.8, 0.88)
    [reg] = gate_run(store, "20261203T000000Z-cccccc", A, max_p95_increase=0.05).regressions
    assert reg["what"] == "p95" and reg["row"] == "helpdesk: m-small · base"


def test_a_load_record_both_runs_share_does_not_hide_a_batch_p95_regression(tmp_path):
    """m-small's batch p95 doubles (0.8 s -> 1.6 s, limit +20 %) between two runs; the store holds one load record
    of m-small (one user's p95 1.5 s), measured once, for neither run in particular. Its p95 compared with itself
    is no evidence that the latency held: the batch p95 regression must still fail the gate."""
    from tests.support.loads import load_record, store_load

    store = Store(tmp_path / "results")
    put(store, "l1" * 10, BEFORE, inference={"latency_s": {"p50": 0.5, "p95": 0.8}})
    put(store, "l2" * 10, BEFORE, inference={"latency_s": {"p50": 0.5, "p95": 1.6}})
    manifest(store, A, ["l1" * 10], "2026-12-01T00:00:00+00:00")
    manifest(store, B, ["l2" * 10], "2026-12-02T00:00:00+00:00")
    assert gate_run(store, B, A, max_p95_increase=0.20).exit_code == 1  # without the load record: caught
    store_load(store.root, load_record(model_key="m-small", one_user=(1.0, 1.5)))
    result = gate_run(store, B, A, max_p95_increase=0.20)
    assert result.exit_code == 1 and [r["what"] for r in result.regressions] == ["p95"]


def test_unmeasured_cost_is_said_not_compared(tmp_path):
    """Fixture records of an unpriced CPU run have no cost and no per-query latency: not compared, and said so
    (the reused row a2 is unchanged and not counted)."""
    result = gate_run(two_runs(tmp_path, BEFORE), B, A)
    line = "Not compared (not measured on both sides): cost per 1,000 queries for 1 and p95 latency for 1 of 1 row(s)."
    assert line in result.markdown
    assert [x["cost"] for x in result.rows] == [None, None]


def test_holm_over_all_rows(tmp_path):
    """Three rows, each 20/40 -> 14/40 with 6 items flipped one way: each p = 2 x 0.5^6 = 0.03125 < 0.05, but Holm's
    first step needs p < 0.05 / 3: none regresses (adjusted p = 3 x 0.03125 = 0.09375). Gated alone, one such row
    fails."""
    store = Store(tmp_path / "results")
    before, now = [1] * 20 + [0] * 20, [0] * 6 + [1] * 14 + [0] * 20
    for m in ("m1", "m2", "m3"):
        put(store, f"{m}a" * 5 + "0" * 5, before, model=m)
        put(store, f"{m}b" * 5 + "0" * 5, now, model=m)
    manifest(store, A, [f"{m}a" * 5 + "0" * 5 for m in ("m1", "m2", "m3")], "2026-12-01T00:00:00+00:00")
    manifest(store, B, [f"{m}b" * 5 + "0" * 5 for m in ("m1", "m2", "m3")], "2026-12-02T00:00:00+00:00")
    manifest(store, "20261203T000000Z-cccccc", ["m1b" * 5 + "0" * 5], "2026-12-03T00:00:00+00:00")
    result = gate_run(store, B, A)
    assert result.exit_code == 0
    assert [x["p"] for x in result.rows] == pytest.approx([0.03125] * 3)
    assert [x["p_adj"] for x in result.rows] == pytest.approx([0.09375] * 3)
    alone = gate_run(store, "20261203T000000Z-cccccc", A)
    assert alone.exit_code == 1 and len(alone.missing) == 2 and "Missing rows" in alone.markdown
    assert "not failures" in alone.markdown


def test_holm_adjusted_p_by_hand():
    """p = 0.01, 0.04, 0.03 (m = 3): sorted 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, then max(0.06, 0.04 x 1) = 0.06."""
    assert holm_adjusted([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_partial_credit_scores_use_the_sign_flip_test(tmp_path):
    """12 items, each 1.0 -> 0.5: the two-sided sign-flip p is P(all 12 signs equal) = 2 / 2^12 = 0.000488, up to
    the Monte Carlo error of 19,999 resamples."""
    store = Store(tmp_path / "results")
    put(store, "s1" * 10, [1.0] * 12, metric="f1")
    put(store, "s2" * 10, [0.5] * 12, metric="f1")
    manifest(store, A, ["s1" * 10], "2026-12-01T00:00:00+00:00")
    manifest(store, B, ["s2" * 10], "2026-12-02T00:00:00+00:00")
    result = gate_run(store, B, A)
    (reg,) = result.regressions
    assert result.exit_code == 1 and "sign-flip" in reg["basis"] and reg["delta"] == pytest.approx(-0.5)
    assert 0.0002 < reg["p"] < 0.0012


def test_against_previous_picks_the_run_before(tmp_path, monkeypatch, capsys):
    store = two_runs(tmp_path, [1] * 10 + [0] * 30)
    code, out, _ = run_cli(monkeypatch, capsys, "--against", "previous", "--results", str(store.root))
    assert code == 1 and f"run {B} against run {A}" in out


# -- against an earlier report (unpaired) ----------------------------------------------------------------------------
def _export(tmp_path, scores: list[float]) -> str:
    """leaderboard.json of a report made in ANOTHER store (its cells' items are not here: unpaired)."""
    from harness.report.render import export_json
    from harness.report.table import leaderboard

    other = Store(tmp_path / "other")
    rec = put(other, "e1" * 10, scores)
    folder = tmp_path / "old-report"
    folder.mkdir()
    (folder / "leaderboard.json").write_text(export_json(leaderboard([rec], other.samples_or_none), "old"))
    return str(folder / "leaderboard.json")


def _newcombe_p(k1: int, k2: int, n: int) -> float:
    """Independent check: the z at which the Newcombe interval of k1/n - k2/n (Wilson intervals at z) touches 0."""

    def wilson_at(k, z):
        p = k / n
        c, h = (p + z * z / (2 * n)), z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return (c - h) / (1 + z * z / n), (c + h) / (1 + z * z / n)

    d = (k1 - k2) / n
    z = brentq(lambda z: d + math.hypot(wilson_at(k1, z)[1] - k1 / n, k2 / n - wilson_at(k2, z)[0]), 1e-6, 30)
    return 2 * norm.sf(z)


@pytest.mark.parametrize(("now_right", "code"), [(10, 1), (28, 0), (30, 0)])
def test_against_an_earlier_leaderboard_json(tmp_path, monkeypatch, capsys, now_right, code):
    """30/40 before (another store), now_right/40 now: unpaired. 10/40: Newcombe's 95 % interval lies below 0, p by
    inverting it = 1.4e-5 or so; 28/40: inside the noise."""
    store = two_runs(tmp_path, [1] * now_right + [0] * (N - now_right))
    board = _export(tmp_path, BEFORE)
    got, out, _ = run_cli(monkeypatch, capsys, "--against", board, "--run", B, "--results", str(store.root))
    assert got == code
    result = gate_run(store, B, board)
    row = next(x for x in result.rows if x["row"] == "helpdesk: m-small · base")
    assert row["basis"].startswith("unpaired")
    assert result.new == ["helpdesk: m-large · base"] and "New rows" in out
    if now_right != 30:
        assert row["p"] == pytest.approx(_newcombe_p(now_right, 30, N), rel=1e-6)
        assert (row["p"] < 0.05) == (row["ci"][1] < 0)  # the same verdict as the report's diff at one row
    if code:
        assert row["delta"] == pytest.approx(-0.5) and "| helpdesk: m-small · base | contains | 0.750 → 0.250" in out


def test_a_board_against_a_board(tmp_path, monkeypatch, capsys):
    store = Store(tmp_path / "results")
    board = _export(tmp_path, BEFORE)
    code, out, _ = run_cli(
        monkeypatch, capsys, "--against", board, "--board", str(tmp_path / "old-report"), "--results", str(store.root)
    )
    assert code == 0 and "unchanged (the same cell on both sides): 1" in out


# -- bad input: exit 2, one line -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--against", "nope"], f"unknown run id 'nope' (known: {A}, {B}, 20261203T000000Z-cccccc)"),
        (["--against", A, "--run", "zzz"], "unknown run id 'zzz'"),
        (["--against", "{tmp}/broken.json"], "broken.json: not valid JSON"),
        (
            ["--against", "{tmp}/nowhere/leaderboard.json"],
            "--against {tmp}/nowhere/leaderboard.json: no leaderboard",
        ),
        (["--run", B], "the following arguments are required: --against"),
        (["--against", A, "--alpha", "2"], "--alpha 2: give a level between 0 and 1"),
        (["--against", A, "--max-cost-increase", "-1"], "--max-cost-increase -1: give the share"),
        (["--against", B, "--run", B], f"--against {B} is the run being gated"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys, args, message):
    store = two_runs(tmp_path, BEFORE)
    (tmp_path / "broken.json").write_text("{")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, out, err = run_cli(monkeypatch, capsys, *args, "--results", str(store.root))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("harness: error: ")
    assert message.replace("{tmp}", str(tmp_path)) in err


def test_no_finished_run_and_no_rows_in_common(tmp_path, monkeypatch, capsys):
    store = Store(tmp_path / "results")
    put(store, "a1" * 10, BEFORE)
    put(store, "b1" * 10, BEFORE, task="other")
    manifest(store, A, ["a1" * 10], "2026-12-01T00:00:00+00:00", status="running")
    code, _, err = run_cli(monkeypatch, capsys, "--against", A, "--results", str(store.root))
    assert code == 2 and "no finished run in" in err
    manifest(store, B, ["b1" * 10], "2026-12-02T00:00:00+00:00")
    code, _, err = run_cli(monkeypatch, capsys, "--against", A, "--results", str(store.root))
    assert code == 2 and f"no rows in common between run {B} and run {A}" in err
    manifest(store, "20261203T000000Z-cccccc", ["9" * 20], "2026-12-03T00:00:00+00:00")
    with pytest.raises(HarnessError, match="has no stored cells"):
        gate_run(store, "20261203T000000Z-cccccc", A)


def test_check_gate_settings(tmp_path):
    check_gate_settings(None, 0.1, 0.2)
    check_gate_settings(A, 0, 1.5)
    check_gate_settings("previous", 0.1, 0.2)
    check_gate_settings(_export(tmp_path, BEFORE), 0.1, 0.2)
    with pytest.raises(HarnessError, match="report.gate_max_cost_increase=-0.1"):
        check_gate_settings(None, -0.1, 0.2)
    with pytest.raises(HarnessError, match="report.gate_max_p95_increase=True"):
        check_gate_settings(None, 0.1, True)
    with pytest.raises(HarnessError, match="report.gate .*missing.json: no leaderboard.json"):
        check_gate_settings(str(tmp_path / "missing.json"), 0.1, 0.2)
    with pytest.raises(HarnessError, match="neither a run id"):
        check_gate_settings("two words", 0.1, 0.2)


def test_a_halved_throughput_fails_whatever_the_deployment(tmp_path, monkeypatch, capsys):
    """The audit's planted store: the same answers, the evaluation's batch throughput 20,750 -> 10,375 queries/h
    (-50 %, limit -20 %). The cost did not move (unpriced here; under `dedicated` one replica costs the same
    while it suffices), so only the throughput check sees it: exit 1, and 0 with a 60 % allowance."""
    store = Store(tmp_path / "results")
    put(store, "t1" * 10, BEFORE, inference={"queries_per_hour": 20750.0})
    put(store, "t2" * 10, BEFORE, inference={"queries_per_hour": 10375.0})
    manifest(store, A, ["t1" * 10], "2026-12-01T00:00:00+00:00")
    manifest(store, B, ["t2" * 10], "2026-12-02T00:00:00+00:00")
    result = gate_run(store, B, A)
    (reg,) = result.regressions
    assert result.exit_code == 1 and reg["what"] == "throughput" and reg["status"] == "within noise"
    assert reg["throughput"]["change"] == pytest.approx(-0.5)
    assert "| throughput (queries/h) | 20,750 → 10,375 | −50.0 % (limit −20 %) | — |" in result.markdown  # U+2212
    assert gate_run(store, B, A, max_throughput_drop=0.6).exit_code == 0
    code, out, _ = run_cli(monkeypatch, capsys, "--results", str(tmp_path / "results"), "--run", B, "--against", A)
    assert code == 1 and "throughput (queries/h)" in out
    code, _, _ = run_cli(
        monkeypatch,
        capsys,
        "--results",
        str(tmp_path / "results"),
        "--run",
        B,
        "--against",
        A,
        "--max-throughput-drop",
        "0.6",
    )
    assert code == 0
    with pytest.raises(HarnessError, match="gate_max_throughput_drop=1.0: give the share it may fall by"):
        check_gate_settings(None, 0.1, 0.2, 1.0)
