"""Figures of the measured results: test accuracy per epoch, final metrics per row, differences from the baseline.

The final metrics are drawn as the seeds themselves with the mean and its 95% CI, and every axis
states its range under it, so that a zoomed axis cannot make noise look like an effect; the
differences from the baseline, with their CIs against 0, are what tells an effect from noise.
What each figure shows in full is said beside it in report.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from .floors import GroupFloors
from .plotting import (
    PANEL_HEIGHT,
    PANEL_WIDTH,
    TEXT_SIZE,
    TITLE_HEIGHT,
    band,
    figure,
    label_edges,
    legend_below,
    legend_rows,
    panel_title,
    save,
    share_y,
    text_width,
)
from .runs import Run
from .tables import METRICS

ACCURACIES = {"acc_cls3": "3-class", "acc_cls10": "10-class"}
LINE_STYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "*")
MIN_SPAN = 0.05
"""The final-metrics axes span at least this fraction of their values (5%: 0.05 around an accuracy of 1)."""
ROW_HEIGHT = 0.25
"""Inches per row of the final-metrics and differences panels."""
ROW_MARGIN = 1.0
"""Rows of space above the top row and below the bottom one, so that no point sits on the frame."""
ROWS_DECORATION = 1.0
"""Inches of such a panel's two-line title, tick labels and x label."""
FLOOR_LOOKS = {
    "floor": {"color": "tab:red", "linestyle": "--", "linewidth": 1.2},
    "floor.constant": {"color": "tab:purple", "linestyle": (0, (1, 2)), "linewidth": 1.2},
}
FLOOR_LABELS = {
    "floor": "floor: mean training image (MSE), most frequent class (accuracy)",
    "floor.constant": "best constant (MSE)",
}
"""How the floors (floors.json) are drawn and named in the legends."""


ACCURACY_FLOOR = "floor: always the most frequent class"


def floor_handles(kinds: Sequence[str], labels: Mapping[str, str] = FLOOR_LABELS) -> list[Line2D]:
    return [Line2D([], [], label=labels[k], **FLOOR_LOOKS[k]) for k in FLOOR_LOOKS if k in kinds]


