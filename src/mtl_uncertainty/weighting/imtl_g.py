"""IMTL-G (Liu et al., ICLR 2021, "Towards impartial multi-task learning"): the gradient-balancing part."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from .base import MethodConfig, RunContext, register
from .gradients import GramianMethod, torchjd_aggregation


@dataclass
class ImtlGConfig(MethodConfig):
    """Weights summing to 1 whose combination has an equal projection on every task's unit gradient."""

    name: str = "imtl_g"


@register
class ImtlG(GramianMethod):
    """Σ α_i·g_i on the shared parameters, Σα = 1 and g·u_i equal for all unit gradients u_i; heads their own.

    The paper's closed form, α = g₁Uᵀ(DUᵀ)⁻¹ with D and U the differences of the gradients and of the
    unit gradients, in torchjd's form (IMTLGWeighting: α ∝ G⁺·diag(G)^½, the same for independent
    gradients, defined also when they are not). The loss-scaling part of the paper is `imtl_l`.
    """

    name = "imtl_g"
    config_class = ImtlGConfig

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(cfg, ctx)
        self.solver = torchjd_aggregation().IMTLGWeighting()
