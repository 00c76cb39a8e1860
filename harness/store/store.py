"""A folder of cell records: results/records/<cell_id>.json and results/samples/<cell_id>.jsonl.

Append-only: a record is written once, after its samples, by rename; a record's presence means the cell is
finished. Readers never see half a file, and a killed run leaves at most an orphan temp file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)

    def record_path(self, cell_id: str) -> Path:
        return self.root / "records" / f"{cell_id}.json"

    def samples_path(self, cell_id: str) -> Path:
        return self.root / "samples" / f"{cell_id}.jsonl"

    def has(self, cell_id: str) -> bool:
        return self.record_path(cell_id).exists()

    def write(self, record: dict[str, Any], samples: Iterable[dict[str, Any]]) -> Path:
        cell_id = record["cell_id"]
        lines = "".join(json.dumps(s, ensure_ascii=False, default=str) + "\n" for s in samples)
        atomic_write_text(self.samples_path(cell_id), lines)
        path = self.record_path(cell_id)
        atomic_write_text(path, json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n")
        return path

    def load(self, cell_id: str) -> dict[str, Any]:
        return json.loads(self.record_path(cell_id).read_text(encoding="utf-8"))

    def load_samples(self, cell_id: str) -> list[dict[str, Any]]:
        with self.samples_path(cell_id).open(encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]

    # LLM-judge verdicts on a cell's answers: apart from the cell record, which never changes once written.
    def judgement_path(self, judgement_id: str) -> Path:
        return self.root / "judgements" / f"{judgement_id}.json"

    def has_judgement(self, judgement_id: str) -> bool:
        return self.judgement_path(judgement_id).exists()

    def write_judgement(self, judgement: dict[str, Any], rows: Iterable[dict[str, Any]]) -> Path:
        jid = judgement["judgement_id"]
        lines = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
        atomic_write_text(self.root / "judgements" / f"{jid}.jsonl", lines)
        path = self.judgement_path(jid)
        atomic_write_text(path, json.dumps(judgement, indent=2, ensure_ascii=False, default=str) + "\n")
        return path

    def judgements(self, cell_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Stored judgements, of the given cells only when `cell_ids` is set."""
        wanted = None if cell_ids is None else set(cell_ids)
        found = [
            json.loads(p.read_text(encoding="utf-8"))
            for p in sorted((self.root / "judgements").glob("*.json"))
        ]
        return [j for j in found if wanted is None or j["cell_id"] in wanted]

    def samples_or_none(self, cell_id: str) -> list[dict[str, Any]]:
        """For reports: a record whose per-sample file was removed shows without its items instead of failing."""
        return self.load_samples(cell_id) if self.samples_path(cell_id).exists() else []

    def all_records(self) -> list[dict[str, Any]]:
        folder = self.root / "records"
        return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))]
