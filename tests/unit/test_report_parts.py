"""The report's computed parts on hand-made cases: Pareto frontier, summary sentences, drill-down, comparison
with an earlier report, exports."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from harness.errors import HarnessError
from harness.report import summary
from harness.report.charts import pareto_front
from harness.report.diff import compare_rows, load_export
from harness.report.drill import drill_down
from harness.report.render import write_report
from tests.support.boards import RECORDS, samples


def test_pareto_front_by_hand():
    # (cost, score): b is cheaper and better than a; d is the cheapest; c is the best; e is beaten by c
    pts = [(2.0, 0.5), (1.0, 0.6), (5.0, 0.9), (0.5, 0.2), (6.0, 0.85)]
    assert pareto_front(pts) == [3, 1, 2]


def _df(rows):
    base = {
        "variant": "base",
        "ci_low": None,
        "ci_high": None,
        "currency": "USD",
        "measured_on": "cpu",
        "tied_with": "",
        "n": 50,
        "rank_paired": True,
        "training_cost": None,
        "stand_in": None,
    }
    return pd.DataFrame([{**base, "cell_id": r["model"], **r} for r in rows])


def test_cheapest_meeting_a_target_or_tied_with_the_best():
    df = _df(
        [
            {"task": "t", "model": "big", "score": 0.80, "rank": 1, "cost_per_1k": 2.0, "ci_low": 0.70, "ci_high": 0.9},
            {
                "task": "t",
                "model": "mid",
                "score": 0.74,
                "rank": 1,
                "cost_per_1k": 0.5,
                "ci_low": 0.62,
                "ci_high": 0.86,
            },
            {"task": "t", "model": "tiny", "score": 0.40, "rank": 3, "cost_per_1k": 0.1, "ci_low": 0.3, "ci_high": 0.5},
        ]
    )
    [tied] = summary.cheapest_meeting(df, None)
    assert tied.headline == "Cheapest option on t tied with the best (the ranking does not separate them): mid · base"
    assert "0.5000 USD per 1,000 queries" in tied.detail
    # a fine-tuned option carries its training, spread over the assumed volume (100,000 a month, 12 months)
    df.loc[df["model"] == "mid", "training_cost"] = 1200.0  # 1,000 x 1200 / 1.2M = 1.0 per 1,000 queries
    [trained] = summary.cheapest_meeting(df, None)
    assert "mid · base" in trained.headline and "1.5000 USD" in trained.detail  # 0.5 + 1.0, still under 2.0
    df.loc[df["model"] == "mid", "training_cost"] = 2400.0  # now 0.5 + 2.0 = 2.5: big (2.0) is cheaper
    [trained] = summary.cheapest_meeting(df, None)
    assert "big · base" in trained.headline and "2.0000 USD" in trained.detail
    df.loc[df["model"] == "mid", "training_cost"] = None
    [target] = summary.cheapest_meeting(df, 0.7)
    assert "mid · base" in target.headline and "reaches down to 0.620: the target is not assured" in target.detail
    [none] = summary.cheapest_meeting(df, 0.95)
    assert none.warn and none.headline == "t: no priced option scoring at least 0.95"


def test_verdict_sentences_follow_the_break_even_figure():
    be = pd.DataFrame(
        [
            {
                "tuned": "m (lora)",
                "api": "gpt",
                "task": "t",
                "tuned_score": 0.7,
                "api_score": 0.72,
                "tuned_per_1k": 0.01,
                "api_per_1k": 0.05,
                "break_even": "1,250",
                "currency": "USD",
                "tuned_cell_id": "m",
                "api_cell_id": "g",
            },
            {
                "tuned": "m (lora)",
                "api": "cheap",
                "task": "u",
                "tuned_score": 0.7,
                "api_score": 0.5,
                "tuned_per_1k": 0.01,
                "api_per_1k": 0.001,
                "break_even": "never",
                "currency": "USD",
                "tuned_cell_id": "m",
                "api_cell_id": "c",
            },
        ]
    )
    a, b = summary.verdicts(be, {("m", "g"): True, ("m", "c"): False}, 100_000)
    assert (
        "the ranking does not separate their scores" in a.detail and "cheaper above 1,250 queries a month" in a.detail
    )
    assert "the fine-tuned model scores higher" in b.detail and "never pays back" in b.detail


def test_drill_down_marks_disagreements_and_keeps_text_raw():
    rows = [
        {
            "task": "helpdesk",
            "model": r["model"]["name"],
            "variant": "base",
            "metric": "contains",
            "cell_id": r["cell_id"],
        }
        for r in RECORDS
    ]
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
    from harness.report.analysis import records_of
    from harness.report.table import leaderboard

    return records_of(leaderboard(records))


def test_exports_hold_the_main_table(tmp_path):
    path = write_report(RECORDS, tmp_path, "t")
    doc = json.loads((tmp_path / "leaderboard.json").read_text())
    assert doc["schema"] == "harness-leaderboard/1" and len(doc["rows"]) == 3
    assert {r["model"]: r["score"] for r in doc["rows"]} == {"alpha": 0.5, "beta": 0.83, "gamma": 0.33}
    assert (tmp_path / "leaderboard.csv").read_text().count("\n") == 4 and path.name == "index.html"


def test_a_baseline_that_failed_in_one_job_but_was_stored_by_another_is_not_listed_as_missing():
    from harness.report.from_store import split_outcomes

    class NoStore:
        def has(self, cell_id):
            return False

    outcomes = [
        {"cell_id": "", "status": "error", "model": "api", "task": "t", "step": "baseline"},
        {"cell_id": "x", "status": "done", "model": "api", "task": "t", "step": "baseline"},
        {
            "cell_id": "",
            "status": "failed",
            "model": "m",
            "task": "t",
            "step": "cell",
        },  # a tuned cell failed ...
        {
            "cell_id": "y",
            "status": "done",
            "model": "m",
            "task": "t",
            "step": "cell",
        },  # ... beside its base cell
    ]
    _, failed = split_outcomes(outcomes, NoStore())
    assert [(o["model"], o["status"]) for o in failed] == [("m", "failed")]


def test_an_item_logged_once_per_filter_keeps_the_primary_metrics_filter():
    from harness.evaluate.lmeval import collect

    def logged(doc_id, filt, out, em):
        return {
            "doc_id": doc_id,
            "filter": filt,
            "filtered_resps": [out],
            "resps": [[out]],
            "target": "4",
            "arguments": {"gen_args_0": {"arg_0": "q", "arg_1": {}}},
            "exact_match": em,
            "doc": {},
        }

    results = {
        "results": {
            "gsm": {
                "exact_match,strict-match": 0.5,
                "exact_match_stderr,strict-match": 0.5,
                "exact_match,flexible-extract": 1.0,
                "exact_match_stderr,flexible-extract": 0.0,
            }
        },
        "samples": {
            "gsm": [
                logged(0, "strict-match", "[invalid]", 0.0),
                logged(0, "flexible-extract", "4", 1.0),
                logged(1, "strict-match", "4", 1.0),
                logged(1, "flexible-extract", "4", 1.0),
            ]
        },
        "n-samples": {"gsm": {"effective": 2}},
    }
    metrics, rows, n = collect(results, "gsm", "exact_match[strict-match]")
    assert n == 2 and [(r["doc_id"], r["output"], r["scores"]["exact_match"]) for r in rows] == [
        (0, "[invalid]", 0.0),
        (1, "4", 1.0),
    ]
    assert metrics["exact_match[strict-match]"]["value"] == 0.5


def test_a_cost_difference_below_the_tie_share_is_a_tie_decided_by_score_then_latency():
    """The audit's case: every self-hosted row costs 0.9658 USD per 1,000, and 2.5e-7 USD of amortised training
    (a busy machine's timing) named the lower-scoring one "cheapest". Within 2 % of the cheapest, rows tie: the
    higher score decides (Gemma 0.64 over SmolLM2 0.48), then the lower p95 latency; the finding names the tie."""
    df = _df(
        [
            {"task": "t", "model": "smol", "score": 0.48, "rank": 1, "cost_per_1k": 0.9658, "p95_s": 0.8},
            {"task": "t", "model": "gemma", "score": 0.64, "rank": 1, "cost_per_1k": 0.9658, "p95_s": 1.2},
            {"task": "t", "model": "far", "score": 0.66, "rank": 1, "cost_per_1k": 0.9658 * 1.03, "p95_s": 0.1},
        ]
    )
    df.loc[df["model"] == "smol", "training_cost"] = 0.0  # 1,000 x 0.3 / 1.2M = 2.5e-4 per 1,000 for gemma:
    df.loc[df["model"] == "gemma", "training_cost"] = 0.3  # 0.96605 vs 0.9658, 0.026 % apart: a tie
    [found] = summary.cheapest_meeting(df, None)
    assert found.headline.endswith(": gemma · base")
    assert (
        "Tied on cost with smol · base (0.965800 USD to 0.966050 USD: within 2% of the cheapest or inside its "
        "measured interval, a difference the measurement cannot tell from noise), so the higher score decides, "
        "then the lower p95 latency." in found.detail
    )
    assert "far" not in found.detail  # 3 % dearer: not a tie
    df.loc[df["model"] == "smol", "score"] = 0.64  # equal scores: the lower p95 latency decides
    [found] = summary.cheapest_meeting(df, None)
    assert found.headline.endswith(": smol · base") and "Tied on cost with gemma · base" in found.detail
