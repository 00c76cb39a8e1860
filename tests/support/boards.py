"""A small made-up board (three rows on a six-item task, model text carrying script payloads) for the report's
unit and browser tests: hand-chosen scores, costs and per-item results, made with tests.support.records."""

from __future__ import annotations

from tests.support.loads import load_record
from tests.support.records import make_record, make_samples

XSS = [
    "<script>window.__xss = 1</script>",
    '<img src=x onerror="window.__xss = 2">',
    '"><svg onload="window.__xss = 3">',
]


def record(name: str, cid: str, score: float, cost: float, n_params: int) -> dict:
    return make_record(
        cid,
        model=name,
        n_params=n_params,
        task="helpdesk",
        metric="contains",
        n=6,
        score=score,
        stderr=0.06,
        cost={"per_1k_queries": cost, "currency": "USD", "training": None},
        inference={"latency_s": {"p50": cost * 10, "p95": cost * 20}},
    ).to_json()


RECORDS = [
    record("alpha", "a" * 20, 0.5, 0.030, 135_000_000),
    record("beta", "b" * 20, 0.83, 0.010, 270_000_000),
    record("gamma", "c" * 20, 0.33, 0.020, 360_000_000),
]


# Each row measured under load at the target (36,000 queries/h, one replica always on under `dedicated`), on a
# device priced so that 100,000 queries a month cost the record's `cost` per 1,000: 730 h x price / 100 = cost.
LOADS = [
    load_record(
        model_key=r["model"]["name"],
        task="helpdesk",
        capacity_qph=36_000.0,
        profile="cpu-2vcpu",
        price_per_hour=r["cost"]["per_1k_queries"] * 100 / 730,
        one_user=(r["inference"]["latency_s"]["p50"], r["inference"]["latency_s"]["p95"]),
    )
    for r in RECORDS
]


RIGHT = {"a" * 20: [1, 1, 1, 0, 0, 0], "b" * 20: [1, 1, 1, 1, 1, 0], "c" * 20: [1, 1, 0, 0, 0, 0]}


def samples(cell_id: str) -> list[dict]:
    items = range(len(RIGHT[cell_id]))
    return make_samples(
        RIGHT[cell_id],
        "contains",
        inputs=[f"question {i} {XSS[i % 3]}" for i in items],
        outputs=[XSS[i % 3] + f" answer {i}" for i in items],
    )
