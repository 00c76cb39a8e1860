"""A folder of cell records: results/records/<cell_id>.json and results/samples/<cell_id>.jsonl.

Append-only: a record is written once, after its samples, by rename; a record's presence means the cell is
finished. Readers never see half a file, and a killed run leaves at most an orphan temp file, which the next
write into that folder removes.

Validated on read: a record that does not parse, names another cell, or whose samples file is missing, truncated
or not the one it was written with (`samples_sha256`), is *damaged*. Readers skip it with a warning naming the
file; a run that needs the cell moves it to `damaged/` (kept for inspection, never deleted) and computes it again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.secrets import redact
from harness.store.record import SCHEMA_VERSION, Record

log = logging.getLogger(__name__)
ORPHAN_AGE_S = 600  # a temp file of another host (or of an older harness) is an orphan after this long


def _file_mode() -> int:
    """Files get the permissions of ordinary files (0666 less the umask), so a team sharing a results folder can
    read them (mkstemp alone gives 0600). HARNESS_FILE_MODE=600 (octal) keeps them private instead."""
    configured = os.environ.get("HARNESS_FILE_MODE")
    if configured:
        try:
            mode = int(configured, 8)
        except ValueError:
            mode = -1
        # the owner must read and write its own results; nobody else may write them
        if not 0 <= mode <= 0o777 or mode & 0o600 != 0o600 or mode & 0o022:
            raise HarnessError(
                f"HARNESS_FILE_MODE={configured!r}: give octal permissions the owner can read and write and others "
                "cannot write, e.g. 600, 640 or 644."
            )
        return mode
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(path: Path) -> None:
    """Temp files of earlier writes of `path` whose writer is gone (killed mid-write)."""
    host = socket.gethostname()
    for tmp in path.parent.glob(f".{path.name}.*.tmp"):
        # .<name>.<host>.<pid>.<random>.tmp; older harness versions wrote .<name>.<random>.tmp
        parts = tmp.name[len(path.name) + 2 : -len(".tmp")].split(".")
        mine = len(parts) >= 3 and parts[-3] == host and parts[-2].isdigit()
        try:
            orphan = not _pid_alive(int(parts[-2])) if mine else time.time() - tmp.stat().st_mtime > ORPHAN_AGE_S
            if orphan:
                tmp.unlink()
                log.info("removed %s, left by an interrupted write", tmp)
        except OSError:
            pass  # another process removed or renamed it meanwhile


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` (secrets redacted) to `path` whole or not at all."""
    text = redact(text)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_orphans(path)
        prefix = f".{path.name}.{socket.gethostname()}.{os.getpid()}."
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=".tmp")
    except OSError as e:  # read-only, not a folder, no space...
        raise _cannot_write(path, e) from None
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise _cannot_write(path, e) from None
        raise


def _cannot_write(path: Path, e: OSError) -> HarnessError:
    return HarnessError(
        f"cannot write {path}: {e.strerror or e} ({e.filename or path}). Make that folder writable (or free some "
        "space), or write elsewhere (paths.results=..., paths.reports=..., or --out for `harness report`)."
    )


class DamagedRecord(HarnessError):
    """A stored file that cannot be what it claims to be (truncated, not JSON, another cell's)."""


MAX_RECORD_BYTES = 64 << 20
MAX_SAMPLES_BYTES = 4 << 30


def _regular(path: Path, limit: int) -> None:
    """Only regular files of a sane size are read: a FIFO would hang a report, a link to /dev/zero fill memory."""
    try:
        ok = path.is_file() and path.stat().st_size <= limit
    except OSError as e:  # a symlink loop
        raise DamagedRecord(f"{path}: cannot be read ({e.strerror})") from None
    if not ok:
        raise DamagedRecord(f"{path}: not a regular file under {limit >> 20} MiB")


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _record_digest(record: dict[str, Any]) -> str:
    """SHA-256 of a record without its own digest field, canonical JSON (stable across a write and a read)."""
    body = {k: v for k, v in record.items() if k != "record_sha256"}
    return _sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str))


def _number(v: Any) -> bool:
    # NaN is allowed: a metric can be undefined on some data (the report shows it as missing); an edited value
    # is the digest's to catch, not this type check's
    return isinstance(v, int | float) and not isinstance(v, bool)


def shape_problems(record: dict[str, Any]) -> list[str]:
    """The fields every reader (the report above all) relies on, checked so that one odd record is skipped with
    its path named instead of stopping the report. Absent optional parts are fine; wrong types are not."""
    out = [
        f"{k} is not an object"
        for k in ("model", "task", "metrics", "finetune", "eval", "environment")
        if not isinstance(record.get(k), dict)
    ]
    if out:
        return out
    model, task, ev = record["model"], record["task"], record["eval"]
    if not isinstance(model.get("name"), str) or not isinstance(model.get("display_name", ""), str | None):
        out.append("model.name / model.display_name are not text")
    if not isinstance(task.get("name"), str) or not (type(task.get("n")) is int and task["n"] >= 0):
        out.append("task.name is not text or task.n is not a count")
    if not isinstance(record["finetune"].get("method"), str):
        out.append("finetune.method is not text")
    if not isinstance(ev.get("device", {}), dict):
        out.append("eval.device is not an object")
    for name, m in record["metrics"].items():
        if not isinstance(m, dict) or not (m.get("value") is None or _number(m["value"])):
            out.append(f"metrics.{name} has no numeric value")
    primary = record.get("primary")
    if primary is not None and (
        not isinstance(primary, dict) or not _number(primary.get("value")) or not isinstance(primary.get("metric"), str)
    ):
        out.append("primary has no metric name and numeric value")
    return out


