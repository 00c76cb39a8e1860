"""`harness task card NAME|--all`: write the measured scores of the embedded (untuned) models into a task's
data card (README.md in its folder), from stored records only. Nothing is typed by hand: re-running the cells
named in the table reproduces every number (they are content-addressed; tests check one).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, did_you_mean
from harness.report.table import Z95
from harness.store import Store
from harness.tasks import discover


def card_rows(records: list[dict[str, Any]], task: str) -> list[dict[str, Any]]:
    """Latest untuned embedded-model record per model for this task."""
    latest: dict[str, dict[str, Any]] = {}
    for r in records:
        if (
            r["task"]["name"] != task
            or r["finetune"]["method"] != "none"
            or r["model"]["source"] != "embedded"
        ):
            continue
        if r["model"]["name"] not in latest or r["created_at"] > latest[r["model"]["name"]]["created_at"]:
            latest[r["model"]["name"]] = r
    return [latest[k] for k in sorted(latest)]


def _fmt(metric: dict[str, Any]) -> str:
    v, se = metric["value"], metric.get("stderr")
    if not isinstance(se, (int, float)):
        return f"{v:.3f}"
    return f"{v:.3f} [{max(0.0, v - Z95 * se):.3f}, {min(1.0, v + Z95 * se):.3f}]"


def scores_markdown(task: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"_No stored results for {task} yet: run `harness sweep=cards` (see conf/sweep/)._"
    metrics = list(rows[0]["metrics"])
    head = "| model | items | " + " | ".join(f"{m} [95% CI]" for m in metrics) + " | cell |"
    sep = "|" + "---|" * (len(metrics) + 3)
    lines = [head, sep]
    for r in rows:
        limit = r["eval"]["limit"]
        items = f"{r['task']['n']}" + (f" (first {limit})" if limit else "")
        cells = " | ".join(_fmt(r["metrics"][m]) if m in r["metrics"] else "-" for m in metrics)
        lines.append(f"| {r['model']['display_name']} | {items} | {cells} | `{r['cell_id']}` |")
    env = rows[0]["environment"]["packages"]
    lines.append("")
    lines.append(
        f"Untuned models, greedy decoding, lm-eval {env.get('lm_eval')}, transformers {env.get('transformers')}, "
        f"{rows[0]['eval']['device']['kind']}; recorded {max(r['created_at'] for r in rows)[:10]}."
    )
    return "\n".join(lines)


def write_card(task: str, store: Store) -> Path:
    tasks = discover()
    if task not in tasks:
        raise HarnessError(did_you_mean(task, list(tasks), "task"))
    readme = tasks[task][0].parent / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else f"# {task}\n"
    block = f"<!-- scores:{task} -->\n{scores_markdown(task, card_rows(store.all_records(), task))}\n<!-- /scores:{task} -->"
    pattern = re.compile(rf"<!-- scores:{re.escape(task)} -->.*?<!-- /scores:{re.escape(task)} -->", re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + f"\n\n### {task}\n{block}\n"
    )
    readme.write_text(text, encoding="utf-8")
    return readme
