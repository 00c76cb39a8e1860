"""The decision panel: per task, what to choose, the runner-up, fine-tune or API, what is missing, how sure.

The first thing a report shows, for a reader who signs off on it and reads nothing else. Every figure comes from
the leaderboard (table.leaderboard) and the break-even table (table.break_even), by the rules the summary uses:
the recommended option is summary.cheapest_choice's row (the cheapest that meets the target), so the panel and the
summary never name different rows; where no option of the task has a cost at a latency target, it is the best row
by rank and score, and the panel says the choice rests on score alone. Every text is one message of the report's
catalogue, in the report's language.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

from harness.report import summary
from harness.report.i18n import N_, _, dec, integer, money, ngettext

TieOf = Callable[[str, str], "bool | None"]
NO_PRICE = "score"  # _BASIS's key when no priced row meets the target: the choice rests on score alone
# why the recommended row was chosen (summary.cheapest_choice's rule, or NO_PRICE)
_BASIS = {
    "tied": N_("the cheapest option tied with the best score"),
    "untested": N_("the best score (ties not tested), priced"),
    "target": N_("the cheapest option scoring at least %(target)s"),
    NO_PRICE: N_("the best score: no option meeting the target has a cost measured at a latency target"),
}
# (how the tuned row's score compares with the API's, the break-even's kind) -> the verdict's first word(s)
_HEAD = {
    "fine_tune": N_("Fine-tune"),
    "api": N_("Call the API"),
    "trade_off": N_("Trade-off"),
    "undecided": N_("Undecided"),
}
_QUALITY = {
    "tuned": N_("the fine-tuned model scores higher (%(tuned)s vs %(api)s, separated by the paired tests)"),
    "api": N_("the API scores higher (%(api)s vs %(tuned)s, separated by the paired tests)"),
    "tied": N_("their scores are not separated (%(tuned)s vs %(api)s)"),
    "untested": N_("scores %(tuned)s vs %(api)s, not compared on the same items"),
}
_COST = {
    "never": N_("the API is cheaper at every volume: fine-tuning never pays back"),
    "always": N_("fine-tuning is cheaper at any volume"),
    "above": N_("fine-tuning is cheaper above %(volume)s queries a month (assumed: %(monthly)s)"),
    "ranges": N_("fine-tuning is cheaper %(break_even)s queries a month (assumed: %(monthly)s)"),
    "unknown": N_("the cost comparison is %(break_even)s"),
}


def _ok(v: Any) -> bool:
    return v is not None and v == v and v not in (math.inf, -math.inf)


def _name(row: Any) -> str:
    return row["label"] if isinstance(row.get("label"), str) else f"{row['model']} · {row['variant']}"


def option(row: Any, total: float | None = None) -> dict[str, Any]:
    """One option as the panel shows it: every figure already written out in the report's language."""
    score = dec(row["score"], 3)
    if _ok(row.get("ci_low")) and _ok(row.get("ci_high")):
        score = f"{score} [{dec(row['ci_low'], 3)}, {dec(row['ci_high'], 3)}]"
    cost = total if _ok(total) else row.get("cost_per_1k")
    if _ok(cost):
        cost_text = money(cost, row["currency"], 4)
    else:
        why = row.get("cost_missing_label")
        cost_text = why if isinstance(why, str) and why else _("not measured")
    p95 = row.get("p95_s")
    egress = row.get("egress_label") if isinstance(row.get("egress_label"), str) else row.get("egress", "")
    if row.get("egress") == "third_party" and isinstance(row.get("egress_provider"), str):
        egress = f"{egress} ({row['egress_provider']})"
    return {
        "label": _name(row),
        "cell_id": row["cell_id"],
        "score": score,
        "cost": cost_text,
        "priced": bool(_ok(cost)),
        "p95": _("%(s)s s", s=dec(p95, 2)) if _ok(p95) else _("not measured"),
        "egress": egress,
        "stand_in": bool(isinstance(row.get("stand_in"), str) and row["stand_in"]),
    }


def _tied(a: Any, b: Any) -> bool | None:
    """Are two rows of a task not separated by the paired tests? None when they were not tested on paired items."""
    if not (a["rank_paired"] and b["rank_paired"]):
        return None
    tied = b["cell_id"] in (a.get("tied_ids") or []) and b["cell_id"] not in (a.get("separated_ids") or [])
    return tied or b["cell_id"] in (a.get("not_separated_ids") or [])


