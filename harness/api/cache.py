"""Persistent response cache and cost ledger (SQLite): an API response is paid for once.

The key is the SHA-256 of the endpoint, the model and the full request body (messages, max_tokens, stop,
temperature...), so a re-run of a finished or half-finished cell sends only what never got an answer. The
ledger gets one row per response the provider actually produced (and billed); a cache hit adds nothing.
Keys are never stored: the endpoint is identified by its URL (or, for the local stand-in, by its model).
Each ledger row names the run that paid it (`run_id`) and the baseline it was for, so a run's money caps
(budget.py) add up what that run paid; `reservations` holds the worst-case cost of the requests in flight.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.store.record import now_iso

if TYPE_CHECKING:
    from harness.api.budget import Budget, Cap

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, endpoint TEXT NOT NULL, model TEXT NOT NULL, request TEXT NOT NULL,
    response TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, cell_id TEXT, created_at TEXT NOT NULL,
    prompt_tokens INTEGER, cached_tokens INTEGER, completion_tokens INTEGER, cost REAL, currency TEXT,
    run_id TEXT, baseline TEXT);
CREATE TABLE IF NOT EXISTS reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, baseline TEXT, cost REAL NOT NULL,
    host TEXT NOT NULL, pid INTEGER NOT NULL, created_at TEXT NOT NULL);
"""
# Columns added after the first release: a database from before gets them (null in its old rows) when opened.
LEDGER_COLUMNS = {"run_id": "TEXT", "baseline": "TEXT"}
HOST = socket.gethostname()


def spill_dir(cache: Path) -> Path:
    """Where answers go that `cache` could not take: the user cache (HARNESS_CACHE), one folder per cache file."""
    root = Path(os.environ.get("HARNESS_CACHE") or "~/.cache/harness").expanduser()
    return root / "spilled-answers" / hashlib.sha256(str(Path(cache).resolve()).encode()).hexdigest()[:16]


