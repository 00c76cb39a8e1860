"""Stored records -> `Board`: every table, finding and comparison the report page and its exports show.

Pure analysis: no jinja2, no plotly, no file writes (the per-sample files are read, through `samples`, for the
paired comparisons and the drill-down). render.py turns a Board into HTML, CSV and JSON; nothing here knows how.
The drill-down data is built here too, so a Board is complete and render.py only formats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from harness.config.schema import ReportConfig
from harness.report import decision, i18n, summary
from harness.report.capability import capabilities
from harness.report.diff import compare_rows
from harness.report.drill import drill_down
from harness.report.table import (
    api_usage,
    break_even_rows,
    judge_table,
    leaderboard,
    tuning_effect,
    with_capacity,
)
from harness.report.training_data import noise_lines
from harness.report.trend import history

MAX_PROVENANCE = 200  # cells listed one by one under "Methodology"; the exports and records hold all of them
# the page's filter drop-downs
FILTERS = ("task", "model", "method", "n_train", "train_data", "label_noise", "egress")

Samples = Callable[[str], list[dict]]


@dataclass(frozen=True)
class Board:
    """What one report shows. DataFrames for the charts and exports; the same tables as lists of dicts (missing
    values as None) for the page."""

    # the leaderboard: one row per cell, with its forgetting check (what the exports hold)
    table: pd.DataFrame
    effects_table: pd.DataFrame  # tuning effects (charts read the frame)
    rows: list[dict[str, Any]]  # `table` as dicts
    effects: list[dict[str, Any]]
    api_rows: list[dict[str, Any]]
    judge_rows: list[dict[str, Any]]
    breakeven: list[dict[str, Any]]
    findings: list[summary.Finding]
    filters: dict[str, list[str]]  # column -> its values as the page shows them, in natural order
    has_format: bool  # some row measured JSON / schema validity
    has_agreement: bool  # some row sampled k answers
    drill: list[dict[str, Any]]  # per task, every item with each row's answer (drill.drill_down)
    diff: list[dict[str, Any]] | None  # rows that moved since `earlier`; None without an earlier report
    earlier: dict[str, Any] | None  # the earlier report's export, as harness.report.diff.load_export read it
    not_measured: list[dict[str, Any]]  # outcomes of cells that failed
    not_applicable: list[dict[str, Any]]  # outcomes of cells that do not apply (e.g. no forgetting check)
    cells: list[dict[str, Any]]  # the first MAX_PROVENANCE records, listed under "Methodology"
    n_records: int
    provenance: dict[str, Any]
    tasks: dict[str, str]  # task name -> its description
    assumptions: dict[str, Any]  # monthly_queries, amortise_months, target_score as used
    loads: list[dict[str, Any]] = field(default_factory=list)  # load records (harness load), newest last
    # this board's rows in every recorded run (harness.report.trend), for the History section
    history: pd.DataFrame = field(default_factory=pd.DataFrame)
    # per task, each row's score on every capability the task measures (capability.capabilities): the radar
    capabilities: list[dict[str, Any]] = field(default_factory=list)
    # per task, the recommendation, its runner-up and the fine-tune-or-API verdict (decision.panel): shown first
    decisions: list[dict[str, Any]] = field(default_factory=list)
    noise: list[dict[str, Any]] = field(default_factory=list)  # label-noise lines (training_data.noise_lines)


def records_of(df) -> list[dict[str, Any]]:
    """DataFrame rows as dicts with missing values as None (pandas turns None into NaN in numeric columns), every
    value a Python one. Column by column: half the time of pandas' `astype(object).where(...).to_dict("records")`
    (0.18 s against 0.35 s on a 10,000-row board, bench/report_10k.py; called three times per report)."""
    if not len(df):
        return []
    import numpy as np

    columns = []
    for name in df.columns:
        s = df[name]
        if isinstance(s.dtype, pd.StringDtype):  # pandas 3's str (arrow): one C conversion, not a Python iterator
            values = s.to_numpy(dtype=object, na_value=None).tolist()
        else:
            values = s.tolist()  # Python scalars for numeric and bool columns
        if s.dtype == object:
            values = [v.item() if isinstance(v, np.generic) else v for v in values]
        missing = s.isna()
        if missing.any():
            values = [None if m else v for v, m in zip(values, missing.tolist(), strict=True)]
        columns.append(values)
    names = list(df.columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def assumptions_of(settings: ReportConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    """The cost assumptions, ReportConfig's defaults where `settings` (a ReportConfig, or a dict of some of its
    keys) leaves volume or months out or None; a None target_score means "cheapest tied with the best".
    `deployment` (a key beside them: conf/deployment/, default dedicated) becomes a
    harness.compare.deployment.Deployment."""
    from harness.compare.deployment import Deployment

    given = settings if isinstance(settings, Mapping) else asdict(settings) if settings is not None else {}
    a = {k: v for k, v in asdict(ReportConfig()).items() if k != "compare_to"}
    out = {**a, **{k: given[k] for k in a if k in given and (given[k] is not None or k == "target_score")}}
    dep = given.get("deployment")
    out["deployment"] = dep if isinstance(dep, Deployment) else Deployment.of(dep or {})
    return out


def with_forgetting(df: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    """Each fine-tuned row gets its general-ability change on every general task checked (`forget_all`), and
    in the sortable columns the worst of them (the lowest change): one task's loss is not hidden by another's."""
    cols = ["forget_delta", "forget_ci_low", "forget_ci_high", "forget_task", "forgetting"]
    df = df.assign(**{c: None for c in cols}, forget_all=None)
    if effects.empty or df.empty:
        return df
    other = effects[~effects["role"].str.startswith("domain") & effects["artifact_id"].notna()]
    for artifact, part in other.groupby("artifact_id", sort=False):
        hit = df["artifact_id"] == artifact
        if not hit.any():
            continue

        def num(v: Any) -> float | None:  # NaN (a partly filled column) is not JSON: null instead
            return None if v is None or pd.isna(v) else float(v)

        checks = [
            {
                "task": e["task"],
                "delta": num(e["delta"]),
                "ci_low": num(e["ci_low"]),
                "ci_high": num(e["ci_high"]),
                "forgetting": bool(e["forgetting"]),
                "items_note": e.get("items_note") if isinstance(e.get("items_note"), str) else None,
            }
            for _, e in part.sort_values("task").iterrows()
        ]
        known = [c for c in checks if c["delta"] is not None]
        worst = min(known, key=lambda c: c["delta"]) if known else checks[0]
        df.loc[hit, cols] = [
            worst["delta"],
            worst["ci_low"],
            worst["ci_high"],
            worst["task"],
            any(c["forgetting"] for c in checks),
        ]
        df.loc[hit, "forget_all"] = pd.Series([checks] * int(hit.sum()), index=df.index[hit])
    return df


def ties_between(df: pd.DataFrame, pairs: pd.DataFrame) -> dict[tuple[str, str], bool | None]:
    """(tuned cell id, API cell id) -> tied on paired items? None when the ranking could not test them."""
    wanted = set(pairs.get("tuned_cell_id", [])) | set(pairs.get("api_cell_id", []))
    rows = {r["cell_id"]: r for r in records_of(df[df["cell_id"].isin(wanted)])} if wanted else {}
    return {
        (t_id, a_id): tie(rows.get(t_id), rows.get(a_id))
        for t_id, a_id in zip(pairs.get("tuned_cell_id", []), pairs.get("api_cell_id", []), strict=True)
    }


def tie(t: dict[str, Any] | None, a: dict[str, Any] | None) -> bool | None:
    """Are two leaderboard rows (as dicts) tied on paired items? None when the ranking could not test them."""
    if not (t and a and t["rank_paired"] and a["rank_paired"]):
        return None
    # tied: the same tier and not separated from each other (a significant pair in one tier is not a tie)
    return a["cell_id"] in (t["tied_ids"] or []) and a["cell_id"] not in (t.get("separated_ids") or [])


def headline_pairs(breakeven: pd.DataFrame) -> pd.DataFrame:
    """For the summary, one fine-tune-or-API question per task: its best fine-tuned row against its best API."""
    if breakeven.empty:
        return breakeven
    ranked = breakeven.sort_values(["task", "tuned_score", "api_score"], ascending=[True, False, False])
    return ranked.groupby("task", sort=True).head(1)


def provenance(records: list[dict[str, Any]]) -> dict[str, Any]:
    """What the methodology section lists: commits, packages, devices, prices with their dates, seeds."""
    envs = [r["environment"] for r in records]
    prices = {}
    for r in records:
        if r.get("api"):
            p = r["api"]["cost"]["price"]
            prices[r["model"]["display_name"]] = p
    hardware = {}
    for r in records:
        hw = r.get("hardware") or {}
        if hw.get("profile"):
            hardware[hw["profile"]] = hw
    return {
        "commits": sorted({str(e["git"]["commit"])[:12] for e in envs}),
        "dirty": any(e["git"].get("dirty") for e in envs),
        "packages": envs[-1]["packages"] if envs else {},
        # each runtime's package versions (the last record's of each): rows can come from different stacks
        "runtimes": {(e.get("runtime") or {}).get("name", "main"): e["packages"] for e in envs},
        "devices": sorted({f"{r['eval']['device']['kind']}: {r['eval']['device']['name']}" for r in records}),
        "prices": prices,
        "hardware": hardware,
        "seeds": sorted({r["eval"]["seeds"]["python"] for r in records if r["eval"].get("seeds")}),
    }


def filter_text(v: Any) -> str:
    """A filter value as the page shows it: 64, not 64.0 (pandas stores a column with gaps as floats)."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _natural(v: str) -> tuple:
    """Training-set sizes sort as numbers (16 before 100), names as text."""
    return (0, float(v), "") if v.replace(".", "", 1).isdigit() else (1, 0.0, v)


