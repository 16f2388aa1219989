"""`run(cfg, out_dir)`: one run of the experiment, from a config to its result.json."""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from .config import ConfigError, config_hash, to_plain, validate
from .data import load_mnist
from .engine import Trainer, make_optimizer
from .model import build_model
from .record import RunRecord
from .result import RESULT_FILE, SCHEMA_VERSION, device_info, git_commit, library_versions, write_json_atomic
from .seeding import generator, stream_seed
from .tasks import active_tasks
from .weighting import build_weighting, initial_log_vars

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """`auto` → cuda when available, else cpu; a named cuda device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"device={name} was asked for, but PyTorch sees no CUDA GPU; use device=auto or device=cpu."
        )
    return device


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def run(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train one network as `cfg` says, write `out_dir/result.json`, and return its content."""
    t_start = time.perf_counter()
    started_at = _now()
    validate(cfg)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)

    train, test = load_mnist(cfg.data.root, device, verify=cfg.data.verify)
    if cfg.train.batch_size > len(train):
        raise ConfigError(
            f"train.batch_size={cfg.train.batch_size} is larger than the {len(train)} training images "
            f"under {cfg.data.root}; use a batch size of at most {len(train)}."
        )
    active = active_tasks(cfg.recon)
    model = build_model(cfg.model.init, stream_seed(cfg.seed, "model")).to(device)
    s0 = initial_log_vars(cfg.sigma_init, generator(cfg.seed, "sigma"))
    weighting = build_weighting(cfg.weighting, active, s0).to(device)
    optimizer = make_optimizer(model, weighting, cfg.train.lr, cfg.train.adam_eps, cfg.weighting)
    trainer = Trainer(model, weighting, optimizer, train, cfg.train.batch_size, cfg.recon, cfg.seed)
    log_vars = weighting.log_vars()
    record = RunRecord(
        active=active,
        every=cfg.record.trajectory_every,
        has_log_vars=log_vars is not None,
        initial_s=log_vars.tolist() if log_vars is not None else None,
        initial_weights=weighting.weights().tolist(),
    )
    startup_s = time.perf_counter() - t_start

    train_s = eval_s = 0.0
    for epoch in range(1, cfg.train.epochs + 1):
        t0 = time.perf_counter()
        rows = trainer.train_epoch(epoch)
        t1 = time.perf_counter()
        test_metrics = trainer.evaluate(test, cfg.train.eval_batch_size)
        t2 = time.perf_counter()
        train_s, eval_s = train_s + t1 - t0, eval_s + t2 - t1
        if not record.add_epoch(epoch, rows, test_metrics, {"train": t1 - t0, "eval": t2 - t1}):
            log.warning("run diverged at step %d: %s", record.divergence["step"], record.divergence["losses"])
            break
        log.info(
            "epoch %d/%d  loss %.4f  test acc %.4f / %.4f  (%.1f s)",
            epoch,
            cfg.train.epochs,
            record.history[-1]["train"]["loss_total"],
            test_metrics["acc_cls3"],
            test_metrics["acc_cls10"],
            t1 - t0,
        )

    final = None
    if record.divergence is None:
        t0 = time.perf_counter()
        final = {
            "test": record.history[-1]["test"],
            "train": trainer.evaluate(train, cfg.train.eval_batch_size),
        }
        eval_s += time.perf_counter() - t0

    result = {
        "schema": SCHEMA_VERSION,
        "status": "completed" if record.divergence is None else "diverged",
        "config": to_plain(cfg),
        "config_hash": config_hash(cfg),
        "seed": cfg.seed,
        **device_info(device),
        "versions": library_versions(),
        "git": git_commit(),
        "started_at": started_at,
        "finished_at": _now(),
        "final": final,
        "divergence": record.divergence,
        "history": record.history,
        "trajectory": record.trajectory(),
        "timings": {
            "startup_s": startup_s,
            "train_s": train_s,
            "eval_s": eval_s,
            "total_s": time.perf_counter() - t_start,
        },
    }
    write_json_atomic(out_dir / RESULT_FILE, result)
    return result
