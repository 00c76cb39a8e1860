"""Scheduled sweeps on real launchers: submitit (local executor: real separate job processes, submitit's own
preemption and requeue), joblib, and two harness processes sharing one store. Every cell is a real SmolLM2
evaluation; "computed once" is read from the records themselves (each names the run that wrote it).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.finetune.train import MARKER, METER_FILE
from harness.paths import REPO_ROOT
from harness.store import Store
from harness.store.runs import computed_by, manifests
from tests.conftest import run_harness

SMALL = ["model=smollm2-135m", "baseline=none", "sweep=smoke", "task.limit=3"]


def _store_args(root: Path) -> list[str]:
    return [f"paths.results={root / 'results'}", f"paths.reports={root / 'reports'}",
            f"paths.artifacts={root / 'artifacts'}", f"hydra.sweep.dir={root / 'out'}"]  # fmt: skip


def _start(args: list[str]) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("harness")
    return subprocess.Popen([str(exe), *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)  # fmt: skip


def _wait_for(what, timeout: float, proc: subprocess.Popen):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        found = what()
        if found:
            return found
        assert proc.poll() is None, proc.stdout.read()[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s")


def _job_processes(launcher: subprocess.Popen) -> list[psutil.Process]:
    kids = psutil.Process(launcher.pid).children(recursive=True)
    return [p for p in kids if "submitit.core._submit" in " ".join(p.cmdline())]


def _digest(path: Path) -> tuple[int, str]:
    return path.stat().st_mtime_ns, hashlib.sha256(path.read_bytes()).hexdigest()


def _sound(store: Store) -> list[dict]:
    records = store.all_records()
    assert all(store.problem(r["cell_id"]) is None for r in records)
    assert not list(store.root.rglob("*.tmp"))  # no half-written file left behind
    return records


@pytest.mark.slow
def test_a_submitit_job_preempted_mid_training_is_requeued_and_resumes_its_checkpoint(tmp_path):
    """SIGUSR2 (what Slurm sends on preemption) to a submitit-local job while it trains: submitit checkpoints the
    Hydra job and requeues it; the requeued job finds its base cell stored (not recomputed) and resumes the
    training from its last completed checkpoint."""
    args = ["-m", "hydra/launcher=submitit_local", *SMALL, "task=helpdesk_en", "finetune=lora",
            "finetune.n_train=16", "finetune.batch_size=2", "finetune.epochs=1", "finetune.max_length=64",
            "finetune.save_every_s=0", "finetune.val_examples=0", *_store_args(tmp_path)]  # fmt: skip
    launcher = _start(args)
    records = tmp_path / "results" / "records"

    def checkpoint_done() -> bool:
        marked = tmp_path.glob(f"artifacts/.*.partial/checkpoints/checkpoint-*/{METER_FILE}")
        return any(int(p.parent.name.split("-")[1]) >= 3 for p in marked)

    _wait_for(checkpoint_done, 600, launcher)
    [base] = list(records.glob("*.json"))  # the base cell is computed before the training starts
    before = _digest(base)
    [job] = _job_processes(launcher)
    job.send_signal(signal.SIGUSR2)
    out, _ = launcher.communicate(timeout=600)
    assert launcher.returncode == 0, out[-3000:]

    logs = "".join(p.read_text() for p in (tmp_path / "out" / ".submitit").rglob("*_log.*"))
    assert "this job is preempted" in logs and "Requeued job" in logs
    assert _digest(base) == before  # reused by the requeued job, never written again
    [artifact] = [p.parent for p in (tmp_path / "artifacts").glob(f"*/{MARKER}")]
    metering = json.loads((artifact / MARKER).read_text())["metering"]
    assert metering["steps"] == 8 and 3 <= metering["resumed_from_step"] < 8

    store = Store(tmp_path / "results")
    assert len(_sound(store)) == 2
    [run] = manifests(tmp_path / "results")
    assert run["status"] == "finished" and run["launcher"] == "LocalLauncher"
    # both computed by this run, the base in the job's first attempt (its requeued attempt found it stored)
    assert sorted(c["status"] for c in run["cells"]) == ["computed", "computed"]


@pytest.mark.slow
def test_a_killed_submitit_sweep_resumed_with_joblib_computes_every_cell_once(tmp_path):
    """A submitit-local sweep of three cells is SIGKILLed (launcher and jobs) once a cell is stored; the same
    sweep run again under joblib computes only the missing cells. `harness history` shows both runs."""
    sweep = [*SMALL, "finetune=none", "task=helpdesk_en,general_en,helpdesk_zh", *_store_args(tmp_path)]
    first = _start(["-m", "hydra/launcher=submitit_local", *sweep])
    records = tmp_path / "results" / "records"
    _wait_for(lambda: list(records.glob("*.json")), 600, first)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(60)
    stored_first = {p.stem for p in records.glob("*.json")}
    assert 1 <= len(stored_first) < 3

    second = run_harness("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *sweep,
                         f"hydra.sweep.dir={tmp_path / 'out2'}")  # fmt: skip
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]

    store = Store(tmp_path / "results")
    all_records = _sound(store)
    assert len(all_records) == 3
    killed, resumed = manifests(tmp_path / "results")
    assert killed["status"] == "interrupted" and resumed["status"] == "finished"
    assert resumed["launcher"] == "JoblibLauncher"
    by_first, by_second = (
        computed_by(all_records, killed["run_id"]),
        computed_by(all_records, resumed["run_id"]),
    )
    assert by_first == stored_first and not by_first & by_second  # nothing computed twice
    assert by_first | by_second == {r["cell_id"] for r in all_records}
    assert {c["cell_id"]: c["status"] for c in resumed["cells"]} == {
        **{c: "reused" for c in by_first}, **{c: "computed" for c in by_second}}  # fmt: skip

    listing = run_harness("history", "--results", str(tmp_path / "results"))
    assert listing.returncode == 0, listing.stderr
    assert killed["run_id"] in listing.stdout and "interrupted" in listing.stdout
    assert resumed["run_id"] in listing.stdout and "finished" in listing.stdout


@pytest.mark.slow
def test_two_processes_on_one_store_compute_each_cell_once(tmp_path):
    """Two sweeps of the same two cells started at once on one store: each cell is computed by exactly one of
    them (the other waits on the cell's lock, then reuses it); both end well, with every file sound."""
    sweep = ["-m", *SMALL, "finetune=none", "task=helpdesk_en,general_en", *_store_args(tmp_path)]
    procs = [_start([*sweep, f"hydra.sweep.dir={tmp_path / f'out{i}'}"]) for i in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[-2000:] for o in outs]

    records = _sound(Store(tmp_path / "results"))
    assert len(records) == 2
    runs = manifests(tmp_path / "results")
    computed = [computed_by(records, r["run_id"]) for r in runs]
    assert len(runs) == 2 and not computed[0] & computed[1]
    assert computed[0] | computed[1] == {r["cell_id"] for r in records}
    for run, mine in zip(runs, computed, strict=True):
        assert {c["cell_id"] for c in run["cells"] if c["status"] == "computed"} == mine


def test_the_slurm_gpu_preset_becomes_the_sbatch_script_a_gpu_array_needs(tmp_path, monkeypatch):
    """`hydra/launcher=slurm-gpu` through the real hydra-submitit-launcher and submitit, up to the sbatch file
    it would submit. Test double: no Slurm runs here, so an `srun` that does nothing stands on PATH (submitit
    refuses to build a Slurm executor without one) and the array is not submitted."""
    import submitit
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate
    from submitit.slurm.slurm import _make_sbatch_string

    from harness.paths import CONF_DIR

    (tmp_path / "srun").write_text("#!/bin/sh\nexit 1\n")
    (tmp_path / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    monkeypatch.setenv("HARNESS_SLURM_PARTITION", "h100")
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=slurm-gpu", f"hydra.sweep.dir={tmp_path / 'out'}"],
                      return_hydra_config=True)  # fmt: skip
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    seen = {}

    class Submitted(Exception):
        pass

    def map_array(self, fn, *args):
        seen.update(executor=self._executor, jobs=len(args[0]))
        raise Submitted

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", map_array)
    with pytest.raises(Submitted):
        launcher.launch([[f"model={m}"] for m in ("llama2-7b", "qwen-14b", "baichuan2-13b")], 0)
    ex = seen["executor"]
    assert ex.max_num_timeout == 3  # requeued up to 3 times after hitting the time limit
    script = _make_sbatch_string(command="python -m job", folder=str(tmp_path), map_count=seen["jobs"],
                                 **ex.parameters)  # fmt: skip
    for line in ("--array=0-2%3", "--gpus-per-node=1", "--partition=h100", "--requeue", "--signal=USR2@120",
                 "--time=240", "--cpus-per-task=8", "--mem=64GB", "--ntasks-per-node=1"):  # fmt: skip
        assert f"#SBATCH {line}\n" in script, line


def test_plan_jobs_prints_one_shard_per_job_for_a_job_runner():
    """`harness plan --jobs`: the sweep's jobs, one override list per line, for an indexed job runner (each line
    run as `harness <line>` is that job alone; command-line values win over the preset's sweep parameters)."""
    out = run_harness("plan", "--jobs", "sweep=default", "task.limit=5")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        f"model={m} task={t} sweep=default task.limit=5"
        for m in ("smollm2-135m", "gemma3-270m")
        for t in ("helpdesk_en", "general_en")
    ]
    one = run_harness("plan", "--jobs", "model=gemma3-270m", "task=general_en", "task.limit=5")
    assert one.stdout.splitlines() == ["model=gemma3-270m task=general_en task.limit=5"]
