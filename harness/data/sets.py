"""Where generated data sets live and how a fine-tuning run names one (no heavy imports: planning reads this).

A data set is a folder `<paths.results>/datasets/<id>/`, named by the content hash of what made it (task,
teacher, prompt, seeds, n, temperature, filters), written whole or not at all:

    dataset.json     the record: identity, counts per filter, the teacher's (and judge's) tokens and money,
                     the task check of the set (docs/data.md)
    train.jsonl      the kept examples, rows shaped like the task's own train split
    generated.jsonl  every teacher reply: kept, or why not (unparsed, failed, or the filter that removed it)
    card.md          the data card

`finetune.train_data` names sets by id or by a unique prefix of it, mixed with the task's own split by shares.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.store.store import folder

DATASET_SCHEMA_VERSION = 1
RECORD = "dataset.json"
TRAIN = "train.jsonl"
MIN_PREFIX = 6  # shorter prefixes of an id are refused: they match too easily


def datasets_root(results: Path) -> Path:
    return folder(results, "datasets")


def all_sets(root: Path) -> list[Path]:
    """Finished data sets (a folder with its record), oldest first."""
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / RECORD).is_file()]
    return sorted(found, key=lambda p: (p / RECORD).stat().st_mtime)


def find_set(root: Path, ref: str) -> Path:
    """The folder of the data set `ref` names: its id, or a unique prefix of at least MIN_PREFIX characters."""
    sets = all_sets(root)
    hits = [p for p in sets if p.name == ref] or (
        [p for p in sets if p.name.startswith(ref)] if len(ref) >= MIN_PREFIX else []
    )
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise HarnessError(
            f"finetune.train_data: {ref!r} is a prefix of {len(hits)} data sets "
            f"({', '.join(p.name for p in hits[:4])}); give more of the id."
        )
    known = ", ".join(p.name[:8] for p in sets[-6:]) or "none yet"
    short = f" (a prefix needs at least {MIN_PREFIX} characters)" if len(ref) < MIN_PREFIX else ""
    raise HarnessError(
        f"finetune.train_data: no data set {ref!r} under {root}{short}. Data sets there: {known}. Make one with "
        "`harness data synth task=... teacher=...` (see `harness data list`), or use train_data=task."
    )


def read_record(folder: Path) -> dict[str, Any]:
    return json.loads((folder / RECORD).read_text(encoding="utf-8"))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class DataSource:
    """One part of a fine-tuning run's training data: the task's own train split, or a generated set."""

    kind: str  # task | synthetic
    share: float  # of n_train (shares of a mix add up to 1)
    dataset_id: str | None = None  # synthetic: the data set's id
    path: str | None = None  # synthetic: its train.jsonl
    sha256: str | None = None  # synthetic: of train.jsonl (what the artifact id hashes)
    teacher: str | None = None
    teacher_display: str | None = None
    stand_in: str | None = None
    currency: str = "USD"
    cost: float | None = None  # synthetic: the teacher's (and judge's) money; None = unpriced

    def identity(self) -> dict[str, Any]:
        if self.kind == "task":
            return {"source": "task", "share": self.share}
        return {
            "source": "synthetic",
            "dataset_id": self.dataset_id,
            "sha256": self.sha256,
            "share": self.share,
        }

    def label(self, task: str) -> str:
        return task if self.kind == "task" else f"synthetic {str(self.dataset_id)[:8]}"


def parse_train_data(value: str) -> list[tuple[str, float]]:
    """ "task" | "<id>" | "task:0.5,<id>:0.5" -> [(ref, share)], shares normalised to add up to 1."""
    parts = [p.strip() for p in str(value).split(",") if p.strip()]
    if not parts:
        raise HarnessError("finetune.train_data is empty: use task, a data set id, or task:0.5,<id>:0.5.")
    out: list[tuple[str, float]] = []
    for p in parts:
        ref, _, weight = p.partition(":")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            w = -1.0
        if not ref or not w > 0 or w == float("inf"):
            raise HarnessError(
                f"finetune.train_data={value!r}: {p!r} should be NAME or NAME:SHARE with a share above 0 "
                "(e.g. task:0.5,3f9a1c2e:0.5)."
            )
        out.append((ref, w))
    refs = [r for r, _ in out]
    if len(set(refs)) != len(refs):
        raise HarnessError(f"finetune.train_data={value!r} names a source twice.")
    total = sum(w for _, w in out)
    return [(r, w / total) for r, w in out]


def resolve_sources(value: str, task: str, root: Path) -> tuple[DataSource, ...]:
    """finetune.train_data as DataSources; () for the task's own split alone (artifact ids as before)."""
    parsed = parse_train_data(value)
    if parsed == [("task", 1.0)]:
        return ()
    out = []
    for ref, share in parsed:
        if ref == "task":
            out.append(DataSource("task", share))
            continue
        folder = find_set(root, ref)
        rec = read_record(folder)
        if rec["task"]["name"] != task:
            raise HarnessError(
                f"finetune.train_data: data set {folder.name[:8]} was generated for task {rec['task']['name']}, "
                f"but this run trains on {task}. Use a set of {task} (harness data list), or set "
                f"finetune.train_task={rec['task']['name']}."
            )
        if not rec["counts"]["kept"]:
            raise HarnessError(
                f"finetune.train_data: data set {folder.name[:8]} kept no examples (see {folder / 'card.md'}); "
                "generate more (data.n=...) or relax its filters."
            )
        t = rec["teacher"]
        out.append(
            DataSource(
                "synthetic",
                share,
                folder.name,
                str(folder / TRAIN),
                file_sha256(folder / TRAIN),
                t["name"],
                t.get("display_name"),
                t.get("stand_in"),
                rec["cost"]["currency"],
                rec["cost"]["total"],
            )
        )
    return tuple(out)
