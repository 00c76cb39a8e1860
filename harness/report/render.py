"""A `Board` -> reports/<name>/index.html (+ leaderboard.csv and leaderboard.json). Templating only.

One self-contained file: plotly.js is inlined once, the page's own CSS and JS are inlined from templates/, and
nothing is fetched from a network. All text from models, tasks and configs goes through jinja2's autoescaping.
What the page shows is decided in analysis.py (the drill-down data included); here it is only laid out, and the
charts (charts.py) drawn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from plotly.offline import get_plotlyjs

from harness.config.schema import ReportConfig
from harness.report import i18n
from harness.report.analysis import Board, Samples, build_board, filter_text, records_of
from harness.report.charts import all_charts, load_label
from harness.report.compact import table_data
from harness.report.diff import EXPORT_SCHEMA
from harness.report.labels import data_text, noise_text
from harness.report.table import contention_text, slo_text
from harness.report.trend import changes as history_changes
from harness.report.words import deployment_text
from harness.store.record import now_iso
from harness.store.store import atomic_write_text

MAX_TABLE_ROWS = 300  # side tables (break-even) beyond this show their first rows and say so
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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


def render_html(board: Board, title: str, out_dir: Path | None = None) -> str:
    """The page, in the board's language (report.lang). `out_dir` only decides how docs/metrics.md is linked."""
    with i18n.use(board.assumptions["lang"]):
        return _render(board, title, out_dir)


def _render(board: Board, title: str, out_dir: Path | None) -> str:
    # each chart as its figure's JSON, drawn by the page's script when it scrolls into view (all at once to print):
    # drawing every chart before the table could answer took most of a 10,000-row page's 15 s to open
    charts = [
        (cid, question, fig.to_json().replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))
        for cid, question, fig in all_charts(
            board.table,
            board.effects_table,
            board.breakeven,
            deployment_text(board.assumptions["deployment"]),
            board.loads,
            board.history,
            board.capabilities,
            board.noise,
        )
    ]
    env = Environment(loader=PackageLoader("harness.report", "templates"), autoescape=select_autoescape(["j2"]))
    i18n.jinja(env)  # _() and the locale's number, money and date filters
    env.filters["num"] = fmt_num
    env.filters["contention"] = contention_text
    env.filters["slo"] = slo_text
    env.filters["deployment_text"] = deployment_text
    env.filters["http_only"] = http_only
    env.filters["text"] = filter_text
    env.filters["data_text"] = data_text
    env.filters["noise"] = noise_text
    table = table_data(board.rows, board.has_agreement, board.has_format)
    return env.get_template("leaderboard.html.j2").render(
        table=table,
        table_json=script_json(
            {
                "columns": [c["key"] for c in table["columns"]],
                "rows": table["rows"],
                "classes": [c["cls"] for c in table["columns"]],
                "filters": table["filters"],
            }
        ),
        decisions=board.decisions,
        lang=i18n.current(),
        html_lang=i18n.HTML_LANG[i18n.current()],
        title=title,
        generated_at=now_iso(),
        n_records=board.n_records,
        findings=[asdict(f) for f in board.findings],
        rows=board.rows,
        filters=board.filters,
        has_format=board.has_format,
        has_agreement=board.has_agreement,
        effects=board.effects,
        api_rows=board.api_rows,
        judge_rows=board.judge_rows,
        breakeven=board.breakeven,
        loads=[{**ld, "label": load_label(ld)} for ld in board.loads],
        max_table_rows=MAX_TABLE_ROWS,
        assumptions=board.assumptions,
        charts=charts,
        drill=board.drill,
        diff=board.diff,
        earlier=board.earlier,
        plotly_js=get_plotlyjs(),
        not_measured=board.not_measured,
        not_applicable=board.not_applicable,
        records=board.cells,
        provenance=board.provenance,
        metrics_href=metrics_link(out_dir),
        tasks=board.tasks,
        history=history_changes(board.history),
    )


