"""k-answer agreement and tie-aware ranks, on tiny cases worked out by hand."""

from __future__ import annotations

import pytest

from harness.compare.consistency import agreement, canonical, item_agreement
from harness.compare.ranking import rank_rows


def test_json_answers_compare_as_data_and_text_ignores_case_and_spacing():
    assert canonical('{"a": 1, "b": [2]}') == canonical('```json\n{"b":[2],"a":1}\n```')
    assert canonical('{"a": 1}') != canonical('{"a": 2}')
    assert canonical("  Refund  within 30 days ") == canonical("refund within 30 days")
    assert canonical("refund") != canonical("refunds")


def test_agreement_rates_by_hand():
    # item 1: 3 of 3 the same -> all agree, modal 3/3; item 2: 2 of 3 -> modal 2/3; item 3: all differ -> 1/3
    samples = [
        {"answers": ['{"x": 1}', '{ "x":1 }', '{"x": 1}']},
        {"answers": ["yes", "Yes", "no"]},
        {"answers": ["a", "b", "c"]},
        {"output": "greedy only"},  # no k answers: not counted
    ]
    assert item_agreement(samples[1]["answers"]) == (False, pytest.approx(2 / 3))
    a = agreement(samples, temperature=0.7)
    assert a["k"] == 3 and a["n"] == 3 and a["temperature"] == 0.7
    assert a["all_agree"] == pytest.approx(1 / 3)
    assert a["modal_share"] == pytest.approx((1 + 2 / 3 + 1 / 3) / 3)
    assert agreement([{"output": "x"}], 0.7) is None


def _rows(scores: dict[str, list[int]], task: str = "t") -> tuple[list[dict], dict[str, dict[str, float]]]:
    rows = [
        {"task": task, "metric": "acc", "score": sum(v) / len(v), "cell_id": k, "label": k, "n": len(v)}
        for k, v in scores.items()
    ]
    return rows, {k: {str(i): float(x) for i, x in enumerate(v)} for k, v in scores.items()}


def test_rank_counts_only_significantly_better_rows_and_names_ties():
    # 40 items. A right on 36; B right on 35 (one item fewer: tied with A); C right on 10 (both beat it clearly).
    a = [1] * 36 + [0] * 4
    b = [1] * 35 + [0] * 5
    c = [1] * 10 + [0] * 30
    rows, items = _rows({"A": a, "B": b, "C": c})
    ranks = rank_rows(rows, lambda r: items[r["cell_id"]])
    assert ranks["A"] == {"rank": 1, "tied_with": ["B"], "paired": True}
    assert ranks["B"] == {"rank": 1, "tied_with": ["A"], "paired": True}
    assert ranks["C"] == {"rank": 3, "tied_with": [], "paired": True}


def test_rows_on_different_items_are_ranked_by_score_and_marked_untested():
    rows, items = _rows({"A": [1, 1, 0], "B": [1, 0, 0]})
    items["B"] = {"7": 1.0, "8": 0.0, "9": 0.0}  # other items: no paired test
    ranks = rank_rows(rows, lambda r: items[r["cell_id"]])
    assert ranks["A"]["rank"] == 1 and ranks["B"] == {"rank": 2, "tied_with": [], "paired": False}
    # without per-sample files at all, the same
    assert rank_rows(rows, lambda r: None)["B"]["paired"] is False


def test_tasks_are_ranked_separately():
    rows1, items1 = _rows({"A": [1] * 30 + [0] * 10}, task="t1")
    rows2, items2 = _rows({"B": [0] * 40}, task="t2")
    ranks = rank_rows(rows1 + rows2, lambda r: {**items1, **items2}[r["cell_id"]])
    assert ranks["A"]["rank"] == 1 and ranks["B"]["rank"] == 1
