"""Paired statistics for two systems scored on the same items.

Two rows of a leaderboard are compared on the items both answered, so the item-to-item difficulty cancels out
(a paired test is far more sensitive than comparing two independent intervals). docs/metrics.md states each
formula in words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import binom

N_BOOT = 10_000  # resamples: the Monte Carlo error of a 95 % bound is then well under 0.01 points
SEED = 1234
# Paired items below which a non-0/1 metric's bootstrap is not trusted (its percentile interval is too narrow
# with a handful of items): no difference is claimed (Paired.tied is True, testable False), and the report shows
# such a change as "not tested", not as a tie. 0/1 metrics have McNemar's exact test, valid at any n.
MIN_PAIRED_BOOTSTRAP = 10

Z95 = 1.959964  # two-sided 95 % normal quantile


def wilson(k: float, n: int) -> tuple[float, float]:
    """Wilson score 95 % interval of k right out of n. Unlike +- 1.96 SE it is monotone in k (39/40 -> [0.871,
    0.996], 40/40 -> [0.912, 1]) and keeps close to 95 % coverage near 0 and 1 at small n."""
    p, z2 = k / n, Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def is_binary(value: float, stderr: float, n: int) -> bool:
    """Whether a mean of item scores in [0, 1] came from 0/1 item scores, read from its own figures: such scores
    have variance at most p(1 - p), with equality only when every item is 0 or 1. lm-eval's standard error is
    sqrt(sample variance / n) with the n - 1 variance, so 0/1 items give exactly sqrt(p(1 - p) / (n - 1)), and
    k = p x n is a whole number."""
    if n < 2 or not 0.0 <= value <= 1.0:
        return False
    k = value * n
    if abs(k - round(k)) > 1e-6:
        return False
    return math.isclose(stderr, math.sqrt(value * (1 - value) / (n - 1)), rel_tol=1e-4, abs_tol=1e-12)


def ci95(value: float, stderr: float | None, n: int, binary: bool | None = None) -> tuple[float, float] | None:
    """95 % interval of a mean score in [0, 1]. 0/1 item scores (accuracy, exact match): the Wilson score
    interval of k = value x n right out of n. Other scores (F1, field accuracy): value +- 1.96 x lm-eval's
    standard error, clipped to [0, 1]; where every item scored the same extreme (SE 0) that would claim
    certainty, so the Wilson interval is used there too (0/40 -> [0, 0.088]). `binary`: whether the items are
    0/1, when the caller has read them (a group task such as mmlu pools its subtasks' standard errors, so its
    own figures cannot tell); None: read from the figures (is_binary)."""
    if not isinstance(value, (int, float)) or value != value:
        return None
    k = value * n if n else 0.0
    whole = abs(k - round(k)) < 1e-6
    if binary and whole:
        return wilson(round(k), n)
    if not isinstance(stderr, (int, float)) or not n:
        return None
    if (binary is None and is_binary(value, stderr, n)) or (stderr == 0 and value in (0.0, 1.0)):
        return wilson(round(k), n)
    return max(0.0, value - Z95 * stderr), min(1.0, value + Z95 * stderr)


@dataclass(frozen=True)
class Paired:
    n: int  # items scored by both
    delta: float  # mean(b) - mean(a): positive = b better
    ci_low: float  # paired bootstrap 95 % interval of delta
    ci_high: float
    p_mcnemar: float | None  # exact McNemar test (binary scores only), None otherwise
    b_only: int  # items only b got right (binary scores)
    a_only: int  # items only a got right
    mean_a: float = float("nan")  # a's mean on the paired items (delta = mean_b - mean_a)
    mean_b: float = float("nan")

    @property
    def testable(self) -> bool:
        """0/1 scores: any paired items (McNemar is exact); other scores: at least MIN_PAIRED_BOOTSTRAP items."""
        return self.n > 0 and (self.p_mcnemar is not None or self.n >= MIN_PAIRED_BOOTSTRAP)

    @property
    def tied(self) -> bool:
        """The data cannot tell the two apart: the interval covers 0, or (0/1 scores) McNemar's p >= 0.05. The
        percentile bootstrap alone is optimistic when only a few items differ (4 of 40, all one way: interval
        [0.025, 0.2] but p = 0.125), so both must say "different"; no shared items is tied too."""
        if not self.testable or self.ci_low != self.ci_low:  # NaN interval: nothing to compare
            return True
        return self.ci_low <= 0.0 <= self.ci_high or (self.p_mcnemar is not None and self.p_mcnemar >= 0.05)

    @property
    def significant(self) -> bool:
        return not self.tied


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = N_BOOT, seed: int = SEED) -> tuple[float, float]:
    """95 % percentile interval of mean(b - a), resampling items with replacement (the same items for both)."""
    d = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if len(d) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    # in chunks: 10,000 x n indices at once would be 1 GB for n = 14,000 (mmlu)
    chunk = max(1, min(n_boot, 2_000_000 // len(d)))
    means = np.concatenate(
        [
            d[rng.integers(0, len(d), size=(min(chunk, n_boot - start), len(d)))].mean(axis=1)
            for start in range(0, n_boot, chunk)
        ]
    )
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Two-sided exact McNemar test: under "no difference" each discordant item is a fair coin, so the smaller
    count follows Binomial(a_only + b_only, 1/2). p = min(1, 2 x P(X <= min))."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * binom.cdf(min(a_only, b_only), n, 0.5)))


def compare(a: dict[str, float], b: dict[str, float], n_boot: int = N_BOOT, seed: int = SEED) -> Paired:
    """a, b: {item key: score in [0, 1]} of two systems. Only items both have are compared."""
    keys = sorted(set(a) & set(b))
    x = np.array([a[k] for k in keys], dtype=float)
    y = np.array([b[k] for k in keys], dtype=float)
    lo, hi = paired_bootstrap(x, y, n_boot, seed)
    binary = bool(len(keys)) and set(np.unique(np.concatenate([x, y]))) <= {0.0, 1.0}
    a_only = int(((x == 1) & (y == 0)).sum()) if binary else 0
    b_only = int(((x == 0) & (y == 1)).sum()) if binary else 0
    mean_a, mean_b = (float(x.mean()), float(y.mean())) if len(keys) else (float("nan"), float("nan"))
    p = mcnemar_exact(a_only, b_only) if binary else None
    return Paired(len(keys), mean_b - mean_a, lo, hi, p, b_only, a_only, mean_a, mean_b)
