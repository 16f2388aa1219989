"""The report's statistics on hand-computed numbers (fast: no runs, no files)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from mtl_uncertainty.analysis.compare import (
    DEFAULT_MARGINS,
    judge,
    margins_for,
    parse_margins,
    parse_selector,
    verdict_text,
)
from mtl_uncertainty.analysis.errors import BaselineError, ReportError
from mtl_uncertainty.analysis.stats import (
    detectable_difference,
    estimate,
    holm,
    holm_levels,
    mean_ranks,
    paired,
    prediction_interval,
    sign_flip,
    sign_flip_interval,
    sign_flip_tost,
)

T2 = 4.302652729911275  # t(0.975, df=2)


def test_estimate_is_mean_sample_sd_and_a_t_interval() -> None:
    e = estimate([0.90, 0.92, 0.97])
    mean = (0.90 + 0.92 + 0.97) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in (0.90, 0.92, 0.97)) / 2)
    assert (e.mean, e.std, e.n) == (pytest.approx(mean), pytest.approx(sd), 3)
    assert (e.lo, e.hi) == (pytest.approx(mean - T2 * sd / math.sqrt(3)), pytest.approx(mean + T2 * sd / math.sqrt(3)))


def test_estimate_drops_nan_and_gives_no_interval_below_two_values() -> None:
    assert estimate([0.5, float("nan"), 0.7]).n == 2
    one = estimate([0.5])
    assert one.mean == 0.5 and one.n == 1 and math.isnan(one.std) and math.isnan(one.lo) and math.isnan(one.hi)
    none = estimate([])
    assert none.n == 0 and math.isnan(none.mean)


def test_paired_uses_the_same_pairs_for_difference_interval_and_p() -> None:
    a = [0.91, 0.93, float("nan"), 0.96]
    b = [0.90, 0.90, 0.80, 0.94]
    result = paired(a, b)
    d = [0.01, 0.03, 0.02]
    assert result.diff.n == 3 and result.diff.mean == pytest.approx(sum(d) / 3)
    expected = scipy_stats.ttest_rel([0.91, 0.93, 0.96], [0.90, 0.90, 0.94]).pvalue
    assert result.p == pytest.approx(expected)
    assert math.isnan(paired([0.9, float("nan")], [0.8, 0.7]).p)  # one pair: no test


def test_paired_with_no_spread_is_certain_either_way() -> None:
    assert paired([0.5, 0.6, 0.7], [0.5, 0.6, 0.7]).p == 1.0
    assert paired([0.75, 0.5, 0.25], [0.5, 0.25, 0.0]).p == 0.0


def _scipy_flip(d: list[float] | np.ndarray, alternative: str = "two-sided") -> float:
    mean = lambda x, axis=-1: np.mean(x, axis=axis)  # noqa: E731
    test = scipy_stats.permutation_test(
        (np.asarray(d),), mean, vectorized=True, permutation_type="samples", n_resamples=np.inf, alternative=alternative
    )
    return float(test.pvalue)


@pytest.mark.parametrize("n", [2, 3, 5, 8, 10, 12])
def test_the_sign_flip_test_is_scipys_exact_permutation_test(n: int) -> None:
    rng = np.random.default_rng(n)
    for _ in range(4):
        d = rng.normal(0.003, 0.01, n)
        assert sign_flip(d) == pytest.approx(_scipy_flip(d), abs=1e-12)
        m = 0.01
        tost = max(_scipy_flip(d + m, "greater"), _scipy_flip(d - m, "less"))
        assert sign_flip_tost(d, m) == pytest.approx(tost, abs=1e-12)


def test_the_sign_flip_with_ties_and_no_spread() -> None:
    grid = [0.0002, -0.0001, 0.0003, 0.0001, -0.0002, 0.0001]  # accuracy steps: many subset sums tie at 0
    assert sign_flip(grid) == pytest.approx(_scipy_flip(grid), abs=1e-12)
    assert sign_flip([0.01] * 10) == 2 / 2**10  # every seed one way: the smallest p 10 seeds can give
    assert sign_flip([0.0] * 10) == 1.0
    assert sign_flip_tost([0.0] * 10, 0.01) == 1 / 2**10  # no difference at all: as equivalent as 10 seeds show
    assert math.isnan(sign_flip([0.1])) and math.isnan(sign_flip_tost([0.1], 0.01))
    with pytest.raises(ValueError, match="margin"):
        sign_flip_tost([0.5, 0.6], 0.0)


@pytest.mark.parametrize("alpha", [0.05, 0.01, 0.0025])
def test_the_interval_is_the_set_of_shifts_the_test_keeps(alpha: float) -> None:
    d = np.random.default_rng(7).normal(0.004, 0.01, 10)
    lo, hi = sign_flip_interval(d, alpha)
    assert lo < d.mean() < hi
    for bound, outward in ((lo, -1e-7), (hi, 1e-7)):
        assert _scipy_flip(d - (bound - 1e-9 * np.sign(outward))) >= alpha  # just inside: kept
        assert _scipy_flip(d - (bound + outward)) < alpha  # just outside: rejected
    assert (lo > 0 or hi < 0) == (sign_flip(d) < alpha)


def test_too_few_pairs_give_an_unbounded_interval() -> None:
    assert sign_flip_interval([0.01, 0.02, 0.015], 0.05) == (-math.inf, math.inf)  # smallest p: 2/8
    assert all(math.isnan(x) for x in sign_flip_interval([0.01], 0.05))


def test_above_twenty_pairs_random_subsets_stand_in_and_agree_with_the_exact_test() -> None:
    d = np.random.default_rng(3).normal(0.005, 0.01, 24)
    exact_by_scipy = _scipy_flip(d[:20])
    assert sign_flip(d[:20]) == pytest.approx(exact_by_scipy, abs=1e-12)
    assert sign_flip(d) == pytest.approx(sign_flip(d), abs=0)  # the random subsets are fixed: same answer
    t = scipy_stats.ttest_1samp(d, 0.0).pvalue
    assert abs(sign_flip(d) - t) < 0.05  # the two tests agree roughly on near-normal data


def test_the_detectable_difference_has_the_stated_power() -> None:
    """The sign-flip test at the difference it names finds it in 80% of new normal experiments (other draws)."""
    delta = detectable_difference(0.01, 10, 0.05)
    rng = np.random.default_rng(11)
    found = [sign_flip(rng.normal(delta, 0.01, 10)) < 0.05 for _ in range(1500)]
    assert np.mean(found) == pytest.approx(0.8, abs=0.035)
    assert detectable_difference(0.01, 10, 0.005) > delta  # a stricter level needs a larger difference
    assert detectable_difference(0.02, 10, 0.05) == pytest.approx(2 * delta)  # the test does not see the scale
    assert detectable_difference(0.01, 5, 0.05) == math.inf  # 5 seeds: the smallest p is 0.0625
    t_based = detectable_difference(0.01, 40, 0.05)  # beyond 12 pairs: the paired t-test's (noncentral t)
    d = rng.normal(t_based, 0.01, size=(20000, 40))
    assert (scipy_stats.ttest_1samp(d, 0.0, axis=1).pvalue < 0.05).mean() == pytest.approx(0.8, abs=0.015)
    assert detectable_difference(0.0, 10) == 0.0 and math.isnan(detectable_difference(0.01, 1))


def test_holm_levels_are_the_steps_and_the_rest_share_the_first_failed_one() -> None:
    # sorted 0.001 (level 0.05/3, passes), 0.03 (0.05/2: fails, Holm stops), 0.04 (tested at the stopped level)
    assert holm_levels([0.001, 0.04, 0.03, float("nan")]) == pytest.approx(
        [0.05 / 3, 0.025, 0.025, float("nan")], nan_ok=True
    )
    assert holm_levels([0.001, 0.002]) == pytest.approx([0.025, 0.05])  # both pass: each at its own step


def test_holm_adjusts_step_down_keeps_order_and_skips_nan() -> None:
    adjusted = holm([0.01, float("nan"), 0.04, 0.03])
    # sorted: 0.01 (×3) = 0.03, 0.03 (×2) = 0.06, 0.04 (×1) = 0.04 → monotone: 0.06
    assert adjusted[0] == pytest.approx(0.03) and math.isnan(adjusted[1])
    assert adjusted[3] == pytest.approx(0.06) and adjusted[2] == pytest.approx(0.06)
    assert holm([0.6, 0.5]) == [1.0, 1.0]


def _row(kind: str, diff: float, also: bool = False, **p: float) -> SimpleNamespace:
    values = {"p_holm": 0.004, "p_tost_holm": 0.8, "p_flip": 0.03, "p_flip_tost": 0.2, "detectable": 0.012}
    return SimpleNamespace(kind=kind, also_equivalent=also, diff=diff, margin=0.01, baseline="fixed", **(values | p))


@pytest.mark.parametrize(
    ("metric", "mean", "word"),
    [
        ("test.acc_cls3", +0.02, "better"),
        ("test.acc_cls10", -0.02, "worse"),
        ("test.loss_recon", -0.02, "better"),  # lower MSE is better
        ("test.loss_recon", +0.02, "worse"),
    ],
)
def test_the_verdict_names_the_direction(metric: str, mean: float, word: str) -> None:
    v = judge(metric, 10, mean, True, 0.004, 0.8)
    assert v.kind == word and not v.also_equivalent
    assert verdict_text(_row(v.kind, mean)) == f"{word} than fixed by 0.02 (Holm p = 0.004)"


def test_a_verdict_says_equivalent_only_when_the_tost_shows_it() -> None:
    assert judge("test.acc_cls3", 10, 0.01, True, 0.6, 0.3).kind == "unclear"
    assert verdict_text(_row("unclear", 0.01, p_holm=0.6, p_tost_holm=0.3)) == (
        "not shown either way (Holm p = 0.6; TOST Holm p = 0.3 for ±0.01; these seeds would find ±0.012 with 80% power)"
    )
    assert judge("test.acc_cls3", 10, 0.001, True, 0.8, 0.004).kind == "equivalent"
    assert verdict_text(_row("equivalent", 0.001, p_tost_holm=0.004)) == "equivalent within ±0.01 (TOST Holm p = 0.004)"
    assert judge("test.acc_cls3", 1, 0.01, True, math.nan, math.nan).kind == "too few"
    assert verdict_text(_row("too few", 0.01)) == "too few paired seeds to tell"


def test_a_small_clear_difference_inside_the_margin_says_both() -> None:
    v = judge("test.acc_cls10", 10, -0.002, True, 0.003, 0.0001)
    assert (v.kind, v.also_equivalent) == ("worse", True)
    assert verdict_text(_row("worse", -0.002, True, p_holm=0.003, p_tost_holm=0.0001)) == (
        "worse than fixed by 0.002, within ±0.01 (Holm p = 0.003; TOST Holm p = 0.0001)"
    )


def test_an_exploratory_comparison_claims_nothing_whatever_its_p() -> None:
    assert judge("test.acc_cls3", 10, 0.05, False, math.nan, math.nan).kind == "exploratory"
    assert verdict_text(_row("exploratory", 0.05, p_flip=0.002, p_flip_tost=1.0)) == (
        "exploratory, not corrected (sign-flip p = 0.002; TOST p = 1 for ±0.01)"
    )


def test_margins_default_per_metric_and_named_ones_replace_them() -> None:
    assert margins_for() == DEFAULT_MARGINS == {"acc_cls3": 0.01, "acc_cls10": 0.01, "loss_recon": 0.02}
    assert parse_margins("acc_cls10=0.005, loss_recon=0.01") == {
        "acc_cls3": 0.01,
        "acc_cls10": 0.005,
        "loss_recon": 0.01,
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("acc_cls9=0.01", "acc_cls9 is no metric of the report"),
        ("acc_cls10=-0.01", "acc_cls10=-0.01 is not a margin above 0"),
        ("acc_cls10=0", "is not a margin above 0"),
        ("acc_cls10=nan", "is not a margin above 0"),
        ("acc_cls10", "'acc_cls10' is not metric=number"),
        ("acc_cls10=one", "'acc_cls10=one' is not metric=number"),
    ],
)
def test_a_bad_margin_is_refused_in_one_paragraph_that_shows_the_form(text: str, problem: str) -> None:
    with pytest.raises(ReportError) as err:
        parse_margins(text)
    message = str(err.value)
    assert message.startswith(f"--margin {text!r}: ") and problem in message and "\n" not in message
    assert "acc_cls3=0.01, acc_cls10=0.01, loss_recon=0.02" in message


def test_mean_ranks_rank_higher_better_and_share_ties() -> None:
    values = pd.DataFrame({"a": [0.9, 0.8], "b": [0.9, 0.7], "c": [0.5, 0.9]})
    ranks = mean_ranks(values, higher_is_better=True)
    assert ranks.iloc[0].tolist() == [1.5, 1.5, 3.0] and ranks.iloc[1].tolist() == [2.0, 3.0, 1.0]
    assert mean_ranks(values, higher_is_better=False).iloc[1].tolist() == [2.0, 1.0, 3.0]


def test_a_baseline_selector_is_key_value_pairs_or_refused() -> None:
    s = parse_selector("best:weighting=fixed,weights.cls3=2")
    assert s.best and s.pairs == (("weighting", "fixed"), ("weights.cls3", "2"))
    with pytest.raises(BaselineError, match="is not key=value"):
        parse_selector("fixed")


def test_the_prediction_interval_is_where_one_new_run_falls() -> None:
    values = [0.90, 0.92, 0.97]
    e = estimate(values)
    half = T2 * e.std * math.sqrt(1 + 1 / 3)
    assert prediction_interval(values) == pytest.approx((e.mean - half, e.mean + half))
    assert prediction_interval(values)[1] - prediction_interval(values)[0] > e.hi - e.lo  # wider than the mean's CI
    assert all(math.isnan(x) for x in prediction_interval([0.9]))
