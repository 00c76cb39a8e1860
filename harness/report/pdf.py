"""`harness report --pdf`: the written page printed to report.pdf by the system's headless chromium.

The page prints itself (its print stylesheet: no controls, sections on their own pages) and, opened with ?print,
turns every chart into a static image (templates/report.js) before chromium prints, within a virtual-time budget
that lets the page's timers and image encodes finish. Nothing is fetched; chromium runs with a throw-away profile.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from harness.errors import HarnessError

CANDIDATES = (
    "/usr/lib/chromium/chromium",
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
]


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = name if Path(name).is_absolute() and Path(name).exists() else shutil.which(name)
        if path:
            return path
    return None


def write_pdf(page: Path, out: Path | None = None, budget_ms: int = 30_000, timeout_s: float = 180) -> Path:
    """Print `page` (a report's index.html) to `out` (default: report.pdf beside it); returns the PDF's path."""
    chromium = find_chromium()
    if chromium is None:
        raise HarnessError(
            "--pdf needs chromium, which is not installed: run `scripts/setup.sh --browser` (Debian's chromium), "
            f"or open {page} in any browser and print it (its print stylesheet lays out the same pages). "
            "The HTML report is written."
        )
    out = Path(out or Path(page).parent / "report.pdf")
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.unlink(missing_ok=True)  # a failed run's leftover must never pass for this run's PDF
    with tempfile.TemporaryDirectory(prefix="harness-pdf-", ignore_cleanup_errors=True) as profile:
        cmd = [
            chromium,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={tmp}",
            f"--virtual-time-budget={budget_ms}",
            Path(page).resolve().as_uri() + "?print",
        ]
        # its own process group: on a timeout chromium's renderer and GPU processes go with it
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace", start_new_session=True
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as e:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            tmp.unlink(missing_ok=True)
            raise HarnessError(
                f"chromium did not print {page} within {timeout_s:.0f} s; the HTML report is written."
            ) from e
        done = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    if done.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise HarnessError(
            f"chromium could not print {page} (exit {done.returncode}): {' | '.join(tail)}; the HTML report is written."
        )
    tmp.replace(out)  # whole or not at all: a reader never opens half a PDF
    return out
