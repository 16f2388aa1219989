"""Task weighting methods: each turns the per-task losses of a step into one scalar to minimise.

One method = one class here (with its config schema) + one YAML file in `conf/weighting/`.
The training loop only calls `forward`, which returns the objective with the s and effective
weight of every task, so it never knows which method it runs (and a stack of runs can call it
through `torch.func`). Every method sees all of `TASKS`; tasks that are off (`active` False) add
nothing to the objective.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, ClassVar, NamedTuple

import torch
from omegaconf import SI
from torch import Tensor, nn

from .tasks import CLASSIFICATION, TASKS


class Objective(NamedTuple):
    """What a weighting makes of one step's per-task losses."""

    total: Tensor  # the scalar to minimise
    log_vars: Tensor  # s = log σ² per task (NaN for methods without one)
    weights: Tensor  # the effective weight on each task's loss (0 for inactive tasks)


class Weighting(nn.Module):
    """Base class: holds which tasks are active; subclasses define the objective."""

    name: ClassVar[str]

    def __init__(self, active: Sequence[bool]) -> None:
        super().__init__()
        self.register_buffer("active", torch.tensor(list(active), dtype=torch.bool))

    def forward(self, losses: Tensor) -> Objective:
        """The objective from the per-task losses (shape (len(TASKS),))."""
        raise NotImplementedError

    def log_vars(self) -> Tensor | None:
        """s = log σ² per task, or None for methods without one."""
        return None

    def weights(self) -> Tensor:
        """Effective weight on each task's loss (0 for inactive tasks)."""
        raise NotImplementedError

    def _masked(self, values: Tensor) -> Tensor:
        return torch.where(self.active, values, torch.zeros_like(values))


class LossForm(str, Enum):
    """How the uncertainty objective scales each task's loss."""

    seed = "seed"  # the source: 0.5·exp(−s)·L + 0.5·s for every task
    kendall = "kendall"  # the paper: exp(−s)·L for classification, 0.5·exp(−s)·L for regression


@dataclass
class UncertaintyWeightingConfig:
    """Learnable homoscedastic-uncertainty weighting (Kendall, Gal & Cipolla 2018)."""

    name: str = "learnable"
    form: LossForm = LossForm.seed  # seed: the source's formula; kendall: the paper's split
    lr: float = SI("${train.lr}")  # Adam learning rate of s (default: the model's, as the source)
    weight_decay: float = 0.0  # Adam (L2) weight decay on s


class UncertaintyWeighting(Weighting):
    """Σ c_i·exp(−s_i)·L_i + 0.5·s_i over active tasks, with one trainable s_i = log σ_i² each.

    c_i is 0.5 for every task in the source's form; the paper's form uses c_i = 1 for
    classification. With L held fixed, s_i converges to log(2·c_i·L_i).
    """

    name = "learnable"
    config_class = UncertaintyWeightingConfig

    def __init__(self, active: Sequence[bool], log_vars: Tensor, form: LossForm | str) -> None:
        super().__init__(active)
        form = LossForm(form)
        scale = [1.0 if (cls and form is LossForm.kendall) else 0.5 for cls in CLASSIFICATION]
        self.register_buffer("scale", torch.tensor(scale))
        self.s = nn.Parameter(log_vars.detach().clone().float())

    @classmethod
    def from_config(cls, cfg: Any, active: Sequence[bool], log_vars: Tensor) -> UncertaintyWeighting:
        return cls(active, log_vars, cfg.form)

    def forward(self, losses: Tensor) -> Objective:
        terms = self.scale * torch.exp(-self.s) * losses + 0.5 * self.s
        return Objective(self._masked(terms).sum(), self.s.detach(), self.weights())

    def log_vars(self) -> Tensor:
        return self.s

    def weights(self) -> Tensor:
        return self._masked(self.scale * torch.exp(-self.s.detach()))


@dataclass
class TaskWeights:
    """A constant weight per task."""

    cls3: float = 1.0
    cls10: float = 1.0
    recon: float = 1.0


@dataclass
class FixedWeightingConfig:
    """Constant weights: Σ λ_i·L_i (all 1, the source's plain sum, by default)."""

    name: str = "fixed"
    weights: TaskWeights = field(default_factory=TaskWeights)


class FixedWeighting(Weighting):
    """Σ λ_i·L_i over active tasks with constant λ_i."""

    name = "fixed"
    config_class = FixedWeightingConfig

    def __init__(self, active: Sequence[bool], weights: Sequence[float]) -> None:
        super().__init__(active)
        self.register_buffer("lambdas", torch.tensor(list(weights), dtype=torch.float32))

    @classmethod
    def from_config(cls, cfg: Any, active: Sequence[bool], log_vars: Tensor) -> FixedWeighting:
        return cls(active, [float(cfg.weights[t]) for t in TASKS])

    def forward(self, losses: Tensor) -> Objective:
        no_s = torch.full_like(self.lambdas, float("nan"))
        return Objective(self._masked(self.lambdas * losses).sum(), no_s, self.weights())

    def weights(self) -> Tensor:
        return self._masked(self.lambdas)


WEIGHTINGS: dict[str, type[Weighting]] = {
    UncertaintyWeighting.name: UncertaintyWeighting,
    FixedWeighting.name: FixedWeighting,
}
"""Every weighting method by its config name (`weighting=<name>`)."""


def build_weighting(cfg: Any, active: Sequence[bool], log_vars: Tensor) -> Weighting:
    """The weighting named by `cfg.name`, with `log_vars` as its initial s where it has one."""
    return WEIGHTINGS[cfg.name].from_config(cfg, active, log_vars)


def initial_log_vars(cfg: Any, generator: torch.Generator) -> Tensor:
    """Initial s for every task in `TASKS`: U(low, high) (the source's) or a constant."""
    if cfg.name == "uniform":
        return torch.rand(len(TASKS), generator=generator) * (cfg.high - cfg.low) + cfg.low
    if cfg.name == "constant":
        return torch.full((len(TASKS),), float(cfg.value))
    raise ValueError(f"unknown sigma_init {cfg.name!r}")
