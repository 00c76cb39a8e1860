"""How a row is named everywhere in a report: the model, then what was done to it."""

from __future__ import annotations


def row_label(model: str, variant: str) -> str:
    """`Gemma-3-270M (base) · lora on helpdesk_en, 64 ex.`: a model's own name may carry parentheses."""
    return f"{model} · {variant}"
