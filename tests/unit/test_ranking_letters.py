"""Letters beside ranks (a compact letter display, harness.compare.ranking): rows sharing a letter are not
significantly different after Holm, rows with no letter in common are; ranks that look apart but are not
separated by the data are named (`not_separated_from`)."""

from __future__ import annotations

import numpy as np

from harness.compare.ranking import ALPHA, letter_columns, letter_name, rank_rows
from harness.compare.stats import mcnemar_exact


def _rank(scores: dict[str, list[float]], missing: tuple[str, ...] = ()) -> dict[str, dict]:
    """Rows scored on the same items (item i = position i); rows named in `missing` have no per-item scores."""
    rows = [
        {"task": "t", "metric": "acc", "score": sum(v) / len(v), "cell_id": k, "label": k, "n": len(v)}
        for k, v in scores.items()
    ]
    items = {k: {str(i): float(x) for i, x in enumerate(v)} for k, v in scores.items() if k not in missing}
    return rank_rows(rows, lambda r: items.get(r["cell_id"]))


def _prefixes(right: dict[str, int], n: int = 100) -> dict[str, list[int]]:
    """Nested rows: each right on the first `right[k]` of n items, so every discordant item of a pair goes to
    the higher row and McNemar's p = 2 x 0.5^d for d discordant items (d >= 1)."""
    return {k: [1] * r + [0] * (n - r) for k, r in right.items()}


def _view(ranks: dict[str, dict]) -> dict[str, tuple]:
    return {k: (r["rank"], r["letters"], r["not_separated_from"]) for k, r in ranks.items()}


def test_middle_row_shares_a_letter_with_both_and_ranks_1_and_3_are_named():
    # A 60, B 55, C 50 of 100, nested. A-C: 10 discordant -> p = 2 / 1024 = 0.00195; A-B and B-C: 5 each ->
    # p = 0.0625. Holm over 3: 0.00195 < 0.05/3 rejects A-C; 0.0625 >= 0.05/2 stops. Tiers: A's runs to B
    # (not separated) -> A, B rank 1; C rank 3. Letters: A-C split {A,B,C} into {B,C} and {A,B} -> A "a",
    # B "ab", C "b". B (rank 1) and C (rank 3) are not significantly different: each names the other.
    assert _view(_rank(_prefixes({"A": 60, "B": 55, "C": 50}))) == {
        "A": (1, "a", []),
        "B": (1, "ab", ["C"]),
        "C": (3, "b", ["B"]),
    }


def test_four_rows_in_two_tiers_with_overlapping_letters():
    # A 80, B 75, C 70, D 65 of 100, nested: neighbours 5 discordant (p = 0.0625), two apart 10 (0.00195),
    # A-D 15 (6.1e-5). Holm over 6: 6.1e-5 < 0.05/6, 0.00195 < 0.05/5, 0.00195 < 0.05/4, then 0.0625 >= 0.05/3
    # stops: A-D, A-C, B-D significant. Tiers {A, B} (rank 1) and {C, D} (rank 3). Insert-and-absorb:
    # A-C: {B,C,D}, {A,B,D}; A-D: {A,B,D} -> {B,D} (inside {B,C,D}: absorbed), {A,B}; B-D: {B,C,D} -> {C,D},
    # {B,C} -> letters a = {A,B}, b = {B,C}, c = {C,D}.
    assert _view(_rank(_prefixes({"A": 80, "B": 75, "C": 70, "D": 65}))) == {
        "A": (1, "a", []),
        "B": (1, "ab", ["C"]),
        "C": (3, "bc", ["B"]),
        "D": (3, "c", []),
    }


def test_all_separated_rows_get_one_letter_each():
    # A 90, B 60, C 30 of 100, nested: 30 discordant items per neighbour pair, p = 2 x 0.5^30: all rejected
    assert _view(_rank(_prefixes({"A": 90, "B": 60, "C": 30}))) == {
        "A": (1, "a", []),
        "B": (2, "b", []),
        "C": (3, "c", []),
    }


def test_rows_that_nothing_separates_share_the_letter_a():
    # A 50, B 49, C 48 of 100, nested: at most 2 discordant items, p >= 0.5
    assert _view(_rank(_prefixes({"A": 50, "B": 49, "C": 48}))) == {
        "A": (1, "a", []),
        "B": (1, "a", []),
        "C": (1, "a", []),
    }


