"""The store: atomic, content-addressed, append-only."""

from __future__ import annotations

import json

import pytest

from harness.store import Store
from harness.store.store import atomic_write_text
from tests.support.records import make_record, make_samples


def test_write_then_load_round_trip(tmp_path):
    store = Store(tmp_path)
    record = make_record("abc", n=2, score=0.5).to_json()
    samples = make_samples([1.0, 0.0])
    assert not store.has("abc")
    store.write(record, samples)
    assert store.has("abc")
    assert store.load("abc") == record
    assert store.load_samples("abc") == samples
    assert [r["cell_id"] for r in store.all_records()] == ["abc"]


def test_atomic_write_leaves_no_partial_file_on_failure(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_text(target, object())  # type: ignore[arg-type] - write() fails after the temp file exists
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_record_is_written_after_its_samples(tmp_path, monkeypatch):
    store = Store(tmp_path)
    order = []
    import harness.store.store as mod

    real = mod.atomic_write_text
    monkeypatch.setattr(mod, "atomic_write_text", lambda p, t: (order.append(p.parent.name), real(p, t)))
    store.write({"cell_id": "x"}, [{"doc_id": 0}])
    assert order == ["samples", "records"]
    lines = '{"doc_id": 0}\n'
    stored = json.loads(store.record_path("x").read_text())
    assert stored["samples_sha256"] == __import__("hashlib").sha256(lines.encode()).hexdigest()
    assert set(stored) == {"cell_id", "samples_sha256", "record_sha256"}
