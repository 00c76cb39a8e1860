"""Execute: one cell spec in, one typed record (and its per-sample rows) out, behind a small backend interface.

    local   the hf path in this process: prepare weights, train or reuse the artifact, lm-eval's hf backend
    api     an OpenAI-compatible endpoint in this process: lm-eval with the harness-chat-api backend
    worker  either of the two in a subprocess, `python -m harness.execute.entry spec.json`, with any Python
            interpreter (another environment, a cluster node) or in a model's runtime (harness.execute.runtime:
            a pinned environment such as `legacy`); it writes the store, this side reads it back

Backends neither check nor store: the run loop (harness.jobs.run_cell) preflights each cell once, holds its lock,
executes and stores. A backend returns None on a non-zero rank of a multi-process run (rank 0 stores).
"""

from __future__ import annotations

import os

from harness.execute.base import Backend, Execution
from harness.spec.cell import CellSpec

__all__ = ["Backend", "Execution", "backend_for", "in_process"]


WORKER_PYTHON_ENV = "HARNESS_WORKER_PYTHON"  # run every cell through a worker with this interpreter


def in_process(spec: CellSpec) -> Backend:
    """The in-process backend of a spec's kind (what a worker runs on its side)."""
    if spec.kind == "api":
        from harness.execute.api import ApiBackend

        return ApiBackend()
    from harness.execute.local import LocalBackend

    return LocalBackend()


def backend_for(spec: CellSpec, python: str | None = None) -> Backend:
    """The backend a cell runs on: in this process by default; through a worker subprocess in the model's
    runtime when it names one other than `main`; through a worker with a given interpreter (or the one
    HARNESS_WORKER_PYTHON names). Which interpreter ran is bookkeeping; a runtime other than `main` is part of
    the model's identity (harness.plan.cells.model_identity)."""
    from harness.execute.worker import WorkerBackend

    if python:
        return WorkerBackend(python=python)
    if spec.kind == "local" and spec.model.runtime != "main":
        return WorkerBackend(runtime=spec.model.runtime)
    python = os.environ.get(WORKER_PYTHON_ENV) or None
    if python:
        return WorkerBackend(python=python)
    return in_process(spec)
