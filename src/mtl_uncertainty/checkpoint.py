"""Epoch checkpoints: everything a run needs to continue exactly where it stopped."""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any

import torch

from .atomic import write_atomic

CHECKPOINT_FILE = "checkpoint.pt"

log = logging.getLogger(__name__)


def set_aside(path: Path, tag: str) -> Path:
    """Rename `path` to `<stem>.<tag><suffix>` so nothing already computed is lost."""
    target = path.with_name(f"{path.stem}.{tag}{path.suffix}")
    os.replace(path, target)
    return target


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path, config_hash: str) -> dict[str, Any] | None:
    """The checkpoint at `path` if it was written for this config; others are set aside."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a damaged file: keep it for inspection, start again
        log.warning("checkpoint %s is unreadable (%s); set aside as %s", path, e, set_aside(path, "unreadable"))
        return None
    if state.get("config_hash") != config_hash:
        old = state.get("config_hash", "unknown")
        log.warning("checkpoint %s is from another config; set aside as %s", path, set_aside(path, f"stale-{old}"))
        return None
    return state
