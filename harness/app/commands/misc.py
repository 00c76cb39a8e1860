"""The subcommands whose work lives in one module of their own: gate, history, model check."""

from __future__ import annotations

import sys

from harness.errors import HarnessError


def cmd_gate(argv: list[str]) -> None:
    from harness.app.gate import main as gate_main  # exit 0 / 1 (regressed) / 2 (bad input)

    gate_main(argv)


def cmd_model(argv: list[str]) -> None:
    if not argv or argv[0] != "check":
        raise HarnessError(
            "usage: harness model check PATH_OR_NAME [--steps ...] (`harness model=NAME` runs a "
            "sweep with a model; `harness model check` checks one before a sweep depends on it)"
        )
    from harness.jobs.modelcheck import main as check_main  # exit 0 / 1 (a step failed) / 2 (cannot check)

    sys.exit(check_main(argv[1:]))


def cmd_history(argv: list[str]) -> None:
    from harness.app.history import main as history_main

    history_main(argv)
