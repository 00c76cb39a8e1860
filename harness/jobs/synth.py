"""`harness data synth`: training examples for a task written by a teacher model, filtered, stored by content.

The teacher is any conf/baseline/ entry (a provider, or the locally served stand-in), called through the same
client, response cache, metering and budgets as an API baseline: its tokens and money are recorded, and a re-run
sends nothing (the finished set is found by its id; a set with other filters replays the teacher's answers from
the cache). Each request shows the task's own prompt and `shots` seed examples from its train split (a
different draw per request) and asks for one new example as a JSON object with the task's row fields.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.config.schema import DATA_FILTERS, BaselineConfig, DataConfig, JudgeConfig
from harness.data import filters as F
from harness.data.sets import DATASET_SCHEMA_VERSION, RECORD, TRAIN, datasets_root, file_sha256
from harness.data.shape import data_files, target_field
from harness.errors import HarnessError
from harness.store.store import folder as store_folder
from harness.tasks.datagen import rng
from harness.util import content_id, versioned_prompt

log = logging.getLogger(__name__)
PROMPTS = Path(__file__).parent / "synth_prompts"


def load_prompt(version: str, key: str) -> str:
    return versioned_prompt(PROMPTS, version, key)


def prompt_identity(version: str, key: str) -> dict[str, str]:
    return {"version": version, "sha256": hashlib.sha256(load_prompt(version, key).encode()).hexdigest()}


MODES = ("new", "rewrite")


def prompt_name(d: DataConfig) -> str:
    return d.prompt or ("v1" if d.mode == "new" else "rewrite_v1")


def check_data_config(d: DataConfig, judge: JudgeConfig) -> None:
    problems = []
    if d.mode not in MODES:
        problems.append(f"data.mode={d.mode!r}: use new (whole new examples) or rewrite (a seed's input reworded)")
    if d.n < 1 or d.seeds < 1:
        problems.append(f"data.n={d.n} and data.seeds={d.seeds} must be at least 1")
    if not 1 <= d.shots <= d.seeds:
        problems.append(f"data.shots={d.shots} must be between 1 and data.seeds={d.seeds}")
    if not 0 <= d.temperature <= 2 or d.max_tokens < 1:
        problems.append("data.temperature must be in [0, 2] and data.max_tokens at least 1")
    unknown = [f for f in d.filters if f not in DATA_FILTERS]
    if unknown:
        problems.append(f"data.filters: unknown {unknown}; known: {', '.join(DATA_FILTERS)} (leakage is always on)")
    if len(set(d.filters)) != len(d.filters):
        problems.append("data.filters names a filter twice")
    if "judge" in d.filters and not judge.name:
        problems.append("data.filters has judge but no judge is set: add judge=local-smollm2 (or another conf/judge/)")
    if problems:
        raise HarnessError("; ".join(problems) + ".")


def _rows(path: Path) -> list[dict[str, Any]]:
    from harness.tasks.check import read_rows

    problems: list[str] = []
    rows = [r for _, r in read_rows(path, problems)]
    if problems:
        raise HarnessError(f"{path}: {problems[0]} (see `harness task check`).")
    return rows


def seeded(rows: list[Any], k: int, seed: int, salt: str) -> list[Any]:
    return rng(seed, salt).sample(rows, min(k, len(rows)))


def request_bodies(
    template: str,
    instruction: str,
    seeds: list[dict[str, Any]],
    keys: list[str],
    target: str,
    reference_json: bool,
    d: DataConfig,
) -> list[dict[str, Any]]:
    """One chat request per example asked for; request i shows its own seeded draw of `shots` seed examples.
    A JSON answer is shown as an object (as the teacher should write it), not as an escaped string."""

    def shown(row: dict[str, Any]) -> str:
        obj = {k: row.get(k) for k in keys}
        if reference_json:
            try:
                obj[target] = json.loads(obj[target])
            except (ValueError, TypeError):
                pass
        return json.dumps(obj, ensure_ascii=False)

    bodies = []
    for i in range(d.n):
        demos = seeded(seeds, d.shots, d.seed, f"request:{i}")
        content = (
            template.replace("{instruction}", instruction)
            .replace("{shots}", str(len(demos)))
            .replace("{examples}", "\n".join(shown(r) for r in demos))
            .replace("{keys}", ", ".join(keys))
        )
        bodies.append(
            {
                "messages": [{"role": "user", "content": content}],
                "max_tokens": d.max_tokens,
                "temperature": d.temperature,
            }
        )
    return bodies


def rewrite_bodies(template: str, picked: list[dict[str, Any]], field: str, d: DataConfig) -> list[dict[str, Any]]:
    """rewrite mode: request i asks for seed picked[i]'s `field` in other words."""
    return [
        {
            "messages": [
                {"role": "user", "content": template.replace("{field}", field).replace("{text}", str(r.get(field, "")))}
            ],
            "max_tokens": d.max_tokens,
            "temperature": d.temperature,
        }
        for r in picked
    ]


