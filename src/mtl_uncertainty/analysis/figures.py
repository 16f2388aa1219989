"""The report's figures (matplotlib, Agg backend, PNG), drawn from result.json content only.

Lines are means over the seeds of a cell; bands span ±1 standard deviation over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .runs import Run

TASKS = ("cls3", "cls10", "recon")
TASK_NAMES = {"cls3": "3-class", "cls10": "10-class", "recon": "reconstruction"}
TASK_COLORS = {"cls3": "tab:blue", "cls10": "tab:orange", "recon": "tab:green"}
TASK_STYLES = {"cls3": "-", "cls10": "--", "recon": ":"}  # so that equal constants stay visible
BAND = "line: mean over seeds; band: ±1 s.d."
Cell = tuple[str, Sequence[Run]]


def _grid(n: int, rows_per_cell: int = 1, width: float = 4.2, height: float = 3.0):
    cols = min(n, 4)
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


def _series(runs: Sequence[Run], key: str, task: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(steps, values[run, step]) of one trajectory field, cut to the shortest run."""
    found = [(r.result["trajectory"]["step"], (r.result["trajectory"].get(key) or {}).get(task)) for r in runs]
    found = [(s, v) for s, v in found if v]
    if not found:
        return None
    n = min(len(v) for _, v in found)
    return np.asarray(found[0][0][:n]), np.asarray([v[:n] for _, v in found], dtype=float)


def _band(
    ax, steps: np.ndarray, values: np.ndarray, color: str, label: str, style: str = "-", alpha: float = 0.2
) -> None:
    mean = np.nanmean(values, axis=0)
    ax.plot(steps, mean, style, color=color, label=label or None, linewidth=1.4)
    if len(values) > 1:
        std = np.nanstd(values, axis=0, ddof=1)
        ax.fill_between(steps, mean - std, mean + std, color=color, alpha=alpha, linewidth=0)


