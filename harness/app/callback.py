"""Hydra callback: at the end of a run or sweep, summarise the cells and write the sweep's report.

It reads the `cell.json` each job leaves in its output folder (harness.report.from_store), so it works the same
with any launcher (basic, joblib, submitit): jobs in other processes or machines report through files, not memory.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.paths import resolve


def report_name(config: DictConfig) -> str:
    """reports/<sweep.name>, or reports/<sweep.name>__<overrides> when the command line changed what runs,
    so `harness model=x` never overwrites the default job's report with a different set of cells."""
    ignored = ("paths.", "hydra.", "sweep")  # where results go, and the preset that already names the report
    changed = [o for o in config.hydra.overrides.task if not o.split("=")[0].lstrip("+~").startswith(ignored)]
    if not changed:
        return config.sweep.name
    full = f"{config.sweep.name}__{'__'.join(changed)}"
    name = re.sub(r"[^\w.=,+-]", "_", full)
    if name != full or len(name) > 150:  # shortened or rewritten: two different sweeps must not share a folder
        name = f"{name[:133]}__{hashlib.sha256(full.encode()).hexdigest()[:12]}"
    return name


def finish(config: DictConfig, folder: Path, run_id: str | None = None) -> None:
    from harness.dist import is_main

    if not is_main():  # under `accelerate launch` every rank runs the job; rank 0 reports it
        return
    from omegaconf import OmegaConf

    from harness.compare.shape import describe as describe_shape
    from harness.compare.shape import preview_command
    from harness.report.from_store import collect_outcomes, report_from_store
    from harness.store import Store

    store = Store(resolve(config.paths.results))
    out_dir = resolve(config.paths.reports) / report_name(config)
    # the manifest first, so the report's history view includes this run
    outcomes = collect_outcomes(folder) if folder.is_dir() else []
    end_run(config, run_id, "finished", outcomes, out_dir / "index.html")
    settings = {
        **OmegaConf.to_container(config.report, resolve=True),
        "deployment": OmegaConf.to_container(config.deployment, resolve=True),
    }
    done = report_from_store(
        store, out_dir, title=f"Leaderboard: {config.sweep.name}", settings=settings, sweep_dir=folder, empty_ok=True
    )
    outcomes, failed, path = done.outcomes, done.failed, done.path
    counts = {s: sum(o["status"] == s for o in outcomes) for s in ("done", "skipped")}
    broken = [o for o in failed if o["status"] != "not_applicable"]
    # a money cap's stop is not a failure (nothing is wrong; answers are kept), but the cell has no record either
    stopped = [o for o in broken if o["status"] == "stopped_by_budget"]
    by_budget = f", {len(stopped)} stopped by the budget" if stopped else ""
    print(
        f"\n{counts['done']} cell(s) computed, {counts['skipped']} already stored, {len(broken) - len(stopped)} not "
        f"measured{by_budget}, {len(failed) - len(broken)} not applicable."
    )
    for o in outcomes:
        if o["status"] == "done" and o.get("message"):  # an API cell with failed requests: run again to finish
            print(f"\nINCOMPLETE: {o['model']} x {o['task']}: {o['message']}; run again to resend only those")
    for o, shape in _off_shape(store, outcomes):
        command = preview_command(o["task"], o["model"], o.get("step") == "baseline")
        print(f"\nANSWER SHAPE: {o['model']} x {o['task']}: {describe_shape(shape, command)}")
    for o in broken:
        if o["status"] == "stopped_by_budget":
            print(f"\nSTOPPED BY THE BUDGET: {o['model']} x {o['task']}\n{o['message']}")
        else:
            print(f"\nNOT MEASURED: {o['model']} x {o['task']} ({o['status']})\n{o['message']}")
    print(f"\nreport: {path}")
    regressed = bool(config.report.gate) and run_id is not None and gate(config, store, run_id, path, settings)
    if regressed:
        raise SystemExit(1)
    if broken:
        raise SystemExit(2)


