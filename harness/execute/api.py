"""The API backend: an OpenAI-compatible endpoint (a provider, or a local `transformers serve` stand-in) scored
through lm-eval's harness-chat-api backend; every request metered and cached (never paid twice)."""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from dataclasses import asdict
from typing import Any

from harness.errors import HarnessError
from harness.execute.base import Execution
from harness.execute.local import consistency_section, prompt_section, seeds
from harness.spec.cell import BaselineCell, Endpoint
from harness.store import Store
from harness.store.record import build_record, now_iso

log = logging.getLogger(__name__)


def model_section(cell: BaselineCell) -> dict[str, Any]:
    b, served = cell.baseline, cell.served_model
    return {
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
    }


def eval_section(cell: BaselineCell, out: Any) -> dict[str, Any]:
    b, served = cell.baseline, cell.served_model
    return {
        "backend": "lm-eval/harness-chat-api",
        "model_args": {k: v for k, v in out.model_args.items() if k not in ("cache_path",)},
        "apply_chat_template": cell.apply_chat_template,
        **prompt_section(cell, out.samples),
        "num_fewshot": cell.task.num_fewshot,
        "limit": cell.task.limit,
        "temperature": b.temperature,
        "max_tokens": b.max_tokens,
        "seeds": seeds(cell.eval.seed),
        "device": {
            "kind": "api",
            "name": "transformers serve, " + served.name if served else b.provider,
            "count": None,
        },
        "transport": {
            "stream": b.stream,
            "concurrency": b.concurrency,
            "requests_per_minute": b.requests_per_minute,
            "tokens_per_minute": b.tokens_per_minute,
            "max_retries": b.max_retries,
            "timeout_s": b.timeout_s,
            "deadline_s": b.deadline_s,
        },
        "lm_eval_cli": out.cli,
    }


def refuse_if_mostly_failed(
    cell: BaselineCell, store: Store, samples: list[dict[str, Any]], api: dict[str, Any]
) -> None:
    """A cell whose failed share exceeds `baseline.max_failed_share` is not scored: its empty answers would enter
    the leaderboard as a real score (a closed port scored 0.000 and exited 0). The failure is kept in
    failures/<cell_id>.json with its causes; answered requests stay in the response cache, so a re-run after
    the fix sends only the others."""
    from harness.store.store import atomic_write_text

    n, failed = api["n_requests"], api["n_failed"]
    if not n or failed / n <= cell.baseline.max_failed_share:
        return
    errors = Counter(m["error"] for row in samples for m in [row["api"], *row.get("api_repeats", [])] if m.get("error"))
    causes = "; ".join(f"{e} ({k} request{'s' if k > 1 else ''})" for e, k in errors.most_common(3))
    where = cell.baseline.base_url or ("a local transformers serve" if cell.served_model else "OpenAI's API")
    failure = {
        "cell_id": cell.id,
        "created_at": now_iso(),
        "baseline": cell.baseline.name,
        "task": cell.task.name,
        "endpoint": where,
        "n_requests": n,
        "n_failed": failed,
        "max_failed_share": cell.baseline.max_failed_share,
        "causes": dict(errors.most_common(10)),
    }
    path = store.folder("failures") / f"{cell.id}.json"
    atomic_write_text(path, json.dumps(failure, indent=2, ensure_ascii=False) + "\n")
    raise HarnessError(
        f"baseline {cell.baseline.name} on {cell.task.name}: {failed} of {n} requests to {where} failed, more "
        f"than baseline.max_failed_share={cell.baseline.max_failed_share:g}, so the cell is not scored.\n"
        f"  cause: {causes}\n  answered requests are kept (never paid twice); fix the cause and run again. "
        f"Details: {path}"
    )


class ApiBackend:
    name = "api"

    def execute(self, cell: BaselineCell, device: Any = None) -> Execution:
        from harness.api.budget import active
        from harness.api.open import open_endpoint
        from harness.evaluate.baseline import evaluate_baseline
        from harness.models import model_config, weights_location

        b = cell.baseline
        store = Store(cell.results_dir)
        t0 = time.perf_counter()
        log_path = store.folder("logs") / f"serve-{cell.id}.log"
        endpoint = Endpoint(identity=None, id=cell.endpoint_id, served_model=cell.served_model)
        with open_endpoint(b, endpoint, log_path, cell.cache_dir, config=cell.config_snapshot) as session:
            url, model = session.url, session.model
            t1 = time.perf_counter()
            if cell.served_model is not None:
                log.info("baseline %s: transformers serve is up at %s after %.1f s", b.name, url, t1 - t0)
                tokenizer: str | None = model  # the served folder: its own tokenizer counts if usage is missing
            else:
                tokenizer = weights_location(model_config(b.tokenizer), cell.cache_dir) if b.tokenizer else None
                log.info("baseline %s: sending %s requests to %s", b.name, cell.task.name, b.base_url or "OpenAI")
            # the run's and this baseline's money caps; past one, BudgetStop: no record, answers kept
            with active(session.budget):
                out = evaluate_baseline(cell, url, model, tokenizer)
        refuse_if_mostly_failed(cell, store, out.samples, out.api)
        timings = {"serve_start_s": t1 - t0, "evaluate_s": out.seconds, "total_s": time.perf_counter() - t0}
        record = build_record(
            cell,
            model=model_section(cell),
            finetune={"method": "none"},
            eval=eval_section(cell, out),
            metrics=out.metrics,
            n=out.n,
            timings=timings,
            eval_seconds=out.seconds,
            api=out.api,
            consistency=consistency_section(cell.eval, out.samples),
        )
        return Execution(record, out.samples)


# -- a stored API cell -----------------------------------------------------------------------------------------

PRICE_KEYS = ("currency", "input_per_1m", "cached_input_per_1m", "output_per_1m")


def complete(store: Store, cell_id: str) -> bool:
    """Stored with every sample answered. A cell with failed requests is run again: only those are sent."""
    if not store.has(cell_id, heal=True):
        return False
    return not ((store.load(cell_id).get("api") or {}).get("n_failed") or 0)


def reprice(store: Store, cell: BaselineCell) -> bool:
    """A stored API cell whose price differs from the configured one gets its money recomputed from its stored
    usage (no request is sent): the record and the samples are rewritten with the new price. True if it was."""
    from harness.api.meter import Meter, aggregate
    from harness.api.pricing import cost

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
    record["eval"]["model_args"].update({f"price_{k}": price[k] for k in PRICE_KEYS[1:]}, currency=price["currency"])
    store.write(record, samples)
    log.info("baseline cell %s re-priced from stored usage: %s", cell.id, {k: price[k] for k in PRICE_KEYS})
    return True
