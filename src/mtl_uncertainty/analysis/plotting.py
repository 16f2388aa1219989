"""What the report's figures share: panel grids, mean ± s.d. bands, one y-scale, saving in every format."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D

from ..storage.atomic import write_atomic
from .runs import Run

TASK_NAMES = {"cls3": "3-class", "cls10": "10-class", "recon": "reconstruction"}
TASK_COLORS = {"cls3": "tab:blue", "cls10": "tab:orange", "recon": "tab:green"}
TASK_STYLES = {"cls3": "-", "cls10": "--", "recon": ":"}  # so that equal constants stay visible
BAND = "line: mean over runs; band: ±1 s.d."
LOG_SPAN = 20.0
"""Draw on a log scale when the largest positive value is more than this many times the smallest."""
Cell = tuple[str, Sequence[Run]]


def grid(n: int, rows_per_cell: int = 1, width: float = 4.2, height: float = 3.0, cols: int = 4):
    """A figure with `n` panels (each `rows_per_cell` axes tall), at most `cols` across; unused axes hidden."""
    cols = max(1, min(n, cols))
    blocks = math.ceil(n / cols)
    fig, axes = plt.subplots(
        blocks * rows_per_cell, cols, figsize=(width * cols, height * blocks * rows_per_cell), squeeze=False
    )
    panels = [
        [axes[b * rows_per_cell + r][c] for r in range(rows_per_cell)] for b in range(blocks) for c in range(cols)
    ]
    for unused in panels[n:]:
        for ax in unused:
            ax.set_visible(False)
    return fig, panels[:n]


def as_floats(values: Sequence[float | None]) -> np.ndarray:
    """A float array with JSON nulls as NaN."""
    return np.asarray([math.nan if v is None else v for v in values], dtype=float)


def series(runs: Sequence[Run], name: str, task: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, values[run, step]) of one recorded value ("loss" or a name in `values`), cut to the shortest run."""
    found = []
    for r in runs:
        traj = r.result.get("trajectory") or {}
        per_task = traj.get("loss") if name == "loss" else (traj.get("values") or {}).get(name)
        if per_task and per_task.get(task):
            found.append((traj["step"], per_task[task]))
    if not found:
        return None
    n = min(len(v) for _, v in found)
    return np.asarray(found[0][0][:n]), np.asarray([as_floats(v[:n]) for _, v in found])


def band(ax, steps: np.ndarray, values: np.ndarray, color: str, label: str, style: str = "-", alpha: float = 0.2):
    """The mean over runs as a line and ±1 s.d. as a band (no band for one run; on a log axis, cut at its bottom)."""
    with np.errstate(all="ignore"):
        mean = np.nanmean(values, axis=0)
        ax.plot(steps, mean, style, color=color, label=label or None, linewidth=1.4)
        if len(values) > 1:
            std = np.nanstd(values, axis=0, ddof=1)
            low = mean - std
            if ax.get_yscale() == "log":
                low = np.maximum(low, ax.get_ylim()[0])
            ax.fill_between(steps, low, mean + std, color=color, alpha=alpha, linewidth=0)


def task_legend(ax, tasks: Sequence[str]) -> None:
    """A legend of the tasks' colours and line styles."""
    handles = [Line2D([], [], color=TASK_COLORS[t], linestyle=TASK_STYLES[t], label=TASK_NAMES[t]) for t in tasks]
    ax.legend(handles=handles, fontsize=8)


def finite_range(arrays: Sequence[np.ndarray], positive: bool = False) -> tuple[float, float] | None:
    """(min, max) over the finite (and, with `positive`, the positive) values of all arrays."""
    flat = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.empty(0)
    flat = flat[np.isfinite(flat)]
    if positive:
        flat = flat[flat > 0]
    return (float(flat.min()), float(flat.max())) if flat.size else None


def share_y(axes: Sequence, arrays: Sequence[np.ndarray], allow_log: bool = False) -> str:
    """Set one y-scale on every axis in `axes` for all the data (draw after this); log where allowed and the
    positive values span more than LOG_SPAN×. Returns a note saying so, or ''."""
    whole = finite_range(arrays)
    if whole is None:
        return ""
    positive = finite_range(arrays, positive=True)
    if allow_log and positive and positive[1] / positive[0] > LOG_SPAN:
        for ax in axes:
            ax.set_yscale("log")
            ax.set_ylim(positive[0] / 1.5, positive[1] * 1.5)
        zeros = " (zero values are not drawn)" if whole[0] <= 0 else ""
        return f"log y scale: the values span {positive[1] / positive[0]:.0f}×{zeros}"
    pad = 0.05 * (whole[1] - whole[0]) or 0.05 * abs(whole[1]) or 0.05
    lo = 0.0 if allow_log and whole[0] >= 0 else whole[0] - pad
    for ax in axes:
        ax.set_ylim(lo, whole[1] + pad)
    return ""


def rendered(fig, fmt: str) -> bytes:
    """The figure's file in `fmt`, made in memory so that only a whole file is ever written."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=110)
    return buffer.getvalue()


def save(fig, title: str, stem: Path, formats: Sequence[str]) -> list[Path]:
    """Save the figure as `stem`.<format> for each format (the first is the one report.md links); each file
    is written whole or not at all, and replaces whatever is at its path (a symlink is replaced, not followed)."""
    fig.suptitle(title, fontsize=11)
    lines = title.count("\n") + 1
    fig.tight_layout(rect=(0, 0, 1, 1 - min(0.4, 0.3 * lines / fig.get_figheight())))
    paths = [stem.with_suffix(f".{fmt}") for fmt in formats]
    try:
        for path, fmt in zip(paths, formats):
            write_atomic(path, rendered(fig, fmt))
    finally:
        plt.close(fig)
    return paths
