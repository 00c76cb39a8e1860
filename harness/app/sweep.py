"""The Hydra job function: one job of a sweep runs its cells, its baseline, its judge and its load stage; each
step's failure becomes an outcome, so the other steps and the sweep go on. Before any of it, check_jobs (called
when the sweep starts) composes and validates every job once; the harness launcher then runs those configs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from harness.app.register import register_configs
from harness.errors import HarnessError, PreflightError
from harness.paths import CONF_DIR
from harness.paths import resolve as resolve_path
from harness.secrets import redact_logs, register_key_env

log = logging.getLogger("harness")
register_configs()
# the jobs check_jobs composed and validated in this process (hydra.job.num): the job function does not again
CHECKED_JOBS: set[int] = set()


def guarded(step: Any, cfg: DictConfig, name: str, kind: str = "cell") -> list[dict[str, Any]]:
    """Run one step of a job; a failure becomes an outcome, so the job's other step and the sweep go on."""
    from harness.store.runs import CellOutcome

    try:
        return [o.as_dict() for o in step(cfg)]
    except HarnessError as e:
        status = "preflight_failed" if isinstance(e, PreflightError) else "failed"
        # The full message is printed once, in the sweep summary; the job log keeps it too.
        log.warning("%s x task=%s: %s (details below)", name, cfg.task.name, status)
        log.debug("%s", e)
        return [CellOutcome("", status, name, cfg.task.name, str(e), step=kind).as_dict()]
    except Exception as e:  # noqa: BLE001 - one broken cell must not lose the sweep's finished cells
        out = HydraConfig.get().runtime.output_dir
        log.error("cell crashed:\n%s", traceback.format_exc())
        from harness.execute.worker import WorkerCrash

        # a worker's crash names its own traceback file; it was not this process's
        msg = str(e) if isinstance(e, WorkerCrash) else f"{type(e).__name__}: {e} (traceback in {out})"
        return [CellOutcome("", "error", name, cfg.task.name, msg, step=kind).as_dict()]


