"""One cell, start to finish: plan -> (skip if stored) -> preflight -> prepare -> evaluate -> store.

A job (one Hydra config) runs its model cell (and, for a tuned model, the base cell first) and, when a
baseline is configured, the API baseline's cell on the same task and items.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from harness.plan import BaselineCell, Cell, plan_baseline, plan_cell
from harness.store import SCHEMA_VERSION, Store
from harness.store.record import environment, now_iso

log = logging.getLogger(__name__)


@dataclass
class CellOutcome:
    cell_id: str
    status: str  # done | skipped (already stored) | preflight_failed | failed | error | not_applicable
    model: str
    task: str
    message: str = ""
    seconds: float = 0.0
    step: str = "cell"  # cell (a local model) | baseline (an API baseline, shared by the jobs of its task)

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
        if not store.has(cell.id, heal=True):
            # The tuned cell's own checks first: a method this machine cannot run (qlora without CUDA, a model
            # too big to train here) stops before even the base model is loaded.
            from harness.models.preflight import detect_device, preflight

            preflight(cell.model, cell.finetune, detect_device(cell.eval.device), task=cell.task)
            check_data(cell)
        outcomes += run_cell(base_config(cfg))
        base_id = outcomes[-1].cell_id
    outcome = CellOutcome(cell.id, "skipped", cell.model.name, cell.task.name)
    outcomes.append(outcome)
    if store.has(cell.id, heal=True):
        log.info("cell %s (%s x %s, finetune=%s) is already stored; nothing to compute",
                 cell.id, cell.model.name, cell.task.name, cell.finetune.method)  # fmt: skip
        return outcomes

    # Heavy imports only past this point: a fully stored sweep re-runs in seconds.
    from harness.dist import main_lock
    from harness.models.preflight import detect_device, preflight

    device = detect_device(cell.eval.device)
    preflight(cell.model, cell.finetune, device, task=cell.task)
    check_data(cell)  # bad rows stop here, with file:line, before a model is loaded
    hardware = hardware_section(cell, device)  # refuses a price for hardware the cell does not run on
    lock = store.root / "locks" / f"{cell.id}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    # parallel jobs planning the same cell: one computes, the others reuse
    with main_lock(str(lock), f"cell {cell.id} ({cell.model.name} x {cell.task.name})"):
        if store.has(cell.id):
            return outcomes
        _compute(cell, store, device, base_id, started, hardware)
    outcome.status, outcome.seconds = "done", time.perf_counter() - started
    return outcomes


def check_data(cell: Cell | BaselineCell) -> None:
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


def hardware_section(cell: Cell, device: Any) -> dict[str, Any]:
    from harness.compare.hardware import priced_as
    from harness.config.schema import HardwareConfig

    return priced_as(cell.hardware or HardwareConfig(), device.kind, device.name, device.count)


def cost_section(hardware: dict[str, Any], inference: dict[str, Any] | None, artifact: Any) -> dict[str, Any]:
    """Self-hosted money: device price per hour / measured queries per hour; training device-hours x price."""
    from harness.compare.cost import per_1k_from_rate, training_cost

    price, qph = hardware.get("price_per_hour"), (inference or {}).get("queries_per_hour")
    metering = artifact.info["metering"] if artifact is not None else None
    return {
        "currency": hardware.get("currency", "USD"),
        "priced": price is not None,
        "per_1k_queries": per_1k_from_rate(price, qph) if price is not None and qph else None,
        "basis": f"{hardware.get('profile')} at {price}/h / measured queries per hour at batch size "
        f"{(inference or {}).get('batch_size')}" if price is not None else "unpriced: no hardware profile fits this device",
        "training": training_cost(metering["train_seconds"], (metering.get("device") or {}).get("count") or 1, price)
        if metering is not None and price is not None else None,
    }  # fmt: skip


def consistency_section(ev: Any, samples: list[dict[str, Any]]) -> dict[str, Any] | None:
    """With eval.samples = k > 1: how often the k answers per item agree (None for one greedy answer)."""
    if ev.samples == 1:
        return None
    from harness.compare.consistency import agreement

    return agreement(samples, ev.sample_temperature)


def _compute(cell: Cell, store: Store, device: Any, base_id: str | None, started: float,
             hardware: dict[str, Any]) -> None:  # fmt: skip
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
    record["hardware"] = hardware
    record["inference"] = out.inference
    record["cost"] = cost_section(hardware, out.inference, artifact)
    record["consistency"] = consistency_section(cell.eval, out.samples)
    path = store.write(record, out.samples)
    primary = record["primary"]
    log.info("stored %s: %s=%.3f (n=%d)", path, cell.task.primary_metric, primary["value"], out.n)


# -- API baselines ---------------------------------------------------------------------------------------------


def check_baseline(cell: BaselineCell) -> str | None:
    """Why this baseline cannot run here, before any request: None when it can."""
    from harness.errors import PreflightError

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
    return None


PRICE_KEYS = ("currency", "input_per_1m", "cached_input_per_1m", "output_per_1m")


def reprice(store: Store, cell: BaselineCell) -> bool:
    """A stored API cell whose price differs from the configured one gets its money recomputed from its stored
    usage (no request is sent): the record and the samples are rewritten with the new price. True if it was."""
    from dataclasses import asdict

    from harness.evaluate.api.meter import Meter, aggregate
    from harness.evaluate.api.pricing import cost

    record = store.load(cell.id)
    price = asdict(cell.baseline.price)
    if all(record["api"]["cost"]["price"].get(k) == price[k] for k in PRICE_KEYS):
        return False
    samples = store.load_samples(cell.id)
    meters = []

    def repriced(meter: dict[str, Any]) -> Meter:
        m = Meter(**meter)
        if m.error is None:
            m.cost = cost(m.prompt_tokens or 0, m.cached_tokens or 0, m.completion_tokens or 0, price)
        meters.append(m)
        return m

    for row in samples:
        row["api"] = repriced(row["api"]).as_dict()
        if row.get("api_repeats"):  # the other k - 1 sampled answers' requests
            row["api_repeats"] = [repriced(r).as_dict() for r in row["api_repeats"]]
    record["api"] = {**aggregate(meters, price), "repriced_at": now_iso()}
    record["eval"]["model_args"].update(
        {f"price_{k}": price[k] for k in PRICE_KEYS[1:]}, currency=price["currency"]
    )
    store.write(record, samples)
    log.info("baseline cell %s re-priced from stored usage: %s", cell.id, {k: price[k] for k in PRICE_KEYS})
    return True


def _complete(store: Store, cell_id: str) -> bool:
    """Stored with every sample answered. A cell with failed requests is run again: only those are sent."""
    if not store.has(cell_id, heal=True):
        return False
    return not ((store.load(cell_id).get("api") or {}).get("n_failed") or 0)


def run_baseline(cfg: Any) -> list[CellOutcome]:
    started = time.perf_counter()
    cell = plan_baseline(cfg)
    b = cell.baseline
    outcome = CellOutcome(cell.id, "skipped", str(b.name), cell.task.name, step="baseline")
    if cell.task_spec.output_type in ("multiple_choice", "loglikelihood", "loglikelihood_rolling"):
        outcome.status = "not_applicable"
        outcome.message = (f"{cell.task.name} is scored by log-likelihood ({cell.task_spec.output_type}); a chat "
                           "API returns no log-probabilities of given answers, so API baselines run on generative "
                           "tasks only.")  # fmt: skip
        log.info("baseline %s on %s: not applicable (%s)", b.name, cell.task.name, cell.task_spec.output_type)
        return [outcome]
    store = Store(cell.results_dir)
    if _complete(store, cell.id):
        log.info(
            "baseline cell %s (%s x %s) is already stored; nothing to send", cell.id, b.name, cell.task.name
        )
        if reprice(store, cell):
            outcome.message = "re-priced from its stored token usage (the configured price changed)"
        return [outcome]
    check_baseline(cell)
    check_data(cell)
    from harness.dist import main_lock

    lock = store.root / "locks" / f"{cell.id}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with main_lock(str(lock), f"baseline cell {cell.id} ({b.name} x {cell.task.name})"):
        if _complete(store, cell.id):
            return [outcome]
        record = _compute_baseline(cell, store, started)
    outcome.status, outcome.seconds = "done", time.perf_counter() - started
    failed = record["api"]["n_failed"]
    if failed:
        outcome.message = (
            f"{failed} of {record['api']['n_requests']} requests failed (scored as empty answers)"
        )
    return [outcome]


def _compute_baseline(cell: BaselineCell, store: Store, started: float) -> dict[str, Any]:
    from harness.evaluate.baseline import evaluate_baseline
    from harness.evaluate.endpoint import endpoint_for
    from harness.models import model_config, weights_location

    b = cell.baseline
    t0 = time.perf_counter()
    with endpoint_for(b, cell.cache_dir, store.root / "logs" / f"serve-{cell.id}.log") as (url, model):
        t1 = time.perf_counter()
        if cell.served_model is not None:
            log.info("baseline %s: transformers serve is up at %s after %.1f s", b.name, url, t1 - t0)
            tokenizer: str | None = model  # the served folder: its own tokenizer counts if usage is missing
        else:
            tokenizer = weights_location(model_config(b.tokenizer), cell.cache_dir) if b.tokenizer else None
            log.info("baseline %s: sending %s requests to %s", b.name, cell.task.name, b.base_url or "OpenAI")
        out = evaluate_baseline(cell, url, model, tokenizer)
    refuse_if_mostly_failed(cell, store, out.samples, out.api)
    timings = {"serve_start_s": t1 - t0, "evaluate_s": out.seconds, "total_s": time.perf_counter() - started}
    record = build_baseline_record(cell, out, timings)
    record["consistency"] = consistency_section(cell.eval, out.samples)
    path = store.write(record, out.samples)
    api = record["api"]
    cost = api["cost"]["per_1k_queries"]
    log.info("stored %s: %s=%.3f (n=%d), %d failed, cost per 1,000 queries %s", path, cell.task.primary_metric,
             (record["primary"] or {}).get("value", float("nan")), out.n, api["n_failed"],
             "unpriced" if cost is None else f"{cost:.4f} {api['cost']['currency']}")  # fmt: skip
    return record


def refuse_if_mostly_failed(cell: BaselineCell, store: Store, samples: list[dict[str, Any]],
                            api: dict[str, Any]) -> None:  # fmt: skip
    """A cell whose failed share exceeds `baseline.max_failed_share` is not scored: its empty answers would enter
    the leaderboard as a real score (a closed port scored 0.000 and exited 0). The failure is kept in
    failures/<cell_id>.json with its causes; answered requests stay in the response cache, so a re-run after
    the fix sends only the others."""
    import json
    from collections import Counter

    from harness.errors import HarnessError
    from harness.store.store import atomic_write_text

    n, failed = api["n_requests"], api["n_failed"]
    if not n or failed / n <= cell.baseline.max_failed_share:
        return
    errors = Counter(
        m["error"] for row in samples for m in [row["api"], *row.get("api_repeats", [])] if m.get("error")
    )
    causes = "; ".join(f"{e} ({k} request{'s' if k > 1 else ''})" for e, k in errors.most_common(3))
    where = cell.baseline.base_url or ("a local transformers serve" if cell.served_model else "OpenAI's API")
    failure = {"cell_id": cell.id, "created_at": now_iso(), "baseline": cell.baseline.name,
               "task": cell.task.name, "endpoint": where, "n_requests": n, "n_failed": failed,
               "max_failed_share": cell.baseline.max_failed_share, "causes": dict(errors.most_common(10))}  # fmt: skip
    path = store.root / "failures" / f"{cell.id}.json"
    atomic_write_text(path, json.dumps(failure, indent=2, ensure_ascii=False) + "\n")
    raise HarnessError(
        f"baseline {cell.baseline.name} on {cell.task.name}: {failed} of {n} requests to {where} failed, more "
        f"than baseline.max_failed_share={cell.baseline.max_failed_share:g}, so the cell is not scored.\n"
        f"  cause: {causes}\n  answered requests are kept (never paid twice); fix the cause and run again. "
        f"Details: {path}"
    )


def build_baseline_record(cell: BaselineCell, out: Any, timings: dict[str, float]) -> dict[str, Any]:
    b, served = cell.baseline, cell.served_model
    primary = cell.task.primary_metric
    return {
        "schema_version": SCHEMA_VERSION,
        "cell_id": cell.id,
        "created_at": now_iso(),
        "identity": cell.identity,
        "model": {
            "name": b.name,
            "display_name": b.display_name or b.name,
            "source": "api",
            "provider": b.provider,
            "api_model": b.model if served is None else served.name,
            "base_url": b.base_url,  # null for OpenAI's default endpoint and for a local stand-in
            "stand_in": b.stand_in,  # set when the row is not really a closed API
            "served_model": None if served is None else served.name,
            "n_params": None if served is None else served.n_params,  # unknown for closed models
            "license": None if served is None else served.license,
        },
        "finetune": {"method": "none"},
        "task": {
            "name": cell.task_spec.name,
            "version": cell.task_spec.version,
            "content_sha256": cell.task_spec.content_sha256,
            "primary_metric": primary,
            "split": cell.task.split,
            "n": out.n,
        },
        "eval": {
            "backend": "lm-eval/harness-chat-api",
            "model_args": {k: v for k, v in out.model_args.items() if k not in ("cache_path",)},
            "apply_chat_template": True,
            "num_fewshot": cell.task.num_fewshot,
            "limit": cell.task.limit,
            "temperature": b.temperature,
            "max_tokens": b.max_tokens,
            "seeds": {
                "python": cell.eval.seed,
                "numpy": cell.eval.seed,
                "torch": cell.eval.seed,
                "fewshot": cell.eval.seed,
            },  # fmt: skip
            "device": {
                "kind": "api",
                "name": "transformers serve, " + served.name if served else b.provider,
                "count": None,
            },  # fmt: skip
            "transport": {
                "stream": b.stream,
                "concurrency": b.concurrency,
                "requests_per_minute": b.requests_per_minute,
                "tokens_per_minute": b.tokens_per_minute,
                "max_retries": b.max_retries,
                "timeout_s": b.timeout_s,
            },  # fmt: skip
            "lm_eval_cli": out.cli,
        },
        "metrics": out.metrics,
        "primary": {"metric": primary, **out.metrics[primary]} if primary in out.metrics else None,
        "api": out.api,
        "timings": {
            **{k: round(v, 3) for k, v in timings.items()},
            "items_per_s": round(out.n / out.seconds, 3) if out.seconds else None,
        },
        "environment": environment(),
        "config": cell.config_snapshot,
        "samples_file": f"samples/{cell.id}.jsonl",
    }
