"""One run in progress: its network, weighting, optimiser and record, checkpointed after every epoch."""

from __future__ import annotations

import contextlib
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from .. import faults
from ..config import hashed_config, to_plain
from ..data.floors import mean_pixel
from ..data.splits import Data, steps_per_epoch
from ..model import build_model
from ..seeding import generator, stream_seed
from ..storage.result_schema import RESULT_FILE, SCHEMA_VERSION
from ..tasks import TASKS, active_tasks, task_names
from ..training.devices import memory_format, uses_cuda_graphs
from ..training.record import RunRecord
from ..training.trainer import Trainer, make_optimizer
from ..weighting import RunContext, build_weighting, initial_log_vars
from .checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint
from .folder import JobLock, remove_leftovers
from .result import device_info, git_commit, library_versions, write_json_atomic
from .resume import RunIdentity
from .trackers import EpochLog, RunInfo, Tracker, epoch_metrics, open_trackers

log = logging.getLogger(__name__)


class DataMismatch(RuntimeError):
    """A session was given data that are not its run's (other files, grouping or split)."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Session:
    """One run in progress: its config, folder, trainer and record, and how to checkpoint them."""

    cfg: DictConfig
    out_dir: Path
    identity: RunIdentity
    trainer: Trainer
    record: RunRecord
    started_at: str
    t_start: float
    lock: JobLock | None = None
    startup_s: float = 0.0
    train_s: float = 0.0
    eval_s: float = 0.0
    bookkeeping_s: float = 0.0
    epoch: int = 0
    resumed_at: tuple[int, ...] = ()
    earlier_threads: tuple[int | None, ...] = ()  # the PyTorch thread count of each segment before this one
    earlier_sources: tuple[str | None, ...] = ()  # the source hash of each segment before this one (None: unrecorded)
    label: str = ""  # the run's name in log lines, where several runs share one log
    trackers: tuple[Tracker, ...] = ()  # logger=...: TensorBoard, csv, W&B, MLflow; fed each epoch and at the end
    tracker_runs: dict[str, str] = field(default_factory=dict)  # tracker name → its run id, from the checkpoint
    finished: bool = False  # its result.json (completed, diverged or failed) is written: its lock file goes

    @property
    def prefix(self) -> str:
        return f"[{self.label}] " if self.label else ""

    @property
    def diverged(self) -> bool:
        return self.record.divergence is not None

    def state_dict(self) -> dict[str, Any]:
        t = self.trainer
        return {
            **self.identity.as_dict(),
            "epoch": self.epoch,
            "model": t.model.state_dict(),
            "weighting": t.weighting.state_dict(),
            "optimizer": t.optimizer.state_dict(),
            "record": self.record.state_dict(),
            "rng": {"torch": torch.get_rng_state()},
            "timings": {"train_s": self.train_s, "eval_s": self.eval_s, "bookkeeping_s": self.bookkeeping_s},
            "started_at": self.started_at,
            "resumed_at": list(self.resumed_at),
            "threads_by_segment": self.threads_by_segment(),
            "code": self.code(),
            "trackers": {**self.tracker_runs, **{t.name: t.run_id for t in self.trackers if t.run_id is not None}},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        t = self.trainer
        t.model.load_state_dict(state["model"])
        t.weighting.load_state_dict(state["weighting"])
        t.optimizer.load_state_dict(state["optimizer"])
        self.record.load_state_dict(state["record"])
        torch.set_rng_state(state["rng"]["torch"])
        self.train_s, self.eval_s = state["timings"]["train_s"], state["timings"]["eval_s"]
        self.bookkeeping_s = state["timings"]["bookkeeping_s"]
        self.epoch = int(state["epoch"])
        self.started_at = state["started_at"]
        self.resumed_at = (*state["resumed_at"], self.epoch)
        known = state.get("threads_by_segment")  # absent from the checkpoints of earlier versions: not recorded
        self.earlier_threads = tuple(known) if known is not None else (None,) * len(self.resumed_at)
        sources = (state.get("code") or {}).get("source_by_segment")  # absent before checkpoints recorded their code
        self.earlier_sources = tuple(sources) if sources is not None else (None,) * len(self.resumed_at)
        self.tracker_runs = dict(state.get("trackers") or {})  # absent before runs logged to trackers

    def code(self) -> dict[str, Any]:
        """The code that computes this run (its identity's), and the source of each segment of its training."""
        return {**self.identity.code, "source_by_segment": [*self.earlier_sources, self.identity.code["source"]]}

    def threads_by_segment(self) -> list[int | None]:
        """The thread count of each segment of training (the first, then one per resumption; null: not recorded)."""
        return [*self.earlier_threads, torch.get_num_threads()]

    def end_epoch(self, epoch: int, rows: np.ndarray, evals: dict[str, Any], train_s: float, eval_s: float) -> bool:
        """Record an epoch, checkpoint it and log it; False if a loss stopped being finite."""
        self.train_s += train_s
        self.eval_s += eval_s
        finite = self.record.add_epoch(epoch, rows, evals, {"train": train_s, "eval": eval_s})
        metrics = epoch_metrics(self.record.history[-1]) if finite else None
        epoch_log = EpochLog(epoch, (epoch - 1) * len(rows), rows, evals, metrics)
        # Before the checkpoint: a resumed run's trackers drop what a killed process logged after it.
        self._feed(f"epoch {epoch}", lambda tracker: tracker.epoch(epoch_log))
        if not finite:
            d = self.record.divergence
            log.warning("%sdiverged at step %d: %s", self.prefix, d["step"], d["losses"])
            return False
        self.epoch = epoch
        save_checkpoint(self.out_dir / CHECKPOINT_FILE, self.state_dict())
        test = evals["test"]
        log.info(
            "%sepoch %d/%d  loss %.4f  test acc %.4f / %.4f  (%.1f s)",
            self.prefix,
            epoch,
            self.cfg.train.epochs,
            self.record.history[-1]["train"]["loss_total"],
            test["acc_cls3"],
            test["acc_cls10"],
            train_s,
        )
        return True

    def final_train(self, data: Data) -> dict[str, Any] | None:
        """Training-set metrics in eval mode after training (None if the run diverged)."""
        if self.diverged:
            return None
        t0 = time.perf_counter()
        metrics = self.trainer.evaluate(data.train, self.cfg.train.eval_batch_size)
        self.eval_s += time.perf_counter() - t0
        return metrics

    def result(self, final_train: dict[str, Any] | None) -> dict[str, Any]:
        """The content of result.json once training has ended (`final_train`: None if diverged)."""
        record = self.record
        final = None
        if final_train is not None:
            last = record.history[-1]
            final = {split: last[split] for split in ("test", "val") if split in last} | {"train": final_train}
        return {
            **self._identity(),
            "status": "diverged" if self.diverged else "completed",
            "started_at": self.started_at,
            "finished_at": now(),
            "resumed_at_epochs": list(self.resumed_at),
            "final": final,
            "divergence": record.divergence,
            "history": record.history,
            "trajectory": record.trajectory(),
            "timings": {
                "startup_s": self.startup_s,
                "train_s": self.train_s,
                "eval_s": self.eval_s,
                "bookkeeping_s": self.bookkeeping_s,
                "total_s": time.perf_counter() - self.t_start,
            },
        }

    def log_summary(self, result: dict[str, Any]) -> None:
        """One line for a finished run."""
        if result["status"] == "completed":
            test = result["final"]["test"]
            log.info(
                "%sfinished: test acc %.4f (3-class) / %.4f (10-class), %.1f s training",
                self.prefix,
                test["acc_cls3"],
                test["acc_cls10"],
                self.train_s,
            )
        else:
            log.warning("%s%s at step %s", self.prefix, result["status"], (result["divergence"] or {}).get("step"))

    def end_logs(self, result: dict[str, Any]) -> None:
        """Tell the trackers the run is over (completed or diverged), with its result."""
        self._feed("the end", lambda tracker: tracker.end(result))

    def _feed(self, what: str, call: Callable[[Tracker], None]) -> None:
        """Give each tracker `what`; one that fails (a server gone) is logged and left out, never costing the run."""
        for tracker in self.trackers:
            try:
                call(tracker)
            except Exception as e:
                log.error(
                    "%scould not log %s to %s (%s: %s); it gets nothing more from this run, which goes on",
                    self.prefix,
                    what,
                    tracker.name,
                    type(e).__name__,
                    e,
                )
                if tracker.run_id is not None:
                    self.tracker_runs[tracker.name] = tracker.run_id
                self.trackers = tuple(t for t in self.trackers if t is not tracker)
                with contextlib.suppress(Exception):
                    tracker.close()

    def close_logs(self) -> None:
        for tracker in self.trackers:
            tracker.close()

    def release(self) -> None:
        """Let other processes train this run's folder (after its result is written)."""
        if self.lock is not None:
            self.lock.release(finished=self.finished)

    def write_failure(self, error: BaseException) -> None:
        """Record an exception in the job folder before it propagates; if even that fails, log it."""
        failure = {
            **self._identity(),
            "status": "failed",
            "started_at": self.started_at,
            "finished_at": now(),
            "error": {
                "type": type(error).__name__,
                "message": str(error),
                "traceback": traceback.format_exception(error),
            },
            "history": self.record.history,
        }
        try:
            write_json_atomic(self.out_dir / RESULT_FILE, failure)
            self.finished = True
        except OSError as e:
            log.error(
                "%scould not record the failure in %s (%s); the run failed with %s: %s",
                self.prefix,
                self.out_dir / RESULT_FILE,
                e,
                type(error).__name__,
                error,
            )

    def _device(self) -> dict[str, Any]:
        """The device, GPU and CPU; the CPU's `threads` is the last segment's, `threads_by_segment` each one's."""
        info = device_info(self.trainer.train.images.device)
        info["cpu"]["threads_by_segment"] = self.threads_by_segment()
        return info

    def _identity(self) -> dict[str, Any]:
        """What was run, on which data, where, and with what software."""
        return {
            "schema": SCHEMA_VERSION,
            "config": to_plain(self.cfg),
            "config_hash": self.identity.config_hash,
            "data": self.identity.data,
            "seed": self.cfg.seed,
            "job_dir": str(self.out_dir.resolve()),
            "tasks": {
                "active": self.record.tasks,
                "trained": task_names(self.trainer.weighting.trained()),
            },
            **self._device(),
            "versions": library_versions(self.trainer.train.images.device),
            "git": git_commit(),
            "code": self.code(),
        }


def open_session(
    cfg: DictConfig, out_dir: Path, identity: RunIdentity, data: Data, device: torch.device, t_start: float
) -> Session:
    """Network, weighting, optimiser and record, seeded from `cfg.seed`, resumed from any checkpoint.

    Takes the job folder's lock first (JobLocked if another process trains this run now), and only
    then clears the half-written files a killed process left (never another process's files in flight).
    """
    if problems := data.problems(cfg, identity.data):
        raise DataMismatch(
            f"{out_dir}: the data given to this run are not its own: {'; '.join(problems)}. Nothing was trained; "
            "this is a bug of the suite (the data of several runs were mixed up), please report it."
        )
    lock = JobLock(out_dir).acquire()
    try:
        remove_leftovers(out_dir)
        return _open(cfg, out_dir, identity, data, device, t_start, lock)
    except BaseException:
        lock.release()
        raise


def _open(
    cfg: DictConfig,
    out_dir: Path,
    identity: RunIdentity,
    data: Data,
    device: torch.device,
    t_start: float,
    lock: JobLock,
) -> Session:
    active = active_tasks(cfg.recon)
    layout = memory_format(cfg, device)
    output_mean = mean_pixel(data.train) if cfg.model.output_bias == "mean" else None
    model = build_model(cfg.model.init, stream_seed(cfg.seed, "model"), output_mean).to(device, memory_format=layout)
    train = data.train
    steps = steps_per_epoch(len(train), cfg.train.batch_size)
    s0 = initial_log_vars(cfg.sigma_init, generator(cfg.seed, "sigma"))
    weighting = build_weighting(cfg.weighting, RunContext(active, s0, cfg.seed, steps))
    initial = weighting.record(torch.full((len(TASKS),), float("nan")), torch.zeros((), dtype=torch.long))
    weighting = weighting.to(device)
    capturable = uses_cuda_graphs(cfg, device, weighting.graphable)
    optimizer = make_optimizer(model, weighting, cfg.train.lr, cfg.train.adam_eps, capturable)
    trainer = Trainer(model, weighting, optimizer, train, cfg.train.batch_size, cfg.recon, cfg.seed, layout)
    trainer.precision = cfg.speed.precision
    trainer.poison_step, trainer.error_step = faults.step_fault("nan", cfg.seed), faults.step_fault("error", cfg.seed)
    record = RunRecord(
        active=active,
        every=cfg.record.trajectory_every,
        layout=trainer.layout,
        labels=dict(weighting.recorded),
        initial={name: row.tolist() for name, row in zip(weighting.recorded, initial)},
    )
    session = Session(cfg, out_dir, identity, trainer, record, started_at=now(), t_start=t_start, lock=lock)
    state = load_checkpoint(out_dir / CHECKPOINT_FILE, identity.as_dict(), cfg.train.epochs, cfg.resume.other_source)
    if state is not None:
        session.load_state_dict(state)
        log.info("%s: resuming after epoch %d", out_dir, session.epoch)
    session.trackers = tuple(open_trackers(cfg.logger, _run_info(session), trainer.steps_per_epoch))
    return session


def _run_info(session: Session) -> RunInfo:
    """The run as its trackers show it: named by its job folder's key=value parts (else the folder's name)."""
    out_dir, identity = session.out_dir, session.identity
    parts = [p for p in out_dir.resolve().parts if "=" in p]
    return RunInfo(
        out_dir=out_dir,
        name="/".join(parts) or out_dir.resolve().name,
        identity={
            "config_hash": identity.config_hash,
            "data_hash": identity.data_hash,
            "numbers_version": identity.numbers_version,
            "job_dir": str(out_dir.resolve()),
        },
        params=hashed_config(session.cfg),
        tasks=session.record.tasks,
        layout=session.trainer.layout,
        resumed_epoch=session.epoch,
        run_ids=session.tracker_runs,
    )
