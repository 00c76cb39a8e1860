"""`harness load`: measure an endpoint under load, level by level, and store what was measured.

The endpoint, first that applies: any OpenAI-compatible server the user started (`load.url` + `load.model`: vLLM,
SGLang, another machine's `transformers serve`); an API baseline (`baseline=`, conf/baseline/, including the
locally served stand-in); or a harness model (`model=`, with `finetune=` its trained artifact: harness/load/
served.py), which the harness serves with `transformers serve` and continuous batching. Prompts are the task's test
split as lm-eval renders them for a chat API, a fixed seed picking `load.n_prompts`; output is capped as the
task caps it (its max_gen_toks).

Storage (under paths.results/load/), content-addressed and append-only like cells:
  levels/<level id>.json  one level's per-request rows, wall time and how busy the machine was. The level id
                          hashes what changes its measurement (endpoint, prompts, mode, level, requests, device),
                          not the target or the other levels: an interrupted run re-sends only missing levels,
                          and a new target is applied to stored levels without sending anything.
  <load id>.json          the load record: identity (+ levels and target), every level's figures (recomputed
                          from its rows by harness.load.figures), capacity at the target. docs/results-schema.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.load.figures import Slo, capacity, level_figures
from harness.models.prompts import is_chat
from harness.store.store import folder as store_folder

log = logging.getLogger(__name__)

LOAD_SCHEMA = 1
FIDELITY_MIN = 0.98  # an open level whose sends reached less of the requested rate measured a lighter load


def digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


def prompts_for(task_spec: Any, n: int, seed: int, chat: bool = True) -> tuple[list[Any], int, list[str]]:
    """(prompts of n test items picked by `seed`, max output tokens, stop strings) as lm-eval prompts the
    endpoint: chat messages for a chat API or a chat model; for a plain model (no chat template) the prompt text
    itself, as lm-eval hands it a base model. The stop strings are the task's `until`."""
    from harness.finetune.data import load_task_object, seeded_slice

    if task_spec.dir is None:  # lm-eval's own tasks are scored, not served: their prompts need their harness
        raise HarnessError(
            f"task {task_spec.name} ships with lm-eval; a load test takes its prompts from a project "
            "task (tasks/, e.g. task=helpdesk_en)."
        )
    task = load_task_object(task_spec)
    if task.OUTPUT_TYPE != "generate_until":
        raise HarnessError(
            f"task {task_spec.name} is {task.OUTPUT_TYPE}: a load test needs a generation task "
            "(its answers are what a deployed model streams), e.g. task=helpdesk_en."
        )
    docs = list(task.test_docs() if task.has_test_docs() else task.validation_docs())
    picked = seeded_slice(docs, n, seed)

    def as_messages(history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return json.dumps(history)  # what lm-eval hands a chat API: the messages themselves

    if chat:
        prompts = [
            json.loads(task.fewshot_context(d, num_fewshot=0, apply_chat_template=True, chat_template=as_messages))
            for d in picked
        ]
    else:
        prompts = [task.fewshot_context(d, num_fewshot=0) for d in picked]
    kwargs = task.config.generation_kwargs or {}
    until = kwargs.get("until") or []
    return prompts, int(kwargs.get("max_gen_toks", 256)), [until] if isinstance(until, str) else list(until)


def mode_identity(mode: str) -> dict[str, Any]:
    """The mode as the level identity names it; an open loop also names its arrival schedule (generator.ARRIVALS),
    so that open levels measured on an earlier schedule are measured again, never reused."""
    from harness.load.generator import ARRIVALS

    return {"mode": mode, "arrivals": ARRIVALS} if mode == "open" else {"mode": mode}


def level_id(base: dict[str, Any], mode: str, level: float, requests: int) -> str:
    return digest({**base, **mode_identity(mode), "level": level, "requests": requests})


def run_level(
    target: Any,
    prompts: list,
    max_tokens: int,
    mode: str,
    level: float,
    requests: int,
    seed: int,
    max_in_flight: int,
    pids: list[int],
) -> dict[str, Any]:
    """Send one level; returns its stored form (rows, wall, machine, generator fidelity)."""
    from harness.busy import Busy
    from harness.load.generator import closed_loop, open_loop

    with Busy(pids) as busy:
        if mode == "closed":
            rows, wall = asyncio.run(closed_loop(target, prompts, max_tokens, int(level), requests))
        else:
            rows, wall = asyncio.run(open_loop(target, prompts, max_tokens, level, requests, seed, max_in_flight))
    out = {"mode": mode, "level": level, "requests": requests, "wall_s": wall, "rows": rows, "machine": busy.section()}
    if mode == "open":
        out["generator"] = fidelity(rows, level)
    return out


# The open-loop generator schedules about 200 requests/s on two cores (bench/load_generator.py); above this rate
# its lag, not the server, would decide the figures.
MAX_OPEN_RATE = 1000.0
MAX_LEVEL_S = 3600.0  # an open-loop level's schedule, first request to last: longer is a typo, not a test
_CONNECTION_ERRORS = (
    "ClientConnectorError",
    "ClientConnectionError",
    "ServerDisconnectedError",
    "ClientOSError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "ClientConnectionResetError",
    "OSError",
)


def connection_failures(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows whose request never reached a server that answers (refused, reset, gone mid-answer). Rows stored
    before errors had a kind are told by the exception's name."""
    from harness.load.generator import CONNECTION

    return [
        r
        for r in rows
        if r.get("error")
        and (
            r.get("error_kind") == CONNECTION
            or ("error_kind" not in r and str(r["error"]).split(":")[0] in _CONNECTION_ERRORS)
        )
    ]


def level_problems(lc: Any) -> list[str]:
    """Levels the generator cannot offer as named, refused before anything is sent (a million users built a
    million coroutines before the first request, and measured the generator)."""
    out = []
    for level in lc.levels:
        if not math.isfinite(level) or level <= 0:
            out.append(f"{level:g}: a level must be a positive number")
        elif lc.mode == "closed" and (level != int(level) or level > lc.requests_per_level):
            out.append(
                f"{level:g} users: closed-loop levels are whole numbers of users, at most "
                f"load.requests_per_level={lc.requests_per_level} (more users than requests never "
                "all send at once)"
            )
        elif lc.mode == "closed" and level > lc.max_in_flight:
            out.append(f"{level:g} users: above load.max_in_flight={lc.max_in_flight} connections")
        elif lc.mode == "open" and (lc.requests_per_level - 1) / level > MAX_LEVEL_S:
            out.append(
                f"{level:g} requests/s: {lc.requests_per_level} requests at that rate take "
                f"{(lc.requests_per_level - 1) / level:,.0f} s, over {MAX_LEVEL_S:g} s for one level"
            )
        elif lc.mode == "open" and level > MAX_OPEN_RATE:
            out.append(
                f"{level:g} requests/s: above {MAX_OPEN_RATE:g}/s, the most this generator schedules on "
                "time (bench/load_generator.py); the figures would measure the generator"
            )
    return out


def fidelity(rows: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    """Did the generator offer the load asked for? achieved = (requests - 1) / span of their send times, against
    the requested rate (the schedule's own rate is exactly that: generator.schedule; kept to tell a schedule
    from a sender that fell behind); lag = sent - scheduled. Below 98 % of the requested rate: fell behind."""
    sent = sorted(r["sent_s"] for r in rows)
    planned = sorted(r["scheduled_s"] for r in rows)
    n = len(rows)
    achieved = (n - 1) / (sent[-1] - sent[0]) if n > 1 and sent[-1] > sent[0] else None
    scheduled = (n - 1) / (planned[-1] - planned[0]) if n > 1 and planned[-1] > planned[0] else None
    lags = sorted(r["sent_s"] - r["scheduled_s"] for r in rows)
    over_requested = achieved / rate if achieved and rate > 0 else None
    return {
        "requested_rate": rate,
        "scheduled_rate": scheduled,
        "achieved_rate": achieved,
        "achieved_over_requested": over_requested,
        "achieved_over_scheduled": achieved / scheduled if achieved and scheduled else None,
        "lag_p99_s": lags[min(n - 1, int(0.99 * n))] if n else None,
        "fell_behind": over_requested is not None and over_requested < FIDELITY_MIN,
    }


def summarise(levels: list[dict[str, Any]], slo: Slo) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """Stored levels -> [{level, figures, machine, generator, level_id, kv_pages}] and capacity at the target. A level
    measured on a contended machine, or where the generator fell behind, does not count toward capacity."""
    out = []
    for lv in sorted(levels, key=lambda x: x["level"]):
        fig = level_figures(lv["rows"], lv["wall_s"], slo)
        trusted = not lv["machine"]["contended"] and not (lv.get("generator") or {}).get("fell_behind")
        fig["meets_target"] = fig["meets_target"] and trusted
        out.append(
            {
                "level": lv["level"],
                "level_id": lv["level_id"],
                "figures": fig,
                "machine": lv["machine"],
                "generator": lv.get("generator"),
                "trusted": trusted,
                "kv_pages": lv.get("kv_pages"),  # the KV cache of a server the harness started (null: not one)
            }
        )
    return out, capacity(out)


def load(raw: Any) -> Path:
    """The whole stage for a composed config (conf: load.*, baseline=..., task=...). Returns the record path."""
    from omegaconf import OmegaConf

    cfg = OmegaConf.to_object(raw)  # typed; `raw` (the DictConfig) is what the planner reads
    from harness.config.schema import BaselineConfig, LoadConfig, TaskConfig
    from harness.secrets import redact
    from harness.store.record import now_iso
    from harness.store.store import atomic_write_text
    from harness.tasks import load_task

    lc: LoadConfig = cfg.load
    b: BaselineConfig = cfg.baseline
    task: TaskConfig = cfg.task
    spec = load_task(task)
    if lc.mode not in ("closed", "open"):
        raise HarnessError(f"load.mode={lc.mode}: must be closed (N concurrent users) or open (Poisson arrivals)")
    if not lc.levels:
        raise HarnessError("load.levels is empty: give the concurrencies (closed) or request rates (open) to test")
    root = store_folder(Path(os.path.expanduser(str(cfg.paths.results))), "load")
    endpoint, price, device = _endpoint_identity(cfg, raw)
    # the prompt format the cells were evaluated with (harness/plan/cells.py prompt_choice): a model's chat turn
    # or text; an API's messages, or (plain) the rendered text as one user message
    if _kind(cfg) == "model":
        chat, one_message = _model_cell(raw).apply_chat_template, False
    else:
        from harness.plan.cells import prompt_choice

        chat = True
        one_message = not prompt_choice(None, cfg.eval, task)[0]
    prompts, max_tokens, until = prompts_for(spec, lc.n_prompts, lc.seed, chat and not one_message)
    if one_message:
        prompts = [[{"role": "user", "content": p}] for p in prompts]
    slo = Slo(lc.ttft_p95_s, lc.tpot_p95_s, lc.max_error_rate)
    # what the measurement depends on: the device itself, not its price (a new price re-uses stored levels)
    measured_on = {k: device.get(k) for k in ("kind", "device_name", "count", "devices", "cpus", "profile")}
    base = {
        "schema": LOAD_SCHEMA,
        "endpoint": endpoint,
        "device": measured_on,
        "task": {"name": spec.name, "content_sha256": spec.content_sha256},
        "prompts": {
            "n": len(prompts),
            "seed": lc.seed,
            "sha256": digest(prompts),
            "max_tokens": max_tokens,
            "stop": until,
            "chat": chat,
        },
    }
    paid = _kind(cfg) == "baseline" and b.serve is None and b.api_key_env is not None
    if paid and not lc.paid:
        raise HarnessError(
            f"baseline={b.name} is a paid API: a load test sends {lc.requests_per_level} requests per "
            f"level. Opt in with load.paid=true (capped by load.max_requests={lc.max_requests} and "
            "load.budget)."
        )
    bad = level_problems(lc)
    if bad:
        raise HarnessError("load.levels cannot be offered (nothing was sent):\n  " + "\n  ".join(bad))
    if lc.requests_per_level * len(lc.levels) > lc.max_requests:
        raise HarnessError(
            f"{len(lc.levels)} levels x {lc.requests_per_level} requests exceed load.max_requests="
            f"{lc.max_requests}; raise it or send fewer."
        )
    stored, todo = [], []
    for level in sorted(lc.levels):
        lid = level_id(base, lc.mode, float(level), lc.requests_per_level)
        path = root / "levels" / f"{lid}.json"
        kept = json.loads(path.read_text()) if path.is_file() else None
        if kept is not None and not connection_failures(kept["rows"]):
            stored.append(kept)
        else:  # not measured yet, or stored by an older harness while its server was gone: measured again
            todo.append((float(level), lid, path))
    stop = None
    if todo:
        log.info("load: %d level(s) stored, %d to measure", len(stored), len(todo))
        cap = money_cap(raw, lc, b, price) if paid else None
        served_by = _target(cfg, raw, prompts, max_tokens)
        with served_by as (target, pids):
            target = replace(target, stop=tuple(until))
            spent, ratio = 0.0, 1.0  # this run's money; metered / estimated prompt tokens, the worst so far
            for level, lid, path in todo:
                if cap is not None:
                    worst = level_worst_case(prompts, lc.requests_per_level, max_tokens, price, ratio)
                    if spent + worst > cap.usd:
                        stop = {
                            "level": level,
                            "cap": cap.key,
                            "cap_usd": cap.usd,
                            "spent_usd": spent,
                            "level_worst_case_usd": worst,
                        }
                        log.warning(
                            "load: stopped by the budget before %s-loop level %g: it could cost up to "
                            "%.4f USD and %.4f USD is spent in this run, together over %s = %.4f USD; "
                            "it and the levels after it are not sent, the %d measured level(s) are "
                            "stored",
                            lc.mode,
                            level,
                            worst,
                            spent,
                            cap.key,
                            cap.usd,
                            len(stored),
                        )
                        break
                lv = run_level(
                    target, prompts, max_tokens, lc.mode, level, lc.requests_per_level, lc.seed, lc.max_in_flight, pids
                )
                lost = connection_failures(lv["rows"])  # the server went away: a measurement of nothing
                failed = [r for r in lv["rows"] if r["error"]]
                if lost or len(failed) == len(lv["rows"]):
                    how = (
                        "every request"
                        if len(failed) == len(lv["rows"])
                        else f"{len(lost)} of {len(lv['rows'])} requests"
                    )
                    causes = "; ".join(sorted({r["error"] for r in (lost or failed)})[:3])
                    raise HarnessError(
                        f"{how} of {lc.mode}-loop level {level:g} failed ({causes}); it is not stored "
                        "(the levels before it are) and the next run measures it again. "
                        + (
                            "The server could not be reached: check that it is running."
                            if lost
                            else "Check the endpoint and run again."
                        )
                    )
                lv.update(level_id=lid, created_at=now_iso(), price=price)
                if served_by.kv_pages is not None:  # a server the harness started: its cache's size (kv_pages)
                    lv["kv_pages"] = served_by.kv_pages
                spent += _cost(lv["rows"], price) or 0.0
                ratio = prompt_ratio(lv["rows"], prompts, ratio)
                # a finished level is kept even if a later one fails; an error row may quote a key a server echoed
                atomic_write_text(path, redact(json.dumps(lv)))
                stored.append(lv)
                log.info("load: %s level %g measured (%s)", lc.mode, level, path.name)
    levels, cap = summarise(stored, slo)
    identity = {
        **base,
        "device": device,
        **mode_identity(lc.mode),
        "levels": sorted(float(x) for x in lc.levels),
        "requests_per_level": lc.requests_per_level,
        "slo": asdict(slo),
    }
    record = {
        "kind": "load",
        "schema_version": LOAD_SCHEMA,
        "load_id": digest(identity),
        "created_at": now_iso(),
        "identity": identity,
        "levels": levels,
        "capacity": cap,
        "target": slo.describe(),
        "price": price,
        "cost": _cost([r for lv in stored for r in lv["rows"]], price),
        # a paid API's levels not sent because their worst case would have passed the money cap (else null)
        "stopped_by_budget": stop,
    }
    path = root / f"{record['load_id']}.json"
    atomic_write_text(path, redact(json.dumps(record, indent=1)))
    return path


def money_cap(raw: Any, lc: Any, b: Any, price: dict[str, Any] | None) -> Any:
    """The tightest money cap on a paid API's load run (a budget.Cap: key and USD), or None without one. The
    caps: load.budget, and as for an evaluation of this baseline, budget.max_usd and baseline.budget_usd. They
    count what this load run pays (not other jobs of a sweep: the load generator does not go through the
    response cache's ledger)."""
    from harness.api.budget import Cap, budget_for, check_cap
    from harness.api.pricing import is_priced

    caps = list(budget_for(raw, b).caps)
    own = check_cap(lc.budget, "load.budget")
    if own is not None:
        caps.append(Cap("load.budget", own, b.name))
    if not caps:
        return None
    if not price or not is_priced(price):
        raise HarnessError(
            f"{caps[0].key} is set but baseline={b.name} is unpriced: a cap cannot be checked "
            "without a price (set its price.input_per_1m and price.output_per_1m)."
        )
    return min(caps, key=lambda c: c.usd)


def _prompt_estimate(messages: list[dict[str, str]] | str) -> int:
    """Prompt tokens before sending, estimated as the API client estimates them (characters / 4)."""
    from harness.api.client import chars_estimate

    if isinstance(messages, str):  # a plain model's prompt text
        messages = [{"role": "user", "content": messages}]
    return chars_estimate(messages, "")[0]


def level_worst_case(prompts: list, requests: int, max_tokens: int, price: dict[str, Any], ratio: float = 1.0) -> float:
    """The most one level can cost (budget.worst_case per request): request i's prompt (prompts[i % len]) at its
    estimate x `ratio` tokens at the input price, plus max_tokens at the output price."""
    from harness.api.budget import worst_case

    return sum(
        worst_case(math.ceil(_prompt_estimate(prompts[i % len(prompts)]) * ratio), max_tokens, price)
        for i in range(requests)
    )


def prompt_ratio(rows: list[dict[str, Any]], prompts: list, ratio: float) -> float:
    """The worst metered / estimated prompt tokens so far: an estimate below what the API billed scales the
    later levels' worst case up by that ratio (as the API client does for its reservations)."""
    for r in rows:
        est = _prompt_estimate(prompts[r["i"] % len(prompts)])
        if r.get("prompt_tokens") and est > 0:
            ratio = max(ratio, r["prompt_tokens"] / est)
    return ratio


def _cost(rows: list[dict[str, Any]], price: dict[str, Any] | None) -> float | None:
    """A paid API's money for these requests, from their usage (None: no price)."""
    if not price:
        return None
    from harness.api.pricing import cost, is_priced

    if not is_priced(price):
        return None
    return sum(cost(r.get("prompt_tokens") or 0, 0, r.get("completion_tokens") or 0, price) or 0.0 for r in rows)


def _endpoint_identity(cfg: Any, raw: Any) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
    """(what answers, its API price or None, the device a self-served model runs on)."""
    lc, b = cfg.load, cfg.baseline
    if _kind(cfg) == "url":
        if not lc.url or not lc.model:
            raise HarnessError("load.url is set: also set load.model, the model name that server expects")
        device: dict[str, Any] = {"kind": "external", "profile": lc.device_profile}
        if lc.device_profile:  # the user says what the server runs on: priced as that profile
            from harness.config.options import load_option
            from harness.config.schema import HardwareConfig

            hw = load_option("hardware", lc.device_profile, HardwareConfig)
            device.update(price_per_hour=hw.price_per_hour, currency=hw.currency, as_of=hw.as_of, devices=1)
        return (
            {"url": lc.url, "model": lc.model, "model_key": lc.model_key, "artifact_id": lc.artifact_id},
            None,
            device,
        )
    if _kind(cfg) == "model":
        if cfg.model.name == "none":
            raise HarnessError(
                "nothing to load: set model=<name> (served by the harness), baseline=<name> "
                "(conf/baseline/) or load.url=... load.model=..."
            )
        return _model_identity(cfg, raw)
    if b.name is None:
        raise HarnessError("load.endpoint=baseline but baseline=none: name one (conf/baseline/)")
    from harness.plan.cells import plan_endpoint

    ep = plan_endpoint(b)
    if b.serve is None:
        return (
            {"baseline": b.name, "provider": b.provider, "model": b.model, "endpoint": ep.identity},
            asdict(b.price),
            {"kind": "api"},
        )
    from harness.compare.hardware import priced_as
    from harness.config.schema import HardwareConfig
    from harness.models.preflight import detect_device

    d = detect_device(b.serve.device)
    hw = priced_as(cfg.hardware or HardwareConfig(), d.kind, d.name, d.count)
    serve = {
        "continuous_batching": b.serve.continuous_batching,
        "dtype": b.serve.dtype,
        "cb_num_blocks": b.serve.cb_num_blocks,
        "cb_max_batch_tokens": b.serve.cb_max_batch_tokens,
    }
    return (
        {
            "baseline": b.name,
            "endpoint": ep.identity,
            "serve": serve,
            "model_key": ep.served_model.name if ep.served_model else None,
        },
        None,
        hw,
    )


def _kind(cfg: Any) -> str:
    """What answers (load.endpoint); `auto` outside the CLI: url if set, else baseline if named, else model."""
    lc = cfg.load
    if lc.endpoint != "auto":
        return lc.endpoint
    return "url" if lc.url else "baseline" if cfg.baseline.name else "model"


def _model_cell(cfg: Any) -> Any:
    """The planned cell of `model=` (+ `finetune=`): what the harness serves for this load test."""
    from harness.plan.cells import plan_cells

    return plan_cells(cfg)[-1]


def _serve_device(cfg: Any) -> str:
    d = cfg.load.serve_device
    if d != "auto":
        return d
    from harness.models.preflight import detect_device

    return detect_device("auto").kind


def _model_identity(cfg: Any, raw: Any) -> tuple[dict[str, Any], None, dict[str, Any]]:
    from harness.compare.hardware import priced_as
    from harness.config.schema import HardwareConfig
    from harness.models.preflight import detect_device
    from harness.plan.cells import model_identity

    cell = _model_cell(raw)
    aid = None
    if cell.train is not None:
        from harness.finetune.train import artifact_id

        aid = artifact_id(cell.train)
    d = detect_device(_serve_device(cfg))
    hw = priced_as(cfg.hardware or HardwareConfig(), d.kind, d.name, d.count)
    from harness.config.schema import ServeConfig

    s = ServeConfig(model=cell.model.name)  # the server's sizes, as _Endpoint starts it: they shape its latency
    serve = {
        "server": "transformers serve",
        "continuous_batching": True,
        "device": d.kind,
        "cb_num_blocks": s.cb_num_blocks,
        "cb_max_batch_tokens": s.cb_max_batch_tokens,
    }
    return (
        {"model": model_identity(cell.model), "model_key": cell.model.name, "artifact_id": aid, "serve": serve},
        None,
        hw,
    )


PAGE_TOKENS = 256  # a page of transformers' paged KV cache (ContinuousBatchingConfig.page_size)


def kv_pages(prompt_tokens: list[int], max_tokens: int, users: int, cap: int) -> int:
    """Pages of the KV cache for serving a load test: every request the test has in flight at once held whole
    (the longest prompt plus max_tokens, in whole pages), one page spare, at most `cap` (ServeConfig's
    cb_num_blocks). No request then waits for a page, so latency is the model's as with the cap, and the server
    holds only what the test needs (each page of Gemma-3-270M's cache is about 15 MB resident on a CPU)."""
    per_request = math.ceil((max(prompt_tokens, default=0) + max_tokens) / PAGE_TOKENS)
    return max(1, min(cap, users * per_request + 1))


def _prompt_tokens(folder: str, prompts: list, trust: bool) -> list[int]:
    """Each prompt's tokens as the served model's tokenizer counts them (its chat template for messages)."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=trust)
    counts = []
    for p in prompts:
        if isinstance(p, str):
            counts.append(len(tok(p)["input_ids"]))
            continue
        ids = tok.apply_chat_template(p, add_generation_prompt=True, tokenize=True)
        counts.append(len(ids["input_ids"] if hasattr(ids, "keys") else ids))
    return counts


class _target:
    """The endpoint for the length of a `with`: a URL, or a server started for it; yields (Target, pids of
    processes that are part of the measurement, for the busy-machine check). `prompts`, `max_tokens`: what the
    test sends, to size a server the harness starts (`kv_pages`), whose pages end up in `self.kv_pages`."""

    def __init__(self, cfg: Any, raw: Any, prompts: list | None = None, max_tokens: int = 0):
        self.cfg, self.raw = cfg, raw
        self.prompts, self.max_tokens = prompts or [], max_tokens
        self.ctx: Any = None
        self.kv_pages: int | None = None

    def __enter__(self) -> tuple[Any, list[int]]:
        import psutil

        from harness.api.open import open_endpoint
        from harness.load.generator import Target
        from harness.plan.cells import plan_endpoint

        lc, b = self.cfg.load, self.cfg.baseline
        if _kind(self.cfg) == "url":
            key = os.environ.get(lc.api_key_env, "EMPTY") if lc.api_key_env else "EMPTY"
            return Target(lc.url, lc.model, key, lc.timeout_s, lc.deadline_s), []
        log_path = store_folder(Path(os.path.expanduser(str(self.cfg.paths.results))), "logs") / "load-server.log"
        if _kind(self.cfg) == "model":  # a harness model (base or fine-tuned), served for this run
            from harness.api.serve import served
            from harness.config.schema import ServeConfig
            from harness.load.served import servable_folder

            cell = _model_cell(self.raw)
            folder, _ = servable_folder(cell)
            s = ServeConfig(model=self.cfg.model.name)
            chat = is_chat(cell.model.prompt_format)
            users = int(max(lc.levels)) if lc.mode == "closed" else lc.max_in_flight
            counts = _prompt_tokens(folder, self.prompts, cell.model.trust_remote_code)
            self.kv_pages = kv_pages(counts, self.max_tokens, users, s.cb_num_blocks or 16)
            log.info(
                "load: serving %s with %d KV-cache page(s) of %d tokens: %d request(s) at once of up to %d prompt "
                "+ %d output tokens",
                cell.model.name,
                self.kv_pages,
                PAGE_TOKENS,
                users,
                max(counts, default=0),
                self.max_tokens,
            )
            self.ctx = served(
                folder,
                log_path,
                _serve_device(self.cfg),
                s.dtype,
                True,
                s.startup_timeout_s,
                self.kv_pages,
                s.cb_max_batch_tokens,
                chat,
            )
            url = self.ctx.__enter__()
            pids = [p.pid for p in psutil.Process().children(recursive=True)]
            return Target(url, folder, "EMPTY", lc.timeout_s, lc.deadline_s), pids
        ep = plan_endpoint(b)
        cache = Path(os.path.expanduser(str(self.cfg.paths.cache)))
        self.ctx = open_endpoint(b, ep, log_path, cache, config=self.raw)
        session = self.ctx.__enter__()
        pids = [p.pid for p in psutil.Process().children(recursive=True)]  # the server we started, if any
        return Target(
            session.url or "https://api.openai.com/v1",
            session.model,
            session.key,
            lc.timeout_s,
            lc.deadline_s,
        ), pids

    def __exit__(self, *exc: Any) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(*exc)
