"""Runtimes made real: a runtime (harness.runtimes: runtimes/<name>.yaml + its lock) is created on first use,
or by `harness runtime create NAME`, as a virtual environment under the harness cache,
`<cache>/runtimes/<name>-<lock hash>/`: a new lock gets a new folder, an old folder is never changed under a
running sweep.

The harness code a runtime's worker runs is not installed from a wheel (the wheel declares transformers 5): it
is this process's own harness package, copied with its data (conf/, tasks/, runtimes/) into
`<runtime>/code/<source hash>/` and put on the worker's PYTHONPATH, so parent and worker always run the same
code and an edit to the checkout reaches the runtime on the next cell.

Where a faster inference engine would live on a GPU runner: in a runtime of its own (a lock with vLLM, say),
reached through the same worker boundary. Not built: there is no GPU here to test it on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import PreflightError
from harness.paths import IN_CHECKOUT, REPO_ROOT
from harness.runtimes import Runtime, load
from harness.store.record import RUNTIME_STAMP as STAMP  # written last: a folder without it is not a runtime

log = logging.getLogger(__name__)


def cache_root() -> Path:
    """The harness cache outside Hydra (the CLI's runtime commands): $HARNESS_CACHE or ~/.cache/harness."""
    return Path(os.environ.get("HARNESS_CACHE") or "~/.cache/harness").expanduser().resolve()


def location(rt: Runtime, cache: Path) -> Path:
    return cache / "runtimes" / f"{rt.name}-{rt.lock_sha256[:12]}"


def stamp(rt: Runtime, cache: Path) -> dict[str, Any] | None:
    """The runtime's creation record, or None when it is not (fully) created."""
    try:
        return json.loads((location(rt, cache) / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def create_command(name: str) -> str:
    return f"harness runtime create {name}"


def _base_python(version: str) -> str:
    """An interpreter of the runtime's Python version to make the venv from."""
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return getattr(sys, "_base_executable", None) or sys.executable
    found = shutil.which(f"python{version}")
    if found is None:
        raise PreflightError(f"the runtime needs Python {version}, and no `python{version}` is on PATH.")
    return found


def _pip(python: Path, *args: str, what: str, rt: Runtime) -> None:
    cmd = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args]
    log.info("runtime %s: %s", rt.name, what)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(
            line for line in done.stderr.strip().splitlines() if not line.startswith("WARNING: Location")
        ).splitlines()[-6:]
        raise PreflightError(
            f"creating the runtime {rt.name} failed while installing {what} (pip exit {done.returncode}):\n    "
            + "\n    ".join(tail)
            + f"\n  The packages come from the package index (no model hub needed). On a machine that reaches it, "
            f"run `{create_command(rt.name)}` once; runtimes live in the harness cache ($HARNESS_CACHE), which a "
            "runner may share."
        )


def create(rt: Runtime, cache: Path) -> Path:
    """Create the runtime's environment if it does not exist (idempotent; one process at a time)."""
    from harness.locks import HarnessLock

    final = location(rt, cache)
    if stamp(rt, cache) is not None:
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    with HarnessLock(str(final) + ".lock", f"the creation of runtime {rt.name}"):
        if stamp(rt, cache) is not None:  # another process created it while we waited
            return final
        started = time.perf_counter()
        log.info("creating runtime %s in %s (once; later runs reuse it)", rt.name, final)
        staged = final.with_name(final.name + ".partial")
        shutil.rmtree(staged, ignore_errors=True)  # a killed creation's leftovers
        subprocess.run([_base_python(rt.python), "-m", "venv", str(staged)], check=True)
        python = staged / "bin" / "python"
        _pip(python, f"torch=={rt.torch}", what=f"torch {rt.torch}", rt=rt)
        _pip(python, "--no-deps", "-r", str(rt.lock_file), what=f"the lock {rt.lock_file.name}", rt=rt)
        check = subprocess.run([str(python), "-m", "pip", "check"], capture_output=True, text=True)
        if check.returncode != 0:
            raise PreflightError(
                f"runtime {rt.name}: the lock {rt.lock_file} is inconsistent (`pip check`):\n" + check.stdout.strip()
            )
        facts = {
            "name": rt.name,
            "lock_sha256": rt.lock_sha256,
            "python": rt.python,
            "torch": rt.torch,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "create_seconds": round(time.perf_counter() - started, 1),
        }
        (staged / STAMP).write_text(json.dumps(facts, indent=2) + "\n", encoding="utf-8")
        shutil.rmtree(final, ignore_errors=True)
        # a venv's interpreter finds its prefix from its own path: renaming the folder is safe
        staged.rename(final)
        log.info("created runtime %s in %.0f s", rt.name, time.perf_counter() - started)
    return final


# -- the harness code a runtime's worker runs ------------------------------------------------------------------

_PACKAGE = Path(__file__).resolve().parents[1]  # the harness package this process runs
_DATA = ("conf", "tasks", "runtimes")


def _code_files() -> list[tuple[Path, str]]:
    """(file, path inside the copy) for the harness package and its data, as a wheel would lay them out."""
    skip = {"__pycache__", ".pytest_cache"}
    files = []
    for p in sorted(_PACKAGE.rglob("*")):
        if p.is_file() and not skip & set(p.relative_to(_PACKAGE).parts) and p.suffix != ".pyc":
            files.append((p, str(Path("harness") / p.relative_to(_PACKAGE))))
    if IN_CHECKOUT:  # an installed wheel already carries them as harness/_data/
        for name in _DATA:
            for p in sorted((REPO_ROOT / name).rglob("*")):
                if p.is_file() and not skip & set(p.parts):
                    files.append((p, str(Path("harness") / "_data" / p.relative_to(REPO_ROOT))))
    return files


def code_dir(runtime_root: Path) -> Path:
    """This process's harness, copied once per source hash into the runtime; the folder to put on PYTHONPATH."""
    files = _code_files()
    digest = hashlib.sha256()
    for path, rel in files:
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    target = runtime_root / "code" / digest.hexdigest()[:16]
    if (target / ".complete").exists():
        return target
    staged = target.with_name(target.name + f".{os.getpid()}.partial")
    shutil.rmtree(staged, ignore_errors=True)
    for path, rel in files:
        (staged / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, staged / rel)
    (staged / ".complete").write_text("")
    try:
        staged.rename(target)
    except OSError:  # another process put the same code there first
        shutil.rmtree(staged, ignore_errors=True)
    return target


@dataclass(frozen=True)
class WorkerPlace:
    """How to start a worker in a runtime: its interpreter, and the harness code to put on its path."""

    python: str
    pythonpath: str | None = None


def worker_place(name: str, cache: Path, create_missing: bool = True) -> WorkerPlace:
    """The runtime's worker interpreter and code, creating the runtime on first use."""
    rt = load(name)
    if stamp(rt, cache) is None:
        if not create_missing:
            raise PreflightError(f"runtime {name} is not created yet; run `{create_command(name)}`.")
        create(rt, cache)
    root = location(rt, cache)
    return WorkerPlace(str(root / "bin" / "python"), str(code_dir(root)))
