"""The executive summary: plain sentences computed from the report's tables, for a reader who reads nothing else.

Each finding is (kind, headline, detail); the template prints them in order. Every number comes from the
tables; a sentence is only written when its data exist, and missing data is said, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.report.labels import row_label


@dataclass(frozen=True)
class Finding:
    kind: str  # best | cheapest | verdict | forgetting | scaling | not_measured
    headline: str
    detail: str = ""
    warn: bool = False


def _name(row: Any) -> str:
    return row_label(row["model"], row["variant"])


def _money(v: float | None, currency: str = "USD") -> str:
    return "unpriced" if v is None or v != v else f"{v:.4f} {currency}"


def best_per_task(df: pd.DataFrame) -> list[Finding]:
    out = []
    for task, part in df.groupby("task", sort=True):
        top = part.sort_values(["rank", "score"], ascending=[True, False]).iloc[0]
        tied = top["tied_with"]
        detail = f"score {top['score']:.3f} on {int(top['n'])} items"
        if top["ci_low"] is not None and top["ci_low"] == top["ci_low"]:
            detail += f" (95 % CI {top['ci_low']:.3f} to {top['ci_high']:.3f})"
        detail += (
            f"; statistically tied with: {tied}." if tied else "; no other row is statistically tied with it."
        )
        out.append(Finding("best", f"Best on {task}: {_name(top)}", detail))
    return out


def cheapest_meeting(df: pd.DataFrame, target: float | None) -> list[Finding]:
    """Per task, the cheapest row (cost per 1,000 queries) that meets the target score; with no target, the
    cheapest row tied with the best (rank 1)."""
    out = []
    for task, part in df.groupby("task", sort=True):
        priced = part[part["cost_per_1k"].notna()]
        if target is None:
            ok, rule = priced[priced["rank"] == 1], "statistically tied with the best"
        else:
            ok, rule = priced[priced["score"] >= target], f"scoring at least {target:.2f}"
        if ok.empty:
            why = "no priced option" if priced.empty else f"no priced option {rule}"
            out.append(Finding("cheapest", f"{task}: {why}", "", warn=True))
            continue
        row = ok.sort_values("cost_per_1k").iloc[0]
        sure = ""
        if target is not None and row["ci_low"] == row["ci_low"] and row["ci_low"] is not None:
            sure = (" Its whole 95 % interval is above the target." if row["ci_low"] >= target
                    else f" But its 95 % interval reaches down to {row['ci_low']:.3f}: the target is not assured.")  # fmt: skip
        out.append(Finding(
            "cheapest", f"Cheapest option on {task} {rule}: {_name(row)}",
            f"{_money(row['cost_per_1k'], row['currency'])} per 1,000 queries, score {row['score']:.3f}, measured on "
            f"{row['measured_on']}.{sure}",
        ))  # fmt: skip
    return out


def verdicts(breakeven: pd.DataFrame, ties: dict[tuple[str, str], bool], monthly: float) -> list[Finding]:
    """Fine-tune or API, per fine-tuned model and API baseline on the same items."""
    out = []
    for _, b in breakeven.iterrows():
        tied = ties.get((b["tuned"], b["api"]))
        quality = ("their scores are statistically tied" if tied else
                   ("the fine-tuned model scores higher" if b["tuned_score"] > b["api_score"] else
                    "the API scores higher")) if tied is not None else "scores not compared on paired items"  # fmt: skip
        be = b["break_even"]
        if be == "never":
            money = "the API is cheaper per query, so fine-tuning never pays back its training"
        elif be == "always":
            money = "fine-tuning is cheaper at any volume"
        elif be.startswith("unknown"):
            money = "the cost comparison is unknown (a price is missing)"
        else:
            money = f"fine-tuning is cheaper above {be} queries a month (your assumption: {monthly:,.0f})"
        out.append(Finding(
            "verdict", f"{b['tuned']} vs {b['api']} on {b['task']}",
            f"Score {b['tuned_score']:.3f} vs {b['api_score']:.3f}: {quality}. Cost per 1,000 queries "
            f"{_money(b['tuned_per_1k'], b['currency'])} vs {_money(b['api_per_1k'], b['currency'])}; {money}.",
        ))  # fmt: skip
    return out


def forgetting(effects: pd.DataFrame) -> list[Finding]:
    if effects.empty:
        return []
    other = effects[~effects["role"].str.startswith("domain")]
    lost = other[other["forgetting"].fillna(False).astype(bool)]
    out = [Finding("forgetting", f"Forgetting: {row_label(r['model'], r['variant'])} lost ability on {r['task']}",
                   f"{r['delta']:+.3f} (paired 95 % CI {r['ci_low']:+.3f} to {r['ci_high']:+.3f}, n = {int(r['n'])}).",
                   warn=True) for _, r in lost.iterrows()]  # fmt: skip
    if out or other.empty:
        return out
    return [Finding("forgetting", "No significant forgetting measured",
                    f"{len(other)} general-ability check(s) of fine-tuned models; each change is within noise or "
                    "positive at these sample sizes (see the fine-tuning table for the intervals).")]  # fmt: skip


def scaling(effects: pd.DataFrame, params: dict[str, float]) -> list[Finding]:
    """The seeds' claim "bigger bases fine-tune better", as the data stand."""
    if effects.empty:
        return []
    dom = effects[effects["role"].str.startswith("domain")]
    pts = sorted((params[m], d, m) for m, d in zip(dom["model"], dom["delta"], strict=True) if params.get(m))
    sizes = sorted({p for p, _, _ in pts})
    if len(sizes) < 2:
        return []
    listing = "; ".join(f"{m} ({p:.0f}M) {d:+.3f}" for p, d, m in pts)
    if len(sizes) < 3:
        return [Finding("scaling", "Bigger base, bigger gain? Too few sizes to say",
                        f"Gains on the trained task: {listing}. Two sizes cannot show a trend.")]  # fmt: skip
    from scipy.stats import spearmanr

    rho = float(spearmanr([p for p, _, _ in pts], [d for _, d, _ in pts]).statistic)
    trend = (
        "bigger bases gained more"
        if rho > 0.3
        else "bigger bases gained less"
        if rho < -0.3
        else "no clear trend"
    )
    return [
        Finding("scaling", f"Bigger base, bigger gain? {trend} (Spearman {rho:+.2f})", f"Gains: {listing}.")
    ]


def not_measured(outcomes: list[dict[str, Any]]) -> list[Finding]:
    return [Finding("not_measured", f"Not measured: {o['model']} on {o['task']} ({o['status']})",
                    str(o.get("message") or "").strip().splitlines()[0] if o.get("message") else "", warn=True)
            for o in outcomes]  # fmt: skip
