"""Evaluate an API baseline cell: lm-eval with the `harness-chat-api` backend, meters joined to the samples."""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass
from typing import Any

from harness.evaluate.lmeval import collect, include_args, run_lm_eval
from harness.spec.cell import BaselineCell


@dataclass
class BaselineOutput:
    metrics: dict[str, dict[str, Any]]
    samples: list[dict[str, Any]]
    n: int
    seconds: float
    model_args: dict[str, Any]  # the key's variable name only, never the key
    cli: str
    api: dict[str, Any]  # meter.aggregate: tokens, latency percentiles, cost


def baseline_model_args(cell: BaselineCell, base_url: str | None, model: str, tokenizer: str | None) -> dict[str, Any]:
    b, p = cell.baseline, cell.baseline.price
    return {
        "model": model,
        "base_url": base_url,
        "api_key_env": b.api_key_env,
        "endpoint_id": cell.endpoint_id,
        "cache_path": str(cell.api_cache),
        "cell_id": cell.id,
        "temperature": b.temperature,
        "max_tokens": b.max_tokens,
        "price_input_per_1m": p.input_per_1m,
        "price_cached_input_per_1m": p.cached_input_per_1m,
        "price_output_per_1m": p.output_per_1m,
        "currency": p.currency,
        "tokenizer": tokenizer,
        "seed": cell.eval.seed,
        "concurrency": b.concurrency,
        "requests_per_minute": b.requests_per_minute,
        "tokens_per_minute": b.tokens_per_minute,
        "max_retries": b.max_retries,
        "backoff_base_s": b.backoff_base_s,
        "backoff_max_s": b.backoff_max_s,
        "timeout_s": b.timeout_s,
        "deadline_s": b.deadline_s,
        "stream": b.stream,
        "usage": b.usage,
        "key_model": cell.served_model.name if cell.served_model is not None else None,
    }


def cli_command(cell: BaselineCell, margs: dict[str, Any]) -> str:
    """lm-eval's own CLI, with the backend registered, that sends the same requests (answers come from the
    response cache when it is the same file, so re-running it costs nothing)."""
    spec = cell.task_spec
    keep = {k: v for k, v in margs.items() if v is not None and k not in ("cell_id",)}
    parts = [
        "python",
        "-m",
        "harness.api",
        "--model",
        "harness-chat-api",
        "--model_args",
        ",".join(f"{k}={v}" for k, v in keep.items()),
        "--tasks",
        spec.name,
    ]
    parts += include_args(spec)
    parts += [
        "--num_fewshot",
        str(cell.task.num_fewshot),
        "--seed",
        str(cell.eval.seed),
        *(["--apply_chat_template"] if cell.apply_chat_template else []),
    ]
    if cell.task.limit is not None:
        parts += ["--limit", str(cell.task.limit)]
    cmd = shlex.join(parts)
    if cell.served_model is not None:
        cmd += "  # with the local server running at base_url (transformers serve <prepared model folder>)"
    if cell.eval.samples > 1:  # the CLI has no flag for lm-eval's `repeats` either
        cmd += (
            f"  # with repeats: {cell.eval.samples} and generation_kwargs: {{do_sample: true, temperature: "
            f"{cell.eval.sample_temperature}}} in the task YAML"
        )
    return cmd


def evaluate_baseline(cell: BaselineCell, base_url: str | None, model: str, tokenizer: str | None) -> BaselineOutput:
    from harness.api.lm import ChatAPI
    from harness.api.meter import aggregate

    margs = baseline_model_args(cell, base_url, model, tokenizer)
    lm = ChatAPI.create_from_arg_obj(margs)
    try:
        results, seconds = run_lm_eval(cell, lm, None, None)
    finally:
        lm.cache.close()
    task = cell.task_spec.name
    metrics, samples, n = collect(results, task, cell.task.primary_metric)
    meters = []
    for row in samples:
        first, *repeats = lm.meters[(row.get("subtask", task), row["doc_id"])]
        row["api"] = first.as_dict()
        if repeats:  # the other k - 1 sampled answers' requests (eval.samples = k)
            row["api_repeats"] = [m.as_dict() for m in repeats]
        if isinstance(row["input"], list) and len(row["input"]) == 1:  # lm-eval logs the chat JSON as a 1-tuple
            row["input"] = row["input"][0]
        meters += [first, *repeats]
    api = aggregate(meters, asdict(cell.baseline.price))
    return BaselineOutput(metrics, samples, n, seconds, margs, cli_command(cell, margs), api)
