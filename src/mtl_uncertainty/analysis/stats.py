"""The report's statistics: estimates over seeds, the paired tests, the paired TOST, Holm's correction, ranks.

A row's estimate over seeds has a two-sided 95% Student-t interval. A paired comparison drops the
seeds where either side is missing before it computes anything, so that its difference, its
interval and its p-values all come from the same pairs.

Paired differences are tested with the exact sign-flip test (valid for any distribution of the
differences that is symmetric under the null; the MSE differences of runs that escape a plateau or not
are far from normal), with the paired t-test beside it. The TOST (two one-sided tests, Schuirmann
1987) tests equivalence within a margin m > 0: its null hypothesis is |mean(A − B)| ≥ m, and its
p-value is the larger of the one-sided p-values of "mean ≤ −m" and of "mean ≥ +m". A small p shows
that the difference lies within ±m; a large one shows nothing (a difference test that finds nothing
is not evidence of equivalence).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

ALPHA = 0.05  # written out: 1 − 0.95 is 0.050000000000000044 in floating point, and p = 0.05 is not below it
POWER = 0.8  # the power at which `detectable_difference` says what these seeds could have shown
EXACT_UP_TO = 20  # pairs up to which the sign-flip test enumerates every sign pattern (2^20 subsets at most)


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


def prediction_interval(values: Sequence[float] | pd.Series) -> tuple[float, float]:
    """The 95% interval a single new run's value falls in (mean ± t·s·√(1 + 1/n)): what one run, as the source
    made per cell, is measured against; NaN below 2 values."""
    e = estimate(values)
    if e.n < 2:
        return (math.nan, math.nan)
    half = float(stats.t.ppf(1 - ALPHA / 2, e.n - 1)) * e.std * math.sqrt(1 + 1 / e.n)
    return (e.mean - half, e.mean + half)


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
    """The paired t-test of A − B (scipy's), on only the pairs where neither value is NaN; with no spread the
    difference is known exactly (p = 1 for no difference, 0 otherwise), where scipy gives NaN."""
    d = differences(a, b)
    e = estimate(d)
    if e.n < 2:
        return Paired(e, math.nan)
    if e.std == 0:
        return Paired(e, 1.0 if e.mean == 0 else 0.0)
    return Paired(e, float(stats.ttest_1samp(d, 0.0).pvalue))


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


def mean_ranks(values: pd.DataFrame, higher_is_better: bool) -> pd.DataFrame:
    """Rank of each column in each row (1 = best; ties share their average rank)."""
    signed = -values if higher_is_better else values
    return signed.rank(axis=1, method="average")


# The exact sign-flip test over seeds (Fisher's randomisation test of a paired mean difference).
#
# Under H0 "the differences are symmetric about δ", each of the 2^n sign patterns of d − δ is equally
# likely. Flipping the signs of a subset F of the pairs moves the sum by −2·Σ_F(d − δ), so the share of
# patterns at least as extreme as the one observed on the "greater" side is #{F : mean_F(d) ≤ δ} / 2^n
# (F = ∅ included): everything the test and its interval need is the sorted list of the means of the
# subsets of d (Hartigan 1969). The p-value equals scipy.stats.permutation_test's with
# permutation_type="samples" and n_resamples=inf (a test checks it); scipy is not called here because the
# interval needs the p-value at many shifts, about 10 ms a call, where the subset means answer all at once.
# Above EXACT_UP_TO pairs a fixed set of 2^20 random subsets stands in for all of them (still a valid test).


@dataclass(frozen=True)
class Subsets:
    """The sums, sizes and sorted means of the non-empty subsets of the differences, and how many patterns."""

    sums: np.ndarray
    sizes: np.ndarray
    means: np.ndarray  # sorted
    patterns: int  # 2^n, or the number of random subsets + 1 (the observed pattern)
    scale: float  # Σ|d|: what a tie's tolerance is relative to (float rounding of sums of differences)


def subsets(d: Sequence[float] | np.ndarray) -> Subsets:
    """Every non-empty subset of `d` (exact up to EXACT_UP_TO values; a fixed random 2^20 of them beyond)."""
    d = np.asarray(d, dtype=float)
    if len(d) <= EXACT_UP_TO:
        sums, sizes = np.zeros(1), np.zeros(1, dtype=np.int64)
        for x in d:
            sums, sizes = np.concatenate([sums, sums + x]), np.concatenate([sizes, sizes + 1])
        sums, sizes, patterns = sums[1:], sizes[1:], 2 ** len(d)
    else:
        picks = np.random.default_rng(0).integers(0, 2, size=(2**20, len(d)), dtype=np.int8).astype(bool)
        picks = picks[picks.any(axis=1)]
        sums, sizes, patterns = picks @ d, picks.sum(axis=1), len(picks) + 1
    return Subsets(sums, sizes, np.sort(sums / sizes), patterns, float(np.abs(d).sum()))


def _tie(s: Subsets, shift: float) -> float:
    return 1e-9 * (s.scale + abs(shift) * float(s.sizes.max()))


def _greater(s: Subsets, shift: float) -> float:
    """p of H1 "mean(d) > shift": the share of sign patterns of d − shift whose sum is at least the observed."""
    return (1 + int(np.count_nonzero(s.sums - s.sizes * shift <= _tie(s, shift)))) / s.patterns


def _less(s: Subsets, shift: float) -> float:
    """p of H1 "mean(d) < shift"."""
    return (1 + int(np.count_nonzero(s.sums - s.sizes * shift >= -_tie(s, shift)))) / s.patterns


def sign_flip(d: Sequence[float] | np.ndarray) -> float:
    """Two-sided p of the exact sign-flip test of mean(d) = 0 (NaN below 2 values)."""
    if len(d) < 2:
        return math.nan
    s = subsets(d)
    return min(1.0, 2 * min(_greater(s, 0.0), _less(s, 0.0)))


def sign_flip_tost(d: Sequence[float] | np.ndarray, margin: float) -> float:
    """p of the sign-flip TOST of H0 |mean(d)| ≥ margin: the larger of its two one-sided sign-flip p-values."""
    if not margin > 0 or math.isinf(margin):
        raise ValueError(f"an equivalence margin is a finite number above 0, not {margin!r}")
    if len(d) < 2:
        return math.nan
    s = subsets(d)
    return max(_greater(s, -margin), _less(s, margin))


def sign_flip_interval(d: Sequence[float] | np.ndarray, alpha: float = ALPHA) -> tuple[float, float]:
    """The (1 − alpha) interval of the shifts the two-sided sign-flip test does not reject at `alpha`.

    0 lies outside it exactly when `sign_flip(d) < alpha`. Unbounded (±inf) where no shift can be rejected:
    with n pairs the smallest p-value is 2 / 2^n (n = 5: 0.0625).
    """
    if len(d) < 2:
        return (math.nan, math.nan)
    s = subsets(d)
    k = math.ceil(alpha * s.patterns / 2 - 1)  # a shift is kept when at least k subset means lie on its side
    if k < 1:
        return (-math.inf, math.inf)
    return (float(s.means[k - 1]), float(s.means[-k]))


FLIP_POWER_UP_TO = 12  # pairs up to which the detectable difference is the sign-flip test's (simulated)
FLIP_POWER_DRAWS = 2000  # simulated experiments (fixed draws: the same answer every time)


def detectable_difference(std: float, n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest true mean difference that the two-sided exact sign-flip test at `alpha` finds with `power`,
    for normal differences with the s.d. `std` over n pairs; inf where none can be found (its smallest p-value,
    2/2^n, is not below `alpha`), NaN below 2 pairs, 0 with no spread. Beyond FLIP_POWER_UP_TO pairs the
    paired t-test's (the noncentral t), which the sign-flip test approaches as the seeds grow."""
    if n < 2 or not math.isfinite(std):
        return math.nan
    if std == 0:
        return 0.0
    if n > FLIP_POWER_UP_TO:
        return std * _t_detectable(n, alpha, power)
    if 2 / 2**n >= alpha:
        return math.inf
    return std * _flip_detectable(n, alpha, power)


@functools.lru_cache(maxsize=256)
def _flip_detectable(n: int, alpha: float, power: float) -> float:
    """The detectable difference at s.d. 1 (the test does not depend on the scale), from fixed normal draws z.

    The test rejects z + δ (δ > 0) exactly when its interval's lower end, lo(z) + δ, is above 0 (the chance of
    rejecting on the wrong side is left out: at 80% power it is negligible), so the power at δ is the share of
    draws with −lo(z) < δ, and the detectable difference is the `power` quantile of −lo(z).
    """
    z = np.random.default_rng(0).standard_normal((FLIP_POWER_DRAWS, n))
    picks = ((np.arange(1, 2**n)[:, None] >> np.arange(n)) & 1).astype(float)  # every non-empty subset
    means = (z @ picks.T) / picks.sum(axis=1)
    k = math.ceil(alpha * 2**n / 2 - 1)  # as sign_flip_interval: the k-th smallest subset mean is the lower end
    lower = np.partition(means, k - 1, axis=1)[:, k - 1]
    return float(np.quantile(-lower, power))


def _t_detectable(n: int, alpha: float, power: float) -> float:
    """The paired t-test's detectable difference at s.d. 1 (noncentral t)."""
    df, se = n - 1, 1 / math.sqrt(n)
    crit = float(stats.t.ppf(1 - alpha / 2, df))

    def short(delta: float) -> float:
        nc = delta / se
        lower = float(stats.nct.cdf(-crit, df, nc))  # the wrong-sign tail: tiny, and NaN in scipy for some nc
        return float(stats.nct.sf(crit, df, nc)) + (lower if math.isfinite(lower) else 0.0) - power

    high = (crit + 2) * se
    while short(high) < 0:  # the power rises with the difference; widen until it passes the target
        high *= 2
    return float(optimize.brentq(short, 0.0, high))


def holm_levels(p: Sequence[float], alpha: float = ALPHA) -> list[float]:
    """The level at which Holm's procedure tested each p-value: α/(m − rank) for those it rejects, and for the
    rest the level of the first step it did not pass (NaN stays NaN). An interval drawn at that level
    excludes 0 exactly when Holm rejects, so the interval beside a verdict is the one the verdict used."""
    p = np.asarray(p, dtype=float)
    known = np.flatnonzero(~np.isnan(p))
    out = np.full(len(p), np.nan)
    m = len(known)
    stopped = None
    for rank, i in enumerate(known[np.argsort(p[known], kind="stable")]):
        level = alpha / (m - rank)
        if stopped is None and not p[i] < level:
            stopped = level
        out[i] = level if stopped is None else stopped
    return out.tolist()
