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
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from . import faults
from .checkpoint import CHECKPOINT_FILE, load_checkpoint, save_checkpoint, set_aside
from .config import ConfigError, config_hash, to_plain, validate
from .data import Split, load_mnist
from .engine import Trainer, make_optimizer
from .errors import InputError
from .model import build_model
from .record import RunRecord
from .result import RESULT_FILE, SCHEMA_VERSION, device_info, git_commit, library_versions, write_json_atomic
from .seeding import generator, stream_seed
from .tasks import active_tasks
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
    """The objects of one run that training changes, and how to checkpoint them."""

    trainer: Trainer
    record: RunRecord
    started_at: str
    train_s: float = 0.0
    eval_s: float = 0.0
    epoch: int = 0
    resumed_at: tuple[int, ...] = ()

    def state_dict(self, digest: str) -> dict[str, Any]:
        t = self.trainer
        return {
            "config_hash": digest,
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


def build_session(cfg: DictConfig, train: Split, device: torch.device) -> Session:
    """Network, weighting, optimiser and record of a fresh run, all seeded from `cfg.seed`."""
    active = active_tasks(cfg.recon)
    model = build_model(cfg.model.init, stream_seed(cfg.seed, "model")).to(device)
    s0 = initial_log_vars(cfg.sigma_init, generator(cfg.seed, "sigma"))
    weighting = build_weighting(cfg.weighting, active, s0).to(device)
    optimizer = make_optimizer(model, weighting, cfg.train.lr, cfg.train.adam_eps, cfg.weighting)
    trainer = Trainer(model, weighting, optimizer, train, cfg.train.batch_size, cfg.recon, cfg.seed)
    trainer.poison_step, trainer.error_step = faults.step_fault("nan", cfg.seed), faults.step_fault("error", cfg.seed)
    log_vars = weighting.log_vars()
    record = RunRecord(
        active=active,
        every=cfg.record.trajectory_every,
        has_log_vars=log_vars is not None,
        initial_s=log_vars.tolist() if log_vars is not None else None,
        initial_weights=weighting.weights().tolist(),
    )
    return Session(trainer, record, started_at=_now())


def run(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train one network as `cfg` says, write `out_dir/result.json`, and return its content."""
    t_start = time.perf_counter()
    faults.hit("run_start")
    validate(cfg)
    out_dir = prepare_output_dir(out_dir)
    for leftover in out_dir.glob(".*.tmp"):  # half-written files of a process that was killed
        leftover.unlink()
    digest = config_hash(cfg)
    if (done := finished_result(out_dir, digest)) is not None:
        log.info("%s: already %s, nothing to do", out_dir, done["status"])
        return done

    device = resolve_device(cfg.device)
    train, test = load_mnist(cfg.data.root, device, verify=cfg.data.verify, download=cfg.data.download)
    if cfg.train.batch_size > len(train):
        raise ConfigError(
            f"train.batch_size={cfg.train.batch_size} is larger than the {len(train)} training images "
            f"under {cfg.data.root}; use a batch size of at most {len(train)}."
        )
    session = build_session(cfg, train, device)
    if (state := load_checkpoint(out_dir / CHECKPOINT_FILE, digest)) is not None:
        session.load_state_dict(state)
        log.info("%s: resuming after epoch %d", out_dir, session.epoch)
    startup_s = time.perf_counter() - t_start

    try:
        result = _train(cfg, session, test, out_dir, digest, startup_s, t_start, device)
    except Exception as e:
        _write_failure(cfg, session, out_dir, digest, e)
        raise
    write_json_atomic(out_dir / RESULT_FILE, result)
    return result


def _train(
    cfg: DictConfig,
    session: Session,
    test: Split,
    out_dir: Path,
    digest: str,
    startup_s: float,
    t_start: float,
    device: torch.device,
) -> dict[str, Any]:
    """The epochs left to run, then the final evaluation; the content of result.json."""
    trainer, record = session.trainer, session.record
    for epoch in range(session.epoch + 1, cfg.train.epochs + 1):
        t0 = time.perf_counter()
        rows = trainer.train_epoch(epoch)
        t1 = time.perf_counter()
        test_metrics = trainer.evaluate(test, cfg.train.eval_batch_size)
        t2 = time.perf_counter()
        session.train_s += t1 - t0
        session.eval_s += t2 - t1
        if not record.add_epoch(epoch, rows, test_metrics, {"train": t1 - t0, "eval": t2 - t1}):
            log.warning("diverged at step %d: %s", record.divergence["step"], record.divergence["losses"])
            break
        session.epoch = epoch
        save_checkpoint(out_dir / CHECKPOINT_FILE, session.state_dict(digest))
        last = record.history[-1]
        log.info(
            "epoch %d/%d  loss %.4f  test acc %.4f / %.4f  (%.1f s)",
            epoch,
            cfg.train.epochs,
            last["train"]["loss_total"],
            test_metrics["acc_cls3"],
            test_metrics["acc_cls10"],
            t1 - t0,
        )

    final = None
    if record.divergence is None:
        t0 = time.perf_counter()
        final = {
            "test": record.history[-1]["test"],
            "train": trainer.evaluate(trainer.train, cfg.train.eval_batch_size),
        }
        session.eval_s += time.perf_counter() - t0
    return {
        **_identity(cfg, digest, device),
        "status": "completed" if record.divergence is None else "diverged",
        "started_at": session.started_at,
        "finished_at": _now(),
        "resumed_at_epochs": list(session.resumed_at),
        "final": final,
        "divergence": record.divergence,
        "history": record.history,
        "trajectory": record.trajectory(),
        "timings": {
            "startup_s": startup_s,
            "train_s": session.train_s,
            "eval_s": session.eval_s,
            "total_s": time.perf_counter() - t_start,
        },
    }


def _identity(cfg: DictConfig, digest: str, device: torch.device) -> dict[str, Any]:
    """What was run, where, and with what software."""
    return {
        "schema": SCHEMA_VERSION,
        "config": to_plain(cfg),
        "config_hash": digest,
        "seed": cfg.seed,
        **device_info(device),
        "versions": library_versions(),
        "git": git_commit(),
    }


def _write_failure(cfg: DictConfig, session: Session, out_dir: Path, digest: str, error: BaseException) -> None:
    """Record an exception in the job folder before it propagates."""
    write_json_atomic(
        out_dir / RESULT_FILE,
        {
            **_identity(cfg, digest, session.trainer.train.images.device),
            "status": "failed",
            "started_at": session.started_at,
            "finished_at": _now(),
            "error": {
                "type": type(error).__name__,
                "message": str(error),
                "traceback": traceback.format_exception(error),
            },
            "history": session.record.history,
        },
    )
