"""The executive summary: plain sentences computed from the report's tables, for a reader who reads nothing else.

Each finding is (kind, headline, detail); the template prints them in order. Every number comes from the
tables; a sentence is only written when its data exist, and missing data is said, not guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.config.schema import ReportConfig
from harness.report.labels import row_label

DEFAULTS = ReportConfig()  # the cost assumptions when a caller states none


@dataclass(frozen=True)
class Finding:
    kind: str  # best | cheapest | verdict | forgetting | scaling | not_measured
    headline: str
    detail: str = ""
    warn: bool = False


def _name(row: Any) -> str:
    label = row.get("label") if hasattr(row, "get") else None
    return label if isinstance(label, str) else row_label(row["model"], row["variant"])


def _score(v: float | None) -> str:
    return "unknown" if v is None or v != v else f"{v:.3f}"


def _money(v: float | None, currency: str = "USD", missing: str | None = None) -> str:
    """A cost, or why there is none: "unpriced" (no price) or "not measured" (a price but no measurement)."""
    return (
        (missing if isinstance(missing, str) else "unpriced")
        if v is None or v != v
        else f"{v:.4f} {currency}"
    )


def best_per_task(df: pd.DataFrame) -> list[Finding]:
    out = []
    for task, part in df.groupby("task", sort=True):
        top = part.sort_values(["rank", "score"], ascending=[True, False]).iloc[0]
        if top["score"] is None or top["score"] != top["score"]:
            continue
        detail = f"score {top['score']:.3f} on {int(top['n'])} items"
        if top["ci_low"] is not None and top["ci_low"] == top["ci_low"]:
            detail += f" (95 % CI {top['ci_low']:.3f} to {top['ci_high']:.3f})"
        if not top["rank_paired"]:
            detail += ("; not tested against the other rows on the same items (their items differ, or per-item "
                       "scores are missing), so a lead this small may be noise.")  # fmt: skip
        elif top["tied_with"] and not isinstance(top.get("tied_ids"), list):  # a table without cell ids
            detail += f"; not separated from (tied with): {top['tied_with'].rstrip('.')}."
        elif top["tied_with"]:
            apart = set(top.get("separated_ids") or [])
            label = dict(zip(part["cell_id"], part["label"], strict=True)) if "label" in part else {}
            tied = [label.get(c, c) for c in top["tied_ids"] if c not in apart]
            below = [label.get(c, c) for c in top["tied_ids"] if c in apart]
            if tied:
                detail += f"; not separated from (tied with): {'; '.join(tied).rstrip('.')}."
            if below:
                detail += (f"{'' if tied else ';'} In its tier but significantly below it after correction: "
                           f"{'; '.join(below).rstrip('.')}.")  # fmt: skip
        elif len(part) > 1:
            detail += "; ranked above every other row on the same items (Holm-corrected paired tests)."
        out.append(Finding("best", f"Best on {task}: {_name(top)}", detail))
    return out


def cheapest_meeting(df: pd.DataFrame, target: float | None, monthly: float = DEFAULTS.monthly_queries,
                     months: float = DEFAULTS.amortise_months) -> list[Finding]:  # fmt: skip
    """Per task, the cheapest row (cost per 1,000 queries, plus a fine-tuned row's training spread over the
    assumed volume) that meets the target score; with no target, the cheapest row of the best tier (rank 1, the
    same rule as the leaderboard's ranks: harness.compare.ranking), or the best row itself when untested."""
    out = []
    for task, part in df.groupby("task", sort=True):
        priced = part[part["cost_per_1k"].notna()].copy()
        if target is None:
            top = part.sort_values(["rank", "score"], ascending=[True, False]).iloc[0]
            if top["rank_paired"]:
                best_tier = (priced["rank"] == 1) & priced["rank_paired"]
                if "below_leader" in priced:  # in the top tier, yet significantly below the best: not "tied"
                    best_tier &= ~priced["below_leader"].fillna(False).astype(bool)
                ok, rule = (
                    priced[best_tier],
                    "tied with the best (the ranking does not separate them)",
                )
            else:
                ok, rule = priced[priced["cell_id"] == top["cell_id"]], "among the best (ties not tested)"
        else:
            ok, rule = priced[priced["score"] >= target], f"scoring at least {target:.2f}"
        if ok.empty:
            why = "no priced option" if priced.empty else f"no priced option {rule}"
            out.append(Finding("cheapest", f"{task}: {why}", "", warn=True))
            continue
        training = ok["training_cost"].fillna(0) if "training_cost" in ok else 0
        ok = ok.assign(total_per_1k=ok["cost_per_1k"] + 1000 * training / (monthly * months))
        row = ok.sort_values("total_per_1k").iloc[0]
        notes = []
        if row.get("training_cost") == row.get("training_cost") and row.get("training_cost"):
            notes.append(f"its one-off training ({row['training_cost']:.4f} {row['currency']}) spread over "
                         f"{monthly:,.0f} queries a month for {months:g} months is included")  # fmt: skip
        if isinstance(row.get("stand_in"), str) and row["stand_in"]:
            notes.append("it is a local stand-in for an API, priced at a placeholder")
        if target is not None and row["ci_low"] == row["ci_low"] and row["ci_low"] is not None:
            notes.append("its whole 95 % interval is above the target" if row["ci_low"] >= target
                         else f"its 95 % interval reaches down to {row['ci_low']:.3f}: the target is not assured")  # fmt: skip
        out.append(Finding(
            "cheapest", f"Cheapest option on {task} {rule}: {_name(row)}",
            f"{_money(row['total_per_1k'], row['currency'])} per 1,000 queries, score {row['score']:.3f}, measured on "
            f"{row['measured_on']}." + "".join(f" Note: {n}." for n in notes),
        ))  # fmt: skip
    return out


def verdicts(
    breakeven: pd.DataFrame, ties: dict[tuple[str, str], bool | None], monthly: float
) -> list[Finding]:
    """Fine-tune or API, per fine-tuned model and API baseline on the same items."""
    out = []
    for _, b in breakeven.iterrows():
        tied = ties.get((b["tuned_cell_id"], b["api_cell_id"]))
        quality = ("the ranking does not separate their scores" if tied else
                   ("the fine-tuned model scores higher" if (b["tuned_score"] or 0) > (b["api_score"] or 0) else
                    "the API scores higher")) if tied is not None else "scores not compared on paired items"  # fmt: skip
        be = b["break_even"]
        served = f" (self-hosted as {b['deployment']})" if isinstance(b.get("deployment"), str) else ""
        if be == "never":
            money = f"the API is cheaper at every volume{served}, so fine-tuning never pays back"
        elif be == "always":
            money = f"fine-tuning is cheaper at any volume{served}"
        elif be.startswith("unknown"):
            money = f"the cost comparison is {be}"
        elif be[0].isdigit():
            money = (
                f"fine-tuning is cheaper above {be} queries a month{served} (your assumption: {monthly:,.0f})"
            )
        else:
            money = f"fine-tuning is cheaper {be} queries a month{served} (your assumption: {monthly:,.0f})"
        stand_in = b.get("api_stand_in")
        if isinstance(stand_in, str) and stand_in:
            money += " (the API row is a local stand-in priced at a placeholder: rerun with a real API for a real verdict)"
        out.append(Finding(
            "verdict", f"{b['tuned']} vs {b['api']} on {b['task']}",
            f"Score {_score(b['tuned_score'])} vs {_score(b['api_score'])}: {quality}. Cost per 1,000 queries "
            f"{_money(b['tuned_per_1k'], b['currency'], b.get('tuned_missing'))} vs "
            f"{_money(b['api_per_1k'], b['currency'], b.get('api_missing'))}; {money}.",
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
    """The seeds' claim "bigger bases fine-tune better", as the data stand: per task and method, the gain of
    each base size; a trend is claimed only from 4 sizes up and with Spearman's p < 0.05."""
    if effects.empty:
        return []
    from scipy.stats import spearmanr

    dom = effects[effects["role"].str.startswith("domain")].copy()
    dom["params"] = [params.get(m) for m in dom["model"]]
    dom["method"] = [v.split(" on ")[0] for v in dom["variant"]]
    out = []
    for (task, method), part in dom[dom["params"].notna()].groupby(["task", "method"], sort=True):
        pts = sorted(zip(part["params"], part["delta"], part["model"], strict=True))
        sizes = sorted({p for p, _, _ in pts})
        if len(sizes) < 2:
            continue
        listing = "; ".join(f"{m} ({p:.0f}M) {d:+.3f}" for p, d, m in pts)
        if len(sizes) < 4:
            out.append(Finding("scaling", f"Bigger base, bigger gain ({method} on {task})? Too few sizes to say",
                               f"Gains: {listing}. {len(sizes)} sizes cannot show a trend (4 or more are needed)."))  # fmt: skip
            continue
        res = spearmanr([p for p, _, _ in pts], [d for _, d, _ in pts])
        rho, p = float(res.statistic), float(res.pvalue)
        if rho != rho or p >= 0.05:
            trend = "no clear trend"
        else:
            trend = "bigger bases gained more" if rho > 0 else "bigger bases gained less"
        out.append(Finding("scaling", f"Bigger base, bigger gain ({method} on {task})? {trend}",
                           f"Spearman {rho:+.2f} (p = {p:.2g}) over {len(sizes)} sizes. Gains: {listing}."))  # fmt: skip
    return out


def not_measured(outcomes: list[dict[str, Any]]) -> list[Finding]:
    return [Finding("not_measured", f"Not measured: {o['model']} on {o['task']} ({o['status']})",
                    str(o.get("message") or "").strip().splitlines()[0] if o.get("message") else "", warn=True)
            for o in outcomes]  # fmt: skip
