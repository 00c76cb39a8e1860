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


def build_record(
    cell: Cell, out: Any, device: Any, timings: dict[str, float], pretrained: str
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
        "finetune": {"method": cell.finetune.method},
        "task": {
            "name": cell.task_spec.name,
            "version": cell.task_spec.version,
            "content_sha256": cell.task_spec.content_sha256,
            "primary_metric": primary,
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


def run_cell(cfg: Any) -> CellOutcome:
    """Run one composed config. Raises HarnessError/PreflightError for problems the user must fix."""
    started = time.perf_counter()
    cell = plan_cell(cfg)
    store = Store(cell.results_dir)
    outcome = CellOutcome(cell.id, "skipped", cell.model.name, cell.task.name)
    if store.has(cell.id):
        log.info(
            "cell %s (%s x %s) is already stored; nothing to compute",
            cell.id,
            cell.model.name,
            cell.task.name,
        )
        return outcome

    # Heavy imports only past this point: a fully stored sweep re-runs in seconds.
    from harness.evaluate.lmeval import evaluate
    from harness.models import weights_location
    from harness.models.preflight import detect_device, preflight

    device = detect_device(cell.eval.device)
    preflight(cell.model, cell.finetune, device, task=cell.task)
    t0 = time.perf_counter()
    pretrained = weights_location(cell.model, cell.cache_dir)
    t1 = time.perf_counter()
    log.info("evaluating %s on %s (cell %s) on %s", cell.model.name, cell.task.name, cell.id, device.kind)
    out = evaluate(cell, pretrained, device.kind)
    timings = {"prepare_s": t1 - t0, "evaluate_s": out.seconds, "total_s": time.perf_counter() - started}
    record = build_record(cell, out, device, timings, pretrained)
    path = store.write(record, out.samples)
    primary = record["primary"]
    log.info("stored %s: %s=%.3f (n=%d)", path, cell.task.primary_metric, primary["value"], out.n)
    outcome.status, outcome.seconds = "done", time.perf_counter() - started
    return outcome
