"""One cost scale for every row: money per 1,000 queries of a task, and the monthly volume where fine-tuning
breaks even with an API. Formulas in words: docs/metrics.md."""

from __future__ import annotations


def per_1k_from_rate(price_per_hour: float, queries_per_hour: float) -> float:
    """Self-hosted inference: a device billed by the hour, answering `queries_per_hour` (measured, at the batch
    size or concurrency the measurement used)."""
    return 1000.0 * price_per_hour / queries_per_hour


def training_cost(train_seconds: float, device_count: int, price_per_hour: float) -> float:
    """Device-hours of a fine-tuning run x the price of one device-hour."""
    return train_seconds / 3600.0 * device_count * price_per_hour


def amortised_per_1k(training: float, monthly_queries: float, months: float) -> float:
    """A training run's cost spread over the queries it serves: `months` of `monthly_queries`."""
    return 1000.0 * training / (monthly_queries * months)


def break_even_monthly_queries(training: float, months: float, self_per_1k: float, api_per_1k: float) -> float | str:
    """Monthly volume above which the fine-tuned model (training amortised over `months` + its per-query cost)
    is cheaper than the API: V* = (training / months) / (api - self) per query. "never" when the API is not
    dearer per query; "always" when the fine-tuned model is cheaper per query and training cost nothing."""
    margin = (api_per_1k - self_per_1k) / 1000.0
    if margin <= 0:
        return "never"
    if training <= 0:
        return "always"
    return (training / months) / margin
