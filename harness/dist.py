"""Multi-process awareness for `accelerate launch` / torchrun: every rank runs the same cell; rank 0 alone
writes (artifact, record, report) and takes the cross-job file locks, so ranks never wait on each other's locks.
A plain single process is rank 0 of 1, and everything below is a no-op there."""

from __future__ import annotations

import contextlib
import os
from typing import Any


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def devices_used(kind: str) -> int:
    """Devices a cell occupies and is billed for: one accelerator per process (each loads its model on its own
    device, never spread over every visible one); a CPU run is one machine however many processes share it."""
    return world_size() if kind == "cuda" else 1


def is_main() -> bool:
    return rank() == 0


def main_lock(path: str, what: str = "") -> Any:
    """A file lock on rank 0 (it stops other *jobs* from doing the same work); nothing on other ranks, which
    follow rank 0 through the collective calls of training and evaluation. `what` names the work in the
    messages a waiting process prints."""
    if not is_main():
        return contextlib.nullcontext()
    from harness.locks import HarnessLock

    return HarnessLock(path, what)
