"""The `harness` command: the front door. A subcommand (`harness report|plan|load|...`) runs its module in
harness/app/commands/; anything else is a sweep, run by Hydra (harness.app.sweep) after the checks of
harness.app.compose.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import Any

from harness.app.commands.data import cmd_data
from harness.app.commands.load import cmd_load
from harness.app.commands.misc import cmd_gate, cmd_history, cmd_model
from harness.app.commands.plan import cmd_plan
from harness.app.commands.prepare import cmd_prepare
from harness.app.commands.report import cmd_report
from harness.app.commands.runtime import cmd_runtime
from harness.app.commands.task import cmd_task
from harness.errors import HarnessError
from harness.secrets import redact, redact_logs

SUBCOMMANDS = {
    "report": cmd_report,
    "prepare": cmd_prepare,
    "task": cmd_task,
    "runtime": cmd_runtime,
    "load": cmd_load,
    "gate": cmd_gate,
    "data": cmd_data,
    "plan": cmd_plan,
    "history": cmd_history,
    "model": cmd_model,
}


HYDRA_INFO = ("--cfg", "--help", "-h", "--hydra-help", "--info", "-c")


def _exit_on_sigterm() -> None:
    """SIGTERM (a scheduler's cancel, `kill`) becomes an ordinary exit, so every `finally` and `with` runs: the
    local API server is stopped, locks are released, temp files removed. Python's default dies on the spot."""

    def stop(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends at once
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)


def entry() -> None:
    """The `harness` command: main() on jemalloc when it is installed (harness/memory.py says why)."""
    from harness.memory import restart_with_jemalloc

    restart_with_jemalloc()
    main()


def main() -> None:
    # Weights and data come from local caches only (the preflight checks they are there); an explicit
    # HF_HUB_OFFLINE=0 lets a machine with hub access fill the cache on the way.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s %(levelname)s] %(message)s", datefmt="%H:%M:%S")
    for name in ("httpx", "httpx2"):  # one INFO line per API request otherwise (openai uses httpx2)
        logging.getLogger(name).setLevel(logging.WARNING)
    _exit_on_sigterm()
    redact_logs()
    args = sys.argv[1:]
    try:
        if "--dry-run" in args:  # = harness plan with the same arguments
            args = ["plan", *(a for a in args if a != "--dry-run")]
        if args and args[0] in SUBCOMMANDS:
            SUBCOMMANDS[args[0]](args[1:])
            return
        from harness.app.compose import check_command_line, check_conf_yaml, check_overrides

        check_conf_yaml()
        check_overrides(args)
        if not any(a.startswith(HYDRA_INFO) for a in args):
            # the command line composed once, so a bad key is named before Hydra starts; the sweep then composes
            # and validates each job once before any starts (harness.app.sweep.check_jobs)
            check_command_line(args)
    except HarnessError as e:  # its text may quote a server's answer, and a server may echo the key: redacted
        print(redact(f"harness: error: {e}"), file=sys.stderr)
        sys.exit(2)
    except OSError as e:  # a folder that cannot be read or written, a full disk: the environment, not a bug
        print(redact(f"harness: error: {e.strerror or e}: {e.filename or ''}"), file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\nharness: interrupted.", file=sys.stderr)
        sys.exit(130)
    from harness.app.sweep import hydra_main

    try:
        hydra_main()
    except KeyboardInterrupt:
        print(
            "\nharness: interrupted. Finished cells are stored; run the same command again to go on from there.",
            file=sys.stderr,
        )
        sys.exit(130)
    except SystemExit as e:
        if e.code == 128 + signal.SIGTERM:
            print(
                "\nharness: stopped by SIGTERM. Finished cells are stored; run the same command again to go on "
                "from there.",
                file=sys.stderr,
            )
        raise
