"""What every tracker is given: the run (identity, hyperparameters), each epoch, and its end.

A tracker is a small class with `epoch`, `end` and `close` (the `Tracker` protocol) and the
`run_id` it continues on resumption (kept in the run's checkpoint); the session calls it and
never knows which trackers it feeds.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ...training.steps import StepLayout


@dataclass(frozen=True)
class RunInfo:
    """One run as a tracker shows it."""

    out_dir: Path  # the job folder
    name: str  # the run's name in a tracker's list: its job folder's key=value parts
    identity: dict[str, Any]  # config_hash, data_hash, numbers_version, job_dir
    params: dict[str, Any]  # the hyperparameters: the config entries that make the run what it is (config_hash's)
    tasks: list[str]  # the active tasks
    layout: StepLayout  # the columns of a step row
    resumed_epoch: int = 0  # the checkpoint's epoch when the run resumes; 0: from the start
    run_ids: dict[str, str] = field(default_factory=dict)  # tracker name → the run it logged to before (checkpoint)


@dataclass(frozen=True)
class EpochLog:
    """One epoch as the trackers get it."""

    epoch: int
    first_step: int  # the step before the epoch's first (steps are counted from 1)
    rows: np.ndarray  # the epoch's step rows (RunRecord's), every step
    evals: dict[str, dict[str, Any]]  # evaluation split → metrics
    metrics: dict[str, float | None] | None  # `epoch_metrics` of the recorded epoch; None: it diverged


class Tracker(Protocol):
    """Where a run's metrics go besides result.json."""

    name: str  # its key in the checkpoint's run ids (logger.<name>)
    run_id: str | None  # the tracker's run, continued when the run resumes (None: nothing to continue)

    def epoch(self, log: EpochLog) -> None: ...

    def end(self, result: dict[str, Any]) -> None:
        """The run is over (completed or diverged); `result` is its result.json."""

    def close(self) -> None:
        """Always called last; a tracker not ended marks its run as failed or stopped."""


def flat(tree: Mapping[str, Any], prefix: str = "") -> dict[str, bool | int | float | str | None]:
    """Nested config as dot keys; lists as their JSON text (what trackers' parameter tables hold)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, Mapping):
            out |= flat(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = json.dumps(value) if isinstance(value, (list, tuple)) else value
    return out


def _number(value: Any) -> float | None:
    """A finite float, or None (a null, a 'nan' of result.json, an infinite value)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def epoch_metrics(entry: dict[str, Any]) -> dict[str, float | None]:
    """A history entry of result.json as flat metrics: epoch, step, <split>/<metric>, weighting/<value>_<task>."""
    out: dict[str, float | None] = {"epoch": entry["epoch"], "step": entry["step"]}
    for split in ("train", "val", "test"):
        out |= {f"{split}/{k}": _number(v) for k, v in (entry.get(split) or {}).items()}
    out |= {f"weighting/{name}_{t}": _number(v) for name, per in entry["values"].items() for t, v in per.items()}
    out |= {f"seconds/{k}": _number(v) for k, v in entry.get("seconds", {}).items()}
    return out


def end_summary(result: dict[str, Any]) -> dict[str, float | None]:
    """A finished run in a few numbers: final/<split>/<metric>, and per value of the weighting and task its
    trajectory's initial, final, min, max and mean (trajectory/<value>_<task>/<stat>)."""
    out: dict[str, float | None] = {}
    for split, metrics in (result.get("final") or {}).items():
        out |= {f"final/{split}/{k}": _number(v) for k, v in metrics.items()}
    trajectory = result.get("trajectory") or {}
    for name, per_task in trajectory.get("values", {}).items():
        for task, values in per_task.items():
            xs = np.array([v for v in values if v is not None], dtype=np.float64)
            first = (trajectory.get("initial", {}).get(name) or {}).get(task)
            stats = {"initial": first}
            if xs.size:
                stats |= {"final": xs[-1], "min": xs.min(), "max": xs.max(), "mean": xs.mean()}
            out |= {f"trajectory/{name}_{task}/{stat}": _number(v) for stat, v in stats.items()}
    out["total_s"] = _number((result.get("timings") or {}).get("total_s"))
    return out


def finite_only(metrics: Mapping[str, float | None]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(v)}
