"""The run loop: for each planned cell, skip it when stored, preflight it once, execute it, store it.

`harness.plan.cells` says which cells a job needs and in which order (a tuned cell after its base cell); a backend
(`harness.execute`) turns one spec into a record; this module only loops. Every cell of a step is preflighted
before the first one runs, so a method this machine cannot run stops before even the base model is loaded.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from harness.errors import HarnessError, PreflightError
from harness.plan.cells import not_applicable, plan_baseline, plan_cells
from harness.spec.cell import BaselineCell, Cell, CellSpec
from harness.store import Store
from harness.store.runs import CellOutcome  # noqa: F401 - the outcome of each cell this module runs

log = logging.getLogger(__name__)


# -- checks before anything runs -------------------------------------------------------------------------------


def check_data(cell: CellSpec) -> None:
    """The task's row checks on the rows this cell will use: its scored split (first `limit` rows) and, for a
    tuned cell, the training data. A row missing a field the prompt uses would otherwise be scored as "None"."""
    from harness.tasks.check import check_cell_rows

    check_cell_rows(cell.task_spec, cell.task.split, cell.task.limit)
    # few-shot worked examples come from another split: its rows are used too
    if cell.task.num_fewshot and cell.task_spec.yaml_file is not None:
        from harness.tasks import load_task_yaml

        doc = load_task_yaml(cell.task_spec.yaml_file)
        files = (doc.get("dataset_kwargs") or {}).get("data_files") or {}
        shots = doc.get("fewshot_split") or next((s for s in ("train", "validation") if s in files), None)
        if shots:
            check_cell_rows(cell.task_spec, shots, None)
    train = getattr(cell, "train", None)
    if train is not None:
        check_cell_rows(train.train_task, "train", None)
        if train.replay_task is not None:
            check_cell_rows(train.replay_task, "train", None)


def check_baseline(cell: BaselineCell) -> None:
    """Why this baseline cannot run here, before any request (PreflightError); nothing when it can."""
    b = cell.baseline
    if b.api_key_env and not os.environ.get(b.api_key_env):
        raise PreflightError(
            f"baseline {b.name} needs an API key in the environment variable {b.api_key_env}, which is not set.\n"
            f"  export {b.api_key_env}=...   (keys are read from the environment only, never from a config file)\n"
            "  or run without it: baseline=none, or baseline=local-smollm2 (a locally served stand-in)."
        )
    if b.serve is None and not b.model:
        raise PreflightError(f"baseline {b.name}: `model` (the provider's model id) is empty in its YAML.")
    from harness.tasks import check_hub_datasets

    missing_data = check_hub_datasets(cell.task)
    if missing_data:
        raise PreflightError(missing_data)


def preflight(spec: CellSpec, device: Any, backend: Any) -> None:
    """Once per cell, before any cell of its step runs: the model fits this device and method, the data rows
    are sound, the hardware price profile fits, the key is set. Through a worker, the model is checked in the
    worker's own environment instead (its transformers, its modules, its device): `backend.preflight`."""
    worker = hasattr(backend, "preflight")
    if isinstance(spec, Cell):
        from harness.models.preflight import preflight as model_preflight

        if not worker:
            model_preflight(spec.model, spec.finetune, device, task=spec.task, cache=spec.cache_dir)
        elif getattr(backend, "runtime", None):
            # what does not depend on the runtime's packages is checked here, before a runtime is created (or
            # a worker started) for a model whose weights are missing or that cannot fit this device
            model_preflight(spec.model, spec.finetune, device, task=spec.task, cache=spec.cache_dir, packages=False)
        check_data(spec)  # bad rows stop here, with file:line, before a model is loaded
        if not worker:
            from harness.execute.local import hardware_section

            hardware_section(spec, device)  # refuses a price for hardware the cell does not run on
    else:
        check_baseline(spec)
        check_data(spec)
    if worker:
        backend.preflight(spec)


# -- the loop --------------------------------------------------------------------------------------------------


def _stored(store: Store, spec: CellSpec) -> bool:
    """Stored and finished. An API cell with failed requests is run again: only those are sent."""
    if isinstance(spec, BaselineCell):
        from harness.execute.api import complete

        return complete(store, spec.id)
    return store.has(spec.id, heal=True)


def _outcome(spec: CellSpec) -> CellOutcome:
    if isinstance(spec, BaselineCell):
        return CellOutcome(spec.id, "skipped", str(spec.baseline.name), spec.task.name, step="baseline")
    return CellOutcome(spec.id, "skipped", spec.model.name, spec.task.name)


