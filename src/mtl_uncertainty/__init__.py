"""Uncertainty-based multi-task loss weighting (Kendall, Gal & Cipolla, CVPR 2018) on MNIST.

The Python API (docs/api.md), for notebooks and scripts: `compose(overrides)` is the config
`python src/train.py <overrides>` would run with, `mtl_uncertainty.run.run(cfg, out_dir)` trains it
and returns its result, and `mtl_uncertainty.analysis.make_report` reports on the folders.
Importing the package loads neither PyTorch nor Hydra, and registers nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from omegaconf import DictConfig

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
"""conf/ of the checkout the package is imported from (src/ on the path, or `pip install -e .`)."""

__all__ = ["CONF_DIR", "compose"]


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """The config `python src/train.py <overrides>` would run with: conf/config.yaml on the checked schemas."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from .config import ConfigError, register_configs
    from .ops.overrides import ungrouped_keys

    if not (CONF_DIR / "config.yaml").is_file():
        raise FileNotFoundError(
            f"{CONF_DIR}/config.yaml is missing: compose() reads conf/ beside src/, so use the package from a "
            "checkout (pip install -e . or src/ on sys.path), not from a copy without conf/."
        )
    if problem := ungrouped_keys(overrides, CONF_DIR):
        raise ConfigError(problem)
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=list(overrides))
    cfg.data.root = str(Path(cfg.data.root).absolute())  # as train.py: relative to where you start
    return cfg