def judge_outcomes(cfg: DictConfig, outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Judge every stored cell of this job (idempotent); a judge that cannot run is reported, cells stay."""
    from harness.jobs.judge import judge_cell
    from harness.store.runs import CellOutcome

    out = []
    for o in outcomes:
        if o["status"] not in ("done", "skipped") or not o["cell_id"]:
            continue
        try:
            judge_cell(cfg, o["cell_id"])
        except Exception as e:  # noqa: BLE001 - a judge failure must not lose the job's stored cells
            from harness.api.budget import is_budget_stop

            status = (
                "stopped_by_budget"
                if is_budget_stop(e)
                else "preflight_failed"
                if isinstance(e, PreflightError)
                else "failed"
            )
            if not isinstance(e, HarnessError):
                log.error("judge crashed:\n%s", traceback.format_exc())
            out.append(CellOutcome("", status, f"judge {cfg.judge.name} of {o['model']}", o["task"], str(e)).as_dict())
    return out


@hydra.main(config_path=str(CONF_DIR), config_name="config", version_base="1.3")
def hydra_main(cfg: DictConfig) -> None:
    from harness.app.validate import validate
    from harness.jobs.run_cell import run_baseline, run_cell

    redact_logs()  # Hydra has just set up this job's log handlers
    for name in ("httpx", "httpx2"):  # ... and reset levels: one INFO line per API request otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    register_key_env(cfg.baseline.api_key_env)
    register_key_env(cfg.judge.endpoint.api_key_env)
    register_key_env(cfg.load.api_key_env)
    from omegaconf import OmegaConf

    from harness.app import compose

    num = OmegaConf.select(HydraConfig.get(), "job.num", default=None)  # unset in a single run (hydra.mode=RUN)
    try:
        if not (num in CHECKED_JOBS or num is None and compose.RUN_CHECKED):  # e.g. a job Slurm started elsewhere
            validate(cfg)
    except HarnessError as e:
        print(f"harness: error: {e}", file=sys.stderr)
        sys.exit(2)
    outcomes: list[dict[str, Any]] = []
    if cfg.sweep.stage == "load":  # sweep=load: each job measures its endpoint under load (harness/load/)
        from harness.jobs.load_job import load

        def measure(c: DictConfig) -> list[Any]:
            log.info("load record: %s", load(c))
            return []  # a load record, not a cell: the sweep's report reads it from the store

        outcomes = guarded(measure, cfg, cfg.baseline.name or cfg.model.name, "load")
    elif cfg.model.name != "none":
        outcomes += guarded(run_cell, cfg, cfg.model.name)
    if cfg.baseline.name and cfg.sweep.stage != "load":
        outcomes += guarded(run_baseline, cfg, cfg.baseline.name, "baseline")
    if cfg.judge.name and cfg.sweep.stage != "load":
        outcomes = [*outcomes, *judge_outcomes(cfg, outcomes)]
    if cfg.load.with_cells != "none" and cfg.sweep.stage != "load":
        from harness.jobs.load_cells import load_cells  # what the job evaluated, served under load

        outcomes += guarded(load_cells, cfg, cfg.model.name, "load")
    if not outcomes:
        log.warning("model=none and baseline=none: this job has nothing to run")
    job = scheduler_job_id()
    outcomes = [{**o, "job": job} if job else o for o in outcomes]
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    from harness.store.store import atomic_write_text

    atomic_write_text(out_dir / "cell.json", json.dumps(outcomes, indent=2))  # the sweep's report reads it


def scheduler_job_id() -> str:
    """The Slurm job this process runs in (an array's task as ARRAY_TASK, as squeue and sacct name it), or ""."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    return f"{array}_{task}" if array and task else os.environ.get("SLURM_JOB_ID", "")


# the jobs check_jobs composed and validated, by their overrides: the launcher of this process runs these configs
COMPOSED: dict[tuple[str, ...], DictConfig] = {}
# the sweepers whose jobs check_jobs can list (it expands sweeps as Hydra's basic sweeper does)
LISTED_SWEEPERS = (
    "hydra_plugins.harness_launcher.HarnessSweeper",
    "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
)


def sweep_jobs(config: DictConfig) -> list[list[str]] | None:
    """The override list of each job of a multirun, as its sweeper expands the command line's overrides and the
    preset's hydra.sweeper.params (None: a sweeper whose jobs cannot be listed before it runs)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    if config.hydra.sweeper.get("_target_") not in LISTED_SWEEPERS:
        return None
    params = [f"{k}={v}" for k, v in (config.hydra.sweeper.get("params") or {}).items()]
    task = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    from hydra.core.global_hydra import GlobalHydra

    # as BasicSweeper.sweep parses them (with the config loader: a glob() sweep lists config options)
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    parsed = parser.parse_overrides([*params, *task])
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


def _job_config(master: DictConfig, overrides: list[str]) -> DictConfig:
    """A job's config as the launcher runs it: composed by Hydra's config loader from the sweep's config."""
    from hydra.core.global_hydra import GlobalHydra

    return GlobalHydra.instance().config_loader().load_sweep_config(master, list(overrides))


def _task_part(cfg: DictConfig) -> DictConfig:
    """What the job function sees (hydra.core.utils.run_job removes Hydra's own node too)."""
    from omegaconf import open_dict

    job = cfg.copy()
    with open_dict(job):
        del job["hydra"]
    return job


def check_jobs(config: DictConfig) -> None:
    """Before a sweep writes anything (its manifest, Hydra's multirun.yaml) or starts a job: compose every job
    once and validate it once. A bad job stops the sweep with one message and exit 2. The launcher of this
    process then runs these very configs (COMPOSED); a launcher elsewhere (Slurm) composes and checks each
    job again on its node."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from harness.app.compose import hydra_message
    from harness.app.validate import validate

    COMPOSED.clear()
    CHECKED_JOBS.clear()
    try:
        launcher = config.hydra.get("launcher") or {}
        if str(launcher.get("_target_", "")).endswith("HarnessSlurmLauncher"):
            from harness.app.slurm import check_cluster

            check_cluster(launcher.get("partition"))  # sbatch and the partition, before anything is submitted
        jobs = sweep_jobs(config)
        if jobs is None:
            return  # each job checks itself when it starts
        # resolve the sweep's folder (its ${now:...}) in the sweep's config first: each job's config copies that
        # config's resolved values when it is composed, and must name the folder the sweep's report reads
        str(config.hydra.sweep.dir)
        for overrides in jobs:
            cfg = _job_config(config, overrides)
            validate(_task_part(cfg))
            COMPOSED[tuple(overrides)] = cfg
    except (HydraException, OmegaConfBaseException) as e:  # a value of one sweep's job that does not compose
        _stop(f"invalid configuration (nothing was run): {hydra_message(e)}")
    except HarnessError as e:
        _stop(str(e))
    except Exception as e:  # noqa: BLE001 - Hydra would log a callback's error as a warning and run the sweep on
        log.error("checking the sweep's jobs crashed:\n%s", traceback.format_exc())
        _stop(f"checking the sweep's jobs failed ({type(e).__name__}: {e}); nothing was run.")


def _stop(message: str) -> None:
    from harness.secrets import redact

    print(redact(f"harness: error: {message}"), file=sys.stderr)
    sys.exit(2)


def _prepare_first(configs: list[DictConfig]) -> None:
    """The embedded models of the batch, prepared before its first job: preparing Gemma-3 (GGUF to an HF folder)
    needs 2.6 GB, and done later in this process it came on top of what the jobs before it hold (3.0 GiB in the
    default job, its peak; issue 34). A model that cannot be prepared is left to its job's preflight to report."""
    from omegaconf import OmegaConf

    from harness.memory import release
    from harness.models.embedded import prepare

    seen: set[str] = set()
    for cfg in configs:
        if cfg.model.source != "embedded" or cfg.model.name in seen:
            continue
        seen.add(cfg.model.name)
        try:
            prepare(OmegaConf.to_object(cfg.model), resolve_path(str(cfg.paths.cache)))
        except HarnessError:
            pass
    release()


def launch_local(launcher: Any, job_overrides: Any, initial_job_idx: int) -> list[Any]:
    """The harness launcher's run of a batch in this process: Hydra's basic launcher, with the configs
    check_jobs composed and validated (a job it did not list is composed here and checks itself when it
    starts)."""
    from hydra.core.utils import configure_log, filter_overrides, run_job, setup_globals
    from omegaconf import open_dict

    setup_globals()
    configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    Path(str(launcher.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
    _prepare_first([COMPOSED[tuple(o)] for o in job_overrides if tuple(o) in COMPOSED])
    log.info("Launching %d jobs locally", len(job_overrides))
    runs = []
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
        cfg = COMPOSED.pop(tuple(overrides), None)
        if cfg is not None:
            CHECKED_JOBS.add(idx)
        else:
            cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.id = idx
            cfg.hydra.job.num = idx
        runs.append(
            run_job(
                hydra_context=launcher.hydra_context,
                task_function=launcher.task_function,
                config=cfg,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )
        )
        configure_log(launcher.config.hydra.hydra_logging, launcher.config.hydra.verbose)
    return runs
