"""The executive summary: plain sentences computed from the report's tables, for a reader who reads nothing else.

Each finding is (kind, headline, detail); the template prints them in order. Every number comes from the
tables; a sentence is only written when its data exist, and missing data is said, not guessed. Every sentence is
one message of the report's catalogue, in the report's language (harness.report.i18n): where a sentence has
optional parts, each variant is its own message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.config.schema import ReportConfig
from harness.report.i18n import N_, _, dec, integer, label, money
from harness.report.labels import noise_text, row_label, split_variant, variant_text, with_data
from harness.report.table import missing_label

DEFAULTS = ReportConfig()  # the cost assumptions when a caller states none


@dataclass(frozen=True)
class Finding:
    kind: str  # best | cheapest | verdict | in_house | forgetting | scaling | noise | not_measured
    headline: str
    detail: str = ""
    warn: bool = False


def _name(row: Any) -> str:
    label = row.get("label") if hasattr(row, "get") else None
    return label if isinstance(label, str) else row_label(row["model"], variant_text(row["variant"]))


def _score(v: float | None) -> str:
    return _("unknown") if v is None or v != v else dec(v, 3)


def _money(v: float | None, currency: str = "USD", missing: str | None = None) -> str:
    """A cost, or why there is none: "unpriced" (no price) or "not measured" (a price but no measurement)."""
    if v is None or v != v:
        return missing_label(missing if isinstance(missing, str) else "unpriced") or ""
    return money(v, currency, 4)


def _ok(v: Any) -> bool:
    return v is not None and v == v


# best_per_task's detail: (how the row stands against the others, with a 95 % interval) -> message
_BEST = {
    ("alone", True): N_("score %(score)s on %(n)s items (95 %% CI %(low)s to %(high)s)"),
    ("alone", False): N_("score %(score)s on %(n)s items"),
    ("untested", True): N_(
        "score %(score)s on %(n)s items (95 %% CI %(low)s to %(high)s); not tested against the other rows on the "
        "same items (their items differ, or per-item scores are missing), so a lead this small may be noise."
    ),
    ("untested", False): N_(
        "score %(score)s on %(n)s items; not tested against the other rows on the same items (their items differ, "
        "or per-item scores are missing), so a lead this small may be noise."
    ),
    ("tied", True): N_(
        "score %(score)s on %(n)s items (95 %% CI %(low)s to %(high)s); not separated from (tied with): %(tied)s."
    ),
    ("tied", False): N_("score %(score)s on %(n)s items; not separated from (tied with): %(tied)s."),
    ("below", True): N_(
        "score %(score)s on %(n)s items (95 %% CI %(low)s to %(high)s); In its tier but "
        "significantly below it after correction: %(below)s."
    ),
    ("below", False): N_(
        "score %(score)s on %(n)s items; In its tier but significantly below it after correction: %(below)s."
    ),
    ("above", True): N_(
        "score %(score)s on %(n)s items (95 %% CI %(low)s to %(high)s); ranked above every other "
        "row on the same items (Holm-corrected paired tests)."
    ),
    ("above", False): N_(
        "score %(score)s on %(n)s items; ranked above every other row on the same items (Holm-corrected paired tests)."
    ),
}


def best_per_task(df: pd.DataFrame) -> list[Finding]:
    out = []
    for task, part in df.groupby("task", sort=True):
        top = part.sort_values(["rank", "score"], ascending=[True, False]).iloc[0]
        if top["score"] is None or top["score"] != top["score"]:
            continue
        p = {"score": dec(top["score"], 3), "n": integer(top["n"]), "tied": "", "below": ""}
        if _ok(top["ci_low"]):
            p.update(low=dec(top["ci_low"], 3), high=dec(top["ci_high"], 3))
        stand, more = "alone", ""
        if not top["rank_paired"]:
            stand = "untested"
        elif top["tied_with"] and not isinstance(top.get("tied_ids"), list):  # a table without cell ids
            stand, p["tied"] = "tied", top["tied_with"].rstrip(".")
        elif top["tied_with"]:
            apart = set(top.get("separated_ids") or [])
            label = dict(zip(part["cell_id"], part["label"], strict=True)) if "label" in part else {}
            tied = [label.get(c, c) for c in top["tied_ids"] if c not in apart]
            below = [label.get(c, c) for c in top["tied_ids"] if c in apart]
            p.update(tied="; ".join(tied).rstrip("."), below="; ".join(below).rstrip("."))
            stand = "tied" if tied else "below" if below else "alone"
            if tied and below:  # a second sentence
                more = _("In its tier but significantly below it after correction: %(below)s.", below=p["below"])
        elif len(part) > 1:
            stand = "above"
        detail = _(_BEST[(stand, _ok(top["ci_low"]))], **p)
        # Rows of a worse rank that the data do not separate (harness.compare.ranking `not_separated_from`): a
        # "1" and a "3" the tests cannot tell apart are named, never left to read as an order. From the best row
        # itself this is rare (every lower tier is separated from the top tier's leader: only a row with the
        # leader's score can have one); from a row tied with it, common.
        if "not_separated_ids" in part and "cell_id" in part:
            apart_of = dict(zip(part["cell_id"], part["not_separated_ids"], strict=True))
            rank_of = dict(zip(part["cell_id"], part["rank"], strict=True))
            name_of = dict(zip(part["cell_id"], part["label"], strict=True)) if "label" in part else {}
            tied_ids = top.get("tied_ids") if isinstance(top.get("tied_ids"), list) else []
            apart = set(top.get("separated_ids") or [])
            for who in [top["cell_id"]] + [c for c in tied_ids if c not in apart]:
                lower = apart_of.get(who)
                lower = [c for c in lower if rank_of.get(c, 0) > top["rank"]] if isinstance(lower, list) else []
                if not lower:
                    continue
                names = "; ".join(
                    _("%(row)s (rank %(rank)s)", row=name_of.get(c, c), rank=integer(rank_of[c])) for c in lower
                )
                if who == top["cell_id"]:
                    sentence = _("Ranked lower, yet not separated from it: %(rows)s.", rows=names)
                else:
                    sentence = _(
                        "Ranked lower, yet not separated from %(tied)s (tied with it): %(rows)s.",
                        tied=name_of.get(who, who),
                        rows=names,
                    )
                more = f"{more} {sentence}" if more else sentence
        out.append(
            Finding(
                "best",
                _("Best on %(task)s: %(row)s", task=task, row=_name(top)),
                f"{detail} {more}" if more else detail,
            )
        )
    return out


# cheapest_meeting's rule for the options it compares -> (headline, headline when no priced option meets it)
_RULES = {
    "tied": (
        N_("Cheapest option on %(task)s tied with the best (the ranking does not separate them): %(row)s"),
        N_("%(task)s: no priced option tied with the best (the ranking does not separate them)"),
    ),
    "untested": (
        N_("Cheapest option on %(task)s among the best (ties not tested): %(row)s"),
        N_("%(task)s: no priced option among the best (ties not tested)"),
    ),
    "target": (
        N_("Cheapest option on %(task)s scoring at least %(target)s: %(row)s"),
        N_("%(task)s: no priced option scoring at least %(target)s"),
    ),
}


# Costs within this share of the cheapest are a tie even where no interval says so. A self-hosted cost is a device
# price over a capacity measured on a machine whose speed moves by more than this from run to run (the default
# job's two LoRA trainings took 63 s and 97 s in one run, 76 s and 110 s in another: bench/README.md); the 2.5e-7 USD of
# amortised training that once named one of two 0.9658 USD rows "cheapest" is 0.00003 % of it.
COST_TIE = 0.02


def cost_tie(ok: pd.DataFrame) -> tuple[pd.DataFrame, Any]:
    """(the rows tied with the cheapest on `total_per_1k`, the one chosen among them: the highest score, then the
    lowest p95 latency, then the cheapest). Tied: within COST_TIE of the cheapest, or a cost interval
    (`total_low`..`total_high`, from the capacity's) that overlaps the cheapest row's: no verdict rests on a
    difference the measurement cannot tell from noise."""
    cheapest = ok.loc[ok["total_per_1k"].idxmin()]
    low = ok["total_low"].fillna(ok["total_per_1k"]) if "total_low" in ok else ok["total_per_1k"]
    top = cheapest.get("total_high")
    top = cheapest["total_per_1k"] if top is None or top != top else top
    tied = ok[(ok["total_per_1k"] <= cheapest["total_per_1k"] * (1 + COST_TIE)) | (low <= top)]
    p95 = tied["p95_s"].fillna(math.inf) if "p95_s" in tied else 0
    order = tied.assign(_p95=p95).sort_values(["score", "_p95", "total_per_1k"], ascending=[False, True, True])
    return tied, order.iloc[0]


@dataclass(frozen=True)
class Choice:
    """One task's cheapest option that meets the target (cheapest_choice). `ok`: the priced rows meeting it, with
    `total_per_1k` (cost plus the training spread over the assumed volume); `tied`: those tied on cost with the
    cheapest; `row`: the one chosen (None when no priced row meets the target); `rule`: tied | untested | target."""

    priced: pd.DataFrame
    ok: pd.DataFrame
    tied: pd.DataFrame
    row: Any
    rule: str


def cheapest_choice(
    part: pd.DataFrame,
    target: float | None,
    monthly: float = DEFAULTS.monthly_queries,
    months: float = DEFAULTS.amortise_months,
) -> Choice:
    """The rule of cheapest_meeting for one task's rows, as data: the summary and the decision panel
    (harness.report.decision) name the same row."""
    priced = part[part["cost_per_1k"].notna()].copy()
    if target is None:
        top = part.sort_values(["rank", "score"], ascending=[True, False]).iloc[0]
        if top["rank_paired"]:
            best_tier = (priced["rank"] == 1) & priced["rank_paired"]
            if "below_leader" in priced:  # in the top tier, yet significantly below the best: not "tied"
                best_tier &= ~priced["below_leader"].fillna(False).astype(bool)
            ok, rule = priced[best_tier], "tied"
        else:
            ok, rule = priced[priced["cell_id"] == top["cell_id"]], "untested"
    else:
        ok, rule = priced[priced["score"] >= target], "target"
    if ok.empty:
        return Choice(priced, ok, ok, None, rule)
    training = ok["training_cost"].fillna(0) if "training_cost" in ok else 0
    spread = 1000 * training / (monthly * months)
    ok = ok.assign(total_per_1k=ok["cost_per_1k"] + spread)
    if "cost_low" in ok:  # the cost's interval (the capacity's), with the same training spread added
        ok = ok.assign(total_low=ok["cost_low"] + spread, total_high=ok["cost_high"] + spread)
    tied, row = cost_tie(ok)
    return Choice(priced, ok, tied, row, rule)


def cheapest_choices(
    df: pd.DataFrame,
    target: float | None,
    monthly: float = DEFAULTS.monthly_queries,
    months: float = DEFAULTS.amortise_months,
) -> dict[str, Choice]:
    """cheapest_choice of every task, by name: made once, read by the summary and the decision panel."""
    return {task: cheapest_choice(part, target, monthly, months) for task, part in df.groupby("task", sort=True)}


def cheapest_meeting(
    df: pd.DataFrame,
    target: float | None,
    monthly: float = DEFAULTS.monthly_queries,
    months: float = DEFAULTS.amortise_months,
    choices: dict[str, Choice] | None = None,
) -> list[Finding]:
    """Per task, the cheapest row (cost per 1,000 queries, plus a fine-tuned row's training spread over the
    assumed volume) that meets the target score; with no target, the cheapest row of the best tier (rank 1, the
    same rule as the leaderboard's ranks: harness.compare.ranking), or the best row itself when untested."""
    out = []
    choices = choices if choices is not None else cheapest_choices(df, target, monthly, months)
    for task, c in choices.items():
        p = {"task": task, "target": dec(target, 2)}
        if c.row is None:
            why = _("%(task)s: no priced option", **p) if c.priced.empty else _(_RULES[c.rule][1], **p)
            out.append(Finding("cheapest", why, "", warn=True))
            continue
        tied, row, rule = c.tied, c.row, c.rule
        sentences = [
            _(
                "%(cost)s per 1,000 queries, score %(score)s, measured on %(where)s.",
                cost=_money(row["total_per_1k"], row["currency"]),
                score=dec(row["score"], 3),
                where=row["cost_basis"] if _ok(row.get("cost_basis")) and row["cost_basis"] else row["measured_on"],
            )
        ]
        if _ok(row.get("total_low")) and _ok(row.get("total_high")) and row["total_high"] > row["total_low"]:
            sentences.append(
                _(
                    "Its 95 %% interval, from the capacity's: %(low)s to %(high)s.",
                    low=money(row["total_low"], row["currency"], 4),
                    high=money(row["total_high"], row["currency"], 4),
                )
            )
        if len(tied) > 1:
            others = [_name(r) for _, r in tied.iterrows() if r["cell_id"] != row["cell_id"]]
            sentences.append(
                _(
                    "Tied on cost with %(others)s (%(low)s to %(high)s: within %(share)s of the cheapest or "
                    "inside its measured interval, a difference the measurement cannot tell from noise), "
                    "so the higher score decides, then the lower p95 latency.",
                    others="; ".join(others),
                    share=f"{COST_TIE:.0%}",
                    low=money(tied["total_per_1k"].min(), row["currency"], 6),
                    high=money(tied["total_per_1k"].max(), row["currency"], 6),
                )
            )
        if row.get("training_cost") == row.get("training_cost") and row.get("training_cost"):
            sentences.append(
                _(
                    "Note: its one-off training (%(training)s) spread over %(monthly)s queries a month for "
                    "%(months)s months is included.",
                    training=money(row["training_cost"], row["currency"], 4),
                    monthly=integer(monthly),
                    months=f"{months:g}",
                )
            )
        if _ok(row.get("data_cost_unknown")) and bool(row["data_cost_unknown"]):  # a numpy bool in a frame
            sentences.append(_("Note: its training data is unpriced: that cost is unknown and not included."))
        elif _ok(row.get("data_cost")) and row["data_cost"] and _ok(row.get("training_cost")):
            sentences.append(
                _("Of that training, %(cost)s is the training data.", cost=money(row["data_cost"], row["currency"], 4))
            )
        if isinstance(row.get("stand_in"), str) and row["stand_in"]:
            sentences.append(_("Note: it is a local stand-in for an API, priced at a placeholder."))
        if target is not None and _ok(row["ci_low"]):
            sentences.append(
                _("Note: its whole 95 %% interval is above the target.")
                if row["ci_low"] >= target
                else _(
                    "Note: its 95 %% interval reaches down to %(low)s: the target is not assured.",
                    low=dec(row["ci_low"], 3),
                )
            )
        out.append(Finding("cheapest", _(_RULES[rule][0], **p, row=_name(row)), " ".join(sentences)))
    return out


_QUALITY = {  # verdicts: how the two scores compare -> the first sentence
    "tied": N_("Score %(tuned)s vs %(api)s: the ranking does not separate their scores."),
    "tuned": N_("Score %(tuned)s vs %(api)s: the fine-tuned model scores higher."),
    "api": N_("Score %(tuned)s vs %(api)s: the API scores higher."),
    "untested": N_("Score %(tuned)s vs %(api)s: scores not compared on paired items."),
}
_MONEY = {  # verdicts: (the break-even's kind, self-hosted as a deployment) -> the second sentence
    ("never", False): N_(
        "Cost per 1,000 queries %(tuned)s vs %(api)s; the API is cheaper at every volume, so "
        "fine-tuning never pays back."
    ),
    ("never", True): N_(
        "Cost per 1,000 queries %(tuned)s vs %(api)s; the API is cheaper at every volume "
        "(self-hosted as %(deployment)s), so fine-tuning never pays back."
    ),
    ("always", False): N_("Cost per 1,000 queries %(tuned)s vs %(api)s; fine-tuning is cheaper at any volume."),
    ("always", True): N_(
        "Cost per 1,000 queries %(tuned)s vs %(api)s; fine-tuning is cheaper at any volume "
        "(self-hosted as %(deployment)s)."
    ),
    ("unknown", False): N_("Cost per 1,000 queries %(tuned)s vs %(api)s; the cost comparison is %(break_even)s."),
    ("unknown", True): N_("Cost per 1,000 queries %(tuned)s vs %(api)s; the cost comparison is %(break_even)s."),
    ("above", False): N_(
        "Cost per 1,000 queries %(tuned)s vs %(api)s; fine-tuning is cheaper above %(volume)s "
        "queries a month (your assumption: %(monthly)s)."
    ),
    ("above", True): N_(
        "Cost per 1,000 queries %(tuned)s vs %(api)s; fine-tuning is cheaper above %(volume)s "
        "queries a month (self-hosted as %(deployment)s) (your assumption: %(monthly)s)."
    ),
    ("ranges", False): N_(
        "Cost per 1,000 queries %(tuned)s vs %(api)s; fine-tuning is cheaper %(break_even)s "
        "queries a month (your assumption: %(monthly)s)."
    ),
    ("ranges", True): N_(
        "Cost per 1,000 queries %(tuned)s vs %(api)s; fine-tuning is cheaper %(break_even)s "
        "queries a month (self-hosted as %(deployment)s) (your assumption: %(monthly)s)."
    ),
}


def _break_even_kind(b: Any) -> tuple[str, str]:
    """(kind, the volume above which fine-tuning is cheaper for good, as shown) of a break-even row; rows without
    `break_even_kind` (hand-built tables) are read from their English text."""
    be, first = b["break_even"], b.get("break_even_first")
    kind = b.get("break_even_kind")
    if not isinstance(kind, str):
        kind = (
            "never"
            if be == "never"
            else "always"
            if be == "always"
            else "unknown"
            if be.startswith("unknown")
            else "above"
            if be[0].isdigit()
            else "ranges"
        )
        if kind == "above":
            return kind, be
    return kind, integer(math.ceil(first)) if kind == "above" and _ok(first) else be


def verdicts(breakeven: pd.DataFrame, ties: dict[tuple[str, str], bool | None], monthly: float) -> list[Finding]:
    """Fine-tune or API, per fine-tuned model and API baseline on the same items."""
    out = []
    for _i, b in breakeven.iterrows():
        tied = ties.get((b["tuned_cell_id"], b["api_cell_id"]))
        quality = (
            ("tied" if tied else "tuned" if (b["tuned_score"] or 0) > (b["api_score"] or 0) else "api")
            if tied is not None
            else "untested"
        )
        kind, volume = _break_even_kind(b)
        served = isinstance(b.get("deployment"), str)
        sentences = [
            _(_QUALITY[quality], tuned=_score(b["tuned_score"]), api=_score(b["api_score"])),
            _(
                _MONEY[(kind, served)],
                tuned=_money(b["tuned_per_1k"], b["currency"], b.get("tuned_missing")),
                api=_money(b["api_per_1k"], b["currency"], b.get("api_missing")),
                break_even=b["break_even"],
                volume=volume,
                deployment=b.get("deployment"),
                monthly=integer(monthly),
            ),
        ]
        stand_in = b.get("api_stand_in")
        if isinstance(stand_in, str) and stand_in:
            sentences.append(
                _("The API row is a local stand-in priced at a placeholder: rerun with a real API for a real verdict.")
            )
        out.append(
            Finding(
                "verdict",
                _("%(tuned)s vs %(api)s on %(task)s", tuned=b["tuned"], api=b["api"], task=b["task"]),
                " ".join(sentences),
            )
        )
    return out


def forgetting(effects: pd.DataFrame) -> list[Finding]:
    if effects.empty:
        return []
    other = effects[~effects["role"].str.startswith("domain")]
    lost = other[other["forgetting"].fillna(False).astype(bool)]
    out = [
        Finding(
            "forgetting",
            _(
                "Forgetting: %(row)s lost ability on %(task)s",
                row=row_label(r["model"], variant_text(r["variant"])),
                task=r["task"],
            ),
            _(
                "%(delta)s (paired 95 %% CI %(low)s to %(high)s, n = %(n)s).",
                delta=dec(r["delta"], 3, sign=True),
                low=dec(r["ci_low"], 3, sign=True),
                high=dec(r["ci_high"], 3, sign=True),
                n=integer(r["n"]),
            ),
            warn=True,
        )
        for _i, r in lost.iterrows()
    ]
    if out or other.empty:
        return out
    return [
        Finding(
            "forgetting",
            _("No significant forgetting measured"),
            _(
                "%(n)s general-ability check(s) of fine-tuned models; each change is within noise or positive at "
                "these sample sizes (see the fine-tuning table for the intervals).",
                n=integer(len(other)),
            ),
        )
    ]


def scaling(effects: pd.DataFrame, params: dict[str, float]) -> list[Finding]:
    """The seeds' claim "bigger bases fine-tune better", as the data stand: per task and method, the gain of
    each base size; a trend is claimed only from 4 sizes up and with Spearman's p < 0.05."""
    if effects.empty:
        return []
    from scipy.stats import spearmanr

    dom = effects[effects["role"].str.startswith("domain")].copy()
    dom["params"] = [params.get(m) for m in dom["model"]]
    # the English key `lora on ... [data: ...; noise 20%]`: sizes are compared on the same data and noise only,
    # so the method is named with them (a synthetic set or a noise level is not a bigger base's doing)
    dom["method"] = [with_data(v.split(" on ")[0], *split_variant(v)[1:]) for v in dom["variant"]]
    out = []
    for (task, method), part in dom[dom["params"].notna()].groupby(["task", "method"], sort=True):
        pts = sorted(zip(part["params"], part["delta"], part["model"], strict=True))
        sizes = sorted({p for p, _d, _m in pts})
        if len(sizes) < 2:
            continue
        listing = "; ".join(f"{m} ({p:.0f}M) {dec(d, 3, sign=True)}" for p, d, m in pts)
        where = {"method": method, "task": task, "gains": listing, "n": integer(len(sizes))}
        if len(sizes) < 4:
            out.append(
                Finding(
                    "scaling",
                    _("Bigger base, bigger gain (%(method)s on %(task)s)? Too few sizes to say", **where),
                    " ".join(
                        [
                            _("Gains: %(gains)s.", **where),
                            _("%(n)s sizes cannot show a trend (4 or more are needed).", **where),
                        ]
                    ),
                )
            )
            continue
        res = spearmanr([p for p, _d, _m in pts], [d for _p, d, _m in pts])
        rho, p = float(res.statistic), float(res.pvalue)
        if rho != rho or p >= 0.05:
            headline = _("Bigger base, bigger gain (%(method)s on %(task)s)? no clear trend", **where)
        elif rho > 0:
            headline = _("Bigger base, bigger gain (%(method)s on %(task)s)? bigger bases gained more", **where)
        else:
            headline = _("Bigger base, bigger gain (%(method)s on %(task)s)? bigger bases gained less", **where)
        out.append(
            Finding(
                "scaling",
                headline,
                " ".join(
                    [
                        _(
                            "Spearman %(rho)s (p = %(p)s) over %(n)s sizes.",
                            rho=dec(rho, 2, sign=True),
                            p=f"{p:.2g}",
                            n=where["n"],
                        ),
                        _("Gains: %(gains)s.", **where),
                    ]
                ),
            )
        )
    return out


_NOISE = {  # training_data.trend -> the headline of a label-noise line (warn: worth a look)
    "monotone": (N_("Label noise on %(task)s (%(row)s): the score falls monotonically as noise grows"), False),
    "explained": (N_("Label noise on %(task)s (%(row)s): not monotone, within sampling noise"), False),
    "flagged": (N_("Label noise on %(task)s (%(row)s): more noise scored higher, beyond the 95 %% intervals"), True),
    "untested": (N_("Label noise on %(task)s (%(row)s): not monotone, and a rise cannot be tested"), True),
}


def _steps(spans: list[tuple[float, float]]) -> str:
    return ", ".join(_("%(from)s to %(to)s", **{"from": noise_text(a), "to": noise_text(b)}) for a, b in spans)


def label_noise(lines: list[dict[str, Any]]) -> list[Finding]:
    """Per label-noise line (training_data.noise_lines): does the score fall as more training answers are
    corrupted? A rise from one level to the next is read against both levels' 95 % intervals: overlapping, it
    is within sampling noise; apart, it is flagged (more noise should not help: the data, the corruption or the
    runs want a look)."""
    out = []
    for line in lines:
        scores = "; ".join(
            f"{noise_text(p['noise'])}: {dec(p['score'], 3)}"
            + (f" [{dec(p['ci_low'], 3)}, {dec(p['ci_high'], 3)}]" if _ok(p["ci_low"]) and _ok(p["ci_high"]) else "")
            for p in line["points"]
        )
        sentences = [_("Scores by label-noise share (95 %% intervals): %(scores)s.", scores=scores)]
        if line["trend"] == "explained":
            sentences.append(
                _(
                    "Each rise (%(steps)s) is between overlapping 95 %% intervals: sampling noise can explain it.",
                    steps=_steps(line["rises"]),
                )
            )
        elif line["trend"] == "flagged":
            sentences.append(
                _(
                    "The rise from %(steps)s is between 95 %% intervals that do not overlap: check the "
                    "training data, its corruption and the runs.",
                    steps=_steps(line["apart"]),
                )
            )
        elif line["trend"] == "untested":
            sentences.append(
                _(
                    "A rise (%(steps)s) has no 95 %% interval on one side to test it against.",
                    steps=_steps(line["rises"]),
                )
            )
        headline, warn = _NOISE[line["trend"]]
        out.append(Finding("noise", _(headline, row=line["name"], task=line["task"]), " ".join(sentences), warn))
    return out


# an outcome's status code -> how the report says it (the same messages as the template's "Not measured" list)
STATUS = {
    "failed": N_("failed"),
    "preflight_failed": N_("preflight_failed"),
    "error": N_("error"),
    "stopped_by_budget": N_("stopped by the budget: its answers so far are kept"),
}


def not_measured(outcomes: list[dict[str, Any]]) -> list[Finding]:
    """Cells without a record; the status is the outcome's code (failed, preflight_failed, stopped_by_budget) and
    the detail the first line of its error message, as they are."""
    return [
        Finding(
            "not_measured",
            _(
                "Not measured: %(model)s on %(task)s (%(status)s)",
                model=o["model"],
                task=o["task"],
                status=label(STATUS, o["status"]),
            ),
            str(o.get("message") or "").strip().splitlines()[0] if o.get("message") else "",
            warn=True,
        )
        for o in outcomes
    ]


def in_house(df: pd.DataFrame) -> list[Finding]:
    """Per task where some rows send data to a third-party API: the best row that keeps the data in house (a
    model served on the reader's own device), by the same ranking as the leaderboard, beside the best API row."""
    if "egress" not in df:
        return []
    out = []
    for task, part in df.groupby("task", sort=True):
        ranked = part.sort_values(["rank", "score"], ascending=[True, False])
        inside, outside = ranked[ranked["egress"] == "in_house"], ranked[ranked["egress"] == "third_party"]
        if outside.empty or inside.empty:
            continue  # no choice to make on this task
        row, api = inside.iloc[0], outside.iloc[0]
        if _ok(row["score"]) and _ok(api["score"]):
            detail = _(
                "Rank %(rank)s, score %(score)s; the best third-party API row (%(api)s) ranks %(api_rank)s with "
                "%(api_score)s.",
                rank=integer(row["rank"]),
                score=dec(row["score"], 3),
                api=_name(api),
                api_rank=integer(api["rank"]),
                api_score=dec(api["score"], 3),
            )
        else:
            detail = ""
        out.append(
            Finding(
                "in_house",
                _("Best option on %(task)s that keeps data in house: %(row)s", task=task, row=_name(row)),
                detail,
            )
        )
    return out
