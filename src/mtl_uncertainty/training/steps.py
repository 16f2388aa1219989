"""The row every training step writes into a buffer on the device, read back once per epoch.

A row holds the minimised total, each task's batch loss, the classifiers' batch accuracy and the
batch size, then the weighting method's recorded values per task (`Weighting.recorded`: the
effective weight, and s, σ, ... where the method has them), after the step's update.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from ..tasks import TASKS

BASE_FIELDS: tuple[str, ...] = ("loss_total", *(f"loss_{t}" for t in TASKS), "acc_cls3", "acc_cls10", "batch_size")
RUNNING_METRICS: tuple[str, ...] = ("loss_total", *(f"loss_{t}" for t in TASKS), "acc_cls3", "acc_cls10")


@dataclass(frozen=True)
class StepLayout:
    """Columns of the step rows of runs with one weighting method (its `recorded` names)."""

    recorded: tuple[str, ...]
    column: dict[str, int] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        fields = [*BASE_FIELDS, *(f"{name}_{t}" for name in self.recorded for t in TASKS)]
        object.__setattr__(self, "column", {name: i for i, name in enumerate(fields)})

    @property
    def width(self) -> int:
        return len(self.column)

    def values(self, rows: np.ndarray, name: str, task: str) -> np.ndarray:
        """One recorded value of one task, per step."""
        return rows[:, self.column[f"{name}_{task}"]]


def step_row(total: Tensor, losses: Tensor, correct: Tensor, recorded: Tensor, batch_size: int) -> Tensor:
    """A step's row in `StepLayout` order (works per run inside `torch.func.vmap` too)."""
    n = torch.full_like(total.detach()[None], batch_size)
    return torch.cat((total.detach()[None], losses.detach(), correct / n, n, recorded.flatten()))


def epoch_train_metrics(rows: np.ndarray, layout: StepLayout) -> dict[str, float]:
    """Running training metrics of one epoch (batch-size-weighted means of its step rows)."""
    n = rows[:, layout.column["batch_size"]].astype(np.float64)
    return {
        name: float(np.dot(rows[:, layout.column[name]].astype(np.float64), n) / n.sum()) for name in RUNNING_METRICS
    }


def eval_metrics(mean: Tensor, reconstruct: bool) -> dict[str, float | None]:
    """Named metrics from the means (task losses, then the two accuracies) of an evaluation."""
    values = mean.tolist()
    metrics: dict[str, float | None] = {f"loss_{t}": v for t, v in zip(TASKS, values)}
    metrics["acc_cls3"], metrics["acc_cls10"] = values[len(TASKS)], values[len(TASKS) + 1]
    if not reconstruct:
        metrics["loss_recon"] = None
    return metrics
