"""What the report's figures share: panel grids sized by their panels, legends below, mean ± s.d. bands, one
y-scale, saving in every format."""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import NullFormatter, StrMethodFormatter

from ..storage.atomic import write_atomic
from .runs import Run

TASK_NAMES = {"cls3": "3-class", "cls10": "10-class", "recon": "reconstruction"}
TASK_LOOKS = {
    "cls3": {"color": "tab:blue", "linestyle": "-", "marker": "o"},
    "cls10": {"color": "tab:orange", "linestyle": "--", "marker": "s"},
    "recon": {"color": "tab:green", "linestyle": ":", "marker": "^"},
}
"""Each task's colour, line style and marker: lines that coincide (λ = 1 for every task) stay told apart."""
BAND = "line: mean over runs; band: ±1 s.d."
LOG_SPAN = 20.0
"""Draw on a log scale when the largest positive value is more than this many times the smallest."""
PANEL_WIDTH, PANEL_HEIGHT = 3.2, 2.5
"""Inches of one panel with its title, tick labels and axis labels (its axes about 2.5 × 1.7: never squashed)."""
AXES_WIDTH = PANEL_WIDTH - 0.7
"""Inches of a panel's axes: the panel less its y label and tick labels (what a title must fit)."""
TITLE_HEIGHT, LEGEND_ROW_HEIGHT = 0.45, 0.25
"""Inches of the figure's one-line title and of each line of a legend below the panels."""
MAX_COLUMNS = 3
MARKS = 6
"""Markers along a line of many points (every point is marked on shorter lines)."""
TITLE_SIZE, TEXT_SIZE = 10, 9
CHAR_WIDTH = 0.0075
"""Inches per character and point of font size, about (DejaVu Sans averages a little under 0.55 em)."""
DPI = 150
Cell = tuple[str, Sequence[Run]]


def figure(rows: int, cols: int, legend_rows: int = 1):
    """A figure of rows × cols panels sized by their number, with room for a one-line title and a legend below."""
    size = (cols * PANEL_WIDTH, rows * PANEL_HEIGHT + TITLE_HEIGHT + legend_rows * LEGEND_ROW_HEIGHT)
    return plt.subplots(rows, cols, figsize=size, squeeze=False, layout="constrained")


def columns(n: int) -> int:
    """Panels across for `n` panels: at most MAX_COLUMNS, the lines as even as can be (2 × 2 for 4, not 3 + 1)."""
    return max(1, math.ceil(n / math.ceil(n / MAX_COLUMNS))) if n else 1


def grid(n: int, rows_per_cell: int = 1, legend_rows: int = 1):
    """A figure with `n` panels (each `rows_per_cell` axes tall) in `columns(n)` columns; unused axes hidden."""
    cols = columns(n)
    blocks = math.ceil(n / cols)
    fig, axes = figure(blocks * rows_per_cell, cols, legend_rows)
    panels = [
        [axes[b * rows_per_cell + r][c] for r in range(rows_per_cell)] for b in range(blocks) for c in range(cols)
    ]
    for unused in panels[n:]:
        for ax in unused:
            ax.set_visible(False)
    return fig, panels[:n]


def label_edges(panels: Sequence[Sequence], xlabel: str, ylabel: str = "", cols: int | None = None) -> None:
    """The x label under the last panel of each column, the y label beside the first column: said once per line."""
    cols = cols or columns(len(panels))
    for i, column in enumerate(panels):
        if i + cols >= len(panels):
            column[-1].set_xlabel(xlabel, fontsize=TEXT_SIZE)
        if ylabel and i % cols == 0:
            for ax in column:
                ax.set_ylabel(ylabel, fontsize=TEXT_SIZE)


def wrapped(text: str, inches: float = AXES_WIDTH, size: float = TITLE_SIZE) -> str:
    """`text` with each of its lines broken into lines that fit `inches` at font `size` (a row label can be long)."""
    width = max(12, int(inches / text_width("x", size)))
    return "\n".join(textwrap.fill(line, width=width, break_on_hyphens=False) for line in text.split("\n"))


def panel_title(ax, text: str) -> None:
    """A panel's title, broken into lines that fit above it."""
    ax.set_title(wrapped(text), fontsize=TITLE_SIZE)


def text_width(text: str, size: float = TEXT_SIZE) -> float:
    """Inches a line of `text` takes at font `size`, about: room to make for it before it is drawn."""
    return CHAR_WIDTH * size * len(text)


def _entry_width(label: str) -> float:
    """Inches of one legend entry: its handle (2 em), the pad after it, its text, the gap to the next (2 em)."""
    return 0.6 + text_width(label)


