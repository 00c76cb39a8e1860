"""The history view: each leaderboard row's score, cost and p95 latency in every recorded run of the store.

A pure function of stored files: the run manifests (results/runs/) say which cells each run computed or
reused, the records give the numbers. A row is followed across runs by what it is (task, model, variant:
method and training size), not by its cell id, so a new weights digest, data version or price shows as a step in
that row's line: what a reader needs to see drift.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.report.table import leaderboard
from harness.store import Store
from harness.store.runs import manifests
from harness.store.store import DamagedRecord

KEY = ["task", "model_key", "variant", "source"]
SHOWN = ["score", "ci_low", "ci_high", "cost_per_1k", "p95_s"]


def run_points(store: Store, deployment: Any, monthly_queries: int) -> pd.DataFrame:
    """One line per (finished run, row): the row's figures as that run's report showed them."""
    cache: dict[str, dict[str, Any] | None] = {}

    def record(cell_id: str) -> dict[str, Any] | None:
        if cell_id not in cache:
            try:
                cache[cell_id] = store.load(cell_id)
            except (DamagedRecord, OSError):
                cache[cell_id] = None  # moved to damaged/ or never stored: that run's row is not drawn
        return cache[cell_id]

    out = []
    for run in manifests(store.root):
        ids = {
            c["cell_id"] for c in run["cells"] if c.get("cell_id") and c["status"] in ("computed", "reused")
        }
        records = [r for r in (record(i) for i in sorted(ids)) if r is not None]
        if run["status"] != "finished" or not records:
            continue
        df = leaderboard(records, None, deployment, monthly_queries)
        for row in df[[*KEY, "label", "cell_id", *SHOWN]].to_dict("records"):
            out.append({"run_id": run["run_id"], "started_at": run["started_at"], **row})
    return pd.DataFrame(out, columns=["run_id", "started_at", *KEY, "label", "cell_id", *SHOWN])


def history(points: pd.DataFrame, board: pd.DataFrame) -> pd.DataFrame:
    """The points of the rows this report shows, labelled as this report labels them; empty unless some row
    appears in at least two runs (one run is no history)."""
    if points.empty or board.empty:
        return points.iloc[0:0]
    labels = board[[*KEY, "label"]].drop_duplicates(KEY)
    mine = points.drop(columns="label").merge(labels, on=KEY, how="inner")
    if mine.empty or mine.groupby(KEY)["run_id"].nunique().max() < 2:
        return points.iloc[0:0]
    return mine.sort_values(["task", "label", "started_at"]).reset_index(drop=True)


def changes(hist: pd.DataFrame) -> list[dict[str, Any]]:
    """Per row: how many runs, and its first and latest figures (the page's history table)."""
    out: list[dict[str, Any]] = []
    if hist.empty:
        return out
    for (task, label), g in hist.groupby(["task", "label"], sort=True):
        first, last = g.iloc[0], g.iloc[-1]
        out.append({"task": task, "label": label, "runs": int(g["run_id"].nunique()),
                    "first_run": first["run_id"], "latest_run": last["run_id"],
                    **{f"first_{k}": _num(first[k]) for k in SHOWN},
                    **{f"latest_{k}": _num(last[k]) for k in SHOWN}})  # fmt: skip
    return out


def _num(v: Any) -> float | None:
    return None if v is None or v != v else float(v)
