"""Time CI as CI runs it: `.ci/run` in a fresh clone of this checkout's HEAD, with an empty harness cache (so the
embedded models are prepared and the legacy runtime is created inside the run), from the first command to the last
test. Goal: 30 minutes on the slower (AVX2-only) machine kind, so about 20 on an AVX-512 one.

    python bench/ci_time.py [--keep DIR]

Writes bench/results/ci_time.json: the wall time, setup and pytest parts, the test counts, the 25 slowest tests
(pytest's --durations tables, which `make test` prints per lane), the CPU's vector extensions, and how busy the machine was
before it started (a figure taken on a busy machine says so). pip's download cache is whatever this machine has;
Debian's chromium is installed once per machine and not timed again. The README's table reads its figure from here
(tests/unit/test_docs.py checks that it does). Exit 1 when the run fails or takes over 30 minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "ci_time.json"
GOAL_S = 30 * 60


def cpu() -> dict:
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "")
    model = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in line), "")
    return {
        "model": model.split(":", 1)[-1].strip(),
        "cpus": os.cpu_count(),
        "avx512": " avx512f" in flags,
        "avx2": " avx2" in flags,
    }


def slowest(log: str, n: int = 25) -> list[dict]:
    """The slowest tests of every --durations table in the log (one per lane of scripts/test.sh):
    [{seconds, phase, test}], slowest first."""
    rows = [
        {"seconds": float(m[1]), "phase": m[2], "test": m[3]}
        for m in re.finditer(r"^([\d.]+)s (call|setup|teardown)\s+(\S+)$", log, flags=re.M)
    ]
    return sorted(rows, key=lambda r: -r["seconds"])[:n]


def counts(log: str) -> str | None:
    """pytest's closing counts of every lane, added up: "571 passed, 2 skipped"."""
    total: dict[str, int] = {}
    for line, _ in re.findall(r"=+ (.*(?:passed|failed|error).*) in ([\d.]+)s", log):
        for k, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|warnings?|deselected)", line):
            total[word] = total.get(word, 0) + int(k)
    order = ["failed", "errors", "error", "passed", "skipped", "deselected", "warnings", "warning"]
    return ", ".join(f"{total[w]} {w}" for w in order if w in total) or None


def fresh_clone(keep: str | None, prefix: str) -> tuple[Path, Path, dict[str, str], str, tuple[float, ...]]:
    """(work folder, a fresh clone of HEAD in it, an environment with an empty harness cache in it, HEAD's commit,
    the load average before anything ran). `keep`: the work folder, which must be new or empty."""
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix=prefix))
    if keep and work.exists() and any(work.iterdir()):
        sys.exit(f"--keep {work}: not empty; name a new folder")
    clone, cache = work / "clone", work / "cache"
    work.mkdir(parents=True, exist_ok=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    if (ROOT.parent / "shared").is_dir():  # beside the checkout, as CI has it (the seed models' remote code):
        (work / "shared").symlink_to(ROOT.parent / "shared")  # without it their tests skip and go untimed
    env = {**os.environ, "HARNESS_CACHE": str(cache)}
    env.pop("VIRTUAL_ENV", None)
    return work, clone, env, head, os.getloadavg()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", help="run in this folder and keep it (default: a temporary folder, removed)")
    a = ap.parse_args()
    work, clone, env, head, load_before = fresh_clone(a.keep, "harness-ci-")
    started = time.monotonic()
    p = subprocess.run([".ci/run"], cwd=clone, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    log = p.stdout + p.stderr
    (work / "ci.log").write_text(log)
    lanes = re.findall(r"=+ .*(?:passed|failed).* in ([\d.]+)s", log)
    result = {
        "date": dt.date.today().isoformat(),
        "commit": head,
        "exit_code": p.returncode,
        "wall_s": round(wall),
        "pytest_s_per_lane": [round(float(x)) for x in lanes],  # scripts/test.sh: two lanes at once
        "tests": counts(log),
        "cpu": cpu(),
        "load_average_before": [round(x, 2) for x in load_before],
        "slowest_25": slowest(log),
        "goal_s": GOAL_S,
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"CI in a fresh clone: {wall / 60:.1f} min ({result['tests']}), exit {p.returncode}; log: {work / 'ci.log'}")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if p.returncode == 0 and wall <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
