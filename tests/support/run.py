"""Composing a job and running the `harness` command, as the tests of every tier do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.app.compose import compose_jobs
from harness.paths import REPO_ROOT


def compose_cfg(overrides: list[str] | None = None):
    """One job's config as written (no sweep expanded, not validated: tests validate what they mean to)."""
    (cfg,) = compose_jobs(overrides or [], sweep=False, check=False)
    return cfg


def harness_exe() -> Path:
    """The `harness` console script of this environment."""
    return Path(sys.executable).with_name("harness")


def run_harness(*args: str, env: dict[str, str] | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    """The `harness` console script as a user runs it, from the repository root. A run of cells (not a
    subcommand) gets `load.with_cells=none` unless it names that key: the default sweep load-tests its tuned
    models after their cells, which only the tests of that stage want (tests/e2e/test_default_job.py,
    tests/unit/test_load_cells.py); elsewhere it would add servers, requests and minutes to tests of other
    things."""
    from harness.app.cli import SUBCOMMANDS

    exe = harness_exe()
    if args and args[0] not in SUBCOMMANDS and not any(a.startswith("load.with_cells") for a in args):
        args = (*args, "load.with_cells=none")
    return subprocess.run(
        [str(exe), *args],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
