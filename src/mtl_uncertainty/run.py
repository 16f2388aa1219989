"""`run(cfg, out_dir)`: one run of the experiment, from a config to its result.json.

A run is resumable: a complete result.json for the same config means there is nothing to do,
and an epoch checkpoint for the same config means training continues after that epoch, ending
with the same numbers (bit for bit on a CPU) as a run that was never interrupted.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from . import faults
from .checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint, set_aside
from .config import ConfigError, config_hash, to_plain, validate
from .data import Split, load_mnist
from .engine import Trainer, make_optimizer
from .errors import InputError
from .model import build_model
from .progress import Progress
from .record import RunRecord
from .result import RESULT_FILE, SCHEMA_VERSION, device_info, git_commit, library_versions, write_json_atomic
from .seeding import generator, stream_seed
from .tasks import active_tasks
from .tensorboard_log import TensorBoardLog
from .weighting import build_weighting, initial_log_vars

log = logging.getLogger(__name__)

FINAL_STATUSES = ("completed", "diverged")
"""Statuses of a run that is over: running it again would compute the same thing."""


def resolve_device(name: str) -> torch.device:
    """`auto` → cuda when available, else cpu; a named cuda device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={name} was asked for, but PyTorch sees no CUDA GPU; use device=auto or device=cpu.")
    return device


def prepare_output_dir(path: str | Path) -> Path:
    """Create `path` and prove it is writable, or raise InputError saying how to fix it."""
    path = Path(path)
    probe = path / f".write-test-{time.time_ns()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise InputError(
            f"Cannot write results to {path} ({e.strerror or e}). Choose a writable folder with "
            "hydra.sweep.dir=DIR for a sweep or hydra.run.dir=DIR for one run; nothing was run."
        ) from e
    return path


