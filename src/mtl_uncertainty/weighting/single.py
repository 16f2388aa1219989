"""Single-task baseline: one task trained alone on the same network, the others only recorded."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from omegaconf import MISSING, DictConfig
from torch import Tensor

from ..tasks import TASKS, active_tasks
from .base import MethodConfig, RunContext, Weighting, register


class TaskName(str, Enum):
    cls3 = "cls3"
    cls10 = "cls10"
    recon = "recon"


@dataclass
class SingleConfig(MethodConfig):
    """Train one task alone; the other active tasks' losses are computed for the record only."""

    name: str = "single"
    task: TaskName = MISSING  # the task that is trained: cls3 | cls10 | recon


@register
class SingleTask(Weighting):
    """L_task alone: weight 1 on the chosen task, 0 on every other."""

    name = "single"
    config_class = SingleConfig
    per_run = ("task",)

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        task = TaskName(cfg.task).value
        self.register_buffer("onehot", torch.tensor([float(t == task) for t in TASKS]))

    @classmethod
    def problems(cls, w: DictConfig, cfg: DictConfig) -> list[str]:
        task = TaskName(w.task).value
        if not dict(zip(TASKS, active_tasks(cfg.recon)))[task]:
            return [f"weighting.task={task} trains a task that recon=false turns off; use recon=true or another task"]
        return []

    def trained(self) -> tuple[bool, ...]:
        return tuple(bool(v) for v in self.onehot.tolist())

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        return (self.onehot * losses).sum()

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.per_task(self.masked(self.onehot))
