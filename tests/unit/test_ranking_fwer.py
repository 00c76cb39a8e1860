"""Ranks under noise: the family-wise error of "ranked below" claims stays at 5 % for any number of rows, and
the guarantees the ranking module states hold on random leaderboards (checked against an independent Holm)."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest

from harness.compare import ranking
from harness.compare.ranking import ALPHA, rank_rows, sign_flip_pvalues
from harness.compare.stats import mcnemar_exact

N_ITEMS = 200
BOARDS = 500  # leaderboards per size
MARGIN = 3 * math.sqrt(ALPHA * (1 - ALPHA) / BOARDS)  # 3 binomial SDs of a share whose true value is 5 %: 0.029


def _board(x: np.ndarray) -> tuple[list[dict], dict[str, dict[str, float]]]:
    keys = [str(i) for i in range(x.shape[1])]
    rows = [{"task": "t", "metric": "acc", "score": float(v.mean()), "cell_id": f"r{i}"} for i, v in enumerate(x)]
    return rows, {f"r{i}": dict(zip(keys, v.tolist(), strict=True)) for i, v in enumerate(x)}


def _ranks(x: np.ndarray) -> dict[str, dict]:
    rows, items = _board(x)
    return rank_rows(rows, lambda r: items[r["cell_id"]])


def _unadjusted_pairs(x: np.ndarray) -> bool:
    """The old rule's test: any pair with McNemar p < 0.05, no correction. (The old rule also asked the
    paired bootstrap interval to exclude 0; on 60 ten-row boards it agreed with this on all 60.)"""
    only = x @ (1 - x).T  # only[i, j]: items row i got right and row j wrong
    k = len(x)
    return any(_mcnemar(int(only[i, j]), int(only[j, i])) < 0.05 for i in range(k) for j in range(i + 1, k))


_mcnemar = functools.lru_cache(maxsize=None)(mcnemar_exact)  # 95,000 pairs at 20 rows, few distinct counts


@pytest.mark.parametrize("rows", [2, 5, 10, 20])
def test_equally_good_rows_share_rank_1_in_95_percent_of_leaderboards(rows):
    """Every row Bernoulli(0.7) on each of 200 items, independently: no real difference anywhere. Share of
    leaderboards where some row is ranked below rank 1 (500 boards per size, seed 2026 + rows):
        rows         2      5      10     20
        Holm tiers   0.034  0.018  0.024  0.018   (bound 0.05 + 0.029)
        unadjusted   0.034  0.218  0.554  0.878   (the old pairwise rule: 4 / 24 / 57 / 90 % in issue 16)
    McNemar's exact test is discrete, hence conservative, so the Holm share sits at or below 5 %. With 2 rows
    Holm is the plain test, so both rules agree."""
    rng = np.random.default_rng(2026 + rows)
    spurious = unadjusted = 0
    for _ in range(BOARDS):
        x = (rng.random((rows, N_ITEMS)) < 0.7).astype(float)
        spurious += any(r["rank"] > 1 for r in _ranks(x).values())
        unadjusted += _unadjusted_pairs(x)
    share, old_share = spurious / BOARDS, unadjusted / BOARDS
    print(f"{rows} rows: Holm tiers {share:.3f}, unadjusted {old_share:.3f}")
    assert share <= ALPHA + MARGIN
    expected = {2: (0.034, 0.034), 5: (0.018, 0.218), 10: (0.024, 0.554), 20: (0.018, 0.878)}[rows]
    assert (share, old_share) == pytest.approx(expected, abs=1e-9)  # fixed seed: the table above, exactly
    if rows == 20:  # the simulation can see the failure it guards against: without correction, most boards
        assert old_share > 0.5


def test_non_binary_scores_under_no_difference_keep_the_bound(monkeypatch):
    """Partial-credit item scores (0, 1/4, ..., 1), 5 rows x 30 items, no real difference: the sign-flip test
    with Holm ranks some row below 1 in 3 of 300 boards (0.010, seed 7), under 0.05 + 3 SDs (0.088). 1,999
    resamples instead of 19,999 to keep it fast: p = (1 + hits) / (1 + B) is valid at any B, and the smallest
    p, 1/2,000, still clears Holm's first threshold for 10 pairs (0.005)."""
    monkeypatch.setattr(ranking, "N_PERM", 1_999)
    rng = np.random.default_rng(7)
    boards = 300
    spurious = 0
    for _ in range(boards):
        x = rng.choice([0, 0.25, 0.5, 0.75, 1.0], size=(5, 30), p=[0.1, 0.1, 0.2, 0.3, 0.3])
        spurious += any(r["rank"] > 1 for r in _ranks(x).values())
    assert spurious / boards <= ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / boards)
    assert spurious == 3


