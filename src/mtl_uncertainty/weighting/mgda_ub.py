"""MGDA-UB (Sener & Koltun, NeurIPS 2018, "Multi-task learning as multi-objective optimization")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import ClassVar

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from .base import MethodConfig, RunContext, positive, register
from .gradients import GradientMethod, torchjd_aggregation


class Normalization(str, Enum):
    """How each task's gradient is scaled before the min-norm point is found (the authors' code)."""

    none = "none"  # the paper's: the gradients as they are
    l2 = "l2"  # divided by its norm
    loss = "loss"  # divided by the task's loss
    loss_norm = "loss_norm"  # divided by loss × norm ("loss+" in the code, its sample configuration's)


@dataclass
class MgdaUbConfig(MethodConfig):
    """Weights at the min-norm point of the convex hull of the tasks' gradients of the shared representation."""

    name: str = "mgda_ub"
    normalization: Normalization = Normalization.none  # none (the paper) | l2 | loss | loss_norm: the code's options
    max_iters: int = 250  # Frank-Wolfe iterations at most (the authors' code: 250)
    epsilon: float = 1e-5  # stop once a Frank-Wolfe step size falls below this (the code stops at a change of 1e-5)


@register
class MgdaUb(GradientMethod):
    """Σ α_i·L_i backpropagated, α the min-norm weights of the gradients with respect to z, the encoder's output.

    MGDA-UB bounds MGDA's problem by one on the shared representation z (the upper bound of the paper's
    Theorem 1): each task's gradient of its loss with respect to z (the whole batch's, flattened, as
    the authors' code takes it) costs a backward pass through its head only. α is the min-norm point of
    their convex hull (Frank-Wolfe, the paper's Algorithm 2: torchjd's MGDAWeighting) and sums to 1;
    the network then minimises Σ α_i·L_i, as the authors' code does, so the heads' gradients are
    weighted by α too.
    """

    name = "mgda_ub"
    config_class = MgdaUbConfig
    recorded: ClassVar[Mapping[str, str]] = {"weight": "effective weight α_i on L_i (the min-norm point's, Σα = 1)"}

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.normalization = Normalization(cfg.normalization)
        self.solver = torchjd_aggregation().MGDAWeighting(epsilon=float(cfg.epsilon), max_iters=int(cfg.max_iters))
        self._z: Tensor | None = None

    @classmethod
    def problems(cls, w: DictConfig, cfg: DictConfig) -> list[str]:
        out = positive(w, "epsilon", "use e.g. 1e-5 (the authors' code)")
        if w.max_iters < 1:
            out.append(f"weighting.max_iters={w.max_iters} runs no Frank-Wolfe step; use 1 or more (the code's: 250)")
        return out

    def bind(self, model: nn.Module) -> None:
        super().bind(model)
        model.shared_module().register_forward_hook(self._keep_representation)

    def _keep_representation(self, module: nn.Module, inputs: object, output: Tensor) -> None:
        self._z = output if output.requires_grad else None

    def representation_gramian(self, losses: Tensor) -> tuple[list[int], Tensor]:
        """The active tasks and the Gramian of their losses' gradients with respect to z (float64, CPU)."""
        if self._z is None:
            raise RuntimeError("mgda_ub: no shared representation was recorded in this step's forward pass")
        tasks = [i for i, on in enumerate(self.active.tolist()) if on]
        rows = torch.stack([torch.autograd.grad(losses[i], self._z, retain_graph=True)[0].reshape(-1) for i in tasks])
        rows = rows.double()
        return tasks, (rows @ rows.T).cpu()

    def normalizers(self, norms: Tensor, losses: Tensor) -> Tensor:
        """What each task's gradient is divided by before the solver (the authors' gradient_normalizers)."""
        return {
            Normalization.none: torch.ones_like(norms),
            Normalization.l2: norms,
            Normalization.loss: losses,
            Normalization.loss_norm: losses * norms,
        }[self.normalization]

    def backward(self, losses: Tensor, step: Tensor) -> Tensor:
        tasks, gramian = self.representation_gramian(losses)
        scale = self.normalizers(gramian.diagonal().sqrt(), losses.detach()[tasks].cpu().double())
        gramian = gramian / torch.outer(scale, scale)
        finite = bool(torch.isfinite(gramian).all())  # else the run diverges at this step, recorded as such
        alpha = self.solver(gramian) if finite else torch.full((len(tasks),), float("nan"), dtype=torch.float64)
        self.keep_weights(tasks, alpha)
        self._z = None
        (self.weights[tasks] * losses[tasks]).sum().backward()  # the active tasks only: no gradient reaches the others
        return self(losses.detach(), step)