def test_one_rank_yet_different_letters_where_a_row_is_below_its_leader():
    # T 0.90, X 0.80, Y 0.79 (test_consistency_ranking's case): Holm separates T-X only (p = 0.00195), and Y,
    # below X, is not separated from T, so all three share rank 1. The letters show what the rank hides:
    # {T,X,Y} -> {X,Y}, {T,Y}: T "a", X "b", Y "ab" (T and X share no letter).
    counts = {"111": 70, "100": 10, "110": 10, "001": 9, "000": 1}
    v = {n: [int(p[k]) for p, c in counts.items() for _ in range(c)] for k, n in enumerate("TXY")}
    assert _view(_rank(v)) == {"T": (1, "a", []), "X": (1, "b", []), "Y": (1, "ab", [])}


def test_a_pair_significant_against_the_score_order_shares_no_letter():
    # P's reported score 0.70 above Q's 0.60, but Q is better on all 12 items (sign-flip p = 0.00065): both
    # rank 1 (it separates nothing), yet they are significantly different, so no common letter.
    rows = [
        {"task": "t", "metric": "f1", "score": 0.70, "cell_id": "P"},
        {"task": "t", "metric": "f1", "score": 0.60, "cell_id": "Q"},
    ]
    items = {
        "P": {str(i): 0.10 for i in range(12)},
        "Q": {str(i): 0.10 + 0.05 * (i + 1) for i in range(12)},
    }
    ranks = rank_rows(rows, lambda r: items[r["cell_id"]])
    assert ranks["P"]["reversed_with"] == ["Q"]
    assert _view(ranks) == {"P": (1, "a", []), "Q": (1, "b", [])}


def test_a_row_without_item_scores_gets_no_letters_and_is_never_named():
    # A 60, B 55, C 50 nested as in the first test, plus U (score 0.57) without per-item scores. U vs every row
    # is untested: no evidence either way, so U gets no letters (None) and appears in no not_separated_from.
    # A, B, C keep the letters of their own comparisons (Holm still over their 3 pairs only).
    v = _prefixes({"A": 60, "U": 57, "B": 55, "C": 50})
    ranks = _rank(v, missing=("U",))
    assert {k: r["paired"] for k, r in ranks.items()} == {"A": False, "U": False, "B": False, "C": False}
    # U sits between A and B by score, so A's tier (to B) takes it: C is rank 4
    assert _view(ranks) == {
        "A": (1, "a", []),
        "U": (1, None, []),
        "B": (1, "ab", ["C"]),
        "C": (4, "b", ["B"]),
    }


def test_two_item_sets_letters_only_for_the_larger_one():
    # A, B, C on items 0-99; D, E on other items (a different limit). Letters in one display must compare rows
    # that were tested against each other: A, B, C get letters, D and E none. A 90, B 60, C 58 nested: A-B and
    # A-C separated (30+ discordant), B-C not (2) -> A "a", B and C "b".
    rows = [
        {"task": "t", "metric": "acc", "score": s, "cell_id": k}
        for k, s in {"A": 0.9, "D": 0.8, "B": 0.6, "C": 0.58, "E": 0.5}.items()
    ]
    items = {k: {str(i): float(x) for i, x in enumerate(v)} for k, v in _prefixes({"A": 90, "B": 60, "C": 58}).items()}
    items.update({k: {f"x{i}": float(x) for i, x in enumerate(v)} for k, v in _prefixes({"D": 80, "E": 50}).items()})
    ranks = rank_rows(rows, lambda r: items[r["cell_id"]])
    assert {k: r["letters"] for k, r in ranks.items()} == {"A": "a", "D": None, "B": "b", "C": "b", "E": None}
    # D vs E is tested (same items) and significant: not named; no row names a row of the other item set
    assert all(r["not_separated_from"] == [] for r in ranks.values())


def test_two_item_sets_of_equal_size_letters_for_the_one_with_the_best_row():
    rows = [
        {"task": "t", "metric": "acc", "score": s, "cell_id": k}
        for k, s in {"A": 0.9, "D": 0.8, "B": 0.6, "E": 0.5}.items()
    ]
    items = {k: {str(i): float(x) for i, x in enumerate(v)} for k, v in _prefixes({"A": 90, "B": 60}).items()}
    items.update({k: {f"x{i}": float(x) for i, x in enumerate(v)} for k, v in _prefixes({"D": 80, "E": 79}).items()})
    ranks = rank_rows(rows, lambda r: items[r["cell_id"]])
    assert {k: r["letters"] for k, r in ranks.items()} == {"A": "a", "D": None, "B": "b", "E": None}


