"""What the harness adds to lm-eval on one cell: the `harness` command against the raw `lm_eval` command its record
names (eval.lm_eval_cli), on the same cell, as a user runs each from the shell.

    python bench/harness_vs_lmeval.py [--limit 30] [--pairs 3]

The cell: SmolLM2-135M-Instruct, untuned, on the first `--limit` helpdesk_en items. The harness side is the whole
command (`harness -m sweep=smoke ...` in a fresh store: Hydra, the configuration check, the preflight, the
evaluation, the record and the sweep's report); the lm-eval side is its own CLI with the same model folder, task,
batch size, seed and chat template. Runs are paired (harness, then lm_eval, `--pairs` times, each in a new
process with a new store) and the ratio of each pair's walls is taken; the median ratio is the figure. Goal
(issue 33): <= 1.05. Writes bench/results/harness_vs_lmeval.json. Run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "harness_vs_lmeval.json"
GOAL = 1.05


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    return time.perf_counter() - started, p


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=30)
    ap.add_argument("--pairs", type=int, default=3)
    a = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="harness-vs-lmeval-"))
    pairs, lm_eval_cmd = [], None
    try:
        for i in range(a.pairs + 1):  # the first pair warms the page cache and finds the command; not counted
            root = work / f"run{i}"
            harness = [
                str(bin_dir / "harness"),
                "-m",
                "sweep=smoke",
                "model=smollm2-135m",
                "task=helpdesk_en",
                f"task.limit={a.limit}",
                "finetune=none",
                "baseline=none",
                "load.with_cells=none",
                f"paths.results={root / 'results'}",
                f"paths.reports={root / 'reports'}",
                f"hydra.sweep.dir={root / 'outputs'}",
            ]
            h_s, p = timed(harness, env)
            if p.returncode:
                print(p.stdout[-3000:] + p.stderr[-3000:])
                return 2
            if lm_eval_cmd is None:
                (record,) = (root / "results" / "records").glob("*.json")
                cli = json.loads(record.read_text())["eval"]["lm_eval_cli"]
                lm_eval_cmd = shlex.split(cli) + ["--output_path", "OUT"]
            cmd = [str(bin_dir / "lm_eval")] + [str(root / "lm_eval") if x == "OUT" else x for x in lm_eval_cmd[1:]]
            l_s, q = timed(cmd, env)
            if q.returncode:
                print(q.stdout[-3000:] + q.stderr[-3000:])
                return 2
            print(
                f"pair {i}{' (warm-up, not counted)' if i == 0 else ''}: harness {h_s:.1f} s, lm_eval {l_s:.1f} s, "
                f"ratio {h_s / l_s:.3f}"
            )
            if i:
                pairs.append({"harness_s": round(h_s, 2), "lm_eval_s": round(l_s, 2), "ratio": round(h_s / l_s, 4)})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ratio = statistics.median(p["ratio"] for p in pairs)
    result = {
        "date": dt.date.today().isoformat(),
        "cell": f"smollm2-135m untuned x helpdesk_en, first {a.limit} items",
        "lm_eval_command": shlex.join(lm_eval_cmd or []),
        "pairs": pairs,
        "median_ratio": round(ratio, 4),
        "goal": GOAL,
        "load_average_before": [round(x, 2) for x in load_before],
        "cpus": os.cpu_count(),
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"harness / lm_eval on one cell: median {ratio:.3f} of {len(pairs)} pairs (goal <= {GOAL}); {OUT}")
    return 0 if ratio <= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
