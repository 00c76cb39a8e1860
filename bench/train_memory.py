"""Peak memory and tokens/s of the default job's LoRA training, each run in a fresh process, for both embedded
models (issue 34):
  - before: what the harness did when issue 34 was filed: every position's logits, the batch of 8 in one pass,
    peft's own dropout, glibc's malloc;
  - after: the default job now: logits only where the loss is (harness/finetune/loss.py), one row per pass
    (finetune.micro_batch_size=1, 8 rows per optimizer step as before), LoRA dropout with 1-bit masks
    (harness/finetune/lora_dropout.py), jemalloc when installed, for Python's
    objects too (harness/memory.py);
  - recompute: `after` with finetune.gradient_checkpointing=true (activations recomputed in the backward pass).

    python bench/train_memory.py [--models smollm2-135m gemma3-270m] [--n 64]

Each run is its own Python process: it composes the default job's tuned cell (LoRA, 64 helpdesk_en examples,
batch 8, one epoch, fp32 on the CPU), loads the model and trains it into a temporary artifact folder through the
real finetune stage, then prints
  - peak RSS: the kernel's high-water mark of the process (getrusage ru_maxrss), imports and model included;
  - RSS before training: after imports and the tokenizer, before the model is loaded;
  - the peak the stage itself records (its sampled RSS, harness/finetune/train.py) and its tokens/s;
  - after only: the estimate the run stores (harness/models/footprint.py) / the measured peak RSS.
The two modes run one after the other per model, in the same run, so their ratio is taken on the same machine
state; the loss curves of both are kept (dropout masks are drawn per pass, so they agree closely, not exactly).
Run it on a quiet machine; writes bench/results/train_memory.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "train_memory.json"

CHILD = r"""
import json, os, resource, sys
import psutil
from pathlib import Path
model, n, mode, root = sys.argv[1], int(sys.argv[2]), sys.argv[3], Path(sys.argv[4])
from harness.app.compose import compose_jobs
from harness.models import weights_location
from harness.plan.cells import plan_cell
import harness.finetune.train as train_module
micro = "null" if mode == "before" else "1"
cfg = compose_jobs([f"model={model}", "task=helpdesk_en", "finetune=lora", f"finetune.n_train={n}",
                    f"finetune.micro_batch_size={micro}", f"paths.artifacts={root}",
                    f"finetune.gradient_checkpointing={mode == 'recompute'}"], sweep=False, check=False)[0]
cell = plan_cell(cfg)
base = weights_location(cell.model, cell.cache_dir)
if mode == "before":
    import harness.finetune.lora_dropout as lora_dropout
    train_module.answer_only_supported = lambda m: "bench/train_memory.py: every position's logits"
    lora_dropout.install = lambda m: 0
before = psutil.Process().memory_info().rss
art = train_module.train(cell.train, base, root, "cpu")
m = art.info["metering"]
print("RESULT " + json.dumps({"peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
      "rss_before_model": before, "stage_peak": m["peak_memory_bytes"], "tokens_per_s": m["tokens_per_s"],
      "train_tokens": m["train_tokens"], "train_s": m["train_seconds"], "allocator": m["memory"]["allocator"],
      "estimate": (m["memory"].get("estimate") or {}).get("total"), "loss_curve": m["loss_curve"]}))
"""


def one(model: str, n: int, mode: str) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("LD_PRELOAD", None)
    env.pop("PYTHONMALLOC", None)
    if mode != "before":
        sys.path.insert(0, str(ROOT))
        from harness.memory import jemalloc_path

        if jemalloc_path():  # as the harness process runs (harness/memory.py)
            env.update({"LD_PRELOAD": jemalloc_path(), "PYTHONMALLOC": "malloc"})
    with tempfile.TemporaryDirectory() as tmp:
        p = subprocess.run(
            [sys.executable, "-c", CHILD, model, str(n), mode, tmp], cwd=ROOT, env=env, capture_output=True, text=True
        )
    lines = [line for line in p.stdout.splitlines() if line.startswith("RESULT ")]
    if p.returncode or not lines:
        raise SystemExit(f"{model} {mode} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    ap.add_argument("--n", type=int, default=64)
    a = ap.parse_args()
    load_before = os.getloadavg()
    out: dict = {"date": dt.date.today().isoformat(), "n_examples": a.n, "cpus": os.cpu_count(), "models": {}}
    gib = 1024**3
    for model in a.models:
        runs = {mode: one(model, a.n, mode) for mode in ("before", "after", "recompute")}
        whole, kept, rec = runs["before"], runs["after"], runs["recompute"]
        out["models"][model] = {
            **runs,
            "peak_rss_ratio": round(kept["peak_rss"] / whole["peak_rss"], 3),
            "tokens_per_s_ratio": round(kept["tokens_per_s"] / whole["tokens_per_s"], 3),
            # finetune.gradient_checkpointing against `after`
            "recompute_peak_rss_ratio": round(rec["peak_rss"] / kept["peak_rss"], 3),
            "recompute_tokens_per_s_ratio": round(rec["tokens_per_s"] / kept["tokens_per_s"], 3),
            "estimate_over_measured": round(kept["estimate"] / kept["peak_rss"], 3) if kept["estimate"] else None,
        }
        r = out["models"][model]
        print(
            f"{model}: peak RSS {whole['peak_rss'] / gib:.2f} -> {kept['peak_rss'] / gib:.2f} GiB "
            f"(x{r['peak_rss_ratio']}, {kept['allocator']}), tokens/s {whole['tokens_per_s']:.1f} -> "
            f"{kept['tokens_per_s']:.1f} (x{r['tokens_per_s_ratio']}); estimate / measured {r['estimate_over_measured']}"
            f"; RSS before the model {kept['rss_before_model'] / gib:.2f} GiB; gradient checkpointing: peak "
            f"{rec['peak_rss'] / gib:.2f} GiB (x{r['recompute_peak_rss_ratio']}), tokens/s "
            f"{rec['tokens_per_s']:.1f} (x{r['recompute_tokens_per_s_ratio']})",
            flush=True,
        )
    out["load_average_before"] = [round(x, 2) for x in load_before]
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
