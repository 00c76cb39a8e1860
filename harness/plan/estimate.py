"""`harness plan <sweep args>` (= `harness <sweep args> --dry-run`): what a sweep would run, and what it costs.

Every job is composed as the sweep would compose it (`-m`, a preset's hydra.sweeper.params), every cell planned
(harness.plan.cells) and looked up in the store: stored (reused), to run, not applicable; training artifacts stored or
to train. Then an estimate of the rest, each figure with its basis:

- API money per baseline cell: the task's real prompts, rendered by lm-eval exactly as the API backend renders
  them (a recording backend answers "" and sends nothing), are looked up in the response cache (a cached answer
  is paid 0; its stored usage is exact) and the others counted with the baseline's tokenizer (the stand-in's
  served model, or `baseline.tokenizer`), else characters / 4. Output tokens: an upper bound (each request's
  `max_tokens`, i.e. baseline.max_tokens or the task's max_gen_toks) and a point estimate (mean completion tokens
  per query of stored records of the same baseline, same task first). Money = pricing.cost(tokens, price);
  providers' prompt-cache discounts are ignored.
- Training device-hours: the planned slice's training tokens (rendered and tokenized as training does, when the
  model's tokenizer is on disk; else tokens per example of stored trainings) / tokens/s of stored trainings of
  the same model and method on this kind of device.
- Evaluation device-hours: items / queries per hour of stored records of the same model, same task first.

Nothing is loaded (a tokenizer at most), nothing is sent, nothing is written to the store.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.spec.cell import BaselineCell, Cell, CellSpec
from harness.store import Store

log = logging.getLogger(__name__)


# -- what is stored ------------------------------------------------------------------------------------------


@dataclass
class Estimate:
    """One figure of the estimate: its value (None: unknown) and how it was obtained."""

    value: float | None
    basis: str

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "basis": self.basis}


@dataclass
class Row:
    kind: str  # cell | baseline | training
    name: str  # model or baseline
    task: str
    method: str
    items: int | None
    state: str  # stored | to run | not applicable | to train | not needed
    id: str
    note: str = ""
    estimate: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Records:
    """Stored records of each results folder, read once and only when an estimate needs them."""

    def __init__(self) -> None:
        self._by_root: dict[Path, list[dict[str, Any]]] = {}

    def of(self, root: Path) -> list[dict[str, Any]]:
        if root not in self._by_root:
            self._by_root[root] = Store(root).all_records() if (root / "records").is_dir() else []
        return self._by_root[root]


def n_items(spec: CellSpec) -> int | None:
    """The items a cell scores: task.limit, or the rows of its split's data file (lm-eval's own tasks: unknown)."""
    limit = spec.task.limit
    if spec.task_spec.yaml_file is None:
        return limit
    from harness.paths import REPO_ROOT
    from harness.tasks import load_task_yaml

    files = (load_task_yaml(spec.task_spec.yaml_file).get("dataset_kwargs") or {}).get("data_files") or {}
    name = files.get(spec.task.split) if isinstance(files, dict) else None
    path = (REPO_ROOT / name) if isinstance(name, str) else None
    if path is None or not path.is_file():
        return limit
    rows = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return rows if limit is None else min(limit, rows)


def baseline_state(store: Store, spec: BaselineCell) -> tuple[str, str]:
    from harness.plan.cells import not_applicable

    why = not_applicable(spec)
    if why:
        return "not applicable", why
    if not store.has(spec.id):  # never heal=True here: a dry run moves no file
        return "to run", ""
    failed = (store.load(spec.id).get("api") or {}).get("n_failed") or 0
    if failed:
        return "to run", f"stored with {failed} failed requests: only those are sent again"
    return "stored", ""


# -- API money -------------------------------------------------------------------------------------------------


def render_requests(spec: BaselineCell) -> list[tuple[dict[str, Any], int]]:
    """(request body, variant) of every request the API backend would send for this cell, rendered by lm-eval
    through the backend's own generate_until; nothing is sent."""
    from harness.api.lm import ChatAPI
    from harness.api.meter import Meter
    from harness.evaluate.lmeval import run_lm_eval

    sent: list[tuple[dict[str, Any], int]] = []

    class Recorder:
        def run(self, bodies: list[dict[str, Any]], variants: list[int]) -> list[tuple[str, Meter]]:
            sent.extend(zip(bodies, variants, strict=True))
            return [("", Meter(usage_source="dry run"))] * len(bodies)

    class DryChatAPI(ChatAPI):
        def __init__(self, max_tokens: int | None, temperature: float) -> None:
            super(ChatAPI, self).__init__()  # lm-eval's LM only: no client, no response cache opened
            self.max_tokens, self.temperature = max_tokens, float(temperature)
            self.caller, self.meters = Recorder(), {}

    b = spec.baseline
    logging.getLogger("lm_eval").setLevel(logging.ERROR)
    run_lm_eval(spec, DryChatAPI(b.max_tokens, b.temperature), None, None)
    return sent