def build_board(
    records: list[dict[str, Any]],
    not_measured: list[dict[str, Any]],
    *,
    samples: Samples | None = None,
    settings: ReportConfig | Mapping[str, Any] | None = None,
    judgements: list[dict[str, Any]] | None = None,
    earlier: dict[str, Any] | None = None,
    loads: list[dict[str, Any]] | None = None,
    runs: pd.DataFrame | None = None,
) -> Board:
    """`not_measured`: outcomes of cells without a record (failed or not applicable). `samples`: cell id -> its
    per-sample rows (Store.load_samples), for paired comparisons and drill-down. `settings`: the cost assumptions
    (conf: report.*). `earlier`: an earlier report's leaderboard.json (harness.report.diff.load_export)."""
    a = assumptions_of(settings)
    with i18n.use(a["lang"]):  # the summary's sentences and the tables' notes are written in the report's language
        return _build(records, not_measured, a, samples, judgements, earlier, loads, runs)


def _build(
    records: list[dict[str, Any]],
    not_measured: list[dict[str, Any]],
    a: dict[str, Any],
    samples: Samples | None,
    judgements: list[dict[str, Any]] | None,
    earlier: dict[str, Any] | None,
    loads: list[dict[str, Any]] | None,
    runs: pd.DataFrame | None,
) -> Board:
    records = with_capacity(records, loads or [])  # capacity under load, where measured, prices self-hosting
    effects = tuning_effect(records, samples)
    df = with_forgetting(leaderboard(records, samples, a["deployment"], a["monthly_queries"]), effects)
    rows = records_of(df)
    # as rows (every row has the same keys, each a Python value or None: what records_of would give back) and as
    # a frame for the analysis; a round trip through pandas took 0.3 s of a 10,000-row board's 25,000 pairs
    breakeven_rows = break_even_rows(records, a["monthly_queries"], a["amortise_months"], a["deployment"])
    breakeven = pd.DataFrame(breakeven_rows)
    broken = [o for o in not_measured if o["status"] != "not_applicable"]
    findings: list[summary.Finding] = []
    decisions: list[dict[str, Any]] = []
    noise: list[dict[str, Any]] = []
    if len(df):
        params = {m: p for m, p in zip(df["model"], df["params_m"], strict=True) if p == p and p}
        choices = summary.cheapest_choices(df, a["target_score"], a["monthly_queries"], a["amortise_months"])

        by_id = {r["cell_id"]: r for r in rows}  # one pair per task is asked: not all 25,000 of a big board
        decisions = decision.panel(df, breakeven, lambda t, api: tie(by_id.get(t), by_id.get(api)), a, broken, choices)
        findings = [
            *summary.best_per_task(df),
            *summary.cheapest_meeting(df, a["target_score"], a["monthly_queries"], a["amortise_months"], choices),
            *summary.verdicts(heads := headline_pairs(breakeven), ties_between(df, heads), a["monthly_queries"]),
            *summary.in_house(df),
            *summary.forgetting(effects),
            *summary.scaling(effects, params),
            *summary.label_noise(noise := noise_lines(df)),
        ]
    findings += summary.not_measured(broken)
    return Board(
        table=df,
        effects_table=effects,
        rows=rows,
        effects=records_of(effects),
        api_rows=records_of(api_usage(records)),
        judge_rows=records_of(judge_table(records, judgements or [])),
        breakeven=breakeven_rows,
        findings=findings,
        filters={c: sorted({filter_text(r[c]) for r in rows if r[c] is not None}, key=_natural) for c in FILTERS},
        has_format=bool(len(df)) and bool(df[["json_valid", "schema_valid"]].notna().any().any()),
        has_agreement=bool(len(df)) and bool(df["agree_all"].notna().any()),
        drill=drill_down(rows, samples),
        diff=compare_rows(rows, earlier["rows"], samples) if earlier else None,
        earlier=earlier,
        not_measured=broken,
        not_applicable=[o for o in not_measured if o["status"] == "not_applicable"],
        cells=records[:MAX_PROVENANCE],
        n_records=len(records),
        provenance=provenance(records),
        tasks={r["task"]["name"]: r.get("config", {}).get("task", {}).get("description", "") for r in records},
        assumptions=a,
        loads=loads or [],
        history=history(runs, df) if runs is not None else pd.DataFrame(),
        capabilities=capabilities(rows, records, samples),
        decisions=decisions,
        noise=noise,
    )
