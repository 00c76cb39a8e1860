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
    ci = ci95(metric["value"], metric.get("stderr"), metric.get("n") or 0)
    return f"{metric['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


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
        return "unknown"
    return "yes" if ci[0] > chance else f"no (interval reaches {chance:.2f})"


def scores_markdown(task: str, rows: list[dict[str, Any]], chance: float | None = None) -> str:
    if not rows:
        return f"_No stored results for {task} yet: run `harness sweep=cards` (see conf/sweep/)._"
    metrics = list(rows[0]["metrics"])
    primary = rows[0]["task"]["primary_metric"]
    extra = [f"{primary} above chance ({chance:.2f})?"] if chance is not None else []
    head = "| model | items | " + " | ".join([f"{m} [95% CI]" for m in metrics] + extra) + " | cell |"
    sep = "|" + "---|" * (len(metrics) + len(extra) + 3)
    lines = [head, sep]
    for r in rows:
        limit = r["eval"]["limit"]
        items = f"{r['task']['n']}" + (f" (first {limit})" if limit else "")
        cells = [_fmt(r["metrics"][m]) if m in r["metrics"] else "-" for m in metrics]
        if chance is not None:
            cells.append(above_chance(r["metrics"][primary], chance))
        lines.append(f"| {r['model']['display_name']} | {items} | {' | '.join(cells)} | `{r['cell_id']}` |")
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
    path, doc = tasks[task]
    readme = path.parent / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else f"# {task}\n"
    table = scores_markdown(task, card_rows(store.all_records(), task), chance_level(doc))
    block = f"<!-- scores:{task} -->\n{table}\n<!-- /scores:{task} -->"
    pattern = re.compile(rf"<!-- scores:{re.escape(task)} -->.*?<!-- /scores:{re.escape(task)} -->", re.S)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else text.rstrip() + f"\n\n### {task}\n{block}\n"
    )
    readme.write_text(text, encoding="utf-8")
    return readme
