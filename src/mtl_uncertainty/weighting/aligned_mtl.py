"""Aligned-MTL (Senushkin et al., CVPR 2023, "Independent component alignment for multi-task learning")."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import torch
from omegaconf import DictConfig

from .base import MethodConfig, RunContext, register
from .gradients import GramianMethod, torchjd_aggregation


class ScaleMode(str, Enum):
    """Which singular value of the gradient matrix the aligned gradients are scaled to."""

    min = "min"  # the smallest (the paper's Algorithm 1)
    median = "median"
    rmse = "rmse"  # the mean eigenvalue of the Gramian


@dataclass
class AlignedMtlConfig(MethodConfig):
    """The tasks' gradients made orthogonal and of equal norm (the condition number 1), then summed."""

    name: str = "aligned_mtl"
    scale_mode: ScaleMode = ScaleMode.min  # min (the paper) | median | rmse


@register
class AlignedMtl(GramianMethod):
    """Σ of the aligned gradients on the shared parameters, each head its own task's gradient.

    With G = V·Λ·Vᵀ the Gramian's eigendecomposition (rank r), the aligned gradients are Bᵀ·J with
    B = √λ_min·V·Λ^(-½)·Vᵀ, and their sum gives the weights α = B·1 (torchjd's AlignedMTLWeighting with
    the preference vector of ones, as LibMTL's port of the authors' code sums them; torchjd's default is the mean).
    """

    name = "aligned_mtl"
    config_class = AlignedMtlConfig

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        ones = torch.ones(sum(ctx.active), dtype=torch.float64)
        self.solver = torchjd_aggregation().AlignedMTLWeighting(ones, scale_mode=ScaleMode(cfg.scale_mode).value)
