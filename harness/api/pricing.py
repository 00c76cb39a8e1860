"""Usage x price -> money. One function, so the report, the ledger and a reader of the per-sample file compute
cost the same way (docs/results-schema.md gives the formula)."""

from __future__ import annotations

from typing import Any


def is_priced(price: dict[str, Any]) -> bool:
    return price.get("input_per_1m") is not None and price.get("output_per_1m") is not None


def cost(prompt_tokens: int, cached_tokens: int, completion_tokens: int, price: dict[str, Any]) -> float | None:
    """Money for one request: uncached prompt x input price + cached prompt x cached price + completion x output
    price, prices per 1M tokens. None when the baseline is unpriced (never a silent zero). Cached prompt tokens
    without a cached price are billed at the input price (what a provider without prompt caching charges)."""
    if not is_priced(price):
        return None
    cached_price = price.get("cached_input_per_1m")
    if cached_price is None:
        cached_price = price["input_per_1m"]
    uncached = prompt_tokens - cached_tokens
    return (
        uncached * price["input_per_1m"] + cached_tokens * cached_price + completion_tokens * price["output_per_1m"]
    ) / 1e6