def test_a_single_row_and_a_table_too_large_to_test_get_no_letters():
    assert _view(_rank({"A": [1, 0, 1]})) == {"A": (1, None, [])}
    big = _rank({f"r{i:02d}": [1] * (i + 1) + [0] * (60 - i) for i in range(41)})  # 41 > MAX_PAIRWISE rows
    assert {r["letters"] for r in big.values()} == {None}
    assert all(r["not_separated_from"] == [] for r in big.values())


def test_letter_names_and_the_display_by_hand():
    assert [letter_name(k) for k in (0, 1, 25, 26, 51, 52, 53, 104)] == [
        "a",
        "b",
        "z",
        "A",
        "Z",
        "a2",
        "b2",
        "a3",
    ]
    assert letter_columns(3, set()) == [[0, 1, 2]]
    assert letter_columns(3, {(0, 2)}) == [[0, 1], [1, 2]]
    assert letter_columns(3, {(0, 1), (0, 2), (1, 2)}) == [[0], [1], [2]]
    # 0 and 2 tied, both differ from 1: 0 gets a, 1 b, 2 a (a letter's rows need not be adjacent)
    assert letter_columns(3, {(0, 1), (1, 2)}) == [[0, 2], [1]]
    # 0-1 and 2-3 differ, all else not: the four maximal sets {0,2}, {0,3}, {1,2}, {1,3}, all needed
    assert letter_columns(4, {(0, 1), (2, 3)}) == [[0, 2], [0, 3], [1, 2], [1, 3]]
    # significant iff two or more apart, 6 rows: one letter per neighbour pair
    far = {(i, j) for i in range(6) for j in range(i + 2, 6)}
    assert letter_columns(6, far) == [[0, 1], [1, 2], [2, 3], [3, 4], [4, 5]]


def test_the_sweep_takes_rows_off_letters_that_other_letters_already_cover():
    # 5 rows, only 0-3 and 1-2 differ. Insert-and-absorb gives {0,1,4}, {0,2,4}, {1,3,4}, {2,3,4}: row 4 would
    # carry all four letters. Its pairs are all covered by b = {0,2,4} (with 0, 2) and c = {1,3,4} (1, 3), so the
    # sweep takes it off a and d: a = {0,1}, d = {2,3}, row 4 "bc".
    assert letter_columns(5, {(0, 3), (1, 2)}) == [[0, 1], [0, 2, 4], [1, 3, 4], [2, 3]]


def test_every_pattern_of_five_rows_gives_an_exact_display_without_redundant_letters():
    """All 2^10 patterns of significances among 5 rows: sharing a letter <=> not significantly different,
    letters named from the best row, and no letter can be dropped."""
    pairs = [(i, j) for i in range(5) for j in range(i + 1, 5)]
    for mask in range(1 << len(pairs)):
        different = {p for k, p in enumerate(pairs) if mask >> k & 1}
        cols = letter_columns(5, different)
        assert cols is not None
        for i, j in pairs:  # exact: shared letter <=> not different
            assert any(i in c and j in c for c in cols) == ((i, j) not in different)
        assert sorted(cols) == cols and cols[0][0] == 0  # named in score order: the best row holds "a"
        for c in cols:  # no letter is redundant: dropping it loses a pair, or leaves a row without letters
            rest = [d for d in cols if d is not c]
            lost = any(not any(u in d and v in d for d in rest) for u in c for v in c if u < v)
            orphan = any(not any(u in d for d in rest) for u in c)
            assert lost or orphan


def _holm_significant(p: dict) -> set:
    """Pairs Holm rejects, written independently of the module: adjusted p = running max of (m - k) p_(k)."""
    running, out = 0.0, set()
    for k, key in enumerate(sorted(p, key=p.get)):
        running = max(running, (len(p) - k) * p[key])
        if running < ALPHA:
            out.add(key)
    return out


