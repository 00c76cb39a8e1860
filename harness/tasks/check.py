"""`harness task check NAME`: is a task folder sound? Every problem names its file and line.

Checks: the YAML parses (includes resolved) and has the right shape; every data line is UTF-8, at most
MAX_LINE_BYTES and a JSON object; no split is empty; every field the prompt templates use is in every row and not
null; no split repeats a row; no validation/test item is an exact or near-duplicate of a train item (on the task's
`leakage_field`); every reference answer parses as JSON and conforms to the task's JSON Schema where the task
declares them (`reference_json`, `schema`). Task files that discovery skipped are reported too.

`check_cell_rows` runs the row checks on just the rows a cell will score, before any model is loaded.
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
from harness.tasks import (
    TaskSpec,
    broken_note,
    discover,
    discovery_problems,
    harness_meta,
    load_task_doc,
    locate,
    not_utf8,
)
from harness.tasks.datagen import NEAR_DUPLICATE, comparable, shingles

MAX_LISTED = 10  # problems shown per kind; the count says how many more
# One row is a prompt of a few KB. A longer line is a broken file, and reading it is the harm: a 50 MB line
# once tokenised to 6.5 M tokens and took 4 GB, so it is rejected unread.
MAX_LINE_BYTES = 1 << 20
_SPLIT_KEYS = ("training_split", "validation_split", "test_split", "fewshot_split")


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
        lines = [f"task {self.task} ({self.yaml_file})" + (f": {sizes}" if sizes else "")]
        if self.max_similarity is not None:
            lines.append(
                f"  highest similarity of a held-out item to a train item: {self.max_similarity:.3f} "
                f"(near-duplicate at >= {NEAR_DUPLICATE})"
            )
        lines += [f"  - {p}" for p in self.problems] or ["  ok"]
        return "\n".join(lines)


def template_fields(doc: dict[str, Any], yaml_file: Path | None = None) -> set[str]:
    """Row fields that the task's Jinja templates read (doc_to_text, doc_to_target, doc_to_choice)."""
    env = jinja2.Environment()
    fields: set[str] = set()
    for key in ("doc_to_text", "doc_to_target", "doc_to_choice"):
        value = doc.get(key)
        if isinstance(value, str) and not value.startswith("!function"):
            try:
                fields |= jinja2.meta.find_undeclared_variables(env.parse(value))
            except jinja2.TemplateSyntaxError as e:
                where = locate(yaml_file, (key,)) if yaml_file else key
                raise HarnessError(f"{where}: `{key}` is not a valid Jinja template ({e.message}).") from None
    return fields


def read_rows(path: Path, problems: list[str], limit: int | None = None) -> list[tuple[int, dict]]:
    """(line, row) for the first `limit` non-blank lines (all when None), lm-eval's docs in its order.

    Binary, line by line: an oversize line is skipped before it is decoded or parsed, and a bad byte is
    reported with its line and offset instead of stopping the read."""
    rows: list[tuple[int, dict]] = []
    bad: list[str] = []
    used = lineno = offset = 0
    if not path.is_file():  # a FIFO would block, /dev/zero never ends a line
        problems.append(f"{path}: not a regular file; point data_files at a JSONL file.")
        return rows
    with path.open("rb") as f:
        while limit is None or used < limit:
            raw = f.readline(MAX_LINE_BYTES + 1)
            if not raw:
                break
            lineno, start = lineno + 1, offset
            offset += len(raw)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):  # skip the rest of the line in bounded chunks
                    raw = f.readline(1 << 16)
                    offset += len(raw)
                used += 1
                size = offset - start - raw.endswith(b"\n")
                bad.append(
                    f"{path}:{lineno}: line is {size:,} bytes, over the {MAX_LINE_BYTES:,}-byte "
                    "limit for one row (not read). Split or shorten it."
                )
                continue
            if not raw.strip():
                continue
            used += 1
            try:
                row = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError as e:
                bad.append(not_utf8(path, raw, e, lineno, start))
                continue
            except json.JSONDecodeError as e:
                bad.append(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno}). Fix or regenerate the row.")
                continue
            except (ValueError, RecursionError) as e:  # a number too long for int(), nesting too deep
                bad.append(f"{path}:{lineno}: not valid JSON ({str(e)[:80] or 'nested too deep'}).")
                continue
            if not isinstance(row, dict):
                bad.append(f"{path}:{lineno}: a row must be a JSON object, not {type(row).__name__}.")
                continue
            rows.append((lineno, row))
    _capped(bad, problems)
    return rows