def _look(i: int) -> dict[str, str]:
    """Row `i`'s colour, line style and marker: distinct for the first len(colours) × len(LINE_STYLES) rows."""
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    style = LINE_STYLES[(i // len(colors)) % len(LINE_STYLES)]
    return {"color": colors[i % len(colors)], "linestyle": style, "marker": MARKERS[i % len(MARKERS)]}


def _history(runs: Sequence[Run], metric: str) -> np.ndarray:
    histories = [[(h.get("test") or {}).get(metric) for h in r.result.get("history") or []] for r in runs]
    n = min(len(h) for h in histories)
    return np.asarray([[np.nan if v is None else v for v in h[:n]] for h in histories], dtype=float)


def test_accuracy_per_epoch(
    cells: Sequence[tuple[str, str, Sequence[Run]]],
    stem: Path,
    formats: Sequence[str],
    floors: Mapping[str, GroupFloors] | None = None,
) -> list[Path]:
    """Test accuracy after every epoch: one line per row, one panel per group and accuracy, one y-scale each;
    a dashed line at each group's floor (the most frequent class's accuracy) where `floors` has one."""
    groups = list(dict.fromkeys(group for _, group, _ in cells))
    rows = list(dict.fromkeys(row for row, _, _ in cells))
    chance = {
        (group, metric): f.floor(f"test.{metric}")
        for group, f in (floors or {}).items()
        if f.entry is not None
        for metric in ACCURACIES
    }
    handles = [Line2D([], [], label=row, markersize=4, **_look(i)) for i, row in enumerate(rows)]
    handles += floor_handles(["floor"] if chance else [], {"floor": ACCURACY_FLOOR})
    fig, axes = figure(
        len(groups), len(ACCURACIES), legend_rows([h.get_label() for h in handles], len(ACCURACIES) * PANEL_WIDTH)
    )
    drawn: dict[str, list[np.ndarray]] = {m: [] for m in ACCURACIES}
    for row, group, runs in cells:
        for ax, metric in zip(axes[groups.index(group)], ACCURACIES):
            values = _history(runs, metric)
            band(ax, np.arange(1, values.shape[1] + 1), values, row, alpha=0.08, **_look(rows.index(row)))
            drawn[metric].append(values)
    epochs = max((v.shape[1] for v in drawn["acc_cls3"]), default=1)
    for col, (metric, name) in enumerate(ACCURACIES.items()):
        floors_here = [np.array([[chance[(g, metric)]]]) for g in groups if (g, metric) in chance]
        share_y(axes[:, col], drawn[metric] + floors_here)  # the floor within the scale: how far above it the runs are
        for ax, group in zip(axes[:, col], groups):
            panel_title(ax, f"{name}, {group}" if group else name)
            ax.set_xlim(0.5, epochs + 0.5)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
            if (group, metric) in chance:
                ax.axhline(chance[(group, metric)], **FLOOR_LOOKS["floor"])
    label_edges([[ax] for ax in axes.ravel()], "epoch", "test accuracy", cols=len(ACCURACIES))
    legend_below(fig, handles)
    return save(fig, "Test accuracy after each epoch", stem, formats)


def _widen(ax, fraction: float = MIN_SPAN) -> None:
    """Widen the x axis to at least `fraction` of its centre's magnitude, so that a tiny spread stays tiny."""
    lo, hi = ax.get_xlim()
    centre, need = (lo + hi) / 2, fraction * abs((lo + hi) / 2)
    if hi - lo < need:
        ax.set_xlim(centre - need / 2, centre + need / 2)
    ax.ticklabel_format(axis="x", useOffset=False)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))


def _range_label(ax) -> str:
    lo, hi = ax.get_xlim()
    return f"axis {lo:.4g} to {hi:.4g} (span {hi - lo:.3g})"


def _rows_figure(panels: int, labels: Sequence[str]):
    """One panel per metric side by side, one line per row (its label beside the first panel), sized by both."""
    height = max(PANEL_HEIGHT, ROW_HEIGHT * (len(labels) - 1 + 2 * ROW_MARGIN) + ROWS_DECORATION)
    width = panels * PANEL_WIDTH + max(text_width(label) for label in labels)
    fig, axes = plt.subplots(
        1, panels, figsize=(width, height + TITLE_HEIGHT), squeeze=False, layout="constrained", sharey=True
    )
    y = np.arange(len(labels))[::-1]
    axes[0][0].set_yticks(y, labels, fontsize=TEXT_SIZE)
    axes[0][0].set_ylim(-ROW_MARGIN, len(labels) - 1 + ROW_MARGIN)
    for ax in axes[0][1:]:
        ax.tick_params(axis="y", labelleft=False)
    return fig, axes[0], y


def _final_panel(ax, summary: pd.DataFrame, seeds: pd.DataFrame, metric: str, y: np.ndarray) -> None:
    for pos, (_, row) in zip(y, summary.iterrows()):
        values = seeds.loc[seeds["cell"] == row["cell"], metric].dropna()
        ax.plot(values, np.full(len(values), pos), "o", color="tab:gray", alpha=0.6, markersize=4)
        n, mean = row[f"{metric}.n"], row[f"{metric}.mean"]
        if n >= 2:
            err = [[mean - row[f"{metric}.ci_lo"]], [row[f"{metric}.ci_hi"] - mean]]
            ax.errorbar(mean, pos, xerr=err, fmt="D", color="black", capsize=3, markersize=5)
        elif n == 1:
            ax.annotate("n = 1, no CI", (mean, pos), xytext=(0, 5), textcoords="offset points", fontsize=7, ha="center")
    ax.margins(x=0.15)
    _widen(ax)


