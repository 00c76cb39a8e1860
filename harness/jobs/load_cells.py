"""The load stage inside a cells job (`load.with_cells`): once a job's cells are stored, what it evaluated is
measured under load, so that the report prices every self-hosted row it can at a capacity within the latency
target, and shows every row's per-request latency at one user (level 1), local and API alike.

Per job, on its task when that task can be served (a project generation task: multiple-choice tasks are scored
on log-likelihoods, which no deployed model streams):
  tuned   the job's tuned model (its artifact; a LoRA merged into its base), `load.levels`
  all     also its base model, `load.levels`
  and the job's API baseline at one user only (`[1]`: its latency, not its capacity: an API's cost is its
  `usage`), when that is free (a stand-in the job serves itself) or `load.paid` opts in (any other endpoint: a
  provider, or a `baseline.base_url` whose bill is not known here).
Each is `harness load` itself (harness.jobs.load_job.load): levels content-addressed and stored one by one, so the
second job of a sweep that loads the same baseline sends nothing, and a rerun re-sends only missing levels. A
failure is an outcome of the job (shown under "not measured"), never a loss of its stored cells.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from omegaconf import open_dict

from harness.errors import HarnessError

log = logging.getLogger(__name__)


def servable_task(cfg: Any) -> str | None:
    """Why the job's task cannot be load-tested (None: it can)."""
    from harness.jobs.load_job import prompts_for
    from harness.tasks import load_task

    try:
        prompts_for(load_task(cfg.task), 1, cfg.load.seed)
    except HarnessError as e:
        return str(e)
    return None


def endpoints(cfg: Any) -> list[tuple[str, Any]]:
    """(what is measured, its composed config) for this job, in order: base, tuned, baseline."""
    from harness.plan.cells import base_config

    which, out = cfg.load.with_cells, []

    def variant(c: Any, endpoint: str, levels: list[float] | None = None) -> Any:
        c = copy.deepcopy(c)
        with open_dict(c):
            c.load.endpoint = endpoint
            if levels is not None:
                c.load.levels = levels
        return c

    tuned = cfg.model.name != "none" and cfg.finetune.method != "none"
    if cfg.model.name != "none" and (which == "all" or not tuned):
        base = base_config(cfg) if tuned else cfg
        out.append((f"{cfg.model.name} (base)", variant(base, "model")))
    if tuned:
        out.append((f"{cfg.model.name} + {cfg.finetune.method}", variant(cfg, "model")))
    b = cfg.baseline
    # a stand-in this job serves itself costs nothing; any other endpoint (a provider, a URL) only with load.paid
    if b.name and (b.serve is not None or cfg.load.paid):
        out.append((f"{b.name} (one user)", variant(cfg, "baseline", [1.0])))
    return out


def load_cells(cfg: Any) -> list[Any]:
    """Measure the job's endpoints under load; returns the outcomes of those that failed (the sweep lists them)."""
    from harness.jobs.load_job import load
    from harness.store.runs import CellOutcome

    if cfg.load.with_cells == "none":
        return []
    why = servable_task(cfg)
    if why is not None:
        log.info("load: task %s is not load-tested (%s)", cfg.task.name, why.split(":")[0])
        return []
    out = []
    for name, c in endpoints(cfg):
        try:
            log.info("load record of %s: %s", name, load(c))
        except HarnessError as e:  # the job's cells are stored; this measurement is missing, and says why
            log.warning("load of %s x task=%s failed: %s", name, cfg.task.name, e)
            out.append(CellOutcome("", "failed", f"load {name}", cfg.task.name, str(e), step="load"))
    return out
