"""Fixed weights at where a learned weighting ended, one set per seed: Σ λ_i(seed)·L_i.

It tells learning the weights apart from where they end: a run of seed k trains with constant weights
equal to the effective weights a learned method's run of seed k reached on its last step. The weights
are data, written into a YAML file of conf/weighting/ from committed results by
`python -m mtl_uncertainty.endpoints STUDY SELECTOR` (no run reads another run's files).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from omegaconf import DictConfig

from .base import MethodConfig, RunContext, register
from .fixed import FixedWeighting, TaskWeights, weight_problems


@dataclass
class FixedEndConfig(MethodConfig):
    """Constant weights per seed, taken from where a learned method's runs ended."""

    name: str = "fixed_end"
    source: str = ""  # where the weights came from (a study folder and the row's selector), for the report
    weights_by_seed: dict[int, TaskWeights] = field(default_factory=dict)  # seed → the weights of its run


@register
class FixedEndWeighting(FixedWeighting):
    """`fixed` with the weights of the run's seed."""

    name = "fixed_end"
    config_class = FixedEndConfig
    per_run = ("weights_by_seed",)

    def __init__(self, cfg: DictConfig, ctx: RunContext) -> None:
        super().__init__(DictConfig({"weights": cfg.weights_by_seed[ctx.seed]}), ctx)

    @classmethod
    def problems(cls, w: DictConfig, cfg: DictConfig) -> list[str]:
        if cfg.seed not in w.weights_by_seed:
            seeds = ", ".join(str(s) for s in sorted(w.weights_by_seed)) or "none"
            return [
                f"weighting.weights_by_seed has no weights for seed={cfg.seed} (it has seeds: {seeds}); "
                "run the seeds it has, or write the file again from a study that has this seed "
                "(python -m mtl_uncertainty.endpoints STUDY SELECTOR)"
            ]
        return weight_problems(w.weights_by_seed[cfg.seed], cfg, key=f"weighting.weights_by_seed.{cfg.seed}")
