"""Money caps on API requests: `budget.max_usd` (every API request of one run) and `baseline.budget_usd` (one
baseline's requests in one run).

The client reserves each request's worst-case cost before sending it (its prompt tokens at the input price plus
`max_tokens` at the output price) and sends it only while what the capped scope has paid in this run, plus what
is reserved in flight, plus this request stays within the cap; the answer's metered cost then replaces the
reservation. The paid part is the response cache's `ledger` (rows tagged with the run id and the baseline), the
reserved part its `reservations` table, both checked and written in one SQLite transaction: parallel jobs of one
run, in other processes, share the cap. Cache hits cost nothing and are never refused.

Refused once, the cell stops sending (requests in flight finish and are kept), stores no record and is reported
as `stopped_by_budget`; a re-run with a higher cap sends only the missing requests.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError

STOPPED = "stopped_by_budget"  # the cell outcome's status
MESSAGE_START = "stopped by the budget"  # how a stop reads, also after a worker process passed it on as text
DEFAULT_MAX_TOKENS = 4096  # the output allowance reserved for a request that sets no max_tokens


@dataclass(frozen=True)
class Cap:
    key: str  # the config key that set it: budget.max_usd | baseline.budget_usd
    usd: float
    baseline: str | None  # None: every API request of the run; else only this baseline's


@dataclass(frozen=True)
class Budget:
    """Who pays (the run, and the baseline the requests are for) and the caps that apply."""

    run_id: str
    baseline: str | None
    caps: tuple[Cap, ...] = ()


_PROCESS_RUN: list[str] = []


def run_scope_id() -> str:
    """The run this process belongs to (HARNESS_RUN_ID), or outside a run this process alone: an id of its own."""
    from harness.store.runs import current_run_id, new_run_id

    run = current_run_id()
    if run:
        return run
    if not _PROCESS_RUN:
        _PROCESS_RUN.append(f"process-{os.getpid()}-{new_run_id()}")
    return _PROCESS_RUN[0]


def check_cap(value: Any, key: str) -> float | None:
    """A cap is null (no cap) or a finite number above 0; anything else is refused, naming its key."""
    if value is None:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0
    if not ok:
        raise HarnessError(f"{key}={value}: must be greater than 0 (or null: no cap)")
    return float(value)


def budget_for(config: Any, endpoint: Any, budget_key: str = "baseline.budget_usd") -> Budget:
    """The budget of one endpoint's requests: `config` is the job's config (a DictConfig or a plain dict, e.g.
    a cell's config snapshot; without a `budget` section, no run cap), `endpoint` its BaselineConfig (the
    baseline, or the judge's endpoint: then `budget_key` is judge.endpoint.budget_usd)."""
    section = (config.get("budget") if config is not None else None) or {}
    caps = []
    run_cap = check_cap(section.get("max_usd"), "budget.max_usd")
    if run_cap is not None:
        caps.append(Cap("budget.max_usd", run_cap, None))
    own = check_cap(getattr(endpoint, "budget_usd", None), budget_key)
    if own is not None:
        caps.append(Cap(budget_key, own, str(endpoint.name)))
    return Budget(run_scope_id(), str(endpoint.name) if endpoint.name else None, tuple(caps))


def worst_case(prompt_tokens: int, max_tokens: int, price: dict[str, Any]) -> float:
    """The most a request can cost: every prompt token at the input price (or the cached one if that were
    higher), and max_tokens of output."""
    per_prompt = max(price["input_per_1m"], price.get("cached_input_per_1m") or 0.0)
    return (prompt_tokens * per_prompt + max_tokens * price["output_per_1m"]) / 1e6


class BudgetStop(HarnessError):
    """A cap refused a request: the cell stopped sending; what was answered is kept in the response cache."""

    def __init__(self, cap: Cap, answered: int, total: int, paid: float):
        self.cap, self.answered, self.total, self.paid = cap, answered, total, paid
        whose = "" if cap.baseline is None else f" for baseline {cap.baseline}"
        missing = total - answered
        super().__init__(
            f"{MESSAGE_START} ({cap.key} = {cap.usd:.4f} USD): {answered} of {total} requests answered and kept, "
            f"{paid:.4f} USD paid in this run{whose}; raise the cap and run again: only the {missing} missing "
            f"{'answer is' if missing == 1 else 'answers are'} sent (the kept ones come from the response cache, "
            "free)."
        )


def is_budget_stop(e: BaseException) -> bool:
    """A BudgetStop, or one passed on as text by a worker process (which keeps the message, not the type)."""
    return isinstance(e, BudgetStop) or (isinstance(e, HarnessError) and str(e).startswith(MESSAGE_START))


_ACTIVE: ContextVar[Budget | None] = ContextVar("harness_api_budget", default=None)


@contextmanager
def active(budget: Budget | None) -> Iterator[None]:
    """The budget the API backend constructed inside this block uses (lm-eval builds it from string arguments,
    which cannot carry one)."""
    token = _ACTIVE.set(budget)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


def current() -> Budget | None:
    return _ACTIVE.get()
