"""TensorBoard events for one run, written once per epoch from the step rows already on the host.

The scalars the source logged with tf.summary every step, plus the weighting method's recorded
values, one event per step holding all of them; `tensorboard --logdir multirun/<sweep>` shows one
run per job folder. Tags: train/loss (the minimised total), train/loss_<task>, train/acc_cls3,
train/acc_cls10, train/<value>_<task> for each value the method records (weight always; s,
sigma, ... where it has them), and per epoch <split>/acc_cls3, <split>/acc_cls10,
<split>/loss_<task> for the test split (and val, with a validation split).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..training.steps import StepLayout


class TensorBoardLog:
    """Appends a run's scalars to an event file in `out_dir`."""

    def __init__(self, out_dir: Path, tasks: Sequence[str], layout: StepLayout, resume_step: int = 0) -> None:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = event_pb2, summary_pb2
        self._writer = EventFileWriter(str(out_dir), max_queue_size=1024, flush_secs=60)
        self.tasks, self.layout = list(tasks), layout
        self._last_wall = time.time()
        if resume_step:  # tell TensorBoard to drop what a killed process logged after the checkpoint
            start = event_pb2.SessionLog(status=event_pb2.SessionLog.START)
            self._writer.add_event(event_pb2.Event(wall_time=self._last_wall, step=resume_step + 1, session_log=start))

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
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()
