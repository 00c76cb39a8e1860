"""LLM-as-judge: a second model grades each stored answer of a cell against its reference.

For free-form answers that string metrics grade badly. The judge is any OpenAI-compatible endpoint (a
`conf/baseline/` entry, so also the locally served stand-in) given a versioned prompt (harness/jobs/judge/prompts/);
it answers CORRECT or INCORRECT per item. Judgements are stored apart from the cell (results/judgements/), keyed
by the cell and the judge's identity (endpoint, model, prompt text), so a cell is judged once per judge and its
own record never changes. The judge's tokens and money are metered like an API baseline's and reported apart
from the candidate's cost. docs/metrics.md defines the judge score and its agreement with the task's metric.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.config.schema import JudgeConfig
from harness.store import Store
from harness.store.record import SCHEMA_VERSION, now_iso
from harness.util import content_id, versioned_prompt

log = logging.getLogger(__name__)
PROMPTS = Path(__file__).parent / "prompts"
VERDICT = re.compile(r"^\W*(INCORRECT|CORRECT)\W*$", re.IGNORECASE)
MAX_FIELD_CHARS = 6000  # a runaway answer is cut before it reaches the judge (the cut is marked)


def load_prompt(version: str) -> str:
    return versioned_prompt(PROMPTS, version, "judge.prompt")


def judge_identity(j: JudgeConfig, endpoint_identity: Any) -> dict[str, Any]:
    """`endpoint_identity`: the plan's Endpoint.identity for the judge's conf/baseline/ entry."""
    e = j.endpoint
    return {
        "name": j.name,
        "provider": e.provider,
        "model": e.model,
        "endpoint": endpoint_identity,
        "prompt": {"version": j.prompt, "sha256": hashlib.sha256(load_prompt(j.prompt).encode()).hexdigest()},
        "max_tokens": j.max_tokens,
        "temperature": 0.0,
    }


def judgement_id(cell_id: str, identity: dict[str, Any]) -> str:
    return content_id({"schema_version": SCHEMA_VERSION, "cell_id": cell_id, "judge": identity})


def question_text(row: dict[str, Any]) -> str:
    """What the model was asked: the last user message of a chat prompt, or the plain prompt."""
    prompt = row.get("input")
    if isinstance(prompt, str):
        try:
            messages = json.loads(prompt)
        except ValueError:
            return prompt
        if isinstance(messages, list):
            users = [m.get("content", "") for m in messages if isinstance(m, dict) and m.get("role") == "user"]
            return str(users[-1]) if users else prompt
    return json.dumps(prompt, ensure_ascii=False) if prompt is not None else ""


def _cut(text: Any) -> str:
    text = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    return text if len(text) <= MAX_FIELD_CHARS else text[:MAX_FIELD_CHARS] + " [...cut]"


def judge_body(template: str, row: dict[str, Any], max_tokens: int) -> dict[str, Any]:
    content = template.format(
        question=_cut(question_text(row)),
        reference=_cut(row.get("reference")),
        answer=_cut(row.get("output")),
    )
    return {"messages": [{"role": "user", "content": content}], "max_tokens": max_tokens, "temperature": 0.0}


def parse_verdict(text: str) -> int | None:
    """1 for CORRECT, 0 for INCORRECT: the reply must be that one word (case, spaces and punctuation aside).
    Anything else ("not correct", an echo of "CORRECT or INCORRECT", an essay) is unparsed, never guessed."""
    m = VERDICT.match((text or "").strip())
    return None if m is None else int(m.group(1).upper() == "CORRECT")


def summarise(rows: list[dict[str, Any]], metric: str | None) -> dict[str, Any]:
    """Judge score over the items it gave a verdict on, with a 95 % interval, and how often it agrees with the
    task's own metric (binary scores) on the same items."""
    import numpy as np

    from harness.compare.stats import ci95

    verdicts = [r["verdict"] for r in rows if r["verdict"] is not None]
    n = len(verdicts)
    value = float(np.mean(verdicts)) if n else None
    stderr = float(np.std(verdicts, ddof=1) / np.sqrt(n)) if n > 1 else None
    ci = ci95(value, stderr, n, binary=True) if value is not None else None  # verdicts are 0/1: Wilson
    name = (metric or "").split("[")[0]
    both = [
        (r["verdict"], r["metric_score"])
        for r in rows
        if r["verdict"] is not None and r.get("metric_score") in (0, 1, 0.0, 1.0)
    ]
    return {
        "n_items": len(rows),
        "n_judged": n,
        "n_unparsed": sum(r["verdict"] is None and r["api"]["error"] is None for r in rows),
        "n_failed": sum(r["api"]["error"] is not None for r in rows),
        "score": {
            "value": value,
            "stderr": stderr,
            "ci_low": None if ci is None else ci[0],
            "ci_high": None if ci is None else ci[1],
        },
        "agreement_with_metric": {
            "metric": name or None,
            "rate": sum(v == int(s) for v, s in both) / len(both) if both else None,
            "n": len(both),
        },
    }


