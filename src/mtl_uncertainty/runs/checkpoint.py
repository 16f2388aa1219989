"""Epoch checkpoints: everything a run needs to continue exactly where it stopped, and proof it is intact.

A checkpoint file is a short header (a magic string and the sha256 of the payload) followed by
the payload, `torch.save`d. Loading checks the digest before unpickling anything, loads weights
only, and refuses state that is not finite; any checkpoint that fails is set aside with the
reason, and the run starts again from the beginning; so is one of another config, other data or
another numbers version (`code_version`). One written by other source at the same numbers version is
refused, set aside or continued, as the config's `resume.other_source` says.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..code_version import changed_parts
from ..errors import InputError
from ..storage.atomic import set_aside, write_atomic
from ..storage.reading import UnreadableFile, read_bytes
from ..storage.result_schema import numbers_version

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


def load_checkpoint(
    path: Path, identity: dict[str, Any], epochs: int, other_source: str = "refuse"
) -> dict[str, Any] | None:
    """The checkpoint at `path` if it is intact and was written for this run's identity; others are set aside.

    `identity`: the config hash, data hash and code (`RunIdentity.as_dict`) the checkpoint must carry;
    `epochs`: the run's length (a checkpoint's epoch must be one the run can have reached, with one history
    entry per epoch). A checkpoint of this identity written by other source (the same numbers version):
    `other_source` says what to do (`refuse`: raise OtherSource, `restart`: set it aside, `continue`: use it).
    """
    if not path.exists() and not path.is_symlink():
        return None
    try:
        state = read_checkpoint(path)
        _check_epoch(state, epochs)
    except (CheckpointError, OSError) as e:
        log.warning("checkpoint %s is unusable: %s; set aside as %s", path, e, set_aside(path, "unusable"))
        return None
    if (mismatch := _mismatch(state, identity)) is not None:
        tag, why = mismatch
        log.warning("checkpoint %s %s; set aside as %s", path, why, set_aside(path, tag))
        return None
    if (changed := source_change(state, identity)) is None:
        return state
    if other_source == "refuse":
        raise OtherSource(refusal(path, changed))
    if other_source == "restart":
        aside = set_aside(path, f"source-{_recorded_source(state) or 'unrecorded'}")
        log.warning(
            "checkpoint %s was written by other source (%s); set aside as %s, the run starts over "
            "(resume.other_source=restart)",
            path,
            changed,
            aside,
        )
        return None
    log.warning(
        "checkpoint %s was written by other source (%s); continuing it as resume.other_source=continue says "
        "(result.json's code.source_by_segment records each segment's source)",
        path,
        changed,
    )
    return state


class OtherSource(InputError):
    """A checkpoint of this run written by other source code at the same numbers version, not resumed."""


def _recorded_source(state: dict[str, Any]) -> str | None:
    code = state.get("code")
    source = code.get("source") if isinstance(code, dict) else None
    return source if isinstance(source, str) else None


def _mismatch(state: dict[str, Any], identity: dict[str, Any]) -> tuple[str, str] | None:
    """(set-aside tag, why) for a checkpoint of another config, other data or another numbers version; else None."""
    for key, tag in (("config_hash", "stale"), ("data_hash", "otherdata")):
        if state.get(key) != identity[key]:
            old = state.get(key, "unknown")
            return f"{tag}-{old}", "is from another config" if key == "config_hash" else "is from other data"
    version, wanted = numbers_version(state), identity["code"]["numbers_version"]
    if version != wanted:
        return f"numbers-{version}", (
            f"was written by code of numbers version {version}, and this code computes version {wanted} "
            "(code_version.NUMBERS_VERSION): it is never resumed by other code"
        )
    return None


def source_change(state: dict[str, Any], identity: dict[str, Any]) -> str | None:
    """How the source that wrote the checkpoint differs from this run's ('parts changed: model, ...'), or None."""
    code = identity["code"]
    if _recorded_source(state) == code["source"]:
        return None
    if _recorded_source(state) is None:
        return "its source is not recorded (written before checkpoints recorded their code)"
    parts = changed_parts(state["code"].get("source_by_part"), code["source_by_part"])
    return f"source {_recorded_source(state)}, this code's {code['source']}; parts changed: {', '.join(parts)}"


def pending_refusal(path: Path, identity: dict[str, Any], epochs: int) -> str | None:
    """The paragraph `load_checkpoint` would refuse the checkpoint at `path` with (other_source=refuse), or None.

    Reads only: a checkpoint `load_checkpoint` would set aside, or find absent, is None here.
    """
    if path.is_symlink() or not path.is_file():
        return None
    try:
        state = read_checkpoint(path)
        _check_epoch(state, epochs)
    except (CheckpointError, OSError):
        return None
    if _mismatch(state, identity) is not None or (changed := source_change(state, identity)) is None:
        return None
    return refusal(path, changed)


def refusal(path: Path, changed: str) -> str:
    """The paragraph that refuses to resume a checkpoint of other source, and says how to go on."""
    return (
        f"{path} was written by other source code at this numbers version ({changed}). Continuing it would train "
        "one run with two versions of the code, whose numbers can match neither version's uninterrupted run, so "
        "nothing was trained. If the change alters the numbers, bump NUMBERS_VERSION in "
        "src/mtl_uncertainty/code_version.py and re-pin with python -m tests.golden --pin (the run then starts "
        "over by itself); to train the run from scratch with this code, add resume.other_source=restart; if the "
        "change keeps the numbers (tests/golden.py passes unchanged), resume.other_source=continue resumes it."
    )


def _check_epoch(state: dict[str, Any], epochs: int) -> None:
    """Raise CheckpointError unless the state's epoch is 1..epochs and its history has that many epochs."""
    epoch = state.get("epoch")
    if not (isinstance(epoch, int) and not isinstance(epoch, bool) and 1 <= epoch <= epochs):
        raise CheckpointError(f"its epoch {epoch!r} is not one a run of {epochs} epochs can have reached")
    history = (state.get("record") or {}).get("history") if isinstance(state.get("record"), dict) else None
    if not isinstance(history, list) or len(history) != epoch:
        got = len(history) if isinstance(history, list) else "no"
        raise CheckpointError(f"it records {got} epochs of history for epoch {epoch}")
