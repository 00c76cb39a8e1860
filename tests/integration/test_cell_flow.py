"""A real cell (SmolLM2 on 4 items) in a `python -m harness.execute.entry` subprocess gives the in-process record."""

from __future__ import annotations

import shutil
import sys

from harness.plan.cells import plan
from harness.store import Store
from harness.store.record import without_timings
from tests.support.run import compose_cfg

TUNED_JOB = ["finetune=lora", "finetune.n_train=16", "baseline=local-smollm2", "task.limit=4"]


def test_a_real_cell_through_the_worker_subprocess_gives_the_in_process_record(tmp_path):
    """SmolLM2 on 4 helpdesk_en items, once in this process and once in `python -m harness.execute.entry`: the same
    record and samples apart from timings. Both run in the same results folder (the record names it), moved
    aside between the runs."""
    from harness.jobs.run_cell import run

    work = tmp_path / "results"
    cfg = compose_cfg(
        ["model=smollm2-135m", "finetune=none", "task=helpdesk_en", "task.limit=4", f"paths.results={work}"]
    )
    (spec,) = plan(cfg)[:1]
    (inproc,) = run([spec])
    shutil.move(work, tmp_path / "in-process")
    (worker,) = run([spec], python=sys.executable)
    assert (inproc.status, worker.status) == ("done", "done") and inproc.cell_id == worker.cell_id == spec.id
    a, b = Store(tmp_path / "in-process"), Store(work)
    assert (work / "specs" / f"{spec.id}.json").exists()  # the worker's input is kept beside its output
    ra, rb = a.load(spec.id), b.load(spec.id)
    assert ra["primary"]["n"] == 4 and 0.0 <= ra["primary"]["value"] <= 1.0
    assert without_timings(rb) == without_timings(ra)
    assert without_timings(b.load_samples(spec.id)) == without_timings(a.load_samples(spec.id))
    # stored, it is skipped by either backend
    assert run([spec], python=sys.executable)[0].status == "skipped"
