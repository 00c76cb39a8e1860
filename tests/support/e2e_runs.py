"""End-to-end runs that several tests only read: the real `harness` command into a shared folder of its own
(tests/support/shared.py), built in the foreground on first use and kept for the rest of the session (and across
sessions with HARNESS_TEST_SHARED). Each run's exit code and output are kept beside its results."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.support.background import run_harness
from tests.support.shared import shared_folder

# The default job, smaller: 4 items per task, 8 training examples; priced as the 2-vCPU profile on any CPU, so
# every cost is checked on every machine (which profile hardware=auto picks is tested in tests/unit). Its load
# stage is off here: a capacity is measured on a machine of its own, so tests/e2e/test_default_job.py runs it on a
# copy of this store in a `quiet` test (2 requests per level).
DEFAULT_JOB = [
    "task.limit=4",
    "finetune.n_train=8",
    "finetune.val_examples=4",
    "hardware=cpu-2vcpu",
    "hardware.cpus=null",
    "load.requests_per_level=2",
    "load.n_prompts=2",
    "load.with_cells=none",
]
# sweep=data-quality on 8 training examples and 16 test items instead of 64 and 100
DATA_QUALITY = ["sweep=data-quality", "task.limit=16", "finetune.n_train=8"]


def _runs(args: list[str], runs: tuple[str, ...]) -> Callable[[Path], None]:
    """A shared folder's builder: the `harness` command with `args` into the folder, `runs` times, each run's exit
    code and output kept beside the results (an assertion below keeps a failed build from being reused)."""

    def build(root: Path) -> None:
        store = [
            f"paths.results={root / 'results'}",
            f"paths.reports={root / 'reports'}",
            f"paths.artifacts={root / 'artifacts'}",
            f"hydra.sweep.dir={root / 'hydra'}",
        ]
        for run in runs:
            p = run_harness(*args, *store, timeout=3600)
            (root / f"{run}.out").write_text(json.dumps({"rc": p.returncode, "out": p.stdout + p.stderr}))
            assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]

    return build


def default_job(root: Path) -> Path:
    """The default job run once and then again (the second run must compute nothing)."""
    return shared_folder(root, "default-job", DEFAULT_JOB, _runs(DEFAULT_JOB, ("first", "second")))


def data_quality(root: Path) -> Path:
    return shared_folder(root, "data-quality", DATA_QUALITY, _runs(DATA_QUALITY, ("first",)))
