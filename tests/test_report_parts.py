"""The report's computed parts on hand-made cases: Pareto frontier, summary sentences, drill-down, comparison
with an earlier report, exports."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.report import summary
from harness.report.build import write_report
from harness.report.charts import pareto_front
from harness.report.diff import compare_rows, load_export
from harness.report.drill import drill_down
from tests.test_report_browser import RECORDS, samples


def test_pareto_front_by_hand():
    # (cost, score): b is cheaper and better than a; d is the cheapest; c is the best; e is beaten by c
    pts = [(2.0, 0.5), (1.0, 0.6), (5.0, 0.9), (0.5, 0.2), (6.0, 0.85)]
    assert pareto_front(pts) == [3, 1, 2]


def _df(rows):
    base = {"variant": "base", "ci_low": None, "ci_high": None, "currency": "USD", "measured_on": "cpu",
            "tied_with": "", "n": 50}  # fmt: skip
    return pd.DataFrame([{**base, **r} for r in rows])


def test_cheapest_meeting_a_target_or_tied_with_the_best():
    df = _df([
        {"task": "t", "model": "big", "score": 0.80, "rank": 1, "cost_per_1k": 2.0, "ci_low": 0.70, "ci_high": 0.9},
        {"task": "t", "model": "mid", "score": 0.74, "rank": 1, "cost_per_1k": 0.5, "ci_low": 0.62, "ci_high": 0.86},
        {"task": "t", "model": "tiny", "score": 0.40, "rank": 3, "cost_per_1k": 0.1, "ci_low": 0.3, "ci_high": 0.5},
    ])  # fmt: skip
    [tied] = summary.cheapest_meeting(df, None)
    assert tied.headline == "Cheapest option on t statistically tied with the best: mid · base"
    assert "0.5000 USD per 1,000 queries" in tied.detail
    [target] = summary.cheapest_meeting(df, 0.7)
    assert (
        "mid · base" in target.headline
        and "reaches down to 0.620: the target is not assured" in target.detail
    )
    [none] = summary.cheapest_meeting(df, 0.95)
    assert none.warn and none.headline == "t: no priced option scoring at least 0.95"


def test_verdict_sentences_follow_the_break_even_figure():
    be = pd.DataFrame([
        {"tuned": "m (lora)", "api": "gpt", "task": "t", "tuned_score": 0.7, "api_score": 0.72, "tuned_per_1k": 0.01,
         "api_per_1k": 0.05, "break_even": "1,250", "currency": "USD"},
        {"tuned": "m (lora)", "api": "cheap", "task": "u", "tuned_score": 0.7, "api_score": 0.5, "tuned_per_1k": 0.01,
         "api_per_1k": 0.001, "break_even": "never", "currency": "USD"},
    ])  # fmt: skip
    a, b = summary.verdicts(be, {("m (lora)", "gpt"): True, ("m (lora)", "cheap"): False}, 100_000)
    assert (
        "their scores are statistically tied" in a.detail
        and "cheaper above 1,250 queries a month" in a.detail
    )
    assert "the fine-tuned model scores higher" in b.detail and "never pays back" in b.detail


def test_drill_down_marks_disagreements_and_keeps_text_raw():
    rows = [{"task": "helpdesk", "model": r["model"]["name"], "variant": "base", "metric": "contains",
             "cell_id": r["cell_id"]} for r in RECORDS]  # fmt: skip
    [t] = drill_down(rows, samples)
    assert t["columns"] == ["alpha · base", "beta · base", "gamma · base"] and t["n_items"] == 6
    assert [e["disagree"] for e in t["entries"]] == [False, False, True, True, True, False]
    assert [a["correct"] for a in t["entries"][2]["answers"]] == [True, True, False]
    assert t["entries"][0]["answers"][0]["output"].startswith("<script>")  # escaped by the template, not here
    assert drill_down(rows, None) == []


def test_comparison_with_an_earlier_report(tmp_path):
    earlier = write_report(RECORDS, tmp_path / "before", "before")
    now = [json.loads(json.dumps(r)) for r in RECORDS]
    now[0]["primary"]["value"] = 0.9  # alpha: 0.50 -> 0.90, above its earlier interval
    now[2]["primary"]["value"] = 0.30  # gamma: 0.33 -> 0.30, inside it: not listed
    now = now[:2] + [now[2]]
    now[1]["model"].update(name="delta", display_name="delta")  # beta gone, delta new
    doc = load_export(earlier.parent)
    diff = compare_rows(json.loads(json.dumps(_rows(now))), doc["rows"])
    assert [(d["status"], d["model"]) for d in diff] == [
        ("improved", "alpha"),
        ("new", "delta"),
        ("gone", "beta"),
    ]
    assert diff[0]["delta"] == pytest.approx(0.4)
    html = write_report(now, tmp_path / "after", "after", earlier=doc).read_text()
    assert 'id="comparison-table"' in html and "improved" in html
    with pytest.raises(HarnessError, match="no leaderboard.json"):
        load_export(tmp_path / "nowhere")


def _rows(records):
    from harness.report.build import records_of
    from harness.report.table import leaderboard

    return records_of(leaderboard(records))


def test_exports_hold_the_main_table(tmp_path):
    path = write_report(RECORDS, tmp_path, "t")
    doc = json.loads((tmp_path / "leaderboard.json").read_text())
    assert doc["schema"] == "harness-leaderboard/1" and len(doc["rows"]) == 3
    assert {r["model"]: r["score"] for r in doc["rows"]} == {"alpha": 0.5, "beta": 0.83, "gamma": 0.33}
    assert (tmp_path / "leaderboard.csv").read_text().count("\n") == 4 and path.name == "index.html"


def test_a_baseline_that_failed_in_one_job_but_was_stored_by_another_is_not_listed_as_missing():
    from harness.report.callback import split_outcomes

    class NoStore:
        def has(self, cell_id):
            return False

    outcomes = [
        {"cell_id": "", "status": "error", "model": "api", "task": "t", "step": "baseline"},
        {"cell_id": "x", "status": "done", "model": "api", "task": "t", "step": "baseline"},
        {"cell_id": "", "status": "failed", "model": "m", "task": "t", "step": "cell"},  # a tuned cell failed ...
        {"cell_id": "y", "status": "done", "model": "m", "task": "t", "step": "cell"},  # ... beside its base cell
    ]
    _, failed = split_outcomes(outcomes, NoStore())
    assert [(o["model"], o["status"]) for o in failed] == [("m", "failed")]