def _confidence(rec: Any, runner: Any | None, choice: summary.Choice, priced: bool) -> str:
    """One line: how sure the recommendation is, and why, from the tests the leaderboard already made."""
    n = integer(rec["n"])
    if runner is None:
        return _("Only one option was measured on this task: nothing to compare it with.")
    tied = _tied(rec, runner)
    if tied is None:
        return _("Low: the options were not tested against each other on the same items (%(n)s items).", n=n)
    if not priced:
        if tied:
            return _(
                "Low: no cost at a latency target, and its score is not separated from the runner-up's on %(n)s items.",
                n=n,
            )
        return _(
            "Moderate on quality (it scores above the runner-up beyond noise on %(n)s items), open on cost: no "
            "option has a cost at a latency target.",
            n=n,
        )
    if not tied:  # separated: which way round decides the line (a cheaper row can be the lower-scoring one)
        if (rec["score"] or 0) >= (runner["score"] or 0):
            return _(
                "High: it scores above the runner-up beyond noise (paired tests, Holm, 5 %%) on %(n)s items.",
                n=n,
            )
        return _(
            "Moderate: it is the cheaper choice, but the runner-up scores higher beyond noise on %(n)s items: "
            "choose the runner-up if that quality is worth its cost.",
            n=n,
        )
    if runner["cell_id"] in set(choice.tied["cell_id"]):
        return _("Low: score and cost are both within noise of the runner-up's; either is defensible.")
    if not _ok(runner.get("cost_per_1k")):
        return _(
            "Moderate: its score is not separated from the runner-up's on %(n)s items, and the runner-up has no "
            "cost at a latency target (harness load measures it).",
            n=n,
        )
    if runner["cell_id"] in set(choice.ok["cell_id"]):  # both meet the target; the runner-up is not cost-tied
        return _(
            "Moderate: its score is not separated from the runner-up's on %(n)s items; it costs less, beyond noise.",
            n=n,
        )
    return _(
        "Moderate: its score is not separated from the runner-up's on %(n)s items; the runner-up is not among "
        "the options that meet the target.",
        n=n,
    )


def _verdict(
    task: str, part: pd.DataFrame, breakeven: pd.DataFrame | None, rec_id: str, monthly: float, tie_of: TieOf
) -> dict[str, str] | None:
    """Fine-tune or API on the task (`breakeven`: its break-even rows): the pair of the recommended fine-tuned model,
    or else of the best fine-tuned one (analysis.headline_pairs' choice), against the task's best API row."""
    mine = breakeven
    if mine is None or mine.empty:
        return None
    own = mine[mine["tuned_cell_id"] == rec_id]
    b = (own if not own.empty else mine).sort_values(["tuned_score", "api_score"], ascending=False).iloc[0]
    tied = tie_of(b["tuned_cell_id"], b["api_cell_id"])
    quality = (
        ("tied" if tied else "tuned" if (b["tuned_score"] or 0) > (b["api_score"] or 0) else "api")
        if tied is not None
        else "untested"
    )
    kind, volume = summary._break_even_kind(b)
    # which side is cheaper at the assumed volume: "above" compares its threshold with it; "ranges" (several
    # crossings) and "unknown" name no side
    cheaper = {"always": "tuned", "never": "api"}.get(kind)
    first = b.get("break_even_first")
    if kind == "above" and _ok(first):
        cheaper = "tuned" if monthly >= first else "api"
    head = {
        ("tuned", "tuned"): "fine_tune",
        ("tuned", "api"): "trade_off",
        ("api", "api"): "api",
        ("api", "tuned"): "trade_off",
        ("api", None): "api",
        ("tied", "tuned"): "fine_tune",
        ("tied", "api"): "api",
    }.get((quality, cheaper), "undecided")
    text = "; ".join(
        [
            _(_QUALITY[quality], tuned=dec(b["tuned_score"], 3), api=dec(b["api_score"], 3)),
            _(_COST[kind], volume=volume, monthly=integer(monthly), break_even=b["break_even"]),
        ]
    )
    stand_in = b.get("api_stand_in")
    return {
        "head": _(_HEAD[head]),
        "kind": head,
        "pair": _("%(tuned)s vs %(api)s", tuned=b["tuned"], api=b["api"]),
        "text": text,
        "break_even": b["break_even"],
        "stand_in": _(
            "The API here is a local stand-in priced at a placeholder: rerun with a real API for a real verdict."
        )
        if isinstance(stand_in, str) and stand_in
        else "",
    }


