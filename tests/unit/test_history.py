"""Run manifests, `harness history` and the report's History section, on hand-made records and manifests."""

from __future__ import annotations

import json
import os
import re

import pytest

from harness.report.from_store import report_from_store
from harness.store import Store
from harness.store.runs import computed_by, effective_status, find_run, manifests, write_manifest
from tests.support import page
from tests.support.records import make_record, make_samples
from tests.support.run import run_harness

R1, R2, R3 = "20261201T030000Z-aaaaaa", "20261202T030000Z-bbbbbb", "20261203T030000Z-cccccc"


def run(store: Store, run_id: str, started: str, cells: dict[str, str], status: str = "finished", **extra):
    write_manifest(
        store.root,
        {
            "kind": "run",
            "schema_version": 1,
            "run_id": run_id,
            "sweep": "default",
            "status": status,
            "started_at": started,
            "ended_at": started.replace("03:00", "03:09"),
            "host": "runner",
            "pid": 1,
            "launcher": "JoblibLauncher",
            "git": {"commit": "0123456789abcdef", "dirty": False},
            "cells": [
                {
                    "cell_id": c,
                    "model": "m-small",
                    "task": "helpdesk",
                    "step": "cell",
                    "status": s,
                    "message": "",
                    "seconds": 12.0,
                }
                for c, s in cells.items()
            ],
            **extra,
        },
    )


@pytest.fixture
def store(tmp_path):
    """Run 1 computes the base row (30/50 right); run 2 reuses it and computes a new weights digest's row of the
    same model (40/50); run 3 was interrupted (its launcher died) and is not history."""
    s = Store(tmp_path / "results")
    money = {"cost": {"per_1k_queries": 0.03, "currency": "USD", "training": None}}
    old = make_record("a" * 20, score=0.6, stderr=0.07, **money, inference={"latency_s": {"p50": 1.0, "p95": 2.0}})
    new = make_record("b" * 20, score=0.8, stderr=0.057, **money, inference={"latency_s": {"p50": 1, "p95": 3.0}})
    other = make_record("c" * 20, model="m-other", score=0.5)  # unpriced, no per-query latency
    for rec, right in ((old, 30), (new, 40), (other, 25)):
        rec.environment["run_id"] = R1 if rec is old else R2
        s.write(rec, make_samples([1] * right + [0] * (50 - right)))
    run(s, R1, "2026-12-01T03:00:00+00:00", {"a" * 20: "computed"})
    run(s, R2, "2026-12-02T03:00:00+00:00", {"b" * 20: "computed", "c" * 20: "computed"})
    run(s, R3, "2026-12-03T03:00:00+00:00", {}, status="running", host="runner-gone")
    return s


def test_manifests_read_back_oldest_first_and_a_dead_launcher_reads_as_interrupted(store):
    runs = manifests(store.root)
    assert [r["run_id"] for r in runs] == [R1, R2, R3]
    # another host, started within the week: it may still run; this host with a dead pid: interrupted
    assert runs[2]["status"] == "running"
    import socket

    dead = {"status": "running", "host": socket.gethostname(), "pid": 2**22 + 12345, "started_at": "x"}
    assert effective_status(dead) == "interrupted"
    alive = {**dead, "pid": os.getpid()}
    assert effective_status(alive) == "running"
    assert find_run(store.root, "latest")["run_id"] == R2  # the newest finished one
    assert find_run(store.root, "20261201")["run_id"] == R1  # a unique prefix
    records = store.all_records()
    assert computed_by(records, R1) == {"a" * 20} and computed_by(records, R2) == {"b" * 20, "c" * 20}


