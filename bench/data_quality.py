"""What data quality buys against data quantity, on the embedded model (issue 20): score of SmolLM2-135M LoRA-tuned
on helpdesk_en with 0 / 20 / 50 % label noise (sweep=data-quality), and tuned on a set the stand-in teacher wrote
beside the same number of the task's own examples. Prints each score with its Wilson 95 % interval and as a ratio
to the clean task-data score of the same run; writes bench/results/data_quality.{json,txt}.

    .venv/bin/python bench/data_quality.py [--limit 100] [--n 32] [--store /tmp/dq]

Real parts throughout: the teacher is `transformers serve`, training is peft LoRA, scoring is lm-eval. Takes
about 15-20 minutes on a quiet 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HARNESS = str(Path(sys.executable).with_name("harness"))
TRAIN = [
    "model=smollm2-135m",
    "finetune=lora",
    "task=helpdesk_en",
    "baseline=none",
    "finetune.epochs=1",
    "finetune.learning_rate=3e-3",
    "finetune.val_examples=16",
    "finetune.precision=auto",
]


def run(*args: str) -> str:
    done = subprocess.run([HARNESS, *args], cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"harness {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


def wilson(k: float, n: int) -> tuple[float, float]:
    z, p = 1.959964, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--limit", type=int, default=100, help="helpdesk_en test items scored")
    p.add_argument("--n", type=int, default=32, help="teacher requests for the synthetic set")
    p.add_argument("--store", default="/tmp/harness-bench-data-quality")
    a = p.parse_args()
    store = Path(a.store)
    paths = [
        f"paths.results={store / 'results'}",
        f"paths.artifacts={store / 'artifacts'}",
        f"paths.reports={store / 'reports'}",
    ]
    run("sweep=data-quality", f"task.limit={a.limit}", *paths)
    run(
        "data",
        "synth",
        "task=helpdesk_en",
        "teacher=local-smollm2",
        f"data.n={a.n}",
        "data.mode=rewrite",
        "data.max_tokens=64",
        *paths,
    )
    sets = [json.loads(f.read_text()) for f in (store / "results" / "datasets").glob("*/dataset.json")]
    (ds,) = [d for d in sets if d["identity"]["n"] == a.n]
    kept = ds["counts"]["kept"]
    common = [*TRAIN, f"task.limit={a.limit}", *paths]
    run(*common, f"finetune.train_data={ds['dataset_id'][:8]}")
    run(*common, f"finetune.n_train={kept}")
    rows = []
    for f in sorted((store / "results" / "records").glob("*.json")):
        r = json.loads(f.read_text())
        if r["task"]["name"] != "helpdesk_en" or r["task"]["n"] != a.limit:
            continue
        ft = r["finetune"]
        td = ft.get("train_data") or {}
        score = r["primary"]["value"]
        lo, hi = wilson(score * a.limit, a.limit)
        rows.append(
            {
                "variant": "base" if ft["method"] == "none" else td["label"],
                "n_train": (ft.get("data") or {}).get("n_domain", 0),
                "label_noise": td.get("label_noise"),
                "n_corrupted": td.get("n_corrupted"),
                "score": score,
                "ci95": [round(lo, 4), round(hi, 4)],
                "training_data_cost": (r.get("cost") or {}).get("training_data"),
                "cell_id": r["cell_id"],
            }
        )
    clean = next(r["score"] for r in rows if r["label_noise"] == 0 and r["n_train"] == 64)
    for r in rows:
        r["ratio_to_clean_64"] = round(r["score"] / clean, 3) if clean else None
    rows.sort(key=lambda r: (r["variant"] != "base", r["variant"], r["n_train"], r["label_noise"] or 0))
    out = {
        "task": "helpdesk_en",
        "metric": "contains",
        "items": a.limit,
        "model": "smollm2-135m",
        "method": "lora",
        "dataset": {
            "id": ds["dataset_id"],
            "counts": ds["counts"],
            "cost": ds["cost"]["total"],
            "currency": ds["cost"]["currency"],
            "teacher": ds["teacher"]["name"],
        },
        "rows": rows,
    }
    lines = [
        f"helpdesk_en, first {a.limit} test items, contains; SmolLM2-135M LoRA 1 epoch",
        f"synthetic set {ds['dataset_id'][:8]}: {kept} of {a.n} kept, {ds['cost']['total']:.6f} "
        f"{ds['cost']['currency']} (stand-in price)",
        "",
        f"{'training data':32s} {'n':>4s} {'noise':>6s} {'score':>6s} {'95% interval':>16s} {'/clean64':>9s}",
    ]
    for r in rows:
        noise = "-" if r["label_noise"] is None else f"{r['label_noise']:.0%}"
        lines.append(
            f"{r['variant']:32s} {r['n_train']:>4d} {noise:>6s} {r['score']:>6.3f} "
            f"[{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}] {r['ratio_to_clean_64']:>9}"
        )
    text = "\n".join(lines)
    print(text)
    res = ROOT / "bench" / "results"
    (res / "data_quality.json").write_text(json.dumps(out, indent=2) + "\n")
    (res / "data_quality.txt").write_text(text + "\n")


if __name__ == "__main__":
    main()
