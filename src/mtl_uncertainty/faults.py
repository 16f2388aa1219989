"""Fault injection for the reliability tests: a process can kill itself at a chosen point.

Off unless the environment variable MTL_UNCERTAINTY_FAULT is set, e.g.
`step@7` (SIGKILL at this process's 7th training step), `result_tmp@2` (after the 2nd
result.json's temporary file is written, before its rename), `checkpoint_tmp@3`, `run_start@2`
(as the 2nd run of this process starts: between runs), `nan@5:seed=1` (make the batch of
global step 5 NaN in runs with seed 1), `error@5:seed=1` (raise an exception at that step) or
`full_disk@3` (from this process's 3rd file write on, every write fails with ENOSPC, as on a
full disk: the suite's atomic writes and Hydra's saving of each job's config alike) or `read_only@3` (the
same, failing with EROFS, as on a file system mounted read-only).
Several faults are separated by commas.
"""

from __future__ import annotations

import errno
import os
import signal
from collections import Counter
from typing import Any

ENV = "MTL_UNCERTAINTY_FAULT"
_SPEC = [item.strip() for item in os.environ.get(ENV, "").split(",") if item.strip()]
_hits: Counter[str] = Counter()


def hit(point: str) -> None:
    """Count a pass through `point`; SIGKILL this process if a fault names this pass."""
    if not _SPEC:
        return
    _hits[point] += 1
    for item in _SPEC:
        name, _, count = item.partition("@")
        if name == point and count.isdigit() and int(count) == _hits[point]:
            os.kill(os.getpid(), signal.SIGKILL)


class InjectedFault(RuntimeError):
    """The exception an `error@STEP:seed=S` fault raises."""


def step_fault(kind: str, seed: int) -> int | None:
    """The global step at which a `kind` fault ("nan" or "error") hits runs with `seed`, if any."""
    for item in _SPEC:
        name, _, rest = item.partition("@")
        step, _, where = rest.partition(":seed=")
        if name == kind and step.isdigit() and where.isdigit() and int(where) == seed:
            return int(step)
    return None


_WRITE_FAULTS = {
    "full_disk": (errno.ENOSPC, "No space left on device (injected)"),
    "read_only": (errno.EROFS, "Read-only file system (injected)"),
}


def _write_fault_from() -> int | None:
    """The write from which a `full_disk` or `read_only` fault makes every write fail."""
    for item in _SPEC:
        name, _, count = item.partition("@")
        if name in _WRITE_FAULTS and count.isdigit():
            return int(count)
    return None


def writing(path: Any) -> None:
    """Count a file write; raise ENOSPC (EROFS) once a `full_disk` (`read_only`) fault says the disk is full
    (read-only)."""
    start = _write_fault_from()
    if start is None:
        return
    _hits["write"] += 1
    if _hits["write"] >= start:
        name = next(i.partition("@")[0] for i in _SPEC if i.partition("@")[0] in _WRITE_FAULTS)
        code, text = _WRITE_FAULTS[name]
        raise OSError(code, text, str(path))


def _install_full_disk() -> None:
    """Make Hydra's saving of each job's config hit the injected full disk too."""
    if _write_fault_from() is None:
        return
    from hydra.core import utils

    save = utils._save_config

    def _save_config(cfg: Any, filename: str, output_dir: Any) -> None:
        writing(output_dir)
        save(cfg, filename, output_dir)

    utils._save_config = _save_config


_install_full_disk()
