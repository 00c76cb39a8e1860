"""A money cap (harness/api/budget.py) against the real stand-in endpoint: it stops a served baseline
mid-way, every paid answer is kept, and a later run pays only for the rest. The cap's arithmetic on hand-made
numbers is in tests/unit/test_budget.py."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.support.run import compose_cfg


def test_a_budget_that_stops_a_served_baseline_mid_way_keeps_every_paid_answer(
    tmp_path, monkeypatch, standin_url, smol_dir
):
    """baseline=local-smollm2 (the session's shared `transformers serve`; its tokenizer counts the prompts) on 16
    helpdesk items, max_tokens 8, priced at 1,000 USD per 1M tokens (0.001 USD a token): a helpdesk prompt is
    about 166 tokens (README), so a request reserves about 0.174 USD and the 1.00 USD cap fits about 5 of 16. Each sent request is checked against the rule by hand,
    with the prompt counted by the model's own tokenizer (as the client counts it)."""
    from harness.api.lm import tokenizer_estimate
    from harness.jobs.run_cell import run_baseline
    from harness.store import Store

    cap, per_token = 1.0, 1000.0
    args = [
        "model=none",
        "finetune=none",
        "baseline=local-smollm2",
        "baseline.serve=null",
        f"baseline.base_url={standin_url}",
        f"baseline.model={smol_dir}",
        "baseline.tokenizer=smollm2-135m",
        "task=helpdesk_en",
        "task.limit=16",
        "baseline.max_tokens=8",
        "baseline.concurrency=1",
        f"baseline.price.input_per_1m={per_token}",
        f"baseline.price.cached_input_per_1m={per_token}",
        f"baseline.price.output_per_1m={per_token}",
        f"paths.results={tmp_path / 'results'}",
    ]
    monkeypatch.setenv("HARNESS_RUN_ID", "run-capped")
    [o] = run_baseline(compose_cfg([*args, f"budget.max_usd={cap}"]))
    assert o.status == "stopped_by_budget", o.message
    store = Store(tmp_path / "results")
    assert store.all_records() == []  # no record of a stopped cell
    db = sqlite3.connect(tmp_path / "results" / "api_cache.sqlite")
    rows = db.execute(
        "SELECT l.cost, r.request, r.response FROM ledger l JOIN responses r ON r.key = l.key "
        "WHERE l.run_id = 'run-capped' ORDER BY l.id"
    ).fetchall()
    n_paid = db.execute("SELECT COUNT(*) FROM ledger WHERE run_id = 'run-capped'").fetchone()[0]
    assert len(rows) == n_paid  # every paid answer is in the cache
    assert 0 < n_paid < 16 and f"{n_paid} of 16 requests answered and kept" in o.message
    assert sum(c for c, _, _ in rows) <= cap
    count = tokenizer_estimate(str(smol_dir))
    paid = 0.0
    for c, request, response in rows:  # the rule, by hand: paid so far + worst case <= cap, for each one sent
        prompt = count(json.loads(request)["messages"], "")[0]
        assert json.loads(response)["prompt_tokens"] == prompt  # the tokenizer counts what the server bills
        assert paid + (prompt + 8) * per_token / 1e6 <= cap
        assert c == pytest.approx((prompt + json.loads(response)["completion_tokens"]) * per_token / 1e6)
        paid += c

    # no cap, another run: the record is complete and only the missing answers are paid
    monkeypatch.setenv("HARNESS_RUN_ID", "run-full")
    [o] = run_baseline(compose_cfg([*args, "baseline.concurrency=4"]))  # transport: the same cell
    assert o.status == "done", o.message
    [record] = store.all_records()
    assert record["task"]["n"] == 16 and record["api"]["n_failed"] == 0
    assert record["api"]["n_from_cache"] == n_paid
    n_new, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM ledger").fetchone()
    assert (n_new, distinct) == (16, 16)  # nothing paid twice
    assert db.execute("SELECT COUNT(*) FROM ledger WHERE run_id = 'run-full'").fetchone() == (16 - n_paid,)
    assert record["api"]["cost"]["billed_this_run"] == pytest.approx(
        db.execute("SELECT SUM(cost) FROM ledger WHERE run_id = 'run-full'").fetchone()[0]
    )
