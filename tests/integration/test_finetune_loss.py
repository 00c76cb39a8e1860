"""The answer-only loss (harness/finetune/loss.py) on the embedded models' real weights: on one batch of real
helpdesk_en training examples, left-padded with only the answer's logits kept, the loss and every trainable
parameter's gradient equal the whole-sequence loss of a right-padded batch, for LoRA and full fine-tuning, within
float32 rounding; the logits it asks for are a fraction of the sequence. P-tuning v2 keeps the whole-sequence
loss, and says why."""

from __future__ import annotations

import pytest
import torch

from harness.finetune.data import IGNORE
from harness.finetune.loss import answer_loss, answer_only_supported, collate
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
