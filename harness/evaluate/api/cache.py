"""Persistent response cache and cost ledger (SQLite): an API response is paid for once.

The key is the SHA-256 of the endpoint, the model and the full request body (messages, max_tokens, stop,
temperature...), so a re-run of a finished or half-finished cell sends only what never got an answer. The
ledger gets one row per response the provider actually produced (and billed); a cache hit adds nothing.
Keys are never stored: the endpoint is identified by its URL (or, for the local stand-in, by its model).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.store.record import now_iso

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY, endpoint TEXT NOT NULL, model TEXT NOT NULL, request TEXT NOT NULL,
    response TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, cell_id TEXT, created_at TEXT NOT NULL,
    prompt_tokens INTEGER, cached_tokens INTEGER, completion_tokens INTEGER, cost REAL, currency TEXT);
"""


def request_key(endpoint: str, model: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"endpoint": endpoint, "model": model, "request": request}, sort_keys=True,
                           ensure_ascii=False, separators=(",", ":"))  # fmt: skip
    return hashlib.sha256(canonical.encode()).hexdigest()


class ResponseCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection, used from the event loop's thread; the lock covers any other caller.
        self.db = sqlite3.connect(path, check_same_thread=False, timeout=60)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")  # parallel sweep jobs read while one writes
            # WAL + NORMAL: a commit survives a killed process (what resuming needs) without an fsync per
            # response; only a power cut can lose the last few, which are then asked (and paid for) again.
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(SCHEMA)
            self.db.execute("SELECT count(*) FROM responses").fetchone()
        except sqlite3.DatabaseError as e:
            self.db.close()
            # Not healed silently: a new, empty cache would pay again for every answer the damaged one holds.
            raise HarnessError(
                f"the API response cache {path} is damaged ({e}). Nothing was sent. Restore it from a backup, or "
                f"move it aside to start an empty one (its answers would then be requested, and paid for, again)."
            ) from None
        self.lock = threading.Lock()

    def get(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            row = self.db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, endpoint: str, model: str, request: dict[str, Any], response: dict[str, Any],
            cell_id: str | None, cost: float | None, currency: str) -> bool:  # fmt: skip
        """Store a response the provider just produced, and its bill. Every network answer is billed, so the
        ledger stays true even if two parallel jobs raced for the same request; the cache keeps the first."""
        with self.lock, self.db:  # one transaction: the response and its ledger row land together
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
                " cost, currency) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    key,
                    cell_id,
                    now_iso(),
                    response["prompt_tokens"],
                    response["cached_tokens"],
                    response["completion_tokens"],
                    cost,
                    currency,
                ),  # fmt: skip
            )
        return cur.rowcount == 1

    def ledger(self) -> dict[str, Any]:
        """Totals of what was actually paid (one row per fresh response)."""
        with self.lock:
            n, cost, unpriced = self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(cost), 0), SUM(cost IS NULL) FROM ledger"
            ).fetchone()
        return {"requests": n, "cost": cost, "unpriced_requests": unpriced or 0}

    def close(self) -> None:
        self.db.close()