def finished_result(out_dir: Path, digest: str) -> dict[str, Any] | None:
    """The run's result if it is over and was computed for this config; a stale one is set aside."""
    path = out_dir / RESULT_FILE
    try:
        result = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        log.warning("%s is unreadable; set aside as %s", path, set_aside(path, "unreadable"))
        return None
    if result.get("config_hash") != digest:
        log.warning(
            "%s is from another config; set aside as %s", path, set_aside(path, f"stale-{result.get('config_hash')}")
        )
        return None
    return result if result.get("status") in FINAL_STATUSES else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Session:
    """One run in progress: its config, folder, trainer and record, and how to checkpoint them."""

    cfg: DictConfig
    out_dir: Path
    digest: str
    trainer: Trainer
    record: RunRecord
    started_at: str
    t_start: float
    startup_s: float = 0.0
    train_s: float = 0.0
    eval_s: float = 0.0
    epoch: int = 0
    resumed_at: tuple[int, ...] = ()
    label: str = ""  # the run's name in log lines, where several runs share one log
    tensorboard: TensorBoardLog | None = None

    @property
    def prefix(self) -> str:
        return f"[{self.label}] " if self.label else ""

    def state_dict(self) -> dict[str, Any]:
        t = self.trainer
        return {
            "config_hash": self.digest,
            "epoch": self.epoch,
            "model": t.model.state_dict(),
            "weighting": t.weighting.state_dict(),
            "optimizer": t.optimizer.state_dict(),
            "record": self.record.state_dict(),
            "rng": {"torch": torch.get_rng_state()},
            "timings": {"train_s": self.train_s, "eval_s": self.eval_s},
            "started_at": self.started_at,
            "resumed_at": list(self.resumed_at),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        t = self.trainer
        t.model.load_state_dict(state["model"])
        t.weighting.load_state_dict(state["weighting"])
        t.optimizer.load_state_dict(state["optimizer"])
        self.record.load_state_dict(state["record"])
        torch.set_rng_state(state["rng"]["torch"])
        self.train_s, self.eval_s = state["timings"]["train_s"], state["timings"]["eval_s"]
        self.epoch = int(state["epoch"])
        self.started_at = state["started_at"]
        self.resumed_at = (*state["resumed_at"], self.epoch)

    def end_epoch(self, epoch: int, rows: np.ndarray, test: dict[str, Any], train_s: float, eval_s: float) -> bool:
        """Record an epoch, checkpoint it and log it; False if a loss stopped being finite."""
        self.train_s += train_s
        self.eval_s += eval_s
        finite = self.record.add_epoch(epoch, rows, test, {"train": train_s, "eval": eval_s})
        if self.tensorboard is not None:  # before the checkpoint: a resumed run purges what follows it
            self.tensorboard.add_epoch((epoch - 1) * len(rows), rows, test)
        if finite:
            self.epoch = epoch
            save_checkpoint(self.out_dir / CHECKPOINT_FILE, self.state_dict())
        if not finite:
            d = self.record.divergence
            log.warning("%sdiverged at step %d: %s", self.prefix, d["step"], d["losses"])
            return False
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

    def final_train(self) -> dict[str, Any] | None:
        """Training-set metrics in eval mode after training (None if the run diverged)."""
        if self.record.divergence is not None:
            return None
        t0 = time.perf_counter()
        metrics = self.trainer.evaluate(self.trainer.train, self.cfg.train.eval_batch_size)
        self.eval_s += time.perf_counter() - t0
        return metrics

    def result(self, final_train: dict[str, Any] | None) -> dict[str, Any]:
        """The content of result.json once training has ended (`final_train`: None if diverged)."""
        record = self.record
        final = None if final_train is None else {"test": record.history[-1]["test"], "train": final_train}
        return {
            **self._identity(),
            "status": "completed" if record.divergence is None else "diverged",
            "started_at": self.started_at,
            "finished_at": _now(),
            "resumed_at_epochs": list(self.resumed_at),
            "final": final,
            "divergence": record.divergence,
            "history": record.history,
            "trajectory": record.trajectory(),
            "timings": {
                "startup_s": self.startup_s,
                "train_s": self.train_s,
                "eval_s": self.eval_s,
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

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()

    def write_failure(self, error: BaseException) -> None:
        """Record an exception in the job folder before it propagates."""
        failure = {
            **self._identity(),
            "status": "failed",
            "started_at": self.started_at,
            "finished_at": _now(),
            "error": {
                "type": type(error).__name__,
                "message": str(error),
                "traceback": traceback.format_exception(error),
            },
            "history": self.record.history,
        }
        write_json_atomic(self.out_dir / RESULT_FILE, failure)

    def _identity(self) -> dict[str, Any]:
        """What was run, where, and with what software."""
        return {
            "schema": SCHEMA_VERSION,
            "config": to_plain(self.cfg),
            "config_hash": self.digest,
            "seed": self.cfg.seed,
            **device_info(self.trainer.train.images.device),
            "versions": library_versions(),
            "git": git_commit(),
        }


def prepare(cfg: DictConfig, out_dir: str | Path) -> tuple[Path, str, dict[str, Any] | None]:
    """Check the config and the folder; (folder, config hash, the result if the run is already over)."""
    validate(cfg)
    out_dir = prepare_output_dir(out_dir)
    for leftover in out_dir.glob(".*.tmp"):  # half-written files of a process that was killed
        leftover.unlink()
    digest = config_hash(cfg)
    done = finished_result(out_dir, digest)
    if done is not None:
        log.info("%s: already %s, nothing to do", out_dir, done["status"])
    return out_dir, digest, done


def load_data(cfg: DictConfig, device: torch.device) -> tuple[Split, Split]:
    """The training and test splits on `device`; the batch must fit in the training set."""
    train, test = load_mnist(cfg.data.root, device, verify=cfg.data.verify, download=cfg.data.download)
    if cfg.train.batch_size > len(train):
        raise ConfigError(
            f"train.batch_size={cfg.train.batch_size} is larger than the {len(train)} training images "
            f"under {cfg.data.root}; use a batch size of at most {len(train)}."
        )
    return train, test


def uses_cuda_graphs(cfg: DictConfig, device: torch.device) -> bool:
    return device.type == "cuda" and cfg.speed.cuda_graph


def memory_format(cfg: DictConfig, device: torch.device) -> torch.memory_format:
    channels_last = cfg.speed.channels_last if cfg.speed.channels_last is not None else device.type == "cpu"
    return torch.channels_last if channels_last else torch.contiguous_format


def open_session(
    cfg: DictConfig, out_dir: Path, digest: str, train: Split, device: torch.device, t_start: float
) -> Session:
    """Network, weighting, optimiser and record, seeded from `cfg.seed`, resumed from any checkpoint."""
    active = active_tasks(cfg.recon)
    layout = memory_format(cfg, device)
    model = build_model(cfg.model.init, stream_seed(cfg.seed, "model")).to(device, memory_format=layout)
    s0 = initial_log_vars(cfg.sigma_init, generator(cfg.seed, "sigma"))
    weighting = build_weighting(cfg.weighting, active, s0).to(device)
    capturable = uses_cuda_graphs(cfg, device)
    optimizer = make_optimizer(model, weighting, cfg.train.lr, cfg.train.adam_eps, cfg.weighting, capturable)
    trainer = Trainer(model, weighting, optimizer, train, cfg.train.batch_size, cfg.recon, cfg.seed, layout)
    trainer.poison_step, trainer.error_step = faults.step_fault("nan", cfg.seed), faults.step_fault("error", cfg.seed)
    log_vars = weighting.log_vars()
    record = RunRecord(
        active=active,
        every=cfg.record.trajectory_every,
        has_log_vars=log_vars is not None,
        initial_s=log_vars.tolist() if log_vars is not None else None,
        initial_weights=weighting.weights().tolist(),
    )
    session = Session(cfg, out_dir, digest, trainer, record, started_at=_now(), t_start=t_start)
    if (state := load_checkpoint(out_dir / CHECKPOINT_FILE, digest)) is not None:
        session.load_state_dict(state)
        log.info("%s: resuming after epoch %d", out_dir, session.epoch)
    if cfg.logger.tensorboard:
        resume_step = session.epoch * trainer.steps_per_epoch
        session.tensorboard = TensorBoardLog(out_dir, record.tasks, record.has_log_vars, resume_step)
    return session


def run(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train one network as `cfg` says, write `out_dir/result.json`, and return its content."""
    t_start = time.perf_counter()
    faults.hit("run_start")
    out_dir, digest, done = prepare(cfg, out_dir)
    if done is not None:
        return done
    device = resolve_device(cfg.device)
    train, test = load_data(cfg, device)
    return train_sessions([open_session(cfg, out_dir, digest, train, device, t_start)], test)[0]


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

    def train_epoch(self, epoch: int) -> np.ndarray:
        return self.trainer.train_epoch(epoch)[None]

    def evaluate(self, split: Split, batch_size: int) -> list[dict[str, float | None]]:
        return [self.trainer.evaluate(split, batch_size)]

    def unstack_into(self, trainers: Sequence[Trainer]) -> None:
        """Nothing to copy: the run trains its own trainer in place."""


def train_sessions(
    sessions: Sequence[Session], test: Split, engine: Callable[[list[Trainer]], Any] = SingleRun
) -> list[dict[str, Any]]:
    """Train opened sessions to their end, alone (`SingleRun`) or as one stack; write and return each result.

    `engine` builds what trains the sessions' trainers together: it has `size`, `on_step`,
    `use_cuda_graphs()`, `train_epoch(epoch)` returning step rows (runs, steps, fields),
    `evaluate(split, batch_size)` returning one metrics dict per run, and `unstack_into(trainers)`.
    """
    trainers = [s.trainer for s in sessions]
    cfg, first = sessions[0].cfg, sessions[0]
    steps = trainers[0].steps_per_epoch
    label = first.label if len(sessions) == 1 else f"{len(sessions)} runs"
    progress = Progress(cfg.logger.progress, label, cfg.train.epochs * steps, first.epoch * steps)
    try:
        runs = engine(trainers)
        runs.on_step = progress.step
        with progress.logging():
            if uses_cuda_graphs(cfg, trainers[0].train.images.device):
                runs.use_cuda_graphs()
            for s in sessions:
                s.startup_s = time.perf_counter() - s.t_start
            if runs.size > 1:
                log.info("training %d runs as one stack", runs.size)
            for epoch in range(first.epoch + 1, cfg.train.epochs + 1):
                t0 = time.perf_counter()
                rows = runs.train_epoch(epoch)
                t1 = time.perf_counter()
                tests = runs.evaluate(test, cfg.train.eval_batch_size)
                t2 = time.perf_counter()
                runs.unstack_into(trainers)
                for s, run_rows, run_test in zip(sessions, rows, tests):
                    if s.record.divergence is None:
                        s.end_epoch(epoch, run_rows, run_test, (t1 - t0) / runs.size, (t2 - t1) / runs.size)
                live = [s for s in sessions if s.record.divergence is None]
                if not live:
                    break
                progress.epoch(
                    epoch, {"test acc": float(np.mean([s.record.history[-1]["test"]["acc_cls10"] for s in live]))}
                )
            results = [s.result(s.final_train()) for s in sessions]
    except Exception as e:
        for s in sessions:
            s.write_failure(e)
        raise
    finally:
        progress.close()
        for s in sessions:
            s.close()
    for s, result in zip(sessions, results):
        result["timings"]["stack_size"] = len(sessions)  # runs trained together with this one
        write_json_atomic(s.out_dir / RESULT_FILE, result)
        s.log_summary(result)
    return results
