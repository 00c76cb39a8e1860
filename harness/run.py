"""One cell, start to finish: plan -> (skip if stored) -> preflight -> prepare -> evaluate -> store."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from harness.plan import Cell, plan_cell
from harness.store import SCHEMA_VERSION, Store
from harness.store.record import environment, now_iso

log = logging.getLogger(__name__)


@dataclass
class CellOutcome:
    cell_id: str
    status: str  # done | skipped (already stored) | preflight_failed
    model: str
    task: str
    message: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def finetune_section(cell: Cell, artifact: Any, base_cell_id: str | None) -> dict[str, Any]:
    if artifact is None:
        return {"method": "none"}
    info = artifact.info
    return {
        "method": cell.finetune.method,
        "artifact_id": artifact.id,
        "artifact_path": str(artifact.path),
        "artifact_kind": artifact.kind,
        "artifact_reused": artifact.reused,
        "base_cell_id": base_cell_id,  # the base model on the same items: the comparison every tuned cell needs
        "train_task": info["data"]["train_task"],
        "n_train": cell.finetune.n_train,
        "replay": {
            "task": info["data"]["replay_task"],
            "ratio": cell.finetune.replay.ratio,
            "n_examples": info["data"]["n_replay"],
        },  # fmt: skip
        "data": info["data"],
        "trainable_params": info["trainable_params"],
        "params": info["identity"]["params"],
        "optim": info["identity"]["optim"],
        "seed": cell.finetune.seed,
        "metering": info["metering"],
    }


def build_record(
    cell: Cell,
    out: Any,
    device: Any,
    timings: dict[str, float],
    pretrained: str,
    artifact: Any = None,
    base_cell_id: str | None = None,
) -> dict[str, Any]:
    m = cell.model
    primary = cell.task.primary_metric
    return {
        "schema_version": SCHEMA_VERSION,
        "cell_id": cell.id,
        "created_at": now_iso(),
        "identity": cell.identity,
        "model": {
            "name": m.name,
            "display_name": m.display_name,
            "source": m.source,
            "hub_id": m.hub_id,
            "revision": m.revision,
            "gguf_sha256": m.embedded.sha256 if m.embedded else None,
            "n_params": m.n_params,
            "dtype": m.dtype,
            "prompt_format": m.prompt_format,
            "license": m.license,
            "weights": pretrained,
        },
        "finetune": finetune_section(cell, artifact, base_cell_id),
        "task": {
            "name": cell.task_spec.name,
            "version": cell.task_spec.version,
            "content_sha256": cell.task_spec.content_sha256,
            "primary_metric": primary,
            "split": cell.task.split,
            "n": out.n,
        },
        "eval": {
            "backend": "lm-eval/hf",
            "model_args": out.model_args,
            "batch_size": cell.eval.batch_size,
            "apply_chat_template": cell.apply_chat_template,
            "num_fewshot": cell.task.num_fewshot,
            "limit": cell.task.limit,
            "seeds": {
                "python": cell.eval.seed,
                "numpy": cell.eval.seed,
                "torch": cell.eval.seed,
                "fewshot": cell.eval.seed,
            },
            "device": {"kind": device.kind, "name": device.name, "count": device.count},
            "lm_eval_cli": out.cli,
        },
        "metrics": out.metrics,
        "primary": {"metric": primary, **out.metrics[primary]} if primary in out.metrics else None,
        "timings": {
            **{k: round(v, 3) for k, v in timings.items()},
            "items_per_s": round(out.n / out.seconds, 3) if out.seconds else None,
        },
        "environment": environment(),
        "config": cell.config_snapshot,
        "samples_file": f"samples/{cell.id}.jsonl",
    }


def base_config(cfg: Any) -> Any:
    """The same cell with finetune=none: the base model on the same items."""
    from omegaconf import OmegaConf

    return OmegaConf.merge(cfg, {"finetune": {"method": "none"}})


def run_cell(cfg: Any) -> list[CellOutcome]:
    """Run one composed config; for a fine-tuned cell, its base cell first (reused when stored).

    Returns the outcomes, base first. Raises HarnessError/PreflightError for problems the user must fix.
    """
    started = time.perf_counter()
    cell = plan_cell(cfg)
    outcomes: list[CellOutcome] = []
    base_id = None
    store = Store(cell.results_dir)
    if cell.train is not None:
        if not store.has(cell.id):
            # The tuned cell's own checks first: a method this machine cannot run (qlora without CUDA, a model
            # too big to train here) stops before even the base model is loaded.
            from harness.models.preflight import detect_device, preflight

            preflight(cell.model, cell.finetune, detect_device(cell.eval.device), task=cell.task)
        outcomes += run_cell(base_config(cfg))
        base_id = outcomes[-1].cell_id
    outcome = CellOutcome(cell.id, "skipped", cell.model.name, cell.task.name)
    outcomes.append(outcome)
    if store.has(cell.id):
        log.info("cell %s (%s x %s, finetune=%s) is already stored; nothing to compute",
                 cell.id, cell.model.name, cell.task.name, cell.finetune.method)  # fmt: skip
        return outcomes

    # Heavy imports only past this point: a fully stored sweep re-runs in seconds.
    from harness.dist import main_lock
    from harness.models.preflight import detect_device, preflight

    device = detect_device(cell.eval.device)
    preflight(cell.model, cell.finetune, device, task=cell.task)
    lock = store.root / "locks" / f"{cell.id}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with main_lock(str(lock)):  # parallel jobs planning the same cell: one computes, the others reuse
        if store.has(cell.id):
            return outcomes
        _compute(cell, store, device, base_id, started)
    outcome.status, outcome.seconds = "done", time.perf_counter() - started
    return outcomes


def _compute(cell: Cell, store: Store, device: Any, base_id: str | None, started: float) -> None:
    """Prepare weights, train (or reuse) the artifact, evaluate, store. Only rank 0 writes the record."""
    from harness.evaluate.lmeval import evaluate
    from harness.models import weights_location

    t0 = time.perf_counter()
    pretrained = weights_location(cell.model, cell.cache_dir)
    t1 = time.perf_counter()
    artifact = None
    if cell.train is not None:
        from harness.finetune.train import train

        artifact = train(cell.train, pretrained, cell.artifacts_dir, device.kind)
    t2 = time.perf_counter()
    log.info("evaluating %s%s on %s (cell %s) on %s", cell.model.name,
             f" + {cell.finetune.method}" if artifact else "", cell.task.name, cell.id, device.kind)  # fmt: skip
    out = evaluate(cell, pretrained, device.kind, artifact)
    if out is None:  # a non-zero rank under `accelerate launch`: lm-eval gathers the scores on rank 0
        return
    timings = {"prepare_s": t1 - t0, "train_s": t2 - t1, "evaluate_s": out.seconds,
               "total_s": time.perf_counter() - started}  # fmt: skip
    record = build_record(cell, out, device, timings, pretrained, artifact, base_id)
    path = store.write(record, out.samples)
    primary = record["primary"]
    log.info("stored %s: %s=%.3f (n=%d)", path, cell.task.primary_metric, primary["value"], out.n)
