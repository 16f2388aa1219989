"""Figures of the measured results: test accuracy per epoch, final metrics per row, differences from the baseline.

The final metrics are drawn as the seeds themselves with the mean and its 95% CI, and every axis
states its range in its title, so that a zoomed axis cannot make noise look like an effect; the
differences from the baseline, with their CIs against 0, are what tells an effect from noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .plotting import BAND, band, save, share_y
from .runs import Run
from .tables import METRICS

ACCURACIES = {"acc_cls3": "3-class test accuracy", "acc_cls10": "10-class test accuracy"}
LINE_STYLES = ("-", "--", "-.", ":")
MIN_SPAN = 0.05
"""The final-metrics axes span at least this fraction of their values (5%: 0.05 around an accuracy of 1)."""


def _style(i: int) -> tuple[str, str]:
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return colors[i % len(colors)], LINE_STYLES[(i // len(colors)) % len(LINE_STYLES)]


def _history(runs: Sequence[Run], metric: str) -> np.ndarray:
    histories = [[(h.get("test") or {}).get(metric) for h in r.result.get("history") or []] for r in runs]
    n = min(len(h) for h in histories)
    return np.asarray([[np.nan if v is None else v for v in h[:n]] for h in histories], dtype=float)


def test_accuracy_per_epoch(
    cells: Sequence[tuple[str, str, Sequence[Run]]], stem: Path, formats: Sequence[str]
) -> list[Path]:
    """Test accuracy after every epoch: one line per row, one panel per group and accuracy, one y-scale each."""
    groups = list(dict.fromkeys(group for _, group, _ in cells))
    rows = list(dict.fromkeys(row for row, _, _ in cells))
    fig, axes = plt.subplots(len(groups), 2, figsize=(12, 3.6 * len(groups)), squeeze=False)
    drawn: dict[str, list[np.ndarray]] = {m: [] for m in ACCURACIES}
    for row, group, runs in cells:
        color, style = _style(rows.index(row))
        for ax, metric in zip(axes[groups.index(group)], ACCURACIES):
            values = _history(runs, metric)
            band(ax, np.arange(1, values.shape[1] + 1), values, color, row, style, alpha=0.08)
            drawn[metric].append(values)
    for col, (metric, name) in enumerate(ACCURACIES.items()):
        share_y(axes[:, col], drawn[metric])
        for ax, group in zip(axes[:, col], groups):
            ax.set(title=f"{name}, {group}" if group else name, xlabel="epoch", ylabel="accuracy")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    handles = [Line2D([], [], color=_style(i)[0], linestyle=_style(i)[1], label=row) for i, row in enumerate(rows)]
    axes[0][1].legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    return save(fig, f"Test accuracy after each epoch (one y-scale per accuracy; {BAND})", stem, formats)


def _widen(ax, fraction: float = MIN_SPAN) -> None:
    """Widen the x axis to at least `fraction` of its centre's magnitude, so that a tiny spread stays tiny."""
    lo, hi = ax.get_xlim()
    centre, need = (lo + hi) / 2, fraction * abs((lo + hi) / 2)
    if hi - lo < need:
        ax.set_xlim(centre - need / 2, centre + need / 2)
    ax.ticklabel_format(axis="x", useOffset=False)


def _range_title(name: str, ax) -> str:
    lo, hi = ax.get_xlim()
    return f"{name}\n(axis {lo:.4g} to {hi:.4g}: a span of {hi - lo:.3g})"


def _final_panel(ax, summary: pd.DataFrame, seeds: pd.DataFrame, metric: str) -> None:
    y = np.arange(len(summary))[::-1]
    for pos, (_, row) in zip(y, summary.iterrows()):
        values = seeds.loc[seeds["cell"] == row["cell"], metric].dropna()
        ax.plot(values, np.full(len(values), pos), "o", color="tab:gray", alpha=0.6, markersize=4)
        n, mean = row[f"{metric}.n"], row[f"{metric}.mean"]
        if n >= 2:
            err = [[mean - row[f"{metric}.ci_lo"]], [row[f"{metric}.ci_hi"] - mean]]
            ax.errorbar(mean, pos, xerr=err, fmt="D", color="black", capsize=3, markersize=5)
        elif n == 1:
            ax.annotate("n = 1, no CI", (mean, pos), xytext=(6, 4), textcoords="offset points", fontsize=7)
    ax.margins(x=0.15)
    ax.set_ylim(-0.8, len(summary) - 0.2)
    _widen(ax)


def final_metrics(summary: pd.DataFrame, seeds: pd.DataFrame, stem: Path, formats: Sequence[str]) -> list[Path]:
    """Final test metrics per row: every seed, and the mean with its 95% CI (no CI below 2 seeds)."""
    metrics = [m for m in METRICS if summary[f"{m}.n"].max() > 0]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics) + 3, 0.42 * len(summary) + 3))
    axes = np.atleast_1d(axes)
    for i, (ax, metric) in enumerate(zip(axes, metrics)):
        _final_panel(ax, summary, seeds, metric)
        ax.set_yticks(np.arange(len(summary))[::-1], summary["cell"] if i == 0 else [""] * len(summary), fontsize=8)
        direction = "higher" if METRICS[metric][1] > 0 else "lower"
        ax.set_title(_range_title(f"{METRICS[metric][0]} ({direction} is better)", ax), fontsize=9)
        ax.grid(axis="x", alpha=0.3)
    title = (
        "Final test metrics per row: grey dots are seeds, black diamonds the mean with its 95% CI.\n"
        f"Each axis spans its data, and at least {MIN_SPAN:.0%} of its values; its range is in its title. "
        "differences.png shows each row against the baseline with the CI of the difference."
    )
    return save(fig, title, stem, formats)


def differences(paired: pd.DataFrame, stem: Path, formats: Sequence[str]) -> list[Path] | None:
    """Each row minus its group's baseline, paired on seed: the mean difference and its 95% CI against 0."""
    if paired.empty:
        return None
    metrics = [m for m in METRICS if m in set(paired["metric"])]
    comparisons = list(dict.fromkeys(paired["cell"]))
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics) + 3, 0.42 * len(comparisons) + 2.2))
    axes = np.atleast_1d(axes)
    for i, (ax, metric) in enumerate(zip(axes, metrics)):
        rows = paired[paired["metric"] == metric].set_index("cell")
        for pos, cell in zip(np.arange(len(comparisons))[::-1], comparisons):
            if cell not in rows.index:
                continue
            r = rows.loc[cell]
            clear = str(r["verdict"]).startswith(("better", "worse"))
            err = None if r["n"] < 2 else [[r["diff"] - r["ci_lo"]], [r["ci_hi"] - r["diff"]]]
            face = "black" if clear else "white"
            ax.errorbar(r["diff"], pos, xerr=err, fmt="o", color="black", mfc=face, capsize=3, markersize=5)
        ax.axvline(0, color="tab:red", linewidth=1)
        ax.set_yticks(np.arange(len(comparisons))[::-1], comparisons if i == 0 else [""] * len(comparisons))
        ax.tick_params(axis="y", labelsize=8)
        direction = "higher" if METRICS[metric][1] > 0 else "lower"
        ax.set_title(f"{METRICS[metric][0]}: row − baseline\n({direction} is better)", fontsize=9)
    baselines = sorted(set(paired["baseline"]))
    title = (
        f"Each row minus {' / '.join(baselines)} (its group's baseline), paired on seed: mean and 95% CI.\n"
        "Red line: no difference. Filled: a clear difference after Holm's correction; hollow: within noise."
    )
    return save(fig, title, stem, formats)
