"""User-facing errors: one readable message, printed without a traceback by the CLI."""

from __future__ import annotations

import difflib


class HarnessError(Exception):
    """Bad input or an unmet requirement. The message says what is wrong and what to do."""


class PreflightError(HarnessError):
    """A cell cannot run on this machine; raised before any model is loaded."""


def did_you_mean(name: str, known: list[str], what: str) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown {what} {name!r}.{hint} Known: {', '.join(sorted(known))}."
