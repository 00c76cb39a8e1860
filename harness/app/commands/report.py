"""`harness report`: an HTML leaderboard (and with --pdf a PDF) from stored records."""

from __future__ import annotations

import argparse

from harness.errors import HarnessError, did_you_mean
from harness.paths import resolve


def cmd_report(argv: list[str]) -> None:
    p = argparse.ArgumentParser(prog="harness report", description="Write an HTML leaderboard from stored records.")
    p.add_argument("--results", default="results", help="store folder (default: results)")
    p.add_argument("--out", default="reports/all", help="output folder for index.html (default: reports/all)")
    p.add_argument("--sweep-dir", help="only the cells of this Hydra sweep folder (outputs/<sweep>/<time>)")
    p.add_argument("--title", default="Leaderboard")
    from harness.config.schema import ReportConfig

    d = ReportConfig()  # the report's defaults live there, shared with `report.*` of a run
    p.add_argument("--monthly-queries", type=int, default=d.monthly_queries, help="volume training cost is spread over")
    p.add_argument("--amortise-months", type=float, default=d.amortise_months, help="months a fine-tuned model is used")
    p.add_argument(
        "--target-score",
        type=float,
        default=d.target_score,
        help="summary: cheapest option scoring at least this (default: cheapest tied with the best)",
    )
    p.add_argument("--compare-to", help="an earlier report folder (or its leaderboard.json): rows that moved")
    p.add_argument("--lang", default=d.lang, help="the report's language: en, zh (简体中文) or ja (日本語)")
    p.add_argument(
        "--deployment",
        default="dedicated",
        help="how self-hosted rows are served: conf/deployment/ "
        "(dedicated: replicas always on; per_second: billed per busy second)",
    )
    p.add_argument(
        "--pdf",
        action="store_true",
        help="also print the page to report.pdf with the system's chromium (scripts/setup.sh --browser installs it)",
    )
    a = p.parse_args(argv)
    from dataclasses import asdict

    from harness.config.options import load_option, option_files
    from harness.config.schema import DeploymentConfig
    from harness.report.i18n import check as check_lang

    check_lang(a.lang)
    if a.deployment not in option_files("deployment"):
        raise HarnessError(did_you_mean(a.deployment, option_files("deployment"), "deployment"))
    deployment = load_option("deployment", a.deployment, DeploymentConfig)
    import math

    if a.monthly_queries < 1 or not math.isfinite(a.amortise_months) or a.amortise_months <= 0:
        raise HarnessError("--monthly-queries must be at least 1 and --amortise-months a number greater than 0.")
    if a.target_score is not None and not math.isfinite(a.target_score):
        raise HarnessError("--target-score must be a number.")
    if not a.out.strip():
        raise HarnessError("--out is empty: name the folder the report goes to.")
    a.title = a.title.encode("utf-8", "replace").decode("utf-8")  # bytes that are not UTF-8 on the command line
    from harness.report.from_store import report_from_store
    from harness.store import Store

    settings = {
        **asdict(
            ReportConfig(
                monthly_queries=a.monthly_queries,
                amortise_months=a.amortise_months,
                target_score=a.target_score,
                compare_to=a.compare_to,
                lang=a.lang,
            )
        ),
        "deployment": asdict(deployment),
    }
    page = report_from_store(
        Store(resolve(a.results)), resolve(a.out), title=a.title, settings=settings, sweep_dir=a.sweep_dir or None
    ).path
    print(page)
    if a.pdf:
        from harness.report.pdf import write_pdf

        print(write_pdf(page))
