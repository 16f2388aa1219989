"""IMTL-L (Liu et al., ICLR 2021, "Towards impartial multi-task learning"): the loss-balancing part."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from .base import LearnedConfig, RunContext, Weighting, register


@dataclass
class ImtlLConfig(LearnedConfig):
    """Σ e^{s_i}·L_i − s_i with trainable s_i (initial s_i from sigma_init)."""

    name: str = "imtl_l"


@register
class ImtlL(Weighting):
    """Σ e^{s_i}·L_i − s_i over active tasks: at its optimum every scaled loss e^{s_i}·L_i is 1."""

    name = "imtl_l"
    config_class = ImtlLConfig
    recorded: ClassVar[Mapping[str, str]] = {
        "s": "s (scale e^s on the loss)",
        "weight": "effective weight e^s",
        "s_eq": "s* = −log L, where s would settle for this loss",
    }

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.s = nn.Parameter(ctx.initial_s.detach().clone().float())

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.masked(torch.exp(self.s) * losses - self.s).sum()

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        s = self.s.detach()
        return self.per_task(s, self.masked(torch.exp(s)), -torch.log(losses))
