"""Where a run's metrics go besides result.json: the options of the `logger` config group.

`tensorboard_log` (logger=tensorboard, the default), `csv_log` (logger=csv), `wandb_log` (logger=wandb) and
`mlflow_log` (logger=mlflow), several at once with logger=[tensorboard,csv,...]; each is a `base.Tracker`
that the session calls once per epoch and once at the end. Only a chosen tracker's library is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import EpochLog, RunInfo, Tracker, epoch_metrics

if TYPE_CHECKING:
    from omegaconf import DictConfig

__all__ = ["EpochLog", "RunInfo", "Tracker", "epoch_metrics", "open_trackers"]


def open_trackers(settings: DictConfig, info: RunInfo, steps_per_epoch: int) -> list[Tracker]:
    """The trackers `settings` (the config's `logger`) switches on, each opened for the run `info`."""
    trackers: list[Tracker] = []
    try:
        if settings.tensorboard:
            from .tensorboard_log import TensorBoardLog

            trackers.append(TensorBoardLog.for_run(info, steps_per_epoch))
        if settings.csv:
            from .csv_log import CsvLog

            trackers.append(CsvLog(info))
        if settings.wandb is not None:
            from .wandb_log import WandbLog

            trackers.append(WandbLog(settings.wandb, info))
        if settings.mlflow is not None:
            from .mlflow_log import MlflowLog

            trackers.append(MlflowLog(settings.mlflow, info))
    except BaseException:
        for tracker in trackers:
            tracker.close()
        raise
    return trackers