def _per_line(labels: Sequence[str], width: float) -> int:
    """The most legend entries a line that fit in `width` inches (matplotlib fills a legend column by column,
    each as wide as its widest entry)."""
    for ncols in range(len(labels), 1, -1):
        rows = math.ceil(len(labels) / ncols)
        chunks = [labels[c : c + rows] for c in range(0, len(labels), rows)]
        if sum(max(_entry_width(label) for label in chunk) for chunk in chunks) <= width:
            return ncols
    return 1


def legend_rows(labels: Sequence[str], width: float) -> int:
    """How many lines `legend_below` needs for `labels` in a figure `width` inches wide."""
    return math.ceil(len(labels) / _per_line(labels, width))


def legend_below(fig, handles: Sequence) -> None:
    """The figure's legend under its panels, outside every axes, as many entries a line as fit."""
    ncols = _per_line([h.get_label() for h in handles], fig.get_figwidth())
    fig.legend(handles=handles, loc="outside lower center", ncols=ncols, fontsize=TEXT_SIZE, frameon=False)


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


def marks(n: int, phase: float = 0.0) -> slice | None:
    """Which of `n` points carry a marker: all of a short line, else about MARKS, shifted by `phase` (0 to 1)."""
    if n <= MARKS:
        return None
    every = n // MARKS
    return slice(int(phase * every), None, every)


def band(ax, steps: np.ndarray, values: np.ndarray, label: str, alpha: float = 0.2, phase: float = 0.0, **look):
    """The mean over runs as a line (`look`: its colour, style, marker) and ±1 s.d. as a band (no band for one
    run; on a log axis, cut at its bottom)."""
    with np.errstate(all="ignore"):
        mean = np.nanmean(values, axis=0)
        ax.plot(
            steps, mean, label=label or None, linewidth=1.4, markersize=4, markevery=marks(len(steps), phase), **look
        )
        if len(values) > 1:
            std = np.nanstd(values, axis=0, ddof=1)
            low = mean - std
            if ax.get_yscale() == "log":
                low = np.maximum(low, ax.get_ylim()[0])
            ax.fill_between(steps, low, mean + std, color=look.get("color"), alpha=alpha, linewidth=0)


def task_handles(tasks: Sequence[str]) -> list[Line2D]:
    """Legend entries of the tasks, each drawn as its lines are."""
    return [Line2D([], [], label=TASK_NAMES[t], markersize=4, **TASK_LOOKS[t]) for t in tasks]


def finite_range(arrays: Sequence[np.ndarray], positive: bool = False) -> tuple[float, float] | None:
    """(min, max) over the finite (and, with `positive`, the positive) values of all arrays."""
    flat = np.concatenate([np.ravel(a) for a in arrays]) if arrays else np.empty(0)
    flat = flat[np.isfinite(flat)]
    if positive:
        flat = flat[flat > 0]
    return (float(flat.min()), float(flat.max())) if flat.size else None


def share_y(axes: Sequence, arrays: Sequence[np.ndarray], allow_log: bool = False) -> bool:
    """Set one y-scale on every axis in `axes` for all the data (draw after this); log where allowed, no value
    is negative (a log scale would drop it: gradient methods' weights can be) and the positive values span
    more than LOG_SPAN×. Returns whether it is log."""
    whole = finite_range(arrays)
    if whole is None:
        return False
    positive = finite_range(arrays, positive=True)
    if allow_log and whole[0] >= 0 and positive and positive[1] / positive[0] > LOG_SPAN:
        for ax in axes:
            ax.set_yscale("log")
            ax.set_ylim(positive[0] / 1.5, positive[1] * 1.5)
            ax.yaxis.set_major_formatter(StrMethodFormatter("{x:g}"))  # 0.1, 1, 10: plain numbers, quick to draw
            ax.yaxis.set_minor_formatter(NullFormatter())
        return True
    low = min(whole[0], 0.0) if allow_log else whole[0]  # weights: from 0, so that their ratios show
    pad = 0.05 * (whole[1] - low) or 0.05 * abs(whole[1]) or 0.05  # of the axis: no marker on the frame
    for ax in axes:
        ax.set_ylim(low - pad, whole[1] + pad)
    return False


def rendered(fig, fmt: str) -> bytes:
    """The figure's file in `fmt`, made in memory so that only a whole file is ever written."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=DPI, bbox_inches="tight", pad_inches=0.05)  # a long label is never cut
    return buffer.getvalue()


def save(fig, title: str, stem: Path, formats: Sequence[str]) -> list[Path]:
    """Save the figure as `stem`.<format> for each format (the first is the one report.md links); each file
    is written whole or not at all, and replaces whatever is at its path (a symlink is replaced, not followed)."""
    fig.suptitle(title, fontsize=TITLE_SIZE + 1)
    paths = [stem.with_suffix(f".{fmt}") for fmt in formats]
    try:
        for path, fmt in zip(paths, formats):
            write_atomic(path, rendered(fig, fmt))
    finally:
        plt.close(fig)
    return paths
