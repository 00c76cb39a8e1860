"""Scheduled sweeps on real launchers: submitit (local executor: real separate job processes) and joblib. Slurm
itself, preemption, requeue, time limits and two sweeps sharing one store: tests/e2e/test_slurm.py. Every cell is a real SmolLM2
evaluation; "computed once" is read from the records themselves (each names the run that wrote it).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.paths import REPO_ROOT
from harness.store import Store
from harness.store.runs import computed_by, manifests
from tests.support.run import run_harness

SMALL = ["model=smollm2-135m", "baseline=none", "sweep=smoke", "task.limit=3"]


def _store_args(root: Path) -> list[str]:
    return [
        f"paths.results={root / 'results'}",
        f"paths.reports={root / 'reports'}",
        f"paths.artifacts={root / 'artifacts'}",
        f"hydra.sweep.dir={root / 'out'}",
    ]


def _start(args: list[str]) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("harness")
    return subprocess.Popen(
        [str(exe), *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_for(what, timeout: float, proc: subprocess.Popen):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = what()
        if found:
            return found
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s")


def _digest(path: Path) -> tuple[int, str]:
    return path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


def _sound(store: Store) -> list[dict]:
    records = store.all_records()
    assert all(store.problem(r["cell_id"]) is None for r in records)
    assert not list(store.root.rglob("*.tmp"))  # no half-written file left behind
    return records


def test_a_killed_submitit_sweep_resumed_with_joblib_computes_every_cell_once(tmp_path):
    """A submitit-local sweep of three cells is SIGKILLed (launcher and jobs) once a cell is stored; the same
    sweep run again under joblib computes only the missing cells. `harness history` shows both runs."""
    sweep = [*SMALL, "finetune=none", "task=helpdesk_en,general_en,helpdesk_zh", *_store_args(tmp_path)]
    first = _start(["-m", "hydra/launcher=submitit_local", *sweep])
    records = tmp_path / "results" / "records"
    _wait_for(lambda: list(records.glob("*.json")), 600, first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(60)
    stored_first = {p.stem for p in records.glob("*.json")}
    assert 1 <= len(stored_first) < 3

    second = run_harness(
        "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *sweep, f"hydra.sweep.dir={tmp_path / 'out2'}"
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]

    store = Store(tmp_path / "results")
    all_records = _sound(store)
    assert len(all_records) == 3
    killed, resumed = manifests(tmp_path / "results")
    assert killed["status"] == "interrupted" and resumed["status"] == "finished"
    assert resumed["launcher"] == "JoblibLauncher"
    by_first, by_second = (
        computed_by(all_records, killed["run_id"]),
        computed_by(all_records, resumed["run_id"]),
    )
    assert by_first == stored_first and not by_first & by_second  # nothing computed twice
    assert by_first | by_second == {r["cell_id"] for r in all_records}
    assert {c["cell_id"]: c["status"] for c in resumed["cells"]} == {
        **{c: "reused" for c in by_first},
        **{c: "computed" for c in by_second},
    }

    listing = run_harness("history", "--results", str(tmp_path / "results"))
    assert listing.returncode == 0, listing.stderr
    assert killed["run_id"] in listing.stdout and "interrupted" in listing.stdout
    assert resumed["run_id"] in listing.stdout and "finished" in listing.stdout
