"""result.json: writing it atomically, and the facts about the environment it records."""

from __future__ import annotations

import json
import math
import platform
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ..storage.atomic import write_atomic


def finite_or_none(value: Any) -> Any:
    """JSON has no NaN or infinity: turn them into null, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_none(v) for v in value]
    return value


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write `data` as JSON, atomically (NaN and infinity become null)."""
    write_atomic(path, json.dumps(finite_or_none(data), indent=1, allow_nan=False).encode())


def library_versions(device: torch.device) -> dict[str, str | None]:
    """Versions of Python and of the libraries that shape the numbers.

    `cuda_build` is the CUDA that this torch was built with (there on a CPU run too); `cuda_runtime`,
    `cuda_driver` and `cudnn` are recorded only where the run used a GPU.
    """
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("torch", "torchvision", "numpy", "hydra-core", "omegaconf"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    versions["cuda_build"] = torch.version.cuda
    on_gpu = device.type == "cuda"
    versions["cuda_runtime"] = _cuda_runtime() if on_gpu else None
    versions["cuda_driver"] = _cuda_driver() if on_gpu else None
    versions["cudnn"] = str(torch.backends.cudnn.version()) if on_gpu and torch.backends.cudnn.is_available() else None
    return versions


def _cuda_runtime() -> str | None:
    try:
        major, minor = divmod(torch.cuda.cudart().cudaRuntimeGetVersion()[1], 1000)
    except Exception:
        return None
    return f"{major}.{minor // 10}"


def _cuda_driver() -> str | None:
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip().splitlines()[0] if out.strip() else None


@cache
def cpu_model() -> str:
    """The processor's model name (from /proc/cpuinfo on Linux), else what the platform says."""
    info = Path("/proc/cpuinfo")
    if info.exists():
        for line in info.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


@cache
def git_commit() -> dict[str, Any] | None:
    """The suite's git commit and whether the working tree had changes, or None outside git."""
    here = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.SubprocessError):
        return None


def device_info(device: torch.device) -> dict[str, Any]:
    """The torch device, the GPU's name (or None), the CPU's model and torch's CPU thread count."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "device": str(device),
        "gpu": name,
        "cpu": {"model": cpu_model(), "arch": platform.machine(), "threads": torch.get_num_threads()},
    }