def request_key(endpoint: str, model: str, request: dict[str, Any]) -> str:
    canonical = json.dumps(
        {"endpoint": endpoint, "model": model, "request": request},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # a FIFO (the cache or its journal) would hang SQLite, a folder cannot open, a dangling link would make
        # SQLite create its target wherever it points
        files = [path, *(Path(f"{path}{suffix}") for suffix in ("-journal", "-wal", "-shm"))]
        odd = [p for p in files if (p.exists() or p.is_symlink()) and not p.is_file()]
        if odd:
            raise HarnessError(
                f"the API response cache {odd[0]} is not a regular file (a folder, a FIFO or a "
                "broken link). Nothing was sent. Move it aside, or restore the cache from a backup "
                "(a new, empty cache would ask for, and pay for, every answer again)."
            )
        # One connection, used from the event loop's thread; the lock covers any other caller.
        self.db = sqlite3.connect(path, check_same_thread=False, timeout=60)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")  # parallel sweep jobs read while one writes
            # WAL + NORMAL: a commit survives a killed process (what resuming needs) without an fsync per
            # response; only a power cut can lose the last few, which are then asked (and paid for) again.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            migrate(self.db)
            self.db.execute("SELECT count(*) FROM responses").fetchone()
        except sqlite3.DatabaseError as e:
            self.db.close()
            if "disk is full" in str(e) or "disk I/O error" in str(e):  # not damage: moving it aside would pay again
                raise HarnessError(
                    f"the API response cache {path} cannot be written ({e}). Nothing was sent. Free "
                    "space on that disk (or point paths.results elsewhere) and run again; keep the "
                    "cache: its answers are paid for."
                ) from None
            # Not healed silently: a new, empty cache would pay again for every answer the damaged one holds.
            raise HarnessError(
                f"the API response cache {path} is damaged ({e}). Nothing was sent. Restore it from a backup, or "
                f"move it aside to start an empty one (its answers would then be requested, and paid for, again)."
            ) from None
        self.lock = threading.Lock()
        self.spill_dir = spill_dir(path)
        self._unspill()

    def get(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        if row:
            return json.loads(row[0])
        spilled = self._spilled(key)  # paid for while the cache could not be written, not yet moved back in
        return spilled["response"] if spilled else None

    # -- answers paid for while the cache could not be written (a full disk) ---------------------------------------
    # An answer is paid for the moment the provider produced it: if the cache cannot take it, it goes to a spill
    # folder on another disk (the user cache), `get` finds it there, and the next opening of this cache moves it in
    # with its ledger row. Without this, a full disk under paths.results lost every answer of the cell and a
    # re-run paid for all of them again.
    def spill(
        self,
        key: str,
        endpoint: str,
        model: str,
        request: dict[str, Any],
        response: dict[str, Any],
        cell_id: str | None,
        cost: float | None,
        currency: str,
        *,
        run_id: str | None = None,
        baseline: str | None = None,
        reservation: int | None = None,
    ) -> Path:
        """Keep an answer `put` could not store; returns its file. Raises OSError when that fails too."""
        from harness.store.store import atomic_write_text

        path = self.spill_dir / f"{key}.json"
        doc = {
            "key": key,
            "endpoint": endpoint,
            "model": model,
            "request": request,
            "response": response,
            "cell_id": cell_id,
            "cost": cost,
            "currency": currency,
            "run_id": run_id,
            "baseline": baseline,
        }
        atomic_write_text(path, json.dumps(doc))
        return path

    def _spilled(self, key: str) -> dict[str, Any] | None:
        path = self.spill_dir / f"{key}.json"
        try:
            return json.loads(path.read_text()) if path.is_file() else None
        except (OSError, ValueError):
            return None

    def _unspill(self) -> None:
        for path in sorted(self.spill_dir.glob("*.json")) if self.spill_dir.is_dir() else []:
            doc = self._spilled(path.stem)
            if doc is None:
                continue
            try:
                self.put(
                    doc["key"],
                    doc["endpoint"],
                    doc["model"],
                    doc["request"],
                    doc["response"],
                    doc["cell_id"],
                    doc["cost"],
                    doc["currency"],
                    run_id=doc["run_id"],
                    baseline=doc["baseline"],
                )
            except (sqlite3.Error, OSError):
                return  # still no room: `get` keeps reading the spill folder
            path.unlink(missing_ok=True)

    def put(
        self,
        key: str,
        endpoint: str,
        model: str,
        request: dict[str, Any],
        response: dict[str, Any],
        cell_id: str | None,
        cost: float | None,
        currency: str,
        *,
        run_id: str | None = None,
        baseline: str | None = None,
        reservation: int | None = None,
    ) -> bool:
        """Store a response the provider just produced, and its bill. Every network answer is billed, so the
        ledger stays true even if two parallel jobs raced for the same request; the cache keeps the first.
        `reservation`: the budget reservation this bill replaces (deleted in the same transaction)."""
        with self.lock, self.db:  # one transaction: the response, its ledger row and the reservation's end
            if reservation is not None:
                self.db.execute("DELETE FROM reservations WHERE id = ?", (reservation,))
            cur = self.db.execute(
                "INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                (
                    key,
                    endpoint,
                    model,
                    json.dumps(request, ensure_ascii=False),
                    json.dumps(response),
                    now_iso(),
                ),
            )
            self.db.execute(
                "INSERT INTO ledger (key, cell_id, created_at, prompt_tokens, cached_tokens, completion_tokens,"
                " cost, currency, run_id, baseline) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    cell_id,
                    now_iso(),
                    response["prompt_tokens"],
                    response["cached_tokens"],
                    response["completion_tokens"],
                    cost,
                    currency,
                    run_id,
                    baseline,
                ),
            )
        return cur.rowcount == 1

    def ledger(self) -> dict[str, Any]:
        """Totals of what was actually paid (one row per fresh response)."""
        with self.lock:
            n, cost, unpriced = self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(cost), 0), SUM(cost IS NULL) FROM ledger"
            ).fetchone()
        return {"requests": n, "cost": cost, "unpriced_requests": unpriced or 0}

    # -- money caps (budget.py) ------------------------------------------------------------------------------
    def reserve(self, budget: Budget, amount: float) -> int | Cap:
        """Reserve `amount` (a request's worst-case cost) under every cap of `budget`: the id of the reservation,
        or the first cap it would pass (nothing reserved). Checked and written in one IMMEDIATE transaction (the
        database's write lock), so two processes of a run cannot both take the last room under a cap."""
        with self.lock:
            self.db.execute("BEGIN IMMEDIATE")
            try:
                self._drop_orphans()
                for cap in budget.caps:
                    if self._committed(budget.run_id, cap.baseline) + amount > cap.usd * (1 + 1e-9):
                        self.db.rollback()
                        return cap
                cur = self.db.execute(
                    "INSERT INTO reservations (run_id, baseline, cost, host, pid, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (budget.run_id, budget.baseline, amount, HOST, os.getpid(), now_iso()),
                )
                self.db.commit()
            except BaseException:
                self.db.rollback()
                raise
        return int(cur.lastrowid)  # type: ignore[arg-type]

    def release(self, reservation: int) -> None:
        """A reserved request that was not paid (it failed, or was never answered): its room is free again."""
        with self.lock, self.db:
            self.db.execute("DELETE FROM reservations WHERE id = ?", (reservation,))

    def spent(self, run_id: str, baseline: str | None = None) -> float:
        """What `run_id` paid (for `baseline`'s requests only, when given), from the ledger."""
        with self.lock:
            return self._paid(run_id, baseline)

    def _paid(self, run_id: str, baseline: str | None) -> float:
        return self._sum("ledger", run_id, baseline)

    def _committed(self, run_id: str, baseline: str | None) -> float:
        """Paid plus reserved in flight, for the run (baseline None) or one of its baselines."""
        return self._sum("ledger", run_id, baseline) + self._sum("reservations", run_id, baseline)

    def _sum(self, table: str, run_id: str, baseline: str | None) -> float:
        where, args = "run_id = ?", [run_id]
        if baseline is not None:
            where, args = where + " AND baseline = ?", [*args, baseline]
        row = self.db.execute(f"SELECT COALESCE(SUM(cost), 0) FROM {table} WHERE {where}", args).fetchone()
        return float(row[0])

    def _drop_orphans(self) -> None:
        """Reservations of a process of this host that is gone (killed mid-request) hold no room any more."""
        held = self.db.execute("SELECT id, pid FROM reservations WHERE host = ?", (HOST,)).fetchall()
        for rid, pid in held:
            if pid != os.getpid() and not _alive(pid):
                self.db.execute("DELETE FROM reservations WHERE id = ?", (rid,))

    def close(self) -> None:
        self.db.close()


def migrate(db: sqlite3.Connection) -> None:
    """Bring a cache written by an older version up to this schema: ADD COLUMN for what it lacks (old rows keep
    null: paid before runs were tracked, they count against no run's cap)."""
    have = {row[1] for row in db.execute("PRAGMA table_info(ledger)")}
    with db:
        for name, kind in LEDGER_COLUMNS.items():
            if name not in have:
                db.execute(f"ALTER TABLE ledger ADD COLUMN {name} {kind}")
        db.execute("CREATE INDEX IF NOT EXISTS ledger_run ON ledger (run_id, baseline)")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
