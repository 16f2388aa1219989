"""Constant task weights: Σ λ_i·L_i (all 1 is the source's plain sum)."""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import DictConfig
from torch import Tensor

from ..tasks import TASKS, active_tasks
from .base import MethodConfig, RunContext, Weighting, float32_holds, per_task_tensor, register


@dataclass
class TaskWeights:
    """A constant weight per task."""

    cls3: float = 1.0
    cls10: float = 1.0
    recon: float = 1.0


@dataclass
class FixedConfig(MethodConfig):
    """Constant weights: Σ λ_i·L_i (all 1, the source's plain sum, by default)."""

    name: str = "fixed"
    weights: TaskWeights = field(default_factory=TaskWeights)


@register
class FixedWeighting(Weighting):
    """Σ λ_i·L_i over active tasks with constant λ_i."""

    name = "fixed"
    config_class = FixedConfig
    per_run = ("weights",)

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.register_buffer("lambdas", per_task_tensor([float(cfg.weights[t]) for t in TASKS]))

    @classmethod
    def problems(cls, w: DictConfig, cfg: DictConfig) -> list[str]:
        return weight_problems(w.weights, cfg, key="weighting.weights")

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.masked(self.lambdas * losses).sum()

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.per_task(self.masked(self.lambdas))


def weight_problems(weights: DictConfig, cfg: DictConfig, key: str) -> list[str]:
    """Each impossible value of the task weights `weights` (set as `key`) in the run's config `cfg`."""
    out = [
        f"{key}.{task}={v} is a negative or non-finite task weight (or one beyond the run's 32-bit "
        "tensors, ±3.4e38); use 0 or more"
        for task, v in weights.items()
        if not (v >= 0 and float32_holds(v))
    ]
    active = [t for t, on in zip(TASKS, active_tasks(cfg.recon)) if on]
    if not out and all(weights[t] == 0 for t in active):
        out.append(
            f"every active task's weight is 0 ({', '.join(f'{key}.{t}=0' for t in active)}): "
            "nothing would be trained; give at least one task a positive weight"
        )
    return out
