"""The generation guards (harness/evaluate/guards.py) on the real SmolLM2 through lm-eval's hf backend: an empty
stop string, a tokenizer without an eos token, a folder's generation_config.json that would override the task.
Each trap is first shown on lm-eval's own class, then shown gone on the harness's."""

from __future__ import annotations

import pytest
import torch

from harness.errors import HarnessError
from harness.evaluate.guards import ensure_eos, folder_configs, neutral_generation_config, nonempty_stops
from harness.evaluate.timed import TimedHFLM


@pytest.fixture(scope="module")
def lm(smol_dir) -> TimedHFLM:
    return TimedHFLM.create_from_arg_obj(
        {"pretrained": str(smol_dir), "dtype": "float32"}, {"batch_size": 1, "device": "cpu"}
    )


def context(lm: TimedHFLM) -> torch.Tensor:
    return torch.tensor([lm.tokenizer.encode("The capital of France is Paris. The capital of Italy is")])


def new_tokens(lm: TimedHFLM, out: torch.Tensor, ctx: torch.Tensor) -> int:
    return out.shape[1] - ctx.shape[1]


def test_an_empty_stop_string_no_longer_cuts_every_answer_after_one_token(lm):
    ctx = context(lm)
    from lm_eval.models.huggingface import HFLM

    cut = HFLM._model_generate(lm, ctx, ctx.shape[1] + 8, ["", "\n"], do_sample=False)  # the trap, in lm-eval
    kept = lm._model_generate(ctx, ctx.shape[1] + 8, ["", "\n"], do_sample=False)
    assert new_tokens(lm, cut, ctx) == 1
    assert new_tokens(lm, kept, ctx) > 1
    assert nonempty_stops(["", "\n", "", "Q:"]) == ["\n", "Q:"]


def test_a_tokenizer_without_an_eos_token_gets_the_models_or_the_cell_stops(lm):
    class Model:  # the loaded model's two configs, as attributes of a real object would be read
        generation_config = lm.model.generation_config
        config = lm.model.config

    tok = lm.tokenizer
    eos, eos_id = tok.eos_token, tok.eos_token_id
    try:
        tok.eos_token = None
        assert tok.eos_token_id is None
        ensure_eos(tok, Model(), "smollm2")
        assert (tok.eos_token, tok.eos_token_id) == (eos, eos_id) == ("<|im_end|>", 2)
        tok.eos_token = None

        class Nameless:
            generation_config = None
            config = None

        with pytest.raises(HarnessError, match="smollm2: its tokenizer has no eos token and neither its config"):
            ensure_eos(tok, Nameless(), "smollm2")
        # before fine-tuning, with no model loaded yet: the same answer from the folder's own configs
        tok.eos_token = None
        ensure_eos(tok, folder_configs(lm.tokenizer.name_or_path, False), "smollm2")
        assert (tok.eos_token, tok.eos_token_id) == ("<|im_end|>", 2)
    finally:
        tok.eos_token = eos


def test_the_tasks_generation_settings_win_over_the_folders_generation_config(lm):
    gc = lm.model.generation_config
    saved = gc
    try:
        gc = gc.__class__(**gc.to_dict())
        gc.max_new_tokens, gc.repetition_penalty, gc.no_repeat_ngram_size = (
            40,
            1.5,
            2,
        )  # as a folder might say
        lm.model.generation_config = gc
        ctx = context(lm)
        from lm_eval.models.huggingface import HFLM

        overridden = HFLM._model_generate(lm, ctx, ctx.shape[1] + 5, [], do_sample=False)  # the trap
        assert new_tokens(lm, overridden, ctx) > 5  # the folder's max_new_tokens beat the task's 5
        neutral_generation_config(lm.model)
        kept = lm.model.generation_config
        assert (kept.eos_token_id, kept.bos_token_id, kept.pad_token_id) == (2, 1, 2)
        assert (kept.max_new_tokens, kept.repetition_penalty, kept.no_repeat_ngram_size) == (None, None, None)
        assert new_tokens(lm, lm._model_generate(ctx, ctx.shape[1] + 5, [], do_sample=False), ctx) == 5
    finally:
        lm.model.generation_config = saved
