"""Dynamic Weight Average (Liu, Johns & Davison, CVPR 2019): weights from how fast each loss fell."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from ..tasks import TASKS
from .base import MethodConfig, RunContext, Weighting, positive, register


@dataclass
class DwaConfig(MethodConfig):
    """w_i = K·softmax(r/T)_i, r_i = L_i(e−1)/L_i(e−2) from the epochs' mean training losses."""

    name: str = "dwa"
    temperature: float = 2.0  # T: larger makes the weights more equal (the paper's: 2)


@register
class DynamicWeightAverage(Weighting):
    """Σ w_i·L_i with w set at the start of each epoch; w = 1 for the first two epochs."""

    name = "dwa"
    config_class = DwaConfig
    per_run = ("temperature",)

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.temperature = float(cfg.temperature)
        self.register_buffer("lambdas", torch.ones(len(TASKS)))

    @classmethod
    def problems(cls, w: DictConfig, cfg: DictConfig) -> list[str]:
        return positive(w, "temperature", "use e.g. 2 (the paper's)")

    def epoch_buffers(self, epoch: int, history: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        if epoch <= 2:
            return {"lambdas": torch.ones(len(TASKS))}
        last, before = history[epoch - 2]["train"], history[epoch - 3]["train"]
        active = self.active.cpu()
        ratio = torch.tensor(
            [last[f"loss_{t}"] / before[f"loss_{t}"] if on else 0.0 for t, on in zip(TASKS, active.tolist())],
            dtype=torch.float64,
        )
        logits = (ratio / self.temperature).masked_fill(~active, float("-inf"))
        return {"lambdas": (active.sum() * torch.softmax(logits, dim=-1)).float()}

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.masked(self.lambdas * losses).sum()

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.per_task(self.masked(self.lambdas))
