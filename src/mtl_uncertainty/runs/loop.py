"""The epoch loop shared by a run trained alone and a stack of runs trained together."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from torch import Tensor

from ..data.splits import Data, Split
from ..storage.result_schema import RESULT_FILE
from ..training.devices import uses_cuda_graphs
from ..training.trainer import Trainer
from .progress import Progress
from .result import write_json_atomic

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger(__name__)


class SingleRun:
    """One run's trainer seen as a stack of one, so that `train_sessions` has a single loop."""

    size = 1

    def __init__(self, trainers: Sequence[Trainer]) -> None:
        (self.trainer,) = trainers

    @property
    def on_step(self) -> Callable[[], None] | None:
        return self.trainer.on_step

    @on_step.setter
    def on_step(self, callback: Callable[[], None] | None) -> None:
        self.trainer.on_step = callback

    def use_cuda_graphs(self) -> None:
        self.trainer.use_cuda_graphs()

    def set_weighting_buffers(self, j: int, values: Mapping[str, Tensor]) -> None:
        self.trainer.set_weighting_buffers(values)

    def train_epoch(self, epoch: int) -> np.ndarray:
        return self.trainer.train_epoch(epoch)[None]

    def evaluate(self, split: Split, batch_size: int) -> list[dict[str, float | None]]:
        return [self.trainer.evaluate(split, batch_size)]

    def unstack_into(self, trainers: Sequence[Trainer]) -> None:
        """Nothing to copy: the run trains its own trainer in place."""


def train_sessions(
    sessions: Sequence[Session], data: Data, engine: Callable[[list[Trainer]], Any] = SingleRun
) -> list[dict[str, Any] | OSError]:
    """Train opened sessions to their end, alone (`SingleRun`) or as one stack; write and return each result.

    A result that could not be written (a full disk) is returned as its OSError, after it was
    logged with its path; an exception in training is recorded in every session's folder and raised.

    `engine` builds what trains the sessions' trainers together: it has `size`, `on_step`,
    `use_cuda_graphs()`, `set_weighting_buffers(j, values)`, `train_epoch(epoch)` returning step
    rows (runs, steps, fields), `evaluate(split, batch_size)` returning one metrics dict per run,
    and `unstack_into(trainers)`.
    """
    try:
        results = _train(sessions, data, engine)
        return [_write(s, result) for s, result in zip(sessions, results)]
    finally:
        for s in sessions:
            s.release()


def _train(sessions: Sequence[Session], data: Data, engine: Callable[[list[Trainer]], Any]) -> list[dict[str, Any]]:
    trainers = [s.trainer for s in sessions]
    cfg, first = sessions[0].cfg, sessions[0]
    steps = trainers[0].steps_per_epoch
    label = (first.label or str(first.out_dir)) if len(sessions) == 1 else f"{len(sessions)} runs"
    progress = Progress(
        cfg.logger.progress, label, cfg.train.epochs * steps, first.epoch * steps, cfg.logger.heartbeat_s
    )
    device = trainers[0].train.images.device
    try:
        runs = engine(trainers)
        runs.on_step = progress.step
        with progress.logging():
            if uses_cuda_graphs(cfg, device, trainers[0].weighting.graphable):
                runs.use_cuda_graphs()
            for s in sessions:
                s.startup_s = time.perf_counter() - s.t_start
            if runs.size > 1:
                log.info("training %d runs as one stack", runs.size)
            for epoch in range(first.epoch + 1, cfg.train.epochs + 1):
                _epoch(sessions, runs, data, epoch)
                live = [s for s in sessions if not s.diverged]
                if not live:
                    break
                progress.epoch(
                    epoch, {"test acc": float(np.mean([s.record.history[-1]["test"]["acc_cls10"] for s in live]))}
                )
            results = [s.result(s.final_train(data)) for s in sessions]
            for s, result in zip(sessions, results):
                s.end_logs(result)
    except Exception as e:
        for s in sessions:
            s.write_failure(e)
        raise
    finally:
        progress.close()
        for s in sessions:
            s.close_logs()
    for result in results:
        result["timings"]["stack_size"] = len(sessions)  # runs trained together with this one
    return results


def _epoch(sessions: Sequence[Session], runs: Any, data: Data, epoch: int) -> None:
    """Train, evaluate and record one epoch of every session."""
    cfg = sessions[0].cfg
    for j, s in enumerate(sessions):
        runs.set_weighting_buffers(j, s.trainer.weighting.epoch_buffers(epoch, s.record.history))
    t0 = time.perf_counter()
    rows = runs.train_epoch(epoch)
    t1 = time.perf_counter()
    evals = {name: runs.evaluate(split, cfg.train.eval_batch_size) for name, split in data.evaluation_splits().items()}
    t2 = time.perf_counter()
    runs.unstack_into([s.trainer for s in sessions])
    for j, (s, run_rows) in enumerate(zip(sessions, rows)):
        if not s.diverged:
            run_evals = {name: per_run[j] for name, per_run in evals.items()}
            s.end_epoch(epoch, run_rows, run_evals, (t1 - t0) / runs.size, (t2 - t1) / runs.size)
    share = (time.perf_counter() - t2) / runs.size  # copying out of the stack, checkpoints, logs
    for s in sessions:
        s.bookkeeping_s += share


def _write(session: Session, result: dict[str, Any]) -> dict[str, Any] | OSError:
    """Write one run's result.json; a write that fails (a full disk) is logged and returned, not raised."""
    try:
        write_json_atomic(session.out_dir / RESULT_FILE, result)
    except OSError as e:
        log.error("%scould not write %s: %s", session.prefix, session.out_dir / RESULT_FILE, e)
        return e
    session.finished = True
    session.log_summary(result)
    return result
