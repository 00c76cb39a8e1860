"""Harness LoRA training throughput vs a plain transformers + peft loop (same model, data, batch, precision).

    python bench/lora_throughput.py [--model smollm2-135m] [--n 64] [--precision fp32|bf16] [--repeats 2]

Both sides train the same LoRA (the harness's conf/finetune/lora.yaml) on the same tokenized helpdesk_en
examples, in the same order, batch 8, one epoch. The harness side is the real finetune stage (Trainer, metering,
checkpoint callback); the plain side is the loop a user would write by hand. Tokens/s counts non-padding tokens.
Prints both figures and harness / plain; the goal is >= 0.95. Exit code 1 when below.
Each side runs `--repeats` times, alternating, and the best of each is compared (2 shared cores are noisy).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def compose(model: str, n: int, precision: str, root: Path):
    from harness.app.compose import compose_jobs

    overrides = [
        f"model={model}",
        "task=helpdesk_en",
        "finetune=lora",
        f"finetune.n_train={n}",
        "finetune.epochs=1",
        f"finetune.precision={precision}",
        "finetune.val_examples=0",
        "finetune.save_steps=100000",
        f"paths.artifacts={root}",
    ]
    return compose_jobs(overrides, sweep=False, check=False)[0]


def harness_side(cell, base: str, root: Path) -> tuple[float, int, float]:
    from harness.finetune.train import train

    art = train(cell.train, base, root, "cpu")
    m = art.info["metering"]
    return m["tokens_per_s"], m["train_tokens"], m["train_seconds"]


def plain_side(cell, base: str) -> tuple[float, int, float]:
    import torch
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from harness.finetune.data import build_examples
    from harness.finetune.loss import collate as make_collate
    from harness.finetune.train import _as_rows

    f = cell.finetune
    tok = AutoTokenizer.from_pretrained(base)
    rows = _as_rows(
        build_examples(cell.train.train_task, tok, cell.train.chat_template, f.n_train, f.seed, f.max_length)
    )
    torch.manual_seed(f.seed)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    model.config.use_cache = False
    model = get_peft_model(
        model,
        LoraConfig(
            task_type=TaskType.CAUSAL_LM,
            r=f.lora.r,
            lora_alpha=f.lora.alpha,
            lora_dropout=f.lora.dropout,
            target_modules="all-linear",
        ),
    )
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=f.learning_rate)
    # right-padded, every position's logits: the loop a user writes by hand
    collate = make_collate(tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id, False)
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(f.seed)).tolist()
    batches = [collate([rows[i] for i in order[k : k + f.batch_size]]) for k in range(0, len(order), f.batch_size)]
    tokens = sum(int(b["attention_mask"].sum()) for b in batches)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=f.precision == "bf16")
    started = time.perf_counter()
    for batch in batches:
        with autocast:
            loss = model(**batch).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - started
    return tokens / seconds, tokens, seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "lora_throughput.json")
    a = ap.parse_args()

    import torch

    from harness.models import weights_location
    from harness.plan.cells import plan_cell

    h_runs, p_runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(a.repeats):
            root = Path(tmp) / f"run{i}"  # a fresh artifact folder: the harness must train, not reuse
            cell = plan_cell(compose(a.model, a.n, a.precision, root))
            base = weights_location(cell.model, cell.cache_dir)
            p_runs.append(plain_side(cell, base))
            h_runs.append(harness_side(cell, base, root))
            print(
                f"run {i + 1}: plain {p_runs[-1][0]:.1f} tokens/s, harness {h_runs[-1][0]:.1f} tokens/s",
                flush=True,
            )
    h, p = max(h_runs), max(p_runs)
    ratio = h[0] / p[0]
    result = {
        "model": a.model,
        "n_examples": a.n,
        "batch_size": 8,
        "precision": a.precision,
        "repeats": a.repeats,
        "device": "cpu",
        "threads": torch.get_num_threads(),
        "harness": {"tokens_per_s": round(h[0], 2), "tokens": h[1], "seconds": round(h[2], 2)},
        "plain_loop": {"tokens_per_s": round(p[0], 2), "tokens": p[1], "seconds": round(p[2], 2)},
        "ratio": round(ratio, 3),
        "goal": 0.95,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"harness LoRA: {h[0]:.1f} tokens/s ({h[1]} tokens in {h[2]:.1f} s)")
    print(f"plain loop:   {p[0]:.1f} tokens/s ({p[1]} tokens in {p[2]:.1f} s)")
    print(f"ratio harness / plain = {ratio:.3f} (goal >= 0.95) -> {a.out}")
    sys.exit(0 if ratio >= 0.95 else 1)


if __name__ == "__main__":
    main()
