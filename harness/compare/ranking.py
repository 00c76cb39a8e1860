"""Ranks that never order rows by noise: tiers of rows the data cannot separate, with the family-wise error of
all "ranked below" claims of a task held at 5 % (Holm), whatever the number of rows.

Within a (task, metric) group, rows are sorted by score, highest first. Every pair of rows scored on the SAME
items is tested for "no difference" (two-sided):
  * 0/1 item scores: exact McNemar test on the items only one of the two got right (stats.mcnemar_exact);
  * other item scores (F1, field accuracy): a paired sign-flip permutation test on the item differences d:
    p = (1 + #{resamples with |sum(s * d)| >= |sum(d)|}) / (1 + N_PERM), s random signs, fixed seed. Pairs
    with fewer than MIN_PAIRED_ITEMS items are not tested (not significant).
Holm's step-down procedure then decides, over ALL tested pairs of the group at ALPHA: sort the m p-values,
reject while p_(k) < ALPHA / (m - k + 1), stop at the first that is not.

Tiers, in score order: a tier starts at its leader s (the highest row not yet placed) and extends down to the
LOWEST-scoring row j whose pair (s, j) is not separated, taking every row in between; rows with the score of the
tier's last row join it too (equal scores are never split). The next tier starts at the next row, with the same
rule. A pair is separated when Holm rejects it and the higher-scored row is better on the items; a pair that
cannot be tested on the same items (no per-item scores, different item sets) is separated by score alone, as
before, and both rows say `paired: False`. rank = 1 + the number of rows in earlier tiers; `tied_with` = the
other rows of its tier that it was tested against.

What is guaranteed, in one group:
  (a) every row of a lower tier is separated from the leader of every tier above it (the tier ended above it,
      and a tier ends only below its last unseparated row). For rows tested on the same items that is a Holm
      rejection with the leader better on the items, and Holm holds the chance that ANY rejection of the
      group is false at <= 5 %, for any number of rows, any true qualities and any dependence between the
      tests (strong family-wise control of "these two differ"; the direction is the observed one). So with
      all rows equally good, every row is ranked 1 in >= 95 % of leaderboards (measured: 96.6-98.2 % at 2-20
      rows, tests/unit/test_ranking_fwer.py). Rows of one tier are NOT claimed equal: a row may differ
      significantly from its leader yet stay in the tier because a row below it does not (it is never ranked
      below a row that scored lower). Untested pairs are ordered by score only, and say so (`paired: False`).
  (b) ranks never contradict scores: a higher score never has a worse (larger) rank; equal scores, equal rank.
  (c) for a row with `paired: True`, `tied_with` is exactly the other rows with the same rank.
  (d) a pair that Holm finds significant against the score order (the lower-scored row better on the items, or
      equal scores: possible when the score is not the plain item mean) is never silently shown as tied: both
      rows list each other in `reversed_with`. Such a pair never separates rows (it would contradict (b)).

Letters (a compact letter display, Piepho 2004), because a rank alone can mislead: rows of ranks 1 and 3 may
not differ significantly (the rank-3 row was separated from the tier's leader, not from every row of it), and
rows of one rank may. Each row of a group gets `letters`, e.g. "ab": two rows that share a letter are NOT
significantly different (no Holm rejection between them, in either direction); two rows with no letter in common
ARE (Holm rejected "no difference", in the score order or against it, `reversed_with`). Both halves hold for
every pair of lettered rows of a group, exactly. Built by insert-and-absorb: start with one letter held by all
rows; for each significant pair (i, j), every letter held by both is split into a copy without i and a copy
without j, and a letter whose rows are a subset of another letter's is dropped (absorb); then a row is taken off
a letter when every pair it forms there is also covered by another letter it holds (sweep), and empty letters
are dropped. Letters are named in score order: the letter of the best row is "a", the next "b", by the first
(highest-scored) row holding it; after "z" come "A".."Z", then "a2".."Z2", "a3", ...: every letter is one
character followed by digits only past the 52nd, so "aa2" reads "a", "a2" without a separator.
Pairs not tested on the same items (`paired: False`: different items, no per-item scores) are no evidence either
way, so no letter may claim them "not different" nor "different": letters are given only to the largest set of
rows that were all tested against each other (the rows of one item set; on a tie in size, the set holding the
higher-scored row), and every other row gets `letters: None` ("not compared"). A group with fewer than two such
rows, or above MAX_PAIRWISE rows (untested), has no letters. Non-binary pairs with fewer than MIN_PAIRED_ITEMS
items count as not significant, as in the tiers: they share a letter. `not_separated_from` lists, per row, the
rows of a DIFFERENT rank it was tested against and does not differ from significantly: where the ranks say
"1" and "3", the data do not separate the two (the summary says "not separated from").
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from harness.compare.stats import MIN_PAIRED_BOOTSTRAP, SEED, mcnemar_exact

# Family-wise error rate of all "ranked below" claims in one task's leaderboard: the 5 % the rest of the report
# uses for one comparison, now for the whole table.
ALPHA = 0.05
# Sign-flip resamples for non-binary item scores. The smallest p the test can give is 1 / (1 + N_PERM) = 5e-5,
# below Holm's first threshold at MAX_PAIRWISE rows (0.05 / 780 pairs = 6.4e-5), so a clear difference can be
# significant at any table size; the Monte Carlo error at p = 0.05 is +-0.0015 (1 SD).
N_PERM = 19_999
# Work cap: resamples x items x non-binary pairs of one group (float multiply-adds: 40 rows x 1,000 items, the
# cap, took 1.2 s on 2 cores). Above it fewer resamples are drawn, never fewer than N_PERM_MIN: a coarser p-value
# is still valid. 40 rows keep 19,999 up to 1,025 items. Where the capped count could not reach the smallest p
# Holm may need (1 / (1 + resamples) >= 0.05 / pairs), the test's normal limit is used instead (sign_flip_normal):
# that many items make it accurate, and the ranking keeps its power at any table size.
PERM_MAX_WORK = 16_000_000_000
N_PERM_MIN = 1_999
# Non-binary pairs need this many paired items to be tested. A two-sided sign-flip test on n items can never
# give p below 2 / 2^n: at n <= 5 it cannot reach 0.05 at all, and at n = 9 (0.0039) it cannot pass Holm's
# first threshold once a task has 6 rows (15 pairs: 0.0033); at n = 10 (0.002) it can up to 25 pairs. Below 10 items a
# mean of partial-credit scores rests on a handful of items anyway; such pairs count as tied, not as tested.
MIN_PAIRED_ITEMS = MIN_PAIRED_BOOTSTRAP  # 10: the same minimum as a single paired comparison's bootstrap
# Rows per task tested pairwise (n(n-1)/2 tests); above it, rank by score alone, marked untested.
MAX_PAIRWISE = 40
# Letters of one group under construction (insert-and-absorb) beyond which a group gets no letters. Where every
# wider score gap is significant whenever a narrower one inside it is, letters are runs of consecutive rows, at
# most one per row (40; 22 at most on 40 random 40-row boards); a pattern that needs more than 100 (possible in
# theory: the count can grow exponentially with the rows) is no display a reader can use, and would be slow.
MAX_LETTERS = 100
_LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def holm(pvalues: list[float] | np.ndarray, alpha: float = ALPHA) -> list[bool]:
    """Holm's step-down procedure: which hypotheses are rejected with the family-wise error held at `alpha`.
    Sorted ascending, the k-th smallest p (k = 1..m) is rejected while p < alpha / (m - k + 1); the first one
    not rejected stops it (strict '<', as the report's single-test rule 'p >= 0.05 is tied')."""
    p = np.asarray(pvalues, dtype=float)
    reject = [False] * len(p)
    for k, i in enumerate(np.argsort(p, kind="stable")):
        if not p[i] < alpha / (len(p) - k):
            break
        reject[int(i)] = True
    return reject


def sign_flip_pvalues(diffs: np.ndarray, n_perm: int = N_PERM, seed: int = SEED) -> np.ndarray:
    """Two-sided paired permutation test of "no difference" for each row of `diffs` (pairs x items): under the
    null each item's difference is as likely +d as -d, so random sign flips give its null distribution.
    p = (1 + #{|sum(s * d)| >= |sum(d)|}) / (1 + n_perm) (valid at any n_perm). All rows share one stream of
    sign vectors (one seed), drawn in chunks so that memory stays small at any number of items."""
    d = np.atleast_2d(np.asarray(diffs, dtype=float))
    # |sum(s * d)| >= |sum(d)|, with a little slack: float sums of the same terms in another order differ in the
    # last bits, and a resample that reaches the observed value exactly must count
    reach = (np.abs(d.sum(axis=1)) - 1e-9 * np.maximum(1.0, np.abs(d).sum(axis=1)))[:, None]
    hits = np.zeros(len(d))
    rng = np.random.default_rng(seed)
    block = 256  # pairs per product: with the chunk below, every array stays under ~16 MB
    chunk = max(1, min(n_perm, 2_000_000 // max(block, d.shape[1])))  # depends on the item count only
    for start in range(0, n_perm, chunk):
        signs = rng.integers(0, 2, size=(min(chunk, n_perm - start), d.shape[1]), dtype=np.int8) * 2 - 1
        signs = signs.astype(float)
        for b in range(0, len(d), block):  # (pairs x items) @ (items x resamples): the fast BLAS layout here
            hits[b : b + block] += (np.abs(d[b : b + block] @ signs.T) >= reach[b : b + block]).sum(axis=1)
    return (1.0 + hits) / (1.0 + n_perm)


def sign_flip_normal(diffs: np.ndarray) -> np.ndarray:
    """The sign-flip test's large-sample form: under the null sum(s * d) has mean 0 and variance sum(d^2), and is
    normal by the central limit theorem, so p = 2 (1 - Phi(|sum d| / sqrt(sum d^2))). Used only where the work
    cap leaves too few resamples for the smallest p Holm may need (tasks of 1,000+ items), where the normal
    limit is accurate; a p-value of exactly 0 is never claimed from resamples."""
    from scipy.stats import norm

    d = np.atleast_2d(np.asarray(diffs, dtype=float))
    spread = np.sqrt((d**2).sum(axis=1))
    z = np.divide(np.abs(d.sum(axis=1)), spread, out=np.zeros(len(d)), where=spread > 0)
    return 2 * norm.sf(z)


@lru_cache(maxsize=65_536)
def _mcnemar(hi_only: int, lo_only: int) -> float:  # the same counts recur across pairs and tasks
    return mcnemar_exact(hi_only, lo_only)


def _score(row: dict[str, Any]) -> float:
    """A missing score (None, or NaN from a DataFrame) sorts last: NaN would break every comparison below."""
    v = row["score"]
    return -math.inf if v is None or v != v else float(v)


def rank_rows(
    rows: list[dict[str, Any]], item_scores: Callable[[dict[str, Any]], dict[str, float] | None]
) -> dict[str, dict[str, Any]]:
    """rows: leaderboard rows (task, metric, score, n, cell_id, label) of one or more tasks. item_scores(row) ->
    that row's {item: score} or None when its per-sample file is not available. Returns {cell_id: {rank,
    tied_with, paired, reversed_with, below_leader, separated_in_tier, letters, not_separated_from}}:
    `tied_with` lists the cell ids of its tier that it was tested against; `paired` is False when a comparison
    of the row could not be tested on the same items (that pair is ordered by score alone); `reversed_with` lists
    rows it differs from significantly against the score order; `letters` ("ab", or None when not compared):
    rows sharing a letter are not significantly different; `not_separated_from`: rows of another rank it was
    tested against and does not differ from significantly (see the module docstring for the rules and what
    they guarantee)."""
    out: dict[str, dict[str, Any]] = {}
    by_task: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        by_task.setdefault((r["task"], r.get("metric")), []).append(r)
    for group in by_task.values():
        group = sorted(group, key=lambda r: -_score(r))  # stable: equal scores keep their input order
        if len(group) > MAX_PAIRWISE:  # too many to test: ordinal by score, marked as untested
            ordered = sorted(_score(r) for r in group)
            for r in group:  # rows with a strictly higher score, by bisection (10,000 rows stay fast)
                better = len(ordered) - bisect.bisect_right(ordered, _score(r))
                out[r["cell_id"]] = {
                    "rank": 1 + better,
                    "tied_with": [],
                    "paired": False,
                    "reversed_with": [],
                    "below_leader": False,
                    "separated_in_tier": [],
                    "letters": None,
                    "not_separated_from": [],
                }
            continue
        out.update(_rank_group(group, [item_scores(r) for r in group]))
    return out


def _pair_tests(
    items: list[dict[str, float] | None],
) -> tuple[dict[tuple[int, int], tuple[float, float]], set[tuple[int, int]]]:
    """Tests every pair (i < j, positions in score order) on the same item set. Returns ({pair: (p-value,
    mean(i) - mean(j) on the items)}, pairs not tested on the same items). Non-binary pairs with fewer than
    MIN_PAIRED_ITEMS items are in neither: compared, but counted as not significant."""
    tests: dict[tuple[int, int], tuple[float, float]] = {}
    untested = {(i, j) for i in range(len(items)) for j in range(i + 1, len(items))}
    by_items: dict[frozenset[str], list[int]] = {}
    for i, a in enumerate(items):
        # no per-sample file, no items, or a score that is not a number: compared with nothing
        if a and all(math.isfinite(v) for v in a.values()):
            by_items.setdefault(frozenset(a), []).append(i)
    for keys, members in by_items.items():
        order = sorted(keys, key=str)
        x = np.array([[items[i][k] for k in order] for i in members], dtype=float)
        binary = ((x == 0) | (x == 1)).all(axis=1)
        only = x @ (1 - x).T  # only[u, v] = items row u got right and row v wrong (0/1 rows)
        means = x.mean(axis=1)
        perm: list[tuple[tuple[int, int], float, np.ndarray]] = []  # non-binary pairs, tested together
        for u, i in enumerate(members):
            for v in range(u + 1, len(members)):
                j = members[v]
                untested.discard((i, j))
                delta = float(means[u] - means[v])
                if binary[u] and binary[v]:
                    tests[(i, j)] = (_mcnemar(round(only[u, v]), round(only[v, u])), delta)
                elif len(order) >= MIN_PAIRED_ITEMS:
                    perm.append(((i, j), delta, x[u] - x[v]))
        if perm:
            work = len(perm) * len(order)
            n_perm = min(N_PERM, max(N_PERM_MIN, PERM_MAX_WORK // work))
            diffs = np.array([d for _, _, d in perm])
            pairs_total = len(items) * (len(items) - 1) // 2
            if (1 + n_perm) * ALPHA / pairs_total < 1:  # the capped resamples could not reach Holm's first step
                pvalues = sign_flip_normal(diffs)  # many items (the cap bites above ~1,000): the CLT limit
            else:
                pvalues = sign_flip_pvalues(diffs, n_perm)
            for (pair, delta, _), p in zip(perm, pvalues, strict=True):
                tests[pair] = (float(p), delta)
    return tests, untested


def _rank_group(group: list[dict[str, Any]], items: list[dict[str, float] | None]) -> dict[str, dict[str, Any]]:
    """One (task, metric) group, sorted by score (highest first): tiers as in the module docstring."""
    n = len(group)
    scores = [_score(r) for r in group]
    tests, untested = _pair_tests(items)
    tested = list(tests)
    significant = dict(zip(tested, holm([tests[k][0] for k in tested]), strict=True))
    # separated[i, j], i above j: the data (or, for an untested pair, the score) puts j below i
    separated = np.zeros((n, n), dtype=bool)
    reversed_with: list[list[int]] = [[] for _ in range(n)]
    for (i, j), (_, delta) in tests.items():
        if not significant[(i, j)]:
            continue
        if delta > 0 and scores[i] > scores[j]:
            separated[i, j] = True
        else:  # significant against the score order (or between equal scores): shown, never a separation
            reversed_with[i].append(j)
            reversed_with[j].append(i)
    paired = [True] * n
    for i, j in untested:
        separated[i, j] = scores[i] > scores[j]
        paired[i] = paired[j] = False
    tier = [0] * n
    start = 0
    while start < n:
        end = max(j for j in range(start, n) if not separated[start, j])  # j = start is never separated
        while end + 1 < n and scores[end + 1] == scores[end]:
            end += 1
        for k in range(start, end + 1):
            tier[k] = start
        start = end + 1
    # significant[pair] covers both directions; pairs under MIN_PAIRED_ITEMS are in neither dict: not significant
    different = {pair for pair, yes in significant.items() if yes}
    letters = _group_letters(n, untested, different)
    out = {}
    for k, r in enumerate(group):
        same = [j for j in range(n) if j != k and tier[j] == tier[k] and (min(j, k), max(j, k)) not in untested]
        out[r["cell_id"]] = {
            "rank": 1 + tier[k],  # tier[k] = position of its leader = rows in earlier tiers
            "tied_with": [group[j]["cell_id"] for j in same],
            "paired": paired[k],
            "reversed_with": [group[j]["cell_id"] for j in sorted(reversed_with[k])],
            # in its tier, yet significantly below the tier's leader (kept in the tier only because a lower
            # row is not): never to be called "tied with the best"
            "below_leader": bool(separated[tier[k], k]) and (tier[k], k) not in untested,
            # rows of its own tier it differs from significantly (in the score order): not "tied" in a sentence
            "separated_in_tier": [group[j]["cell_id"] for j in same if separated[min(j, k), max(j, k)]],
            "letters": letters[k],
            # another rank, yet not significantly different: "1" and "3" that the data do not separate
            "not_separated_from": [
                group[j]["cell_id"]
                for j in range(n)
                if tier[j] != tier[k] and (pair := (min(j, k), max(j, k))) not in untested and pair not in different
            ],
        }
    return out


def _group_letters(n: int, untested: set[tuple[int, int]], different: set[tuple[int, int]]) -> list[str | None]:
    """Letters of the rows of one group (positions in score order; see the module docstring): those of the
    largest set of rows all tested against each other, None for every other row."""
    member: list[list[int]] = []  # rows tested against each other: one list per item set, in score order
    placed = [False] * n
    for i in range(n):
        if not placed[i]:
            member.append([i] + [j for j in range(i + 1, n) if not placed[j] and (i, j) not in untested])
            for j in member[-1]:
                placed[j] = True
    out: list[str | None] = [None] * n
    rows = max(member, key=len, default=[])  # max keeps the first of equal sizes: the higher-scored set
    if len(rows) < 2:
        return out
    columns = letter_columns(
        len(rows), {(rows.index(i), rows.index(j)) for i, j in different if i in rows and j in rows}
    )
    if columns is None:
        return out
    for col, holders in enumerate(columns):
        for u in holders:
            out[rows[u]] = (out[rows[u]] or "") + letter_name(col)
    return out


def letter_name(k: int) -> str:
    """The k-th letter (k = 0, 1, ...): "a".."z", "A".."Z", then "a2".."Z2", "a3", ...: a character, and digits
    only past the 52nd, so a row's letters joined without separators read back one way."""
    return _LETTERS[k % 52] + (str(k // 52 + 1) if k >= 52 else "")


def letter_columns(n: int, different: set[tuple[int, int]]) -> list[list[int]] | None:
    """A compact letter display of n rows (0 = the best, in score order) by insert-and-absorb with a sweep
    (Piepho 2004): the rows holding each letter, letters in the order they are named (by their first row, then
    the next). Rows i, j share a letter exactly when (min, max) is not in `different`. None when the
    construction exceeds MAX_LETTERS letters."""
    # a letter is a bit mask of the rows holding it
    columns = [(1 << n) - 1]
    for i, j in sorted(different):
        both = (1 << i) | (1 << j)
        kept = [c for c in columns if c & both != both]
        split = {c & ~m for c in columns if c & both == both for m in (1 << i, 1 << j)}
        # absorb: a new letter whose rows all hold another letter says nothing more. Only new letters can be:
        # the kept ones held no subsets of each other before, and a kept one inside c - {i} was inside c.
        columns = kept + [c for c in split if not any(c & d == c for d in kept + [e for e in split if e != c])]
        if len(columns) > MAX_LETTERS:
            return None

    def rows_of(c: int) -> list[int]:
        return [u for u in range(n) if c >> u & 1]

    # sweep: take row u off letter c when every pair (u, v) of c is also covered by another letter u holds, and u
    # keeps a letter; letters are visited in name order, rows from the last, so the best rows keep the early ones
    letters = sorted(columns, key=rows_of)
    for k in range(len(letters)):
        for u in reversed(rows_of(letters[k])):
            elsewhere = 0  # rows sharing another letter with u
            for m, d in enumerate(letters):
                if m != k and d >> u & 1:
                    elsewhere |= d
            if elsewhere and letters[k] & ~elsewhere & ~(1 << u) == 0:
                letters[k] &= ~(1 << u)
    return sorted(rows_of(c) for c in letters if c)
