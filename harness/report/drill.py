"""Drill-down data: per task, every item with its input, reference and each row's answer, right or wrong.

The template renders it with autoescaping on: an answer containing `<script>` shows as text and runs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.report.i18n import _, integer
from harness.report.labels import row_label, variant_text

MAX_ITEMS = 300  # per task: enough to read, small enough to open (the per-sample files keep everything)
MAX_CHARS = 4000  # per text field shown; longer text is cut and the cut is marked


def _text(v: Any) -> str:
    s = v if isinstance(v, str) else ("" if v is None else str(v))
    if len(s) <= MAX_CHARS:
        return s
    return s[:MAX_CHARS] + " " + _("[... %(n)s more characters]", n=integer(len(s) - MAX_CHARS))


def drill_down(rows: list[dict[str, Any]], samples: Callable[[str], list[dict]] | None) -> list[dict[str, Any]]:
    """rows: leaderboard rows (task, model, variant, metric, cell_id). Returns one entry per task:
    {task, metric, columns: [row labels], entries: [{key, input, reference, answers: [{output, correct}],
    disagree}], n_items, cut}."""
    if samples is None:
        return []
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_task.setdefault(r["task"], []).append(r)
    out = []
    for task, task_rows in sorted(by_task.items()):
        metric = (task_rows[0].get("metric") or "").split("[")[0]
        columns, per_row = [], []
        for r in task_rows:
            try:
                got = samples(r["cell_id"])
            except FileNotFoundError:  # a record whose samples file was removed: shown without its answers
                continue
            columns.append(r.get("label") or row_label(r["model"], variant_text(r["variant"])))
            per_row.append({f"{s.get('subtask', '')}/{s['doc_id']}": s for s in got})
        if not per_row:
            continue
        keys = sorted(set().union(*per_row), key=lambda k: (k.split("/")[0], int(k.rsplit("/", 1)[1])))
        items = []
        for key in keys[:MAX_ITEMS]:
            first = next(p[key] for p in per_row if key in p)
            answers = []
            for p in per_row:
                s = p.get(key)
                score = None if s is None else (s.get("scores") or {}).get(metric)
                answers.append(
                    {
                        "output": None if s is None else _text(s.get("output")),
                        "correct": None if score is None else bool(score >= 0.5),
                        "score": score,
                    }
                )
            verdicts = {a["correct"] for a in answers if a["correct"] is not None}
            items.append(
                {
                    "key": key,
                    "input": _text(first.get("input")),
                    "reference": _text(first.get("reference")),
                    "answers": answers,
                    "disagree": len(verdicts) > 1,
                }
            )
        out.append(
            {
                "task": task,
                "metric": metric,
                "columns": columns,
                "entries": items,
                "n_items": len(keys),
                "cut": len(keys) > MAX_ITEMS,
            }
        )
    return out