def cache_hits(spec: BaselineCell, keys: list[str]) -> dict[str, dict[str, Any]]:
    """Cached responses of these request keys (absent cache: none). Read without writing beside it: SQLite
    creates -wal/-shm files for any reader of a WAL database, so a cleanly closed cache is opened immutable, and
    one with a write-ahead log (a run in progress, or killed) is read from a copy in a temporary folder."""
    import shutil
    import tempfile

    path = Path(spec.api_cache)
    if not path.is_file() or not keys:
        return {}
    wal = path.with_name(path.name + "-wal")
    try:
        with tempfile.TemporaryDirectory(prefix="harness-plan-") as tmp:
            if wal.exists():
                copy = Path(tmp) / path.name
                shutil.copyfile(path, copy)
                shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
                db = sqlite3.connect(copy)
            else:
                db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro&immutable=1", uri=True)
            try:
                out = {}
                for i in range(0, len(keys), 500):
                    chunk = keys[i : i + 500]
                    marks = ",".join("?" * len(chunk))
                    query = f"SELECT key, response FROM responses WHERE key IN ({marks})"  # noqa: S608
                    out.update({k: json.loads(r) for k, r in db.execute(query, chunk)})
                return out
            finally:
                db.close()
    except (sqlite3.Error, OSError) as e:
        log.warning("the response cache %s cannot be read (%s): every request is counted as new", path, e)
        return {}


