"""k-answer agreement and tie-aware ranks, on tiny cases worked out by hand."""

from __future__ import annotations

import pytest

from harness.compare.consistency import agreement, canonical, item_agreement
from harness.compare.ranking import holm, rank_rows
from harness.compare.stats import compare


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


# a row ranked second by score alone: not tested against the first
UNTESTED_SECOND = {
    "rank": 2,
    "tied_with": [],
    "paired": False,
    "reversed_with": [],
    "below_leader": False,
    "separated_in_tier": [],
    "letters": None,  # not tested on the same items as any row: no letters
    "not_separated_from": [],
}


def _rows(scores: dict[str, list[float]], task: str = "t") -> tuple[list[dict], dict[str, dict[str, float]]]:
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
    # (`reversed_with` is new: significant pairs that go against the score order; none here)
    assert ranks["A"] == {
        "rank": 1,
        "tied_with": ["B"],
        "paired": True,
        "reversed_with": [],
        "below_leader": False,
        "separated_in_tier": [],
        "letters": "a",
        "not_separated_from": [],
    }
    assert ranks["B"] == {
        "rank": 1,
        "tied_with": ["A"],
        "paired": True,
        "reversed_with": [],
        "below_leader": False,
        "separated_in_tier": [],
        "letters": "a",
        "not_separated_from": [],
    }
    assert ranks["C"] == {
        "rank": 3,
        "tied_with": [],
        "paired": True,
        "reversed_with": [],
        "below_leader": False,
        "separated_in_tier": [],
        "letters": "b",
        "not_separated_from": [],
    }


def test_rows_on_different_items_are_ranked_by_score_and_marked_untested():
    rows, items = _rows({"A": [1, 1, 0], "B": [1, 0, 0]})
    items["B"] = {"7": 1.0, "8": 0.0, "9": 0.0}  # other items: no paired test
    ranks = rank_rows(rows, lambda r: items[r["cell_id"]])
    assert ranks["A"]["rank"] == 1 and ranks["B"] == UNTESTED_SECOND
    # without per-sample files at all, the same
    assert rank_rows(rows, lambda r: None)["B"]["paired"] is False


def test_tasks_are_ranked_separately():
    rows1, items1 = _rows({"A": [1] * 30 + [0] * 10}, task="t1")
    rows2, items2 = _rows({"B": [0] * 40}, task="t2")
    ranks = rank_rows(rows1 + rows2, lambda r: {**items1, **items2}[r["cell_id"]])
    assert ranks["A"]["rank"] == 1 and ranks["B"]["rank"] == 1


def _patterns(counts: dict[str, int], names: str) -> dict[str, list[int]]:
    """Item vectors from pattern counts: {"110": 6} = 6 items the first two rows got right and the third wrong."""
    return {n: [int(p[k]) for p, c in counts.items() for _ in range(c)] for k, n in enumerate(names)}


def _ranked(scores: dict[str, list[float]], metric: str = "acc") -> dict[str, dict]:
    rows, items = _rows(scores)
    for r in rows:
        r["metric"] = metric
    return rank_rows(rows, lambda r: items[r["cell_id"]])


def _old_ranks(scores: dict[str, list[float]]) -> dict[str, int]:
    """The rule this replaced: 1 + the rows significantly better on the same items, pair by pair (paired
    bootstrap interval excluding 0 and McNemar p < 0.05), no correction for the number of pairs."""
    items = {k: {str(i): float(x) for i, x in enumerate(v)} for k, v in scores.items()}
    return {
        k: 1 + sum(1 for o in items if o != k and (p := compare(items[k], items[o])).significant and p.delta > 0)
        for k in items
    }


def test_issue_16_case_t_x_y_is_no_longer_out_of_score_order():
    # 100 items; T 0.86, X 0.80, Y 0.79. Pattern (T, X, Y): 74 x 111, 6 x 100, 6 x 110, 5 x 001, 9 x 000.
    #   T vs X: T alone right 6, X alone 0   -> McNemar p = 2 x 0.5^6           = 0.03125
    #   T vs Y: T alone 12, Y alone 5        -> p = 2 x P(Bin(17, 1/2) <= 5)    = 0.14346
    #   X vs Y: X alone 6, Y alone 5         -> p = 1.0
    # Old rule: T vs X significant (p < 0.05), T vs Y and X vs Y not -> T 1, Y 1, X 2: Y above X at p = 1.0.
    # Holm over the 3 pairs: the smallest p, 0.03125, is not below 0.05 / 3 = 0.0167 -> nothing separated, and
    # the tier of T runs to its lowest unseparated row Y -> one tier: all rank 1, each tied with the other two.
    v = _patterns({"111": 74, "100": 6, "110": 6, "001": 5, "000": 9}, "TXY")
    assert [sum(v[k]) for k in "TXY"] == [86, 80, 79]
    assert _old_ranks(v) == {"T": 1, "X": 2, "Y": 1}
    ranks = _ranked(v)
    assert {k: (r["rank"], r["tied_with"]) for k, r in ranks.items()} == {
        "T": (1, ["X", "Y"]),
        "X": (1, ["T", "Y"]),
        "Y": (1, ["T", "X"]),
    }


