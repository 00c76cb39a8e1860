"""Two test lanes on one machine (scripts/test.sh): each test holds the machine shared, and a test that times a
server under load (marked `quiet`) holds it alone, so its capacity is measured with nobody else on the CPU.

A reader-writer lock over two files with flock: a normal test takes the gate shared, the machine shared, and lets
the gate go; a quiet test takes the gate exclusively (no new test starts in the other lane) and then the machine
exclusively (the other lane's current test finishes first). The lock is held around the whole test protocol
(pytest_runtest_protocol: fixture set-up, the call, tear-down), so a module fixture's training is covered too.
While a quiet test runs, processes it starts get every core (OMP_NUM_THREADS), as on a machine of its own.
Without HARNESS_TEST_MACHINE_LOCK (a single `pytest`), nothing is locked.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

ENV = "HARNESS_TEST_MACHINE_LOCK"
THREADS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def machine(exclusive: bool) -> Iterator[None]:
    path = os.environ.get(ENV)
    if not path:
        yield
        return
    gate = os.open(f"{path}.gate", os.O_CREAT | os.O_RDWR, 0o644)
    held = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
    saved = {k: os.environ.get(k) for k in THREADS}
    try:
        if exclusive:
            fcntl.flock(gate, fcntl.LOCK_EX)
            fcntl.flock(held, fcntl.LOCK_EX)
            for k in THREADS:
                os.environ[k] = str(os.cpu_count() or 1)
        else:
            fcntl.flock(gate, fcntl.LOCK_SH)
            fcntl.flock(held, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        os.close(held)  # closing releases its lock
        os.close(gate)
