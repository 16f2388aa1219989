"""TensorBoard events for one run, written once per epoch from the step rows already on the host.

The scalars the source logged with tf.summary every step, plus the weighting method's recorded
values, one event per step holding all of them; `tensorboard --logdir multirun/<sweep>` shows one
run per job folder. Tags: train/loss (the minimised total), train/loss_<task>, train/acc_cls3,
train/acc_cls10, train/<value>_<task> for each value the method records (weight always; s,
sigma, ... where it has them), and per epoch <split>/acc_cls3, <split>/acc_cls10,
<split>/loss_<task> for the test split (and val, with a validation split). The run's
hyperparameters (its hashed config, and config_hash) go to TensorBoard's HPARAMS tab, with the
run's status at its end.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...training.steps import StepLayout
from .base import EpochLog, RunInfo, flat


class TensorBoardLog:
    """Appends a run's scalars to an event file in `out_dir`."""

    name = "tensorboard"
    run_id = None  # the job folder is the run: a resumed run appends to it

    def __init__(self, out_dir: Path, tasks: Sequence[str], layout: StepLayout, resume_step: int = 0) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = event_pb2, summary_pb2
        self._writer = EventFileWriter(str(out_dir), max_queue_size=1024, flush_secs=60)
        self.tasks, self.layout = list(tasks), layout
        self._last_wall = time.time()
        self._last_step = resume_step
        if resume_step:  # tell TensorBoard to drop what a killed process logged after the checkpoint
            start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            self._writer.add_event(event_pb2.Event(wall_time=self._last_wall, step=resume_step + 1, session_log=start))

    @classmethod
    def for_run(cls, info: RunInfo, steps_per_epoch: int) -> TensorBoardLog:
        """The run's event file, its hyperparameters written first (TensorBoard's hparams plugin)."""
        from tensorboard.plugins.hparams import summary_v2

        log = cls(info.out_dir, info.tasks, info.layout, info.resumed_epoch * steps_per_epoch)
        hparams = {k: v for k, v in flat(info.params).items() if v is not None}
        hparams["config_hash"] = info.identity["config_hash"]
        log._add_summary(log._last_step, summary_v2.hparams_pb(hparams, trial_id=info.name or None))
        return log

    def _add_summary(self, step: int, summary: Any) -> None:
        self._writer.add_event(self._event.Event(wall_time=time.time(), step=step, summary=summary))

    def _values(self, row: np.ndarray) -> list[tuple[str, float]]:
        col = self.layout.column
        values = [("train/loss", row[col["loss_total"]])]
        values += [(f"train/loss_{t}", row[col[f"loss_{t}"]]) for t in self.tasks]
        values += [("train/acc_cls3", row[col["acc_cls3"]]), ("train/acc_cls10", row[col["acc_cls10"]])]
        values += [(f"train/{name}_{t}", row[col[f"{name}_{t}"]]) for name in self.layout.recorded for t in self.tasks]
        return values

    def _add(self, step: int, wall: float, values: list[tuple[str, Any]]) -> None:
        summary = self._summary.Summary(
            value=[self._summary.Summary.Value(tag=tag, simple_value=float(v)) for tag, v in values if v is not None]
        )
        self._writer.add_event(self._event.Event(wall_time=wall, step=step, summary=summary))

    def add_epoch(self, first_step: int, rows: np.ndarray, evals: dict[str, dict[str, Any]]) -> None:
        """Every step of an epoch (steps first_step+1 ...), then the epoch's metrics per evaluation split."""
        now = time.time()
        walls = np.linspace(self._last_wall, now, len(rows) + 1)[1:]  # steps are not timed one by one
        for i, row in enumerate(rows):
            self._add(first_step + i + 1, float(walls[i]), self._values(row))
        self._add(
            first_step + len(rows), now, [(f"{split}/{k}", v) for split, m in evals.items() for k, v in m.items()]
        )
        self._last_wall = now
        self._last_step = first_step + len(rows)
        self._writer.flush()

    def epoch(self, log: EpochLog) -> None:
        self.add_epoch(log.first_step, log.rows, log.evals)

    def end(self, result: dict[str, Any]) -> None:
        """The run's status for the hparams plugin: success when completed, failure when diverged."""
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

        status = api_pb2.STATUS_SUCCESS if result["status"] == "completed" else api_pb2.STATUS_FAILURE
        data = plugin_data_pb2.HParamsPluginData(session_end_info=plugin_data_pb2.SessionEndInfo(status=status))
        summary = self._summary.Summary()
        summary.value.add(
            tag=metadata.SESSION_END_INFO_TAG,
            metadata=metadata.create_summary_metadata(data),
            tensor=metadata.NULL_TENSOR,
        )
        self._add_summary(self._last_step, summary)

    def close(self) -> None:
        self._writer.close()