def _capped(kind: list[str], problems: list[str]) -> None:
    problems += kind[:MAX_LISTED]
    if len(kind) > MAX_LISTED:
        problems.append(f"... and {len(kind) - MAX_LISTED} more like the above")


def check_rows(
    path: Path, split: str, needed: set[str], problems: list[str], limit: int | None = None
) -> list[tuple[int, dict]]:
    """The row checks shared by `task check` and the run path: readable rows, a non-empty split, and every
    template field present and not null (lm-eval would render a missing or null one as "None" and score it)."""
    rows = read_rows(path, problems, limit)
    if not rows and limit != 0:
        problems.append(f"{path}: split {split!r} has no rows; lm-eval would have nothing to score. Add rows.")
    missing, null = [], []
    for n, r in rows:
        if absent := sorted(needed - set(r)):
            missing.append(f"{path}:{n}: missing field(s) {', '.join(absent)} used by the prompt templates")
        if empty := sorted(f for f in needed & set(r) if r[f] is None):
            null.append(f"{path}:{n}: field(s) {', '.join(empty)} used by the prompt templates are null")
    _capped(missing, problems)
    _capped(null, problems)
    return rows


def _data_files(doc: dict[str, Any]) -> dict[str, str]:
    return ((doc.get("dataset_kwargs") or {}).get("data_files")) or {}