def script_json(doc: Any) -> str:
    """`doc` as JSON to put inside <script type="application/json">: <, > and & as \\u escapes, so no text in it
    (a model's name, a task's) can close the script element or open a comment; JSON.parse reads them back."""
    # allow_nan=False: a NaN or infinity that slipped past compact._ok fails here, not as a blank table in a browser
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def csv_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR first: CSV injection) get a
    leading apostrophe, the OWASP remedy; spreadsheets show the text as it was. Numbers are left alone."""

    def cell(v: Any) -> Any:
        return "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v

    def column(col: pd.Series) -> pd.Series:
        if pd.api.types.is_numeric_dtype(col):
            return col
        if isinstance(col.dtype, pd.StringDtype) and not col.str.startswith(FORMULA_START).fillna(False).any():
            return col  # a text column with no such cell (the common case), checked at once
        return col.map(cell)

    return df.apply(column)


def export_json(df: pd.DataFrame, title: str, board: Board | None = None) -> str:
    """The main table as JSON (what --compare-to and the gate read): one object per row, NaN as null. With the
    `board`, also what the page says around it (the README's results block is written from these,
    scripts/readme_results.py): the summary's findings, the break-even rows (without their chart curves), the
    API usage rows, the cost assumptions and the provenance (commits, devices, hardware profiles)."""
    doc: dict[str, Any] = {
        "schema": EXPORT_SCHEMA,
        "title": title,
        "generated_at": now_iso(),
        "rows": board.rows if board is not None and board.table is df else records_of(df),  # built once
    }
    if board is not None:
        a = board.assumptions
        doc.update(
            findings=[
                {"kind": f.kind, "headline": f.headline, "detail": f.detail, "warn": f.warn} for f in board.findings
            ],
            breakeven=[{k: v for k, v in b.items() if k != "curve"} for b in board.breakeven],
            api_rows=board.api_rows,
            assumptions={
                "monthly_queries": a["monthly_queries"],
                "amortise_months": a["amortise_months"],
                "target_score": a["target_score"],
                "deployment": a["deployment"].name,
                "deployment_text": deployment_text(a["deployment"]),
            },
            provenance={k: board.provenance.get(k) for k in ("commits", "dirty", "devices", "hardware", "seeds")},
        )
    return _dump(doc)


def _dump(doc: dict[str, Any]) -> str:
    """The document with one line per top-level key and one per element of a top-level list (a row per line):
    readable, and written by json's C encoder. `indent` makes json use its pure-Python encoder, which took 6 s of
    a 10,000-row report's 16 (bench/report_10k.py)."""

    # one encoder for every element: json.dumps with options builds a new JSONEncoder on each of 35,000 calls
    one = json.JSONEncoder(ensure_ascii=False, default=str).encode
    parts = []
    for k, v in doc.items():
        value = "[\n  " + ",\n  ".join(map(one, v)) + "\n ]" if isinstance(v, list) and v else one(v)
        parts.append(f" {one(k)}: {value}")
    return "{\n" + ",\n".join(parts) + "\n}\n"


def write_board(board: Board, out_dir: Path, title: str) -> Path:
    """index.html, leaderboard.csv and leaderboard.json of one board; returns the page's path. The three are
    written as a unit under a lock on the folder itself (flock on its directory: no lock file, released when the
    process ends however it ends): two reports sent to one folder at once (two stores, one `--out`) leave one
    report's three files, never a page from one and the CSV/JSON that the gate and `--compare-to` read from the
    other."""
    import fcntl
    import os

    html = render_html(board, title, out_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        atomic_write_text(out_dir / "leaderboard.csv", csv_safe(board.table).to_csv(index=False))
        atomic_write_text(out_dir / "leaderboard.json", export_json(board.table, title, board))
        path = out_dir / "index.html"
        atomic_write_text(path, html)
    finally:
        os.close(fd)  # releases the lock
    return path


def write_report(
    records: list[dict[str, Any]],
    out_dir: Path,
    title: str,
    *,
    not_measured: list[dict[str, Any]] | None = None,
    samples: Samples | None = None,
    assumptions: ReportConfig | Mapping[str, Any] | None = None,
    judgements: list[dict[str, Any]] | None = None,
    earlier: dict[str, Any] | None = None,
    loads: list[dict[str, Any]] | None = None,
) -> Path:
    """build_board + write_board, for callers that hold records rather than a store (tests, benchmarks).
    `assumptions`: monthly_queries, amortise_months, target_score (a ReportConfig or a dict of some of them).
    `loads`: load records (harness load) to show and to take capacity from."""
    board = build_board(
        records,
        not_measured or [],
        samples=samples,
        settings=assumptions,
        judgements=judgements,
        earlier=earlier,
        loads=loads,
    )
    return write_board(board, out_dir, title)