def test_a_significant_pair_does_not_split_rows_when_a_lower_row_is_not_separated():
    # T 0.90, X 0.80, Y 0.79 on 100 items. Pattern (T, X, Y): 70 x 111, 10 x 100, 10 x 110, 9 x 001, 1 x 000.
    #   T vs X: 10 vs 0 -> p = 2 / 1024 = 0.00195; T vs Y: 20 vs 9 -> p = 0.06143; X vs Y: 10 vs 9 -> p = 1.0
    # Holm: 0.00195 < 0.05/3 rejects T vs X; 0.06143 >= 0.05/2 stops. T vs X IS significant after correction,
    # but Y (lower than X) is not separated from T, so X cannot be ranked below T without being ranked below Y:
    # the tier of T runs down to Y -> T, X, Y all rank 1. (Old rule: T 1, Y 1, X 2.)
    v = _patterns({"111": 70, "100": 10, "110": 10, "001": 9, "000": 1}, "TXY")
    assert [sum(v[k]) for k in "TXY"] == [90, 80, 79]
    assert holm([0.001953125, 0.06142834573984146, 1.0]) == [True, False, False]
    assert _old_ranks(v) == {"T": 1, "X": 2, "Y": 1}
    ranks = _ranked(v)
    assert {k: r["rank"] for k, r in ranks.items()} == {"T": 1, "X": 1, "Y": 1}
    # ...but X is marked as significantly below T, so no sentence calls X "tied with the best"
    assert ranks["X"]["below_leader"] and not ranks["Y"]["below_leader"] and not ranks["T"]["below_leader"]
    assert ranks["T"]["separated_in_tier"] == ["X"] and ranks["X"]["separated_in_tier"] == ["T"]
    assert ranks["Y"]["separated_in_tier"] == []


def test_holm_decisions_by_hand():
    # m = 4, thresholds 0.05/4, /3, /2, /1 = 0.0125, 0.0167, 0.025, 0.05: 0.01 passes, 0.02 does not -> stop.
    # Unadjusted, three of the four would be "significant".
    assert holm([0.03, 0.01, 0.5, 0.02]) == [False, True, False, False]
    # every step passes: 0.001 < 0.0167, 0.01 < 0.025, 0.04 < 0.05
    assert holm([0.04, 0.001, 0.01]) == [True, True, True]
    assert holm([0.05]) == [False]  # one test: p < 0.05, as the report's pairwise rule
    assert holm([]) == []


def test_holm_correction_changes_the_ranks():
    # 100 items; A 0.86, B 0.85, C 0.80. Pattern (A, B, C): 80 x 111, 1 x 100, 5 x 110, 14 x 000.
    #   A vs B: 1 vs 0 -> p = 1.0; A vs C: 6 vs 0 -> p = 0.03125; B vs C: 5 vs 0 -> p = 0.0625
    # Unadjusted, A vs C is significant: old rule A 1, B 1, C 2 (the tiers without correction: C 3).
    # Holm: 0.03125 >= 0.05 / 3 -> nothing separated -> all rank 1.
    v = _patterns({"111": 80, "100": 1, "110": 5, "000": 14}, "ABC")
    assert [sum(v[k]) for k in "ABC"] == [86, 85, 80]
    assert _old_ranks(v) == {"A": 1, "B": 1, "C": 2}
    assert {k: r["rank"] for k, r in _ranked(v).items()} == {"A": 1, "B": 1, "C": 1}


def test_tiers_rank_1_plus_rows_in_earlier_tiers():
    # 100 items, nested (each row right on a prefix): A 95, B 70, C 68, D 40. Every discordant item goes one
    # way: A-B 25 vs 0 (p = 6e-8), A-C 27, A-D 55, B-D 30, C-D 28 (all < 1e-8), B-C 2 vs 0 (p = 0.5).
    # Holm rejects the five tiny ones (the largest, 6e-8, < 0.05/2) and stops at B-C (0.5 >= 0.05).
    # Tiers: {A}; B leads the next and runs to C (not separated); D alone -> ranks 1, 2, 2, 4.
    v = {k: [1] * n + [0] * (100 - n) for k, n in {"A": 95, "B": 70, "C": 68, "D": 40}.items()}
    ranks = _ranked(v)
    assert {k: (r["rank"], r["tied_with"]) for k, r in ranks.items()} == {
        "A": (1, []),
        "B": (2, ["C"]),
        "C": (2, ["B"]),
        "D": (4, []),
    }


