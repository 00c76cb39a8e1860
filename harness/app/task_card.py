"""`harness task card NAME|--all`: write the measured scores of the embedded (untuned) models into a task's
data card (README.md in its folder), from stored records only. Nothing is typed by hand: re-running the cells
named in the table reproduces every number (they are content-addressed; tests check one).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.compare.stats import ci95
from harness.errors import HarnessError, did_you_mean
from harness.paths import REPO_ROOT
from harness.report import i18n
from harness.report.i18n import _, dec
from harness.store import Store
from harness.tasks import discover, harness_meta


def card_rows(records: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """Latest untuned embedded-model record per model for this task."""
    latest: dict[str, dict[str, Any]] = {}
    for r in records:
        if r["task"]["name"] != task or r["finetune"]["method"] != "none" or r["model"]["source"] != "embedded":
            continue
        if r["model"]["name"] not in latest or r["created_at"] > latest[r["model"]["name"]]["created_at"]:
            latest[r["model"]["name"]] = r
    return [latest[k] for k in sorted(latest)]


def _fmt(metric: dict[str, Any]) -> str:
    ci = ci95(metric["value"], metric.get("stderr"), metric.get("n") or 0)
    return dec(metric["value"], 3) + (f" [{dec(ci[0], 3)}, {dec(ci[1], 3)}]" if ci else "")


def chance_level(doc: dict[str, Any]) -> float | None:
    """Expected accuracy of a random guess on a multiple-choice task: mean of 1/options over its test rows."""
    if doc.get("output_type") != "multiple_choice":
        return None
    rel = ((doc.get("dataset_kwargs") or {}).get("data_files") or {}).get(doc.get("test_split", "test"))
    path = REPO_ROOT / rel if rel else None
    if path is None or not path.exists():
        return None
    with path.open(encoding="utf-8") as f:
        sizes = [len(row["choices"]) for row in map(json.loads, f) if isinstance(row.get("choices"), list)]
    return sum(1 / n for n in sizes) / len(sizes) if sizes else None


def above_chance(metric: dict[str, Any], chance: float) -> str:
    ci = ci95(metric["value"], metric.get("stderr"), metric.get("n") or 0)
    if ci is None:
        return _("unknown")
    return _("yes") if ci[0] > chance else _("no (interval reaches %(chance)s)", chance=dec(chance, 2))


def card_lang(doc: dict[str, Any] | None) -> str:
    """The language a task's card is written in: the task's own (`metadata.harness.language`) when the report
    is written in it (harness.report.i18n.LANGS), else English."""
    lang = harness_meta(doc or {}).get("language")
    return lang if lang in i18n.LANGS else "en"


def scores_markdown(task: str, rows: list[dict[str, Any]], chance: float | None = None, lang: str | None = None) -> str:
    """The card's scores table and its note, in `lang` (default: the task's own language, card_lang)."""
    if lang is None:
        found = discover().get(task)
        lang = card_lang(found[1] if found else None)
    with i18n.use(lang):
        return _scores_markdown(task, rows, chance)


def _scores_markdown(task: str, rows: list[dict[str, Any]], chance: float | None) -> str:
    if not rows:
        return _("_No stored results for %(task)s yet: run `harness sweep=cards` (see conf/sweep/)._", task=task)
    metrics = list(rows[0]["metrics"])
    primary = rows[0]["task"]["primary_metric"]
    extra = (
        [_("%(metric)s above chance (%(chance)s)?", metric=primary, chance=dec(chance, 2))]
        if chance is not None
        else []
    )
    head = [
        _("model"),
        _("items"),
        *[_("%(metric)s [95%% CI]", metric=m) for m in metrics],
        *extra,
        _("cell"),
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        limit = r["eval"]["limit"]
        # counts as they are (no grouping): `(first N)` is read back by tests/integration/test_card.py
        n = str(r["task"]["n"])
        items = _("%(n)s (first %(limit)s)", n=n, limit=str(limit)) if limit else n
        cells = [_fmt(r["metrics"][m]) if m in r["metrics"] else "-" for m in metrics]
        if chance is not None:
            cells.append(above_chance(r["metrics"][primary], chance))
        lines.append(f"| {r['model']['display_name']} | {items} | {' | '.join(cells)} | `{r['cell_id']}` |")
    env = rows[0]["environment"]["packages"]
    lines.append("")
    lines.append(
        _(
            "Untuned models, greedy decoding, lm-eval %(lm_eval)s, transformers %(transformers)s, %(device)s; "
            "recorded %(date)s.",
            lm_eval=env.get("lm_eval"),
            transformers=env.get("transformers"),
            device=rows[0]["eval"]["device"]["kind"],
            date=max(r["created_at"] for r in rows)[:10],
        )
    )
    return "\n".join(lines)


def write_card(task: str, store: Store, lang: str | None = None) -> Path:
    """Write the task's scores into its README.md, in `lang` (default: the task's own language, card_lang)."""
    tasks = discover()
    if task not in tasks:
        raise HarnessError(did_you_mean(task, list(tasks), "task"))
    path, doc = tasks[task]
    readme = path.parent / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else f"# {task}\n"
    lang = lang or card_lang(doc)
    with i18n.use(lang):
        table = scores_markdown(task, card_rows(store.all_records(), task), chance_level(doc), lang)
    block = f"<!-- scores:{task} -->\n{table}\n<!-- /scores:{task} -->"
    pattern = re.compile(rf"<!-- scores:{re.escape(task)} -->.*?<!-- /scores:{re.escape(task)} -->", re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + f"\n\n### {task}\n{block}\n"
    readme.write_text(text, encoding="utf-8")
    return readme
