"""`harness task check` on a generated set: the task's own checks with its train split replaced by the set."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def check_set(task: str, train: Path) -> dict[str, Any]:
    """Rows readable and complete, no duplicates within the set, no leakage into validation/test, JSON answers
    valid against the task's schema: {ok, problems, counts, max_similarity, text}."""
    from harness.tasks.check import check_task

    report = check_task(task, replace={"train": str(train)})
    # the report names the file by its path at check time (a work folder); the card shows it as train.jsonl
    text = report.text().replace(str(train), "train.jsonl")
    return {
        "ok": report.ok,
        "problems": [p.replace(str(train), "train.jsonl") for p in report.problems],
        "counts": report.counts,
        "max_similarity": report.max_similarity,
        "text": text,
    }
