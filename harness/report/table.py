"""Records -> the leaderboard DataFrame. One row per cell; nothing here is typed by hand."""

from __future__ import annotations

from typing import Any

import pandas as pd

Z95 = 1.959964  # two-sided 95 % normal quantile


def ci95(value: float, stderr: float | None, n: int) -> tuple[float, float] | None:
    """95 % interval of a mean score in [0, 1]: value +- 1.96 x lm-eval's standard error, clipped to [0, 1].

    When every item scored the same extreme (0/n or n/n right) the standard error is 0 and that interval would
    claim certainty; there the Wilson score interval is used instead (0/40 -> [0, 0.088]), which is exact for
    all-equal item scores, binary or not."""
    if not isinstance(stderr, (int, float)) or not n:
        return None
    if stderr == 0 and value in (0.0, 1.0):
        z2 = Z95**2
        edge = z2 / (n + z2)
        return (0.0, edge) if value == 0.0 else (1.0 - edge, 1.0)
    return max(0.0, value - Z95 * stderr), min(1.0, value + Z95 * stderr)


def leaderboard(records: list[dict[str, Any]]) -> pd.DataFrame:
    rows = []
    for r in records:
        primary = r.get("primary") or {}
        value = primary.get("value")
        ci = ci95(value, primary.get("stderr"), r["task"]["n"])
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
                "ci_low": None if ci is None else ci[0],
                "ci_high": None if ci is None else ci[1],
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
