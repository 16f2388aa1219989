"""UPGrad (Quinton & Rey, 2024, "Jacobian descent for multi-objective optimization")."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from .base import MethodConfig, RunContext, register
from .gradients import GramianMethod, torchjd_aggregation


@dataclass
class UpGradConfig(MethodConfig):
    """The mean of each task's gradient projected onto the dual cone of all of them."""

    name: str = "upgrad"


@register
class UpGrad(GramianMethod):
    """(1/K)·Σ_i π(g_i) on the shared parameters, π the projection onto the dual cone of the gradients; heads their own.

    The update conflicts with no task (its inner product with every g_i is ≥ 0). torchjd's
    UPGradWeighting (each projection a quadratic program on the Gramian, solved with quadprog after
    normalising it by its trace and adding 10⁻⁴·I, torchjd's defaults), as its authors wrote it.
    """

    name = "upgrad"
    config_class = UpGradConfig

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.solver = torchjd_aggregation().UPGradWeighting()
