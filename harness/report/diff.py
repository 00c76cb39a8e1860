"""Comparison with an earlier report: which rows changed by more than noise.

The earlier report is read from its `leaderboard.json` export, so any two reports compare, whatever stores they
came from. A row is the same row when task, model, fine-tuning variant and item count match. The same cell id with
the same score is the same measurement: unchanged. Otherwise, when both cells' per-item scores are in this store the
change is tested on the paired items (harness.compare.stats.compare: bootstrap interval and, for 0/1 scores,
McNemar); when not, the change's 95 % interval accounts for BOTH rows' uncertainty, combining each row's own
interval (Newcombe's method for a difference of two independent proportions; any per-row interval works). A
row "improved" or "regressed" only when that test says so; anything else is within noise and not listed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.report.i18n import N_, _, integer, label
from harness.report.labels import variant_text

EXPORT_SCHEMA = "harness-leaderboard/1"
# a row's `status` (a code: the page's classes and order) -> how the report names it (`status_label`)
STATUS = {"improved": N_("improved"), "regressed": N_("regressed"), "new": N_("new"), "gone": N_("gone")}
Samples = Callable[[str], list[dict[str, Any]]]


def load_export(path: Path) -> dict[str, Any]:
    """An earlier report's leaderboard.json (the file, or the report folder holding it)."""
    file = path / "leaderboard.json" if path.is_dir() else path
    if not file.is_file():
        raise HarnessError(f"--compare-to {path}: no leaderboard.json there (a report folder written by harness).")
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except RecursionError:
        raise HarnessError(f"--compare-to {file}: nested too deep to be a leaderboard export.") from None
    except ValueError as e:
        raise HarnessError(f"--compare-to {file}: not valid JSON ({e}).") from None
    if not isinstance(doc, dict) or doc.get("schema") != EXPORT_SCHEMA:
        raise HarnessError(f"--compare-to {file}: not a harness leaderboard export (schema {EXPORT_SCHEMA}).")
    rows = doc.get("rows")
    if not isinstance(rows, list):
        raise HarnessError(f"--compare-to {file}: `rows` is not a list of leaderboard rows.")
    for i, row in enumerate(rows):
        problem = _row_problem(row)
        if problem:
            raise HarnessError(f"--compare-to {file}: rows[{i}] {problem}; is it an export written by harness?")
    return doc


def _row_problem(row: Any) -> str | None:
    """What compare_rows reads: text keys and numbers (or null) for the score and its interval."""
    import math

    if not isinstance(row, dict):
        return "is not an object"
    for key in ("task", "model_key", "model", "variant"):
        if not isinstance(row.get(key), str):
            return f"has no text `{key}`"
    if "score" not in row or not isinstance(row.get("n"), int | None):
        return "has no `score`, or an `n` that is not a count"
    for key in ("score", "ci_low", "ci_high"):
        v = row.get(key)
        if v is not None and not (isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)):
            return f"has a `{key}` that is not a number"
    return None


def _key(row: dict[str, Any]) -> tuple[str, str, str, Any]:
    """The same row in two reports: task, model, what was done to it (method, data, k samples), item count."""
    return row["task"], row["model_key"], row["variant"], row.get("n")


def newcombe(
    now: float, now_ci: tuple[float, float], before: float, before_ci: tuple[float, float]
) -> tuple[float, float]:
    """95 % interval of now - before for two independent rows, from each row's own 95 % interval: Newcombe
    (1998, method 10), exact on the per-row intervals it is given (Wilson for 0/1 scores)."""
    (l1, u1), (l2, u2) = now_ci, before_ci
    d = now - before
    return d - math.hypot(now - l1, u2 - before), d + math.hypot(u1 - now, before - l2)


def change(now: dict[str, Any], before: dict[str, Any], samples: Samples | None) -> dict[str, Any] | None:
    """How the row changed: {delta, ci, basis (in the report's language), status (improved | regressed | None)};
    None when untestable."""
    same_cell = bool(now.get("cell_id")) and now.get("cell_id") == before.get("cell_id")
    if same_cell and now.get("score") == before.get("score"):
        return None  # the very same measurement, read again
    metric = now.get("metric")
    # a store holds one measurement per cell id: two of the same id (two stores) cannot be paired from here
    if samples is not None and metric and not same_cell and before.get("cell_id") and now.get("cell_id"):
        from harness.compare.stats import compare
        from harness.report.table import item_scores

        a, b = item_scores(samples(before["cell_id"]), metric), item_scores(samples(now["cell_id"]), metric)
        if a and set(a) == set(b):
            p = compare(a, b)
            status = None if not p.significant else ("improved" if p.delta > 0 else "regressed")
            basis = (
                _("paired on %(n)s items, McNemar p = %(p)s", n=integer(p.n), p=f"{p.p_mcnemar:.3g}")
                if p.p_mcnemar is not None
                else _("paired on %(n)s items", n=integer(p.n))
            )
            return {"delta": p.delta, "ci": [p.ci_low, p.ci_high], "status": status, "basis": basis}
    if None in (
        now.get("score"),
        before.get("score"),
        now.get("ci_low"),
        now.get("ci_high"),
        before.get("ci_low"),
        before.get("ci_high"),
    ):
        return None
    lo, hi = newcombe(
        now["score"], (now["ci_low"], now["ci_high"]), before["score"], (before["ci_low"], before["ci_high"])
    )
    status = "improved" if lo > 0 else "regressed" if hi < 0 else None
    return {
        "delta": now["score"] - before["score"],
        "ci": [lo, hi],
        "status": status,
        "basis": _("both rows' intervals (items not paired)"),
    }


def compare_rows(
    now: list[dict[str, Any]], earlier: list[dict[str, Any]], samples: Samples | None = None
) -> list[dict[str, Any]]:
    """Rows that improved or regressed beyond noise, and rows only one report has. `samples`: cell id -> per-item
    rows from this store (Store.samples_or_none), for a paired test when both cells are here."""
    before = {_key(r): r for r in earlier}
    out = []
    for r in now:
        e = before.pop(_key(r), None)
        base = {"task": r["task"], "model": r["model"], "variant": r["variant"], "now": r["score"]}
        if e is None:
            out.append({**base, "before": None, "status": "new"})
            continue
        moved = change(r, e, samples)
        if moved and moved["status"]:
            out.append(
                {
                    **base,
                    "before": e["score"],
                    "before_ci": [e.get("ci_low"), e.get("ci_high")],
                    "delta": moved["delta"],
                    "delta_ci": moved["ci"],
                    "basis": moved["basis"],
                    "status": moved["status"],
                }
            )
    out += [
        {
            "task": e["task"],
            "model": e["model"],
            "variant": e["variant"],
            "now": None,
            "before": e["score"],
            "status": "gone",
        }
        for e in before.values()
    ]
    for d in out:  # shown: the variant and the status in the report's language (the codes stay as they are)
        d.update(variant_label=variant_text(d["variant"]), status_label=label(STATUS, d["status"]))
    order = {"regressed": 0, "improved": 1, "new": 2, "gone": 3}
    return sorted(out, key=lambda x: (order[x["status"]], x["task"], x["model"]))
