"""Slow, self-contained set-up started in the background when the session begins, one job at a time, while the
unit tier (single-threaded Python) leaves a core idle: preparing the embedded models (`harness prepare`) and creating
the legacy runtime (`harness runtime create legacy`, mostly pip unpacking wheels). Each starts only when the session
selected a test that needs it. A fixture that needs one waits for it and gets its result, or its exception;
`wait_all()` gives a quiet machine to the tests that time a server under load. The jobs' durations are printed at
the end of the session.

Only these two: a CI run that also ran the default job and the data-quality sweep here (two more torch processes
beside the integration tier, on two cores) took 46 min instead of about 25, and a stand-in endpoint starved of CPU
timed out every request of a retry test.
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
from typing import Any

from harness.paths import REPO_ROOT

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
    proc = subprocess.Popen(
        [exe, *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
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
