"""The history view: each leaderboard row's score, cost and p95 latency in every recorded run of the store.

A pure function of stored files: the run manifests (results/runs/) say which cells each run computed or
reused, the records give the numbers. A row is followed across runs by what it is (task, model, variant:
method and training size), not by its cell id, so a new weights digest, data version or price shows as a step in
that row's line: what a reader needs to see drift.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from harness.compare.stats import ci95
from harness.report.labels import row_label, variant_text
from harness.report.table import (
    cost_and_latency,
    item_scores,
    loads_as_of,
    method_label,
    task_label,
    with_capacity,
)
from harness.store import Store
from harness.store.runs import manifests
from harness.store.store import DamagedRecord

KEY = ["task", "model_key", "variant", "source"]
SHOWN = ["score", "ci_low", "ci_high", "cost_per_1k", "p95_s"]


def row_point(r: dict[str, Any], samples: list[dict[str, Any]] | None, deployment: Any, monthly: int) -> dict[str, Any]:
    """One cell's figures as the leaderboard computes them (its interval, cost and latency), without ranking."""
    primary = r.get("primary") or {}
    value, metric = primary.get("value"), primary.get("metric")
    scores = item_scores(samples, metric) if metric else {}
    binary = all(v in (0.0, 1.0) for v in scores.values()) if scores else None
    ci = ci95(value, primary.get("stderr"), r["task"]["n"], binary) if value is not None else None
    money = cost_and_latency(r, deployment, monthly)
    return {
        "task": task_label(r),
        "model_key": r["model"]["name"],
        "variant": method_label(r),
        "source": r["model"]["source"],
        "model": r["model"]["display_name"],
        "label": row_label(r["model"]["display_name"], method_label(r)),
        "cell_id": r["cell_id"],
        "score": value,
        "ci_low": ci[0] if ci else None,
        "ci_high": ci[1] if ci else None,
        "cost_per_1k": money.get("cost_per_1k"),
        "p95_s": money.get("p95_s"),
    }


def run_points(store: Store, deployment: Any, monthly_queries: int) -> pd.DataFrame:
    """One line per (finished run, row): the row's figures in that run, its self-hosted cost and its latency
    from the load records that existed when the run ended (table.loads_as_of). Each cell is read once."""
    records: dict[str, dict[str, Any] | None] = {}
    points: dict[tuple[str, str | None], dict[str, Any] | None] = {}
    loads = store.loads()

    def point(cell_id: str, until: str | None) -> dict[str, Any] | None:
        if cell_id not in records:
            try:
                records[cell_id] = store.load(cell_id)
            except (DamagedRecord, OSError):
                records[cell_id] = None  # moved to damaged/ or never stored: that run's row is not drawn
        if (cell_id, until) not in points:
            r = records[cell_id]
            points[(cell_id, until)] = (
                None
                if r is None
                else row_point(
                    with_capacity([r], loads_as_of(loads, until))[0],
                    store.samples_or_none(cell_id),
                    deployment,
                    monthly_queries,
                )
            )
        return points[(cell_id, until)]

    out = []
    for run in manifests(store.root):
        if run["status"] != "finished":
            continue
        ids = {c["cell_id"] for c in run["cells"] if c.get("cell_id") and c["status"] in ("computed", "reused")}
        for p in (point(i, run.get("ended_at")) for i in sorted(ids)):
            if p is not None:
                out.append({"run_id": run["run_id"], "started_at": run["started_at"], **p})
    return pd.DataFrame(out, columns=["run_id", "started_at", *KEY, "model", "label", "cell_id", *SHOWN])


def history(points: pd.DataFrame, board: pd.DataFrame) -> pd.DataFrame:
    """The points of the rows this report shows (matched by what they are); empty unless some row appears in at
    least two runs (one run is no history). Each row is named in the report's language."""
    if points.empty or board.empty:
        return points.iloc[0:0]
    mine = points.merge(board[KEY].drop_duplicates(), on=KEY, how="inner")
    if mine.empty or mine.groupby(KEY)["run_id"].nunique().max() < 2:
        return points.iloc[0:0]
    mine["label"] = [row_label(m, variant_text(v)) for m, v in zip(mine["model"], mine["variant"], strict=True)]
    return mine.sort_values(["task", "label", "started_at"]).reset_index(drop=True)


def changes(hist: pd.DataFrame) -> list[dict[str, Any]]:
    """Per row seen in two runs or more: how many, and its first and latest figures (the page's history table;
    the chart also draws the rows of one run, as single points)."""
    out: list[dict[str, Any]] = []
    if hist.empty:
        return out
    for (task, label), g in hist.groupby(["task", "label"], sort=True):
        if g["run_id"].nunique() < 2:
            continue
        first, last = g.iloc[0], g.iloc[-1]
        out.append(
            {
                "task": task,
                "label": label,
                "runs": int(g["run_id"].nunique()),
                "first_run": first["run_id"],
                "latest_run": last["run_id"],
                **{f"first_{k}": _num(first[k]) for k in SHOWN},
                **{f"latest_{k}": _num(last[k]) for k in SHOWN},
            }
        )
    return out


def _num(v: Any) -> float | None:
    return None if v is None or v != v else float(v)