def parse_rewrite(text: str, seed: dict[str, Any], field: str, keys: list[str]) -> tuple[dict[str, Any] | None, str]:
    """(the seed's row with `field` replaced by the reply's first non-empty line, "") or (None, why not). A
    leading "question:" label and surrounding quotes are dropped; the rest of the row stays the seed's."""
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    if not lines:
        return None, "empty reply"
    line = lines[0]
    if line.lower().startswith(f"{field.lower()}:"):
        line = line[len(field) + 1 :].strip()
    line = line.strip("\"'`*").strip()
    if not line:
        return None, "empty reply"
    return {k: (line if k == field else seed.get(k)) for k in keys}, ""


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"the key {next(k for k in keys if keys.count(k) > 1)!r} appears twice")
    return dict(pairs)


def parse_reply(text: str, keys: list[str], target: str, reference_json: bool) -> tuple[dict[str, Any] | None, str]:
    """(row, "") from the first JSON object in a reply (a ```json fence or words around it are allowed), or
    (None, why not). Values must be text; a JSON task's answer may be an object, stored as its JSON text."""
    start = (text or "").find("{")
    if start < 0:
        return None, "no JSON object in the reply"
    try:
        obj, _ = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys).raw_decode(text[start:])
    except ValueError as e:
        return None, f"not valid JSON ({str(e).split(':')[0][:80]})"
    missing = [k for k in keys if k not in obj]
    if missing:
        return None, f"missing key(s) {', '.join(missing)}"
    row: dict[str, Any] = {}
    for k in keys:
        v = obj[k]
        if k == target and reference_json and isinstance(v, (dict, list)):
            v = json.dumps(v, ensure_ascii=False)
        if not isinstance(v, str):
            return None, f"`{k}` is {type(v).__name__}, not text"
        row[k] = v
    return row, ""


def row_keys(doc: dict[str, Any], fields: set[str], target: str) -> list[str]:
    """The row's keys in the order the prompt reads them, the answer last: a teacher writing the input before the
    answer writes an answer to that input (sorted keys put `answer` first, and small teachers then ramble)."""
    text = str(doc.get("doc_to_text") or "")
    inputs = sorted((f for f in fields if f != target), key=lambda f: (text.find("{{" + f), text.find(f), f))
    return [*inputs, target]


def teacher_identity(e: BaselineConfig) -> dict[str, Any]:
    from harness.plan.cells import plan_endpoint

    return {"name": e.name, "provider": e.provider, "model": e.model, "endpoint": plan_endpoint(e).identity}


def dataset_identity(spec: Any, teacher: BaselineConfig, d: DataConfig, judge: JudgeConfig) -> dict[str, Any]:
    judged = None
    if "judge" in d.filters:
        judged = {
            **teacher_identity(judge.endpoint),
            "judge": judge.name,
            "prompt": prompt_identity(d.judge_prompt, "data.judge_prompt"),
        }
    return {
        "schema_version": DATASET_SCHEMA_VERSION,
        "task": {"name": spec.name, "version": spec.version, "content_sha256": spec.content_sha256},
        "teacher": teacher_identity(teacher),
        "prompt": prompt_identity(prompt_name(d), "data.prompt"),
        "seeds": {"n": d.seeds, "seed": d.seed},
        # (the mode only when it is not the first one, so ids of sets made before it existed stay the same)
        **({"mode": d.mode} if d.mode != "new" else {}),
        "shots": d.shots if d.mode == "new" else 1,
        "n": d.n,
        "temperature": d.temperature,
        "max_tokens": d.max_tokens,
        "filters": {"order": list(d.filters), "length": asdict(d.length), "judge": judged},
    }


def call(cfg: Any, e: BaselineConfig, bodies: list[dict[str, Any]], who: str, budget_key: str, log_path: Path):
    """Send `bodies` to a conf/baseline/ entry through the metered, cached client: [(text, Meter)]. Two requests
    that happen to be the same (the same seed draw) are two samples, not one answer used twice."""
    from harness.api.open import open_endpoint, sample_variants
    from harness.paths import absolute, resolve
    from harness.plan.cells import plan_endpoint

    variants = sample_variants(bodies)
    with open_endpoint(
        e,
        plan_endpoint(e),
        log_path,
        resolve(cfg.paths.cache),
        config=cfg,
        api_cache=absolute(cfg.paths.api_cache),
        who=who,
        seed=int(cfg.eval.seed),
        budget_key=budget_key,
        bodies=bodies,
        variants=variants,
    ) as session:
        assert session.caller is not None
        return session.caller.run(bodies, variants)


