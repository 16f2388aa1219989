"""Train one run, or a sweep with -m: `python src/train.py -m weighting=learnable,fixed recon=true,false`.

Hydra composes the config (conf/), this file hands it to `run`, which writes result.json into
the job's folder.
"""

import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import to_absolute_path
from omegaconf import DictConfig

from mtl_uncertainty.run import run

# Launchers that start fresh Python processes (submitit, SLURM) find the package uninstalled too.
_src = str(Path(__file__).resolve().parent)
if _src not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_src, os.environ.get("PYTHONPATH")) if p)


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    cfg.data.root = to_absolute_path(cfg.data.root)
    run(cfg, Path(HydraConfig.get().runtime.output_dir))


if __name__ == "__main__":
    main()
