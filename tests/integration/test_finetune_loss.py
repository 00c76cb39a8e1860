"""The answer-only loss (harness/finetune/loss.py) on the embedded models' real weights: on one batch of real
helpdesk_en training examples, left-padded with only the answer's logits kept, the loss and every trainable
parameter's gradient equal the whole-sequence loss of a right-padded batch, for LoRA and full fine-tuning, within
float32 rounding; the logits it asks for are a fraction of the sequence. P-tuning v2 keeps the whole-sequence
loss, and says why."""

from __future__ import annotations

import pytest
import torch

from harness.finetune.data import IGNORE
from harness.finetune.loss import AnswerLoss, answer_loss, answer_only_supported, collate, probe_row
from harness.finetune.train import _as_rows, _load_model, _wrap
from harness.plan.cells import plan_cell
from tests.support.run import compose_cfg


def _batch_and_model(model: str, method: str, folder):
    cell = plan_cell(compose_cfg([f"model={model}", f"finetune={method}", "task=helpdesk_en", "finetune.n_train=3"]))
    spec = cell.train
    from transformers import AutoTokenizer

    from harness.finetune.data import build_examples
    from harness.models.prompts import use_format

    tok = AutoTokenizer.from_pretrained(folder)
    use_format(tok, spec.model.prompt_format)
    examples = build_examples(spec.train_task, tok, spec.chat_template, 3, 1234, 512)
    torch.manual_seed(0)
    wrapped = _wrap(_load_model(spec, str(folder), "fp32", "cpu"), spec)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return _as_rows(examples), wrapped, pad


