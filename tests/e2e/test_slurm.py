"""Scheduled sweeps on a real Slurm cluster: munged, slurmctld and slurmd from Debian, started on this machine by
scripts/slurm-local.sh for this module and stopped after it (also when a test fails). Every job is a real
`harness` job through `hydra/launcher=slurm-gpu` (the repository's preset, sized to this machine: no GPU, one CPU
and 3 GB per job), submitted with sbatch as an array; every cell is a real SmolLM2 evaluation or LoRA training.
The cluster keeps accounting (slurmdbd on a MariaDB of its own), so `sacct` works, as on most clusters; a job
killed without a result is also followed by a client whose slurm.conf has no accounting (DIR/slurm-noacct.conf,
the same controller), where `sacct` fails, as on many small clusters, and job states come from scontrol
(harness/app/slurm.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from harness.finetune.train import MARKER, METER_FILE
from harness.paths import REPO_ROOT
from harness.store import Store
from harness.store.record import without_timings
from harness.store.runs import computed_by, manifests
from tests.e2e.test_sweeps import SMALL, _digest, _sound, _start, _store_args, _wait_for
from tests.support.run import run_harness

SLURM = [
    "-m",
    "hydra/launcher=slurm-gpu",
    "hydra.launcher.partition=debug",
    "hydra.launcher.gpus_per_node=null",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=3",
]
JOB_ID = re.compile(r"^\d+_\d+$")  # an array's task, as squeue and sacct name it


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    folder = Path(os.environ.get("HARNESS_SLURM_DIR") or tmp_path_factory.mktemp("slurm"))
    script = REPO_ROOT / "scripts" / "slurm-local.sh"
    started = subprocess.run([str(script), "start", str(folder)], capture_output=True, text=True, timeout=900)
    before = os.environ.get("SLURM_CONF")
    try:
        assert started.returncode == 0, started.stderr[-3000:]
        os.environ["SLURM_CONF"] = started.stdout.strip().removeprefix("export SLURM_CONF=")
        assert shutil.which("sbatch")
        sacct = subprocess.run(["sacct", "-n"], capture_output=True, text=True)
        assert sacct.returncode == 0, sacct.stderr
        noacct = {**os.environ, "SLURM_CONF": str(folder / "slurm-noacct.conf")}
        sacct = subprocess.run(["sacct", "-n"], capture_output=True, text=True, env=noacct)
        assert sacct.returncode != 0 and "Slurm accounting storage is disabled" in sacct.stderr
        yield folder
    finally:
        subprocess.run([str(script), "stop", str(folder)], capture_output=True, timeout=120)
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before


@pytest.fixture(autouse=True)
def _no_jobs_left(slurm):
    """A test that failed half-way must not leave its jobs to the next one."""
    yield
    subprocess.run(["scancel", "--full", "--user", "root"], capture_output=True)
    deadline = time.monotonic() + 30
    while _squeue() and time.monotonic() < deadline:
        time.sleep(0.5)


def _squeue() -> list[tuple[str, str]]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True, check=True).stdout
    return [tuple(line.split()) for line in out.splitlines()]  # type: ignore[misc]


def _running_job() -> str | None:
    return next((j for j, state in _squeue() if state == "RUNNING"), None)


def _job_python() -> psutil.Process | None:
    """The job's Python (not the `srun` that started it, whose command line names the same module)."""
    for p in psutil.process_iter(["cmdline"]):
        cmd = p.info["cmdline"] or []
        if cmd and Path(cmd[0]).name.startswith("python") and "submitit.core._submit" in cmd:
            if p.status() != psutil.STATUS_ZOMBIE:
                return p
    return None


def _release(job: str, launcher: subprocess.Popen, *more: str) -> None:
    """Slurm holds a requeued job back for a while (its BeginTime is set ahead); the tests start it at once."""
    _wait_for(lambda: "PENDING" in dict(_squeue()).get(job, ""), 120, launcher)
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now", *more], check=True, capture_output=True)


def _submitit_logs(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in root.rglob(".submitit/*/*_log.*"))


def _comparable(record: dict) -> dict:
    out = without_timings(record)
    out["config"].pop("paths")
    return out


