"""UW-SO (Kirchdorfer et al., GCPR 2024): analytically optimal uncertainty weights, softmax-normalised.

For a loss L, the uncertainty objective's optimal weight is 1/L (UW-O); UW-SO normalises these
with a softmax at temperature T: w = softmax((1/L)/T) over the tasks, the losses detached, as in
the authors' implementation (weights sum to 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import DictConfig
from torch import Tensor

from .base import MethodConfig, RunContext, Weighting, positive, register

EPS = 1e-8  # keeps 1/L finite for a zero loss, as the authors' code does


@dataclass
class UwSoConfig(MethodConfig):
    """w = softmax((1/L)/T) over active tasks, recomputed every step from the detached losses."""

    name: str = "uw_so"
    temperature: float = 1.0  # T: larger makes the weights more equal (tune per problem, as the paper does)


@register
class SoftOptimalUncertainty(Weighting):
    """Σ w_i·L_i with w = softmax((1/(L + ε))/T) over the active tasks, w detached."""

    name = "uw_so"
    config_class = UwSoConfig
    per_run = ("temperature",)

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.register_buffer("temperature", torch.tensor(float(cfg.temperature)))

    @classmethod
    def problems(cls, w: DictConfig, cfg: DictConfig) -> list[str]:
        return positive(w, "temperature", "use e.g. 1")

    def _weights(self, losses: Tensor) -> Tensor:
        logits = (1 / (losses.detach() + EPS)) / self.temperature
        return torch.softmax(logits.masked_fill(~self.active, float("-inf")), dim=-1)

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        return (self._weights(losses) * self.masked(losses)).sum()

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.per_task(self._weights(losses))