def judge_cell(cfg: Any, cell_id: str) -> str | None:
    """Judge one stored cell with cfg.judge; idempotent (a stored judgement is reused). Returns the judgement id,
    or None when the cell is not stored or its task is scored by log-likelihood (nothing free-form to judge)."""
    from omegaconf import OmegaConf

    from harness.api.meter import Meter, aggregate
    from harness.api.open import open_endpoint
    from harness.paths import absolute, resolve

    j: JudgeConfig = OmegaConf.to_object(cfg.judge) if OmegaConf.is_config(cfg.judge) else cfg.judge
    store = Store(resolve(cfg.paths.results))
    if not store.has(cell_id):
        return None
    record = store.load(cell_id)
    samples = store.load_samples(cell_id)
    if any("loglikelihoods" in s for s in samples):
        log.info("judge: cell %s is multiple choice; nothing free-form to judge", cell_id)
        return None
    from harness.plan.cells import plan_endpoint

    e = j.endpoint
    endpoint = plan_endpoint(e)  # the value a baseline cell on the same conf/baseline/ entry gets
    identity = judge_identity(j, endpoint.identity)
    jid = judgement_id(cell_id, identity)
    if store.has_judgement(jid) and not json.loads(store.judgement_path(jid).read_text())["n_failed"]:
        log.info("judgement %s of cell %s by %s is already stored", jid, cell_id, j.name)
        return jid  # (one with failed requests is judged again: the answered ones come from the cache, free)
    template = load_prompt(j.prompt)
    bodies = [judge_body(template, s, j.max_tokens) for s in samples]
    price = asdict(e.price)
    with open_endpoint(
        e,
        endpoint,
        store.folder("logs") / f"judge-{jid}.log",
        resolve(cfg.paths.cache),
        config=cfg,
        api_cache=absolute(cfg.paths.api_cache),
        who=f"judge:{jid}",
        seed=int(cfg.eval.seed),
        budget_key="judge.endpoint.budget_usd",
        bodies=bodies,
    ) as session:
        assert session.caller is not None
        answers = session.caller.run(bodies)
    metric = (record.get("primary") or {}).get("metric")
    name = (metric or "").split("[")[0]
    rows: list[dict[str, Any]] = []
    meters: list[Meter] = []
    for s, (text, meter) in zip(samples, answers, strict=True):
        rows.append(
            {
                "doc_id": s["doc_id"],
                **({"subtask": s["subtask"]} if "subtask" in s else {}),
                "verdict": parse_verdict(text) if meter.error is None else None,
                "judge_output": text,
                "metric_score": (s.get("scores") or {}).get(name),
                "api": meter.as_dict(),
            }
        )
        meters.append(meter)
    judgement = {
        "schema_version": SCHEMA_VERSION,
        "judgement_id": jid,
        "cell_id": cell_id,
        "created_at": now_iso(),
        "judge": {**identity, "display_name": e.display_name or j.name, "stand_in": e.stand_in},
        **summarise(rows, metric),
        "api": aggregate(meters, price),  # the judge's own tokens and money, apart from the candidate's
    }
    store.write_judgement(judgement, rows)
    log.info(
        "judged cell %s with %s: %s of %d items correct, %d unparsed",
        cell_id,
        j.name,
        judgement["score"]["value"],
        len(rows),
        judgement["n_unparsed"],
    )
    return jid
