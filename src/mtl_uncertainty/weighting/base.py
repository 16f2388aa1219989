"""The interface every weighting method implements, and the registry that finds them by name.

A method turns one step's per-task losses into the scalar the network minimises (`forward`), or
owns the backward pass: from the losses and the network's shared parameters (given by `bind`) it
sets the gradients the optimiser then applies (`backward`; `gradients.GradientMethod` is the base of
such methods). It declares everything the rest of the suite asks of it, so that the training loop,
the stacker, the CUDA graphs, the config checks and the report never name a method:

- `config_class`: its settings (a dataclass registered as `schema/weighting/<name>`), and
  `problems` for the values that cannot work;
- its trainable parameters (`nn.Parameter`s) and their optimiser settings (`optimizer_groups`);
- its state (buffers: saved in checkpoints, stacked, captured by CUDA graphs);
- `epoch_buffers`, new buffer values at the start of each epoch (for methods that adapt per
  epoch or draw random weights);
- `stackable` and `graphable`: whether many runs can train as one stacked network
  (`torch.func.vmap`) and whether its steps can be replayed from CUDA graphs;
- `per_run`: the settings in which runs of one stack may differ (held in buffers);
- `recorded`: the per-task values it records every step (the effective weight at least; s, σ,
  ... where it has them), computed by `record`;
- `bind` and `after_step`, for methods that look at the network or at what a step did.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from omegaconf import MISSING, SI, DictConfig
from torch import Tensor, nn

from ..tasks import TASKS

WEIGHTINGS: dict[str, type[Weighting]] = {}
"""Every weighting method by its config name (`weighting=<name>`), filled by `register`."""


def register(cls: type[Weighting]) -> type[Weighting]:
    """Class decorator: make a method available as `weighting=<cls.name>`."""
    if cls.name in WEIGHTINGS:
        raise ValueError(f"two weighting methods are called {cls.name!r}")
    WEIGHTINGS[cls.name] = cls
    return cls


@dataclass(frozen=True)
class RunContext:
    """What a method may use of its run when it is built."""

    active: tuple[bool, ...]  # which tasks of TASKS enter the objective
    initial_s: Tensor  # s = log σ² per task, drawn from sigma_init with the run's seed
    seed: int
    steps_per_epoch: int


@dataclass
class MethodConfig:
    """Every method's settings start with its name (the YAML file's name in conf/weighting/)."""

    name: str = MISSING


@dataclass
class LearnedConfig(MethodConfig):
    """Settings shared by methods with trainable parameters: their own Adam group."""

    lr: float = SI("${train.lr}")  # Adam learning rate of the method's parameters (default: the network's)
    weight_decay: float = 0.0  # Adam (L2) weight decay on the method's parameters


FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_SMALLEST = 1.1754943508222875e-38  # the smallest normal float32: below it a value flushes towards 0


def float32_holds(value: float) -> bool:
    """Whether the run's 32-bit tensors hold `value` as itself: finite, and 0 or at least the smallest normal."""
    return math.isfinite(value) and (value == 0 or FLOAT32_SMALLEST <= abs(value) <= FLOAT32_MAX)


def positive(w: DictConfig, key: str, example: str) -> list[str]:
    """The problem with setting `weighting.<key>` unless it is a positive number a 32-bit tensor holds."""
    value = w[key]
    if math.isfinite(value) and value > 0 and float32_holds(value):
        return []
    return [f"weighting.{key}={value} is not a positive number the run's 32-bit tensors hold; {example}"]


def non_negative(name: str, value: float, example: str) -> list[str]:
    """The problem with `name=value` unless it is 0 or a positive number a 32-bit tensor holds."""
    if value >= 0 and float32_holds(value):
        return []
    return [f"{name}={value} is negative or not finite (or beyond the run's 32-bit tensors, ±3.4e38); {example}"]


