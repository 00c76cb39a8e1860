"""Ranks that do not over-claim: a row is ranked below another only if the paired difference is significant.

Within a task, rank = 1 + the number of rows that are significantly better on the same items (paired bootstrap
95 % interval of the difference excludes 0); rows the data cannot tell apart share a rank and name each other as
"tied". The rule is Chatbot Arena's "rank (upper bound)" applied to paired item scores. Rows scored on different
items (a different `limit`) are not compared and are marked so.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import Any

from harness.compare.stats import compare

N_BOOT_RANK = 2_000  # resamples per pair: the rank needs "significant or not", not a 4-digit bound
MAX_PAIRWISE = 40  # rows per task compared pairwise (n(n-1)/2 bootstraps); above it, rank by score alone


def rank_rows(
    rows: list[dict[str, Any]], item_scores: Callable[[dict[str, Any]], dict[str, float] | None]
) -> dict[str, dict[str, Any]]:
    """rows: leaderboard rows (task, score, n, cell_id, label) of one or more tasks. item_scores(row) -> that row's
    {item: score} or None when its per-sample file is not available. Returns {cell_id: {rank, tied_with,
    paired}}: `tied_with` lists the cell ids it cannot be told apart from; `paired` is False when a comparison
    of the row could not be tested on the same items (then its rank is by score alone)."""
    out: dict[str, dict[str, Any]] = {}
    by_task: dict[Any, list[dict[str, Any]]] = {}
    for r in rows:
        by_task.setdefault((r["task"], r.get("metric")), []).append(r)
    for group in by_task.values():
        group = sorted(group, key=lambda r: -(r["score"] if r["score"] is not None else float("-inf")))
        items = [item_scores(r) for r in group] if len(group) <= MAX_PAIRWISE else []
        better = {r["cell_id"]: 0 for r in group}
        tied: dict[str, list[str]] = {r["cell_id"]: [] for r in group}
        tested = {r["cell_id"]: True for r in group}
        pairs = [(i, j) for i in range(len(group)) for j in range(i + 1, len(group))]
        if len(group) > MAX_PAIRWISE:  # too many to test: ordinal by score, marked as untested
            pairs = []
            ordered = sorted(r["score"] or 0 for r in group)
            for r in group:  # rows with a strictly higher score, by bisection (10,000 rows stay fast)
                better[r["cell_id"]] = len(ordered) - bisect.bisect_right(ordered, r["score"] or 0)
                tested[r["cell_id"]] = False
        for i, j in pairs:
            hi, lo = group[i], group[j]
            a, b = items[i], items[j]
            if not a or not b or set(a) != set(b):  # no items, or not the same items: not a paired comparison
                # ordered by score, and both rows say their rank was not tested (neither claims a tie or a lead)
                better[lo["cell_id"]] += int((hi["score"] or 0) > (lo["score"] or 0))
                tested[lo["cell_id"]] = tested[hi["cell_id"]] = False
                continue
            p = compare(b, a, n_boot=N_BOOT_RANK)  # positive delta: the higher-scored row is better
            if p.significant and p.delta > 0:
                better[lo["cell_id"]] += 1
            else:
                tied[lo["cell_id"]].append(hi["cell_id"])
                tied[hi["cell_id"]].append(lo["cell_id"])
        for r in group:
            cid = r["cell_id"]
            out[cid] = {
                "rank": 1 + better[cid],
                "tied_with": tied[cid],
                "paired": tested[cid],
            }  # tied: cell ids
    return out
