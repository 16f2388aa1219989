"""Methods that own the backward pass: each task's gradient of the shared parameters, combined into one.

A gradient method (PCGrad, CAGrad, Nash-MTL, ...) needs, every step, the gradient g_i of each active
task's loss with respect to the shared parameters (the encoder's: a row of the Jacobian J) and the
gradient of each task's loss on its own parameters (its head). `task_gradients` computes them in one
place, one backward pass per active task. The method turns J into weights w, one per task, and
`GradientMethod.backward` writes the update the optimiser applies: Σ w_i·g_i on the shared parameters
and each task's own gradient (times its head weight, 1 by default) on its head. An inactive task
adds nothing and its head gets no gradient, as in a loss-weighting run.

The network is seen through `bind(model)`: `shared_parameters()` and `task_parameters()` (by name,
see `model.MultiTaskNet`). These methods need a backward pass per task and host-side solvers, so
they train alone and eagerly (`stackable = graphable = False`). Where torchjd implements a method's
weighting it is used (`torchjd_aggregation`, imported on first use: it imports cvxpy, 0.7 s).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import ClassVar, NamedTuple

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from ..tasks import TASKS
from .base import RunContext, Weighting

INSTALL = 'pip install "torchjd[quadprog-projector,cagrad,nash-mtl]==0.18.*"'


def torchjd_aggregation() -> ModuleType:
    """torchjd.aggregation, or ImportError in one paragraph saying what to install."""
    try:
        return importlib.import_module("torchjd.aggregation")
    except ImportError as e:
        raise ImportError(
            f"The gradient methods (pcgrad, mgda_ub, cagrad, nash_mtl, imtl_g, aligned_mtl, upgrad) take their "
            f"aggregation from torchjd, which this Python cannot import ({e}). It is a dependency of the suite: "
            f"install it with {INSTALL}, or reinstall the suite (pip install -e .)."
        ) from e


@dataclass(frozen=True)
class TaskGradients:
    """One step's gradients of the active tasks, in TASKS order of the active ones."""

    tasks: tuple[int, ...]  # indices in TASKS of the active tasks, the rows' order
    jacobian: Tensor  # (active tasks, shared parameters): row k is task k's gradient, flattened
    heads: tuple[tuple[Tensor, ...], ...]  # task k's gradient on its own parameters, in their shapes

    def gramian(self) -> Tensor:
        """J·Jᵀ in float64 on the CPU: the tasks' gradients' inner products, which the host-side solvers take."""
        j = self.jacobian.double()
        return (j @ j.T).cpu()


def task_gradients(
    losses: Tensor, active: Sequence[bool], shared: Sequence[Tensor], heads: Sequence[Sequence[Tensor]]
) -> TaskGradients:
    """Each active task's gradient of `shared` and of its own `heads[i]`: one backward pass per task."""
    tasks = tuple(i for i, on in enumerate(active) if on)
    rows, own = [], []
    for k, i in enumerate(tasks):
        grads = torch.autograd.grad(
            losses[i], [*shared, *heads[i]], retain_graph=k < len(tasks) - 1, materialize_grads=True
        )
        rows.append(torch.cat([g.reshape(-1) for g in grads[: len(shared)]]))
        own.append(tuple(grads[len(shared) :]))
    return TaskGradients(tasks, torch.stack(rows), tuple(own))


def write_gradient(params: Sequence[Tensor], vector: Tensor) -> None:
    """Set each parameter's .grad to its slice of the flat `vector` (in the parameter's memory layout)."""
    offset = 0
    for p in params:
        p.grad = torch.empty_like(p).copy_(vector[offset : offset + p.numel()].view(p.shape))
        offset += p.numel()


class Combination(NamedTuple):
    """What a gradient method makes of one step's gradients, one value per active task."""

    shared: Tensor  # w: the shared parameters' update is Σ w_i·g_i
    heads: Tensor  # each task's head gets this times its own gradient (ones: its own gradient)


class GradientMethod(Weighting):
    """Base of the methods that combine the tasks' gradients of the shared parameters (module docstring).

    A subclass implements `combine(grads, losses, step)`. It records `weight`, the w_i of the last step
    (NaN before the first), and reports Σ w_i·L_i as the step's total.
    """

    stackable = False
    graphable = False
    recorded: ClassVar[Mapping[str, str]] = {"weight": "weight w_i on task i's gradient in the shared update"}

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.register_buffer("weights", torch.full((len(TASKS),), float("nan")))
        self._shared: list[Tensor] = []
        self._heads: list[list[Tensor]] = []

    def bind(self, model: nn.Module) -> None:
        self._shared = [p for _, p in model.shared_parameters()]
        own = model.task_parameters()
        self._heads = [[p for _, p in own[task]] for task in TASKS]

    def combine(self, grads: TaskGradients, losses: Tensor, step: Tensor) -> Combination:
        """The weights of this step's update from the active tasks' gradients."""
        raise NotImplementedError

    def backward(self, losses: Tensor, step: Tensor) -> Tensor:
        grads = task_gradients(losses, self.active.tolist(), self._shared, self._heads)
        if torch.isfinite(grads.jacobian).all():
            combination = self.combine(grads, losses.detach(), step)
        else:  # no solver weighs a NaN: the update is NaN, and the run is recorded as diverged at this step
            nan = torch.full((len(grads.tasks),), float("nan"), dtype=torch.float64)
            combination = Combination(nan, nan)
        shared = combination.shared.to(grads.jacobian)
        write_gradient(self._shared, shared @ grads.jacobian)
        for i, scale, own in zip(grads.tasks, combination.heads.tolist(), grads.heads):
            for p, g in zip(self._heads[i], own):
                p.grad = g * scale if scale != 1 else g
        self.keep_weights(grads.tasks, combination.shared)
        return self(losses.detach(), step)

    @torch.no_grad()
    def keep_weights(self, tasks: Sequence[int], weights: Tensor) -> None:
        """Remember the step's weights (one per active task) for `record` and the total."""
        full = torch.zeros(len(TASKS), dtype=torch.float64)
        full[list(tasks)] = weights.detach().cpu().double()
        self.weights.copy_(full)

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        """Σ w_i·L_i with the last step's weights: the step's total (its gradient is not the update)."""
        return self.masked(self.weights * losses).sum()

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        return self.per_task(self.masked(self.weights))


class GramianMethod(GradientMethod):
    """A gradient method whose weights are a function of the Gramian J·Jᵀ alone (`solver`, e.g. a torchjd
    Weighting), times `scale`; each head gets its own task's gradient."""

    solver: Callable[[Tensor], Tensor]

    def scale(self, tasks: int) -> float:
        """What the solver's weights are multiplied by, for `tasks` active tasks (1: as the solver gives them)."""
        return 1.0

    def combine(self, grads: TaskGradients, losses: Tensor, step: Tensor) -> Combination:
        weights = self.solver(grads.gramian()) * self.scale(len(grads.tasks))
        return Combination(weights, torch.ones_like(weights))
