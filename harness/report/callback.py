"""Hydra callback: at the end of a run or sweep, summarise the cells and write the sweep's report.

It reads the `cell.json` each job leaves in its output folder (harness.report.from_store), so it works the same
with any launcher (basic, joblib, submitit): jobs in other processes or machines report through files, not memory.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from harness.paths import resolve


def report_name(config: DictConfig) -> str:
    """reports/<sweep.name>, or reports/<sweep.name>__<overrides> when the command line changed what runs,
    so `harness model=x` never overwrites the default job's report with a different set of cells."""
    ignored = ("paths.", "hydra.", "sweep")  # where results go, and the preset that already names the report
    changed = [o for o in config.hydra.overrides.task if not o.split("=")[0].lstrip("+~").startswith(ignored)]
    if not changed:
        return config.sweep.name
    full = f"{config.sweep.name}__{'__'.join(changed)}"
    name = re.sub(r"[^\w.=,+-]", "_", full)
    if (
        name != full or len(name) > 150
    ):  # shortened or rewritten: two different sweeps must not share a folder
        name = f"{name[:133]}__{hashlib.sha256(full.encode()).hexdigest()[:12]}"
    return name


def finish(config: DictConfig, folder: Path) -> None:
    from harness.dist import is_main

    if not is_main():  # under `accelerate launch` every rank runs the job; rank 0 reports it
        return
    from omegaconf import OmegaConf

    from harness.report.from_store import report_from_store
    from harness.store import Store

    store = Store(resolve(config.paths.results))
    out_dir = resolve(config.paths.reports) / report_name(config)
    settings = {**OmegaConf.to_container(config.report, resolve=True),
                "deployment": OmegaConf.to_container(config.deployment, resolve=True)}  # fmt: skip
    done = report_from_store(store, out_dir, title=f"Leaderboard: {config.sweep.name}", settings=settings,
                             sweep_dir=folder, empty_ok=True)  # fmt: skip
    outcomes, failed, path = done.outcomes, done.failed, done.path
    counts = {s: sum(o["status"] == s for o in outcomes) for s in ("done", "skipped")}
    broken = [o for o in failed if o["status"] != "not_applicable"]
    print(
        f"\n{counts['done']} cell(s) computed, {counts['skipped']} already stored, {len(broken)} not measured"
        f", {len(failed) - len(broken)} not applicable."
    )
    for o in outcomes:
        if o["status"] == "done" and o.get(
            "message"
        ):  # an API cell with failed requests: run again to finish
            print(f"\nINCOMPLETE: {o['model']} x {o['task']}: {o['message']}; run again to resend only those")
    for o in broken:
        print(f"\nNOT MEASURED: {o['model']} x {o['task']} ({o['status']})\n{o['message']}")
    print(f"\nreport: {path}")
    if broken:
        raise SystemExit(2)


def finish_or_exit(config: DictConfig, folder: Path) -> None:
    """Hydra turns an exception in a callback into a warning and exit code 0; a report that could not be written
    must not look like success. The cells are stored either way."""
    from harness.errors import HarnessError

    try:
        finish(config, folder)
    except HarnessError as e:
        print(f"\nreport not written: {e}\nThe cells are stored; fix that and run `harness report`.")
        raise SystemExit(2) from None
    except Exception:  # noqa: BLE001 - a bug in the report: say where the details are, keep the exit code honest
        import traceback

        trace = folder / "report_error.txt"
        trace.write_text(traceback.format_exc(), encoding="utf-8")
        print(f"\nreport not written: an internal error (traceback in {trace}). The cells are stored.")
        raise SystemExit(3) from None


class ReportCallback(Callback):
    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        finish_or_exit(config, Path(config.hydra.runtime.output_dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        finish_or_exit(config, Path(config.hydra.sweep.dir))
