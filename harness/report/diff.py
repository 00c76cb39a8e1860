"""Comparison with an earlier report: which rows moved beyond their earlier 95 % interval.

The earlier report is read from its `leaderboard.json` export, so any two reports compare, whatever stores they
came from. A row is the same row when task, model, fine-tuning variant and item count match. "Improved" = the new score is
above the earlier row's 95 % interval; "regressed" = below it; anything else is within noise and not listed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

EXPORT_SCHEMA = "harness-leaderboard/1"


def load_export(path: Path) -> dict[str, Any]:
    """An earlier report's leaderboard.json (the file, or the report folder holding it)."""
    file = path / "leaderboard.json" if path.is_dir() else path
    if not file.is_file():
        raise HarnessError(
            f"--compare-to {path}: no leaderboard.json there (a report folder written by harness)."
        )
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
            raise HarnessError(
                f"--compare-to {file}: rows[{i}] {problem}; is it an export written by harness?"
            )
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
        if v is not None and not (
            isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        ):
            return f"has a `{key}` that is not a number"
    return None


def _key(row: dict[str, Any]) -> tuple[str, str, str, Any]:
    """The same row in two reports: task, model, what was done to it (method, data, k samples), item count."""
    return row["task"], row["model_key"], row["variant"], row.get("n")


def compare_rows(now: list[dict[str, Any]], earlier: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows that improved or regressed beyond the earlier interval, and rows only one report has."""
    before = {_key(r): r for r in earlier}
    out = []
    for r in now:
        e = before.pop(_key(r), None)
        base = {"task": r["task"], "model": r["model"], "variant": r["variant"], "now": r["score"]}
        if e is None:
            out.append({**base, "before": None, "status": "new"})
            continue
        lo, hi = e.get("ci_low"), e.get("ci_high")
        if r["score"] is None or e["score"] is None or lo is None or hi is None:
            continue
        status = "improved" if r["score"] > hi else "regressed" if r["score"] < lo else None
        if status:
            out.append({**base, "before": e["score"], "before_ci": [lo, hi], "delta": r["score"] - e["score"],
                        "status": status})  # fmt: skip
    out += [{"task": e["task"], "model": e["model"], "variant": e["variant"], "now": None, "before": e["score"],
             "status": "gone"} for e in before.values()]  # fmt: skip
    order = {"regressed": 0, "improved": 1, "new": 2, "gone": 3}
    return sorted(out, key=lambda x: (order[x["status"]], x["task"], x["model"]))
