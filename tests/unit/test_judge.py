"""LLM-as-judge pieces on hand-made cases (the served end-to-end path is in test_api_served.py)."""

from __future__ import annotations

import json

import pytest

from harness.errors import HarnessError
from harness.jobs.judge import judge_body, load_prompt, parse_verdict, question_text, summarise


def test_verdicts_are_parsed_from_the_first_verdict_word():
    assert parse_verdict("CORRECT") == 1
    assert parse_verdict("incorrect.") == 0
    assert parse_verdict("The answer is Incorrect, not correct") is None  # one word, or no verdict
    assert parse_verdict("not correct") is None and parse_verdict("CORRECT or INCORRECT") is None
    assert parse_verdict("**Correct.**") == 1
    assert parse_verdict("maybe") is None and parse_verdict("") is None
    assert parse_verdict("CORRECTLY") is None  # whole words only


def test_the_judge_sees_the_question_reference_and_answer():
    chat = json.dumps([{"role": "system", "content": "be brief"}, {"role": "user", "content": "Refund window?"}])
    row = {"input": chat, "reference": "30 days", "output": "You have 30 days."}
    assert question_text(row) == "Refund window?"
    body = judge_body(load_prompt("v1"), row, max_tokens=8)
    text = body["messages"][0]["content"]
    assert "Refund window?" in text and "30 days" in text and "You have 30 days." in text
    assert body["temperature"] == 0.0 and body["max_tokens"] == 8
    assert question_text({"input": "plain prompt"}) == "plain prompt"
    with pytest.raises(HarnessError, match="known prompt versions: v1"):
        load_prompt("v9")


def test_summary_by_hand():
    ok = {"error": None}
    rows = [
        {"verdict": 1, "metric_score": 1.0, "api": ok},
        {"verdict": 1, "metric_score": 0.0, "api": ok},  # judge disagrees with the metric
        {"verdict": 0, "metric_score": 0.0, "api": ok},
        {"verdict": None, "metric_score": 1.0, "api": ok},  # unparsed: not judged
        {"verdict": None, "metric_score": 1.0, "api": {"error": "HTTP 500"}},  # failed request
    ]
    s = summarise(rows, "contains")
    assert (s["n_items"], s["n_judged"], s["n_unparsed"], s["n_failed"]) == (5, 3, 1, 1)
    assert s["score"]["value"] == pytest.approx(2 / 3)
    # sample sd of (1, 1, 0) = 0.57735; stderr = sd / sqrt(3) = 0.33333
    assert s["score"]["stderr"] == pytest.approx(1 / 3)
    assert s["agreement_with_metric"] == {"metric": "contains", "rate": pytest.approx(2 / 3), "n": 3}
