"""Write reports/<name>/index.html (+ leaderboard.csv and leaderboard.json) from stored records.

One self-contained file: plotly.js is inlined once, the page's own CSS and JS are inlined from templates/, and
nothing is fetched from a network. All text from models, tasks and configs goes through jinja2's autoescaping.
The report is a pure function of the records, their per-sample files and the stated assumptions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from plotly.offline import get_plotlyjs

from harness.report import summary
from harness.report.charts import all_charts
from harness.report.diff import EXPORT_SCHEMA, compare_rows
from harness.report.drill import drill_down
from harness.report.table import api_usage, break_even, judge_table, leaderboard, tuning_effect
from harness.store.record import now_iso
from harness.store.store import atomic_write_text

MAX_TABLE_ROWS = 300  # side tables (break-even) beyond this show their first rows and say so
MAX_PROVENANCE = 200  # cells listed one by one under "Methodology"; the exports and records hold all of them
DEFAULTS = {"monthly_queries": 100_000, "amortise_months": 12.0, "target_score": None}


def records_of(df) -> list[dict[str, Any]]:
    """DataFrame rows as dicts with missing values as None (pandas turns None into NaN in numeric columns)."""
    return df.astype(object).where(df.notna(), None).to_dict("records") if len(df) else []


def with_forgetting(df: pd.DataFrame, effects: pd.DataFrame) -> pd.DataFrame:
    """Each fine-tuned row gets its general-ability change: the forgetting check of the same trained artifact."""
    cols = ["forget_delta", "forget_ci_low", "forget_ci_high", "forget_task", "forgetting"]
    df = df.assign(**{c: None for c in cols})
    if effects.empty or df.empty:
        return df
    other = effects[~effects["role"].str.startswith("domain") & effects["artifact_id"].notna()]
    for _, e in other.iterrows():
        hit = (df["artifact_id"] == e["artifact_id"]) & df["forget_delta"].isna()
        if hit.any():  # the first general task found (the default job has one)
            df.loc[hit, cols] = [e["delta"], e["ci_low"], e["ci_high"], e["task"], bool(e["forgetting"])]
    return df


def ties_between(df: pd.DataFrame, pairs: pd.DataFrame) -> dict[tuple[str, str], bool | None]:
    """(tuned cell id, API cell id) -> tied on paired items? None when the ranking could not test them."""
    rows = {r["cell_id"]: r for r in records_of(df)}
    out: dict[tuple[str, str], bool | None] = {}
    for t_id, a_id in zip(pairs.get("tuned_cell_id", []), pairs.get("api_cell_id", []), strict=True):
        t, a = rows.get(t_id), rows.get(a_id)
        tested = bool(t and a and t["rank_paired"] and a["rank_paired"])
        out[(t_id, a_id)] = (a_id in (t["tied_ids"] or [])) if tested else None
    return out


def headline_pairs(breakeven: pd.DataFrame) -> pd.DataFrame:
    """For the summary, one fine-tune-or-API question per task: its best fine-tuned row against its best API."""
    if breakeven.empty:
        return breakeven
    ranked = breakeven.sort_values(["task", "tuned_score", "api_score"], ascending=[True, False, False])
    return ranked.groupby("task", sort=True).head(1)


def _text(v: Any) -> str:
    """A filter value as the page shows it: 64, not 64.0 (pandas stores a column with gaps as floats)."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _natural(v: str) -> tuple:
    """Training-set sizes sort as numbers (16 before 100), names as text."""
    return (0, float(v), "") if v.replace(".", "", 1).isdigit() else (1, 0.0, v)


def fmt_num(value: Any, fmt: str = "%.3f") -> str:
    """A number for the page; "-" for a missing one (None, or pandas' NaN) instead of "nan" or a crash."""
    return "-" if value is None or value != value else fmt % value


def http_only(url: Any) -> str | None:
    """A config's source link, only when it is http(s): a `javascript:` URL in a YAML must not become a link."""
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def metrics_link(out_dir: Path | None) -> str | None:
    """docs/metrics.md relative to the report, when the report is written inside this checkout (it opens
    from disk); None elsewhere (the report then names the file)."""
    import os

    from harness.paths import REPO_ROOT

    doc = REPO_ROOT / "docs" / "metrics.md"
    if out_dir is None or not doc.exists() or not Path(out_dir).resolve().is_relative_to(REPO_ROOT):
        return None
    return Path(os.path.relpath(doc, Path(out_dir).resolve())).as_posix()


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
        "devices": sorted({f"{r['eval']['device']['kind']}: {r['eval']['device']['name']}" for r in records}),
        "prices": prices,
        "hardware": hardware,
        "seeds": sorted({r["eval"]["seeds"]["python"] for r in records if r["eval"].get("seeds")}),
    }


