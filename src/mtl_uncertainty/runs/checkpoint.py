"""Epoch checkpoints: everything a run needs to continue exactly where it stopped, and proof it is intact.

A checkpoint file is a short header (a magic string and the sha256 of the payload) followed by
the payload, `torch.save`d. Loading checks the digest before unpickling anything, loads weights
only, and refuses state that is not finite; any checkpoint that fails is set aside with the
reason, and the run starts again from the beginning.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..storage.atomic import set_aside, write_atomic
from ..storage.reading import UnreadableFile, read_bytes

CHECKPOINT_FILE = "checkpoint.pt"
MAGIC = b"mtl-uncertainty checkpoint v2\n"
DIGEST_BYTES = 32

log = logging.getLogger(__name__)


class CheckpointError(ValueError):
    """A checkpoint that cannot be used; the message says why."""


MAX_CHECKPOINT_BYTES = 2**31
"""A checkpoint holds a small network, its optimiser state and the record so far: far below 2 GiB."""


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    write_atomic(path, MAGIC + hashlib.sha256(payload).digest() + payload)


def _tensors(node: Any) -> Iterator[torch.Tensor]:
    if torch.is_tensor(node):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _tensors(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from _tensors(value)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The state in `path`, or CheckpointError saying what is wrong with the file."""
    try:
        data = read_bytes(path, MAX_CHECKPOINT_BYTES)
    except UnreadableFile as e:
        raise CheckpointError(str(e)) from e
    head = len(MAGIC) + DIGEST_BYTES
    if not data.startswith(MAGIC) or len(data) < head:
        raise CheckpointError(f"it is not a checkpoint of this suite (or was cut short: {len(data)} bytes)")
    digest, payload = data[len(MAGIC) : head], data[head:]
    if hashlib.sha256(payload).digest() != digest:
        raise CheckpointError("its content does not match its sha256 digest (truncated or altered)")
    try:
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"it does not load ({type(e).__name__}: {e})") from e
    if not isinstance(state, dict):
        raise CheckpointError(f"it holds a {type(state).__name__}, not a state")
    for section in ("model", "weighting", "optimizer"):
        bad = [t for t in _tensors(state.get(section)) if t.is_floating_point() and not torch.isfinite(t).all()]
        if bad:
            raise CheckpointError(f"its {section} state holds NaN or infinite values")
    return state


def load_checkpoint(path: Path, identity: dict[str, str], epochs: int) -> dict[str, Any] | None:
    """The checkpoint at `path` if it is intact and was written for this run's identity; others are set aside.

    `identity`: the config hash and data hash the checkpoint must carry; `epochs`: the run's length
    (a checkpoint's epoch must be one the run can have reached, with one history entry per epoch).
    """
    if not path.exists() and not path.is_symlink():
        return None
    try:
        state = read_checkpoint(path)
        _check_epoch(state, epochs)
    except (CheckpointError, OSError) as e:
        log.warning("checkpoint %s is unusable: %s; set aside as %s", path, e, set_aside(path, "unusable"))
        return None
    for key, tag in (("config_hash", "stale"), ("data_hash", "otherdata")):
        if state.get(key) != identity[key]:
            old = state.get(key, "unknown")
            what = "another config" if key == "config_hash" else "other data"
            log.warning("checkpoint %s is from %s; set aside as %s", path, what, set_aside(path, f"{tag}-{old}"))
            return None
    return state


def _check_epoch(state: dict[str, Any], epochs: int) -> None:
    """Raise CheckpointError unless the state's epoch is 1..epochs and its history has that many epochs."""
    epoch = state.get("epoch")
    if not (isinstance(epoch, int) and not isinstance(epoch, bool) and 1 <= epoch <= epochs):
        raise CheckpointError(f"its epoch {epoch!r} is not one a run of {epochs} epochs can have reached")
    history = (state.get("record") or {}).get("history") if isinstance(state.get("record"), dict) else None
    if not isinstance(history, list) or len(history) != epoch:
        got = len(history) if isinstance(history, list) else "no"
        raise CheckpointError(f"it records {got} epochs of history for epoch {epoch}")
