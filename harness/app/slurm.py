"""The harness's Slurm launcher (conf/hydra/launcher/slurm-gpu.yaml): hydra-submitit-launcher's, with three
things a scheduled sweep needs (docs/guide-cluster.md).

1. Before any job is submitted: `sbatch` must be on PATH and the partition must exist, or the sweep stops with one
   message naming the key to change. Without this, submitit's error comes from deep inside the first submission.
2. Job states without `sacct`. submitit asks `sacct` whether a job ended; a cluster without slurmdbd (a small
   one, a laptop's) answers with an error, submitit treats that as "unknown" = not finished, and a job that died
   without writing its result (killed, out of memory, node lost) keeps the sweep waiting for ever. The state
   command here asks `sacct` first and falls back to `scontrol show job` (which knows every job for MinJobAge
   seconds after it ends); a job neither knows is gone, and a gone job without a result is over.
3. A job that ends without a result does not stop the sweep: its cells are reported failed (in the run's
   manifest, `harness history`, the report's "not measured" list) with the Slurm job id, its state and its log,
   and the other jobs' cells are reported as usual. A rerun of the sweep computes only what is missing.

    python -m harness.app.slurm state JOBID...     # what the launcher's watcher runs: sacct's format, any cluster
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

log = logging.getLogger(__name__)

GONE = "GONE"  # neither sacct nor scontrol knows the job: it ended long enough ago to be forgotten
# the states that end a job; scontrol knows more states than sacct prints (CONFIGURING, SIGNALING, STOPPED,
# REQUEUE_HOLD, ...), and submitit would take any state it does not list as unfinished for the end
OVER = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE"}
HELD = {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SPECIAL_EXIT", "PREEMPTED"}


# -- 1. the cluster, before anything is submitted -----------------------------------------------------------------


def check_cluster(partition: str | None) -> None:
    missing = [c for c in ("sbatch", "sinfo", "scontrol") if shutil.which(c) is None]
    if missing:
        raise HarnessError(
            f"hydra/launcher=slurm-gpu: `{'`, `'.join(missing)}` not on PATH, so this machine cannot submit or follow "
            "Slurm jobs. Run the "
            "sweep on the cluster's login node (with the harness installed there), or choose another launcher "
            "(hydra/launcher=joblib). For a one-machine cluster to try the preset: scripts/slurm-local.sh start."
        )
    if not partition:
        return  # the cluster's default partition
    p = subprocess.run(["sinfo", "-h", "-a", "-o", "%P"], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise HarnessError(f"hydra/launcher=slurm-gpu: `sinfo` failed, so Slurm is not reachable: {p.stderr.strip()}")
    names = [n.strip().rstrip("*") for n in p.stdout.split()]
    unknown = [q for q in str(partition).split(",") if q.strip() not in names]  # sbatch takes a list too
    if unknown:
        raise HarnessError(
            f"hydra/launcher=slurm-gpu: partition {', '.join(map(repr, unknown))} does not exist on this cluster (it has: "
            f"{', '.join(names) or 'none'}). Set hydra.launcher.partition=NAME or HARNESS_SLURM_PARTITION; "
            "nothing was submitted."
        )


# -- 2. job states, with or without sacct -------------------------------------------------------------------------


def _scontrol(job: str) -> list[dict[str, str]] | None:
    """Every task of a job (an array: one line per task) as scontrol shows it; None when it does not know it."""
    p = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        if "Invalid job id" in p.stderr:
            return None
        raise RuntimeError(p.stderr.strip() or f"scontrol exited {p.returncode}")
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in p.stdout.splitlines() if line.strip()]


def states(jobs: list[str]) -> list[tuple[str, str, str]]:
    """(job id as submitit names it, state, node) for each task of `jobs` (array ids or plain job ids)."""
    p = subprocess.run(
        ["sacct", "-o", "JobID,State,NodeList", "--parsable2", "-n", *(f"-j{j}" for j in jobs)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if p.returncode == 0 and p.stdout.strip():
        return [tuple((line.split("|") + ["", ""])[:3]) for line in p.stdout.splitlines() if line]  # type: ignore[misc]
    out = []
    for job in jobs:  # no accounting (no slurmdbd), or it does not know these jobs yet
        tasks = _scontrol(job)
        if tasks is None:
            out.append((job, GONE, ""))
            continue
        for t in tasks:
            array, task = t.get("ArrayJobId"), t.get("ArrayTaskId")
            # a pending array is one line with a range of tasks ("0-2", "1,3%8"): submitit then knows none of them yet
            name = f"{array}_{task}" if array and task and task.isdigit() else t.get("JobId", job)
            out.append((name, _as_sacct(t.get("JobState", "UNKNOWN")), t.get("NodeList", "")))
    return out


def _as_sacct(state: str) -> str:
    """scontrol's state in the words submitit reads: an end as it is, anything else pending or running."""
    return state if state in OVER else "PENDING" if state in HELD else "RUNNING"


def _print_states(jobs: list[str]) -> int:
    print("JobID|State|NodeList")
    for row in states(jobs):
        print("|".join(row))
    return 0


