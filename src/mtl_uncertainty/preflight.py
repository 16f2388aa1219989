"""Checks made before any training starts: every job's config, the data, the output folder."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, open_dict, read_write

from .config import ConfigError, validate
from .mnist import ensure_mnist, idx_count
from .run import prepare_output_dir, resolve_device


def task_config(cfg: DictConfig) -> DictConfig:
    """A job's config without Hydra's own node: what `run` receives."""
    task = copy.deepcopy(cfg)
    with read_write(task), open_dict(task):
        task.pop("hydra", None)
    return task


def check_jobs(cfgs: Sequence[DictConfig], labels: Sequence[str], out_dir: Path) -> None:
    """Raise one InputError covering every problem of every job, before any of them runs."""
    problems: dict[str, list[str]] = {}
    for cfg, label in zip(cfgs, labels):
        try:
            validate(cfg)
            resolve_device(cfg.device)
        except ConfigError as e:
            problems.setdefault(str(e), []).append(label or "(no overrides)")
    if problems:
        raise ConfigError(" ".join(_in_jobs(msg, jobs, len(cfgs)) for msg, jobs in problems.items()))
    for root, verify, download in sorted({(c.data.root, c.data.verify, c.data.download) for c in cfgs}):
        raw = ensure_mnist(root, verify=verify, download=download)
        n_train = idx_count(raw / "train-images-idx3-ubyte")
        too_big = sorted({c.train.batch_size for c in cfgs if c.data.root == root and c.train.batch_size > n_train})
        if too_big:
            raise ConfigError(
                f"train.batch_size={too_big[0]} is larger than the {n_train} training images under {root}; "
                f"use a batch size of at most {n_train}. Nothing was run."
            )
    prepare_output_dir(out_dir)


def _in_jobs(message: str, jobs: list[str], total: int) -> str:
    if total == 1:
        return message
    shown = "; ".join(jobs[:3]) + (f"; and {len(jobs) - 3} more" if len(jobs) > 3 else "")
    return f"{message} [{len(jobs)} of {total} jobs: {shown}]"
