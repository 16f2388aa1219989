"""Random Loss Weighting (Lin et al., TMLR 2022): each step, weights = softmax(z), z ~ N(0, I)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from ..seeding import generator
from ..tasks import TASKS
from .base import MethodConfig, RunContext, Weighting, register


@dataclass
class RlwConfig(MethodConfig):
    """Random weights each step, softmax of a standard normal draw over the active tasks (LibMTL's form)."""

    name: str = "rlw"


@register
class RandomLossWeighting(Weighting):
    """Σ w_i·L_i with w = softmax(z) over active tasks, z ~ N(0, I) drawn anew every step.

    The epoch's draws come from the run's own seeded stream as one tensor before the epoch and are
    indexed by step, so a run alone, stacked or replayed from CUDA graphs sees the same weights.
    """

    name = "rlw"
    config_class = RlwConfig

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.seed = ctx.seed
        self.register_buffer("draws", torch.full((ctx.steps_per_epoch, len(TASKS)), float("nan")))

    def epoch_buffers(self, epoch: int, history: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        z = torch.randn(self.draws.shape, generator=generator(self.seed, "weighting", epoch))
        z = z.masked_fill(~self.active.cpu(), float("-inf"))
        return {"draws": torch.softmax(z, dim=-1)}

    def _weights(self, step: Tensor) -> Tensor:
        return torch.index_select(self.draws, 0, step.reshape(1))[0]

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.masked(self._weights(step) * losses).sum()

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.per_task(self.masked(self._weights(step)))
