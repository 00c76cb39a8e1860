"""Run manifests: one JSON file per sweep run under <results>/runs/<run_id>.json (README "Scheduled sweeps").

The process that starts a run (`harness ...`) picks its id and exports it as HARNESS_RUN_ID, so every job of
the run, in this process or another (joblib, submitit, Slurm: they inherit the environment), knows which run
it belongs to: the API ledger notes it beside each paid answer (the run's budget), the manifest lists the cells.
"""

from __future__ import annotations

import os
import secrets
import time

RUN_ID_ENV = "HARNESS_RUN_ID"


def new_run_id() -> str:
    """Sortable by start time (UTC, to the second) and unique (6 random hex digits)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def current_run_id() -> str | None:
    """The run this process belongs to; None outside a run (a test calling a function directly)."""
    return os.environ.get(RUN_ID_ENV) or None
