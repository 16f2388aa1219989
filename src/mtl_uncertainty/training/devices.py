"""Where a run computes and how: the device, the memory layout, CUDA graphs."""

from __future__ import annotations

import logging
import math
import os
import time
from dataclasses import dataclass

import torch
from omegaconf import DictConfig

from ..config import DEVICE_PATTERN, ConfigError

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """`auto` → cuda when available, else cpu; a named cuda device must exist."""
    if not DEVICE_PATTERN.fullmatch(name):
        raise ConfigError(f"device={name} is not a device this suite runs on; use auto, cpu, cuda or cuda:N.")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device={name} was asked for, but PyTorch sees no CUDA GPU; use device=auto or device=cpu."
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device={name} does not exist: PyTorch sees {count} GPU(s), cuda:0 to cuda:{count - 1}.")
    return device


def available_cores() -> int:
    """CPU cores this process may run on (its affinity, as a cluster scheduler sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@dataclass(frozen=True)
class MachineLoad:
    """How busy the machine is, as the default thread count sees it."""

    cores: int  # the cores this process may use
    total: int  # the cores of the machine (the load average counts work on all of them)
    load: float  # the 1-minute load average: threads running or waiting for a core
    own: float  # how much of that load is this process's own (its runs so far)


_STARTED = (time.monotonic(), time.process_time())
"""When this module was imported (as the process started), in wall and CPU time."""


def _own_load() -> float:
    """This process's share of the 1-minute load: its mean CPU use so far, weighted as the average weighs it."""
    wall, cpu = time.monotonic() - _STARTED[0], time.process_time() - _STARTED[1]
    return cpu / wall * (1 - math.exp(-wall / 60)) if wall > 0 else 0.0


def load_now() -> MachineLoad:
    """The machine's load now (no load average where the system has none: an idle machine)."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        load = 0.0
    cores = available_cores()
    return MachineLoad(cores, max(cores, os.cpu_count() or 1), load, _own_load())


def default_threads(machine: MachineLoad, parallel_runs: int = 1) -> int:
    """The cores other work leaves free, shared by the runs that train at once; at least 1.

    The runs a launcher runs at once are taken to load the machine as this process does, so the
    load of this process and its siblings is not counted as other work. Load beyond what the
    machine's other cores can take (a scheduler's share of a bigger node) counts against ours.
    """
    parallel = max(1, parallel_runs)
    others = max(0.0, machine.load - machine.own * parallel)
    free = machine.cores - max(0.0, others - (machine.total - machine.cores))
    return max(1, min(machine.cores // parallel, int(free / parallel + 0.5)))


def cpu_threads(requested: int | None, parallel_runs: int = 1, machine: MachineLoad | None = None) -> int:
    """Threads for one run: as asked (speed.threads), or the free cores shared by the runs that train at once.

    More threads than free cores make PyTorch's thread pool spin against itself (5× slower a step
    on a 2-core machine two other runs kept busy), so the default counts the cores left free.
    """
    if requested:
        return requested
    machine = machine or load_now()
    threads = default_threads(machine, parallel_runs)
    log.info(
        "speed.threads=null: %d PyTorch thread%s (%d cores, 1-minute load %.1f of which %.1f this process's, "
        "%d run(s) at a time); speed.threads=N sets it",
        threads, "" if threads == 1 else "s", machine.cores, machine.load, machine.own, parallel_runs,
    )  # fmt: skip
    return threads


def uses_cuda_graphs(cfg: DictConfig, device: torch.device, graphable: bool) -> bool:
    """Steps replay from CUDA graphs on a GPU when asked for and the weighting method allows it."""
    return device.type == "cuda" and cfg.speed.cuda_graph and graphable


def memory_format(cfg: DictConfig, device: torch.device) -> torch.memory_format:
    channels_last = cfg.speed.channels_last if cfg.speed.channels_last is not None else device.type == "cpu"
    return torch.channels_last if channels_last else torch.contiguous_format
