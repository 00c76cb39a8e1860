"""What a task's rows look like to the data stage: which fields its prompt reads and which one is the answer.

Read from the task YAML alone (no lm-eval import), for synthesis (the keys the teacher writes) and for label
noise (the field that is corrupted).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.paths import REPO_ROOT

_ONE_FIELD = re.compile(r"^\s*\{\{\s*([A-Za-z_]\w*)\s*\}\}\s*$")


def target_field(doc: dict[str, Any], task: str, what: str) -> str:
    """The row field that is the answer: doc_to_target must be a single `{{field}}` (as in every project task);
    anything else (a choice index, a template that builds the answer) is refused for `what`."""
    value = doc.get("doc_to_target")
    m = _ONE_FIELD.match(value) if isinstance(value, str) else None
    if m is None:
        raise HarnessError(
            f'{what} needs a task whose answer is one row field (doc_to_target: "{{{{answer}}}}"); task {task}\'s '
            f"doc_to_target is {value!r}."
        )
    return m.group(1)


def data_files(doc: dict[str, Any], task: str) -> dict[str, Path]:
    """{split: absolute path} of a task's JSONL files (lm-eval resolves them from the repository root)."""
    files = ((doc.get("dataset_kwargs") or {}).get("data_files")) or {}
    if doc.get("dataset_path") != "json" or not files:
        raise HarnessError(
            f"task {task} does not read its rows from JSONL files (dataset_path: json with data_files); the data "
            "stage works on project task folders."
        )
    return {split: (REPO_ROOT / rel).resolve() for split, rel in files.items()}
