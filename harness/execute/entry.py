"""`python -m harness.execute.entry SPEC.json [--error-file PATH] [--preflight]`: run one cell spec here and store it.
`python -m harness.execute.entry --serve --reply-fd N`: the same for each request read from stdin (one process for
a run's cells; see `serve`).

`--preflight` only checks, in this environment, that the cell can run (model, transformers, modules, device,
price profile); the worker backend calls it for every cell before the first one runs. The task files are read
here (this environment's harness tasks/ or lm-eval's), and refused if they differ from those the cell id hashed.

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

        atomic_write_text(error_file, json.dumps({"kind": kind, "message": message, "traceback": trace}) + "\n")
    print(f"harness worker: error: {message}", file=sys.stderr)


# What a cell needs in the worker's environment (checked without importing them: torch alone takes seconds).
NEEDED = ("lm_eval", "transformers", "torch", "peft", "accelerate", "omegaconf", "yaml", "openai")


def probe() -> dict[str, Any]:
    """What the parent checks before sending cells here: the formats this worker reads, and missing packages."""
    import importlib.util

    import harness
    import harness.execute.api  # noqa: F401 - the stage code imports, or the probe fails here
    import harness.execute.local  # noqa: F401
    from harness.spec.cell import SPEC_VERSION
    from harness.store.record import SCHEMA_VERSION, current_runtime, package_versions

    return {
        "spec_version": SPEC_VERSION,
        "schema_version": SCHEMA_VERSION,
        "python": sys.version.split()[0],
        "harness": harness.__version__,
        "packages": package_versions(),
        "runtime": current_runtime(),
        "missing": [m for m in NEEDED if importlib.util.find_spec(m) is None],
    }


def _same_task(here: Any, planned: Any, role: str) -> None:
    from harness.errors import HarnessError

    if (here.version, here.content_sha256) != (planned.version, planned.content_sha256):
        raise HarnessError(
            f"{role} {here.name}: this worker's environment has version {here.version} (content "
            f"{here.content_sha256[:12]}), the cell was planned with {planned.version} (content "
            f"{planned.content_sha256[:12]}). Install the same harness (and lm-eval) in both environments."
        )


def localize(spec: Any) -> Any:
    """The spec with its task files as this environment reads them (its harness's tasks/, or lm-eval's own), so
    paths are this machine's; refused when their content differs from what the cell id hashed."""
    import dataclasses

    from harness.tasks import load_task

    here = load_task(spec.task)
    _same_task(here, spec.task_spec, "task")
    changes: dict[str, Any] = {"task_spec": here}
    train = getattr(spec, "train", None)
    if train is not None:
        from harness.data.sets import datasets_root
        from harness.spec.finetune import make_train_spec

        local = make_train_spec(
            train.model,
            train.model_identity,
            train.finetune,
            spec.task,
            train.chat_template,
            datasets_root(Path(spec.results_dir)),
        )
        assert local is not None  # the same finetune config as the planned one, which trains
        _same_task(local.train_task, train.train_task, "training task")
        if train.replay_task is not None and local.replay_task is not None:
            _same_task(local.replay_task, train.replay_task, "replay task")
        changes["train"] = local
    return dataclasses.replace(spec, **changes)


def check_spec(spec: Any) -> None:
    """A local cell's preflight in this environment: the model fits its device and method (this transformers,
    these modules), and the hardware price profile fits the device."""
    if spec.kind != "local":
        return
    from harness.execute.local import hardware_section
    from harness.models.preflight import detect_device, preflight

    device = detect_device(spec.eval.device)
    preflight(spec.model, spec.finetune, device, task=spec.task, cache=Path(spec.cache_dir))
    hardware_section(spec, device)


def run_spec(spec_path: Path, check_only: bool = False) -> str:
    """Execute the spec in this process and store its record (the caller has run `--preflight` on it first);
    with `check_only`, only that preflight. Returns the cell id."""
    from harness.execute import in_process
    from harness.models.preflight import detect_device
    from harness.secrets import register_key_env
    from harness.spec.cell import read_spec
    from harness.store import Store

    spec = localize(read_spec(spec_path))
    if check_only:
        check_spec(spec)
        return spec.id
    if spec.kind == "api":
        register_key_env(spec.baseline.api_key_env)
    device = detect_device(spec.eval.device) if spec.kind == "local" else None
    result = in_process(spec).execute(spec, device)
    if result is not None:  # None: a non-zero rank of a multi-process run; rank 0 stores
        Store(Path(spec.results_dir)).write(result.record, result.samples)
    return spec.id


def handle(spec_path: Path, error_file: Path | None, check_only: bool) -> int:
    """One request: run (or only check) the spec; 0 done, 2 the user's problem, 1 a bug (see module doc)."""
    from harness.errors import HarnessError, PreflightError

    try:
        cell_id = run_spec(spec_path, check_only=check_only)
    except PreflightError as e:
        _fail(error_file, "preflight", str(e))
        return 2
    except HarnessError as e:
        _fail(error_file, "harness", str(e))
        return 2
    except Exception as e:  # noqa: BLE001 - the caller shows it as the cell's error, with this traceback
        _fail(error_file, "crash", f"{type(e).__name__}: {e}", traceback.format_exc())
        traceback.print_exc()
        return 1
    logging.getLogger("harness.execute.entry").info("cell %s %s", cell_id, "can run here" if check_only else "stored")
    return 0


def serve(reply_fd: int) -> int:
    """`--serve`: one request per line on stdin, {"spec", "error_file", "preflight"}, one reply per request on
    the file descriptor `reply_fd`, {"rc": ...}; ends at the end of stdin. The parent keeps one such worker per
    interpreter for a run: its imports (torch, transformers, lm-eval: seconds) are paid once for all the run's
    checks and cells, not twice per cell. Replies do not share stdout with the cell's own output."""
    import gc

    # Requests come on our own copy of stdin; fd 0 becomes /dev/null, so nothing a cell runs (a library asking
    # "run this remote code? [y/N]" with input()) can read a request as its answer.
    requests = os.fdopen(os.dup(0), encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdin = open(os.devnull, encoding="utf-8")  # noqa: SIM115 - for this process's lifetime
    with os.fdopen(reply_fd, "w", encoding="utf-8") as reply, requests:
        for line in requests:
            if not line.strip():
                continue
            req = json.loads(line)
            rc = handle(Path(req["spec"]), Path(req["error_file"]), bool(req["preflight"]))
            gc.collect()  # the last cell's model, before the next one loads its own
            reply.write(json.dumps({"rc": rc}) + "\n")
            reply.flush()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.execute.entry", description="Run one cell spec and store it.")
    p.add_argument("spec", type=Path, nargs="?", help="a cell spec JSON (harness.spec.cell.write_spec)")
    p.add_argument("--error-file", type=Path, default=None, help="where to write the error, if any, as JSON")
    p.add_argument("--preflight", action="store_true", help="only check the cell can run here; run nothing")
    p.add_argument("--serve", action="store_true", help="take requests on stdin (see `serve`) instead of SPEC")
    p.add_argument("--reply-fd", type=int, default=None, help="with --serve: where replies are written")
    a = p.parse_args(argv)
    if (a.spec is None) != a.serve or (a.serve and a.reply_fd is None):
        p.error("give a SPEC, or --serve with --reply-fd")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(levelname)s] %(message)s", datefmt="%H:%M:%S")
    for name in ("httpx", "httpx2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    from harness.secrets import redact_logs

    redact_logs()
    if a.serve:
        return serve(a.reply_fd)
    return handle(a.spec, a.error_file, a.preflight)


if __name__ == "__main__":
    sys.exit(main())
