"""Test fixture factory: result records and per-sample rows in the stored shape, for tests and benchmarks.

Everything here is a made-up test input (names, scores, prices, times); nothing is a measurement of a model,
and nothing built here may be shown to anyone as a result. A record from `make_record` has every section a
real one has (docs/results-schema.md), so a reader under test sees the shape the harness writes; the
arguments are what tests vary, and a test that needs something else changes the returned Record's fields.

    make_record("c1").to_json()                  # a local embedded model, untuned, unpriced CPU run
    make_record("c2", source="api", score=0.8)   # an API baseline with an `api` section, no hardware/cost
    make_samples([1, 0, 1])                      # three sample rows scored 1, 0, 1 on `contains`
    make_record("c3", finetune={"method": "lora"}, train_data=synthetic_data(noise=0.2))  # a synthetic set, 20% noise

The cell id is whatever the test passes: it is not the hash of the record's `identity` (ids of real cells
are; tests name cells so that their assertions can).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from harness.api.meter import Meter, aggregate
from harness.api.pricing import cost as request_cost
from harness.store.record import SCHEMA_VERSION, TRACKED_PACKAGES, Record

# gpt-4o-mini's list price as in conf/baseline/price/gpt-4o-mini.yaml: the default API baseline's price.
API_PRICE = {
    "currency": "USD",
    "input_per_1m": 0.15,
    "cached_input_per_1m": 0.075,
    "output_per_1m": 0.60,
    "as_of": "2025-08-07",
    "source": "https://openai.com/api/pricing/",
    "note": "",
}
VERSIONS = {
    "harness": "0.1.0",
    "lm_eval": "0.4.13",
    "transformers": "4.56.2",
    "torch": "2.8.0",
    "accelerate": "1.10.1",
    "peft": "0.17.1",
    "tokenizers": "0.22.1",
    "datasets": "4.1.1",
}
EVALUATE_S = 30.0  # lm-eval's wall time in every fixture record (so items_per_s = n / 30)


def make_record(
    cell_id: str = "c0ffee0000000000000a",
    *,
    model: str = "m-small",
    display_name: str | None = None,
    source: str = "embedded",
    n_params: int | None = None,
    task: str = "helpdesk",
    metric: str = "contains",
    n: int = 50,
    split: str = "test",
    score: float | None = 0.76,
    stderr: float | None = 0.061,
    metrics: dict[str, dict[str, Any]] | None = None,
    finetune: dict[str, Any] | None = None,
    created_at: str = "2026-11-22T00:00:00+00:00",
    device: str = "cpu",
    seed: int = 1234,
    limit: int | None = None,
    batch_size: int = 8,
    api: dict[str, Any] | None = None,
    price: dict[str, Any] | None = None,
    hardware: dict[str, Any] | None = None,
    inference: dict[str, Any] | None = None,
    cost: dict[str, Any] | None = None,
    consistency: dict[str, Any] | None = None,
    train_data: dict[str, Any] | None = None,
) -> Record:
    """A complete record of one cell. The defaults: 38 of 50 items right (0.76 +- 0.061) on `contains` of task
    `helpdesk`, by a 135M-parameter embedded model `m-small`, untuned, on an unpriced CPU.

    model, display_name (default: model), source (`embedded`, `hub`, `local` or `api`), n_params (default
    135M for a local model, None (not disclosed) for an API): the model section.
    task, metric (the primary one), n (items evaluated), split: the task section.
    score, stderr: the primary metric, listed first in `metrics` (score None: the task did not report it, so
    the record has no `primary`). metrics: the task's other metrics, {name: {"value", "stderr"}}.
    finetune: the finetune section; a method other than `none` gets the fields of a trained cell that are not
    given (set `base_cell_id` to pair it with its base cell).
    device, seed, limit, batch_size: the evaluation settings (eval section and identity).
    api (source="api" only): the whole `api` section; default: n answered requests of 150 prompt and 20
    completion tokens, 0.8 s each, metered at `price` (default API_PRICE).
    hardware, inference, cost (local models only): fields set over those of an unpriced CPU run scored by
    log-likelihood (no per-query latency); `cost.priced` follows `per_1k_queries` unless given.
    consistency: the k-answers agreement section (its `k` and `temperature` also go into the identity).
    train_data (a fine-tuned record only; e.g. `synthetic_data()`): finetune.train_data, what it was trained on;
    `cost.training_data` follows its cost total unless `cost` gives it. Without it the record is of the shape
    written before training data could be chosen (the task's own data, clean).
    """
    if source == "api" and (hardware, inference, cost) != (None, None, None):
        raise ValueError("an API baseline has no hardware, inference or cost section: its money is in `api`")
    if source != "api" and (api, price) != (None, None):
        raise ValueError("only an API-baseline record (source='api') has an `api` section and a price")
    if source == "api" and (finetune or {}).get("method", "none") != "none":
        raise ValueError("an API baseline is not fine-tuned")
    if train_data is not None:
        if (finetune or {}).get("method", "none") == "none":
            raise ValueError("only a fine-tuned record has training data: give finetune={'method': ...}")
        finetune = {**finetune, "train_data": train_data}  # type: ignore[dict-item]
        cost = {"training_data": (train_data.get("cost") or {}).get("total"), **(cost or {})}
    task_id = {"name": task, "version": "1.0", "content_sha256": "ab" * 32}
    eval_id: dict[str, Any] = {"limit": limit, "num_fewshot": 0, "seed": seed}
    if split != "test":
        eval_id["split"] = split
    if consistency:
        eval_id.update(samples=consistency["k"], sample_temperature=consistency["temperature"])
    given = {metric: {"value": score, "stderr": stderr}} if score is not None else {}
    scores = {
        name: {"value": m["value"], "stderr": m.get("stderr"), "n": n, "filter": "none", "higher_is_better": True}
        for name, m in {**given, **(metrics or {})}.items()
    }
    shown = model if display_name is None else display_name
    common = {
        "model": model,
        "shown": shown,
        "n": n,
        "task": task,
        "task_id": task_id,
        "eval_id": eval_id,
        "limit": limit,
        "seed": seed,
    }
    if source == "api":
        parts = _api_parts(**common, n_params=n_params, api=api, price=price)
    else:
        parts = _local_parts(
            **common,
            source=source,
            n_params=135_000_000 if n_params is None else n_params,
            finetune=finetune,
            device=device,
            batch_size=batch_size,
            hardware=hardware,
            inference=inference,
            cost=cost,
        )
    parts["timings"]["items_per_s"] = round(n / EVALUATE_S, 3)
    return Record(
        schema_version=SCHEMA_VERSION,
        cell_id=cell_id,
        created_at=created_at,
        task={**task_id, "primary_metric": metric, "split": split, "n": n},
        metrics=scores,
        primary={"metric": metric, **scores[metric]} if metric in scores else None,
        environment={
            "python": "3.11.9",
            "platform": "Linux-6.1.0-x86_64-with-glibc2.36",
            "packages": {name: VERSIONS.get(name) for name in TRACKED_PACKAGES},
            "git": {"commit": "deadbeef" * 5, "dirty": False},
        },
        config={},
        samples_file=f"samples/{cell_id}.jsonl",
        consistency=consistency,
        **parts,
    )


def _seeds(seed: int) -> dict[str, int]:
    return {"python": seed, "numpy": seed, "torch": seed, "fewshot": seed}


def _api_parts(
    *,
    model: str,
    shown: str,
    n: int,
    task: str,
    task_id: dict,
    eval_id: dict,
    limit: int | None,
    seed: int,
    n_params: int | None,
    api: dict | None,
    price: dict | None,
) -> dict[str, Any]:
    """The sections of an API-baseline record that differ from a local one's (harness/execute/api.py)."""
    if api is None:
        price = dict(price or API_PRICE)
        meter = Meter(
            prompt_tokens=150,
            cached_tokens=0,
            completion_tokens=20,
            latency_s=0.8,
            ttft_s=0.3,
            output_tokens_per_s=60.0,
            cost=request_cost(150, 0, 20, price),
            attempts=1,
        )
        meter.billed = meter.cost
        api = aggregate([meter] * n, price)
    price = (api.get("cost") or {}).get("price") or API_PRICE
    prices = {f"price_{k}": price.get(k) for k in ("input_per_1m", "cached_input_per_1m", "output_per_1m")}
    backend = "lm-eval/harness-chat-api"
    return {
        "identity": {
            "schema_version": SCHEMA_VERSION,
            "baseline": {"name": model, "provider": "openai", "model": model, "endpoint": "https://api.openai.com/v1"},
            "task": task_id,
            "eval": {"backend": backend, **eval_id, "temperature": 0.0, "max_tokens": None},
        },
        "model": {
            "name": model,
            "display_name": shown,
            "source": "api",
            "provider": "openai",
            "api_model": model,
            "base_url": None,
            "stand_in": None,
            "served_model": None,
            "n_params": n_params,
            "license": None,
        },
        "finetune": {"method": "none"},
        "eval": {
            "backend": backend,
            "model_args": {
                "model": model,
                "base_url": None,
                "api_key_env": "OPENAI_API_KEY",
                **prices,
                "currency": price.get("currency", "USD"),
            },
            "apply_chat_template": True,
            "num_fewshot": 0,
            "limit": limit,
            "temperature": 0.0,
            "max_tokens": None,
            "seeds": _seeds(seed),
            "device": {"kind": "api", "name": "openai", "count": None},
            "transport": {
                "stream": True,
                "concurrency": 4,
                "requests_per_minute": None,
                "tokens_per_minute": None,
                "max_retries": 6,
                "timeout_s": 120.0,
            },
            "lm_eval_cli": f"python -m harness.api --model harness-chat-api --model_args model={model} "
            f"--tasks {task} --num_fewshot 0 --seed {seed} --apply_chat_template",
        },
        "timings": {"serve_start_s": 0.0, "evaluate_s": EVALUATE_S, "total_s": EVALUATE_S},
        "api": api,
    }


def _local_parts(
    *,
    model: str,
    shown: str,
    n: int,
    task: str,
    task_id: dict,
    eval_id: dict,
    limit: int | None,
    seed: int,
    source: str,
    n_params: int,
    finetune: dict | None,
    device: str,
    batch_size: int,
    hardware: dict | None,
    inference: dict | None,
    cost: dict | None,
) -> dict[str, Any]:
    """The sections of a local model's record that differ from an API baseline's (harness/execute/local.py)."""
    embedded = source == "embedded"
    weights = f"/models/{model}"
    model_section = {
        "name": model,
        "display_name": shown,
        "source": source,
        "hub_id": None if embedded else f"org/{model}",
        "revision": None if embedded else "main",
        "gguf_sha256": "ee" * 32 if embedded else None,
        "n_params": n_params,
        "dtype": "float32",
        "prompt_format": "chatml",
        "license": "Apache-2.0",
        "weights": weights,
    }
    ft = _finetune(finetune, model, task, seed)
    ft_id = {"method": ft["method"]} | ({"artifact": ft["artifact_id"]} if ft["method"] != "none" else {})
    train_s = (ft.get("metering") or {}).get("train_seconds") or 0.0  # trained in this cell, not reused
    model_s = 0.8 * EVALUATE_S  # model time inside lm-eval; the rest is loading and scoring
    return {
        "identity": {
            "schema_version": SCHEMA_VERSION,
            "model": {k: model_section[k] for k in ("name", "source", "hub_id", "revision", "gguf_sha256", "dtype")}
            | {"local_path": None, "trust_remote_code": False},
            "finetune": ft_id,
            "task": task_id,
            "eval": {"backend": "lm-eval/hf", **eval_id, "batch_size": batch_size, "apply_chat_template": True},
        },
        "model": model_section,
        "finetune": ft,
        "eval": {
            "backend": "lm-eval/hf",
            "model_args": {"pretrained": weights, "dtype": "float32"},
            "batch_size": batch_size,
            "apply_chat_template": True,
            "num_fewshot": 0,
            "limit": limit,
            "seeds": _seeds(seed),
            "device": {"kind": device, "name": device, "count": 1},
            "lm_eval_cli": f"lm_eval --model hf --model_args pretrained={weights},dtype=float32 --tasks {task} "
            f"--batch_size {batch_size} --seed {seed} --apply_chat_template",
        },
        "timings": {"prepare_s": 0.0, "train_s": train_s, "evaluate_s": EVALUATE_S, "total_s": EVALUATE_S + train_s},
        "hardware": {
            "profile": None,
            "kind": device,
            "device_name": device,
            "count": 1,
            "cpus": 4,
            "price_per_hour": None,
            "currency": "USD",
            "as_of": None,
            "source": None,
            **(hardware or {}),
        },
        "inference": {
            "seconds": model_s,
            "n_batches": math.ceil(n / batch_size),
            "batch_size": batch_size,
            "queries": n,
            "queries_per_hour": 3600 * n / model_s,
            "latency_s": {"p50": None, "p95": None, "p99": None, "n": 0},
            "latency_basis": None,
            **(inference or {}),
        },
        "cost": _cost(cost or {}),
    }


def _finetune(given: dict[str, Any] | None, model: str, task: str, seed: int) -> dict[str, Any]:
    """{"method": "none"}, or a trained cell's section: the given fields over those of a small LoRA run."""
    given = given or {"method": "none"}
    method = given["method"]
    if method == "none":
        return dict(given)
    artifact = given.get("artifact_id", "a1" * 10)
    metering = {
        "train_tokens": 6000,
        "train_seconds": 60.0,
        "this_run_seconds": 60.0,
        "tokens_per_s": 100.0,
        "steps": 8,
        "resumed_from_step": 0,
        "epochs": 1,
        "precision": "fp32",
        "peak_memory_bytes": 2**30,
        "peak_memory_kind": "process resident (sampled)",
        "device": {"kind": "cpu", "name": "cpu", "count": 1},
        "loss_curve": [[4, 1.2], [8, 0.9]],
        "final_train_loss": 0.9,
        "mean_train_loss": 1.05,
        "validation_loss": 1.0,
    }
    return {
        "method": method,
        "artifact_id": artifact,
        "artifact_path": f"artifacts/{model}-{method}-{artifact}",
        "artifact_kind": "full" if method == "full" else "adapter",
        "artifact_reused": False,
        "base_cell_id": None,
        "train_task": task,
        "n_train": 64,
        "replay": {"task": None, "ratio": 0.0, "n_examples": 0},
        "data": {"n_domain": 64, "n_replay": 0, "supervised_tokens_per_epoch": 1280, "n_validation": 16},
        "trainable_params": 460_800,
        "params": {"r": 8, "alpha": 16, "dropout": 0.05} if method in ("lora", "qlora") else {},
        "optim": {
            "epochs": 1,
            "learning_rate": 2e-4,
            "batch_size": 8,
            "grad_accum": 1,
            "weight_decay": 0.0,
            "warmup_ratio": 0.0,
            "precision": "fp32",
        },
        "seed": seed,
        "metering": metering,
        **given,
    }


def _cost(given: dict[str, Any]) -> dict[str, Any]:
    priced = given.get("per_1k_queries") is not None
    return {
        "currency": "USD",
        "priced": priced,
        "per_1k_queries": None,
        "training": None,
        "basis": "a fixture's price" if priced else "unpriced: no hardware profile fits this device",
        **given,
    }


def synthetic_data(
    dataset_id: str = "3f9a1c2e5b" * 2,
    *,
    task: str = "helpdesk",
    noise: float = 0.0,
    n: int = 64,
    task_share: float = 0.0,
    cost: float | None = 0.0012,
    teacher: str = "local-smollm2",
    stand_in: str | None = None,
) -> dict[str, Any]:
    """A finetune.train_data section: `n` examples from a synthetic set written by `teacher` (cost: the money of
    generating it, None = unpriced), `task_share` of them from the task's own data instead, and `noise` of the
    answers corrupted (round(noise x n) of them)."""
    sources: list[dict[str, Any]] = []
    label = f"synthetic {dataset_id[:8]}"
    if task_share:
        n_task = round(task_share * n)
        sources.append({"source": "task", "task": task, "share": task_share, "n": n_task})
        label = f"{task} {task_share:.0%} + {label} {1 - task_share:.0%}"
    total = {"currency": "USD", "total": cost}
    sources.append(
        {
            "source": "synthetic",
            "dataset_id": dataset_id,
            "task": task,
            "teacher": teacher,
            "teacher_display": f"{teacher} (display)",
            "stand_in": stand_in,
            "share": 1 - task_share,
            "n": n - sum(x["n"] for x in sources),
            "cost": total,
        }
    )
    return {"label": label, "sources": sources, "label_noise": noise, "n_corrupted": round(noise * n), "cost": total}


def make_samples(
    scores: Sequence[float],
    metric: str = "contains",
    *,
    inputs: Sequence[str] | None = None,
    outputs: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Per-sample rows, one per score (doc_id 0, 1, ...): input `question <i>`, reference `ref <i>` and output
    `answer <i>` unless `inputs` / `outputs` are given; `scores` = {metric: score}."""
    rows = []
    for i, score in enumerate(scores):
        question = inputs[i] if inputs is not None else f"question {i}"
        rows.append(
            {
                "doc_id": i,
                "item_id": f"item-{i}",
                "input": question,
                "reference": f"ref {i}",
                "output": outputs[i] if outputs is not None else f"answer {i}",
                "scores": {metric: float(score)},
                "doc": {"id": f"item-{i}", "question": question, "answer": f"ref {i}"},
            }
        )
    return rows
