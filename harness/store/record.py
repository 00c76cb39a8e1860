"""The result record: its typed shape, its one builder, its schema version and the environment it ran in.

The schema is documented field by field in docs/results-schema.md. Bump SCHEMA_VERSION on any change that an
old reader would misread; the version is part of every cell id, so old and new records never collide.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.paths import IN_CHECKOUT, REPO_ROOT

SCHEMA_VERSION = 1

# Packages whose versions can change a result; recorded in every record (not hashed into the cell id).
TRACKED_PACKAGES = [
    "harness",
    "lm_eval",
    "transformers",
    "torch",
    "accelerate",
    "peft",
    "tokenizers",
    "datasets",
]


def package_versions() -> dict[str, str | None]:
    import harness

    versions = {}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            # a runtime's worker runs a copy of the harness code, not an installed distribution
            versions[name] = harness.__version__ if name == "harness" else None
    return versions


GIT_STATE_ENV = "HARNESS_GIT_STATE"  # the parent's git state, for a worker running a copy of its code


def git_state() -> dict[str, object]:
    if os.environ.get(GIT_STATE_ENV):
        return json.loads(os.environ[GIT_STATE_ENV])
    if not IN_CHECKOUT:  # an installed package: a venv inside a user's git project must not record its commit
        return {"commit": None, "dirty": None}

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


RUNTIME_STAMP = "harness-runtime.json"  # at the root of a runtime's environment (harness.execute.runtime)


def current_runtime() -> dict[str, object]:
    """The runtime this process runs in: a created runtime's name and lock hash, else the harness's own `main`
    with the hash of runtimes/main.lock, whether the installed packages match it and, if not, how they differ
    ({package: [locked, installed]}). Provenance only: no cell id reads it, so a new lock keeps stored results."""
    try:
        facts = json.loads((Path(sys.prefix) / RUNTIME_STAMP).read_text(encoding="utf-8"))
        return {"name": facts["name"], "lock_sha256": facts["lock_sha256"]}
    except (OSError, ValueError, KeyError):
        from harness.runtimes import main_lock_drift, main_lock_sha256

        sha = main_lock_sha256()
        if sha is None:  # no lock to compare with
            return {"name": "main", "lock_sha256": None, "lock_matches": None}
        drift = main_lock_drift()
        return {
            "name": "main",
            "lock_sha256": sha,
            "lock_matches": not drift,
            **({"lock_drift": {k: list(v) for k, v in drift.items()}} if drift else {}),
        }


RUN_ID_ENV = "HARNESS_RUN_ID"  # set by the process that starts a run, inherited by its jobs (store/runs.py)


def current_run_id() -> str | None:
    """The run this process belongs to; None outside a run (a test calling a function directly)."""
    return os.environ.get(RUN_ID_ENV) or None


def environment() -> dict[str, object]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "runtime": current_runtime(),
        "git": git_state(),
        "run_id": current_run_id(),  # the sweep run that computed it (results/runs/<run_id>.json)
    }


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- The record itself ------------------------------------------------------------------------------------------
# Sections stay JSON objects (their fields are documented in docs/results-schema.md and vary by backend: an API
# row has `provider`, a local one `hub_id`); the record's own shape is typed here, built in one place and read
# back through `Record.from_json`, which refuses a schema version it cannot read.

# Written only for the cells that have them, so a record reads exactly as documented for its backend.
LOCAL_ONLY = ("hardware", "inference", "cost")
API_ONLY = ("api",)


@dataclass
class Record:
    schema_version: int
    cell_id: str
    created_at: str
    identity: dict[str, Any]
    model: dict[str, Any]
    finetune: dict[str, Any]
    task: dict[str, Any]  # name, version, content_sha256, primary_metric, split, n
    eval: dict[str, Any]
    metrics: dict[str, dict[str, Any]]
    primary: dict[str, Any] | None  # {"metric": name, **metrics[name]}; None when the task did not report it
    api: dict[str, Any] | None = None  # API cells: tokens, latency, money (harness.api.meter)
    timings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    samples_file: str = ""
    hardware: dict[str, Any] | None = None  # local cells: the price profile of the device it ran on
    inference: dict[str, Any] | None = None  # local cells: measured model time (queries/hour, latency)
    cost: dict[str, Any] | None = None  # local cells: self-hosted money from the two above
    consistency: dict[str, Any] | None = None  # eval.samples = k > 1: agreement of the k answers
    samples_sha256: str | None = None  # set by Store.write
    record_sha256: str | None = None

    @property
    def is_api(self) -> bool:
        return self.model.get("source") == "api"

    def to_json(self) -> dict[str, Any]:
        skip = LOCAL_ONLY if self.is_api else API_ONLY
        doc = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip}
        for digest in ("samples_sha256", "record_sha256"):
            if doc[digest] is None:
                del doc[digest]
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Record:
        """A stored record. Raises HarnessError for a schema version this harness cannot read (there is one
        version so far; a reader of version 2 would convert version 1 here) or for keys it does not know."""
        version = doc.get("schema_version") if isinstance(doc, dict) else None
        if version != SCHEMA_VERSION:
            newer = isinstance(version, int) and version > SCHEMA_VERSION
            raise HarnessError(
                f"record {doc.get('cell_id') if isinstance(doc, dict) else '?'} has schema_version {version!r}; this "
                f"harness reads version {SCHEMA_VERSION}"
                + (
                    ": it was written by a newer harness, upgrade this one."
                    if newer
                    else ". It is not a record this harness wrote; move it out of records/."
                )
            )
        names = {f.name for f in fields(cls)}
        unknown = set(doc) - names
        if unknown:
            raise HarnessError(f"record {doc.get('cell_id')}: unknown key(s) {sorted(unknown)}.")
        return cls(**doc)


def build_record(
    spec: Any,
    *,
    model: dict[str, Any],
    finetune: dict[str, Any],
    eval: dict[str, Any],
    metrics: dict[str, dict[str, Any]],
    n: int,
    timings: dict[str, float],
    eval_seconds: float,
    **sections: Any,
) -> Record:
    """The one builder of a record, for every backend: `spec` is the cell spec (harness.spec.cell) it measured;
    `model`, `finetune` and `eval` are the backend's own sections; `sections` the optional ones (api, hardware,
    inference, cost, consistency)."""
    primary = spec.task.primary_metric
    return Record(
        schema_version=SCHEMA_VERSION,
        cell_id=spec.id,
        created_at=now_iso(),
        identity=spec.identity,
        model=model,
        finetune=finetune,
        task={
            "name": spec.task_spec.name,
            "version": spec.task_spec.version,
            "content_sha256": spec.task_spec.content_sha256,
            "primary_metric": primary,
            "split": spec.task.split,
            "n": n,
        },
        eval=eval,
        metrics=metrics,
        primary={"metric": primary, **metrics[primary]} if primary in metrics else None,
        timings={
            **{k: round(v, 3) for k, v in timings.items()},
            "items_per_s": round(n / eval_seconds, 3) if eval_seconds else None,
        },
        environment=environment(),
        config=spec.config_snapshot,
        samples_file=f"samples/{spec.id}.jsonl",
        **sections,
    )


# What a re-run of the same cell may change: measured times and memory, the money derived from times, when and from which
# commit it ran, and the digests that cover all of these. Everything else in a record and its samples is a
# function of the cell spec; scripts/golden.py and the worker test compare records with these left out.
TIMING_KEYS = frozenset(
    {
        "created_at",
        "repriced_at",
        "timings",
        "environment",
        "record_sha256",
        "samples_sha256",
        "seconds",
        "seconds_per_process",
        "latency_s",
        "ttft_s",
        "output_tokens_per_s",
        "waited_s",
        "queries_per_hour",
        "machine",
        "training_basis",  # how busy the machine was; training's basis names its measured seconds
        "train_seconds",
        "tokens_per_s",
        "this_run_seconds",
        "train_runtime",
        "train_tokens_per_second",
        "peak_memory_bytes",  # measured too: what the process had allocated before counts
        "memory",  # a stage's measured peak (harness/memory.py)
    }
)
TIMED_COST_KEYS = frozenset(
    {"per_1k_queries", "training", "training_device"}
)  # a local cell's money: device price x measured time


def without_timings(doc: Any, _local_cost: bool = False) -> Any:
    """A record, a sample row or any part of one, with the TIMING_KEYS left out at every depth (and a local
    cell's self-hosted money, which is a measured time times a price)."""
    if isinstance(doc, dict):
        local = isinstance(doc.get("model"), dict) and doc["model"].get("source") != "api"
        out = {}
        for k, v in doc.items():
            if k in TIMING_KEYS or (_local_cost and k in TIMED_COST_KEYS):
                continue
            out[k] = without_timings(v, _local_cost=(k == "cost" and local))
        return out
    if isinstance(doc, list):
        return [without_timings(v) for v in doc]
    return doc