def gate(config: DictConfig, store: Any, run_id: str, report: Path, settings: dict[str, Any]) -> bool:
    """`report.gate=<run id | previous | leaderboard.json>`: the regression gate on this run (priced with the
    report's own assumptions); True when a row regressed. A gate that cannot run is exit code 2, its reason named."""
    from harness.app.gate import gate_run
    from harness.errors import HarnessError

    try:
        result = gate_run(
            store,
            run_id,
            str(config.report.gate),
            report_url=str(report),
            settings=settings,
            max_cost_increase=config.report.gate_max_cost_increase,
            max_p95_increase=config.report.gate_max_p95_increase,
            max_throughput_drop=config.report.gate_max_throughput_drop,
        )
    except HarnessError as e:
        print(f"\ngate not run: {e}\nThe cells and the report are stored; `harness gate` runs it again.")
        raise SystemExit(2) from None
    print(f"\n{result.markdown}")
    return result.exit_code == 1


def start_run(config: DictConfig, folder: Path) -> str | None:
    """A new run id for this sweep, exported to its jobs (HARNESS_RUN_ID), and its manifest (status running)."""
    import os
    import socket
    import sys

    from harness.dist import is_main
    from harness.store.record import git_state, now_iso, package_versions
    from harness.store.runs import RUN_ID_ENV, new_run_id, write_manifest

    if not is_main():
        return None
    run_id = new_run_id()
    os.environ[RUN_ID_ENV] = run_id  # inherited by every job: in-process, joblib, submitit, Slurm
    manifest = {
        "kind": "run",
        "schema_version": 1,
        "run_id": run_id,
        "sweep": config.sweep.name,
        "status": "running",
        "started_at": now_iso(),
        "ended_at": None,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "argv": sys.argv[1:],
        "overrides": list(config.hydra.overrides.task),
        "sweep_dir": str(folder),
        "launcher": _launcher(config),
        "git": git_state(),
        "packages": package_versions(),
        "lock_sha256": _lock_sha256(),
        "config": _config(config),
        "report": None,
        "cells": [],
    }
    write_manifest(resolve(config.paths.results), manifest)
    return run_id


def _launcher(config: DictConfig) -> str:
    target = str((config.hydra.get("launcher") or {}).get("_target_", ""))
    name = target.rsplit(".", 1)[-1] or "BasicLauncher"
    return "BasicLauncher" if name == "HarnessLauncher" else name  # Hydra's basic launcher, checking jobs first


def _lock_sha256() -> str | None:
    from harness import runtimes

    get = getattr(runtimes, "main_lock_sha256", None)
    return get() if get else None


def _config(config: DictConfig) -> dict[str, Any]:
    """The sweep's composed config (Hydra's own section left out) and its sweep parameters."""
    from omegaconf import OmegaConf

    body = {k: v for k, v in config.items() if k != "hydra"}
    try:
        out = OmegaConf.to_container(OmegaConf.create(body), resolve=True)
    except Exception:  # noqa: BLE001 - an interpolation only a job can resolve: keep it as written
        out = OmegaConf.to_container(OmegaConf.create(body), resolve=False)
    params = config.hydra.get("sweeper", {}).get("params") or {}
    return {"composed": out, "sweep_params": {str(k): str(v) for k, v in params.items()}}


def end_run(
    config: DictConfig, run_id: str | None, status: str, outcomes: list[dict[str, Any]], report: Path | None
) -> None:
    """The manifest's end: what each cell of the run did, and how the run ended."""
    import os

    from harness.store.record import now_iso
    from harness.store.runs import RUN_ID_ENV, CellOutcome, manifest_path, read_manifest, write_manifest

    if run_id is None:
        return
    results = resolve(config.paths.results)
    manifest = read_manifest(manifest_path(results, run_id)) or {"kind": "run", "run_id": run_id}
    mine = _computed_here(results, run_id, outcomes)
    fields = set(CellOutcome.__dataclass_fields__)  # a cell.json entry may carry more (collect_outcomes keeps any)
    manifest["cells"] = [
        CellOutcome(**{k: v for k, v in o.items() if k in fields}).manifest_entry(o["cell_id"] in mine)
        for o in outcomes
    ]
    counts: dict[str, int] = {}
    for c in manifest["cells"]:
        counts[c["status"]] = counts.get(c["status"], 0) + 1
    manifest.update(status=status, ended_at=now_iso(), counts=counts, report=str(report) if report else None)
    write_manifest(results, manifest)
    if os.environ.get(RUN_ID_ENV) == run_id:
        del os.environ[RUN_ID_ENV]  # the next run in this process (tests) gets its own