def test_letters_match_holm_on_random_leaderboards():
    """150 boards of 8 rows of unequal true accuracy (0.45..0.95) on 60 items, seed 12. On each, against an
    independent McNemar + Holm: (i) rows of every Holm-significant pair share no letter; (ii) rows of every
    other pair share at least one; (iii) not_separated_from = exactly the not-significant rows of another rank.
    Counted over all boards: pairs whose ranks differ but Holm does not separate them (what a rank alone would
    misstate) occur, and each is named."""
    rng = np.random.default_rng(12)
    misleading = named = 0
    for _ in range(150):
        quality = rng.uniform(0.45, 0.95, size=8)
        x = (rng.random((8, 60)) < quality[:, None]).astype(float)
        ids = [f"r{i}" for i in range(8)]
        rows = [
            {"task": "t", "metric": "acc", "score": float(v.mean()), "cell_id": c} for c, v in zip(ids, x, strict=True)
        ]
        items = {c: {str(k): float(s) for k, s in enumerate(v)} for c, v in zip(ids, x, strict=True)}
        ranks = rank_rows(rows, lambda r, items=items: items[r["cell_id"]])
        only = x @ (1 - x).T
        p = {(i, j): mcnemar_exact(int(only[i, j]), int(only[j, i])) for i in range(8) for j in range(i + 1, 8)}
        significant = _holm_significant(p)
        for i, j in p:
            a, b = ranks[ids[i]], ranks[ids[j]]
            shared = bool(set(a["letters"]) & set(b["letters"]))  # one-character letters at 8 rows
            assert shared == ((i, j) not in significant)
            apart = a["rank"] != b["rank"] and (i, j) not in significant
            assert (ids[j] in a["not_separated_from"]) == apart and (ids[i] in b["not_separated_from"]) == apart
            misleading += apart
            named += ids[j] in a["not_separated_from"]
    # fixed seed: 979 of the 4,200 pairs (23 %) have different ranks and are not separated, all named
    assert misleading == named == 979


def _board_frame(ranks: dict[str, dict], scores: dict[str, float]):
    """The leaderboard columns best_per_task reads, as table.leaderboard builds them, plus the two new ones."""
    import pandas as pd

    return pd.DataFrame(
        [
            {
                "task": "t",
                "cell_id": c,
                "label": c,
                "model": c,
                "variant": "base",
                "score": scores[c],
                "n": 100,
                "ci_low": None,
                "ci_high": None,
                "rank": r["rank"],
                "rank_paired": r["paired"],
                "tied_ids": r["tied_with"],
                "tied_with": "; ".join(r["tied_with"]),
                "separated_ids": r["separated_in_tier"],
                "letters": r["letters"],
                "not_separated_ids": r["not_separated_from"],
            }
            for c, r in ranks.items()
        ]
    )


def test_summary_names_lower_ranks_the_data_do_not_separate():
    from harness.report import summary

    # A 60, B 55, C 50 (the first test): A and B rank 1, C rank 3, but B vs C is not significant
    ranks = _rank(_prefixes({"A": 60, "B": 55, "C": 50}))
    [best] = summary.best_per_task(_board_frame(ranks, {"A": 0.60, "B": 0.55, "C": 0.50}))
    assert best.headline == "Best on t: A"
    assert best.detail == (
        "score 0.600 on 100 items; not separated from (tied with): B. "
        "Ranked lower, yet not separated from B (tied with it): C (rank 3)."
    )
    # A 90, B 60, C 30: every rank difference is significant -> nothing more is said
    ranks = _rank(_prefixes({"A": 90, "B": 60, "C": 30}))
    [best] = summary.best_per_task(_board_frame(ranks, {"A": 0.90, "B": 0.60, "C": 0.30}))
    assert best.detail == (
        "score 0.900 on 100 items; ranked above every other row on the same items (Holm-corrected paired tests)."
    )
    # the best row itself not separated from a lower rank (only a row with the leader's score can be; by hand)
    frame = _board_frame(_rank(_prefixes({"A": 60, "B": 55, "C": 50})), {"A": 0.60, "B": 0.55, "C": 0.50})
    frame.at[0, "not_separated_ids"] = ["C"]
    frame.at[1, "not_separated_ids"] = None
    [best] = summary.best_per_task(frame)
    assert best.detail.endswith(
        "; not separated from (tied with): B. Ranked lower, yet not separated from it: C (rank 3)."
    )