# Every folder of a results store, owned here: other modules ask the store for theirs by name.
FOLDERS = {
    "records": "one JSON record per cell, named by its cell id",
    "samples": "each cell's per-item answers and scores (JSON lines)",
    "judgements": "LLM-judge verdicts on a stored cell",
    "load": "load-test records and their per-level request files",
    "datasets": "synthesized training sets, one folder each",
    "runs": "one manifest per sweep run",
    "failures": "why an API cell with too many failed requests was not scored",
    "logs": "local servers' and teachers' logs",
    "locks": "a cell's lock while one process computes it",
    "specs": "the exact input of each cell a worker process ran",
    "damaged": "records and samples that failed their check, moved aside",
}


def folder(results: Path, name: str) -> Path:
    """A folder of the store at `results` (created by whoever writes into it)."""
    if name not in FOLDERS:
        raise KeyError(f"{name!r} is not a folder of the results store (harness.store.store.FOLDERS)")
    return Path(results) / name


class Store:
    def __init__(self, root: Path):
        self.root = Path(root)

    def folder(self, name: str) -> Path:
        return folder(self.root, name)

    def record_path(self, cell_id: str) -> Path:
        return self.folder("records") / f"{cell_id}.json"

    def samples_path(self, cell_id: str) -> Path:
        return self.folder("samples") / f"{cell_id}.jsonl"

    # -- validation ----------------------------------------------------------------------------------------------
    def _read_record(self, cell_id: str) -> dict[str, Any]:
        path = self.record_path(cell_id)
        _regular(path, MAX_RECORD_BYTES)
        odd: list[str] = []  # Infinity, -Infinity, NaN: valid to Python's json, not to JSON

        def constant(name: str) -> float:
            odd.append(name)
            return float(name)

        try:
            record = json.loads(path.read_text(encoding="utf-8"), parse_constant=constant)
        except UnicodeDecodeError as e:
            raise DamagedRecord(f"{path}: not UTF-8 at byte {e.start}") from None
        except json.JSONDecodeError as e:
            raise DamagedRecord(f"{path}:{e.lineno}: not valid JSON ({e.msg}); truncated?") from None
        except RecursionError:
            raise DamagedRecord(f"{path}: nested too deep to be a record") from None
        if not isinstance(record, dict) or record.get("cell_id") != cell_id:
            raise DamagedRecord(f"{path}: not the record of cell {cell_id} (its cell_id field differs)")
        version = record.get("schema_version")
        if type(version) is not int or version < 1:
            raise DamagedRecord(f"{path}: no valid schema_version: not a cell record")
        if version > SCHEMA_VERSION:
            raise DamagedRecord(
                f"{path}: schema_version {version} is newer than this harness reads "
                f"(<= {SCHEMA_VERSION}); update the harness"
            )
        want = record.get("record_sha256")
        if want is not None and _record_digest(record) != want:
            raise DamagedRecord(f"{path}: edited after it was stored (record_sha256 differs)")
        if want is None and odd:  # a record from elsewhere: its figures feed sums and charts unchecked
            raise DamagedRecord(
                f"{path}: holds {odd[0]} where a number belongs, and no record_sha256 (not written by this harness)"
            )
        wrong = shape_problems(record)
        if wrong:
            raise DamagedRecord(f"{path}: not a well-formed cell record ({'; '.join(wrong[:3])})")
        return record

    def _read_samples(self, cell_id: str, record: dict[str, Any]) -> list[dict[str, Any]]:
        path = self.samples_path(cell_id)
        if not path.exists() and not path.is_symlink():
            raise DamagedRecord(f"{path}: missing (the record {self.record_path(cell_id)} needs it)")
        _regular(path, MAX_SAMPLES_BYTES)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise DamagedRecord(f"{path}: not UTF-8 at byte {e.start}") from None
        want = record.get("samples_sha256")
        if want is not None and _sha256(text) != want:
            raise DamagedRecord(f"{path}: its content is not what was stored (SHA-256 differs); truncated?")
        if text and not text.endswith("\n"):
            raise DamagedRecord(f"{path}: the last line is cut off (truncated)")
        rows = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, RecursionError):
                raise DamagedRecord(f"{path}:{n}: not valid JSON") from None
            if not isinstance(row, dict):
                raise DamagedRecord(f"{path}:{n}: not a JSON object")
            rows.append(row)
        return rows

    def problem(self, cell_id: str) -> str | None:
        """Why a stored cell is damaged; None when it is sound (or not stored at all)."""
        if not self.record_path(cell_id).exists():
            return None
        try:
            self._read_samples(cell_id, self._read_record(cell_id))
        except DamagedRecord as e:
            return str(e)
        return None

    def quarantine(self, cell_id: str, why: str) -> None:
        """Move a damaged cell's files to damaged/ so it is computed again; nothing is deleted."""
        stamp = time.strftime("%Y%m%dT%H%M%S")
        for src in (self.record_path(cell_id), self.samples_path(cell_id)):
            if src.exists():
                dest = self.folder("damaged") / f"{src.stem}.{stamp}{src.suffix}"
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dest)
        log.warning("damaged cell %s: %s. Moved to %s/ and computing it again.", cell_id, why, self.folder("damaged"))

    def has(self, cell_id: str, heal: bool = False) -> bool:
        """Stored and sound. With heal=True a damaged cell is quarantined (so the caller recomputes it)."""
        if not self.record_path(cell_id).exists():
            return False
        why = self.problem(cell_id)
        if why is None:
            return True
        if heal:
            self.quarantine(cell_id, why)
        else:
            log.warning("skipping damaged cell %s: %s", cell_id, why)
        return False

    # -- write and read ------------------------------------------------------------------------------------------
    def write(self, record: Record | dict[str, Any], samples: Iterable[dict[str, Any]]) -> Path:
        """Samples first, then the record (its presence means the cell is finished). A dict is a record
        already in its JSON form (a re-priced one, tests)."""
        if isinstance(record, Record):
            record = record.to_json()
        cell_id = record["cell_id"]
        lines = redact("".join(json.dumps(s, ensure_ascii=False, default=str) + "\n" for s in samples))
        record["samples_sha256"] = _sha256(lines)  # lets a reader tell a truncated samples file
        record.pop("record_sha256", None)
        record["record_sha256"] = _record_digest(
            json.loads(redact(json.dumps(record, ensure_ascii=False, default=str)))
        )
        atomic_write_text(self.samples_path(cell_id), lines)
        path = self.record_path(cell_id)
        atomic_write_text(path, json.dumps(record, indent=2, ensure_ascii=False, default=str) + "\n")
        return path

    def load(self, cell_id: str) -> dict[str, Any]:
        return self._read_record(cell_id)

    def load_record(self, cell_id: str) -> Record:
        """The stored record, typed (Record.from_json refuses a schema version this harness cannot read)."""
        return Record.from_json(self._read_record(cell_id))

    def load_samples(self, cell_id: str) -> list[dict[str, Any]]:
        return self._read_samples(cell_id, self._read_record(cell_id))

    # LLM-judge verdicts on a cell's answers: apart from the cell record, which never changes once written.
    def judgement_path(self, judgement_id: str) -> Path:
        return self.folder("judgements") / f"{judgement_id}.json"

    def has_judgement(self, judgement_id: str) -> bool:
        path = self.judgement_path(judgement_id)
        return path.exists() and self._judgement(path) is not None

    def write_judgement(self, judgement: dict[str, Any], rows: Iterable[dict[str, Any]]) -> Path:
        jid = judgement["judgement_id"]
        lines = "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in rows)
        atomic_write_text(self.folder("judgements") / f"{jid}.jsonl", lines)
        path = self.judgement_path(jid)
        atomic_write_text(path, json.dumps(judgement, indent=2, ensure_ascii=False, default=str) + "\n")
        return path

    @staticmethod
    def _judgement(path: Path) -> dict[str, Any] | None:
        try:
            j = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            log.warning("skipping damaged judgement %s: %s", path, e)
            return None
        return j if isinstance(j, dict) and "cell_id" in j else None

    def judgements(self, cell_ids: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Stored judgements, of the given cells only when `cell_ids` is set."""
        wanted = None if cell_ids is None else set(cell_ids)
        found = [self._judgement(p) for p in sorted(self.folder("judgements").glob("*.json"))]
        return [j for j in found if j is not None and (wanted is None or j["cell_id"] in wanted)]

    def samples_or_none(self, cell_id: str) -> list[dict[str, Any]]:
        """For reports: the rows of a sound cell ([] when they cannot be read; all_records skipped those)."""
        try:
            return self.load_samples(cell_id)
        except DamagedRecord:
            return []

    def loads(self) -> list[dict[str, Any]]:
        """Every load record (`harness load`: load/<load_id>.json), oldest first; an unreadable one is skipped with
        a warning naming its file."""
        out = []
        for p in sorted(self.folder("load").glob("*.json")):
            try:
                doc = json.loads(p.read_text(encoding="utf-8"))
            except (OSError, ValueError) as e:
                log.warning("skipping load record %s: %s", p, e)
                continue
            if isinstance(doc, dict) and doc.get("kind") == "load":
                out.append(doc)
        return sorted(out, key=lambda d: str(d.get("created_at")))

    def all_records(self) -> list[dict[str, Any]]:
        """Every sound record; a damaged one is skipped with a warning naming its file."""
        out = []
        for p in sorted(self.folder("records").glob("*.json")):
            try:
                record = self._read_record(p.stem)
                self._read_samples(p.stem, record)
            except DamagedRecord as e:
                log.warning("skipping damaged cell %s: %s", p.stem, e)
                continue
            out.append(record)
        return out
