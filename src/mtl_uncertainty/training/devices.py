"""Where a run computes and how: the device, the memory layout, CUDA graphs."""

from __future__ import annotations

import os

import torch
from omegaconf import DictConfig

from ..config import DEVICE_PATTERN, ConfigError


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


def cpu_threads(requested: int | None, parallel_runs: int = 1) -> int:
    """Threads for one run: as asked, or the available cores shared by the runs that train at once.

    More threads than free cores make PyTorch's thread pool spin against itself (runs 10–50×
    slower on a busy machine), so the default never oversubscribes.
    """
    return requested or max(1, available_cores() // max(1, parallel_runs))


def uses_cuda_graphs(cfg: DictConfig, device: torch.device, graphable: bool) -> bool:
    """Steps replay from CUDA graphs on a GPU when asked for and the weighting method allows it."""
    return device.type == "cuda" and cfg.speed.cuda_graph and graphable


def memory_format(cfg: DictConfig, device: torch.device) -> torch.memory_format:
    channels_last = cfg.speed.channels_last if cfg.speed.channels_last is not None else device.type == "cpu"
    return torch.channels_last if channels_last else torch.contiguous_format
