"""The report's statistics on hand-computed numbers (fast: no runs, no files)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from scipy import stats as scipy_stats

from mtl_uncertainty.analysis.compare import DEFAULT_MARGINS, margins_for, parse_margins, parse_selector, verdict
from mtl_uncertainty.analysis.errors import BaselineError, ReportError
from mtl_uncertainty.analysis.stats import (
    Estimate,
    Paired,
    equivalent,
    estimate,
    holm,
    mean_ranks,
    paired,
    significant,
    tost,
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


def _scipy_tost(d: list[float], m: float) -> float:
    above = scipy_stats.ttest_1samp([x + m for x in d], 0.0, alternative="greater").pvalue  # H0: mean ≤ −m
    below = scipy_stats.ttest_1samp([x - m for x in d], 0.0, alternative="less").pvalue  # H0: mean ≥ +m
    return max(above, below)


def test_tost_is_the_larger_one_sided_p_and_small_when_clearly_equivalent() -> None:
    a, b = [0.901, 0.899, 0.902, 0.898, 0.900], [0.900, 0.900, 0.900, 0.900, 0.900]
    d = [x - y for x, y in zip(a, b)]
    p = tost(a, b, 0.01)
    assert p == pytest.approx(_scipy_tost(d, 0.01)) and p < 1e-4


def test_tost_is_large_when_the_difference_is_near_or_beyond_the_margin() -> None:
    a, b = [0.93, 0.90, 0.95, 0.91], [0.90, 0.90, 0.90, 0.90]  # mean +0.0225, spread 0.022
    d = [x - y for x, y in zip(a, b)]
    p = tost(a, b, 0.01)
    assert p == pytest.approx(_scipy_tost(d, 0.01)) and p > 0.5
    wide = tost(a, b, 0.2)
    assert wide == pytest.approx(_scipy_tost(d, 0.2)) and wide < 0.05


def test_tost_uses_the_same_pairs_as_the_difference_test() -> None:
    a, b = [0.5, 0.7, math.nan, 0.9, 0.6], [0.49, 0.71, 0.3, math.nan, 0.6]
    assert tost(a, b, 0.05) == pytest.approx(_scipy_tost([0.01, -0.01, 0.0], 0.05))
    assert paired(a, b).diff.n == 3


def test_tost_with_no_spread_or_too_few_pairs() -> None:
    assert tost([0.5, 0.6, 0.7], [0.5, 0.6, 0.7], 0.01) == 0.0  # exactly equal: equivalent
    assert tost([0.75, 0.5, 0.25], [0.5, 0.25, 0.0], 0.01) == 1.0  # exactly 0.25 apart: outside ±0.01
    assert tost([0.75, 0.5, 0.25], [0.5, 0.25, 0.0], 0.5) == 0.0
    assert math.isnan(tost([0.5], [0.5], 0.01)) and math.isnan(tost([0.5, math.nan], [0.5, 0.4], 0.01))
    with pytest.raises(ValueError, match="margin"):
        tost([0.5, 0.6], [0.5, 0.6], 0.0)


def test_equivalent_needs_a_small_adjusted_tost_p_and_two_pairs() -> None:
    assert equivalent(Estimate(0.001, 0.002, -0.001, 0.003, 5), 0.01)
    assert not equivalent(Estimate(0.001, 0.002, -0.001, 0.003, 5), 0.05)
    assert not equivalent(Estimate(0.001, math.nan, math.nan, math.nan, 1), 0.0)


def test_holm_adjusts_step_down_keeps_order_and_skips_nan() -> None:
    adjusted = holm([0.01, float("nan"), 0.04, 0.03])
    # sorted: 0.01 (×3) = 0.03, 0.03 (×2) = 0.06, 0.04 (×1) = 0.04 → monotone: 0.06
    assert adjusted[0] == pytest.approx(0.03) and math.isnan(adjusted[1])
    assert adjusted[3] == pytest.approx(0.06) and adjusted[2] == pytest.approx(0.06)
    assert holm([0.6, 0.5]) == [1.0, 1.0]


def test_significant_needs_a_small_adjusted_p_and_an_interval_without_zero() -> None:
    clear = Estimate(0.02, 0.005, 0.01, 0.03, 5)
    assert significant(clear, 0.01)
    assert not significant(clear, 0.05)
    assert not significant(Estimate(0.02, 0.05, -0.01, 0.05, 5), 0.001)
    assert not significant(Estimate(0.02, math.nan, math.nan, math.nan, 1), 0.001)


@pytest.mark.parametrize(
    ("metric", "mean", "words"),
    [
        ("test.acc_cls3", +0.02, "better than fixed by 0.02"),
        ("test.acc_cls10", -0.02, "worse than fixed by 0.02"),
        ("test.loss_recon", -0.02, "better than fixed by 0.02"),  # lower MSE is better
        ("test.loss_recon", +0.02, "worse than fixed by 0.02"),
    ],
)
def test_the_verdict_names_the_direction(metric: str, mean: float, words: str) -> None:
    lo, hi = sorted((mean - 0.005, mean + 0.005))
    text = verdict(metric, Paired(Estimate(mean, 0.002, lo, hi, 4), 0.001), 0.004, "fixed", 0.01, 0.8)
    assert text == f"{words} (Holm p = 0.004)"


def test_a_verdict_says_equivalent_only_when_the_tost_shows_it() -> None:
    noisy = Paired(Estimate(0.01, 0.02, -0.01, 0.03, 4), 0.2)
    assert verdict("test.acc_cls3", noisy, 0.6, "fixed", 0.01, 0.3) == (
        "not shown either way (Holm p = 0.6; TOST Holm p = 0.3 for ±0.01)"
    )
    tight = Paired(Estimate(0.001, 0.002, -0.002, 0.004, 4), 0.4)
    assert verdict("test.acc_cls3", tight, 0.8, "fixed", 0.01, 0.004) == "equivalent within ±0.01 (TOST Holm p = 0.004)"
    one = Paired(Estimate(0.01, math.nan, math.nan, math.nan, 1), math.nan)
    assert verdict("test.acc_cls3", one, math.nan, "fixed", 0.01, math.nan) == "too few paired seeds to tell"


def test_a_small_clear_difference_inside_the_margin_says_both() -> None:
    small = Paired(Estimate(-0.002, 0.0005, -0.0028, -0.0012, 4), 0.001)
    assert verdict("test.acc_cls10", small, 0.003, "fixed", 0.01, 0.0001) == (
        "worse than fixed by 0.002, within ±0.01 (Holm p = 0.003; TOST Holm p = 0.0001)"
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
