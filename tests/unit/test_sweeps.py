"""Scheduled sweeps without running one: the Slurm preset's sbatch script, and `harness plan --jobs` for an
indexed job runner. The launchers themselves run in tests/e2e/test_sweeps.py.
"""

from __future__ import annotations

import os

import pytest

from tests.support.run import run_harness

SMALL = ["model=smollm2-135m", "baseline=none", "sweep=smoke", "task.limit=3"]


def test_the_slurm_gpu_preset_becomes_the_sbatch_script_a_gpu_array_needs(tmp_path, monkeypatch):
    """`hydra/launcher=slurm-gpu` through the real hydra-submitit-launcher and submitit, up to the sbatch file
    it would submit. Test double: no Slurm runs here, so an `srun` that does nothing stands on PATH (submitit
    refuses to build a Slurm executor without one) and the array is not submitted. The real cluster's tests:
    tests/e2e/test_slurm.py."""
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
        cfg = compose(
            "config",
            overrides=["hydra/launcher=slurm-gpu", f"hydra.sweep.dir={tmp_path / 'out'}"],
            return_hydra_config=True,
        )
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    seen = {}

    class Submitted(Exception):
        pass

    def map_array(self, fn, *args):
        seen.update(executor=self._executor, jobs=len(args[0]))
        raise Submitted

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", map_array)
    # no cluster to ask (tests/e2e/test_slurm.py checks the partition on a real one)
    monkeypatch.setattr("harness.app.slurm.check_cluster", lambda partition: None)
    with pytest.raises(Submitted):
        launcher.launch([[f"model={m}"] for m in ("llama2-7b", "qwen-14b", "baichuan2-13b")], 0)
    ex = seen["executor"]
    assert ex.max_num_timeout == 3  # requeued up to 3 times after hitting the time limit
    script = _make_sbatch_string(command="python -m job", folder=str(tmp_path), map_count=seen["jobs"], **ex.parameters)
    for line in (
        "--array=0-2%3",
        "--gpus-per-node=1",
        "--partition=h100",
        "--requeue",
        "--signal=USR2@120",
        "--time=240",
        "--cpus-per-task=8",
        "--mem=64GB",
        "--ntasks-per-node=1",
    ):
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
