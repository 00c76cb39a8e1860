"""The worker backend: a cell runs in a subprocess, `<python> -m harness.execute.entry <spec.json>`, with any Python
interpreter that has the harness's stage code installed (another virtual environment, with the transformers a
model's remote code was written for; a cluster node's Python). The spec goes in as a file; the subprocess writes
the record and samples to the store (the spec's results_dir); this side reads them back. The caller holds the
cell's lock; the subprocess takes none."""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, PreflightError
from harness.execute.base import Execution
from harness.spec.cell import CellSpec, write_spec
from harness.store import Store

log = logging.getLogger(__name__)


class WorkerCrash(RuntimeError):
    """The worker hit a bug (not a problem with the user's input); its traceback is in the error file."""


def worker_env(pythonpath: str | None = None) -> dict[str, str]:
    """The worker's environment: this one, less what would make another environment import this process's
    code (PYTHONPATH, PYTHONHOME), with PYTHONSAFEPATH so the working directory is not on sys.path either: the
    worker runs the harness installed in its interpreter's environment, or, in a runtime, the copy of this
    process's harness given as `pythonpath`. This checkout's git state goes along: the copy has no .git."""
    from harness.store.record import GIT_STATE_ENV, git_state

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
        env[GIT_STATE_ENV] = json.dumps(git_state())
    from harness.memory import python_env

    return python_env({**env, "PYTHONSAFEPATH": "1"})


_PROBED: dict[tuple[str, str | None], str] = {}  # (interpreter, code path) -> its absolute path, once probed


def probe_interpreter(python: str, pythonpath: str | None = None) -> dict[str, Any]:
    """What a worker interpreter reports about itself (harness.execute.entry.probe), or a PreflightError saying why it
    cannot run a worker."""
    cmd = [python, "-c", "import json, harness.execute.entry as w; print(json.dumps(w.probe()))"]
    probe = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=worker_env(pythonpath))
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise PreflightError(
            f"worker interpreter {python} cannot import harness.execute.entry: {last}\n"
            f"  install the harness in that environment: {python} -m pip install <harness wheel>"
        )
    return json.loads(probe.stdout.strip().splitlines()[-1])


def check_interpreter(python: str, pythonpath: str | None = None) -> str:
    """The interpreter as an absolute path, after checking it runs a worker this harness can talk to (one clear
    message before any cell starts, instead of a traceback in the middle of a sweep). Probed once per process."""
    if (python, pythonpath) in _PROBED:
        return _PROBED[(python, pythonpath)]
    from harness.spec.cell import SPEC_VERSION
    from harness.store.record import SCHEMA_VERSION

    found = shutil.which(python)
    if found is None:
        raise PreflightError(
            f"worker interpreter {python!r} is not an executable file; give the path of a python "
            "whose environment has the harness installed (HARNESS_WORKER_PYTHON)."
        )
    facts = probe_interpreter(found, pythonpath)
    install = f"  install the harness in that environment: {found} -m pip install <harness wheel>"
    if (facts["spec_version"], facts["schema_version"]) != (SPEC_VERSION, SCHEMA_VERSION):
        raise PreflightError(
            f"worker interpreter {found} has harness {facts['harness']} (cell spec version {facts['spec_version']}, "
            f"record schema {facts['schema_version']}); this one writes spec {SPEC_VERSION} and reads schema "
            f"{SCHEMA_VERSION}.\n{install}"
        )
    if facts["missing"]:
        raise PreflightError(
            f"worker interpreter {found} lacks {', '.join(facts['missing'])}, which a cell needs.\n"
            f"  {found} -m pip install {' '.join(facts['missing'])}"
        )
    log.info(
        "worker interpreter %s: Python %s, runtime %s, transformers %s",
        found,
        facts["python"],
        facts["runtime"]["name"],
        facts["packages"].get("transformers"),
    )
    _PROBED[(python, pythonpath)] = found
    return found


class WorkerBackend:
    """Cells in a worker subprocess: with a given interpreter (`python`), or in a named runtime (`runtime`),
    which is created on first use and runs a copy of this process's harness."""

    name = "worker"

    def __init__(self, python: str | None = None, runtime: str | None = None):
        assert (python is None) != (runtime is None), "a worker runs with an interpreter or in a runtime"
        self.python, self.runtime = python, runtime
        self._place: tuple[str, str | None] | None = None

    def place(self, spec: CellSpec) -> tuple[str, str | None]:
        """(interpreter, code path) of this backend's worker; a runtime is found or created here, once."""
        if self._place is None:
            if self.runtime is None:
                self._place = (str(self.python), None)
            else:
                from harness.execute.runtime import worker_place

                p = worker_place(self.runtime, Path(spec.cache_dir))
                self._place = (p.python, p.pythonpath)
        return self._place

    def _call(self, spec: CellSpec, check_only: bool = False) -> None:
        python, pythonpath = self.place(spec)
        python = check_interpreter(python, pythonpath)
        if spec.kind == "local" and spec.model.source == "embedded":
            # An embedded model's GGUF is turned into a folder by this (main) environment's transformers, which
            # reads GGUF; the worker's may not. The worker finds the folder prepared.
            from harness.models import weights_location

            weights_location(spec.model, Path(spec.cache_dir))
        store = Store(Path(spec.results_dir))
        spec_path = write_spec(spec, store.folder("specs") / f"{spec.id}.json")  # kept: the cell's exact input
        error_file = spec_path.with_name(f"{spec.id}.error.json")
        error_file.unlink(missing_ok=True)
        log.info(
            "cell %s: %s in a worker%s (%s)",
            spec.id,
            "checking" if check_only else "running",
            f" in runtime {self.runtime}" if self.runtime else "",
            python,
        )
        rc = session(python, pythonpath).ask(spec_path, error_file, check_only)  # its log lines stream here
        if rc != 0:
            raise _worker_error(error_file, rc, python)

    def preflight(self, spec: CellSpec) -> None:
        """The cell's checks in the worker's environment (its transformers, modules and device)."""
        self._call(spec, check_only=True)

    def execute(self, spec: CellSpec, device: Any = None) -> Execution | None:
        """`device` is this process's; the worker detects its own (it may run on other hardware)."""
        from harness.dist import is_main

        self._call(spec)
        if not is_main():  # under `accelerate launch` each rank's worker runs; rank 0's stores
            return None
        store = Store(Path(spec.results_dir))
        if not store.has(spec.id):
            raise HarnessError(f"the worker for cell {spec.id} exited 0 but stored no record in {store.root}.")
        return Execution(store.load_record(spec.id), store.load_samples(spec.id), stored=True)


