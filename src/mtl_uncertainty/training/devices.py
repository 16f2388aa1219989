"""Where a run computes and how: the device, the memory layout, CUDA graphs."""

from __future__ import annotations

import ctypes
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

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
    total: int  # the cores of the machine (the load counts work on all of them)
    load: float  # threads running or waiting for a core now (a short sample, not the lagging load average)
    own: float  # how many of those are this process's own


PROC = Path("/proc")
"""Where the kernel's counts are read (/proc/stat's procs_running, this process's threads' states)."""

SAMPLES, SAMPLE_S = 10, 0.01
"""The runnable count is averaged over this many readings this far apart (a tenth of a second in all)."""


def _running_tasks(proc: Path) -> int:
    """Threads running or runnable on the machine now: /proc/stat's procs_running (this reader included)."""
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("procs_running "):
            return int(line.split()[1])
    raise OSError(f"{proc / 'stat'} has no procs_running line")


def _own_running(proc: Path) -> int:
    """This process's threads running or runnable now (the one reading, and any still busy from its last run)."""
    running = 0
    for task in (proc / "self" / "task").iterdir():
        try:
            state = (task / "stat").read_text().rpartition(")")[2].split()[0]
        except (OSError, IndexError):  # a thread that ended while we looked
            continue
        running += state == "R"
    return max(1, running)


def _sampled_load(proc: Path) -> tuple[float, float]:
    """(runnable threads, of which this process's), each the mean of a few readings a few ms apart."""
    total = own = 0
    for i in range(SAMPLES):
        if i:
            time.sleep(SAMPLE_S)
        total, own = total + _running_tasks(proc), own + _own_running(proc)
    return total / SAMPLES, own / SAMPLES


_STARTED = (time.monotonic(), time.process_time())
"""When this module was imported (as the process started), in wall and CPU time."""


def _averaged_load() -> tuple[float, float]:
    """Where the kernel gives no runnable count (not Linux): the 1-minute load average and this process's share."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0, 0.0
    wall, cpu = time.monotonic() - _STARTED[0], time.process_time() - _STARTED[1]
    return load, cpu / wall * (1 - math.exp(-wall / 60)) if wall > 0 else 0.0


def load_now() -> MachineLoad:
    """The machine's load now: the runnable threads counted, as the 1-minute average lags a killed run by minutes."""
    try:
        load, own = _sampled_load(PROC)
    except (OSError, ValueError):
        load, own = _averaged_load()
    cores = available_cores()
    return MachineLoad(cores, max(cores, os.cpu_count() or 1), load, own)


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
        "speed.threads=null: %d PyTorch thread%s (%d cores, %.1f threads runnable of which %.1f this process's, "
        "%d run(s) at a time); speed.threads=N sets it",
        threads, "" if threads == 1 else "s", machine.cores, machine.load, machine.own, parallel_runs,
    )  # fmt: skip
    return threads


M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
"""glibc's mallopt parameters (malloc.h)."""


def keep_freed_memory() -> bool:
    """Have glibc's malloc keep freed blocks for the next step instead of returning them to the kernel.

    A training step allocates and frees activations of up to 13 MB (25 MB an evaluation batch of 500):
    by default glibc maps each from the kernel afresh and unmaps it when freed, so every step faults in
    thousands of zeroed pages (5,000-10,000 a step, 12,000 an evaluation batch, measured). Raising the
    mmap threshold to its largest (32 MB) and the trim threshold keeps those blocks in the heap for
    reuse. Only where memory comes from changes, never what is computed. False where there is no glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 512 << 20))


def uses_cuda_graphs(cfg: DictConfig, device: torch.device, graphable: bool) -> bool:
    """Steps replay from CUDA graphs on a GPU when asked for and the weighting method allows it."""
    return device.type == "cuda" and cfg.speed.cuda_graph and graphable


def memory_format(cfg: DictConfig, device: torch.device) -> torch.memory_format:
    channels_last = cfg.speed.channels_last if cfg.speed.channels_last is not None else device.type == "cpu"
    return torch.channels_last if channels_last else torch.contiguous_format


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX), where oneDNN's bf16 kernels are fast."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def precision_problem(precision: str, device: torch.device) -> str | None:
    """Why `speed.precision` cannot run on `device`, as one paragraph; None where it can."""
    if precision == "fp32":
        return None
    if precision == "tf32":
        if device.type != "cuda":
            return (
                f"speed.precision=tf32 was asked for, but TF32 is a mode of NVIDIA GPUs' tensor cores (Ampere and "
                f"later), and this run computes on {device}. Nothing was run; use speed.precision=fp32 (the default) "
                "or bf16 where the CPU has AVX512-BF16 or AMX, or run on such a GPU (device=cuda)."
            )
        if torch.cuda.get_device_capability(device) < (8, 0):
            return (
                f"speed.precision=tf32 was asked for, but {torch.cuda.get_device_name(device)} predates TF32 (compute "
                "capability 8.0, Ampere). Nothing was run; use speed.precision=fp32 (the default)."
            )
        return None
    if device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            return (
                f"speed.precision=bf16 was asked for, but {torch.cuda.get_device_name(device)} has no bf16 arithmetic. "
                "Nothing was run; use speed.precision=fp32 (the default)."
            )
        return None
    if not cpu_has_bf16():
        return (
            "speed.precision=bf16 was asked for, but this CPU (vector instructions: "
            f"{torch.backends.cpu.get_cpu_capability()}) has neither AVX512-BF16 nor AMX, so "
            "PyTorch would emulate bf16, more slowly than fp32 and with fp32's work still to do. Nothing was run; "
            "use speed.precision=fp32 (the default), or run the bf16 runs on a CPU that has them (or a GPU)."
        )
    return None


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse (ConfigError) a precision the device lacks; set TF32 on or off as a CUDA run's precision says."""
    if (problem := precision_problem(precision, device)) is not None:
        raise ConfigError(problem)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision == "tf32"


def autocast(precision: str, device: torch.device) -> torch.autocast:
    """The forward pass's autocast: bf16 where the run's precision is bf16, else off (no cast cache: CUDA graphs)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16", cache_enabled=False)
