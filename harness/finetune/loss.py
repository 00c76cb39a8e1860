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

When the kept logits of one pass are still large (long answers, a large vocabulary: 1,024 answer tokens of
Gemma-3 are 1 GiB of fp32 logits, and as much again for their gradient), `AnswerLoss` computes the loss a chunk of
positions at a time (chunked cross-entropy): the model's output layer receives only the last position, the hidden
states of the answer positions are kept, and each chunk's logits are made, scored and dropped, then made again in
the backward pass (activation checkpointing per chunk), so the loss's memory is one chunk's whatever the answer's
length. The output layer and what follows it (Gemma's softcapping) are checked once against the model's own logits
before the first chunked pass; a model that computes its logits otherwise keeps them whole, and the log says so.

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


def _softcap(config: Any):
    """What follows the output layer in the model's forward, as far as the harness knows it: Gemma's softcapping."""
    cap = getattr(config, "final_logit_softcapping", None)
    if not cap:
        return lambda logits: logits
    import torch

    return lambda logits: torch.tanh(logits / cap) * cap


class AnswerLoss:
    """`answer_loss`, in chunks of positions when one pass's kept logits would exceed `chunk_bytes` (module
    docstring). Use: `install(model, probe)` before training, pass the object as Trainer's compute_loss_func,
    `remove()` after. `chunked_passes` counts the passes computed in chunks."""

    def __init__(self, chunk_bytes: int) -> None:
        self.chunk_bytes = chunk_bytes
        self.head: Any = None
        self.post: Any = None
        self.kept: Any = None  # hidden states of the answer positions, from the output layer's pre-hook
        self.capture = False  # the install check: keep the hidden states and let the forward go on whole
        self.chunked_passes = 0
        self.why_not: str | None = "not installed"
        self._hook: Any = None

    def chunk_positions(self) -> int:
        return max(1, self.chunk_bytes // (4 * self.vocab))

    def install(self, model: Any, probe: dict[str, Any]) -> str | None:
        """Hooks the output layer after checking, on the `probe` batch (collate's), that its output passed
        through `_softcap` is the model's logits. Returns why chunking is off (and leaves nothing hooked)."""
        import torch

        head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        vocab = getattr(head, "out_features", None) or getattr(getattr(head, "weight", None), "shape", [None])[0]
        if head is None or not vocab:
            return self._off(f"{type(model).__name__} names no output layer (get_output_embeddings)")
        self.head, self.vocab, self.post = head, int(vocab), _softcap(model.config)
        self._hook = head.register_forward_pre_hook(self._pre_hook)
        self.capture = True
        was_training = model.training
        try:
            model.eval()
            with torch.no_grad():
                probe = {k: v for k, v in probe.items() if k != "labels"}
                logits = model(**probe).logits.float()
                mine = self.post(head(self.kept)).float() if self.kept is not None else None
        finally:
            self.capture, self.kept = False, None
            model.train(was_training)
        if mine is None or mine.shape != logits.shape:
            return self._off("its output layer does not receive the kept positions' hidden states")
        worst = float((mine - logits).abs().max())
        if worst > 1e-4 * max(1.0, float(logits.abs().max())):
            return self._off(f"its logits are not the output layer's (differ by up to {worst:.3g}; another head)")
        self.why_not = None
        return None

    def _off(self, why: str) -> str:
        self.remove()
        self.why_not = why
        return why

    def remove(self) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def _pre_hook(self, module: Any, args: tuple) -> tuple | None:
        hidden, self.kept = args[0], None
        if self.capture:
            self.kept = hidden
            return None
        if hidden.dim() != 3 or hidden.shape[0] * hidden.shape[1] * self.vocab * 4 <= self.chunk_bytes:
            return None
        self.kept = hidden  # the loss computes the logits from these; the forward makes the last position's only
        return (hidden[:, -1:, :], *args[1:])

    def __call__(self, outputs: Any, labels: Any, num_items_in_batch: Any = None) -> Any:
        if self.kept is None:
            return answer_loss(outputs, labels, num_items_in_batch)
        hidden, self.kept = self.kept, None
        self.chunked_passes += 1
        return chunked_loss(hidden, labels, self.head, self.post, self.chunk_positions(), num_items_in_batch)


def probe_row(input_ids: list[int], tokens: int = 32, answer: int = 4) -> dict[str, list[int]]:
    """A short row for AnswerLoss.install's check: the first `tokens` ids, the last `answer` of them labelled (the
    check computes the model's own logits of the labelled positions, so it stays small whatever the answers)."""
    ids = list(input_ids[:tokens])
    keep = min(answer, len(ids) - 1)
    return {"input_ids": ids, "labels": [IGNORE] * (len(ids) - keep) + ids[len(ids) - keep :]}


def chunked_loss(hidden: Any, labels: Any, head: Any, post: Any, chunk: int, num_items_in_batch: Any = None) -> Any:
    """`answer_loss` from the kept positions' hidden states [B, K, H], `chunk` labelled positions at a time,
    each chunk's logits recomputed in the backward pass instead of kept: the same shift (position t scores the
    label at t+1), sum and normalisation as transformers' causal-LM loss."""
    import torch
    import torch.nn.functional as F
    from torch.utils.checkpoint import checkpoint

    kept = hidden.shape[1]
    targets = labels[:, -kept:][:, 1:]
    scored = targets != IGNORE
    states, targets = hidden[:, :-1][scored], targets[scored]  # only the positions the loss reads

    def part(h: Any, t: Any) -> Any:
        return F.cross_entropy(post(head(h)).float(), t, reduction="sum")

    total = states[:0].sum().float()  # zero, in the graph even when no position is labelled
    for i in range(0, targets.shape[0], chunk):
        total = total + checkpoint(part, states[i : i + chunk], targets[i : i + chunk], use_reentrant=False)
    if num_items_in_batch is None:
        return total / max(int(targets.shape[0]), 1)
    if torch.is_tensor(num_items_in_batch):
        num_items_in_batch = num_items_in_batch.to(total.device)
    return total / num_items_in_batch