def _loss_and_grads(model, batch: dict, answer_only: bool):
    model.eval()  # no dropout: LoRA's draws its masks by position, and the two layouts put tokens elsewhere
    model.zero_grad()
    if answer_only:
        labels = batch.pop("labels")
        n = (labels[:, 1:] != IGNORE).sum()
        loss = answer_loss(model(**batch), labels, num_items_in_batch=n)
    else:
        loss = model(**batch).loss
    loss.backward()
    return loss.item(), {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(
    ("model", "method"),
    [("smollm2-135m", "lora"), ("smollm2-135m", "full"), ("gemma3-270m", "lora")],
)
def test_the_answer_only_loss_and_gradients_equal_the_whole_sequence_ones(model, method, request):
    folder = request.getfixturevalue("smol_dir" if model.startswith("smol") else "gemma_dir")
    rows, wrapped, pad = _batch_and_model(model, method, folder)
    assert answer_only_supported(wrapped) is None
    whole = collate(pad, answer_only=False)(rows)
    tail = collate(pad, answer_only=True)(rows)
    width = whole["input_ids"].shape[1]
    longest = int((whole["labels"] != IGNORE).sum(dim=1).max())  # the longest answer of the batch, in tokens
    # left-padded, the answers share the batch's last positions: far fewer logits than the sequence
    assert longest < tail["logits_to_keep"] < width / 4, (longest, tail["logits_to_keep"], width)
    assert tail["position_ids"][0].tolist()[-3:] == [len(rows[0]["input_ids"]) - i for i in (3, 2, 1)]
    ref_loss, ref_grads = _loss_and_grads(wrapped, dict(whole), answer_only=False)
    loss, grads = _loss_and_grads(wrapped, dict(tail), answer_only=True)
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert grads.keys() == ref_grads.keys() and grads
    for name, g in grads.items():
        scale = ref_grads[name].abs().max().item()
        assert (g - ref_grads[name]).abs().max().item() <= 1e-4 * scale + 1e-9, name


def test_p_tuning_keeps_the_whole_sequence_loss_and_says_why(smol_dir):
    _, wrapped, _ = _batch_and_model("smollm2-135m", "ptuning_v2", smol_dir)
    assert answer_only_supported(wrapped) == "a prefix (P-tuning v2) would meet left-padded tokens at other positions"


def _chunked_loss_and_grads(model, batch: dict, loss_fn):
    model.eval()
    model.zero_grad()
    labels = batch.pop("labels")
    n = (labels[:, 1:] != IGNORE).sum()
    loss = loss_fn(model(**batch), labels, num_items_in_batch=n)
    loss.backward()
    return loss.item(), {k: p.grad.clone() for k, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize(
    ("model", "method", "softcap"),
    [("smollm2-135m", "lora", None), ("smollm2-135m", "full", None), ("gemma3-270m", "lora", 30.0)],
)
def test_chunked_cross_entropy_equals_the_whole_answer_loss(model, method, softcap, request):
    """finetune.loss_chunk_mb: the answer's logits 5 positions at a time, each chunk recomputed in the backward
    pass, give the loss and gradients of the whole answer's logits; Gemma-3 with its softcapping switched on
    (30, Gemma-2's value) checks that what follows the output layer is applied too."""
    folder = request.getfixturevalue("smol_dir" if model.startswith("smol") else "gemma_dir")
    rows, wrapped, pad = _batch_and_model(model, method, folder)
    if softcap:
        wrapped.config.final_logit_softcapping = softcap
    torch.manual_seed(3)
    for name, p in wrapped.named_parameters():
        if "lora_B" in name:  # LoRA's B starts at zero, which would leave A's gradient zero
            torch.nn.init.normal_(p, std=0.02)
    vocab = wrapped.get_output_embeddings().out_features
    batch = collate(pad, answer_only=True)(rows)
    ref_loss, ref_grads = _loss_and_grads(wrapped, dict(batch), answer_only=True)
    loss_fn = AnswerLoss(chunk_bytes=5 * vocab * 4)
    assert loss_fn.install(wrapped, collate(pad, answer_only=True)([probe_row(rows[0]["input_ids"])])) is None
    assert loss_fn.chunk_positions() == 5
    logits_seen = []
    hook = wrapped.get_output_embeddings().register_forward_hook(lambda m, i, o: logits_seen.append(o.shape))
    loss, grads = _chunked_loss_and_grads(wrapped, dict(batch), loss_fn)
    hook.remove()
    loss_fn.remove()
    assert loss_fn.chunked_passes == 1
    # the model's forward made one position's logits a row; then the loss each chunk's, and the backward pass
    # each chunk's again, last first
    labelled = int((batch["labels"][:, 1:] != IGNORE).sum())
    sizes = [5] * (labelled // 5) + ([labelled % 5] if labelled % 5 else [])
    assert logits_seen[0] == (len(rows), 1, vocab)
    assert [s[0] for s in logits_seen[1:]] == sizes + sizes[::-1]
    assert loss == pytest.approx(ref_loss, rel=1e-5)
    assert grads.keys() == ref_grads.keys() and grads
    # each parameter's gradient against its size: the chunks sum the output layer's products in another order
    # (measured 4e-5 for LoRA, 2.9e-4 for full fine-tuning's layer norms: fp32 sums over every position)
    worst = max(float((g - ref_grads[k]).norm() / ref_grads[k].norm()) for k, g in grads.items())
    assert worst < 1e-3, worst
    # removed: the output layer makes every kept position's logits again
    assert wrapped(**{k: v for k, v in batch.items() if k != "labels"}).logits.shape[1] == batch["logits_to_keep"]


def test_chunked_cross_entropy_stays_off_for_logits_it_cannot_reproduce(smol_dir):
    """A model whose forward changes the output layer's logits in a way the harness does not repeat (here a
    softcapping the config declares and Llama's forward does not apply) keeps the whole answer's logits, and says
    why."""
    rows, wrapped, pad = _batch_and_model("smollm2-135m", "lora", smol_dir)
    wrapped.config.final_logit_softcapping = 5.0
    loss_fn = AnswerLoss(chunk_bytes=1)
    why = loss_fn.install(wrapped, collate(pad, answer_only=True)(rows[:1]))
    assert why is not None and why.startswith("its logits are not the output layer's (differ by up to")
    batch = collate(pad, answer_only=True)(rows)
    labels = batch.pop("labels")
    out = wrapped(**batch)
    assert out.logits.shape[1] == batch["logits_to_keep"]  # nothing hooked
    assert loss_fn(out, labels).item() == pytest.approx(answer_loss(out, labels).item())
    assert loss_fn.chunked_passes == 0
