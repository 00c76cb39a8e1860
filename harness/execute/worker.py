"""The worker backend: a cell runs in a subprocess, `<python> -m harness.worker <spec.json>`, with any Python
interpreter that has the harness's stage code installed (another virtual environment, with the transformers a
model's remote code was written for; a cluster node's Python). The spec goes in as a file; the subprocess writes
the record and samples to the store (the spec's results_dir); this side reads them back. The caller holds the
cell's lock; the subprocess takes none."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from harness.cell import CellSpec, write_spec
from harness.errors import HarnessError, PreflightError
from harness.execute.base import Execution
from harness.store import Store

log = logging.getLogger(__name__)


class WorkerCrash(RuntimeError):
    """The worker hit a bug (not a problem with the user's input); its traceback is in the error file."""


def worker_env() -> dict[str, str]:
    """The worker's environment: this one, with PYTHONSAFEPATH so the working directory is not on sys.path (a
    checkout there must not stand in for the harness installed in the interpreter's environment)."""
    return {**os.environ, "PYTHONSAFEPATH": "1"}


def check_interpreter(python: str) -> str:
    """The interpreter as an absolute path, after checking it can import the worker (one clear message, before
    any cell starts, instead of a traceback from the middle of a sweep)."""
    found = shutil.which(python)
    if found is None:
        raise PreflightError(f"worker interpreter {python!r} is not an executable file; give the path of a python "
                             "whose environment has the harness installed (HARNESS_WORKER_PYTHON).")  # fmt: skip
    cmd = [found, "-c", "import harness.worker"]
    probe = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=worker_env())
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise PreflightError(f"worker interpreter {found} cannot import harness.worker: {last}\n"
                             f"  install the harness in that environment: {found} -m pip install <harness wheel>")  # fmt: skip
    return found


class WorkerBackend:
    name = "worker"

    def __init__(self, python: str):
        self.python = python
        self._checked: str | None = None

    def preflight(self) -> None:
        if self._checked is None:
            self._checked = check_interpreter(self.python)

    def execute(self, spec: CellSpec, device: Any = None) -> Execution:
        """`device` is this process's; the worker detects its own (it may run on other hardware)."""
        self.preflight()
        store = Store(Path(spec.results_dir))
        spec_path = write_spec(spec, store.root / "specs" / f"{spec.id}.json")  # kept: the cell's exact input
        error_file = spec_path.with_name(f"{spec.id}.error.json")
        error_file.unlink(missing_ok=True)
        cmd = [str(self._checked), "-m", "harness.worker", str(spec_path), "--error-file", str(error_file)]
        log.info("cell %s: running in a worker: %s", spec.id, " ".join(cmd))
        rc = subprocess.run(cmd, env=worker_env()).returncode  # its log lines stream to this terminal
        if rc != 0:
            raise _worker_error(error_file, rc, self._checked)
        if not store.has(spec.id):
            raise HarnessError(
                f"the worker for cell {spec.id} exited 0 but stored no record in {store.root}."
            )
        return Execution(store.load_record(spec.id), store.load_samples(spec.id), stored=True)


def _worker_error(error_file: Path, rc: int, python: str | None) -> Exception:
    """The worker's own error, raised again here with its type: a preflight refusal stays a preflight refusal."""
    try:
        err = json.loads(error_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return HarnessError(f"the worker ({python}) exited with status {rc} without saying why (killed?); "
                            "its log lines are above.")  # fmt: skip
    kinds = {"preflight": PreflightError, "harness": HarnessError}
    if err.get("kind") in kinds:
        return kinds[err["kind"]](err.get("message", ""))
    return WorkerCrash(f"{err.get('message')} (worker traceback in {error_file})")
