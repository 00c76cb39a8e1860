"""Log-likelihood scoring asks the model only for the positions lm-eval reads (harness/evaluate/timed.py): on both
embedded models' real weights, the same requests give the same log-likelihoods and greedy flags, bit for bit, as
lm-eval's whole-sequence path, while the batches' logits cover fewer positions."""

from __future__ import annotations

import pytest

from harness.evaluate import timed
from harness.evaluate.timed import TimedHFLM, _first_read_positions, _unpadded

CONTEXTS = [
    "Question: which city is the capital of France?\nAnswer:",
    "The printer on floor 3 is out of toner. Which team handles it?\nAnswer:",
    "Q: 2 + 2 =",
    "Ticket: my laptop does not start after the update, the screen stays black and the fan spins. Category:",
]
CONTINUATIONS = [" Paris", " Facilities", " 4", " hardware", " the IT service desk", " no"]


def _requests(lm: TimedHFLM) -> list:
    """Every context with every continuation (multiple choice shares a context), tokenized as lm-eval does."""
    out = []
    for c in CONTEXTS:
        ctx = lm.tok_encode(c)
        for a in CONTINUATIONS:
            out.append(((c, a), ctx, lm.tok_encode(a, add_special_tokens=False)))
    return out


@pytest.mark.parametrize("model", ["smollm2-135m", "gemma3-270m"])
def test_suffix_logits_give_lm_eval_s_log_likelihoods_bit_for_bit(model, request, monkeypatch):
    folder = request.getfixturevalue("smol_dir" if model.startswith("smol") else "gemma_dir")
    # max_length 24: the longest context is truncated from the left, lm-eval's own rule
    lm = TimedHFLM.create_from_arg_obj(
        {"pretrained": str(folder), "dtype": "float32", "max_length": 24}, {"batch_size": 5, "device": "cpu"}
    )
    reqs = _requests(lm)
    widths: list[tuple[int, int]] = []  # (positions in the batch, positions whose logits were computed)
    real = lm._suffix_call

    def recording(inps):
        out = real(inps)
        widths.append((int(inps.shape[1]), int(inps.shape[1] if out is None else out.shape[1])))
        return out

    monkeypatch.setattr(lm, "_suffix_call", recording)
    kept = lm._loglikelihood_tokens(reqs, disable_tqdm=True)
    # 24 requests; lm-eval computes one-token continuations of one context once, so 3 batches of up to 5 rows
    assert len(widths) == 3 and all(k < w for w, k in widths), widths
    assert sum(k for _, k in widths) < 0.6 * sum(w for w, _ in widths)

    monkeypatch.setattr(timed, "_keeps_logits", lambda model: False)  # lm-eval's own whole-sequence path
    whole = lm._loglikelihood_tokens(reqs, disable_tqdm=True)
    assert kept == whole  # floats compared exactly
    assert len({round(ll, 3) for ll, _ in whole}) > 12  # distinct values: the comparison says something


def test_the_read_positions_follow_lm_eval_s_truncation_and_padding():
    reqs = [(("a", "b"), [5, 6, 7], [8, 9]), (("a", "c"), [5, 6, 7], [8]), (("x", "y"), [1, 2, 3, 4, 5], [6, 0])]
    reqs.append((("z", "w"), [7, 0], [3]))
    table = _first_read_positions(reqs, max_length=4)
    # inp = (ctx + cont)[-(max_length + 1):][:-1]; lm-eval reads its last len(cont) positions
    assert table == {hash(k): v for k, v in {(5, 6, 7, 8): 2, (5, 6, 7): 2, (3, 4, 5, 6): 2, (7,): 1}.items()}
    # a row that ends in token 0 (lm-eval's padding value) loses it in the key, on both sides of the lookup
    assert _unpadded([2, 3, 4, 5, 6, 0, 0]) == hash((2, 3, 4, 5, 6)) and _unpadded([0, 0]) == hash(())