def _describe(spec: CellSpec) -> str:
    if isinstance(spec, BaselineCell):
        return f"baseline cell {spec.id} ({spec.baseline.name} x {spec.task.name})"
    return f"cell {spec.id} ({spec.model.name} x {spec.task.name})"


def run(specs: list[CellSpec], python: str | None = None) -> list[CellOutcome]:
    """Run planned cells in order; returns one outcome per spec. Raises HarnessError/PreflightError for problems
    the user must fix (before any cell ran, for preflight problems). `python`: run each cell in a worker
    subprocess with this interpreter (default: in this process, or HARNESS_WORKER_PYTHON)."""
    from harness.execute import backend_for

    outcomes = [_outcome(s) for s in specs]
    todo = []
    for spec, outcome in zip(specs, outcomes, strict=True):
        store = Store(spec.results_dir)
        why_not = not_applicable(spec)
        if why_not:
            outcome.status, outcome.message = "not_applicable", why_not
            log.info("%s: not applicable (%s)", _describe(spec), spec.task_spec.output_type)
        elif _stored(store, spec):
            log.info("%s is already stored; nothing to compute", _describe(spec))
            if isinstance(spec, BaselineCell):
                from harness.execute.api import reprice

                if reprice(store, spec):
                    outcome.message = "re-priced from its stored token usage (the configured price changed)"
        else:
            todo.append((spec, outcome, store, backend_for(spec, python)))
    if not todo:  # a fully stored sweep re-runs in seconds: nothing heavy is imported
        return outcomes

    from harness.execute.worker import close_sessions

    try:
        _run_todo(todo)
    except BaseException:  # an error, Ctrl-C, SIGTERM: a worker mid-cell is stopped, not waited for
        close_sessions(stop=True)
        raise
    close_sessions()  # a run's workers end with it (one per interpreter, shared by its cells)
    return outcomes


def _run_todo(todo: list[tuple[CellSpec, CellOutcome, Store, Any]]) -> None:
    from harness.dist import main_lock

    devices: dict[str, Any] = {}
    for spec, _, _, backend in todo:  # every cell's checks before the first one runs
        if isinstance(spec, Cell) and spec.eval.device not in devices:
            from harness.models.preflight import detect_device

            devices[spec.eval.device] = detect_device(spec.eval.device)
        preflight(spec, devices.get(spec.eval.device), backend)
    for spec, outcome, store, backend in todo:
        started = time.perf_counter()
        lock = store.folder("locks") / f"{spec.id}.lock"
        lock.parent.mkdir(parents=True, exist_ok=True)
        # parallel jobs planning the same cell: one computes, the others reuse
        with main_lock(str(lock), _describe(spec)):
            if _stored(store, spec):
                continue
            try:
                result = backend.execute(spec, devices.get(spec.eval.device))
            except HarnessError as e:
                from harness.api.budget import STOPPED, is_budget_stop

                if not is_budget_stop(e):
                    raise
                # the sweep goes on; later API cells of the same capped scope stop at their first request
                outcome.status, outcome.message = STOPPED, str(e)
                outcome.seconds = time.perf_counter() - started
                log.warning("%s: %s", _describe(spec), e)
                continue
            if result is not None and not result.stored:  # None: a non-zero rank; rank 0 stores
                path = store.write(result.record, result.samples)
                _log_stored(path, result.record)
        outcome.status, outcome.seconds = "done", time.perf_counter() - started
        api = result.record.api if result is not None else None
        if api and api["n_failed"]:
            outcome.message = f"{api['n_failed']} of {api['n_requests']} requests failed (scored as empty answers)"


def _log_stored(path: Any, r: Any) -> None:
    value = (r.primary or {}).get("value", float("nan"))
    if r.api is None:
        log.info("stored %s: %s=%.3f (n=%d)", path, r.task["primary_metric"], value, r.task["n"])
        return
    cost = r.api["cost"]["per_1k_queries"]
    log.info(
        "stored %s: %s=%.3f (n=%d), %d failed, cost per 1,000 queries %s",
        path,
        r.task["primary_metric"],
        value,
        r.task["n"],
        r.api["n_failed"],
        "unpriced" if cost is None else f"{cost:.4f} {r.api['cost']['currency']}",
    )


# -- one job's steps (the Hydra job calls these; tests too) ----------------------------------------------------


def run_cell(cfg: Any, python: str | None = None) -> list[CellOutcome]:
    """A job's model step: its cell, and for a fine-tuned cell its base cell first (reused when stored)."""
    return run(plan_cells(cfg), python)


def run_baseline(cfg: Any, python: str | None = None) -> list[CellOutcome]:
    """A job's API-baseline step: the baseline on the job's task and items."""
    return run([plan_baseline(cfg)], python)
