"""Figures of what each method recorded over training: weights, s and σ, and s against its equilibrium.

One panel per row of the main table (a method with its settings, in one group); every panel of
one quantity shares one y-scale, so that panels compare like with like. A method appears in a
figure only if it records the quantity (result.json `trajectory.values`); nothing here names a
method.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .equilibrium import DEFAULT_WINDOW, running_mean
from .plotting import BAND, TASK_COLORS, TASK_NAMES, TASK_STYLES, Cell, band, grid, save, series, share_y, task_legend


def recorded(runs: Sequence, name: str) -> bool:
    """Whether the cell's runs record the value `name`."""
    return any(name in ((r.result.get("trajectory") or {}).get("values") or {}) for r in runs)


def _tasks(runs: Sequence) -> list[str]:
    return list((runs[0].result.get("trajectory") or {}).get("tasks") or [])


def _label(runs: Sequence, name: str) -> str:
    return ((runs[0].result.get("trajectory") or {}).get("labels") or {}).get(name, name)


Found = dict[str, tuple[np.ndarray, np.ndarray]]
"""Task → (steps, values[run, step]) of one recorded value."""


def _collect(runs: Sequence, name: str) -> Found:
    return {t: found for t in _tasks(runs) if (found := series(runs, name, t)) is not None}


def _draw(ax, found: Found) -> None:
    for task, (steps, values) in found.items():
        band(ax, steps, values, TASK_COLORS[task], TASK_NAMES[task], TASK_STYLES[task])


def _all_tasks(cells: Sequence[Cell]) -> list[str]:
    present = {t for _, runs in cells for t in _tasks(runs)}
    return [t for t in TASK_NAMES if t in present]


def weight_trajectories(cells: Sequence[Cell], stem: Path, formats: Sequence[str]) -> list[Path]:
    """The effective weight on every task's loss against step, one panel per row, one y-scale."""
    fig, panels = grid(len(cells))
    found = [_collect(runs, "weight") for _, runs in cells]
    note = share_y([p[0] for p in panels], [v for f in found for _, v in f.values()], allow_log=True)
    for (label, _), (ax,), f in zip(cells, panels, found):
        _draw(ax, f)
        ax.set(title=label, xlabel="training step", ylabel="effective weight on L_i")
        ax.title.set_fontsize(9)
    task_legend(panels[0][0], _all_tasks(cells))
    scale = f"same y-scale in every panel; {note}" if note else "same y-scale in every panel"
    return save(fig, f"Effective weight on each task's loss, per row\n({scale}; {BAND})", stem, formats)


def value_trajectories(cells: Sequence[Cell], stem: Path, formats: Sequence[str]) -> list[Path] | None:
    """σ and s against step for the rows that record them (one y-scale per quantity)."""
    names = [n for n in ("sigma", "s") if any(recorded(runs, n) for _, runs in cells)]
    cells = [(label, runs) for label, runs in cells if any(recorded(runs, n) for n in names)]
    if not cells:
        return None
    fig, panels = grid(len(cells), rows_per_cell=len(names))
    for i, name in enumerate(names):
        shown = [(label, runs, column[i]) for (label, runs), column in zip(cells, panels) if recorded(runs, name)]
        found = [_collect(runs, name) for _, runs, _ in shown]
        share_y([ax for _, _, ax in shown], [v for f in found for _, v in f.values()])
        for (label, runs, ax), f in zip(shown, found):
            _draw(ax, f)
            ax.set(title=label, xlabel="training step", ylabel=_label(runs, name))
            ax.title.set_fontsize(9)
        for (_, runs), column in zip(cells, panels):
            column[i].set_visible(recorded(runs, name))
        task_legend(shown[0][2], _all_tasks(cells))
    return save(fig, f"σ and s of the rows that record them (one y-scale per quantity; {BAND})", stem, formats)


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


def equilibrium(
    cells: Sequence[Cell], stem: Path, formats: Sequence[str], window: int = DEFAULT_WINDOW
) -> list[Path] | None:
    """s (solid) against a running mean of s_eq, where s would settle for the current loss (dashed)."""
    cells = [(label, runs) for label, runs in cells if recorded(runs, "s") and recorded(runs, "s_eq")]
    if not cells:
        return None
    fig, panels = grid(len(cells), width=5.0)
    found = [_equilibrium_series(runs, window) for _, runs in cells]
    share_y([p[0] for p in panels], [v for f in found for _, s, eq in f.values() for v in (s, eq)])
    for (label, runs), (ax,), f in zip(cells, panels, found):
        for task, (steps, s, running) in f.items():
            band(ax, steps, s, TASK_COLORS[task], TASK_NAMES[task])
            band(ax, steps, running, TASK_COLORS[task], "", style="--")
        ax.set_title(f"{label}\ns_eq: {_label(runs, 's_eq')}", fontsize=8)
        ax.set_xlabel("training step")
        ax.set_ylabel("s (solid) / s_eq (dashed)")
    panels[0][0].legend(fontsize=8, title="task", title_fontsize=8)
    title = (
        "Does s reach its equilibrium s_eq, the value it would settle at for the current batch loss?\n"
        f"(dashed: trailing running mean of s_eq over the last {window} steps; one y-scale; {BAND})"
    )
    return save(fig, title, stem, formats)