def test_harness_history_lists_runs_and_shows_one(store):
    listing = run_harness("history", "--results", str(store.root))
    assert listing.returncode == 0, listing.stderr
    lines = listing.stdout.splitlines()
    assert lines[0].split() == [
        "run",
        "id",
        "sweep",
        "status",
        "started",
        "took",
        "cells",
        "launcher",
        "commit",
    ]
    assert [line.split()[0] for line in lines[1:]] == [R1, R2, R3]
    assert "1 computed, 0 reused" in lines[1] and "2 computed, 0 reused" in lines[2] and "9.0 min" in lines[1]
    shown = run_harness("history", "show", R2[:12], "--results", str(store.root))
    assert shown.returncode == 0, shown.stderr
    assert f"run {R2}: finished" in shown.stdout and "Joblib" in shown.stdout
    assert re.search(r"computed\s+m-small x helpdesk\s+bbbbbbbbbbbbbbbbbbbb", shown.stdout)
    raw = run_harness("history", "show", R1, "--json", "--results", str(store.root))
    assert json.loads(raw.stdout)["cells"][0]["cell_id"] == "a" * 20
    bad = run_harness("history", "show", "2025", "--results", str(store.root))
    assert bad.returncode == 2 and "unknown run id" in bad.stderr and R2 in bad.stderr and "Traceback" not in bad.stderr


def test_the_report_draws_each_row_over_the_runs(store, tmp_path):
    """The m-small row was in both finished runs (0.60 then 0.80, as two cells); m-other in one."""
    done = report_from_store(store, tmp_path / "rep", title="t", settings={})
    html = done.path.read_text()
    assert 'id="history-section"' in html and 'id="chart-history"' in html
    section = html[html.index('id="history-section"') :]
    section = re.sub(r"<[^>]+>", " ", section[: section.index("</table>")])
    row = " ".join(section[section.index("m-small") :].split()[:14])
    # runs 2; score first -> latest with Wilson intervals of 30/50 and 40/50
    assert row.startswith("m-small · base 2 0.600 [0.462, 0.724] → 0.800 [0.670, 0.888]"), row
    # cost per 1,000 and p95 latency: neither cell was measured under load (no capacity at a latency target, no
    # latency at one user), so neither has one; the batch figures (0.03 per 1,000, p95 2.0 then 3.0 s) are not them
    assert "0.800 [0.670, 0.888] - → - - → -" in " ".join(section.split())
    assert "m-other" not in section  # one run is no history
    # the chart is its figure's JSON beside its box (drawn by the page's script)
    figure = re.search(r'class="chart-data" data-for="chart-history">(.*?)</script>', html, re.S)
    traces = json.loads(figure.group(1))["data"]
    score = [t for t in traces if t.get("yaxis", "y") in ("y", "y1") and t["name"] == "m-small · base"]
    assert score[0]["x"] == ["2026-12-01T03:00:00+00:00", "2026-12-02T03:00:00+00:00"]
    assert score[0]["text"] == [f"run {R1}", f"run {R2}"]


def test_the_history_shows_a_row_measured_under_load_as_the_leaderboard_does(store, tmp_path):
    """m-small measured under load: 3,600 queries/h within the target on a 0.10 USD/h device, one user's p95 2.0 s.
    The leaderboard prices it dedicated at 100,000 queries a month: 730 x 0.10 / 100 = 0.7300 per 1,000; the
    history row shows the same cost and p95 in both runs (one load record: the model's newest)."""
    from tests.support.loads import load_record, store_load

    store_load(
        store.root,
        load_record(
            model_key="m-small", capacity_qph=3600.0, price_per_hour=0.10, profile="cpu-2vcpu", one_user=(1.0, 2.0)
        ),
    )
    html = report_from_store(store, tmp_path / "rep", title="t", settings={}).path.read_text()
    assert {r["cost"] for r in page.leaderboard(html) if r["filters"]["model"] == "m-small"} == {"0.7300 USD"}
    section = html[html.index('id="history-section"') :]
    section = re.sub(r"<[^>]+>", " ", section[: section.index("</table>")])
    assert "0.800 [0.670, 0.888] 0.7300 → 0.7300 2.00 → 2.00" in " ".join(section.split())


def test_no_history_section_with_a_single_run(tmp_path):
    s = Store(tmp_path / "results")
    s.write(make_record("a" * 20), make_samples([1] * 38 + [0] * 12))
    run(s, R1, "2026-12-01T03:00:00+00:00", {"a" * 20: "computed"})
    html = report_from_store(s, tmp_path / "rep", title="t", settings={}).path.read_text()
    assert 'id="history-section"' not in html and 'id="chart-history"' not in html
