"""`harness load` against the real local stand-in endpoint (SmolLM2 behind `transformers serve`, continuous
batching), as a user runs it: a closed-loop run interrupted after its first level and re-run (only the missing
level is sent), an open-loop run, figures and capacity recomputed by hand from the stored per-request rows, the
measured capacity pricing the self-hosted row, and the latency-throughput chart drawn in a real browser.

Priced as the 2-vCPU profile on any CPU (`hardware.cpus=null`). The open-loop run loads the session's shared
stand-in as an external server of SmolLM2 (`load.url`, `load.model_key`); the closed-loop and `sweep=load` runs
serve the model themselves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from harness.paths import REPO_ROOT
from tests.support.run import run_harness

ARGS = [
    "task=helpdesk_en",
    "load.requests_per_level=3",
    "load.n_prompts=6",
    "load.ttft_p95_s=2.0",
    "load.tpot_p95_s=0.15",
    "hardware=cpu-2vcpu",
    "hardware.cpus=null",
]


def on_standin(url: str, model: Path) -> list[str]:
    """The shared stand-in as the endpoint under load, an external server of SmolLM2: its URL and model name."""
    return [*ARGS, f"load.url={url}", f"load.model={model}", "load.model_key=smollm2-135m"]


def _levels(root: Path) -> dict[float, Path]:
    return {json.loads(p.read_text())["level"]: p for p in (root / "load" / "levels").glob("*.json")}


def _record(stdout: str) -> dict:
    path = next(line.split("record: ", 1)[1] for line in stdout.splitlines() if line.startswith("record: "))
    return json.loads(Path(path).read_text())


@pytest.fixture(scope="module")
def closed(tmp_path_factory, quiet_machine):
    """Levels 1 and 2 users; the first run is stopped (SIGTERM, as a scheduler cancels) once level 1 is stored.
    The harness serves the model itself (baseline=local-smollm2): the server's work is then its own, so the levels
    can be trusted and give a capacity (a server outside its process tree counts as other work on the machine)."""
    root = tmp_path_factory.mktemp("load")
    args = [*ARGS, "baseline=local-smollm2", "load.levels=[1,2]", f"paths.results={root}"]
    exe = Path(sys.executable).with_name("harness")
    first = subprocess.Popen(
        [str(exe), "load", *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 600
    while not _levels(root) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    out1 = first.communicate(timeout=120)[0]
    stored = _levels(root)
    assert list(stored) == [1.0], out1[-2000:]  # interrupted with level 1 kept, level 2 not measured
    kept = stored[1.0].read_bytes()
    again = run_harness("load", *args, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    return root, kept, again


def test_an_interrupted_run_resends_only_the_missing_level(closed):
    root, kept, again = closed
    assert "load: 1 level(s) stored, 1 to measure" in again.stderr
    assert _levels(root)[1.0].read_bytes() == kept  # level 1 was not sent again
    record = _record(again.stdout)
    assert [lv["level"] for lv in record["levels"]] == [1.0, 2.0]
    assert "capacity at the target" in again.stdout


def test_figures_and_capacity_recompute_by_hand_from_the_stored_rows(closed):
    root, _, again = closed
    record = _record(again.stdout)
    met_all = True
    capacity = None
    for lv in record["levels"]:
        stored = json.loads((root / "load" / "levels" / f"{lv['level_id']}.json").read_text())
        rows = [r for r in stored["rows"] if r["error"] is None]
        assert len(stored["rows"]) == 3 and len(rows) == 3  # every request answered, with usage
        assert all(r["completion_tokens"] and r["prompt_tokens"] for r in rows)
        ttft = [r["ttft_s"] for r in rows]
        tpot = [(r["e2e_s"] - r["ttft_s"]) / (r["completion_tokens"] - 1) for r in rows]
        f = lv["figures"]
        assert f["ttft_s"]["p95"] == pytest.approx(float(np.percentile(ttft, 95)))
        assert f["tpot_s"]["p50"] == pytest.approx(float(np.percentile(tpot, 50)))
        assert f["requests_per_s"] == pytest.approx(3 / stored["wall_s"])
        # by hand: the level meets the target when both p95s are within it (no errors) and the machine was quiet
        meets = np.percentile(ttft, 95) <= 2.0 and np.percentile(tpot, 95) <= 0.15 and lv["trusted"]
        assert f["meets_target"] == meets
        met_all = met_all and meets
        # capacity: of the levels meeting it with every lower one meeting it too, the one that answered the most
        # requests per second (2 users can answer fewer than 1 on 2 cores: then level 1 is the capacity)
        if met_all and (capacity is None or 3 / stored["wall_s"] >= capacity["requests_per_s"]):
            capacity = {
                "level": lv["level"],
                "requests_per_s": 3 / stored["wall_s"],
                "queries_per_hour": 3600 * 3 / stored["wall_s"],
            }
    got = record["capacity"] and {k: record["capacity"][k] for k in ("level", "requests_per_s", "queries_per_hour")}
    assert got == (None if capacity is None else pytest.approx(capacity))


def test_open_loop_sends_on_a_poisson_schedule_and_reports_its_fidelity(tmp_path, standin_url, smol_dir, quiet_machine):
    out = run_harness(
        "load",
        *on_standin(standin_url, smol_dir),
        "load.mode=open",
        "load.levels=[0.5]",
        f"paths.results={tmp_path}",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    record = _record(out.stdout)
    [lv] = record["levels"]
    assert record["identity"]["arrivals"] == "poisson-fixed-count"
    stored = json.loads(next((tmp_path / "load" / "levels").glob("*.json")).read_text())
    rows = stored["rows"]
    # 3 arrivals at exactly 0.5 per s: the first at 0, the last at (3 - 1) / 0.5 = 4 s
    assert rows[0]["scheduled_s"] == 0.0 and rows[-1]["scheduled_s"] == pytest.approx(4.0)
    assert all(r["sent_s"] >= r["scheduled_s"] for r in rows)  # never sent before its time
    # by hand from the stored rows: the sends' rate against the one requested; TTFT percentiles; requests/s
    # over the arrival window (last sent - first sent) x 3 / 2, not the wall time (it adds the last answer)
    sent = sorted(r["sent_s"] for r in rows)
    achieved = 2 / (sent[-1] - sent[0])
    assert lv["generator"]["achieved_over_requested"] == pytest.approx(achieved / 0.5) and achieved / 0.5 > 0.9
    ttft = [r["ttft_s"] for r in rows if r["error"] is None]
    assert len(ttft) == 3
    f = lv["figures"]
    assert f["ttft_s"]["p50"] == pytest.approx(float(np.percentile(ttft, 50)))
    assert f["ttft_s"]["p95"] == pytest.approx(float(np.percentile(ttft, 95)))
    assert f["window"] == "arrivals" and f["requests_per_s"] == pytest.approx(3 / ((sent[-1] - sent[0]) * 3 / 2))
    assert f["wall_s"] == stored["wall_s"] > sent[-1] - sent[0]  # kept as measured: it adds the last answer


def test_the_measured_capacity_prices_the_self_hosted_row_and_the_chart_draws(closed, tmp_path):
    from harness.report.analysis import build_board
    from harness.report.render import write_board
    from tests.support.browser import chart_points, opened
    from tests.support.records import make_record

    _, _, again = closed
    load = _record(again.stdout)
    if load["capacity"] is None:
        pytest.fail(f"no capacity at the target on this machine: {load['levels']}")
    price = load["identity"]["device"]["price_per_hour"]
    assert price == 0.1323  # hardware=cpu-2vcpu
    base = make_record(
        "s" * 20,
        model="smollm2-135m",
        task="helpdesk_en",
        n=50,
        score=0.1,
        stderr=0.0429,
        hardware={"price_per_hour": price, "profile": "cpu"},
        inference={"queries_per_hour": 99_999.0},
    ).to_json()
    board = build_board([base], [], settings={"monthly_queries": 100_000}, loads=[load])
    [row] = board.rows
    assert row["capacity_qph"] == pytest.approx(load["capacity"]["queries_per_hour"])
    assert "capacity at the target p95 TTFT <= 2 s" in row["cost_basis"]  # not the 99,999 batch throughput
    html = write_board(board, tmp_path, "load")
    with opened(html) as (page, errors):
        assert chart_points(page, "chart-load") >= 2 * len(load["levels"])  # TTFT and TPOT per level
        section = page.inner_text("#load-section")
        assert f"Capacity at the target: {load['capacity']['requests_per_s']:.2f} requests/s" in section
        assert errors == []


def test_sweep_load_measures_each_job_and_its_report_shows_the_load(tmp_path, quiet_machine):
    out = run_harness(
        "sweep=load",
        "load.levels=[1]",
        "load.requests_per_level=2",
        "load.n_prompts=2",
        f"paths.results={tmp_path / 'results'}",
        f"paths.reports={tmp_path / 'reports'}",
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    [record] = list((tmp_path / "results" / "load").glob("*.json"))
    assert json.loads(record.read_text())["identity"]["endpoint"]["model_key"] == "smollm2-135m"
    [page] = (tmp_path / "reports").glob("load*/index.html")  # reports/load__<the overrides>/
    html = page.read_text()
    assert 'id="load-section"' in html and 'id="chart-load"' in html
