"""The capability view: per task, each row's score on every capability the task measures, for a radar chart
(base and tuned overlaid). One number per axis hides where a model is strong and where it fails; this shows it.

A task's axes, from what its records and per-item scores hold:
  categories  when its items carry a `category` (the general suite: world knowledge, science, arithmetic,
              commonsense, reading): the primary metric's mean over each category's items
  metrics     otherwise, every metric of the task in [0, 1] where higher is better (the OTA task's intent F1,
              slot F1, JSON validity; the extraction task's schema validity, field accuracy; ...): its value
A task with fewer than 3 axes has no radar (a polygon needs three). Rows without per-item scores are left out of
a category radar, not guessed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from harness.report.labels import row_label

MIN_AXES = 3
MAX_ROWS = 12  # lines per radar: beyond this a radar is unreadable; the rows with the best scores are kept


def _category_scores(samples: list[dict[str, Any]], metric: str) -> dict[str, float]:
    by: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        cat = (s.get("doc") or {}).get("category")
        score = (s.get("scores") or {}).get(metric)
        if isinstance(cat, str) and isinstance(score, (int, float)) and score == score:
            by[cat].append(float(score))
    return {c: sum(v) / len(v) for c, v in by.items()}


def _metric_scores(r: dict[str, Any]) -> dict[str, float]:
    out = {}
    for name, m in (r.get("metrics") or {}).items():
        v = m.get("value") if isinstance(m, dict) else None
        if isinstance(v, (int, float)) and v == v and 0.0 <= v <= 1.0 and m.get("higher_is_better", True):
            out[name] = float(v)
    return out


def capabilities(
    rows: list[dict[str, Any]], records: list[dict[str, Any]], samples: Callable[[str], list[dict]] | None
) -> list[dict[str, Any]]:
    """Per task with a radar: {task, basis: categories|metrics, axes, series: [{label, cell_id, tuned, values}]}.
    `rows`: the leaderboard rows (their labels and order); `samples`: cell id -> its per-item rows, or None."""
    by_id = {r["cell_id"]: r for r in records}
    tasks: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["cell_id"] in by_id:
            tasks[row["task"]].append(row)
    out = []
    for task in sorted(tasks):
        scored = [
            (-(x["score"] if x["score"] is not None and x["score"] == x["score"] else -1.0), i, x)
            for i, x in enumerate(tasks[task])
        ]
        part = [x for _, _, x in sorted(scored)][:MAX_ROWS]
        per_row: dict[str, dict[str, float]] = {}
        basis = "categories"
        for row in part:
            try:
                items = samples(row["cell_id"]) if samples is not None else None
            except FileNotFoundError:  # a record whose samples file was removed: its metrics only
                items = None
            metric = by_id[row["cell_id"]]["primary"]["metric"]
            cats = _category_scores(items or [], metric)
            if cats:
                per_row[row["cell_id"]] = cats
        if len({c for v in per_row.values() for c in v}) < MIN_AXES:
            basis, per_row = (
                "metrics",
                {row["cell_id"]: _metric_scores(by_id[row["cell_id"]]) for row in part},
            )
        axes = sorted({a for v in per_row.values() for a in v})
        if len(axes) < MIN_AXES:
            continue
        series = [
            {
                "label": row.get("label") or row_label(row["model"], row["variant"]),
                "cell_id": row["cell_id"],
                "tuned": row["method"] != "none",
                "values": [per_row[row["cell_id"]].get(a) for a in axes],
            }
            for row in part
            if row["cell_id"] in per_row
        ]
        out.append({"task": task, "basis": basis, "axes": axes, "series": series})
    return out