def _money(aggregate: dict[str, Any] | None) -> float | None:
    if aggregate is None:
        return 0.0
    return aggregate["cost"]["total"] if aggregate["cost"]["priced"] else None


def synthesize(cfg: Any) -> tuple[Path, bool]:
    """Generate, filter and store one data set for cfg.task with cfg.baseline as the teacher. Returns (folder,
    reused): a set already stored under the same id is returned as it is, and nothing is sent."""
    from omegaconf import OmegaConf

    from harness.api.meter import aggregate
    from harness.paths import resolve
    from harness.store.record import now_iso
    from harness.store.store import atomic_write_text
    from harness.tasks import harness_meta, load_task, load_task_doc

    def obj(node: Any) -> Any:
        return OmegaConf.to_object(node) if OmegaConf.is_config(node) else node

    d: DataConfig = obj(cfg.data)
    teacher: BaselineConfig = obj(cfg.baseline)
    judge: JudgeConfig = obj(cfg.judge)
    if not teacher.name:
        raise HarnessError("no teacher: add teacher=<a conf/baseline/ entry>, e.g. teacher=local-smollm2.")
    check_data_config(d, judge)
    spec = load_task(obj(cfg.task))
    if spec.yaml_file is None:
        raise HarnessError(f"task {spec.name} ships with lm-eval; the data stage works on project task folders.")
    doc = load_task_doc(spec.yaml_file)
    meta = harness_meta(doc)
    files = data_files(doc, spec.name)
    if "train" not in files:
        raise HarnessError(f"task {spec.name} has no train split to take seed examples from.")
    identity = dataset_identity(spec, teacher, d, judge)
    did = content_id(identity)
    root = datasets_root(resolve(cfg.paths.results))
    folder = root / did
    if (folder / RECORD).is_file():
        log.info("data set %s is already stored: nothing sent", did)
        return folder, True

    from harness.tasks.check import template_fields

    target = target_field(doc, spec.name, "harness data synth")
    keys = row_keys(doc, template_fields(doc, spec.yaml_file), target)
    reference_json = meta.get("reference_json") == target
    train = _rows(files["train"])
    held = [r for s in ("validation", "test") if s in files for r in _rows(files[s])]
    seeds = seeded(train, d.seeds, d.seed, "seeds")
    instruction = str(doc.get("doc_to_text") or "")
    template = load_prompt(prompt_name(d), "data.prompt")
    field = meta.get("leakage_field") or next(k for k in keys if k != target)
    if d.mode == "rewrite":
        picked = [seeded(seeds, 1, d.seed, f"request:{i}")[0] for i in range(d.n)]
        bodies = rewrite_bodies(template, picked, field, d)
    else:
        bodies = request_bodies(template, instruction, seeds, keys, target, reference_json, d)

    logs = store_folder(resolve(cfg.paths.results), "logs")
    log.info("data set %s: asking teacher %s for %d examples of %s", did, teacher.name, d.n, spec.name)
    answers = call(cfg, teacher, bodies, f"data:{did}", "baseline.budget_usd", logs / f"data-{did}.log")

    cands: list[F.Candidate] = []
    status: list[dict[str, Any]] = []
    for i, (text, meter) in enumerate(answers):
        if meter.error:
            row, why = None, f"request failed: {meter.error}"
        elif d.mode == "rewrite":
            row, why = parse_rewrite(text, picked[i], field, keys)
        else:
            row, why = parse_reply(text, keys, target, reference_json)
        status.append(
            {
                "index": i,
                "prompt": bodies[i]["messages"][0]["content"],
                "reply": text,
                "api": meter.as_dict(),
                "status": "failed" if meter.error else ("unparsed" if row is None else "parsed"),
                "reason": why or None,
            }
        )
        if row is not None:
            cands.append(F.Candidate(i, {"id": f"synth-{did[:8]}-{i:04d}", **row}))

    ctx = F.Context(
        meta.get("leakage_field"),
        keys,
        target,
        train,
        held,
        reference_json,
        _validator(spec.yaml_file.parent, meta) if reference_json else None,
    )
    ctx.length = F.length_bounds(ctx, d.length.min_chars, d.length.max_chars)
    judge_meters: list[Any] = []
    if "judge" in d.filters:
        ctx.judge = _judge_fn(cfg, judge, d, instruction, target, did, judge_meters, logs)
    removed = F.apply(cands, list(d.filters), ctx)
    for c in cands:
        s = status[c.index]
        s["status"], s["filter"], s["reason"] = (
            ("kept", None, None) if c.removed_by is None else ("removed", c.removed_by, c.reason)
        )
        s["row"] = c.row
    kept = [c.row for c in cands if c.removed_by is None]

    teacher_cost = aggregate([m for _, m in answers], asdict(teacher.price))
    judge_cost = aggregate(judge_meters, asdict(judge.endpoint.price)) if judge_meters else None
    t_money, j_money = _money(teacher_cost), _money(judge_cost)
    counts = {
        "requested": d.n,
        "failed": sum(s["status"] == "failed" for s in status),
        "unparsed": sum(s["status"] == "unparsed" for s in status),
        "removed": removed,
        "kept": len(kept),
    }
    assert counts["failed"] + counts["unparsed"] + sum(removed.values()) + counts["kept"] == d.n
    work = root / f".{did}.partial"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    atomic_write_text(work / TRAIN, "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in kept))
    atomic_write_text(work / "generated.jsonl", "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in status))
    from harness.data.recheck import check_set

    check = check_set(spec.name, work / TRAIN)
    record = {
        "schema_version": DATASET_SCHEMA_VERSION,
        "dataset_id": did,
        "created_at": now_iso(),
        "identity": identity,
        "task": identity["task"],
        "teacher": {
            "name": teacher.name,
            "display_name": teacher.display_name or teacher.name,
            "stand_in": teacher.stand_in,
            "provider": teacher.provider,
            "model": teacher.model,
        },
        "judge": None if judge_cost is None else {"name": judge.name, "display_name": judge.endpoint.display_name},
        "seed_ids": [r.get("id") for r in seeds],
        "counts": counts,
        "filters": [{"name": n, "removed": removed[n], "params": _filter_params(n, ctx, d)} for n in removed],
        "cost": {
            "currency": teacher.price.currency,
            "teacher": teacher_cost,
            "judge": judge_cost,
            # what generating the set costs at list price (cached answers included): a data set's cost
            "total": None if t_money is None or j_money is None else round(t_money + j_money, 10),
            # what this run paid (teacher and judge): 0 when every answer came from the response cache
            "billed_this_run": sum((a["cost"].get("billed_this_run") or 0) for a in (teacher_cost, judge_cost) if a),
        },
        "task_check": check,
        "files": {"train": TRAIN, "train_sha256": file_sha256(work / TRAIN), "generated": "generated.jsonl"},
    }
    atomic_write_text(work / RECORD, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    from harness.data.card import write_card

    write_card(work, record)
    if folder.exists():  # an earlier run died after renaming? never: the record is what marks a set finished
        shutil.rmtree(folder)
    os.replace(work, folder)
    log.info(
        "data set %s: %d of %d examples kept (%s); cost %s %s",
        did,
        len(kept),
        d.n,
        ", ".join(f"{k} removed {v}" for k, v in removed.items()),
        record["cost"]["total"],
        record["cost"]["currency"],
    )
    return folder, False


def _validator(folder: Path, meta: dict[str, Any]) -> Any:
    if not meta.get("schema"):
        return None
    import jsonschema

    schema = json.loads((folder / meta["schema"]).read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def _filter_params(name: str, ctx: F.Context, d: DataConfig) -> dict[str, Any]:
    from harness.tasks.datagen import NEAR_DUPLICATE

    if name in ("leakage", "dedup"):
        return {"field": ctx.key_field or "every input field", "near_duplicate_at": NEAR_DUPLICATE}
    if name == "length":
        return {k: list(v) for k, v in (ctx.length or {}).items()}
    if name == "judge":
        return {"prompt": d.judge_prompt}
    if name == "format":
        return {"json_answer": ctx.reference_json, "schema": ctx.validator is not None}
    return {}


def _judge_fn(
    cfg: Any, judge: JudgeConfig, d: DataConfig, instruction: str, target: str, did: str, meters: list[Any], logs: Path
):
    """The judge filter's grader: one request per example still in, metered (its meters go to `meters`)."""
    from harness.jobs.judge import parse_verdict

    template = load_prompt(d.judge_prompt, "data.judge_prompt")

    def grade(cands: list[F.Candidate]) -> list[tuple[int | None, str]]:
        bodies = [
            {
                "messages": [
                    {
                        "role": "user",
                        "content": template.replace("{instruction}", instruction)
                        .replace("{target}", target)
                        .replace(
                            "{example}", json.dumps({k: v for k, v in c.row.items() if k != "id"}, ensure_ascii=False)
                        ),
                    }
                ],
                "max_tokens": judge.max_tokens,
                "temperature": 0.0,
            }
            for c in cands
        ]
        answers = call(
            cfg,
            judge.endpoint,
            bodies,
            f"data-judge:{did}",
            "judge.endpoint.budget_usd",
            logs / f"data-judge-{did}.log",
        )
        meters.extend(m for _, m in answers)
        return [(None if m.error else parse_verdict(t), m.error or t) for t, m in answers]

    return grade