def watcher() -> Any:
    """submitit's Slurm watcher, reading states through `python -m harness.app.slurm state` (above)."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    class Watcher(SlurmInfoWatcher):
        misses: dict[str, int]  # polls in a row in which the controller did not know a job it knew before
        known: set[str]

        def _make_command(self) -> list[str] | None:
            command = super()._make_command()
            if command is None:
                return None
            jobs = [command[i + 1] for i, c in enumerate(command) if c == "-j"]
            return [sys.executable, "-m", "harness.app.slurm", "state", *jobs]

        def read_info(self, string: bytes | str) -> dict[str, dict[str, str]]:
            info = super().read_info(string)
            for job_id, stats in info.items():
                array = job_id.split("_")[0]
                if stats.get("State") == GONE:
                    self.misses[array] = self.misses.get(array, 0) + 1
                else:
                    self.known.add(array)
                    self.misses[array] = 0
            return info

        def get_state(self, job_id: str, mode: str = "standard") -> str:
            state = super().get_state(job_id, mode)
            array = job_id.split("_")[0]
            # Over once the controller, which knew the job, has not known it twice in a row: whatever state was
            # last seen for it (the state command may have failed for a while). A job it never knew (another
            # cluster's) keeps waiting, as submitit does.
            if state not in OVER and array in self.known and self.misses.get(array, 0) >= 2:
                return GONE
            return state

    w = Watcher(delay_s=30)  # states at most every 30 s (sooner while the jobs are young)
    w.misses, w.known = {}, set()
    return w


# -- 3. launching, and collecting every job's end ------------------------------------------------------------------


def launch(launcher: Any, job_overrides: Any, initial_job_idx: int) -> list[Any]:
    """hydra-submitit-launcher's launch (the same executor, parameters and array), then each job's end."""
    import submitit
    from hydra.core.singleton import Singleton
    from hydra.core.utils import filter_overrides
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    params = dict(launcher.params)
    check_cluster(params.get("partition"))
    executor = submitit.AutoExecutor(
        cluster="slurm", folder=params.pop("submitit_folder"), slurm_max_num_timeout=params.pop("max_num_timeout")
    )
    queue_keys = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{k if k in queue_keys else f"slurm_{k}": v for k, v in params.items()})
    sweep_dir = Path(str(launcher.config.hydra.sweep.dir))
    sweep_dir.mkdir(parents=True, exist_ok=True)
    if "mode" in launcher.config.hydra.sweep:
        os.chmod(sweep_dir, int(str(launcher.config.hydra.sweep.mode), 8))
    started = time.time()
    args = []
    for i, overrides in enumerate(job_overrides):
        idx = initial_job_idx + i
        log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))
        args.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}", Singleton.get_state()))
    jobs = executor.map_array(launcher, *zip(*args, strict=True))
    shared = watcher()
    for job in jobs:
        for j in [job, *getattr(job, "_sub_jobs", [])]:  # a job of several tasks asks its tasks
            j.watcher = shared  # this launch's jobs only: submitit's class-wide watcher stays as it is
    log.info("submitted Slurm job(s) %s", ", ".join(j.job_id for j in jobs))
    return [_end(launcher, job, a[0], a[2], started) for job, a in zip(jobs, args, strict=True)]


def _end(launcher: Any, job: Any, overrides: list[str], idx: int, started: float) -> Any:
    from hydra.core.utils import JobReturn, JobStatus
    from submitit.core.utils import UncompletedJobError

    try:
        return job.results()[0]
    except UncompletedJobError as e:  # FailedJobError too: the job's Python raised, or it died without a result
        state = job.watcher.get_state(job.job_id, mode="force")
        why = str(e).strip().splitlines()[0][:300]
        _report_lost(launcher, overrides, idx, job, state, why, started)
        return JobReturn(overrides=overrides, status=JobStatus.COMPLETED)  # the sweep goes on to its report


def _report_lost(launcher: Any, overrides: list[str], idx: int, job: Any, state: str, why: str, started: float) -> None:
    """The cells of a job that left no outcome: one failed entry in its folder's cell.json, which the sweep's
    report and manifest read like any job's (harness.report.from_store.collect_outcomes)."""
    from omegaconf import OmegaConf, open_dict

    from harness.report.from_store import OUTCOME_FILE
    from harness.store.store import atomic_write_text

    cfg = launcher.hydra_context.config_loader.load_sweep_config(launcher.config, overrides)
    with open_dict(cfg):
        cfg.hydra.job.num = idx
    folder = Path(str(cfg.hydra.sweep.dir)) / str(OmegaConf.select(cfg, "hydra.sweep.subdir"))
    if (folder / OUTCOME_FILE).is_file() and (folder / OUTCOME_FILE).stat().st_mtime >= started:
        return  # the job reported its cells before it ended badly (not an earlier run's file in a reused folder)
    logs = Path(str(job.paths.stderr)).parent
    message = (
        f"Slurm job {job.job_id} ended without a result (state {state}): {why}. Its logs: {logs}. "
        "Run the same sweep again: stored cells are reused and only this job's cells are computed."
    )
    log.error("%s x %s: %s", cfg.model.name, cfg.task.name, message)
    outcome = {
        "cell_id": "",
        "status": "failed",
        "model": str(cfg.model.name),
        "task": str(cfg.task.name),
        "message": message,
        "seconds": 0.0,
        "step": "cell",
        "job": job.job_id,
    }
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / OUTCOME_FILE, json.dumps([outcome], indent=2))


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "state":
        sys.exit("usage: python -m harness.app.slurm state JOBID...")
    sys.exit(_print_states(sys.argv[2:]))
