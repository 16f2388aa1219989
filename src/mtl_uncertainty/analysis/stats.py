"""The report's statistics: estimates over seeds, the paired test, the paired TOST, Holm's correction, ranks.

Every interval is a two-sided 95% Student-t interval over seeds. A paired comparison drops the
seeds where either side is missing before it computes anything, so that its difference, its
interval, its p-value and its TOST p-value all come from the same pairs.

The TOST (two one-sided t-tests, Schuirmann 1987) tests equivalence within a margin m > 0: its
null hypothesis is |mean(A − B)| ≥ m, and its p-value is the larger of the one-sided p-values of
"mean ≤ −m" and of "mean ≥ +m". A small p shows that the difference lies within ±m; a large one
shows nothing (a difference test that finds nothing is not evidence of equivalence).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

ALPHA = 0.05  # written out: 1 − 0.95 is 0.050000000000000044 in floating point, and p = 0.05 is not below it
LEVEL = 1 - ALPHA


@dataclass(frozen=True)
class Estimate:
    """Mean, sample standard deviation and 95% t-interval of the mean over `n` values."""

    mean: float
    std: float
    lo: float
    hi: float
    n: int


def estimate(values: Sequence[float] | pd.Series) -> Estimate:
    """Mean, s.d. and 95% CI of the finite values (NaN ones dropped; no interval below 2 values)."""
    x = np.asarray(pd.Series(values, dtype=float).dropna(), dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan, math.nan, 1)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(1 - ALPHA / 2, n - 1)) * std / math.sqrt(n)
    return Estimate(mean, std, mean - half, mean + half, n)


@dataclass(frozen=True)
class Paired:
    """A minus B over the pairs where both are known: the estimate of the difference and its p-value."""

    diff: Estimate
    p: float


def differences(a: Sequence[float] | pd.Series, b: Sequence[float] | pd.Series) -> np.ndarray:
    """A − B on only the pairs where neither value is NaN: the pairs every paired statistic uses."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    both = ~(np.isnan(a) | np.isnan(b))
    return a[both] - b[both]


def paired(a: Sequence[float] | pd.Series, b: Sequence[float] | pd.Series) -> Paired:
    """The paired t-test of A − B, on only the pairs where neither value is NaN."""
    e = estimate(differences(a, b))
    if e.n < 2:
        return Paired(e, math.nan)
    if e.std == 0:
        return Paired(e, 1.0 if e.mean == 0 else 0.0)
    t = e.mean / (e.std / math.sqrt(e.n))
    return Paired(e, float(2 * stats.t.sf(abs(t), e.n - 1)))


def tost(a: Sequence[float] | pd.Series, b: Sequence[float] | pd.Series, margin: float) -> float:
    """p of the paired TOST of H0 |mean(A − B)| ≥ margin, on the pairs `paired` uses (NaN below 2 pairs)."""
    return tost_p(estimate(differences(a, b)), margin)


def tost_p(e: Estimate, margin: float) -> float:
    """The TOST p-value from an estimate of the mean difference: the larger of its two one-sided p-values."""
    if not margin > 0 or math.isinf(margin):
        raise ValueError(f"an equivalence margin is a finite number above 0, not {margin!r}")
    if e.n < 2:
        return math.nan
    if e.std == 0:  # no spread: the difference is known exactly
        return 0.0 if abs(e.mean) < margin else 1.0
    se = e.std / math.sqrt(e.n)
    above_lower = float(stats.t.sf((e.mean + margin) / se, e.n - 1))  # H0: mean ≤ −margin
    below_upper = float(stats.t.cdf((e.mean - margin) / se, e.n - 1))  # H0: mean ≥ +margin
    return max(above_lower, below_upper)


def holm(p: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment of the p-values (NaN ones stay NaN and are not counted)."""
    p = np.asarray(p, dtype=float)
    known = np.flatnonzero(~np.isnan(p))
    out = np.full(len(p), np.nan)
    m = len(known)
    running = 0.0
    for rank, i in enumerate(known[np.argsort(p[known], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def significant(e: Estimate, p_adjusted: float) -> bool:
    """A clear difference: the adjusted p-value is below 0.05 and the 95% CI excludes 0."""
    return e.n >= 2 and p_adjusted < ALPHA and (e.lo > 0 or e.hi < 0)


def equivalent(e: Estimate, p_tost_adjusted: float) -> bool:
    """Shown equivalent within the margin: the adjusted TOST p-value is below 0.05."""
    return e.n >= 2 and p_tost_adjusted < ALPHA


def mean_ranks(values: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Rank of each column in each row (1 = best; ties share their average rank)."""
    signed = -values if higher_is_better else values
    return signed.rank(axis=1, method="average")
