"""The one way a report is made from a result store: `harness report` and the Hydra callback both call
`report_from_store`. It picks the records (all of the store, or the cells of one sweep folder), their
judgements and an earlier export to compare with, builds the board and writes the page and its exports.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.config.schema import ReportConfig
from harness.errors import HarnessError
from harness.paths import resolve

if TYPE_CHECKING:
    from harness.store import Store

log = logging.getLogger(__name__)
OUTCOME_FILE = "cell.json"


@dataclass(frozen=True)
class ReportResult:
    path: Path  # the written index.html
    outcomes: list[dict[str, Any]]  # the sweep folder's cell outcomes; [] for a whole-store report
    records: list[dict[str, Any]]
    failed: list[dict[str, Any]]  # outcomes of cells without a record (failed or not applicable)


def collect_outcomes(folder: Path) -> list[dict[str, Any]]:
    """Every job's outcomes (a job writes a list: a tuned cell's base cell, then the cell), duplicates dropped."""
    files = sorted(folder.glob(f"*/{OUTCOME_FILE}")) or sorted(folder.glob(OUTCOME_FILE))
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for p in files:
        try:
            loaded = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:  # a job killed while writing it (or not a job's file)
            log.warning("skipping %s: %s", p, e)
            continue
        for o in loaded if isinstance(loaded, list) else [loaded]:
            if not isinstance(o, dict) or not {"cell_id", "status", "model", "task"} <= set(o):
                log.warning("skipping an entry of %s that is not a cell outcome", p)
                continue
            if o["cell_id"] and o["cell_id"] in seen:
                continue  # the same base cell, reported by two tuned jobs
            seen.add(o["cell_id"])
            out.append(o)
    return out


def split_outcomes(outcomes: list[dict[str, Any]], store: Store) -> tuple[list[dict], list[dict]]:
    """(records of the stored cells, outcomes of the cells that produced no record)."""
    records = [store.load(o["cell_id"]) for o in outcomes if o["cell_id"] and store.has(o["cell_id"])]
    # An API baseline is shared by every job of its task: failed in one job and computed by another, it is measured.
    measured = {
        (o["model"], o["task"]) for o in outcomes if o["status"] in ("done", "skipped") and o.get("step") == "baseline"
    }
    failed = [
        o
        for o in outcomes
        if o["status"] not in ("done", "skipped")
        and not (o.get("step") == "baseline" and (o["model"], o["task"]) in measured)
    ]
    return records, failed


def report_from_store(
    store: Store,
    out_dir: Path,
    *,
    title: str,
    settings: ReportConfig | Mapping[str, Any],
    sweep_dir: str | Path | None = None,
    empty_ok: bool = False,
) -> ReportResult:
    """Write index.html, leaderboard.csv and leaderboard.json of `store` to `out_dir`.

    `sweep_dir`: only the cells of that Hydra sweep folder (their cell.json outcomes), failed ones included.
    `settings`: the cost assumptions and `compare_to`, an earlier report to compare with. Nothing to report is an
    error (naming --sweep-dir or the store) unless `empty_ok`: the callback of a job that ran nothing still
    writes its (empty) report."""
    from harness.report.analysis import build_board
    from harness.report.diff import load_export
    from harness.report.render import write_board

    if sweep_dir is not None:
        outcomes = collect_outcomes(resolve(sweep_dir))
        records, failed = split_outcomes(outcomes, store)
    else:
        outcomes, records, failed = [], store.all_records(), []
    if not records and not failed and not empty_ok:
        if sweep_dir is not None:
            raise HarnessError(
                f"no cell outcomes (*/cell.json) under --sweep-dir {sweep_dir}, or none stored in "
                f"{store.root}; is it a sweep folder (outputs/<sweep>/<time>) of this store?"
            )
        raise HarnessError(f"no records in {store.root}/records; run a sweep first (e.g. `harness`).")
    judged = store.judgements(r["cell_id"] for r in records)
    compare_to = settings.get("compare_to") if isinstance(settings, Mapping) else settings.compare_to
    earlier = load_export(resolve(compare_to)) if compare_to else None
    from harness.report.analysis import assumptions_of
    from harness.report.trend import run_points

    a = assumptions_of(settings)
    runs = run_points(store, a["deployment"], a["monthly_queries"])  # every recorded run: the history view
    board = build_board(
        records,
        failed,
        samples=store.samples_or_none,
        settings=settings,
        judgements=judged,
        earlier=earlier,
        loads=store.loads(),
        runs=runs,
    )
    return ReportResult(write_board(board, out_dir, title), outcomes, records, failed)
