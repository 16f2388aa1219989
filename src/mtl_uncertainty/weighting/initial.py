"""The initial s = log σ² per task (`sigma_init`), drawn with the run's seed for every method."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from omegaconf import DictConfig
from torch import Tensor

from ..tasks import TASKS

S_BOUND = 30.0
"""|s| at most this: σ² between e^−30 and e^30 (any larger overflows what is computed from it)."""


@dataclass
class UniformSigmaInit:
    """s ~ U(low, high) per task, seeded by `seed` (the source's: U(0.2, 1.0))."""

    name: str = "uniform"
    low: float = 0.2
    high: float = 1.0


@dataclass
class ConstantSigmaInit:
    """s = value for every task (0 means σ = 1)."""

    name: str = "constant"
    value: float = 0.0


SIGMA_INITS = {"uniform": UniformSigmaInit, "constant": ConstantSigmaInit}


def _bounded(x: float) -> bool:
    return math.isfinite(x) and abs(x) <= S_BOUND


def sigma_init_problems(s: DictConfig) -> list[str]:
    """Each impossible value of the `sigma_init` settings."""
    if s.name == "uniform" and not (_bounded(s.low) and _bounded(s.high) and s.low <= s.high):
        return [
            f"sigma_init uniform(low={s.low}, high={s.high}) has low above high or a bound outside "
            f"[−{S_BOUND:g}, {S_BOUND:g}]; use bounds in that range with sigma_init.low <= sigma_init.high"
        ]
    if s.name == "constant" and not _bounded(s.value):
        return [
            f"sigma_init.value={s.value} is outside [−{S_BOUND:g}, {S_BOUND:g}] (s = log σ²; σ² would over- "
            "or underflow); use a value in that range"
        ]
    return []


def initial_log_vars(cfg: DictConfig, generator: torch.Generator) -> Tensor:
    """Initial s for every task in `TASKS`: U(low, high) (the source's) or a constant."""
    if cfg.name == "uniform":
        return torch.rand(len(TASKS), generator=generator) * (cfg.high - cfg.low) + cfg.low
    if cfg.name == "constant":
        return torch.full((len(TASKS),), float(cfg.value))
    raise ValueError(f"unknown sigma_init {cfg.name!r}")
