"""Paired statistics on small tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from harness.compare.stats import compare, mcnemar_exact, paired_bootstrap


def test_mcnemar_exact_by_hand():
    # 1 vs 9 discordant items: p = 2 x P(X <= 1 | n=10, 1/2) = 2 x (1 + 10) / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024)  # two-sided: symmetric
    assert mcnemar_exact(5, 5) == 1.0 and mcnemar_exact(0, 0) == 1.0
    # 0 vs 6: 2 x (1/2)^6 = 1/32
    assert mcnemar_exact(0, 6) == pytest.approx(1 / 32)


def test_identical_systems_are_tied_with_a_zero_interval():
    a = {f"i{k}": float(k % 2) for k in range(40)}
    p = compare(a, dict(a))
    assert (p.n, p.delta, p.ci_low, p.ci_high, p.p_mcnemar) == (40, 0.0, 0.0, 0.0, 1.0)
    assert p.tied


def test_a_clear_gain_is_significant_and_counted():
    # 50 items: a right on 10, b right on those 10 and 20 more (b_only = 20, a_only = 0)
    a = {f"i{k}": 1.0 if k < 10 else 0.0 for k in range(50)}
    b = {f"i{k}": 1.0 if k < 30 else 0.0 for k in range(50)}
    p = compare(a, b)
    assert p.delta == pytest.approx(0.4) and (p.b_only, p.a_only) == (20, 0)
    assert p.p_mcnemar == pytest.approx(2 * 0.5**20)
    # every resample's difference is (#resampled gained items)/50 >= 0; the interval is near 0.4 +- 2 x 0.069
    assert 0.25 < p.ci_low < 0.4 < p.ci_high < 0.55 and not p.tied


def test_a_one_item_difference_is_tied():
    a = {f"i{k}": 1.0 if k < 20 else 0.0 for k in range(40)}
    b = dict(a, i39=1.0)
    p = compare(a, b)
    assert p.delta == pytest.approx(1 / 40) and p.ci_low == 0.0 and p.tied and p.p_mcnemar == 1.0


def test_only_shared_items_are_compared():
    p = compare({"x": 1.0, "y": 0.0, "only_a": 1.0}, {"x": 1.0, "y": 1.0, "only_b": 0.0})
    assert p.n == 2 and p.delta == pytest.approx(0.5)


def test_bootstrap_is_seeded_and_covers_the_mean():
    rng = np.random.default_rng(0)
    x, y = rng.random(30), rng.random(30)
    assert paired_bootstrap(x, y) == paired_bootstrap(x, y)
    lo, hi = paired_bootstrap(x, y)
    assert lo < (y - x).mean() < hi
    # continuous scores: no McNemar
    p = compare({str(i): v for i, v in enumerate(x)}, {str(i): v for i, v in enumerate(y)})
    assert p.p_mcnemar is None