def chat_counter(folder: str) -> Any:
    """Prompt tokens as a chat server counts them: the model's chat template applied, generation prompt added."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder)

    def count(messages: list[dict[str, Any]]) -> int:
        if tok.chat_template:
            text = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            return len(tok(text, add_special_tokens=False)["input_ids"])
        return len(tok("\n".join(str(m["content"]) for m in messages))["input_ids"])

    return count


def prompt_counter(spec: BaselineCell) -> tuple[Any, str]:
    """(messages -> prompt tokens, basis): the tokenizer the harness itself counts with when usage is missing
    (the served model's, or baseline.tokenizer), when it is on disk; else characters / 4."""
    from harness.api.client import chars_estimate

    folder = None
    name = spec.served_model.name if spec.served_model is not None else spec.baseline.tokenizer
    if name:
        from harness.models import model_config

        m = spec.served_model if spec.served_model is not None else model_config(name)
        folder = local_folder(m, spec.cache_dir)
        if folder is None:
            why = f"the tokenizer of {m.name} is not on disk (run it once, or `harness prepare {m.name}`)"
    else:
        why = f"baseline {spec.baseline.name} names no tokenizer (baseline.tokenizer)"
    if folder is not None:
        try:
            return chat_counter(folder), f"counted with the {name} tokenizer (chat template)"
        except Exception as e:  # noqa: BLE001 - a tokenizer that will not load: fall back, said so
            why = f"the {name} tokenizer did not load ({type(e).__name__})"
    return (lambda messages: chars_estimate(messages, "")[0]), f"estimated: characters / 4 ({why})"


def local_folder(model: Any, cache: Path) -> str | None:
    """A model's folder on disk, without preparing or downloading anything (None: not there)."""
    if model.source == "embedded":
        from harness.models.embedded import prepared_dir

        folder = prepared_dir(model, cache)
        return str(folder) if (folder / "harness_prepared.json").exists() else None
    if model.local_path:
        folder = Path(model.local_path).expanduser()
        return str(folder) if folder.is_dir() else None
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(model.hub_id, revision=model.revision, local_files_only=True)
    except Exception:  # noqa: BLE001 - not in the hub cache
        return None


def completion_basis(spec: BaselineCell, records: list[dict[str, Any]]) -> tuple[float | None, str]:
    """Mean completion tokens per answered query of stored records of this baseline: same task, else any."""
    mine = [
        r
        for r in records
        if r["model"].get("source") == "api"
        and r["model"]["name"] == spec.baseline.name
        and (r.get("api") or {}).get("n_answered")
    ]
    for pool, where in (
        ([r for r in mine if r["task"]["name"] == spec.task.name], f"on {spec.task.name}"),
        (mine, "on any task"),
    ):
        if pool:
            n = sum(r["api"]["n_answered"] for r in pool)
            tokens = sum(r["api"]["tokens"]["completion"] for r in pool)
            tasks = sorted({r["task"]["name"] for r in pool})
            where = where if where.startswith("on " + spec.task.name) else f"on {', '.join(tasks)}"
            return tokens / n, (
                f"{tokens / n:.1f} per query from {len(pool)} stored cell"
                f"{'s' if len(pool) > 1 else ''} of {spec.baseline.name} {where} ({n} queries)"
            )
    return None, f"unknown: no stored run of {spec.baseline.name}"


def api_estimate(spec: BaselineCell, records: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """(items, the cell's API estimate)."""
    from harness.api.cache import request_key
    from harness.api.pricing import cost, is_priced

    requests = render_requests(spec)
    b = spec.baseline
    price = dataclasses.asdict(b.price)
    key_model = spec.served_model.name if spec.served_model is not None else str(b.model)
    keyed = [
        (request_key(spec.endpoint_id, key_model, body if v == 0 else {**body, "_sample": v}), body)
        for body, v in requests
    ]
    unique = dict(keyed)  # identical requests are sent once (harness.api.client)
    hits = cache_hits(spec, list(unique))
    new = {k: body for k, body in unique.items() if k not in hits}
    count, prompt_basis = prompt_counter(spec)
    prompt = sum(count(body["messages"]) for body in new.values())
    caps = [int(body["max_tokens"]) for body in new.values()]
    mean, out_basis = completion_basis(spec, records)
    point = None if mean is None else sum(min(mean, c) for c in caps)
    upper = sum(caps)

    def money(p: float, c: float | None) -> float | None:
        return None if c is None or not is_priced(price) else cost(p, 0, c, price)  # type: ignore[arg-type]

    cached_cost = [
        cost(h["prompt_tokens"] or 0, h["cached_tokens"] or 0, h["completion_tokens"] or 0, price)
        for h in hits.values()
    ]
    cached_total = sum(c for c in cached_cost if c is not None) if is_priced(price) else None
    point_money = money(prompt, point)
    items = len(requests) // max(1, spec.eval.samples)  # k requests per item with eval.samples = k
    return items, {
        "requests": len(requests),
        "from_cache": len(requests) - len(new) - (len(keyed) - len(unique)),
        "duplicates": len(keyed) - len(unique),
        "new_requests": len(new),
        "prompt_tokens": Estimate(prompt, prompt_basis).as_dict(),
        "output_tokens_upper": Estimate(
            upper, "max_tokens of each new request (baseline.max_tokens, else the task's max_gen_toks)"
        ).as_dict(),
        "output_tokens": Estimate(point, out_basis).as_dict(),
        "currency": price.get("currency", "USD"),
        "priced": is_priced(price),
        "billed_upper": money(prompt, upper),
        "billed": point_money,  # what this run would pay: new requests only
        "cell_total": None if point_money is None or cached_total is None else point_money + cached_total,
        "cached_answers_cost": cached_total,  # their stored usage at the price; paid 0 this run
        "note": "providers' prompt-cache discounts are ignored (every prompt token at the input price)",
    }


# -- device-hours ----------------------------------------------------------------------------------------------


def eval_hours(spec: Cell, items: int | None, records: list[dict[str, Any]], kind: str) -> Estimate:
    mine = [
        r
        for r in records
        if r["model"]["name"] == spec.model.name
        and r["model"].get("source") != "api"
        and ((r.get("eval") or {}).get("device") or {}).get("kind") == kind
        and ((r.get("inference") or {}).get("queries_per_hour") or 0) > 0
    ]
    for pool, where in (
        ([r for r in mine if r["task"]["name"] == spec.task.name], spec.task.name),
        (mine, None),
    ):
        if pool:
            queries = sum(r["inference"]["queries"] for r in pool)
            seconds = sum(r["inference"]["seconds"] for r in pool)
            qph = 3600 * queries / seconds
            tasks = where or ", ".join(sorted({r["task"]["name"] for r in pool}))
            basis = (
                f"{qph:,.0f} queries/h from {len(pool)} stored cell{'s' if len(pool) > 1 else ''} of "
                f"{spec.model.name} on {tasks} ({kind})"
            )
            if items is None:
                return Estimate(None, f"unknown: the number of items is unknown (set task.limit); {basis}")
            return Estimate(items / qph, basis)
    return Estimate(None, f"unknown: no stored evaluation of {spec.model.name} on {kind}")


def training_tokens(spec: Cell, records: list[dict[str, Any]]) -> Estimate:
    """Tokens training processes (all epochs): the planned slice rendered and tokenized as training does when the
    model's tokenizer is on disk, else tokens per example of stored trainings of this model on this data."""
    t, f = spec.train, spec.finetune
    assert t is not None
    folder = local_folder(spec.model, spec.cache_dir)
    if folder is not None:
        try:
            from transformers import AutoTokenizer

            from harness.finetune.data import build_examples
            from harness.models.prompts import use_format

            tok = AutoTokenizer.from_pretrained(folder, trust_remote_code=spec.model.trust_remote_code)
            use_format(tok, spec.model.prompt_format)
            examples = build_examples(t.train_task, tok, t.chat_template, f.n_train, f.seed, f.max_length)
            n_replay = round(f.replay.ratio * len(examples)) if t.replay_task is not None else 0
            tokens = sum(len(e.input_ids) for e in examples)
            if n_replay:
                pool = build_examples(t.replay_task, tok, t.chat_template, None, f.seed, f.max_length)
                tokens += sum(len(e.input_ids) for e in pool[:n_replay])
            return Estimate(
                tokens * f.epochs,
                f"{len(examples) + n_replay} examples tokenized with the "
                f"{spec.model.name} tokenizer x {f.epochs:g} epochs",
            )
        except Exception as e:  # noqa: BLE001 - fall back to stored trainings, said so
            log.info("cannot tokenize the training slice of %s: %s", spec.model.name, e)
    seen = {}
    for r in records:
        ft = r.get("finetune") or {}
        m, d = ft.get("metering") or {}, ft.get("data") or {}
        n = (d.get("n_domain") or 0) + (d.get("n_replay") or 0)
        if (
            r["model"]["name"] == spec.model.name
            and ft.get("train_task") == t.train_task.name
            and m.get("train_tokens")
            and m.get("epochs")
            and n
        ):
            seen[ft.get("artifact_id")] = m["train_tokens"] / (n * m["epochs"])
    if seen:
        per = sum(seen.values()) / len(seen)
        n = f.n_train or n_train_rows(t.train_task)
        if n is not None:
            n = n + round(f.replay.ratio * n)
            return Estimate(
                per * n * f.epochs,
                f"{per:.0f} tokens per example from {len(seen)} stored training"
                f"{'s' if len(seen) > 1 else ''} of {spec.model.name} on {t.train_task.name} x {n} "
                f"examples x {f.epochs:g} epochs",
            )
    return Estimate(
        None,
        f"unknown: the {spec.model.name} tokenizer is not on disk and no stored training of it on {t.train_task.name}",
    )


def n_train_rows(task: Any) -> int | None:
    if task.yaml_file is None:
        return None
    from harness.paths import REPO_ROOT
    from harness.tasks import load_task_yaml

    files = (load_task_yaml(task.yaml_file).get("dataset_kwargs") or {}).get("data_files") or {}
    path = REPO_ROOT / files["train"] if isinstance(files, dict) and "train" in files else None
    if path is None or not path.is_file():
        return None
    return sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def train_hours(spec: Cell, records: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    tokens = training_tokens(spec, records)
    speed: dict[str, tuple[float, float]] = {}  # artifact id -> (tokens, seconds), each training once
    for r in records:
        ft = r.get("finetune") or {}
        m = ft.get("metering") or {}
        if (
            r["model"]["name"] == spec.model.name
            and ft.get("method") == spec.finetune.method
            and (m.get("device") or {}).get("kind") == kind
            and m.get("train_tokens")
            and m.get("train_seconds")
        ):
            speed[ft.get("artifact_id")] = (m["train_tokens"], m["train_seconds"])
    if not speed:
        rate = Estimate(None, f"unknown: no stored training of {spec.model.name} {spec.finetune.method} on {kind}")
    else:
        tps = sum(t for t, _ in speed.values()) / sum(s for _, s in speed.values())
        rate = Estimate(
            tps,
            f"{tps:,.0f} tokens/s from {len(speed)} stored training{'s' if len(speed) > 1 else ''}"
            f" of {spec.model.name} {spec.finetune.method} ({kind})",
        )
    hours = None if tokens.value is None or rate.value is None else tokens.value / rate.value / 3600
    return {"tokens": tokens.as_dict(), "tokens_per_s": rate.as_dict(), "device_hours": hours}


def device_kind(requested: str) -> str:
    if requested == "cpu":
        return "cpu"
    from harness.models.preflight import detect_device

    return detect_device(requested).kind


# -- the plan --------------------------------------------------------------------------------------------------


def plan_rows(cfgs: list[Any]) -> list[Row]:
    from harness.finetune.train import artifact_id, find_artifact
    from harness.plan.cells import plan

    specs: dict[str, CellSpec] = {}
    skipped: list[Row] = []
    for cfg in cfgs:
        if cfg.sweep.stage == "load":
            name = cfg.baseline.name or cfg.model.name
            skipped.append(
                Row(
                    "load",
                    name,
                    cfg.task.name,
                    "-",
                    None,
                    "not planned",
                    "",
                    "sweep.stage=load: `harness load` measures it (not estimated here)",
                )
            )
            continue
        for spec in plan(cfg):
            specs.setdefault(spec.id, spec)
    records, kinds = Records(), {}
    rows: list[Row] = []
    trainings: set[str] = set()

    def kind_of(spec: Cell) -> str:
        if spec.eval.device not in kinds:
            kinds[spec.eval.device] = device_kind(spec.eval.device)
        return kinds[spec.eval.device]

    for spec in specs.values():
        store = Store(spec.results_dir)
        if isinstance(spec, BaselineCell):
            state, note = baseline_state(store, spec)
            row = Row("baseline", str(spec.baseline.name), spec.task.name, "api", None, state, spec.id, note)
            if state == "to run":
                row.items, row.estimate = api_estimate(spec, records.of(spec.results_dir))
            else:
                row.items = n_items(spec)
            rows.append(row)
            continue
        state = "stored" if store.has(spec.id) else "to run"
        row = Row("cell", spec.model.name, spec.task.name, spec.finetune.method, n_items(spec), state, spec.id)
        if spec.train is not None and state == "to run":
            aid = artifact_id(spec.train)
            if aid not in trainings:
                trainings.add(aid)
                found = find_artifact(spec.train, spec.artifacts_dir) is not None
                t = Row(
                    "training",
                    spec.model.name,
                    spec.train.train_task.name,
                    spec.finetune.method,
                    spec.finetune.n_train,
                    "stored" if found else "to train",
                    aid,
                )
                if not found:
                    t.estimate = train_hours(spec, records.of(spec.results_dir), kind_of(spec))
                rows.append(t)
        if state == "to run":
            kind = kind_of(spec)
            row.estimate = {
                "device_hours": eval_hours(spec, row.items, records.of(spec.results_dir), kind).as_dict(),
                "device": kind,
            }
        rows.append(row)
    return rows + skipped


def totals(rows: list[Row]) -> dict[str, Any]:
    def add(values: list[float | None]) -> tuple[float, int]:
        return sum(v for v in values if v is not None), sum(v is None for v in values)

    api = [r.estimate for r in rows if r.kind == "baseline" and r.state == "to run"]
    by_currency: dict[str, dict[str, Any]] = {}
    for e in api:
        c = by_currency.setdefault(e["currency"], {"billed": [], "billed_upper": []})
        c["billed"].append(e["billed"])
        c["billed_upper"].append(e["billed_upper"])
    money = {
        cur: {
            "billed": add(v["billed"])[0],
            "billed_upper": add(v["billed_upper"])[0],
            "cells_unknown": add(v["billed"])[1],
        }
        for cur, v in by_currency.items()
    }
    train = add([r.estimate["device_hours"] for r in rows if r.kind == "training" and r.state == "to train"])
    ev = add([r.estimate["device_hours"]["value"] for r in rows if r.kind == "cell" and r.state == "to run"])
    count = {s: sum(r.state == s for r in rows if r.kind != "training") for s in ("stored", "to run", "not applicable")}
    return {
        "cells": count,
        "trainings_to_run": sum(r.state == "to train" for r in rows),
        "api_money": money,
        "training_device_hours": {"value": train[0], "unknown": train[1]},
        "eval_device_hours": {"value": ev[0], "unknown": ev[1]},
    }


def _money(v: float | None, currency: str) -> str:
    return "unknown" if v is None else f"{v:.6f} {currency}"


def _hours(v: float | None) -> str:
    return "unknown" if v is None else f"{v:.4f} h"


def render(rows: list[Row], total: dict[str, Any]) -> str:
    out = [f"{'what':9s} {'model / baseline':26s} {'task':20s} {'method':10s} {'items':>6s}  {'state':14s} id"]
    for r in rows:
        items = "?" if r.items is None else str(r.items)
        out.append(
            f"{r.kind:9s} {r.name:26s} {r.task:20s} {r.method:10s} {items:>6s}  {r.state:14s} {r.id}"
            + (f"  ({r.note})" if r.note else "")
        )
    out.append("")
    todo = any(r.estimate for r in rows)
    out.append(
        "estimate of what is to run (nothing was loaded or sent):"
        if todo
        else "nothing to run: every cell is stored or not applicable (nothing was loaded or sent)"
    )
    for r in rows:
        e = r.estimate
        if not e:
            continue
        if r.kind == "baseline":
            cur = e["currency"]
            out.append(
                f"  {r.name} x {r.task}: {e['requests']} requests, {e['from_cache']} answered from the "
                f"response cache (paid 0), {e['new_requests']} to send"
            )
            out.append(f"    prompt tokens {e['prompt_tokens']['value']:,}: {e['prompt_tokens']['basis']}")
            pt = e["output_tokens"]["value"]
            out.append(
                f"    output tokens {'unknown' if pt is None else f'{pt:,.0f}'}: {e['output_tokens']['basis']}; "
                f"at most {e['output_tokens_upper']['value']:,} ({e['output_tokens_upper']['basis']})"
            )
            if not e["priced"]:
                out.append("    money: unpriced (baseline.price has no input/output price)")
            else:
                out.append(
                    f"    money to be billed: {_money(e['billed'], cur)} (at most "
                    f"{_money(e['billed_upper'], cur)}); the cell's total at the price, cached answers "
                    f"included: {_money(e['cell_total'], cur)}; {e['note']}"
                )
        elif r.kind == "training":
            tokens = "unknown" if e["tokens"]["value"] is None else f"{e['tokens']['value']:,.0f}"
            out.append(
                f"  train {r.name} {r.method} on {r.task}: {_hours(e['device_hours'])}; tokens {tokens} "
                f"({e['tokens']['basis']}); speed: {e['tokens_per_s']['basis']}"
            )
        else:
            d = e["device_hours"]
            out.append(
                f"  evaluate {r.name} {r.method} x {r.task} ({r.items} items): {_hours(d['value'])} ({d['basis']})"
            )
    c = total["cells"]
    out.append(
        f"totals: {c['stored']} cells stored, {c['to run']} to run, {c['not applicable']} not applicable, "
        f"{total['trainings_to_run']} trainings to run"
    )
    for cur, m in total["api_money"].items():
        unknown = f" ({m['cells_unknown']} cells unknown, not included)" if m["cells_unknown"] else ""
        out.append(f"  API money: {m['billed']:.6f} {cur} (at most {m['billed_upper']:.6f}){unknown}")
    for key, what in (("training_device_hours", "training"), ("eval_device_hours", "evaluation")):
        h = total[key]
        unknown = f" + {h['unknown']} unknown" if h["unknown"] else ""
        out.append(f"  {what} device-hours: {h['value']:.4f}{unknown}")
    return "\n".join(out)
