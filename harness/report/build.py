"""Write reports/<name>/index.html (+ leaderboard.csv) from stored records. Offline: plotly.js is inlined once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader, select_autoescape
from plotly.offline import get_plotlyjs

from harness.report.table import api_usage, break_even, judge_table, leaderboard, tuning_effect
from harness.store.record import now_iso
from harness.store.store import atomic_write_text


def score_chart(df) -> go.Figure:
    fig = go.Figure()
    for task, part in df.groupby("task", sort=True):
        fig.add_bar(
            name=task,
            x=[f"{m} ({v})" for m, v in zip(part["model"], part["variant"], strict=True)],
            y=part["score"],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": part["ci_high"] - part["score"],
                "arrayminus": part["score"] - part["ci_low"],
            },
            hovertemplate="%{x}<br>score %{y:.3f}<extra>" + task + "</extra>",
        )
    fig.update_layout(
        title="Primary metric per model (bars: 95 % confidence interval)",
        yaxis={"title": "score", "range": [0, 1]},
        barmode="group",
        height=420,
        margin={"t": 60, "b": 40},
    )
    return fig


def records_of(df) -> list[dict[str, Any]]:
    """DataFrame rows as dicts with missing values as None (pandas turns None into NaN in numeric columns)."""
    return df.astype(object).where(df.notna(), None).to_dict("records") if len(df) else []


def render(records: list[dict[str, Any]], not_measured: list[dict[str, Any]], title: str,
           samples: Callable[[str], list[dict]] | None = None, assumptions: dict[str, Any] | None = None,
           judgements: list[dict[str, Any]] | None = None) -> tuple[str, Any]:  # fmt: skip
    assumptions = {"monthly_queries": 100_000, "amortise_months": 12.0, **(assumptions or {})}
    df = leaderboard(records, samples)
    env = Environment(
        loader=PackageLoader("harness.report", "templates"), autoescape=select_autoescape(["j2"])
    )
    chart = (
        score_chart(df).to_html(full_html=False, include_plotlyjs=False, div_id="score-chart")
        if len(df)
        else ""
    )
    envs = [r["environment"] for r in records]
    html = env.get_template("leaderboard.html.j2").render(
        title=title,
        generated_at=now_iso(),
        rows=records_of(df),
        has_format=bool(len(df)) and bool(df[["json_valid", "schema_valid"]].notna().any().any()),
        has_agreement=bool(len(df)) and bool(df["agree_all"].notna().any()),
        effects=records_of(tuning_effect(records, samples)),
        api_rows=records_of(api_usage(records)),
        judge_rows=records_of(judge_table(records, judgements or [])),
        breakeven=records_of(
            break_even(records, assumptions["monthly_queries"], assumptions["amortise_months"])
        ),
        assumptions=assumptions,
        chart=chart,
        plotly_js=get_plotlyjs(),
        not_measured=[o for o in not_measured if o["status"] != "not_applicable"],
        not_applicable=[o for o in not_measured if o["status"] == "not_applicable"],
        records=records,
        tasks={
            r["task"]["name"]: r.get("config", {}).get("task", {}).get("description", "") for r in records
        },
        commits=sorted({str(e["git"]["commit"])[:12] for e in envs}),
        packages=envs[-1]["packages"] if envs else {},
    )
    return html, df


def write_report(
    records: list[dict[str, Any]],
    out_dir: Path,
    title: str,
    not_measured: list[dict[str, Any]] | None = None,
    samples: Callable[[str], list[dict]] | None = None,
    assumptions: dict[str, Any] | None = None,
    judgements: list[dict[str, Any]] | None = None,
) -> Path:
    """`samples`: cell id -> its per-sample rows (Store.load_samples), for paired comparisons on the same items.
    `assumptions`: monthly_queries and amortise_months of the cost comparison (conf: report.*)."""
    html, df = render(records, not_measured or [], title, samples, assumptions, judgements)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "leaderboard.csv", df.to_csv(index=False))
    path = out_dir / "index.html"
    atomic_write_text(path, html)
    return path
