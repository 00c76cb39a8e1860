"""The filters of `harness data synth`: each takes the examples still in, returns the ones it removes and why.

Every filter is optional and they compose in the configured order, except `leakage`, which always runs first:
no example that repeats, exactly or nearly (character 3-gram Jaccard >= NEAR_DUPLICATE, the measure `harness
task check` uses), a validation or test item is ever kept. Each removal names its filter and reason, so the
data card's counts add up: requested = failed + unparsed + removed by each filter + kept.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.tasks.datagen import NEAR_DUPLICATE, comparable


@dataclass
class Candidate:
    index: int  # the teacher request it came from
    row: dict[str, Any]  # shaped like a row of the task's train split
    removed_by: str | None = None
    reason: str | None = None


@dataclass
class Context:
    """What the filters compare against (built once per run from the task)."""

    key_field: str | None  # the task's leakage_field: the text compared for duplicates
    fields: list[str]  # every field the prompt and answer read
    target: str  # the answer's field
    train: list[dict[str, Any]]
    held_out: list[dict[str, Any]]  # validation + test rows: never to be repeated
    reference_json: bool = False  # the answer is JSON (JSON tasks)
    validator: Any = None  # jsonschema validator of the answer, where the task declares a schema
    length: dict[str, tuple[int, int]] | None = None  # {"input"|"answer": (min, max) characters}
    judge: Callable[[list[Candidate]], list[tuple[int | None, str]]] | None = None
    notes: dict[str, Any] = field(default_factory=dict)  # resolved parameters, for the card

    def text(self, row: dict[str, Any]) -> str:
        """The compared text: the leakage field, or every input field when the task names none."""
        if self.key_field:
            return str(row.get(self.key_field, ""))
        return "\n".join(str(row.get(f, "")) for f in self.fields if f != self.target)


def _norm(text: str) -> str:
    return comparable(text)  # the form `harness task check` compares too


def _near(candidates: list[str], against: list[str]) -> list[tuple[float, int]]:
    """For each candidate text, its highest similarity to a text of `against` and which one."""
    if not candidates or not against:
        return [(0.0, -1)] * len(candidates)
    from harness.tasks.check import similarity

    sims = similarity(candidates, against)
    return [(float(row.max()), int(row.argmax())) for row in sims]


def leakage(cands: list[Candidate], ctx: Context) -> list[tuple[Candidate, str]]:
    held = [_norm(ctx.text(r)) for r in ctx.held_out]
    exact = set(held)
    texts = [_norm(ctx.text(c.row)) for c in cands]
    out = []
    for c, t, (best, _) in zip(cands, texts, _near(texts, held), strict=True):
        if t in exact:
            out.append((c, "repeats a validation/test item exactly"))
        elif best >= NEAR_DUPLICATE:
            out.append((c, f"near-duplicate ({best:.2f}) of a validation/test item"))
    return out


def format_check(cands: list[Candidate], ctx: Context) -> list[tuple[Candidate, str]]:
    """Every field is non-empty text; a JSON task's answer parses and conforms to the task's schema."""
    out = []
    for c in cands:
        empty = [f for f in ctx.fields if not str(c.row.get(f) or "").strip()]
        if empty:
            out.append((c, f"empty field(s): {', '.join(empty)}"))
            continue
        if not ctx.reference_json:
            continue
        try:
            answer = json.loads(c.row[ctx.target])
        except (ValueError, TypeError):
            out.append((c, f"`{ctx.target}` is not valid JSON"))
            continue
        if ctx.validator is not None:
            errors = sorted(ctx.validator.iter_errors(answer), key=str)
            if errors:
                out.append((c, f"`{ctx.target}` does not conform to the schema: {errors[0].message[:100]}"))
    return out


def dedup(cands: list[Candidate], ctx: Context) -> list[tuple[Candidate, str]]:
    """Exact and near-duplicates of a train item, and of an earlier kept synthetic example."""
    train = [_norm(ctx.text(r)) for r in ctx.train]
    exact = set(train)
    texts = [_norm(ctx.text(c.row)) for c in cands]
    out = []
    kept: list[str] = []
    for c, t, (best, _) in zip(cands, texts, _near(texts, train), strict=True):
        if t in exact:
            out.append((c, "repeats a train item exactly"))
        elif best >= NEAR_DUPLICATE:
            out.append((c, f"near-duplicate ({best:.2f}) of a train item"))
        elif t in kept or (kept and _near([t], kept)[0][0] >= NEAR_DUPLICATE):
            out.append((c, "duplicate of an earlier synthetic example"))
        else:
            kept.append(t)
    return out


def length(cands: list[Candidate], ctx: Context) -> list[tuple[Candidate, str]]:
    assert ctx.length is not None
    out = []
    for c in cands:
        sizes = {"input": len(ctx.text(c.row)), "answer": len(str(c.row.get(ctx.target, "")))}
        bad = [
            f"{k} has {v} characters, outside [{ctx.length[k][0]}, {ctx.length[k][1]}]"
            for k, v in sizes.items()
            if not ctx.length[k][0] <= v <= ctx.length[k][1]
        ]
        if bad:
            out.append((c, "; ".join(bad)))
    return out


def judge(cands: list[Candidate], ctx: Context) -> list[tuple[Candidate, str]]:
    assert ctx.judge is not None
    out = []
    for c, (verdict, text) in zip(cands, ctx.judge(cands), strict=True):
        if verdict is None:
            out.append((c, f"no verdict from the judge ({text[:60]!r})"))
        elif verdict == 0:
            out.append((c, "the judge graded it INCORRECT"))
    return out


FILTERS: dict[str, Callable[[list[Candidate], Context], list[tuple[Candidate, str]]]] = {
    "leakage": leakage,
    "format": format_check,
    "dedup": dedup,
    "length": length,
    "judge": judge,
}


def length_bounds(ctx: Context, lo: int | None, hi: int | None) -> dict[str, tuple[int, int]]:
    """The length filter's bounds, from the train split: half its shortest and twice its longest input, and the
    same for answers. `lo`/`hi` (data.length.min_chars/max_chars) replace the input's when set."""
    inputs = [len(ctx.text(r)) for r in ctx.train] or [0]
    answers = [len(str(r.get(ctx.target, ""))) for r in ctx.train] or [0]
    return {
        "input": (lo if lo is not None else min(inputs) // 2, hi if hi is not None else 2 * max(inputs)),
        "answer": (min(answers) // 2, 2 * max(answers)),
    }


def apply(cands: list[Candidate], order: list[str], ctx: Context) -> dict[str, int]:
    """Run `leakage` then `order`, marking each removed candidate; {filter: how many it removed}."""
    counts: dict[str, int] = {}
    for name in ["leakage", *order]:
        live = [c for c in cands if c.removed_by is None]
        removed = FILTERS[name](live, ctx) if live else []
        for c, reason in removed:
            c.removed_by, c.reason = name, reason
        counts[name] = len(removed)
    return counts