def learned_problems(w: DictConfig) -> list[str]:
    """Value checks for `LearnedConfig`."""
    out = positive(w, "lr", "use a positive learning rate for the weights")
    out += non_negative("weighting.weight_decay", w.weight_decay, "use 0 or more")
    return out


class Weighting(nn.Module):
    """Base class of the methods; see the module docstring for what each one declares."""

    name: ClassVar[str]
    config_class: ClassVar[type]
    recorded: ClassVar[Mapping[str, str]] = {"weight": "effective weight on L_i"}
    """Per-task values recorded every step, name → what it is. Every method records `weight`."""
    stackable: ClassVar[bool] = True
    graphable: ClassVar[bool] = True
    per_run: ClassVar[tuple[str, ...]] = ()

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__()
        self.register_buffer("active", torch.tensor(ctx.active, dtype=torch.bool))
        self.lr = float(cfg.lr) if "lr" in cfg else None
        self.weight_decay = float(cfg.weight_decay) if "weight_decay" in cfg else None

    @classmethod
    def problems(cls, w: DictConfig, cfg: DictConfig) -> list[str]:
        """Each impossible value of this method's settings `w` in the run's config `cfg`."""
        return learned_problems(w) if "lr" in w else []

    def trained(self) -> tuple[bool, ...]:
        """Tasks whose loss the method optimises (the active ones, unless it trains fewer)."""
        return tuple(self.active.tolist())

    def forward(self, losses: Tensor, step: Tensor) -> Tensor:
        """The scalar to minimise from the per-task losses (TASKS order); `step`: index in the epoch."""
        raise NotImplementedError

    def backward(self, losses: Tensor, step: Tensor) -> Tensor:
        """Set the gradients the optimiser applies from this step's losses; returns the step's total (loss_total).

        A loss-weighting method backpropagates its scalar; a method that combines the tasks' gradients
        itself overrides this (see `gradients.GradientMethod`).
        """
        total = self(losses, step)
        total.backward()
        return total

    def record(self, losses: Tensor, step: Tensor) -> Tensor:
        """The `recorded` values after this step's update: shape (len(recorded), len(TASKS))."""
        raise NotImplementedError

    def optimizer_groups(self) -> list[dict[str, Any]]:
        """Adam groups of the method's parameters, by parameter name, with their lr and weight decay."""
        names = [n for n, _ in self.named_parameters()]
        if not names:
            return []
        return [{"params": names, "lr": self.lr, "weight_decay": self.weight_decay}]

    def epoch_buffers(self, epoch: int, history: Sequence[Mapping[str, Any]]) -> dict[str, Tensor]:
        """New values of buffers for epoch `epoch` (1-based), from the run's history of past epochs."""
        return {}

    def bind(self, model: nn.Module) -> None:
        """Called once with the network (for methods that look at its gradients)."""

    def after_step(self, losses_after: Callable[[], Tensor]) -> None:
        """Called after every optimiser step (methods that are not stackable only).

        `losses_after()` computes the step's batch losses again with the updated network (one forward
        pass, no gradients), for methods that learn from what the step did (FAMO); it costs nothing unless called.
        """

    @property
    def num_active(self) -> Tensor:
        return self.active.sum()

    def masked(self, values: Tensor) -> Tensor:
        """`values` with inactive tasks set to 0."""
        return torch.where(self.active, values, torch.zeros_like(values))

    @staticmethod
    def per_task(*rows: Tensor) -> Tensor:
        """Stack recorded rows (each one value per task) into the `record` shape."""
        return torch.stack(rows)


def build_weighting(cfg: DictConfig, ctx: RunContext) -> Weighting:
    """The method named by `cfg.name`, built from its settings."""
    return WEIGHTINGS[cfg.name](cfg, ctx)


def per_task_tensor(values: Sequence[float]) -> Tensor:
    """A float32 tensor with one value per task."""
    if len(values) != len(TASKS):
        raise ValueError(f"expected {len(TASKS)} values, one per task, got {len(values)}")
    return torch.tensor(list(values), dtype=torch.float32)
