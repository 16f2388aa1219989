"""Geometric Loss Strategy (Chennupati et al., CVPR Workshops 2019): the geometric mean of the losses."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .base import MethodConfig, Weighting, register


@dataclass
class GlsConfig(MethodConfig):
    """(Π_i L_i)^{1/K} over the K active tasks; no settings."""

    name: str = "gls"


@register
class GeometricLossStrategy(Weighting):
    """(Π_i L_i)^{1/K}: its gradient weights each task by total/(K·L_i), so small losses count more."""

    name = "gls"
    config_class = GlsConfig

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        logs = torch.where(self.active, torch.log(losses), torch.zeros_like(losses))
        return torch.exp(logs.sum() / self.num_active)

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        total = self.forward(losses, step)
        return self.per_task(self.masked(total / (self.num_active * losses)))
