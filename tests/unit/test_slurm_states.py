"""Job states for the Slurm launcher's watcher (harness/app/slurm.py), from sacct when the cluster keeps
accounting and from scontrol when it does not. Test doubles: `sacct` and `scontrol` scripts on PATH that print
what the real commands printed for the same jobs on the one-node cluster of tests/e2e/test_slurm.py (Slurm
22.05); that file runs the real commands, without accounting. Here: with accounting too, and a forgotten job."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.app.slurm import GONE, states, watcher

SACCT = """12_0|COMPLETED|vm
12_0.batch|COMPLETED|vm
12_0.0|COMPLETED|vm
12_1|FAILED|vm
12_1.batch|FAILED|vm
12_[2-3]|PENDING|None assigned
"""
# `scontrol show job -o 14`: a running task, a failed one, and the array's pending rest on one line
SCONTROL = """JobId=15 ArrayJobId=14 ArrayTaskId=0 JobName=submitit JobState=RUNNING Reason=None ExitCode=0:0 NodeList=vm
JobId=16 ArrayJobId=14 ArrayTaskId=1 JobName=submitit JobState=FAILED Reason=NonZeroExitCode ExitCode=0:9 NodeList=vm
JobId=17 ArrayJobId=14 ArrayTaskId=4 JobName=submitit JobState=CONFIGURING Reason=None ExitCode=0:0 NodeList=vm
JobId=18 ArrayJobId=14 ArrayTaskId=5 JobName=submitit JobState=REQUEUE_HOLD Reason=None ExitCode=0:0 NodeList=vm
JobId=14 ArrayJobId=14 ArrayTaskId=2-3 JobName=submitit JobState=PENDING Reason=Resources ExitCode=0:0 NodeList=(null)
"""


def _command(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def _fake(tmp_path: Path, monkeypatch, accounting: bool) -> None:
    (tmp_path / "sacct.out").write_text(SACCT)
    (tmp_path / "scontrol.out").write_text(SCONTROL)
    if accounting:
        _command(tmp_path, "sacct", f'cat "{tmp_path}/sacct.out"\n')
    else:
        _command(tmp_path, "sacct", 'echo "Slurm accounting storage is disabled" >&2\nexit 1\n')
    _command(
        tmp_path,
        "scontrol",
        f'case "$4" in 14) cat "{tmp_path}/scontrol.out" ;;\n'
        '  *) echo "slurm_load_jobs error: Invalid job id specified" >&2; exit 1 ;;\nesac\n',
    )
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")


def _watched(job_ids: list[str]) -> dict[str, tuple[str, bool]]:
    """What submitit's watcher concludes (state, over?), from the output of the same command it runs."""
    w = watcher()
    command = [sys.executable, "-m", "harness.app.slurm", "state", *sorted({j.split("_")[0] for j in job_ids})]
    w._info_dict.update(w.read_info(subprocess.check_output(command)))
    return {j: (w.get_state(j, mode="cache"), w.is_done(j, mode="cache")) for j in job_ids}


def test_with_accounting_the_states_are_sacct_s(tmp_path, monkeypatch):
    _fake(tmp_path, monkeypatch, accounting=True)
    rows = states(["12"])
    assert rows[0] == ("12_0", "COMPLETED", "vm") and ("12_1", "FAILED", "vm") in rows
    seen = _watched(["12_0", "12_1", "12_2", "12_3"])
    assert seen == {
        "12_0": ("COMPLETED", True),
        "12_1": ("FAILED", True),
        "12_2": ("PENDING", False),
        "12_3": ("PENDING", False),
    }


def test_without_accounting_scontrol_tells_and_a_forgotten_job_is_over(tmp_path, monkeypatch):
    _fake(tmp_path, monkeypatch, accounting=False)
    assert states(["14", "9"]) == [
        ("14_0", "RUNNING", "vm"),
        ("14_1", "FAILED", "vm"),
        ("14_4", "RUNNING", "vm"),  # scontrol's states sacct does not print: not an end
        ("14_5", "PENDING", "vm"),
        ("14", "PENDING", "(null)"),  # a range of tasks not started yet: none of them is known by its own id
        ("9", GONE, ""),
    ]
    seen = _watched(["14_0", "14_1", "14_2", "14_4", "14_5"])
    assert seen == {
        "14_0": ("RUNNING", False),
        "14_1": ("FAILED", True),
        "14_2": ("UNKNOWN", False),  # pending inside the range: not over
        "14_4": ("RUNNING", False),
        "14_5": ("PENDING", False),
    }


def test_a_job_the_controller_forgot_is_over_only_after_it_knew_it_and_missed_it_twice():
    w = watcher()
    header = "JobID|State|NodeList\n"
    w._info_dict.update(w.read_info(header + "9_0|RUNNING|vm\n"))
    assert (w.get_state("9_0", mode="cache"), w.is_done("9_0", mode="cache")) == ("RUNNING", False)
    w._info_dict.update(w.read_info(header + f"9|{GONE}|\n"))
    assert w.get_state("9_0", mode="cache") == "RUNNING"  # one miss: the controller may have been busy
    w._info_dict.update(w.read_info(header + f"9|{GONE}|\n"))
    assert (w.get_state("9_0", mode="cache"), w.is_done("9_0", mode="cache")) == (GONE, True)
    w._info_dict.update(w.read_info(header + f"8|{GONE}|\n" * 1))
    w._info_dict.update(w.read_info(header + f"8|{GONE}|\n"))
    assert w.is_done("8_0", mode="cache") is False  # never known here (another cluster's?): keeps waiting
