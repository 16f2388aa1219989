"""Uncertainty weighting (Kendall, Gal & Cipolla, CVPR 2018): one trainable s = log σ² per task."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from ..tasks import CLASSIFICATION
from .base import LearnedConfig, RunContext, Weighting, register


class LossForm(str, Enum):
    """How the uncertainty objective scales each task's loss."""

    seed = "seed"  # the source: 0.5·exp(−s)·L + 0.5·s for every task
    kendall = "kendall"  # the paper: exp(−s)·L for classification, 0.5·exp(−s)·L for regression


@dataclass
class UncertaintyConfig(LearnedConfig):
    """Learnable homoscedastic-uncertainty weighting (Kendall, Gal & Cipolla 2018)."""

    name: str = "learnable"
    form: LossForm = LossForm.seed  # seed: the source's formula; kendall: the paper's split


@register
class UncertaintyWeighting(Weighting):
    """Σ c_i·exp(−s_i)·L_i + ½·s_i over active tasks, with one trainable s_i = log σ_i² each.

    c_i is ½ for every task in the source's form; the paper's form uses c_i = 1 for
    classification. With L held fixed, s_i converges to s* = log(2·c_i·L_i).
    """

    name = "learnable"
    config_class = UncertaintyConfig
    recorded: ClassVar[Mapping[str, str]] = {
        "s": "s = log σ²",
        "sigma": "σ = exp(s/2)",
        "weight": "effective weight c·exp(−s)",
        "s_eq": "s* = log(2cL), where s would settle for this loss",
    }
    per_run = ("form",)

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        form = LossForm(cfg.form)
        scale = [1.0 if (cls and form is LossForm.kendall) else 0.5 for cls in CLASSIFICATION]
        self.register_buffer("scale", torch.tensor(scale))
        self.s = nn.Parameter(ctx.initial_s.detach().clone().float())

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.masked(self.scale * torch.exp(-self.s) * losses + 0.5 * self.s).sum()

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        s = self.s.detach()
        weight = self.masked(self.scale * torch.exp(-s))
        return self.per_task(s, torch.exp(s / 2), weight, torch.log(2 * self.scale * losses))
