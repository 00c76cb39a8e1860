"""How much memory a cell needs, from the model's architecture: an estimate, stated as one, that the preflight
compares with the device and that each trained artifact stores next to its measured peak (issue 34).

    total = runtime + weights + trainable state + activations + output layer

- runtime: what the libraries hold before any model is loaded; on a CPU the peak is the process's RSS, which
  counts them (0.55-0.6 GB measured for torch, transformers, peft and lm-eval on this project's machine); a GPU's
  allocator peak does not.
- weights: parameters x the bytes of the dtype they are loaded in.
- trainable state: the trained parameters' fp32 copy, gradient and two AdamW moments (16 bytes each); for full
  fine-tuning in half precision that is every parameter.
- activations: what autograd keeps for the backward pass, per token of one forward/backward pass (a micro-batch)
  and per layer: ACTIVATION_FLOATS x (hidden + intermediate + query width + 2 x key/value width) floats. The factor
  was measured with saved-tensor hooks on both embedded models (LoRA on every linear, 1-bit dropout masks): 3.3
  on SmolLM2-135M, 3.9 on Gemma-3-270M. With gradient checkpointing: each layer's input (hidden floats per token)
  plus one layer's activations.
- output layer: the logits the loss reads (the answer tokens of a pass, or every token where the model cannot
  keep only those; one chunk of them with chunked cross-entropy), their log-softmax and its gradient: 3 x
  positions x vocabulary x 4 bytes. This is the term
  that grows with the vocabulary (49,152 for SmolLM2, 262,144 for Gemma-3, 151,936 for Qwen).

Evaluation: runtime + weights + lm-eval's log-likelihood logits, batch x context x vocabulary x 4 bytes, twice
(the logits and their log-softmax).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GIB = 1024**3
CPU_RUNTIME_BYTES = int(0.6 * GIB)
ACTIVATION_FLOATS = 3.6
ADAMW_BYTES = 16  # fp32 weight copy, gradient, two moments


@dataclass(frozen=True)
class Architecture:
    vocab: int
    hidden: int
    layers: int
    intermediate: int
    q_width: int  # attention heads x head dim
    kv_width: int  # key/value heads x head dim

    @property
    def per_layer_width(self) -> int:
        return self.hidden + self.intermediate + self.q_width + 2 * self.kv_width


def architecture(folder: str | Path | None) -> Architecture | None:
    """The sizes from a model folder's config.json (a text config inside a multimodal one); None when there is
    no readable one (the estimate then falls back to a factor of the weights)."""
    if folder is None:
        return None
    try:
        c = json.loads((Path(folder).expanduser() / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    c = c.get("text_config") or c
    try:
        hidden, heads = int(c["hidden_size"]), int(c["num_attention_heads"])
        head_dim = int(c.get("head_dim") or hidden // heads)
        return Architecture(
            vocab=int(c["vocab_size"]),
            hidden=hidden,
            layers=int(c["num_hidden_layers"]),
            intermediate=int(c.get("intermediate_size") or 4 * hidden),
            q_width=heads * head_dim,
            kv_width=int(c.get("num_key_value_heads") or heads) * head_dim,
        )
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None


def lora_params(a: Architecture, r: int) -> int:
    """LoRA on every linear of every layer: r x (in + out) for q, k, v, o, gate, up and down."""
    h, i = a.hidden, a.intermediate
    per_layer = (h + a.q_width) * 2 + (h + a.kv_width) * 2 + (h + i) * 3
    return r * per_layer * a.layers


def training_bytes(
    a: Architecture,
    n_params: int,
    weight_bytes: float,
    method: str,
    tokens_per_pass: int,
    logit_positions: int,
    device_kind: str,
    lora_r: int = 8,
    checkpointing: bool = False,
) -> dict[str, int]:
    """Each term of the estimate and their total (bytes). `checkpointing`: gradient checkpointing keeps each
    layer's input and one layer's activations at a time (the one being recomputed)."""
    trained = n_params if method == "full" else lora_params(a, lora_r) if method in ("lora", "qlora") else 0
    layer = tokens_per_pass * ACTIVATION_FLOATS * a.per_layer_width * 4
    activations = tokens_per_pass * a.layers * a.hidden * 4 + layer if checkpointing else layer * a.layers
    terms = {
        "runtime": CPU_RUNTIME_BYTES if device_kind == "cpu" else 0,
        "weights": int(n_params * weight_bytes),
        "trainable_state": int(trained * ADAMW_BYTES),
        "activations": int(activations),
        "output_layer": int(3 * logit_positions * a.vocab * 4),
    }
    return {**terms, "total": sum(terms.values())}


def evaluation_bytes(
    a: Architecture, n_params: int, weight_bytes: float, batch: int, context: int, device_kind: str
) -> dict[str, int]:
    terms = {
        "runtime": CPU_RUNTIME_BYTES if device_kind == "cpu" else 0,
        "weights": int(n_params * weight_bytes),
        "output_layer": int(2 * batch * context * a.vocab * 4),
    }
    return {**terms, "total": sum(terms.values())}


def describe(terms: dict[str, Any]) -> str:
    parts = ", ".join(f"{k.replace('_', ' ')} {v / GIB:.2f}" for k, v in terms.items() if k != "total" and v)
    return f"{terms['total'] / GIB:.1f} GiB ({parts} GiB)"
