"""Store: one JSON record per cell + one per-sample JSONL, content-addressed by cell id, written atomically."""

from harness.store.record import SCHEMA_VERSION
from harness.store.store import Store

__all__ = ["SCHEMA_VERSION", "Store"]
