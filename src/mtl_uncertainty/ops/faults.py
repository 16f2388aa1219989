"""Fault injection for the reliability tests: a process can kill itself at a chosen point.

Off unless the environment variable MTL_UNCERTAINTY_FAULT is set, e.g.
`step@7` (SIGKILL at this process's 7th training step), `result_tmp@2` (after the 2nd
result.json's temporary file is written, before its rename), `checkpoint_tmp@3`, `run_start@2`
(as the 2nd run of this process starts: between runs), `nan@5:seed=1` (make the batch of
global step 5 NaN in runs with seed 1) or `error@5:seed=1` (raise an exception at that step).
Several faults are separated by commas.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

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
