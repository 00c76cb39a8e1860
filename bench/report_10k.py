"""Build a report from 10,000 synthetic result rows: time and file size (goal: <= 10 s).

    python bench/report_10k.py [--rows 10000] [--tasks 20] [--out /tmp/report-bench]

The rows are synthetic (random scores, costs and latencies in the stored record shape; nothing here is a
measurement of a model): they only load the report builder the way a long history of sweeps would. 10 % are
fine-tuned models with base cells, 5 % API baselines. No per-sample files, so ranks are by score and there is no
drill-down (per-sample data is bounded per task anyway: drill.MAX_ITEMS). Prints seconds and MB; exit 1 if over.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_S = 10.0


def synthetic(n_rows: int, n_tasks: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    env = {"git": {"commit": "0" * 40, "dirty": False}, "packages": {"lm_eval": "0.4.13"}}
    records = []
    for i in range(n_rows):
        task = f"task_{i % n_tasks:02d}"
        model = f"model-{(i // n_tasks) % 500:03d}"
        kind = rng.random()
        score = rng.random()
        rec = {
            "schema_version": 1, "cell_id": f"{i:040x}", "created_at": "2026-11-23T00:00:00+00:00",
            "model": {"name": model, "display_name": model, "source": "embedded", "n_params": rng.choice([135, 270, 3000, 7000]) * 10**6},
            "finetune": {"method": "none"},
            "task": {"name": task, "version": "1", "content_sha256": "0" * 64, "primary_metric": "acc", "n": 200},
            "eval": {"device": {"kind": "cpu", "name": "cpu", "count": 1}, "seeds": {"python": 1234},
                     "lm_eval_cli": "lm_eval ...", "batch_size": 8},
            "metrics": {"acc": {"value": score, "stderr": (score * (1 - score) / 200) ** 0.5, "n": 200}},
            "primary": {"metric": "acc", "value": score, "stderr": (score * (1 - score) / 200) ** 0.5, "n": 200},
            "timings": {"evaluate_s": 10.0},
            "environment": env,
            "cost": {"per_1k_queries": rng.uniform(0.001, 2.0), "currency": "USD", "training": None},
            "inference": {"latency_s": {"p50": rng.uniform(0.05, 2), "p95": rng.uniform(2, 5)}},
            "hardware": {"profile": "cpu-2vcpu", "price_per_hour": 0.1323, "currency": "USD", "as_of": "2025-08-01"},
        }  # fmt: skip
        if kind < 0.10 and records:  # fine-tuned, on its own base (the previous row of the same task if any)
            base = records[-n_tasks] if len(records) >= n_tasks else records[-1]
            rec["finetune"] = {"method": "lora", "train_task": task, "base_cell_id": base["cell_id"],
                               "data": {"n_domain": rng.choice([100, 300, 1000])},
                               "artifact_id": f"{i:064x}", "seed": 1234,
                               "metering": {"train_seconds": 60.0, "train_tokens": 50_000, "device": {"kind": "cpu"},
                                            "final_train_loss": 1.0, "validation_loss": 1.1}}  # fmt: skip
            rec["cost"]["training"] = rng.uniform(0.01, 5)
        elif kind < 0.15:
            name = f"api-{i % 5}"  # a handful of API baselines, measured again and again
            rec["model"].update(name=name, display_name=name, source="api", provider="openai", n_params=None)
            rec.pop("cost")
            rec["api"] = {"n_requests": 200, "n_answered": 200, "n_failed": 0, "n_from_cache": 0,
                          "usage_source": ["server"],
                          "tokens": {"prompt": 30000, "cached": 0, "completion": 4000, "prompt_per_sample": 150.0,
                                     "completion_per_sample": 20.0},
                          "latency_s": {"p50": 0.8, "p95": 1.9}, "ttft_s": {"p50": 0.3}, "output_tokens_per_s": {"p50": 60.0},
                          "cost": {"currency": "USD", "priced": True, "total": 0.01, "per_sample": 5e-5,
                                   "per_1k_queries": rng.uniform(0.01, 3),
                                   "price": {"currency": "USD", "input_per_1m": 0.15, "cached_input_per_1m": 0.075,
                                             "output_per_1m": 0.6, "as_of": "2025-08-07", "source": "https://openai.com/api/pricing/"}}}  # fmt: skip
            rec["eval"]["transport"] = {"concurrency": 8}
        records.append(rec)
    return records


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=10_000)
    p.add_argument("--tasks", type=int, default=20)
    p.add_argument("--out", default=None)
    a = p.parse_args()
    from harness.report.render import write_report

    records = synthetic(a.rows, a.tasks)
    out = Path(a.out or tempfile.mkdtemp(prefix="report-bench-"))
    started = time.perf_counter()
    path = write_report(records, out, f"Synthetic report: {a.rows} rows")
    seconds = time.perf_counter() - started
    size = path.stat().st_size / 1e6
    result = {"rows": a.rows, "tasks": a.tasks, "seconds": round(seconds, 2), "html_mb": round(size, 2),
              "csv_mb": round((out / "leaderboard.csv").stat().st_size / 1e6, 2), "goal_s": GOAL_S,
              "ratio_to_goal": round(seconds / GOAL_S, 3), "report": str(path)}  # fmt: skip
    print(json.dumps(result, indent=1))
    results = Path(__file__).parent / "results"
    (results / "report_10k.json").write_text(
        json.dumps({k: v for k, v in result.items() if k != "report"}, indent=1) + "\n"
    )
    return 0 if seconds <= GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
