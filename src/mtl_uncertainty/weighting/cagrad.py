"""CAGrad (Liu et al., NeurIPS 2021, "Conflict-averse gradient descent for multi-task learning")."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from .base import MethodConfig, RunContext, non_negative, register
from .gradients import GramianMethod, torchjd_aggregation


@dataclass
class CaGradConfig(MethodConfig):
    """The update that best helps the worst task within a ball around the mean gradient."""

    name: str = "cagrad"
    c: float = 0.4  # the ball's radius as a fraction of the mean gradient's norm (the authors' runs: 0.4; 0: the sum)


@register
class CaGrad(GramianMethod):
    """K·(g₀ + λ·g_w)/(1 + c²) on the shared parameters, as the authors' code writes it; each head its own gradient.

    g₀ is the mean gradient, g_w = Σ w_i·g_i with w on the simplex minimising g_w·g₀ + c‖g₀‖·‖g_w‖, and
    λ = c‖g₀‖/‖g_w‖ (torchjd's CAGradWeighting, solved with cvxpy, gives the weights of g₀ + λ·g_w).
    The authors' code then divides by 1 + c² (its `rescale=1`) and multiplies by K, the number of
    tasks, "to match the sum loss"; so does this method. With c = 0 it is the plain sum of the gradients.
    """

    name = "cagrad"
    config_class = CaGradConfig

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.c = float(cfg.c)
        self.solver = torchjd_aggregation().CAGradWeighting(c=self.c)

    @classmethod
    def problems(cls, w: DictConfig, cfg: DictConfig) -> list[str]:
        return non_negative("weighting.c", w.c, "use e.g. 0.4 (the authors' runs) or 0.5 (LibMTL's default)")

    def scale(self, tasks: int) -> float:
        return tasks / (1 + self.c**2)
