"""Time the default job as a new user runs it: `make run` in a fresh clone of this checkout's HEAD, with an empty
harness cache (both embedded models prepared inside the run) and an empty results store: set-up, the 8 cells, the
two LoRA trainings, the API stand-in, the load stage of the tuned models and the stand-in, and the report.
Goal: 15 minutes (issue 30).

    python bench/default_job_time.py [--keep DIR] [--example]

Writes bench/results/default_job_time.json: the wall time, the set-up part (scripts/setup.sh, timed alone first;
`make run` then finds it done), the job's part, the CPU's vector extensions and how busy the machine was before
it started, and the memory of `make run`'s whole process tree (bench/proctree.py: the tree's peak, each kind of
process's own peak; goal 3 GB, issue 34). pip's download cache is whatever this machine has. With --example the run's leaderboard.json becomes
docs/example/leaderboard.json, the README's results block is rewritten from it (scripts/readme_results.py), so the
figures the README shows are this run's. The README's timing table reads its figure from the JSON
(tests/unit/test_docs.py checks that it does). Exit 1 when the run fails or takes over 15 minutes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "default_job_time.json"
GOAL_S = 15 * 60
sys.path.insert(0, str(ROOT / "bench"))

from ci_time import cpu, fresh_clone  # noqa: E402
from proctree import TreeMemory  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", help="run in this folder and keep it (default: a temporary folder, removed)")
    ap.add_argument("--example", action="store_true", help="make this run's export the README's example")
    a = ap.parse_args()
    work, clone, env, head, load_before = fresh_clone(a.keep, "harness-job-")
    started = time.monotonic()
    setup = subprocess.run(["scripts/setup.sh"], cwd=clone, env=env, capture_output=True, text=True)
    setup_s = time.monotonic() - started
    with open(work / "run.out", "w+") as out:
        p = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=out, stderr=subprocess.STDOUT, text=True)
        with TreeMemory(p.pid) as memory:
            p.wait()
        out.seek(0)
        run_log = out.read()
    wall = time.monotonic() - started
    log = setup.stdout + setup.stderr + run_log
    (work / "job.log").write_text(log)
    code = setup.returncode or p.returncode
    result = {
        "date": dt.date.today().isoformat(),
        "commit": head,
        "exit_code": code,
        "wall_s": round(wall),
        "setup_s": round(setup_s),
        "job_s": round(wall - setup_s),
        "cpu": cpu(),
        "load_average_before": [round(x, 2) for x in load_before],
        "goal_s": GOAL_S,
        "memory": {**memory.result(), "goal_gb": 3.0},
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"make run in a fresh clone: {wall / 60:.1f} min (set-up {setup_s:.0f} s), exit {code}; log: {work / 'job.log'}"
    )
    print(f"memory: {json.dumps(result['memory'])}")
    export = clone / "reports" / "default" / "leaderboard.json"
    if a.example and code == 0 and export.is_file():
        shutil.copyfile(export, ROOT / "docs" / "example" / "leaderboard.json")
        venv = ROOT / ".venv" / "bin" / "python"  # the script reads the report's formatting (babel): the project's env
        python = str(venv) if venv.is_file() else sys.executable
        subprocess.run([python, str(ROOT / "scripts" / "readme_results.py")], cwd=ROOT, check=True)
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if code == 0 and wall <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
