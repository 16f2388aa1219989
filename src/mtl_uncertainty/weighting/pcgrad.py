"""PCGrad (Yu et al., NeurIPS 2020, "Gradient surgery for multi-task learning")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from ..seeding import generator
from ..tasks import TASKS
from .base import MethodConfig, RunContext, register
from .gradients import Combination, GradientMethod, TaskGradients


@dataclass
class PcGradConfig(MethodConfig):
    """Each task's gradient projected off every other task's it conflicts with, in random order; summed."""

    name: str = "pcgrad"


def pcgrad_weights(gramian: Tensor, orders: Sequence[Sequence[int]]) -> Tensor:
    """w with Σ_i g_i^PC = Σ_j w_j·g_j, from the Gramian G = J·Jᵀ alone.

    g_i^PC starts as g_i and, for each j ≠ i in the order `orders[i]`, loses its component along g_j
    when g_i^PC·g_j < 0. This is torchjd's PCGradWeighting (the paper's Algorithm 1) with the orders
    given, where torchjd draws them from PyTorch's global generator, which no run of this suite draws from.
    """
    m = gramian.shape[0]
    weights = torch.zeros(m, dtype=gramian.dtype)
    for i in range(m):
        current = torch.zeros(m, dtype=gramian.dtype)
        current[i] = 1.0
        for j in orders[i]:
            if j == i:
                continue
            inner = gramian[j] @ current  # g_j · g_i^PC
            if inner < 0:
                current[j] -= inner / gramian[j, j]
        weights += current
    return weights


@register
class PcGrad(GradientMethod):
    """The sum of the projected gradients on the shared parameters; each head its own task's gradient.

    The order in which task i meets the others is drawn anew every step, from the run's own seeded
    stream as one tensor before each epoch (as `rlw` draws its weights), so that a resumed run draws
    what it would have drawn. With two tasks the order does not matter.
    """

    name = "pcgrad"
    config_class = PcGradConfig

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.seed = ctx.seed
        self.register_buffer("orders", torch.arange(len(TASKS)).repeat(ctx.steps_per_epoch, len(TASKS), 1))

    def epoch_buffers(self, epoch: int, history: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        draws = torch.rand(self.orders.shape, generator=generator(self.seed, "weighting", epoch))
        return {"orders": draws.argsort(dim=-1)}

    def combine(self, grads: TaskGradients, losses: Tensor, step: Tensor) -> Combination:
        position = {task: k for k, task in enumerate(grads.tasks)}  # TASKS index → row of the Jacobian
        step_orders = self.orders[int(step)].tolist()
        orders = [[position[j] for j in step_orders[i] if j in position] for i in grads.tasks]
        weights = pcgrad_weights(grads.gramian().cpu(), orders)
        return Combination(weights, torch.ones_like(weights))