def _worker_error(error_file: Path, rc: int, python: str | None) -> Exception:
    """The worker's own error, raised again here with its type: a preflight refusal stays a preflight refusal."""
    try:
        err = json.loads(error_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return HarnessError(
            f"the worker ({python}) exited with status {rc} without saying why (killed?); its log lines are above."
        )
    kinds = {"preflight": PreflightError, "harness": HarnessError}
    if err.get("kind") in kinds:
        return kinds[err["kind"]](err.get("message", ""))
    return WorkerCrash(f"{err.get('message')} (worker traceback in {error_file})")


class Session:
    """One `python -m harness.execute.entry --serve` process: requests on its stdin, replies on a pipe of their own.
    Its log lines and the cells' output go straight to this terminal, as a subprocess's would."""

    def __init__(self, python: str, pythonpath: str | None):
        read_end, write_end = os.pipe()
        cmd = [python, "-m", "harness.execute.entry", "--serve", "--reply-fd", str(write_end)]
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, env=worker_env(pythonpath), text=True, pass_fds=(write_end,)
        )
        os.close(write_end)  # the worker's copy stays open: end of file here means the worker is gone
        self.replies = os.fdopen(read_end, encoding="utf-8")

    def ask(self, spec_path: Path, error_file: Path, check_only: bool) -> int:
        request = {"spec": str(spec_path), "error_file": str(error_file), "preflight": check_only}
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.replies.readline()
        except BrokenPipeError:
            line = ""
        if not line:  # it died (killed, out of memory): its exit status, never 0
            return self.proc.wait() or 1
        return int(json.loads(line)["rc"])

    def close(self, stop: bool = False) -> None:
        """End of requests: it exits by itself after its last reply (not waited for: its stores are written,
        and a torch process takes a second to exit); with `stop`, at once (SIGTERM, then SIGKILL)."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                if stop:
                    self.proc.terminate()  # the worker's SIGTERM handling (Python's default) ends it
                    self.proc.wait(timeout=10)
                else:
                    _EXITING.append(self.proc)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self.replies.close()


_EXITING: list[subprocess.Popen] = []  # closed workers on their way out; reaped at this process's exit


def _reap() -> None:
    for proc in _EXITING:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


_SESSIONS: dict[tuple[str, str | None], Session] = {}


def session(python: str, pythonpath: str | None) -> Session:
    """The running worker for this interpreter and code, started on first use (and again if it died)."""
    key = (python, pythonpath)
    found = _SESSIONS.get(key)
    if found is None or found.proc.poll() is not None:
        if found is not None:
            found.close()
        found = _SESSIONS[key] = Session(python, pythonpath)
    return found


def close_sessions(stop: bool = False) -> None:
    """End every worker this process started (the run loop's end; atexit for anything else)."""
    while _SESSIONS:
        _SESSIONS.popitem()[1].close(stop)
    _EXITING[:] = [p for p in _EXITING if p.poll() is None]  # reap those that have exited (no zombies pile up)


atexit.register(_reap)
atexit.register(close_sessions)  # runs first (atexit is last in, first out)


def check_runtime(name: str, cache: Path) -> dict[str, Any]:
    """A created runtime's facts as its own worker reports them, compared with the lock: what differs."""
    from harness.execute.runtime import create_command, location, stamp, worker_place
    from harness.runtimes import load, norm

    rt = load(name)
    facts = stamp(rt, cache)
    if facts is None:
        raise HarnessError(f"runtime {name} is not created ({location(rt, cache)}); run `{create_command(name)}`.")
    place = worker_place(name, cache, create_missing=False)
    probe = probe_interpreter(place.python, place.pythonpath)
    pins = rt.pins()
    drift = {
        k: (pins[norm(k)], v)
        for k, v in probe["packages"].items()
        if v is not None and norm(k) in pins and not v.startswith(pins[norm(k)])
    }
    return {**facts, "location": str(location(rt, cache)), "probe": probe, "drift": drift}