def test_an_array_sweep_stores_what_a_local_run_stores_and_two_at_once_compute_each_cell_once(slurm, tmp_path):
    """Two Slurm sweeps of the same two cells at once on one store (two arrays of two jobs): each cell is
    computed by exactly one job, the records equal the same sweep run in this process (timings apart), and
    `harness history` names each cell's Slurm job."""
    cells = [*SMALL, "finetune=none", "task=helpdesk_en,general_en"]
    local = run_harness("-m", *cells, *_store_args(tmp_path / "local"))
    assert local.returncode == 0, local.stderr[-3000:]

    store_args = _store_args(tmp_path / "slurm")
    procs = [_start([*SLURM, *cells, *store_args, f"hydra.sweep.dir={tmp_path / 'slurm' / f'out{i}'}"]) for i in (0, 1)]
    outs = [p.communicate(timeout=900)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[-3000:] for o in outs]

    on_slurm, here = Store(tmp_path / "slurm" / "results"), Store(tmp_path / "local" / "results")
    records = _sound(on_slurm)
    assert sorted(r["cell_id"] for r in records) == sorted(r["cell_id"] for r in here.all_records())
    for r in records:  # the same record but for its timings and where its store is (config.paths)
        assert _comparable(r) == _comparable(here.load(r["cell_id"]))
        assert without_timings(on_slurm.load_samples(r["cell_id"])) == without_timings(here.load_samples(r["cell_id"]))

    runs = manifests(tmp_path / "slurm" / "results")
    computed = [computed_by(records, r["run_id"]) for r in runs]
    assert len(runs) == 2 and not computed[0] & computed[1]
    assert computed[0] | computed[1] == {r["cell_id"] for r in records}
    for run in runs:
        assert run["status"] == "finished" and run["launcher"] == "HarnessSlurmLauncher"
        assert len(run["cells"]) == 2 and all(JOB_ID.match(c["job"]) for c in run["cells"])
        shown = run_harness("history", "show", run["run_id"], "--results", str(tmp_path / "slurm" / "results"))
        assert shown.returncode == 0 and all(f"slurm job {c['job']}" in shown.stdout for c in run["cells"])
    assert not _squeue()


def test_scontrol_requeue_mid_training_resumes_the_checkpoint_and_computes_nothing_twice(slurm, tmp_path):
    """An operator's `scontrol requeue` of a job while it trains: Slurm stops it and starts it again; the new
    attempt reuses the stored base cell and resumes the training from its last checkpoint."""
    args = [
        *SLURM,
        *SMALL,
        "task=helpdesk_en",
        "finetune=lora",
        "finetune.n_train=16",
        "finetune.batch_size=2",
        "finetune.epochs=1",
        "finetune.max_length=64",
        "finetune.save_every_s=0",
        "finetune.val_examples=0",
        *_store_args(tmp_path),
    ]
    launcher = _start(args)
    records = tmp_path / "results" / "records"

    def checkpoint_done() -> bool:
        marked = tmp_path.glob(f"artifacts/.*.partial/checkpoints/checkpoint-*/{METER_FILE}")
        return any(int(p.parent.name.split("-")[1]) >= 3 for p in marked)

    _wait_for(checkpoint_done, 600, launcher)
    [base] = list(records.glob("*.json"))
    before = _digest(base)
    job = _running_job()
    assert job is not None
    subprocess.run(["scontrol", "requeue", job], check=True, capture_output=True)
    _release(job, launcher)
    out, _ = launcher.communicate(timeout=900)
    assert launcher.returncode == 0, out[-3000:]

    assert _digest(base) == before  # reused by the second attempt, never written again
    assert "SIGTERM: training saves a checkpoint at the end of this step and stops" in _submitit_logs(tmp_path)
    [artifact] = [p.parent for p in (tmp_path / "artifacts").glob(f"*/{MARKER}")]
    metering = json.loads((artifact / MARKER).read_text())["metering"]
    assert metering["steps"] == 8 and 3 <= metering["resumed_from_step"] < 8
    assert len(_sound(Store(tmp_path / "results"))) == 2
    [run] = manifests(tmp_path / "results")
    assert run["status"] == "finished" and sorted(c["status"] for c in run["cells"]) == ["computed", "computed"]
    assert {c["job"] for c in run["cells"]} == {job}


