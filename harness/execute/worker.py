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
    """The worker's environment: this one, less what would make another environment import this process's
    code (PYTHONPATH, PYTHONHOME), with PYTHONSAFEPATH so the working directory is not on sys.path either: the
    worker runs the harness installed in its interpreter's environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return {**env, "PYTHONSAFEPATH": "1"}


_PROBED: dict[str, str] = {}  # interpreter -> its absolute path, once probed in this process


def check_interpreter(python: str) -> str:
    """The interpreter as an absolute path, after checking it runs a worker this harness can talk to (one clear
    message before any cell starts, instead of a traceback in the middle of a sweep). Probed once per process."""
    if python in _PROBED:
        return _PROBED[python]
    from harness.cell import SPEC_VERSION
    from harness.store.record import SCHEMA_VERSION

    found = shutil.which(python)
    if found is None:
        raise PreflightError(f"worker interpreter {python!r} is not an executable file; give the path of a python "
                             "whose environment has the harness installed (HARNESS_WORKER_PYTHON).")  # fmt: skip
    cmd = [found, "-c", "import json, harness.worker as w; print(json.dumps(w.probe()))"]
    probe = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=worker_env())
    install = f"  install the harness in that environment: {found} -m pip install <harness wheel>"
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise PreflightError(f"worker interpreter {found} cannot import harness.worker: {last}\n{install}")
    facts = json.loads(probe.stdout.strip().splitlines()[-1])
    if (facts["spec_version"], facts["schema_version"]) != (SPEC_VERSION, SCHEMA_VERSION):
        raise PreflightError(
            f"worker interpreter {found} has harness {facts['harness']} (cell spec version {facts['spec_version']}, "
            f"record schema {facts['schema_version']}); this one writes spec {SPEC_VERSION} and reads schema "
            f"{SCHEMA_VERSION}.\n{install}"
        )
    if facts["missing"]:
        raise PreflightError(f"worker interpreter {found} lacks {', '.join(facts['missing'])}, which a cell needs.\n"
                             f"  {found} -m pip install {' '.join(facts['missing'])}")  # fmt: skip
    log.info("worker interpreter %s: Python %s, harness %s, transformers %s", found, facts["python"],
             facts["harness"], facts["transformers"])  # fmt: skip
    _PROBED[python] = found
    return found


class WorkerBackend:
    name = "worker"

    def __init__(self, python: str):
        self.python = python

    def _call(self, spec: CellSpec, *flags: str) -> None:
        python = check_interpreter(self.python)
        store = Store(Path(spec.results_dir))
        spec_path = write_spec(spec, store.root / "specs" / f"{spec.id}.json")  # kept: the cell's exact input
        error_file = spec_path.with_name(f"{spec.id}.error.json")
        error_file.unlink(missing_ok=True)
        cmd = [python, "-m", "harness.worker", str(spec_path), "--error-file", str(error_file), *flags]
        log.info("cell %s: %s in a worker: %s", spec.id, "checking" if flags else "running", " ".join(cmd))
        rc = subprocess.run(cmd, env=worker_env()).returncode  # its log lines stream to this terminal
        if rc != 0:
            raise _worker_error(error_file, rc, python)

    def preflight(self, spec: CellSpec) -> None:
        """The cell's checks in the worker's environment (its transformers, modules and device)."""
        self._call(spec, "--preflight")

    def execute(self, spec: CellSpec, device: Any = None) -> Execution | None:
        """`device` is this process's; the worker detects its own (it may run on other hardware)."""
        from harness.dist import is_main

        self._call(spec)
        if not is_main():  # under `accelerate launch` each rank's worker runs; rank 0's stores
            return None
        store = Store(Path(spec.results_dir))
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
