"""A Weights & Biases run per job (logger=wandb), through wandb's own API; `pip install -e ".[wandb]"`.

Each job is a W&B run of its own, also when several are trained as one stack (W&B's several runs in one
process, `reinit="create_new"`): its config is the run's hyperparameters and config_hash, each epoch logs
the epoch's metrics at the epoch's last step, and its summary holds the final metrics and the weighting's
trajectory summary. The run id is kept in the job's checkpoint, so a resumed job continues the same W&B run.
W&B's files go to logger.wandb.dir, else WANDB_DIR, else the job folder (a wandb/ folder in it).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from ...config import WandbConfig
from .base import EpochLog, RunInfo, end_summary, finite_only


class WandbLog:
    name = "wandb"

    def __init__(self, settings: WandbConfig, info: RunInfo) -> None:
        import wandb

        folder = settings.dir or os.environ.get("WANDB_DIR") or str(info.out_dir)
        os.makedirs(folder, exist_ok=True)
        self.run = wandb.init(
            project=settings.project,
            entity=settings.entity,
            mode=settings.mode,
            dir=folder,
            group=settings.group,
            tags=list(settings.tags) or None,
            name=info.name,
            id=info.run_ids.get(self.name) or uuid.uuid4().hex[:12],
            resume="allow",
            reinit="create_new",
            config={**info.params, **info.identity},
            settings=wandb.Settings(console="off"),
        )
        self.run_id: str | None = self.run.id
        self._ended = False

    def epoch(self, log: EpochLog) -> None:
        if log.metrics is not None:
            self.run.log(finite_only(log.metrics), step=int(log.metrics["step"]))

    def end(self, result: dict[str, Any]) -> None:
        self.run.summary.update({"status": result["status"], **finite_only(end_summary(result))})
        self.run.finish(exit_code=0)
        self._ended = True

    def close(self) -> None:
        if not self._ended:
            self.run.finish(exit_code=1)
