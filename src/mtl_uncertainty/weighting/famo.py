"""FAMO (Liu et al., NeurIPS 2023, "FAMO: fast adaptive multitask optimization"): balanced loss decrease
from the losses alone, one backward pass a step."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from ..tasks import TASKS
from .base import MethodConfig, RunContext, Weighting, non_negative, positive, register

EPS = 1e-8  # added to every loss before its logarithm, as the authors' code does


@dataclass
class FamoConfig(MethodConfig):
    """Σ (z_i/c)·log L_i with z = softmax(ξ); ξ learned from how much each loss fell in the last step."""

    name: str = "famo"
    lr: float = 0.025  # Adam learning rate of the logits ξ (the paper's and the authors' code's: 0.025)
    gamma: float = 0.001  # the logits' Adam weight decay (the authors' QM9 script, LibMTL, torchjd: 1e-3)


@register
class Famo(Weighting):
    """The network minimises Σ (z_i/c)·log(L_i + ε), c = Σ z_i/(L_i + ε) held constant: its gradient is
    Σ z_i/(c·(L_i + ε))·∇L_i, a convex combination of the tasks' gradients (the recorded `weight`).

    After the network's step, the batch's losses are computed again with the updated network and the
    logits ξ take one Adam step (lr, weight decay γ) along −∂z/∂ξᵀ·δ, δ_i = log L_i(before) − log L_i(after):
    the tasks whose loss fell least gain weight. Adam's state is saved with the method (checkpoints);
    the logits are not in the network's optimiser. The extra forward pass and FAMO's own step keep it
    out of stacks and CUDA graphs.
    """

    name = "famo"
    config_class = FamoConfig
    recorded: ClassVar[Mapping[str, str]] = {
        "weight": "effective weight z_i/(c·L_i) on L_i (they sum to 1)",
        "z": "z = softmax(ξ), FAMO's task weights",
        "logit": "ξ, the learned logit",
    }
    stackable = False
    graphable = False

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.gamma = float(cfg.gamma)
        self.logits = nn.Parameter(torch.zeros(len(TASKS)))
        self._adam: torch.optim.Adam | None = None
        self._before: Tensor | None = None

    @classmethod
    def problems(cls, w: DictConfig, cfg: DictConfig) -> list[str]:
        out = positive(w, "lr", "use e.g. 0.025 (the paper's)")
        return out + non_negative("weighting.gamma", w.gamma, "use e.g. 0.001 (the authors' QM9 runs) or 0")

    def optimizer_groups(self) -> list[dict[str, Any]]:
        return []  # FAMO steps its logits itself, after the network's step

    def z(self) -> Tensor:
        """softmax(ξ) over the active tasks (0 on the others)."""
        return torch.softmax(self.logits.masked_fill(~self.active, float("-inf")), dim=-1)

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        self._before = losses.detach()
        z = self.z().detach()
        shifted = losses + EPS
        c = (z / shifted).sum().detach()
        return self.masked(z / c * torch.log(shifted)).sum()

    @torch.no_grad()
    def after_step(self, losses_after: Callable[[], Tensor]) -> None:
        if self._before is None:
            return
        change = torch.log(self._before + EPS) - torch.log(losses_after() + EPS)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(self.z(), self.logits, grad_outputs=self.masked(change))
        if self._adam is None:
            self._adam = torch.optim.Adam([self.logits], lr=self.lr, weight_decay=self.gamma)
        self.logits.grad = grad
        self._adam.step()
        self.logits.grad = None
        self._before = None

    def get_extra_state(self) -> dict[str, Any]:
        """The logits' Adam state, a copy (saved in checkpoints with the method's parameters)."""
        return {"adam": copy.deepcopy(self._adam.state_dict()) if self._adam is not None else None}

    def set_extra_state(self, state: dict[str, Any]) -> None:
        self._adam = None
        if state.get("adam") is not None:
            self._adam = torch.optim.Adam([self.logits], lr=self.lr, weight_decay=self.gamma)
            self._adam.load_state_dict(copy.deepcopy(state["adam"]))

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        z = self.z().detach()
        shifted = losses + EPS
        weight = z / ((z / shifted).sum() * shifted)
        return self.per_task(self.masked(weight), z, self.logits.detach())
