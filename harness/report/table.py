"""Records -> the leaderboard DataFrame. One row per cell; nothing here is typed by hand."""

from __future__ import annotations

from typing import Any

import pandas as pd

Z95 = 1.959964  # two-sided 95 % normal quantile


def leaderboard(records: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in records:
        primary = r.get("primary") or {}
        value, stderr = primary.get("value"), primary.get("stderr")
        half = Z95 * stderr if isinstance(stderr, (int, float)) else None
        rows.append(
            {
                "task": r["task"]["name"],
                "model": r["model"]["display_name"],
                "model_key": r["model"]["name"],
                "source": r["model"]["source"],
                "params_m": r["model"]["n_params"] / 1e6,
                "method": r["finetune"]["method"],
                "metric": primary.get("metric"),
                "score": value,
                "ci_low": None if half is None else max(0.0, value - half),
                "ci_high": None if half is None else min(1.0, value + half),
                "n": r["task"]["n"],
                **{f"m:{k}": v["value"] for k, v in r["metrics"].items()},
                "eval_s": r["timings"].get("evaluate_s"),
                "items_per_s": r["timings"].get("items_per_s"),
                "device": r["eval"]["device"]["kind"],
                "cell_id": r["cell_id"],
            }
        )
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    return df.sort_values(["task", "score"], ascending=[True, False], kind="stable").reset_index(drop=True)