def _fixed_note(ax, runs: Sequence[Run]) -> None:
    w = runs[0].result["trajectory"]["initial"]["weight"]
    text = "\n".join(f"λ {TASK_NAMES[t]} = {v:g}" for t, v in w.items())
    ax.text(0.5, 0.5, f"fixed weights:\n{text}\n(no σ is learned)", ha="center", va="center", transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _finish(fig, title: str, path: Path) -> Path:
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def sigma_trajectories(cells: Sequence[Cell], path: Path) -> Path:
    """σ_i and s_i = log σ_i² against training step, one column per cell."""
    fig, panels = _grid(len(cells), rows_per_cell=2)
    for (label, runs), (ax_sigma, ax_s) in zip(cells, panels):
        ax_sigma.set_title(label, fontsize=9)
        if runs[0].result["trajectory"]["s"] is None:
            _fixed_note(ax_sigma, runs)
            _fixed_note(ax_s, runs)
            continue
        for task in runs[0].result["trajectory"]["tasks"]:
            for ax, key in ((ax_sigma, "sigma"), (ax_s, "s")):
                if (series := _series(runs, key, task)) is not None:
                    _band(ax, *series, TASK_COLORS[task], TASK_NAMES[task], TASK_STYLES[task])
        ax_sigma.set_ylabel("σ = exp(s/2)")
        ax_s.set_ylabel("s = log σ²")
        ax_s.set_xlabel("training step")
        ax_sigma.legend(fontsize=8)
    return _finish(fig, f"Learned task uncertainty per cell ({BAND})", path)


def weight_trajectories(cells: Sequence[Cell], path: Path) -> Path:
    """The effective weight of each task's loss against training step (constants when fixed)."""
    fig, panels = _grid(len(cells))
    for (label, runs), (ax,) in zip(cells, panels):
        for task in runs[0].result["trajectory"]["tasks"]:
            if (series := _series(runs, "weight", task)) is not None:
                _band(ax, *series, TASK_COLORS[task], TASK_NAMES[task], TASK_STYLES[task])
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylabel("effective weight on L_i")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
    return _finish(fig, f"Effective task weights: c·exp(−s) learned, λ fixed ({BAND})", path)


def equilibrium(cells: Sequence[Cell], path: Path) -> Path | None:
    """s_i against its equilibrium log(2·c_i·L_i) for the running task loss L_i (learnable cells)."""
    learnable = [(label, runs) for label, runs in cells if runs[0].result["trajectory"]["s"] is not None]
    if not learnable:
        return None
    fig, panels = _grid(len(learnable), width=5.0)
    for (label, runs), (ax,) in zip(learnable, panels):
        every = runs[0].result["trajectory"]["every"]
        for task in runs[0].result["trajectory"]["tasks"]:
            s, loss, weight = (_series(runs, key, task) for key in ("s", "loss", "weight"))
            if s is None or loss is None or weight is None:
                continue
            steps = s[0]
            scale = weight[1] * np.exp(s[1])  # the form's c_i: weight = c_i·exp(−s_i)
            running = pd.DataFrame(loss[1].T).ewm(span=max(5, 100 // every)).mean().to_numpy().T
            target = np.log(2 * scale * np.clip(running, 1e-12, None))
            _band(ax, steps, s[1], TASK_COLORS[task], TASK_NAMES[task])
            _band(ax, steps, target, TASK_COLORS[task], "", style="--")
        ax.set_title(label, fontsize=9)
        ax.set_xlabel("training step")
        ax.set_ylabel("s (solid), s* = log 2cL (dashed)")
    ax.legend(fontsize=8, title="task", title_fontsize=8, loc="upper left", bbox_to_anchor=(1.02, 1))
    title = (
        "Does s reach its equilibrium s* = log(2·c·L)?  (L: running batch loss; s* = log L in the source's form)\n"
        + BAND
    )
    return _finish(fig, title, path)


def test_accuracy_per_epoch(cells: Sequence[Cell], path: Path) -> Path:
    """Held-out accuracy of both classifiers after every epoch, one line per cell."""
    fig, (ax3, ax10) = plt.subplots(1, 2, figsize=(11, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    styles = ("-", "--", "-.", ":")
    for i, (label, runs) in enumerate(cells):
        for ax, metric in ((ax3, "acc_cls3"), (ax10, "acc_cls10")):
            histories = [[h["test"][metric] for h in r.result["history"]] for r in runs]
            n = min(len(h) for h in histories)
            steps, values = np.arange(1, n + 1), np.asarray([h[:n] for h in histories])
            _band(ax, steps, values, colors[i % len(colors)], label, styles[i % len(styles)], alpha=0.08)
    for ax, name in ((ax3, "3-class"), (ax10, "10-class")):
        ax.set_title(f"{name} test accuracy")
        ax.set_xlabel("epoch")
        ax.set_ylabel("accuracy")
    ax10.legend(fontsize=8)
    return _finish(fig, f"Test accuracy after each epoch ({BAND})", path)


def final_accuracy_bars(summary: pd.DataFrame, path: Path) -> Path:
    """Final test accuracy of each cell with its 95% confidence interval."""
    fig, axes = plt.subplots(1, 2, figsize=(max(9, 2.2 * len(summary) + 3), 4.8))
    x = np.arange(len(summary))
    for ax, metric, name in zip(axes, ("test.acc_cls3", "test.acc_cls10"), ("3-class", "10-class")):
        mean = summary[f"{metric}.mean"].to_numpy()
        lo, hi = summary[f"{metric}.ci_lo"].to_numpy(), summary[f"{metric}.ci_hi"].to_numpy()
        err = np.nan_to_num(np.vstack([mean - lo, hi - mean]))
        ax.bar(x, mean, yerr=err, capsize=4, color="tab:gray", alpha=0.8)
        bottom = np.nanmin(np.where(np.isnan(lo), mean, lo)) - 0.01
        ax.set_ylim(max(0.0, bottom), min(1.0, np.nanmax(np.where(np.isnan(hi), mean, hi)) + 0.005))
        values = [[part.split("=", 1)[-1] for part in cell.split(", ")] for cell in summary["cell"]]
        ticks = ["\n".join(v) + f"\n(n={n})" for v, n in zip(values, summary[f"{metric}.n"])]
        ax.set_xticks(x, ticks, fontsize=8)
        ax.set_xlabel(" / ".join(part.split("=", 1)[0] for part in summary["cell"].iloc[0].split(", ")))
        ax.set_title(f"{name} test accuracy")
        ax.set_ylabel("test accuracy")
    title = "Final test accuracy per cell (bars: mean over seeds; whiskers: 95% CI; the y axis does not start at 0)"
    return _finish(fig, title, path)
