"""The cost model on cases computed by hand."""

from __future__ import annotations

import pytest

from harness.compare.cost import (
    amortised_per_1k,
    break_even_monthly_queries,
    per_1k_from_rate,
    training_cost,
)
from harness.report.words import volume_text


def test_self_hosted_cost_per_1000_queries():
    # an H100 at 2.50/h answering 36,000 queries/h (10/s): 2.50 / 36 per 1,000
    assert per_1k_from_rate(2.50, 36_000) == pytest.approx(2.5 / 36)


def test_training_cost_and_amortisation():
    # 90 minutes on 2 GPUs at 2.00/h = 3 device-hours = 6.00
    assert training_cost(5400, 2, 2.00) == pytest.approx(6.0)
    # 6.00 over 3 months of 100,000 queries: 6 / 300,000 per query = 0.02 per 1,000
    assert amortised_per_1k(6.0, 100_000, 3) == pytest.approx(0.02)


def test_break_even_volume():
    # training 6.00 over 3 months = 2.00/month; API 0.50 vs self 0.10 per 1,000: margin 0.0004/query
    # -> 2.00 / 0.0004 = 5,000 queries a month
    assert break_even_monthly_queries(6.0, 3, 0.10, 0.50) == pytest.approx(5000)
    assert volume_text(break_even_monthly_queries(6.0, 3, 0.10, 0.50)) == "5,000"
    assert break_even_monthly_queries(6.0, 3, 0.60, 0.50) == "never"  # the API is cheaper per query
    assert break_even_monthly_queries(0.0, 3, 0.10, 0.50) == "always"
