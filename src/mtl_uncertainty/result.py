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

from .atomic import write_atomic

RESULT_FILE = "result.json"
SCHEMA_VERSION = 1


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


def library_versions() -> dict[str, str | None]:
    """Versions of Python and of the libraries that shape the numbers."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("torch", "torchvision", "numpy", "hydra-core", "omegaconf"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    versions["cuda"] = torch.version.cuda
    versions["cudnn"] = str(torch.backends.cudnn.version()) if torch.backends.cudnn.is_available() else None
    return versions


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
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {"device": str(device), "gpu": name, "cpu": platform.processor() or platform.machine()}
