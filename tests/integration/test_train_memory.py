"""Training memory on the embedded models' real weights (issue 34): LoRA's dropout with a 1-byte mask
(harness/finetune/lora_dropout.py) gives the same loss and gradients as peft's own dropout, bit for bit, with the
same masks; a batch computed in micro-batches (finetune.micro_batch_size) gives the batch's loss and gradients."""

from __future__ import annotations

import copy

import pytest
import torch

from harness.finetune import lora_dropout
from harness.finetune.data import IGNORE
from harness.finetune.loss import answer_loss, collate
from tests.integration.test_finetune_loss import _batch_and_model


def _step(model, batch: dict) -> tuple[float, dict]:
    model.zero_grad()
    labels = batch["labels"]
    n = (labels[:, 1:] != IGNORE).sum()
    loss = answer_loss(model(**{k: v for k, v in batch.items() if k != "labels"}), labels, num_items_in_batch=n)
    loss.backward()
    return loss.item(), {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}


def _nonzero_b(model) -> None:
    """LoRA's B starts at zero, which would hide the masks from the loss and leave A's gradient zero."""
    torch.manual_seed(3)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.02)


@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_the_fused_lora_dropout_equals_peft_s_own(model, request, monkeypatch):
    folder = request.getfixturevalue("smol_dir" if model.startswith("smol") else "gemma_dir")
    with monkeypatch.context() as m:  # the trainer's wrap fuses; the reference keeps peft's own dropout
        m.setattr(lora_dropout, "install", lambda model: 0)
        rows, peft_model, pad = _batch_and_model(model, "lora", folder)
    assert sum(isinstance(m, torch.nn.Dropout) for m in peft_model.modules()) == 7 * (30 if "smol" in model else 18)
    _nonzero_b(peft_model)
    fused_model = copy.deepcopy(peft_model)
    n = lora_dropout.install(fused_model)
    layers = 30 if model.startswith("smol") else 18
    assert n == 7 * layers  # q, k, v, o, gate, up, down in every layer
    assert sum(isinstance(m, torch.nn.Dropout) for m in fused_model.modules()) == 0
    batch = collate(pad, answer_only=True)(rows)
    results = []
    for m in (peft_model, fused_model):
        m.train()  # dropout on: p = 0.05 from conf/finetune/lora.yaml
        torch.manual_seed(7)
        results.append(_step(m, dict(batch)))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert loss_a == loss_b
    assert grads_a.keys() == grads_b.keys() and len(grads_a) == 2 * 7 * layers
    assert all(torch.equal(grads_a[k], grads_b[k]) for k in grads_a)
    assert all(g.abs().sum() > 0 for g in grads_b.values())
    # and the masks were really drawn: another seed gives another loss
    torch.manual_seed(8)
    assert _step(fused_model, dict(batch))[0] != pytest.approx(loss_b, rel=1e-4)
    # the saved adapter is peft's: same keys, and the config still says dropout 0.05
    assert fused_model.state_dict().keys() == peft_model.state_dict().keys()
    assert fused_model.peft_config["default"].lora_dropout == 0.05


def test_micro_batches_add_up_to_the_batch(smol_dir):
    """Three rows at once, and the same rows one by one with the batch's answer-token count (what Trainer passes
    as num_items_in_batch under gradient accumulation): the same loss and gradients within float32 rounding."""
    rows, model, pad = _batch_and_model("smollm2-135m", "lora", smol_dir)
    _nonzero_b(model)
    model.eval()  # dropout draws other masks for other shapes; without it the two must agree
    whole_loss, whole = _step(model, collate(pad, answer_only=True)(rows))
    n = sum(sum(1 for x in r["labels"][1:] if x != IGNORE) for r in rows)
    total, summed = 0.0, None
    for row in rows:
        batch = collate(pad, answer_only=True)([row])
        model.zero_grad()
        labels = batch.pop("labels")
        loss = answer_loss(model(**batch), labels, num_items_in_batch=torch.tensor(n))
        loss.backward()
        total += loss.item()
        grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}
        summed = grads if summed is None else {k: summed[k] + grads[k] for k in grads}
    assert total == pytest.approx(whole_loss, rel=1e-5)
    worst = max(float((summed[k] - whole[k]).norm() / whole[k].norm()) for k in whole)
    assert worst < 1e-3, worst  # each parameter's gradient relative to its size (measured 1.7e-4: fp32 sums)


def test_gradient_checkpointing_gives_the_same_loss_and_gradients(smol_dir):
    """finetune.gradient_checkpointing recomputes each layer in the backward pass, with the RNG state of the
    forward pass, so dropout draws the same masks: the same loss and gradients, in train mode."""
    rows, model, pad = _batch_and_model("smollm2-135m", "lora", smol_dir)
    _nonzero_b(model)
    recomputing = copy.deepcopy(model)
    recomputing.get_base_model().gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    assert recomputing.is_gradient_checkpointing and not model.is_gradient_checkpointing
    results = []
    for m in (model, recomputing):
        m.train()
        torch.manual_seed(7)
        results.append(_step(m, collate(pad, answer_only=True)(rows)))
    (loss_a, grads_a), (loss_b, grads_b) = results
    assert loss_a == pytest.approx(loss_b, rel=1e-6)
    worst = max(float((grads_a[k] - grads_b[k]).norm() / grads_a[k].norm()) for k in grads_a)
    assert worst < 1e-5, worst
