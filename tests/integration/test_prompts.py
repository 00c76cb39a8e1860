"""Seed chat formats on a real tokenizer (the prepared SmolLM2's): `apply_chat_template` with a seed format renders
the string tests/unit/test_prompts.py checks against the models' own prompt code."""

from __future__ import annotations

import pytest

from harness.models.prompts import CHAT_FORMATS
from tests.unit.test_prompts import messages, render


@pytest.mark.parametrize("fmt", sorted(CHAT_FORMATS))
def test_transformers_renders_the_same_string_as_a_tokenizers_chat_template(fmt, smol_dir):
    """What lm-eval and fine-tuning call: tokenizer.apply_chat_template on a real tokenizer given the format."""
    from transformers import AutoTokenizer

    from harness.models.prompts import use_format

    tok = AutoTokenizer.from_pretrained(smol_dir)
    use_format(tok, fmt)
    assert tok.apply_chat_template(messages(), tokenize=False, add_generation_prompt=True) == render(fmt, messages())