def _computed_here(results: Path, run_id: str, outcomes: list[dict[str, Any]]) -> set[str]:
    """Cells a job found stored that this very run had computed: a job requeued by its scheduler (submitit) or
    a tuned job whose base another job of the run computed. The record says which run wrote it."""
    from harness.store import Store
    from harness.store.runs import computed_by
    from harness.store.store import DamagedRecord

    store, records = Store(results), []
    for o in outcomes:
        if o["status"] == "skipped" and o["cell_id"]:
            try:
                records.append(store.load(o["cell_id"]))
            except DamagedRecord:
                pass
    return computed_by(records, run_id)


def finish_or_exit(config: DictConfig, folder: Path, run_id: str | None = None) -> None:
    """Hydra turns an exception in a callback into a warning and exit code 0; a report that could not be written
    must not look like success. What is stored is counted, not assumed (on a full disk nothing may be)."""
    from harness.errors import HarnessError

    try:
        finish(config, folder, run_id)
    except HarnessError as e:
        print(f"\nreport not written: {e}\n{what_is_stored(config, folder)}")
        raise SystemExit(2) from None
    except Exception:  # noqa: BLE001 - a bug in the report: say where the details are, keep the exit code honest
        import traceback

        trace = folder / "report_error.txt"
        try:
            trace.write_text(traceback.format_exc(), encoding="utf-8")
            where = f"traceback in {trace}"
        except OSError as e:  # the disk that is full may be this one too
            where = f"its traceback could not be written: {e.strerror or e}"
        print(f"\nreport not written: an internal error ({where}).\n{what_is_stored(config, folder)}")
        raise SystemExit(3) from None


def _off_shape(store: Any, outcomes: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """This run's cells flagged for answers not in the task's shape (harness/compare/shape.py: over a quarter)."""
    from harness.store.store import DamagedRecord

    found = []
    for o in outcomes:
        if o["status"] not in ("done", "skipped") or not o.get("cell_id") or not store.has(o["cell_id"]):
            continue
        try:
            shape = store.load(o["cell_id"])["eval"].get("answer_shape")
        except DamagedRecord:
            continue
        if shape and shape.get("flagged"):
            found.append((o, shape))
    return found


def what_is_stored(config: DictConfig, folder: Path) -> str:
    """How many of this run's cells have a stored record, and why the first of the others has none."""
    try:
        from harness.report.from_store import collect_outcomes
        from harness.store import Store

        store = Store(resolve(config.paths.results))
        outcomes = [o for o in collect_outcomes(folder) if o["status"] != "not_applicable"] if folder.is_dir() else []
        stored = [o for o in outcomes if o["cell_id"] and store.has(o["cell_id"])]
    except Exception as e:  # noqa: BLE001 - this message must not be the next traceback
        return f"Whether the cells were stored could not be checked ({type(e).__name__}: {e})."
    lines = [
        f"{len(stored)} of {len(outcomes)} cell(s) of this run are stored"
        + ("; fix that and run `harness report`." if stored else ".")
    ]
    for o in (o for o in outcomes if o not in stored):
        why = str(o.get("message") or o["status"]).strip().splitlines()
        cause = (why[-1] if why else o["status"])[:400]
        if "No space left on device" in cause or "Errno 28" in cause:
            cause = f"the disk is full. {cause}"
        lines.append(f"NOT STORED: {o['model']} x {o['task']}: {cause}")
        break
    return "\n".join(lines)


class ReportCallback(Callback):
    """The run's manifest at its start and end (results/runs/), and its report once every job has ended."""

    run_id: str | None = None

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.run_id = start_run(config, Path(config.hydra.run.dir))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from harness.app.sweep import check_jobs

        check_jobs(config)  # every job composed and validated once, before anything of the run is written
        self.run_id = start_run(config, Path(config.hydra.sweep.dir))

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        finish_or_exit(config, Path(config.hydra.runtime.output_dir), self.run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        finish_or_exit(config, Path(config.hydra.sweep.dir), self.run_id)
