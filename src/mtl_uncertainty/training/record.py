"""What a run remembers as it trains: per-epoch history and the trajectory of its method's values.

Fed once per epoch with the step rows the training loop read back, so recording costs the loop
nothing; the same record serves the run trained alone and the stacked training path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..tasks import TASKS
from .steps import StepLayout, epoch_train_metrics


def _rounded(values: np.ndarray) -> list[float | None]:
    """Six significant digits: enough for plots, a third of the JSON size (non-finite: null)."""
    return [float(f"{v:.6g}") if np.isfinite(v) else None for v in values.tolist()]


def _text(value: float) -> float | str:
    """A float for JSON, with non-finite values spelt out ('nan', 'inf', '-inf')."""
    return value if np.isfinite(value) else str(value)


@dataclass
class RunRecord:
    """History, trajectory and divergence of one run, built from its step rows."""

    active: tuple[bool, ...]
    every: int
    layout: StepLayout
    labels: dict[str, str]  # recorded value name → what it is
    initial: dict[str, list[float]]  # recorded value name → per task (TASKS order), before the first step
    history: list[dict[str, Any]] = field(default_factory=list)
    divergence: dict[str, Any] | None = None
    _rows: list[np.ndarray] = field(default_factory=list)
    _steps: list[np.ndarray] = field(default_factory=list)
    _last_step: int = 0

    @property
    def tasks(self) -> list[str]:
        return [t for t, on in zip(TASKS, self.active) if on]

    def _loss_names(self) -> list[str]:
        return [f"loss_{t}" for t in self.tasks]

    def _values(self, row: np.ndarray) -> dict[str, dict[str, float | str]]:
        return {
            name: {t: _text(float(row[self.layout.column[f"{name}_{t}"]])) for t in self.tasks}
            for name in self.layout.recorded
        }

    def add_epoch(
        self, epoch: int, rows: np.ndarray, evals: dict[str, dict[str, Any]], seconds: dict[str, float]
    ) -> bool:
        """Record one epoch (`evals`: split → metrics); False (and `divergence` set) if a loss was not finite."""
        col = self.layout.column
        first = self._last_step
        steps = np.arange(first + 1, first + len(rows) + 1)
        losses = rows[:, [col[n] for n in ("loss_total", *self._loss_names())]]
        bad = np.flatnonzero(~np.isfinite(losses).all(axis=1))
        if bad.size:
            i = int(bad[0])
            self.divergence = {
                "epoch": epoch,
                "step": int(steps[i]),
                "losses": {n: _text(float(rows[i, col[n]])) for n in ("loss_total", *self._loss_names())},
                "values": self._values_before(rows[i - 1] if i > 0 else None),
            }
            rows, steps = rows[:i], steps[:i]
        keep = steps % self.every == 0
        self._rows.append(rows[keep])
        self._steps.append(steps[keep])
        self._last_step = first + len(rows)
        if bad.size:
            return False
        self.history.append(
            {
                "epoch": epoch,
                "step": self._last_step,
                "train": self._active_only(epoch_train_metrics(rows, self.layout)),
                **evals,
                "values": self._values(rows[-1]),
                "seconds": seconds,
            }
        )
        return True

    def state_dict(self) -> dict[str, Any]:
        """Everything recorded so far, in types a weights-only checkpoint can hold."""
        return {
            "history": self.history,
            "rows": [torch.from_numpy(r) for r in self._rows],
            "steps": [torch.from_numpy(s) for s in self._steps],
            "last_step": self._last_step,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = list(state["history"])
        self._rows = [r.numpy() for r in state["rows"]]
        self._steps = [s.numpy() for s in state["steps"]]
        self._last_step = int(state["last_step"])

    def _values_before(self, prev: np.ndarray | None) -> dict[str, dict[str, float | str]]:
        """The method's values the diverging step started from."""
        if prev is not None:
            return self._values(prev)
        if self.history:
            return self.history[-1]["values"]
        return {name: {t: self.initial[name][TASKS.index(t)] for t in self.tasks} for name in self.layout.recorded}

    def _initial(self, name: str) -> dict[str, float | None]:
        return {t: finite(self.initial[name][TASKS.index(t)]) for t in self.tasks}

    def _active_only(self, metrics: dict[str, float]) -> dict[str, float | None]:
        return {
            k: (None if k.startswith("loss_") and k[5:] in TASKS and k[5:] not in self.tasks else v)
            for k, v in metrics.items()
        }

    def trajectory(self) -> dict[str, Any]:
        """Per recorded step: each task's batch loss and each of the method's recorded values."""
        rows = np.concatenate(self._rows) if self._rows else np.empty((0, self.layout.width))
        steps = np.concatenate(self._steps) if self._steps else np.empty(0, dtype=int)
        col = self.layout.column

        def per_task(prefix: str) -> dict[str, list[float | None]]:
            return {t: _rounded(rows[:, col[f"{prefix}_{t}"]].astype(np.float64)) for t in self.tasks}

        return {
            "every": self.every,
            "tasks": self.tasks,
            "step": steps.tolist(),
            "loss": per_task("loss"),
            "values": {name: per_task(name) for name in self.layout.recorded},
            "labels": dict(self.labels),
            "initial": {name: self._initial(name) for name in self.layout.recorded},
        }


def finite(value: float) -> float | None:
    """The value, or None when it is NaN or infinite (unknown before training, e.g. a loss-dependent value)."""
    return value if np.isfinite(value) else None
