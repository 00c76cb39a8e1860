"""Chunked cross-entropy (finetune.loss_chunk_mb, harness/finetune/loss.py) on one long answer: the memory and
time of one LoRA forward/backward pass of Gemma-3-270M (vocabulary 262,144) with the answer's logits whole, and
a chunk of them at a time, each in a fresh process, in the same run (issue 34).

    python bench/chunked_loss.py [--model gemma3-270m] [--answer 1024] [--chunk-mb 64]

The row is real helpdesk_en text: the training examples' answers joined until there are --answer tokens, behind
the first example's prompt (at most 64 tokens; the loss reads the answer only). Each process loads the model, computes one pass with
finetune.loss_chunk_mb=0 (whole) or --chunk-mb, and prints
  - pass peak: the process's peak resident memory during the pass (the kernel's high-water mark, reset just
    before it), minus what it held before the pass;
  - seconds of the pass, and its loss (the two must agree to fp32 rounding).
Run it on a quiet machine; writes bench/results/chunked_loss.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "chunked_loss.json"

CHILD = r"""
import json, sys, time
from pathlib import Path
import torch
model, answer_len, chunk_mb = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
from transformers import AutoTokenizer
from harness.app.compose import compose_jobs
from harness.finetune.data import IGNORE
from harness.finetune.data import build_examples
from harness.finetune.loss import AnswerLoss, collate, probe_row
from harness.finetune.train import _load_model, _wrap
from harness.models import weights_location
from harness.plan.cells import plan_cell

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024

cfg = compose_jobs([f"model={model}", "task=helpdesk_en", "finetune=lora"], sweep=False, check=False)[0]
cell = plan_cell(cfg)
base = weights_location(cell.model, cell.cache_dir)
tok = AutoTokenizer.from_pretrained(base)
examples = build_examples(cell.train.train_task, tok, cell.train.chat_template, None, 1234, 512)
answers = [t for e in examples for t in e.labels if t != IGNORE]
while len(answers) < answer_len:
    answers = answers + answers
prompt = [t for t, y in zip(examples[0].input_ids, examples[0].labels) if y == IGNORE][:64]
answer = answers[:answer_len]
row = {"input_ids": prompt + answer, "labels": [IGNORE] * len(prompt) + answer}
torch.manual_seed(0)
wrapped = _wrap(_load_model(cell.train, base, "fp32", "cpu"), cell.train)
wrapped.train()
pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
batch = collate(pad, True)([row])
loss_fn = AnswerLoss(int(chunk_mb * 2**20))
why = loss_fn.install(wrapped, collate(pad, True)([probe_row(row["input_ids"])])) if chunk_mb > 0 else "whole"
labels = batch.pop("labels")
n = (labels[:, 1:] != IGNORE).sum()
torch.manual_seed(1)
before = status("VmRSS")
Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
t0 = time.perf_counter()
loss = loss_fn(wrapped(**batch), labels, num_items_in_batch=n)
loss.backward()
seconds = time.perf_counter() - t0
print("RESULT " + json.dumps({"pass_peak": status("VmHWM") - before, "rss_before": before, "seconds": seconds,
      "loss": loss.item(), "chunked_passes": loss_fn.chunked_passes, "why_not": why,
      "chunk_positions": loss_fn.chunk_positions() if chunk_mb > 0 and why is None else None,
      "answer_tokens": len(answer), "vocab": wrapped.get_output_embeddings().out_features}))
"""


def one(model: str, answer: int, chunk_mb: float) -> dict:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    p = subprocess.run(
        [sys.executable, "-c", CHILD, model, str(answer), str(chunk_mb)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    lines = [line for line in p.stdout.splitlines() if line.startswith("RESULT ")]
    if p.returncode or not lines:
        raise SystemExit(
            f"{model} chunk_mb={chunk_mb} failed ({p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}"
        )
    return json.loads(lines[-1].removeprefix("RESULT "))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--answer", type=int, default=1024, help="answer tokens (the positions the loss reads)")
    ap.add_argument("--chunk-mb", type=float, default=64.0)
    a = ap.parse_args()
    load_before = os.getloadavg()
    whole, chunked = one(a.model, a.answer, 0), one(a.model, a.answer, a.chunk_mb)
    if chunked["chunked_passes"] != 1:
        raise SystemExit(f"the chunked run did not chunk: {chunked['why_not']}")
    gib = 1024**3
    out = {
        "date": dt.date.today().isoformat(),
        "model": a.model,
        "cpus": os.cpu_count(),
        "whole": whole,
        "chunked": {**chunked, "chunk_mb": a.chunk_mb},
        "pass_peak_ratio": round(chunked["pass_peak"] / whole["pass_peak"], 3),
        "seconds_ratio": round(chunked["seconds"] / whole["seconds"], 3),
        "loss_rel_diff": abs(chunked["loss"] - whole["loss"]) / abs(whole["loss"]),
        "load_average_before": [round(x, 2) for x in load_before],
    }
    print(
        f"{a.model}, {whole['answer_tokens']} answer tokens x {whole['vocab']} vocabulary: pass peak "
        f"{whole['pass_peak'] / gib:.2f} -> {chunked['pass_peak'] / gib:.2f} GiB (x{out['pass_peak_ratio']}), "
        f"{whole['seconds']:.1f} -> {chunked['seconds']:.1f} s (x{out['seconds_ratio']}), "
        f"{chunked['chunk_positions']} positions a chunk; loss {whole['loss']:.6f} / {chunked['loss']:.6f}"
    )
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    print(OUT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
