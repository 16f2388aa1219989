"""What a run remembers as it trains: per-epoch history and the trajectory of every s_i.

Fed once per epoch with the step rows the training loop read back, so recording costs the loop
nothing; the same record serves the sequential and the stacked training paths.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .engine import COLUMN, epoch_train_metrics
from .tasks import TASKS


def _rounded(values: np.ndarray) -> list[float]:
    """Six significant digits: enough for plots, a third of the JSON size."""
    return [float(f"{v:.6g}") for v in values.tolist()]


def _text(value: float) -> float | str:
    """A float for JSON, with non-finite values spelt out ('nan', 'inf', '-inf')."""
    return value if np.isfinite(value) else str(value)


@dataclass
class RunRecord:
    """History, trajectory and divergence of one run, built from its step rows."""

    active: tuple[bool, ...]
    every: int
    has_log_vars: bool
    initial_s: list[float] | None
    initial_weights: list[float]
    history: list[dict[str, Any]] = field(default_factory=list)
    divergence: dict[str, Any] | None = None
    _rows: list[np.ndarray] = field(default_factory=list)
    _steps: list[np.ndarray] = field(default_factory=list)
    _last_step: int = 0

    @property
    def tasks(self) -> list[str]:
        return [t for t, on in zip(TASKS, self.active) if on]

    def add_epoch(self, epoch: int, rows: np.ndarray, test: dict[str, Any], seconds: dict[str, float]) -> bool:
        """Record one epoch; False (and `divergence` set) if a loss was NaN or infinite."""
        first = self._last_step
        steps = np.arange(first + 1, first + len(rows) + 1)
        losses = rows[:, [COLUMN["loss_total"], *(COLUMN[f"loss_{t}"] for t in self.tasks)]]
        bad = np.flatnonzero(~np.isfinite(losses).all(axis=1))
        if bad.size:
            i = int(bad[0])
            prev = rows[i - 1] if i > 0 else None
            self.divergence = {
                "epoch": epoch,
                "step": int(steps[i]),
                "losses": {
                    n: _text(float(rows[i, COLUMN[n]])) for n in ("loss_total", *(f"loss_{t}" for t in self.tasks))
                },
                "s": self._s_before(prev),
            }
            rows, steps = rows[:i], steps[:i]
        keep = steps % self.every == 0
        self._rows.append(rows[keep])
        self._steps.append(steps[keep])
        self._last_step = first + len(rows)
        if bad.size:
            return False
        last = rows[-1]
        self.history.append(
            {
                "epoch": epoch,
                "step": self._last_step,
                "train": self._active_only(epoch_train_metrics(rows)),
                "test": test,
                "s": {t: float(last[COLUMN[f"s_{t}"]]) for t in self.tasks} if self.has_log_vars else None,
                "weight": {t: float(last[COLUMN[f"weight_{t}"]]) for t in self.tasks},
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

    def _s_before(self, prev: np.ndarray | None) -> dict[str, float | str] | None:
        if not self.has_log_vars:
            return None
        if prev is None and self.history:
            return {t: self.history[-1]["s"][t] for t in self.tasks}
        if prev is None:
            return {t: self.initial_s[TASKS.index(t)] for t in self.tasks}
        return {t: _text(float(prev[COLUMN[f"s_{t}"]])) for t in self.tasks}

    def _active_only(self, metrics: dict[str, float]) -> dict[str, float | None]:
        return {
            k: (None if k.startswith("loss_") and k[5:] in TASKS and k[5:] not in self.tasks else v)
            for k, v in metrics.items()
        }

    def trajectory(self) -> dict[str, Any]:
        """s_i, σ_i = exp(s_i / 2), effective weight and batch loss of each task per recorded step."""
        rows = np.concatenate(self._rows) if self._rows else np.empty((0, len(COLUMN)))
        steps = np.concatenate(self._steps) if self._steps else np.empty(0, dtype=int)

        def per_task(prefix: str, fn=lambda a: a) -> dict[str, list[float]]:
            return {t: _rounded(fn(rows[:, COLUMN[f"{prefix}_{t}"]].astype(np.float64))) for t in self.tasks}

        s_init = None
        if self.has_log_vars:
            s_init = {t: self.initial_s[TASKS.index(t)] for t in self.tasks}
        return {
            "every": self.every,
            "tasks": self.tasks,
            "initial": {
                "s": s_init,
                "weight": {t: self.initial_weights[TASKS.index(t)] for t in self.tasks},
            },
            "step": steps.tolist(),
            "s": per_task("s") if self.has_log_vars else None,
            "sigma": per_task("s", lambda a: np.exp(a / 2)) if self.has_log_vars else None,
            "weight": per_task("weight"),
            "loss": per_task("loss"),
        }
