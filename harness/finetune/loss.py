"""Logits only where the loss reads them.

A causal LM's output layer projects every position onto the whole vocabulary (49,152 entries for SmolLM2, 262,144
for Gemma-3, 151,936 for Qwen), in fp32, then soft-maxes and back-propagates it, although a fine-tuning loss reads
only the answer tokens. Measured on this project's 2-core CPU, one LoRA step of 8 x 170 tokens with 25 answer
tokens a row: Gemma-3-270M 21.5 s with every position's logits, 6.5 s with the answer's only; SmolLM2-135M 7.1 s
and 5.7 s; the same loss to 1e-6.

How: batches are padded on the left, so every row's answer sits in the batch's last K positions, and the model is
asked for its last K logits only (`logits_to_keep`, which every transformers 5 causal LM takes and applies before
its own output processing, softcapping included). Position ids count from each row's first real token, so each
row is computed exactly as it is right-padded. The loss is transformers' own causal-LM loss on those K positions
(the same shift, sum and normalisation over the batch's answer tokens).

Two cases keep the whole-sequence loss on right-padded batches, and the log says so: a model whose forward takes
no `logits_to_keep` or `position_ids` (the legacy runtime's transformers 4.33, remote code), and peft's prefix
methods (P-tuning v2): peft drops position ids there, and the learned prefix keys carry no rotary position, so a
row's attention to its prefix depends on where its tokens sit; left padding would move them (measured: loss 8.88
instead of 8.12 on SmolLM2).
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from harness.finetune.data import IGNORE

log = logging.getLogger(__name__)


def answer_only_supported(model: Any) -> str | None:
    """Why the answer-only loss cannot be used with this (possibly peft-wrapped) model; None when it can."""
    from transformers import Trainer

    if "compute_loss_func" not in inspect.signature(Trainer.__init__).parameters:
        return "this transformers' Trainer takes no compute_loss_func"
    config = getattr(model, "peft_config", {}).get("default")
    if getattr(config, "is_prompt_learning", False):
        return "a prefix (P-tuning v2) would meet left-padded tokens at other positions"
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(base.forward).parameters
    missing = [p for p in ("logits_to_keep", "position_ids") if p not in params]
    if missing:
        return f"{type(base).__name__}.forward takes no {' or '.join(missing)}"
    return None


def collate(pad_id: int, answer_only: bool):
    """Batches of {input_ids, labels}: right-padded with the whole sequence's loss, or left-padded with
    `logits_to_keep` covering every labelled position of the batch (see the module's docstring)."""
    import torch

    def right(batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        width = max(len(b["input_ids"]) for b in batch)
        ids = [b["input_ids"] + [pad_id] * (width - len(b["input_ids"])) for b in batch]
        labels = [b["labels"] + [IGNORE] * (width - len(b["labels"])) for b in batch]
        mask = [[1] * len(b["input_ids"]) + [0] * (width - len(b["input_ids"])) for b in batch]
        return {
            "input_ids": torch.tensor(ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
        }

    def left(batch: list[dict[str, list[int]]]) -> dict[str, Any]:
        width = max(len(b["input_ids"]) for b in batch)
        pads = [width - len(b["input_ids"]) for b in batch]
        labels = [[IGNORE] * p + b["labels"] for b, p in zip(batch, pads, strict=True)]
        # the first labelled position; the logit before it predicts it, so keep from there to the end
        first = min((i for row in labels for i, x in enumerate(row) if x != IGNORE), default=width - 1)
        out = {
            "input_ids": torch.tensor([[pad_id] * p + b["input_ids"] for b, p in zip(batch, pads, strict=True)]),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor([[0] * p + [1] * (width - p) for p in pads]),
            "logits_to_keep": width - max(first - 1, 0),
            "position_ids": torch.tensor([[0] * p + list(range(width - p)) for p in pads]),
        }
        return out

    return left if answer_only else right


def answer_loss(outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
    """transformers' causal-LM loss on the kept last K positions (Trainer's compute_loss_func)."""
    from transformers.loss.loss_utils import ForCausalLMLoss

    logits = outputs.logits
    kept = logits.shape[1]
    return ForCausalLMLoss(
        logits, labels[:, -kept:], vocab_size=logits.shape[-1], num_items_in_batch=num_items_in_batch
    )
