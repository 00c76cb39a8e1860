"""`harness task check NAME`: is a task folder sound? Every problem names its file and line.

Checks: the YAML parses (includes resolved); every data row is JSON; every field the prompt templates use is in
every row; no split repeats a row; no validation/test item is an exact or near-duplicate of a train item (on
the task's `leakage_field`); every reference answer parses as JSON and conforms to the task's JSON Schema
where the task declares them (`reference_json`, `schema`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta

from harness.errors import HarnessError, did_you_mean
from harness.paths import REPO_ROOT
from harness.tasks import discover, harness_meta
from harness.tasks.datagen import NEAR_DUPLICATE, shingles

MAX_LISTED = 10  # problems shown per kind; the count says how many more


@dataclass
class Report:
    task: str
    yaml_file: Path
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    max_similarity: float | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        sizes = ", ".join(f"{k} {v}" for k, v in self.counts.items())
        lines = [f"task {self.task} ({self.yaml_file}): {sizes}"]
        if self.max_similarity is not None:
            lines.append(
                f"  highest similarity of a held-out item to a train item: {self.max_similarity:.3f} "
                f"(near-duplicate at >= {NEAR_DUPLICATE})"
            )
        lines += [f"  - {p}" for p in self.problems] or ["  ok"]
        return "\n".join(lines)


def template_fields(doc: dict[str, Any]) -> set[str]:
    """Row fields that the task's Jinja templates read (doc_to_text, doc_to_target, doc_to_choice)."""
    env = jinja2.Environment()
    fields: set[str] = set()
    for key in ("doc_to_text", "doc_to_target", "doc_to_choice"):
        value = doc.get(key)
        if isinstance(value, str) and not value.startswith("!function"):
            fields |= jinja2.meta.find_undeclared_variables(env.parse(value))
    return fields


def read_rows(path: Path, problems: list[str]) -> list[tuple[int, dict]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                problems.append(
                    f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno}). Fix or regenerate the row."
                )
                continue
            if not isinstance(row, dict):
                problems.append(f"{path}:{lineno}: a row must be a JSON object.")
                continue
            rows.append((lineno, row))
    return rows


def _capped(kind: list[str], problems: list[str]) -> None:
    problems += kind[:MAX_LISTED]
    if len(kind) > MAX_LISTED:
        problems.append(f"... and {len(kind) - MAX_LISTED} more like the above")


def check_task(name: str) -> Report:
    tasks = discover()
    if name not in tasks:
        raise HarnessError(did_you_mean(name, list(tasks), "task"))
    yaml_file, doc = tasks[name]
    report = Report(name, yaml_file)
    meta = harness_meta(doc)
    files = ((doc.get("dataset_kwargs") or {}).get("data_files")) or {}
    if doc.get("dataset_path") != "json" or not files:
        report.problems.append(
            f"{yaml_file}: expected `dataset_path: json` with dataset_kwargs.data_files per split."
        )
        return report
    needed = template_fields(doc)
    splits: dict[str, list[tuple[int, dict]]] = {}
    for split, rel in files.items():
        path = (REPO_ROOT / rel).resolve()
        if not path.exists():
            report.problems.append(
                f"{yaml_file}: data_files.{split} = {rel} does not exist (paths are relative to {REPO_ROOT})."
            )
            continue
        splits[split] = rows = read_rows(path, report.problems)
        report.counts[split] = len(rows)
        missing = [
            f"{path}:{n}: missing field(s) {', '.join(sorted(needed - set(r)))} used by the prompt templates"
            for n, r in rows
            if needed - set(r)
        ]
        _capped(missing, report.problems)
        seen: dict[str, int] = {}
        dups = []
        for n, r in rows:
            key = json.dumps({k: v for k, v in r.items() if k != "id"}, sort_keys=True, ensure_ascii=False)
            if key in seen:
                dups.append(f"{path}:{n}: duplicates line {seen[key]} of the same split")
            seen.setdefault(key, n)
        _capped(dups, report.problems)
        _check_references(path, rows, meta, yaml_file.parent, report.problems)
    _check_leakage(files, splits, meta.get("leakage_field"), report)
    return report


def _check_references(path: Path, rows, meta: dict, folder: Path, problems: list[str]) -> None:
    field_name = meta.get("reference_json")
    if not field_name:
        return
    validator = None
    if meta.get("schema"):
        import jsonschema

        schema = json.loads((folder / meta["schema"]).read_text(encoding="utf-8"))
        validator = jsonschema.Draft202012Validator(schema)
    bad = []
    for n, r in rows:
        try:
            ref = json.loads(r.get(field_name, ""))
        except (json.JSONDecodeError, TypeError):
            bad.append(f"{path}:{n}: reference `{field_name}` is not valid JSON")
            continue
        if validator is not None:
            errors = sorted(validator.iter_errors(ref), key=str)
            if errors:
                bad.append(f"{path}:{n}: reference does not conform to {meta['schema']}: {errors[0].message}")
    _capped(bad, problems)


def _similarity(held_out: list[str], train: list[str]):
    """Jaccard similarity of character 3-gram sets, every held-out text against every train text, as one sparse
    matrix product (a few hundred thousand pairs in well under a second)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    vocab: dict[str, int] = {}

    def matrix(texts: list[str]):
        indptr, indices = [0], []
        for t in texts:
            indices += sorted({vocab.setdefault(g, len(vocab)) for g in shingles(t)})
            indptr.append(len(indices))
        return csr_matrix((np.ones(len(indices), dtype=np.float32), indices, indptr), dtype=np.float32)

    a, b = matrix(held_out), matrix(train)
    a.resize(a.shape[0], len(vocab))
    b.resize(b.shape[0], len(vocab))
    inter = (a @ b.T).toarray()
    sizes_a, sizes_b = np.asarray(a.sum(1)).ravel(), np.asarray(b.sum(1)).ravel()
    return inter / (sizes_a[:, None] + sizes_b[None, :] - inter)


def _check_leakage(files: dict, splits: dict, field_name: str | None, report: Report) -> None:
    if not field_name or "train" not in splits:
        return
    norm = lambda r: " ".join(str(r.get(field_name, "")).lower().split())  # noqa: E731
    train = [(n, norm(r)) for n, r in splits["train"]]
    train_exact = {t: n for n, t in train}
    held = [(split, n, norm(r)) for split in ("validation", "test") for n, r in splits.get(split, [])]
    if not held:
        return
    sims = _similarity([t for _, _, t in held], [t for _, t in train])
    leaks = []
    for (split, n, text), row in zip(held, sims, strict=True):
        i = int(row.argmax())
        if text in train_exact:
            leaks.append(
                f"{files[split]}:{n}: `{field_name}` repeats {files['train']}:{train_exact[text]} exactly"
            )
        elif row[i] >= NEAR_DUPLICATE:
            leaks.append(
                f"{files[split]}:{n}: `{field_name}` is a near-duplicate ({row[i]:.2f}) of "
                f"{files['train']}:{train[i][0]}"
            )
    exact = [t in train_exact for _, _, t in held]
    report.max_similarity = float(
        max((row.max() for row, e in zip(sims, exact, strict=True) if not e), default=0.0)
    )
    _capped(leaks, report.problems)
