"""Nash-MTL (Navon et al., ICML 2022, "Multi-task learning as a bargaining game")."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import torch
from omegaconf import DictConfig
from torch import Tensor

from ..tasks import TASKS
from .base import MethodConfig, RunContext, non_negative, register
from .gradients import Combination, GradientMethod, TaskGradients, torchjd_aggregation

CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_'s: the authors' code clips the shared gradient with it

# cvxpy warns once per run that the authors' problem is not DPP (so later solves are no faster than the first)
warnings.filterwarnings(
    "ignore", message="You are solving a parameterized problem that is not DPP", category=UserWarning
)


@dataclass
class NashMtlConfig(MethodConfig):
    """Weights α with (G·α)_i = 1/α_i, the Nash bargaining solution, G the Gramian of the tasks' gradients."""

    name: str = "nash_mtl"
    update_weights_every: int = 1  # solve for α every this many steps, else reuse the last α (the paper: 1)
    optim_niter: int = 20  # CCCP iterations at most per solve (the authors' code: 20)
    max_norm: float = 1.0  # clip the shared parameters' update to this norm; 0: no clipping (the code's: 1.0)


@register
class NashMtl(GradientMethod):
    """Σ α_i·L_i as the authors' code applies it: α_i on task i's head, and Σ α_i·g_i clipped to max_norm on the shared.

    α solves the bargaining problem G·α = 1/α (torchjd's NashMTL weighting: the authors' CCCP iterations
    with cvxpy and ECOS, on G scaled by its Frobenius norm for the solver). Each solve starts from the last α;
    α and the step count are buffers, so a resumed run starts where it stopped. The recorded weight
    is that of the shared update, clipping included.
    """

    name = "nash_mtl"
    config_class = NashMtlConfig
    recorded: ClassVar[Mapping[str, str]] = {
        "weight": "weight α_i·clip on task i's gradient in the shared parameters' update (α_i on its head)"
    }

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.every, self.max_norm = int(cfg.update_weights_every), float(cfg.max_norm)
        tasks = sum(ctx.active)
        aggregator = torchjd_aggregation().NashMTL(n_tasks=tasks, max_norm=0.0, optim_niter=int(cfg.optim_niter))
        self.solver = aggregator.weighting  # clipping and the update schedule are done here, as the authors' code does
        self.register_buffer("alpha", torch.ones(len(TASKS), dtype=torch.float64))
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    @classmethod
    def problems(cls, w: DictConfig, cfg: DictConfig) -> list[str]:
        out = non_negative("weighting.max_norm", w.max_norm, "use e.g. 1.0 (the authors' code), or 0 not to clip")
        for key, default in (("update_weights_every", 1), ("optim_niter", 20)):
            if w[key] < 1:
                out.append(f"weighting.{key}={w[key]} is below 1; use 1 or more (the authors' code: {default})")
        return out

    def combine(self, grads: TaskGradients, losses: Tensor, step: Tensor) -> Combination:
        tasks = list(grads.tasks)
        jacobian = grads.jacobian.double()
        if int(self.steps) % self.every == 0:
            self.solver.prvs_alpha = self.alpha[tasks].cpu().numpy().copy()  # the warm start
            self.alpha[tasks] = self.solver(jacobian).to(self.alpha)
        self.steps += 1
        alpha = self.alpha[tasks].cpu()
        scale = 1.0
        if self.max_norm > 0:
            norm = float(torch.linalg.vector_norm(alpha @ jacobian.cpu()))
            scale = min(1.0, self.max_norm / (norm + CLIP_EPS))
        return Combination(alpha * scale, alpha)