def _floors_panel(ax, summary: pd.DataFrame, metric: str, y: np.ndarray) -> tuple[set[str], list[float]]:
    """Each row's floors as a dashed line through its row (one line where the rows share them), drawn where they
    lie within the axis; (the kinds drawn, the floors that lie off it)."""
    lo, hi = ax.get_xlim()
    drawn, off = set(), []
    for kind in FLOOR_LOOKS:
        column = f"{kind}.{metric}"
        if column not in summary:
            continue
        for pos, value in zip(y, summary[column]):
            if np.isnan(value):
                continue
            if lo <= value <= hi:
                ax.plot([value, value], [pos - 0.5, pos + 0.5], **FLOOR_LOOKS[kind])
                drawn.add(kind)
            elif value not in off:
                off.append(value)
    ax.set_xlim(lo, hi)
    return drawn, off


def final_metrics(summary: pd.DataFrame, seeds: pd.DataFrame, stem: Path, formats: Sequence[str]) -> list[Path]:
    """Final test metrics per row: every seed, and the mean with its 95% CI (no CI below 2 seeds); the floors
    (floors.json) as dashed lines where the summary has them and they lie within the axis."""
    metrics = [m for m in METRICS if summary[f"{m}.n"].max() > 0]
    fig, axes, y = _rows_figure(len(metrics), list(summary["cell"]))
    kinds: set[str] = set()
    for ax, metric in zip(axes, metrics):
        _final_panel(ax, summary, seeds, metric, y)
        drawn, off = _floors_panel(ax, summary, metric, y)
        kinds |= drawn
        direction = "higher" if METRICS[metric][1] > 0 else "lower"
        panel_title(ax, f"{METRICS[metric][0]}\n({direction} is better)")
        beyond = f"\nfloor {', '.join(f'{v:.4g}' for v in off)}: off the axis" if off else ""
        ax.set_xlabel(_range_label(ax) + beyond, fontsize=TEXT_SIZE)
        ax.grid(axis="x", alpha=0.3)
    if kinds:
        legend_below(fig, floor_handles(sorted(kinds)))
    return save(fig, "Final test metrics per row", stem, formats)


def _difference(ax, r: pd.Series, pos: float) -> None:
    """One comparison: filled where the difference is clear after Holm's correction, hollow where it is not."""
    clear = r["kind"] in ("better", "worse")
    bounded = r["n"] >= 2 and math.isfinite(r["ci_lo"]) and math.isfinite(r["ci_hi"])
    err = [[r["diff"] - r["ci_lo"]], [r["ci_hi"] - r["diff"]]] if bounded else None
    face = "black" if clear else "white"
    ax.errorbar(r["diff"], pos, xerr=err, fmt="o", color="black", mfc=face, capsize=3, markersize=5)


def differences(paired: pd.DataFrame, stem: Path, formats: Sequence[str]) -> list[Path] | None:
    """Each row minus its group's baseline, paired on seed: the mean difference and the interval its verdict used."""
    if paired.empty:
        return None
    metrics = [m for m in METRICS if m in set(paired["metric"])]
    comparisons = list(dict.fromkeys(paired["cell"]))
    fig, axes, y = _rows_figure(len(metrics), comparisons)
    for ax, metric in zip(axes, metrics):
        rows = paired[paired["metric"] == metric].set_index("cell")
        for pos, cell in zip(y, comparisons):
            if cell in rows.index:
                _difference(ax, rows.loc[cell], pos)
        ax.axvline(0, color="tab:red", linewidth=1)
        ax.margins(x=0.1)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        direction = "higher" if METRICS[metric][1] > 0 else "lower"
        panel_title(ax, METRICS[metric][0])
        ax.set_xlabel(f"row − baseline ({direction} is better)", fontsize=TEXT_SIZE)
    return save(fig, "Each row minus its group's baseline, paired on seed", stem, formats)
