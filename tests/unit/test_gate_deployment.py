"""`harness gate --deployment NAME`: the cost check prices self-hosted rows as that deployment; the throughput and
p95 checks do not depend on it."""

from __future__ import annotations

import json
import sys

import pytest

from harness.app.gate import gate_run
from harness.store import Store
from tests.support.records import make_record, make_samples

A, B = "20261201T000000Z-aaaaaa", "20261202T000000Z-bbbbbb"
SCORES = [1] * 30 + [0] * 10


def load_record(rps_target: float, rps_one: float) -> dict:
    """A load record of model m-small on helpdesk, on the cpu-2vcpu profile (0.1323 USD/h): level 1 at `rps_one`
    requests/s, level 2 (the capacity at the target) at `rps_target`."""

    def level(n: float, rps: float) -> dict:
        fig = {
            "n": 4,
            "n_errors": 0,
            "requests_per_s": rps,
            "e2e_s": {"p50": 2.0, "p95": 2.5},
            "ttft_s": {"p50": 0.3, "p95": 0.4},
            "meets_target": True,
        }
        return {"level": n, "level_id": f"l{n:g}", "figures": fig, "trusted": True, "machine": {}}

    cap = {
        "level": 2.0,
        "requests_per_s": rps_target,
        "queries_per_hour": 3600 * rps_target,
        "lowest": {"level": 1.0, "queries_per_hour": 3600 * rps_one},
    }
    return {
        "kind": "load",
        "schema_version": 1,
        "load_id": "ld" * 10,
        "created_at": "2026-12-02T00:00:00+00:00",
        "identity": {
            "endpoint": {"model_key": "m-small", "artifact_id": None},
            "task": {"name": "helpdesk"},
            "device": {"kind": "cpu", "profile": "cpu-2vcpu", "price_per_hour": 0.1323, "devices": 1},
            "mode": "closed",
            "slo": {"ttft_p95_s": 3.0, "tpot_p95_s": 0.5, "max_error_rate": 0.01},
        },
        "levels": [level(1.0, rps_one), level(2.0, rps_target)],
        "capacity": cap,
        "target": "p95 TTFT <= 3 s, p95 TPOT <= 500 ms, errors <= 1%",
    }


def store_with_runs(tmp_path) -> Store:
    store = Store(tmp_path / "results")
    for cid, seed in (("a1" * 10, 1), ("b1" * 10, 2)):
        rec = make_record(cid, n=40, score=0.75, stderr=0.069, seed=seed).to_json()
        store.write(rec, make_samples(SCORES))
    for run, cid, day in ((A, "a1" * 10, "01"), (B, "b1" * 10, "02")):
        doc = {
            "kind": "run",
            "schema_version": 1,
            "run_id": run,
            "sweep": "default",
            "status": "finished",
            "started_at": f"2026-12-{day}T00:00:00+00:00",
            "ended_at": None,
            "report": None,
            "cells": [
                {
                    "cell_id": cid,
                    "model": "m",
                    "task": "t",
                    "step": "cell",
                    "status": "computed",
                    "message": "",
                    "seconds": 1.0,
                }
            ],
            "budget": {"spent": 0.0},
        }
        (store.root / "runs").mkdir(parents=True, exist_ok=True)
        (store.root / "runs" / f"{run}.json").write_text(json.dumps(doc), encoding="utf-8")
    (store.root / "load").mkdir(parents=True, exist_ok=True)
    (store.root / "load" / "ld.json").write_text(json.dumps(load_record(0.8, 0.5)), encoding="utf-8")
    return store


def test_the_cost_check_prices_as_the_deployment_named(tmp_path, monkeypatch, capsys):
    """dedicated: one replica always on, 730 h x 0.1323 = 96.579 USD a month for 100,000 queries = 0.96579 per
    1,000. per_second (conf/deployment/per_second.yaml: Modal's 0.00004862 USD a second for cpu-2vcpu, 30 starts
    of 30 s + 300 s idle, 1 s increments) on the lowest level's rate, 0.5 requests/s = 1,800 queries/h: busy
    seconds 100,000 x 3,600 / 1,800 = 200,000; per start 200,000 / 30 + 330 = 7,000 - 3.33 = 6,996.67 -> 6,997 s,
    x 30 = 209,910 s x 0.00004862 = 10.20582 USD a month = 0.1020582 per 1,000."""
    store = store_with_runs(tmp_path)
    dedicated = gate_run(store, B, A)
    (row,) = dedicated.rows
    assert row["cost"]["now"] == pytest.approx(730 * 0.1323 / 100)
    from harness.config.options import load_option
    from harness.config.schema import DeploymentConfig

    per_second = {"deployment": load_option("deployment", "per_second", DeploymentConfig).__dict__}
    (row,) = gate_run(store, B, A, settings=per_second).rows
    assert row["cost"]["now"] == pytest.approx(209_910 * 0.00004862 / 100)
    assert row["cost"]["before"] == row["cost"]["now"] and not row["cost"]["regressed"]

    from harness.app.cli import main as cli_main

    for args, code in ((["--deployment", "per_second"], 0), (["--deployment", "per_secnd"], 2)):
        monkeypatch.setattr(
            sys, "argv", ["harness", "gate", "--results", str(store.root), "--run", B, "--against", A, *args]
        )
        try:
            cli_main()
            got = 0
        except SystemExit as e:
            got = e.code or 0
        out, err = capsys.readouterr()
        assert got == code, (out, err)
    assert "per_second" in err and "per_secnd" in err  # the unknown name, with the one it resembles


def test_a_run_is_priced_by_the_load_records_that_existed_when_it_ended(tmp_path):
    """Run A ended on Dec 1 before any load record; run B (Dec 2) after the load record of Dec 2. A's row has no
    capacity at the target (no cost), B's has one: the newer measurement does not reprice the older run."""
    from harness.report.table import loads_as_of

    early, late = {"created_at": "2026-12-01T12:00:00+00:00"}, {"created_at": "2026-12-02T00:00:00+00:00"}
    assert loads_as_of([early, late], "2026-12-01T23:59:59+00:00") == [early]
    assert loads_as_of([early, late], None) == [early, late]  # a run still going: every record
    store = store_with_runs(tmp_path)
    for run, ended in ((A, "2026-12-01T01:00:00+00:00"), (B, "2026-12-02T01:00:00+00:00")):
        path = store.root / "runs" / f"{run}.json"
        path.write_text(json.dumps({**json.loads(path.read_text()), "ended_at": ended}), encoding="utf-8")
    (row,) = gate_run(store, B, A).rows
    assert row["cost"] is None  # A: not measured at a target, so no cost to compare
    # throughput like with like: A has no capacity, so both sides' batch throughput (the same records' figure)
    assert row["throughput"]["before"] == row["throughput"]["now"] != 3600 * 0.8
