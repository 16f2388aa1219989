"""The one door to training: `run(cfg, out_dir)` for one run, `run_many` for the jobs of a sweep.

A run is resumable: a whole result.json of the same run (config, data and numbers version of the
code) means there is nothing to do, and an epoch checkpoint of the same run means training continues
after that epoch, ending with the same numbers (bit for bit on a CPU) as a run that was never
interrupted; a checkpoint that other source code wrote is not continued silently (`resume.other_source`).
`run_many` trains the jobs that can share one stacked network together (see training.stacked).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from . import faults
from .data.splits import Data, load_data
from .runs.loop import SingleRun, train_sessions
from .runs.resume import RunIdentity, identity_of, prepare, read_back
from .runs.session import Session, open_session
from .training.devices import check_precision, cpu_threads, keep_freed_memory, resolve_device
from .training.stacked import StackedTrainer, can_stack, stack_key

log = logging.getLogger(__name__)


def data_key(cfg: DictConfig, identity: RunIdentity, device: torch.device) -> tuple:
    """Everything that shapes a run's loaded data: runs with equal keys can share one copy of it."""
    shape = (tuple(cfg.dataset.coarse_labels), cfg.data.val_size, cfg.train.batch_size)
    return (identity.data_hash, cfg.dataset.name, *shape, cfg.data.root, cfg.data.verify, str(device))


def run(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any]:
    """Train one network as `cfg` says, write `out_dir/result.json`, and return its content."""
    (outcome,) = run_many([cfg], [out_dir], stack=False)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def finished_result_of(cfg: DictConfig, out_dir: str | Path) -> dict[str, Any] | None:
    """The run's finished result in `out_dir` (whole, of the same run), read without writing; None: it must train."""
    return read_back(Path(out_dir), cfg, identity_of(cfg))


def stack_units(cfgs: Sequence[DictConfig], max_stack: int = 64, stack: bool = True) -> list[list[int]]:
    """The jobs (by index) that can train as one stack, in order: one unit of work each, at most `max_stack` jobs.

    Runs stack when their configs differ only in per-run entries (training.stacked.stack_key); runs
    resumed from different epochs are trained apart inside their unit by `run_many`.
    """
    groups: dict[str, list[int]] = {}
    for i, cfg in enumerate(cfgs):
        groups.setdefault(stack_key(cfg, 0) if stack and can_stack(cfg) else f"alone-{i}", []).append(i)
    return [group[start : start + max_stack] for group in groups.values() for start in range(0, len(group), max_stack)]


class _Opened:
    """A job that is ready to train: its index in the sweep, its session and its data."""

    def __init__(self, index: int, session: Session, data: Data) -> None:
        self.index, self.session, self.data = index, session, data


def run_many(
    cfgs: Sequence[DictConfig],
    out_dirs: Sequence[str | Path],
    max_stack: int = 64,
    labels: Sequence[str] = (),
    stack: bool = True,
    parallel_runs: int = 1,
) -> list[dict[str, Any] | BaseException]:
    """Run every job (stacking those that can, when `stack`); each job's result or its exception.

    `parallel_runs`: how many processes a launcher runs at once (joblib's n_jobs), which share the cores.

    A job another process is training now ends as `JobLocked`; a job whose result cannot be
    written ends as that OSError; neither stops the other jobs.
    """
    t_start = time.perf_counter()
    keep_freed_memory()
    if cfgs:
        torch.set_num_threads(cpu_threads(cfgs[0].speed.threads, parallel_runs))
    outcomes: list[Any] = [None] * len(cfgs)
    groups: dict[str, list[_Opened]] = {}
    data_cache: dict[tuple, Data] = {}
    for i, (cfg, out_dir) in enumerate(zip(cfgs, out_dirs)):
        faults.hit("run_start")
        try:
            out, identity, done = prepare(cfg, out_dir)
            if done is not None:
                outcomes[i] = done
                continue
            opened = _open(i, cfg, out, identity, data_cache, t_start, labels[i] if labels else "")
        except Exception as e:
            outcomes[i] = e
            continue
        key = stack_key(cfg, opened.session.epoch) + identity.data_hash if stack and can_stack(cfg) else f"alone-{i}"
        if not stack:  # one by one: train now, in the order given
            outcomes[i] = _train([opened])[0]
        else:
            groups.setdefault(key, []).append(opened)
    for members in groups.values():
        for start in range(0, len(members), max_stack):
            chunk = members[start : start + max_stack]
            for job, outcome in zip(chunk, _train(chunk)):
                outcomes[job.index] = outcome
    return outcomes


def _open(
    index: int, cfg: DictConfig, out: Path, identity: RunIdentity, cache: dict[tuple, Data], t_start: float, label: str
) -> _Opened:
    device = resolve_device(cfg.device)
    check_precision(cfg.speed.precision, device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = bool(cfg.speed.cudnn_benchmark)
    key = data_key(cfg, identity, device)
    if key not in cache:
        cache[key] = load_data(cfg, device)  # prepare checked that the split and batch fit
    session = open_session(cfg, out, identity, cache[key], device, t_start)
    session.label = label
    return _Opened(index, session, cache[key])


def _train(chunk: Sequence[_Opened]) -> list[dict[str, Any] | BaseException]:
    """Train the opened jobs together (one stack, or one run alone); each one's result or exception."""
    engine = StackedTrainer if len(chunk) > 1 else SingleRun
    if any(job.data is not chunk[0].data for job in chunk):  # a stack trains every member on one copy of the data
        return [RuntimeError("the runs of one stack must share their data; train them apart")] * len(chunk)
    try:
        return list(train_sessions([job.session for job in chunk], chunk[0].data, engine))
    except Exception as e:
        if len(chunk) > 1:
            log.error("a stack of %d runs failed: %s", len(chunk), e)
        return [e] * len(chunk)
