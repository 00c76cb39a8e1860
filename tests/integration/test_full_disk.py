"""A full disk under paths.results, for real: a 256 KiB tmpfs mounted in a private mount namespace (`unshare`,
util-linux), most of it taken by a filler file, and an API cell against the fake provider."""

from __future__ import annotations

import subprocess

from tests.support.provider import FakeProvider
from tests.support.run import harness_exe


def test_a_full_disk_loses_no_paid_answer_and_the_console_says_what_is_stored(tmp_path):
    """The cell's 4 answers are paid for and cached, then its samples cannot be written: nothing is stored and
    the console says so, with the cause. Once space is freed, the re-run stores the cell from the cache:
    4 requests in all, never 8."""
    mnt = tmp_path / "mnt"
    run = (
        f"{harness_exe()} model=none finetune=none baseline=openai-gpt-4o-mini baseline.base_url={{url}} "
        f"baseline.api_key_env=null task=helpdesk_en task.limit=4 paths.results={mnt}/results "
        f"paths.reports={tmp_path}/reports hydra.sweep.dir={tmp_path}/hydra"
    )
    with FakeProvider() as p:
        script = "\n".join(
            [
                "set -u",
                f"mkdir -p {mnt}",
                f"mount -t tmpfs -o size=256k tmpfs {mnt}",
                f"dd if=/dev/zero of={mnt}/filler bs=1k count=150 2>/dev/null",
                run.format(url=p.url),
                'echo "FIRST EXIT $?"',
                f"rm {mnt}/filler",
                run.format(url=p.url),
                'echo "SECOND EXIT $?"',
            ]
        )
        out = subprocess.run(
            ["unshare", "--map-root-user", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=600
        )
        sent = len(p.bodies)
    log = out.stdout + out.stderr
    first, second = log.split("FIRST EXIT")
    assert "FIRST EXIT 2" in log and "SECOND EXIT 0" in log, log[-3000:]
    assert "0 of 1 cell(s) of this run are stored." in first
    assert "NOT STORED: openai-gpt-4o-mini x helpdesk_en: the disk is full." in first
    assert "No space left on device" in first and "Traceback" not in log
    assert "The cells are stored" not in first
    assert "1 cell(s) computed, 0 already stored, 0 not measured" in second
    assert sent == 4, log[:6000]  # the answers paid for in the first run were not asked for again