def test_a_job_at_its_time_limit_gets_the_presets_signal_and_is_requeued(slurm, tmp_path):
    """`timeout_min` and `signal_delay_s` of the preset become Slurm's time limit and its USR2 warning: submitit
    catches the signal, checkpoints the Hydra job and requeues it; once the operator has given the requeued job
    more time (`scontrol update`), it computes the cell, once."""
    args = [
        *SLURM,
        "hydra.launcher.timeout_min=1",
        "hydra.launcher.signal_delay_s=45",
        *SMALL,
        "finetune=none",
        "task=helpdesk_en",
        *_store_args(tmp_path),
    ]
    launcher = _start(args)
    proc = _wait_for(_job_python, 300, launcher)
    found = time.monotonic()
    # Slurm checks time limits every 30 s, so USR2@45 of a 1-minute job comes some 5 to 45 s after its start
    # (3 s was seen under load): the job (a cell of a few seconds) is paused once submitit handles signals and
    # goes on at 47 s, when the warning has come; one that came earlier has requeued the job already
    time.sleep(4)  # submitit's handlers are set 1-3 s after its start
    try:
        proc.send_signal(signal.SIGSTOP)
        time.sleep(max(0.0, 47 - (time.monotonic() - found)))
        proc.send_signal(signal.SIGCONT)
    except psutil.NoSuchProcess:
        pass  # it has handled the warning and requeued itself (slurmstepd sends SIGCONT before the signal)
    _wait_for(lambda: "Requeued job" in _submitit_logs(tmp_path), 60, launcher)
    [job] = [j for j, _ in _squeue()]
    _release(job, launcher, "TimeLimit=10")
    out, _ = launcher.communicate(timeout=600)
    assert launcher.returncode == 0, out[-3000:]
    logs = _submitit_logs(tmp_path)
    assert "Caught signal SIGUSR2" in logs and "this job is timed-out" in logs
    assert f"Requeued job {job} (2 remaining timeouts)" in logs  # the preset's max_num_timeout: 3
    [record] = _sound(Store(tmp_path / "results"))
    [run] = manifests(tmp_path / "results")
    assert [(c["status"], c["job"]) for c in run["cells"]] == [("computed", job)]
    assert computed_by([record], run["run_id"]) == {record["cell_id"]}


@pytest.mark.parametrize("sacct", [True, False], ids=["sacct", "no-sacct"])
def test_a_job_killed_without_a_result_is_reported_failed_not_pending_for_ever(slurm, tmp_path, monkeypatch, sacct):
    """kill -9 of a job's process: it leaves no result. The launcher learns the job's end from sacct, or, on a
    client without accounting, from scontrol; it reports its cell failed with the job id, writes the report and
    exits 2; `harness history` shows the cell failed. The same sweep run again computes it (with sacct only: how
    the end was learnt does not matter to the rerun)."""
    if not sacct:  # the launcher (and its jobs: sbatch passes the environment on) reads the no-accounting config
        monkeypatch.setenv("SLURM_CONF", str(slurm / "slurm-noacct.conf"))
    args = [*SLURM, *SMALL, "finetune=none", "task=helpdesk_en", *_store_args(tmp_path)]
    launcher = _start(args)

    proc = _wait_for(_job_python, 300, launcher)
    [job] = [j for j, _ in _squeue()]
    proc.send_signal(signal.SIGKILL)
    started = time.monotonic()
    out, _ = launcher.communicate(timeout=300)
    assert launcher.returncode == 2, out[-3000:]
    assert time.monotonic() - started < 120  # noticed within the watcher's polling, not never
    assert f"Slurm job {job} ended without a result (state FAILED" in out
    [run] = manifests(tmp_path / "results")
    assert run["status"] == "finished"
    assert [(c["status"], c["job"]) for c in run["cells"]] == [("failed", job)]
    shown = run_harness("history", "show", "--results", str(tmp_path / "results"))
    assert "failed" in shown.stdout and f"slurm job {job}" in shown.stdout
    if not sacct:
        return
    accounted = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "State", "-j", job], capture_output=True, text=True)
    assert accounted.stdout.split() == ["FAILED"]  # what the launcher read

    again = run_harness(*SLURM, *SMALL, "finetune=none", "task=helpdesk_en", *_store_args(tmp_path))
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(_sound(Store(tmp_path / "results"))) == 1


def test_no_sbatch_or_no_such_partition_stops_before_anything_is_submitted(slurm, tmp_path):
    sweep = [*SMALL, "finetune=none", "task=helpdesk_en", *_store_args(tmp_path)]
    missing = run_harness(*SLURM, "hydra.launcher.partition=h100", *sweep)
    assert missing.returncode == 2
    assert "partition 'h100' does not exist on this cluster (it has: debug)" in missing.stderr
    assert "Traceback" not in missing.stderr + missing.stdout
    bare = tmp_path / "bin"  # a PATH without Slurm's commands (the harness itself is called by its full path)
    bare.mkdir()
    no_slurm = run_harness(*SLURM, *sweep, env={"PATH": str(bare)})
    assert no_slurm.returncode == 2, no_slurm.stderr[-2000:]
    assert "`sbatch`, `sinfo`, `scontrol` not on PATH" in no_slurm.stderr
    assert not _squeue() and not (tmp_path / "results" / "runs").exists()  # nothing submitted, no run recorded
