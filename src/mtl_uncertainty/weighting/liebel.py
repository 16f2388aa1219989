"""Liebel & Körner 2018 ("Auxiliary tasks in multi-task learning"): σ learned with a positive regulariser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from .base import LearnedConfig, RunContext, Weighting, register


@dataclass
class LiebelConfig(LearnedConfig):
    """Σ L_i/(2σ_i²) + ln(1 + σ_i²) with trainable σ_i (initial σ_i = exp(s_i/2), s_i from sigma_init)."""

    name: str = "liebel"


@register
class LiebelWeighting(Weighting):
    """Σ L_i/(2σ_i²) + ln(1 + σ_i²) over active tasks; σ_i is the trained parameter.

    The regulariser ln(1 + σ²) stays positive, unlike ln σ², so the objective cannot be lowered by
    shrinking σ without bound. With L fixed, σ² settles at (L + √(L² + 8L))/4.
    """

    name = "liebel"
    config_class = LiebelConfig
    recorded: ClassVar[Mapping[str, str]] = {
        "sigma": "σ (the trained parameter)",
        "s": "s = log σ²",
        "weight": "effective weight 1/(2σ²)",
        "s_eq": "log σ*², where σ² would settle for this loss",
    }

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.sigma = nn.Parameter(torch.exp(ctx.initial_s.detach().clone().float() / 2))

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        var = self.sigma**2
        return self.masked(losses / (2 * var) + torch.log1p(var)).sum()

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        sigma = self.sigma.detach()
        var = sigma**2
        settle = (losses + torch.sqrt(losses**2 + 8 * losses)) / 4
        return self.per_task(sigma, torch.log(var), self.masked(1 / (2 * var)), torch.log(settle))