def check_cell_rows(spec: TaskSpec, split: str, limit: int | None) -> None:
    """Before any model loads: the rows a cell will score (lm-eval's `limit` takes the first N docs of `split`)
    are UTF-8, at most MAX_LINE_BYTES, JSON objects with every template field present and not null, and there
    is at least one. Raises HarnessError listing the problems (file:line). lm-eval's own tasks: nothing to do."""
    if spec.dir is None or spec.yaml_file is None:
        return
    doc = load_task_doc(spec.yaml_file)
    files = _data_files(doc)
    if doc.get("dataset_path") != "json" or not files:
        return  # not rows from files: `task check` says what it expects
    if split not in files:
        raise HarnessError(
            f"task {spec.name!r} has no split {split!r}: its data_files ({spec.yaml_file}) are "
            f"{', '.join(files)}. Use task.split={next(iter(files))} or add the split."
        )
    path = (REPO_ROOT / files[split]).resolve()
    if not path.is_file():
        raise HarnessError(f"task {spec.name!r}: data file {path} of split {split!r} does not exist.")
    problems: list[str] = []
    if "process_docs" in doc:  # rows are rewritten before the templates see them: only readability applies
        needed: set[str] = set()
    else:
        try:
            needed = template_fields(doc, spec.yaml_file)
        except HarnessError as e:
            problems.append(str(e))
            needed = set()
    check_rows(path, split, needed, problems, limit)
    if problems:
        which = f"the first {limit} rows of split {split!r}" if limit is not None else f"split {split!r}"
        raise HarnessError(
            f"task {spec.name!r}: {which} cannot be scored as they are (see `harness task check {spec.name}`):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def check_all() -> list[Report]:
    """`harness task check` with no names: every task, and every task file discovery had to skip."""
    reports = [check_task(t) for t in sorted(discover())]
    return reports + [Report(p.task, p.file, problems=[str(p)]) for p in discovery_problems()]


def check_task(name: str, replace: dict[str, str] | None = None) -> Report:
    """`replace`: {split: file} read instead of the task's own (a generated train split: harness/data/recheck.py)."""
    tasks = discover()
    if name not in tasks:
        broken = [p for p in discovery_problems() if p.about(name)]
        if broken:  # the name is known, its file is what is wrong
            return Report(name, broken[0].file, problems=[f"broken task file: {p}" for p in broken])
        raise HarnessError(did_you_mean(name, list(tasks), "task") + broken_note())
    yaml_file, doc = tasks[name]
    report = Report(name, yaml_file)
    meta = harness_meta(doc)
    files = {**_data_files(doc), **(replace or {})}
    if doc.get("dataset_path") != "json" or not files:
        report.problems.append(f"{yaml_file}: expected `dataset_path: json` with dataset_kwargs.data_files per split.")
        return report
    required = ["doc_to_text", "doc_to_target"] + (
        ["doc_to_choice"] if doc.get("output_type") == "multiple_choice" else []
    )
    for key in required:
        if doc.get(key) is None:
            report.problems.append(f"{yaml_file}: no `{key}`; lm-eval needs it to build the prompts.")
    for key in _SPLIT_KEYS:
        if doc.get(key) and doc[key] not in files:
            report.problems.append(
                f"{locate(yaml_file, (key,))}: `{key}: {doc[key]}` is not among data_files ({', '.join(files)})."
            )
    needed: set[str] = set()
    try:
        needed = set() if "process_docs" in doc else template_fields(doc, yaml_file)
    except HarnessError as e:
        report.problems.append(str(e))
    splits: dict[str, list[tuple[int, dict]]] = {}
    for split, rel in files.items():
        path = (REPO_ROOT / rel).resolve()
        if not path.is_file():
            report.problems.append(
                f"{locate(yaml_file, ('dataset_kwargs', 'data_files', split))}: data_files.{split} = {rel} "
                f"does not exist (paths are relative to {REPO_ROOT})."
            )
            continue
        splits[split] = rows = check_rows(path, split, needed, report.problems)
        report.counts[split] = len(rows)
        seen: dict[str, int] = {}
        dups = []
        for n, r in rows:
            key = json.dumps({k: v for k, v in r.items() if k != "id"}, sort_keys=True, ensure_ascii=False)
            if key in seen:
                dups.append(f"{path}:{n}: duplicates line {seen[key]} of the same split")
            seen.setdefault(key, n)
        _capped(dups, report.problems)
        _check_references(path, rows, meta, yaml_file, report.problems)
    _check_leakage(files, splits, meta.get("leakage_field"), report)
    return report


def _check_references(path: Path, rows, meta: dict, yaml_file: Path, problems: list[str]) -> None:
    field_name = meta.get("reference_json")
    if not field_name:
        return
    validator = None
    if meta.get("schema"):
        import jsonschema

        schema_file = yaml_file.parent / meta["schema"]
        try:
            schema = json.loads(schema_file.read_text(encoding="utf-8"))
            jsonschema.Draft202012Validator.check_schema(schema)
        except (OSError, ValueError, jsonschema.SchemaError) as e:
            where = locate(yaml_file, ("metadata", "harness", "schema"))
            problems.append(f"{where}: schema {schema_file} cannot be used ({str(e).splitlines()[0][:120]}).")
            return
        validator = jsonschema.Draft202012Validator(schema)
    bad = []
    for n, r in rows:
        try:
            ref = json.loads(r.get(field_name, ""))
        except (ValueError, TypeError, RecursionError):
            bad.append(f"{path}:{n}: reference `{field_name}` is not valid JSON")
            continue
        if validator is not None:
            errors = sorted(validator.iter_errors(ref), key=str)
            if errors:
                bad.append(f"{path}:{n}: reference does not conform to {meta['schema']}: {errors[0].message}")
    _capped(bad, problems)


def similarity(held_out: list[str], train: list[str]):
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
    if not field_name or not splits.get("train"):
        return
    norm = lambda r: comparable(str(r.get(field_name, "")))  # noqa: E731 - NFKC, no zero-width, case-folded
    train = [(n, norm(r)) for n, r in splits["train"]]
    train_exact = {t: n for n, t in train}
    held = [(split, n, norm(r)) for split in ("validation", "test") for n, r in splits.get(split, [])]
    if not held:
        return
    sims = similarity([t for _, _, t in held], [t for _, t in train])
    leaks = []
    for (split, n, text), row in zip(held, sims, strict=True):
        i = int(row.argmax())
        if text in train_exact:
            leaks.append(f"{files[split]}:{n}: `{field_name}` repeats {files['train']}:{train_exact[text]} exactly")
        elif row[i] >= NEAR_DUPLICATE:
            leaks.append(
                f"{files[split]}:{n}: `{field_name}` is a near-duplicate ({row[i]:.2f}) of "
                f"{files['train']}:{train[i][0]}"
            )
    exact = [t in train_exact for _, _, t in held]
    report.max_similarity = float(max((row.max() for row, e in zip(sims, exact, strict=True) if not e), default=0.0))
    _capped(leaks, report.problems)
