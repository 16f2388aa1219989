"""GradNorm (Chen et al., ICML 2018): weights trained to balance the tasks' gradient norms."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from ..tasks import TASKS
from .base import LearnedConfig, RunContext, Weighting, non_negative, register


@dataclass
class GradNormConfig(LearnedConfig):
    """Weights w_i (initially 1) trained so that each task's gradient norm on the last shared layer
    tracks the mean norm times its relative inverse training rate to the power α."""

    name: str = "gradnorm"
    alpha: float = 1.5  # α: how strongly slow tasks are pulled up (the paper's default: 1.5)


@register
class GradNorm(Weighting):
    """Σ w_i·L_i for the network, and L_grad = Σ_i |G_i − Ḡ·r_i^α| for the weights.

    G_i = ‖∇_W w_i·L_i‖ on the last shared layer's weights W, Ḡ the mean over tasks, r_i the
    task's loss ratio L_i(t)/L_i(0) divided by the mean ratio; Ḡ·r_i^α is held constant. After
    each step the weights are renormalised to sum to K, the number of active tasks. The minimised
    total is Σ w̄_i·L_i + L_grad with w̄ detached, so one backward pass gives the network the
    gradient of the weighted sum and the weights the gradient of L_grad. Needs a gradient per task
    on W every step, so it trains alone and eagerly (not stacked, not graphed).
    """

    name = "gradnorm"
    config_class = GradNormConfig
    stackable = False
    graphable = False

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.alpha = float(cfg.alpha)
        self.w = nn.Parameter(torch.ones(len(TASKS)))
        self.register_buffer("initial_losses", torch.full((len(TASKS),), float("nan")))
        self._shared: list[Tensor] = []  # the last shared layer's weights (not a parameter of this module)

    @classmethod
    def problems(cls, w: DictConfig, cfg: DictConfig) -> list[str]:
        out = super().problems(w, cfg)
        return out + non_negative("weighting.alpha", w.alpha, "use 0 or more (the paper's: 1.5)")

    def bind(self, model: nn.Module) -> None:
        self._shared = [model.last_shared_layer().weight]

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        with torch.no_grad():
            self.initial_losses.copy_(torch.where(torch.isnan(self.initial_losses), losses, self.initial_losses))
        weighted = self.masked(self.w.detach() * losses).sum()
        if not torch.is_grad_enabled() or not self._shared:
            return weighted
        norms = torch.stack(
            [
                torch.linalg.vector_norm(torch.autograd.grad(losses[i], self._shared, retain_graph=True)[0])
                if on
                else losses.new_zeros(())
                for i, on in enumerate(self.active.tolist())
            ]
        )
        grads = self.w * norms  # G_i: differentiable in w only
        with torch.no_grad():
            k = self.num_active
            ratio = self.masked(losses / self.initial_losses)
            relative = ratio / (ratio.sum() / k)
            target = (self.masked(grads).sum() / k) * relative**self.alpha
        return weighted + self.masked((grads - target).abs()).sum()

    @torch.no_grad()
    def after_step(self, losses_after: Callable[[], Tensor]) -> None:
        w = self.masked(self.w.clamp(min=0))  # a negative weight has no meaning; the paper's w stay positive
        self.w.copy_(w * self.num_active / w.sum())

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.per_task(self.masked(self.w.detach()))