def test_equal_scores_are_never_split():
    # 100 items. L right on items 0-69 (0.70); A on 0-49 and 70-79 (0.60); B on 0-59 (0.60), A listed first.
    #   L vs A: 20 vs 10 -> p = 0.0987; L vs B: 10 vs 0 -> p = 0.00195; A vs B: 10 vs 10 -> p = 1.0
    # Holm rejects L vs B only. L's tier runs to A (not separated), which would leave B, with A's score, at
    # rank 3; equal scores join the tier instead -> all rank 1.
    v = {
        "L": [1] * 70 + [0] * 30,
        "A": [1] * 50 + [0] * 20 + [1] * 10 + [0] * 20,
        "B": [1] * 60 + [0] * 40,
    }
    assert {k: r["rank"] for k, r in _ranked(v).items()} == {"L": 1, "A": 1, "B": 1}


def test_non_binary_pair_significant_against_the_score_order_is_shown_not_hidden():
    # 12 items of partial credit. P's reported score is 0.70 and Q's 0.60 (a metric that is not the item mean,
    # e.g. one computed over the whole corpus), but item by item Q is better on all 12: P 0.10 everywhere, Q
    # 0.15, 0.20, ..., 0.70. Sign-flip test: only the 2 all-same-sign patterns of 4,096 reach |sum|, exact
    # p = 0.00049; with 19,999 resamples (seed 1234) p = 13 / 20,000 = 0.00065 < 0.05 (one pair: Holm = plain).
    # Against the score order it separates nothing (P stays at rank 1 with Q), and both rows say so.
    rows, items = _rows({"P": [0] * 12, "Q": [0] * 12})
    rows[0]["score"], rows[1]["score"] = 0.70, 0.60
    items["P"] = {str(i): 0.10 for i in range(12)}
    items["Q"] = {str(i): 0.10 + 0.05 * (i + 1) for i in range(12)}
    ranks = rank_rows(rows, lambda r: items[r["cell_id"]])
    assert ranks["P"] == {
        "rank": 1,
        "tied_with": ["Q"],
        "paired": True,
        "reversed_with": ["Q"],
        "below_leader": False,
        "separated_in_tier": [],
        "letters": "a",  # significant: no common letter
        "not_separated_from": [],
    }
    assert ranks["Q"] == {
        "rank": 1,
        "tied_with": ["P"],
        "paired": True,
        "reversed_with": ["P"],
        "below_leader": False,
        "separated_in_tier": [],
        "letters": "b",  # significant: no common letter
        "not_separated_from": [],
    }


def test_non_binary_pairs_need_ten_items():
    # E 0.9 and F 0.1 on every item: the largest possible gap. With 10 items the sign-flip p is about
    # 2 / 1024 = 0.002 (here 44 / 20,000 = 0.0022) -> F rank 2. With 9 items the pair is not tested -> tied.
    for n, f_rank in ((10, 2), (9, 1)):
        ranks = _ranked({"E": [0.9] * n, "F": [0.1] * n}, metric="f1")
        assert ranks["E"]["rank"] == 1 and ranks["F"]["rank"] == f_rank
        assert ranks["F"]["paired"] is True and ranks["F"]["tied_with"] == (["E"] if f_rank == 1 else [])


def test_a_row_without_item_scores_between_tested_rows():
    # A 0.80 and B 0.78 on the same 100 items (A alone right on 2: p = 0.5), C 0.30 on them too; U 0.79 has no
    # per-sample file. Holm separates A-C and B-C only. U vs A, B, C: untested, ordered by score. A's tier runs
    # to B (not separated), so U, between them, is in it: A, U, B rank 1; C (separated from A) rank 4.
    # tied_with lists tested rows only; every row has an untested pair (with U), so none says paired.
    rows, items = _rows({"A": [1] * 80 + [0] * 20, "B": [1] * 78 + [0] * 22, "C": [1] * 30 + [0] * 70})
    rows.append({"task": "t", "metric": "acc", "score": 0.79, "cell_id": "U", "label": "U", "n": 100})
    ranks = rank_rows(rows, lambda r: items.get(r["cell_id"]))
    assert {k: (r["rank"], r["tied_with"], r["paired"]) for k, r in ranks.items()} == {
        "A": (1, ["B"], False),
        "U": (1, [], False),
        "B": (1, ["A"], False),
        "C": (4, [], False),
    }


def test_an_item_score_that_is_not_a_number_makes_the_row_untested():
    # A NaN would make every sign-flip resample miss the observed value (p = 1 / 20,000): not compared instead.
    rows, items = _rows({"A": [0.5] * 20, "B": [0.25] * 20})
    items["B"]["3"] = float("nan")
    ranks = rank_rows(rows, lambda r: items[r["cell_id"]])
    assert ranks["B"] == UNTESTED_SECOND
