"""Slow, self-contained set-up started in the background when the session begins, one job at a time.

Most of a test session leaves one of the two cores idle: the unit tier is single-threaded Python, and lm-eval's
generation gains little from a second thread (8 x 48 tokens on SmolLM2: 6.3 s on one thread, 5.5 s on two). The
jobs below are the real commands a user runs, each into a folder of its own, so they can run beside other tests:
preparing the embedded models (`harness prepare`), creating the legacy runtime (`harness runtime create legacy`),
and the two end-to-end runs that tests/e2e only read afterwards (the default job, the data-quality sweep). Each job
starts only when the session selected a test that needs it, in this order. A fixture that needs one waits for it
and gets its result, or its exception; `wait_all()` gives a quiet machine to the tests that time a server under
load (their capacity needs one). The jobs' own durations are printed at the end of the session.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from harness.paths import REPO_ROOT
from tests.support.shared import shared_folder

EMBEDDED = ("smollm2-135m", "gemma3-270m")
_jobs: dict[str, Future] = {}
_seconds: dict[str, float] = {}
_running: set[subprocess.Popen] = set()
_lock = threading.Lock()
_stopping = threading.Event()


def run_harness(*args: str, timeout: int) -> subprocess.CompletedProcess:
    """`harness ARGS` as tests/support/run.py runs it, in a process group of its own so that `stop()` can end it."""
    if _stopping.is_set():
        raise RuntimeError("the test session ended before this background job started")
    exe = os.path.join(os.path.dirname(sys.executable), "harness")
    proc = subprocess.Popen([exe, *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip
    _running.add(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        _running.discard(proc)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _timed(name: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        started = time.monotonic()
        try:
            return fn()
        finally:
            _seconds[name] = time.monotonic() - started

    return run


def start(jobs: list[tuple[str, Callable[[], Any]]]) -> None:
    """Run `jobs` ([(name, fn)], in order) on one background thread; a second call does nothing."""
    with _lock:
        if _jobs or not jobs:
            return
        pool = ThreadPoolExecutor(1, thread_name_prefix="background")  # one at a time: one idle core to fill
        for name, fn in jobs:
            _jobs[name] = pool.submit(_timed(name, fn))
        pool.shutdown(wait=False)


def result(name: str, otherwise: Callable[[], Any]) -> Any:
    """The job's result once it has run (its exception, if it failed), or `otherwise()` when it was not started."""
    job = _jobs.get(name)
    return job.result() if job is not None else otherwise()


def wait_all() -> None:
    for job in list(_jobs.values()):
        job.exception()  # finished, whichever way; a failure is raised by the fixture that needs it


def stop() -> None:
    """At the end of the session (also after a failure or Ctrl-C): end what still runs, so that nothing writes into
    a folder pytest is about to rotate away, and do not start the rest."""
    _stopping.set()
    for proc in list(_running):
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    wait_all()


def durations() -> dict[str, float]:
    return dict(_seconds)


# -- the jobs ------------------------------------------------------------------------------------------------------


def prepare_models() -> subprocess.CompletedProcess:
    return run_harness("prepare", *EMBEDDED, timeout=1800)


def create_legacy() -> subprocess.CompletedProcess:
    return run_harness("runtime", "create", "legacy", timeout=1800)


# The default job, smaller: 4 items per task, 8 training examples; priced as the 2-vCPU profile on any CPU, so
# every cost is checked on every machine (which profile hardware=auto picks is tested in tests/unit).
DEFAULT_JOB = ["task.limit=4", "finetune.n_train=8", "finetune.val_examples=4", "hardware=cpu-2vcpu",
               "hardware.cpus=null"]  # fmt: skip
# sweep=data-quality on 8 training examples and 16 test items instead of 64 and 100
DATA_QUALITY = ["sweep=data-quality", "task.limit=16", "finetune.n_train=8"]


def _runs(args: list[str], runs: tuple[str, ...]) -> Callable[[Path], None]:
    """A shared folder's builder: the `harness` command with `args` into the folder, `runs` times, each run's exit
    code and output kept beside the results (an assertion below keeps a failed build from being reused)."""

    def build(root: Path) -> None:
        import json

        store = [f"paths.results={root / 'results'}", f"paths.reports={root / 'reports'}",
                 f"paths.artifacts={root / 'artifacts'}", f"hydra.sweep.dir={root / 'hydra'}"]  # fmt: skip
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