def _missing(part: pd.DataFrame, broken: list[dict[str, Any]], task: str) -> list[str]:
    """What the task's decision lacks: costs and latencies not measured, no API baseline, cells that failed."""
    out = []
    n = len(part)
    local = part[part["source"] != "api"]
    no_cost = int(local["cost_per_1k"].isna().sum())
    if no_cost:
        out.append(
            ngettext(
                "cost at a latency target: %(k)s of %(count)s self-hosted row",
                "cost at a latency target: %(k)s of %(count)s self-hosted rows",
                len(local),
                k=integer(no_cost),
                count=integer(len(local)),
            )
        )
    no_latency = int(part["p95_s"].isna().sum())
    if no_latency:
        out.append(
            ngettext(
                "latency at one user: %(k)s of %(count)s row",
                "latency at one user: %(k)s of %(count)s rows",
                n,
                k=integer(no_latency),
                count=integer(n),
            )
        )
    if not (part["source"] == "api").any():
        out.append(_("no API baseline on this task"))
    failed = [o for o in broken if o.get("task") == task]
    if failed:
        out.append(
            ngettext(
                "%(k)s cell failed (see Not measured)",
                "%(k)s cells failed (see Not measured)",
                len(failed),
                k=integer(len(failed)),
            )
        )
    return out


def panel(
    df: pd.DataFrame,
    breakeven: pd.DataFrame,
    tie_of: TieOf,
    assumptions: dict[str, Any],
    broken: list[dict[str, Any]],
    choices: dict[str, summary.Choice] | None = None,
) -> list[dict[str, Any]]:
    """Per task (in name order): {task, basis, options: [recommended, runner-up?], verdict, missing, confidence}.
    `tie_of(tuned cell id, API cell id)`: are the two tied on paired items (None: not tested; analysis.ties_between
    for one pair). `choices`: summary.cheapest_choices of `df`, when the caller has them (the summary's)."""
    out = []
    target, monthly = assumptions["target_score"], assumptions["monthly_queries"]
    if choices is None:
        choices = summary.cheapest_choices(df, target, monthly, assumptions["amortise_months"])
    # the break-even rows split by task once (a 10,000-row board has 25,000 of them)
    pairs = dict(tuple(breakeven.groupby("task", sort=False))) if "task" in breakeven else {}
    for task, part in df.groupby("task", sort=True):
        scored = part[part["score"].notna()]
        if scored.empty:
            continue
        by_rank = scored.sort_values(["rank", "score"], ascending=[True, False])
        choice = choices[task]
        priced = choice.row is not None
        rec = choice.row if priced else by_rank.iloc[0]
        others = choice.ok[choice.ok["cell_id"] != rec["cell_id"]] if priced else choice.ok.iloc[0:0]
        # the runner-up: the next cheapest that meets the target, else the best-ranked other row
        if len(others):
            runner = others.sort_values(["total_per_1k", "score"], ascending=[True, False]).iloc[0]
        else:
            rest = by_rank[by_rank["cell_id"] != rec["cell_id"]]
            runner = rest.iloc[0] if len(rest) else None
        options = [{**option(rec, rec.get("total_per_1k") if priced else None), "role": _("Recommended")}]
        if runner is not None:  # its cost on the same basis as the recommendation's: training spread included
            total = runner.get("total_per_1k")
            if not _ok(total) and _ok(runner.get("cost_per_1k")):
                training = runner.get("training_cost") if _ok(runner.get("training_cost")) else 0.0
                total = runner["cost_per_1k"] + 1000 * training / (monthly * assumptions["amortise_months"])
            options.append({**option(runner, total), "role": _("Runner-up")})
        out.append(
            {
                "task": task,
                "basis": _(_BASIS[choice.rule if priced else NO_PRICE], target=dec(target, 2)),
                "options": options,
                "verdict": _verdict(task, part, pairs.get(task), rec["cell_id"], monthly, tie_of),
                "missing": _missing(part, broken, task),
                "confidence": _confidence(rec, runner, choice, priced),
            }
        )
    return out
