"""Figures of what each method recorded over training: weights, s and σ, and s against its equilibrium.

One panel per row of the main table (a method with its settings, in one group); every panel of
one quantity shares one y-scale, so that panels compare like with like. A method appears in a
figure only if it records the quantity (result.json `trajectory.values`); nothing here names a
method. What each figure shows in full is said beside it in report.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.lines import Line2D

from .equilibrium import DEFAULT_WINDOW, running_mean
from .plotting import (
    TASK_LOOKS,
    TASK_NAMES,
    Cell,
    band,
    grid,
    label_edges,
    legend_below,
    panel_title,
    save,
    series,
    share_y,
    task_handles,
)

AXIS_NAMES = {"sigma": "σ", "s": "s"}


def recorded(runs: Sequence, name: str) -> bool:
    """Whether the cell's runs record the value `name`."""
    return any(name in ((r.result.get("trajectory") or {}).get("values") or {}) for r in runs)


def _tasks(runs: Sequence) -> list[str]:
    return list((runs[0].result.get("trajectory") or {}).get("tasks") or [])


Found = dict[str, tuple[np.ndarray, np.ndarray]]
"""Task → (steps, values[run, step]) of one recorded value."""


def _collect(runs: Sequence, name: str) -> Found:
    return {t: found for t in _tasks(runs) if (found := series(runs, name, t)) is not None}


def _phase(task: str) -> float:
    """Where along a line the task's markers start: equal lines (λ = 1 for all) show every task's markers."""
    return list(TASK_NAMES).index(task) / len(TASK_NAMES)


def _draw(ax, found: Found) -> None:
    """Every task's line, in the tasks' fixed order."""
    for task, (steps, values) in found.items():
        band(ax, steps, values, TASK_NAMES[task], phase=_phase(task), **TASK_LOOKS[task])


def _all_tasks(cells: Sequence[Cell]) -> list[str]:
    present = {t for _, runs in cells for t in _tasks(runs)}
    return [t for t in TASK_NAMES if t in present]


def weight_trajectories(cells: Sequence[Cell], stem: Path, formats: Sequence[str]) -> list[Path]:
    """The effective weight on every task's loss against step, one panel per row, one y-scale."""
    fig, panels = grid(len(cells))
    found = [_collect(runs, "weight") for _, runs in cells]
    log = share_y([p[0] for p in panels], [v for f in found for _, v in f.values()], allow_log=True)
    for (label, _), (ax,), f in zip(cells, panels, found):
        _draw(ax, f)
        panel_title(ax, label)
    label_edges(panels, "training step", "effective weight")
    legend_below(fig, task_handles(_all_tasks(cells)))
    return save(fig, "Effective weight on each task's loss" + (" (log scale)" if log else ""), stem, formats)


def value_trajectories(cells: Sequence[Cell], stem: Path, formats: Sequence[str]) -> list[Path] | None:
    """σ and s against step for the rows that record them (one y-scale per quantity)."""
    names = [n for n in ("sigma", "s") if any(recorded(runs, n) for _, runs in cells)]
    cells = [(label, runs) for label, runs in cells if any(recorded(runs, n) for n in names)]
    if not cells:
        return None
    fig, panels = grid(len(cells), rows_per_cell=len(names))
    for i, name in enumerate(names):
        shown = [(runs, column[i]) for (_, runs), column in zip(cells, panels) if recorded(runs, name)]
        found = [_collect(runs, name) for runs, _ in shown]
        share_y([ax for _, ax in shown], [v for f in found for _, v in f.values()])
        for (_, ax), f in zip(shown, found):
            _draw(ax, f)
            ax.set_ylabel(AXIS_NAMES[name])
        for (_, runs), column in zip(cells, panels):
            column[i].set_visible(recorded(runs, name))
    for (label, _), column in zip(cells, panels):
        panel_title(next(ax for ax in column if ax.get_visible()), label)
    label_edges(panels, "training step")
    legend_below(fig, task_handles(_all_tasks(cells)))
    return save(fig, " and ".join(AXIS_NAMES[n] for n in names) + " over training", stem, formats)


def _equilibrium_series(runs: Sequence, window: int) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Task → (steps, s, running mean of s_eq over `window` steps, as the equilibrium table takes it), cut alike."""
    every = int((runs[0].result.get("trajectory") or {}).get("every") or 1)
    out = {}
    for task in _tasks(runs):
        s, target = series(runs, "s", task), series(runs, "s_eq", task)
        if s is not None and target is not None:
            n = min(s[1].shape[1], target[1].shape[1])
            out[task] = (s[0][:n], s[1][:, :n], running_mean(target[1][:, :n], every, window))
    return out


def _equilibrium_handles(tasks: Sequence[str]) -> list[Line2D]:
    """The tasks' colours, then what the solid and the dashed lines are."""
    looks = [{k: TASK_LOOKS[t][k] for k in ("color", "marker")} for t in tasks]
    colours = [Line2D([], [], label=TASK_NAMES[t], markersize=4, **look) for t, look in zip(tasks, looks)]
    styles = [Line2D([], [], color="dimgray", linestyle=s, label=n) for s, n in (("-", "s"), ("--", "s_eq (mean)"))]
    return colours + styles


def equilibrium(
    cells: Sequence[Cell], stem: Path, formats: Sequence[str], window: int = DEFAULT_WINDOW
) -> list[Path] | None:
    """s (solid) against a running mean of s_eq, where s would settle for the current loss (dashed)."""
    cells = [(label, runs) for label, runs in cells if recorded(runs, "s") and recorded(runs, "s_eq")]
    if not cells:
        return None
    fig, panels = grid(len(cells))
    found = [_equilibrium_series(runs, window) for _, runs in cells]
    share_y([p[0] for p in panels], [v for f in found for _, s, eq in f.values() for v in (s, eq)])
    for (label, _), (ax,), f in zip(cells, panels, found):
        for task, (steps, s, running) in f.items():
            colour, marker = TASK_LOOKS[task]["color"], TASK_LOOKS[task]["marker"]
            band(ax, steps, s, TASK_NAMES[task], phase=_phase(task), color=colour, marker=marker)
            band(ax, steps, running, "", color=colour, linestyle="--")
        panel_title(ax, label)
    label_edges(panels, "training step", "s and s_eq")
    legend_below(fig, _equilibrium_handles(_all_tasks(cells)))
    return save(fig, "s against its equilibrium s_eq", stem, formats)
