"""GPU training figures on a 7B-*shaped* model with random weights (no download): LoRA tokens/s and MFU, and
peak memory of LoRA vs QLoRA vs full fine-tuning.

    python bench/gpu_7b_shape.py [--peak-tflops 989] [--seq 512] [--batch 4] [--steps 10]
    python bench/gpu_7b_shape.py --shape tiny   # the same code path on a CPU, in seconds (a smoke test)

Shape: Llama-2-7B (hidden 4096, 32 layers, 32 heads, MLP 11008, vocab 32000), bf16. Random weights give the
real compute and memory profile; the loss value means nothing. MFU = achieved FLOP/s / the device's peak dense
bf16 FLOP/s (--peak-tflops: 989 for H100 SXM; set yours). FLOPs per token: 6N for full fine-tuning (forward 2N,
backward 4N), 4N for LoRA/QLoRA (frozen weights need no weight gradients: forward 2N + activation gradients 2N);
N = base parameters, attention's sequence-length term ignored (small at 512 tokens). Peak memory is
torch.cuda.max_memory_allocated. A method that runs out of memory is recorded as such, not hidden.
Writes bench/results/gpu_7b_shape.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
from pathlib import Path

SHAPES = {
    "7b": {
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32000,
    },
    "tiny": {
        "hidden_size": 128,
        "intermediate_size": 344,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 4,
        "vocab_size": 1000,
    },
}


def build(shape: str, method: str, device: str, tmp: Path):
    import torch
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, LlamaConfig

    config = LlamaConfig(**SHAPES[shape], max_position_embeddings=4096)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if method == "qlora":
        from transformers import BitsAndBytesConfig

        folder = tmp / f"random-{shape}"
        if not folder.exists():  # 4-bit loading quantizes while reading a checkpoint: write the random one once
            with torch.device("cuda"):
                AutoModelForCausalLM.from_config(config, dtype=dtype).save_pretrained(folder)
            gc.collect()
            torch.cuda.empty_cache()
        quant = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype
        )
        model = AutoModelForCausalLM.from_pretrained(folder, quantization_config=quant, device_map={"": 0}, dtype=dtype)
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    else:
        with torch.device(device):
            model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    n_params = sum(p.numel() for p in model.parameters())
    if method in ("lora", "qlora"):
        model = get_peft_model(
            model,
            LoraConfig(
                task_type="CAUSAL_LM", r=8 if method == "lora" else 64, lora_alpha=16, target_modules="all-linear"
            ),
        )
    model.config.use_cache = False
    return model, n_params, config


def measure(shape: str, method: str, device: str, seq: int, batch: int, steps: int, tmp: Path) -> dict:
    import torch

    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    try:
        model, n_params, config = build(shape, method, device, tmp)
        if method == "qlora":  # the base's 4-bit weights count as 0.5 bytes each, not as parameters of N
            n_params = (
                config.num_hidden_layers
                * (4 * config.hidden_size**2 + 3 * config.hidden_size * config.intermediate_size)
                + 2 * config.vocab_size * config.hidden_size
            )
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        ids = torch.randint(0, config.vocab_size, (batch, seq), device=device)
        times = []
        for _ in range(steps + 2):  # two warm-up steps (kernels, allocator) are not timed
            if device == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            model(input_ids=ids, labels=ids).loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if device == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
        per_step = sum(times[2:]) / steps
        tokens_per_s = batch * seq / per_step
        k = 6 if method == "full" else 4
        out = {
            "status": "ok",
            "n_params": n_params,
            "tokens_per_s": round(tokens_per_s, 1),
            "flops_per_token": f"{k}N",
            "achieved_tflops": round(k * n_params * tokens_per_s / 1e12, 2),
        }
        if device == "cuda":
            out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
        del model, opt
    except torch.OutOfMemoryError as e:
        out = {"status": "out of memory", "detail": str(e).split("\n")[0][:200]}
        if device == "cuda":
            out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shape", default="7b", choices=sorted(SHAPES))
    ap.add_argument("--methods", default="lora,qlora,full")
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--peak-tflops", type=float, default=989.0, help="device peak dense bf16 TFLOP/s (H100 SXM: 989)")
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "gpu_7b_shape.json")
    a = ap.parse_args()

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and a.shape != "tiny":
        raise SystemExit("no CUDA device here: the 7B shape needs a GPU (use --shape tiny to smoke-test on a CPU)")
    results = {
        "shape": a.shape,
        "seq": a.seq,
        "batch": a.batch,
        "steps": a.steps,
        "device": device,
        "device_name": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "peak_tflops": a.peak_tflops,
        "methods": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for method in a.methods.split(","):
            if method == "qlora" and device != "cuda":
                results["methods"][method] = {"status": "skipped: needs CUDA"}
                continue
            r = measure(a.shape, method, device, a.seq, a.batch, a.steps, Path(tmp))
            if "achieved_tflops" in r and device == "cuda":
                r["mfu"] = round(r["achieved_tflops"] / a.peak_tflops, 4)
            results["methods"][method] = r
            print(method, json.dumps(r), flush=True)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"-> {a.out}")


if __name__ == "__main__":
    main()