def _holm_adjusted(p: dict) -> dict:
    """Holm's adjusted p-values, written independently of the module: p_adj(k) = max over j <= k of
    (m - j + 1) p_(j); a pair is significant when p_adj < 0.05."""
    order = sorted(p, key=p.get)
    adj, running = {}, 0.0
    for k, key in enumerate(order):
        running = max(running, (len(p) - k) * p[key])
        adj[key] = running
    return adj


def test_guarantees_hold_on_random_leaderboards():
    """200 boards of 8 rows with unequal true accuracies (0.45..0.95) on 60 items, so real differences, noise
    and equal scores all occur. Checked on each: (b) a higher score never gets a worse rank, equal scores get
    equal ranks; (c) tied_with = exactly the other rows of the same rank; (a) every row below tier 1 differs
    significantly (Holm, independently computed) from the leader of every tier above it, in the score order."""
    rng = np.random.default_rng(11)
    for _ in range(200):
        quality = rng.uniform(0.45, 0.95, size=8)
        x = (rng.random((8, 60)) < quality[:, None]).astype(float)
        ranks = _ranks(x)
        ids = list(ranks)
        score = {f"r{i}": x[i].mean() for i in range(8)}
        for a in ids:
            assert ranks[a]["paired"] and ranks[a]["reversed_with"] == []
            assert sorted(ranks[a]["tied_with"]) == sorted(
                b for b in ids if b != a and ranks[b]["rank"] == ranks[a]["rank"]
            )
            for b in ids:
                if score[a] > score[b]:
                    assert ranks[a]["rank"] <= ranks[b]["rank"]
                if score[a] == score[b]:
                    assert ranks[a]["rank"] == ranks[b]["rank"]
        only = x @ (1 - x).T
        p = {(i, j): mcnemar_exact(int(only[i, j]), int(only[j, i])) for i in range(8) for j in range(i + 1, 8)}
        adj = _holm_adjusted(p)
        order = sorted(range(8), key=lambda i: -x[i].mean())  # stable, as the module's
        # rank r means r - 1 rows sit in earlier tiers: the leader of each tier is the first row of that rank
        leaders = {ranks[f"r{i}"]["rank"]: i for i in reversed(order)}
        for j in range(8):
            for r, lead in leaders.items():
                if r < ranks[f"r{j}"]["rank"]:
                    assert adj[(min(lead, j), max(lead, j))] < ALPHA and x[lead].mean() > x[j].mean()


def test_sign_flip_p_value_matches_exact_enumeration():
    """12 item differences: all 4,096 sign patterns enumerated give the exact p; the 19,999 random flips agree
    within 4 Monte Carlo SDs. All-zero differences: p = 1. All one way, distinct sizes: only 2 of 4,096 patterns
    reach |sum|, exact p = 2 / 4096 = 0.000488."""
    rng = np.random.default_rng(5)
    d = rng.normal(0.15, 0.3, size=12)
    signs = np.array([[1 if (m >> k) & 1 else -1 for k in range(12)] for m in range(4096)])
    exact = float(np.mean(np.abs(signs @ d) >= abs(d.sum()) - 1e-12))
    p = sign_flip_pvalues(d[None, :])[0]
    assert 0.02 < exact < 0.5  # a p-value that is neither trivial nor tiny
    assert abs(p - exact) < 4 * math.sqrt(exact * (1 - exact) / 19_999)
    assert sign_flip_pvalues(np.zeros((1, 12)))[0] == 1.0
    one_way = np.arange(1, 13) / 20
    assert abs(sign_flip_pvalues(one_way[None, :])[0] - 2 / 4096) < 4 * math.sqrt(2 / 4096 / 19_999) + 1 / 20_000