def render(records: list[dict[str, Any]], not_measured: list[dict[str, Any]], title: str,
           samples: Callable[[str], list[dict]] | None = None, assumptions: dict[str, Any] | None = None,
           judgements: list[dict[str, Any]] | None = None, earlier: dict[str, Any] | None = None,
           out_dir: Path | None = None) -> tuple[str, pd.DataFrame]:  # fmt: skip
    a = {**DEFAULTS, **{k: v for k, v in (assumptions or {}).items() if v is not None or k == "target_score"}}
    effects = tuning_effect(records, samples)
    df = with_forgetting(leaderboard(records, samples), effects)
    rows = records_of(df)
    breakeven = break_even(records, a["monthly_queries"], a["amortise_months"])
    broken = [o for o in not_measured if o["status"] != "not_applicable"]
    findings: list[summary.Finding] = []
    if len(df):
        params = {m: p for m, p in zip(df["model"], df["params_m"], strict=True) if p == p and p}
        findings = [*summary.best_per_task(df), *summary.cheapest_meeting(df, a["target_score"], a["monthly_queries"], a["amortise_months"]),
                    *summary.verdicts(heads := headline_pairs(breakeven), ties_between(df, heads), a["monthly_queries"]),
                    *summary.forgetting(effects), *summary.scaling(effects, params)]  # fmt: skip
    findings += summary.not_measured(broken)
    charts = [(cid, question, fig.to_html(full_html=False, include_plotlyjs=False, div_id=cid,
                                          config={"displaylogo": False, "responsive": True}))
              for cid, question, fig in all_charts(df, effects)]  # fmt: skip
    env = Environment(
        loader=PackageLoader("harness.report", "templates"), autoescape=select_autoescape(["j2"])
    )
    env.filters["num"] = fmt_num
    env.filters["http_only"] = http_only
    env.filters["text"] = _text
    diff = compare_rows(rows, earlier["rows"]) if earlier else None
    html = env.get_template(
        "leaderboard.html.j2"
    ).render(
        title=title,
        generated_at=now_iso(),
        n_records=len(records),
        findings=[asdict(f) for f in findings],
        rows=rows,
        filters={
            c: sorted({_text(r[c]) for r in rows if r[c] is not None}, key=_natural)
            for c in ("task", "model", "method", "n_train")
        },  # fmt: skip
        has_format=bool(len(df)) and bool(df[["json_valid", "schema_valid"]].notna().any().any()),
        has_agreement=bool(len(df)) and bool(df["agree_all"].notna().any()),
        effects=records_of(effects),
        api_rows=records_of(api_usage(records)),
        judge_rows=records_of(judge_table(records, judgements or [])),
        breakeven=records_of(breakeven),
        max_table_rows=MAX_TABLE_ROWS,
        assumptions=a,
        charts=charts,
        drill=drill_down(rows, samples),
        diff=diff,
        earlier=earlier,
        plotly_js=get_plotlyjs(),
        not_measured=broken,
        not_applicable=[o for o in not_measured if o["status"] == "not_applicable"],
        records=records[:MAX_PROVENANCE],
        provenance=provenance(records),
        metrics_href=metrics_link(out_dir),
        tasks={
            r["task"]["name"]: r.get("config", {}).get("task", {}).get("description", "") for r in records
        },
    )
    return html, df


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR first: CSV injection) get a
    leading apostrophe, the OWASP remedy; spreadsheets show the text as it was. Numbers are left alone."""

    def cell(v: Any) -> Any:
        return "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v

    return df.apply(lambda col: col if pd.api.types.is_numeric_dtype(col) else col.map(cell))


def export_json(df: pd.DataFrame, title: str) -> str:
    """The main table as JSON (what --compare-to reads): one object per row, NaN as null."""
    doc = {"schema": EXPORT_SCHEMA, "title": title, "generated_at": now_iso(), "rows": records_of(df)}
    return json.dumps(doc, indent=1, ensure_ascii=False, default=str) + "\n"


def write_report(
    records: list[dict[str, Any]],
    out_dir: Path,
    title: str,
    not_measured: list[dict[str, Any]] | None = None,
    samples: Callable[[str], list[dict]] | None = None,
    assumptions: dict[str, Any] | None = None,
    judgements: list[dict[str, Any]] | None = None,
    earlier: dict[str, Any] | None = None,
) -> Path:
    """`samples`: cell id -> its per-sample rows (Store.load_samples), for paired comparisons and drill-down.
    `assumptions`: monthly_queries, amortise_months, target_score (conf: report.*). `earlier`: an earlier
    report's leaderboard.json (harness.report.diff.load_export) to compare with."""
    html, df = render(records, not_measured or [], title, samples, assumptions, judgements, earlier, out_dir)
    atomic_write_text(out_dir / "leaderboard.csv", csv_safe(df).to_csv(index=False))
    atomic_write_text(out_dir / "leaderboard.json", export_json(df, title))
    path = out_dir / "index.html"
    atomic_write_text(path, html)
    return path
