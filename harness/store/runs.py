"""Run manifests: one JSON file per sweep run under <results>/runs/<run_id>.json (docs/guide-sweep-operator.md).

The process that starts a run (`harness ...`) picks its id and exports it as HARNESS_RUN_ID, so every job of
the run, in this process or another (joblib, submitit, Slurm: they inherit the environment), knows which run
it belongs to: the API ledger notes it beside each paid answer (the run's budget), the manifest lists the cells.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.store.record import RUN_ID_ENV, current_run_id  # noqa: F401 - re-exported: the run's id lives here
from harness.store.store import folder

log = logging.getLogger(__name__)


def new_run_id() -> str:
    """Sortable by start time (UTC, to the second) and unique (6 random hex digits)."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


# -- manifests ---------------------------------------------------------------------------------------------------
# Written by the launching process only: at the start (status "running") and at the end (the cells, the
# outcome). A run whose launcher was killed keeps "running"; readers call it "interrupted" once that process is
# gone (same host) or after STALE_AFTER_S (another host: nothing to ask).

MANIFEST_VERSION = 1
STALE_AFTER_S = 7 * 24 * 3600
# a job's outcome status -> the manifest's word for it (done = computed by this run, skipped = found stored)
CELL_STATUS = {"done": "computed", "skipped": "reused"}


@dataclass
class CellOutcome:
    cell_id: str
    # done | skipped (already stored) | preflight_failed | failed | error | not_applicable | stopped_by_budget (an
    # API cell a money cap stopped: its answers are kept, no record is stored; harness.api.budget)
    status: str
    model: str
    task: str
    message: str = ""
    seconds: float = 0.0
    step: str = "cell"  # cell (a local model) | baseline (an API baseline, shared by the jobs of its task)
    job: str = ""  # the scheduler's job that ran it (Slurm: JOBID or ARRAYID_TASK), when there is one

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def manifest_entry(self, computed_here: bool) -> dict[str, Any]:
        """The same outcome as the run's manifest lists it: the status in the manifest's words (a cell found
        stored that this very run computed, e.g. before its job was requeued, counts as computed)."""
        return {
            **self.as_dict(),
            "status": "computed" if computed_here else CELL_STATUS.get(self.status, self.status),
            "seconds": round(float(self.seconds or 0.0), 3),
        }


def runs_dir(results: Path) -> Path:
    return folder(results, "runs")


def manifest_path(results: Path, run_id: str) -> Path:
    return runs_dir(results) / f"{run_id}.json"


def write_manifest(results: Path, manifest: dict[str, Any]) -> Path:
    from harness.store.store import atomic_write_text

    path = manifest_path(results, manifest["run_id"])
    atomic_write_text(path, json.dumps(manifest, indent=2, ensure_ascii=False, default=str) + "\n")
    return path


def read_manifest(path: Path) -> dict[str, Any] | None:
    """A manifest, or None (with a warning naming the file) when it is not one. Only a regular file of a sane
    size is opened (a FIFO named *.json would hang `harness history`), and its cells must be a list of objects."""
    from harness.store.store import MAX_RECORD_BYTES, DamagedRecord, _regular

    try:
        _regular(Path(path), MAX_RECORD_BYTES)
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, DamagedRecord) as e:
        log.warning("skipping run manifest %s: %s", path, e)
        return None
    if not isinstance(doc, dict) or doc.get("kind") != "run" or not isinstance(doc.get("run_id"), str):
        log.warning("skipping %s: not a run manifest", path)
        return None
    if not isinstance(doc.get("status", "running"), str):
        log.warning("skipping %s: its `status` is not a word (the file is damaged)", path)
        return None
    doc.setdefault("cells", [])
    cells = doc["cells"]
    if not isinstance(cells, list) or not all(isinstance(c, dict) for c in cells):
        log.warning("skipping %s: its `cells` is not a list of cells (the file is damaged)", path)
        return None
    doc["status"] = effective_status(doc)
    return doc


def effective_status(doc: dict[str, Any]) -> str:
    """ "running" only while its launcher can still be running; else "interrupted"."""
    status = doc.get("status", "running")
    if status != "running":
        return status
    pid, host = doc.get("pid"), doc.get("host")
    if host == socket.gethostname() and isinstance(pid, int):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return "interrupted"
        except PermissionError:
            pass
        return "running"
    started = _epoch(doc.get("started_at"))
    return "interrupted" if started is not None and time.time() - started > STALE_AFTER_S else "running"


def _epoch(iso: Any) -> float | None:
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(iso)).timestamp()
    except ValueError:
        return None


def manifests(results: Path) -> list[dict[str, Any]]:
    """Every run of a store, oldest first."""
    found = (read_manifest(p) for p in sorted(runs_dir(results).glob("*.json")))
    return sorted((m for m in found if m is not None), key=lambda m: (str(m.get("started_at")), m["run_id"]))


def find_run(results: Path, run_id: str) -> dict[str, Any]:
    """One run by its id (or an unambiguous prefix of it; `latest` = the newest finished run)."""
    runs = manifests(results)
    if run_id == "latest":
        done = [m for m in runs if m["status"] == "finished"]
        if not done:
            raise HarnessError(f"no finished run in {runs_dir(results)}: run a sweep first (`harness`).")
        return done[-1]
    hits = [m for m in runs if m["run_id"] == run_id] or [m for m in runs if m["run_id"].startswith(run_id)]
    if len(hits) == 1:
        return hits[0]
    what = "matches several runs" if hits else "unknown run id"
    raise HarnessError(f"{what} {run_id!r} ({known(runs, results)}); `harness history` lists them.")


def known(runs: list[dict[str, Any]], results: Path, shown: int = 10) -> str:
    """The newest run ids, for a message that names what exists."""
    if not runs:
        return f"there are none in {runs_dir(results)}"
    ids = [m["run_id"] for m in runs]
    more = f" (and {len(ids) - shown} older)" if len(ids) > shown else ""
    return "known: " + ", ".join(ids[-shown:]) + more


def computed_by(records: list[dict[str, Any]], run_id: str) -> set[str]:
    """The cells a run computed, from the records themselves (environment.run_id): true even for a job that was
    killed after storing some cells, or requeued by its scheduler."""
    return {r["cell_id"] for r in records if (r.get("environment") or {}).get("run_id") == run_id}
