"""`python -m harness.worker SPEC.json [--error-file PATH]`: run one cell spec in this process and store it.

The entry point of the worker backend (harness/execute/worker.py). It imports only the stage code a cell needs
(spec, execute, evaluate, finetune, models, store): no Hydra, no report, so it can be installed in an environment
with other package versions. A failure is written to --error-file as {"kind", "message"} (kind: preflight,
harness or crash) so the caller raises the same error; the exit status is 2 for the user's problem, 1 for a bug.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any


def _fail(error_file: Path | None, kind: str, message: str, trace: str | None = None) -> None:
    if error_file is not None:
        from harness.store.store import atomic_write_text

        atomic_write_text(
            error_file, json.dumps({"kind": kind, "message": message, "traceback": trace}) + "\n"
        )
    print(f"harness worker: error: {message}", file=sys.stderr)


def check_task(spec: Any) -> None:
    """The task files this environment reads (its harness's tasks/, or lm-eval's own tasks) must be the ones the
    spec was planned with: the cell id hashes them, so a record made from other files would carry a false id."""
    from harness.errors import HarnessError
    from harness.tasks import load_task

    here, planned = load_task(spec.task), spec.task_spec
    if (here.version, here.content_sha256) != (planned.version, planned.content_sha256):
        raise HarnessError(
            f"task {here.name}: this worker's environment has version {here.version} (content "
            f"{here.content_sha256[:12]}), the cell was planned with {planned.version} (content "
            f"{planned.content_sha256[:12]}). Install the same harness (and lm-eval) in both environments."
        )


def run_spec(spec_path: Path) -> str:
    """Execute the spec in this process and store its record; returns the cell id."""
    from harness.cell import read_spec
    from harness.execute import in_process
    from harness.models.preflight import detect_device
    from harness.secrets import register_key_env
    from harness.store import Store

    spec = read_spec(spec_path)
    check_task(spec)
    if spec.kind == "api":
        register_key_env(spec.baseline.api_key_env)
    device = detect_device(spec.eval.device) if spec.kind == "local" else None
    result = in_process(spec).execute(spec, device)
    if result is not None:  # None: a non-zero rank of a multi-process run; rank 0 stores
        Store(Path(spec.results_dir)).write(result.record, result.samples)
    return spec.id


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m harness.worker", description="Run one cell spec and store it."
    )
    p.add_argument("spec", type=Path, help="a cell spec JSON (harness.cell.write_spec)")
    p.add_argument("--error-file", type=Path, default=None, help="where to write the error, if any, as JSON")
    a = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    logging.basicConfig(
        level=logging.INFO, format="[%(asctime)s %(levelname)s] %(message)s", datefmt="%H:%M:%S"
    )
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from harness.errors import HarnessError, PreflightError
    from harness.secrets import redact_logs

    redact_logs()
    try:
        cell_id = run_spec(a.spec)
    except PreflightError as e:
        _fail(a.error_file, "preflight", str(e))
        return 2
    except HarnessError as e:
        _fail(a.error_file, "harness", str(e))
        return 2
    except Exception as e:  # noqa: BLE001 - the caller shows it as the cell's error, with this traceback
        _fail(a.error_file, "crash", f"{type(e).__name__}: {e}", traceback.format_exc())
        traceback.print_exc()
        return 1
    logging.getLogger("harness.worker").info("cell %s stored", cell_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
