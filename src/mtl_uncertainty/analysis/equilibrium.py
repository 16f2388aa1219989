"""Does s reach its equilibrium? The table behind "s within δ of s_eq, smoothed over w steps, from step k".

A method that learns s per task may record `s` and `s_eq`, the value s would settle at for that
step's loss (result.json `trajectory.values`, one point every `trajectory.every` steps). s_eq
follows each batch's noisy loss, so it is smoothed first: a trailing running mean over the last
`window` training steps, i.e. the last ceil(window / every) recorded points (at least 1; fewer at
the start of training; NaN points skipped). For one run and one task:

- the run *reached* the equilibrium if |s − smoothed s_eq| ≤ δ at the last recorded step;
- its *from step* is the first step of the final uninterrupted stretch of recorded points within δ
  (a point where s or the smoothed s_eq is NaN is not within δ).

Per cell and task the table counts the runs that reached it (r of n, n = the runs that record both s
and s_eq for the task) and takes the median from-step over those r runs. The figure of s against
s_eq draws the same running mean (`running_mean`), so that figure and table agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .errors import ReportError
from .runs import Run

DEFAULT_DELTA = 0.1
"""δ: how close s must be to the smoothed s_eq (s is a log-variance, so 0.1 is about 10% in σ²)."""
DEFAULT_WINDOW = 100
"""w: training steps in the trailing running mean of s_eq."""


@dataclass(frozen=True)
class Rule:
    """When s counts as at its equilibrium: within `delta` of s_eq's running mean over `window` steps."""

    delta: float = DEFAULT_DELTA
    window: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if not (isinstance(self.delta, (int, float)) and 0 < self.delta < math.inf):
            raise ReportError(f"--eq-delta {self.delta!r}: δ is a distance in s, a number above 0 (e.g. 0.1).")
        if isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1:
            raise ReportError(f"--eq-window {self.window!r}: w is a whole number of training steps, 1 or more.")


@dataclass(frozen=True)
class Reach:
    """One run and task: whether s ended within δ of its equilibrium, and since which step it has been."""

    reached: bool
    from_step: int | None


def window_points(window: int, every: int) -> int:
    """Recorded points in a window of `window` training steps when one point is kept every `every` steps."""
    return max(1, math.ceil(window / max(every, 1)))


def running_mean(values: np.ndarray, every: int, window: int) -> np.ndarray:
    """The trailing mean over the last `window` steps along the last axis (1-D, or [run, step])."""
    points = window_points(window, every)
    flat = np.atleast_2d(np.asarray(values, dtype=float))
    mean = pd.DataFrame(flat.T).rolling(points, min_periods=1).mean().to_numpy().T
    return mean.reshape(np.shape(values))


def reach(steps: Sequence[int], s: np.ndarray, s_eq: np.ndarray, every: int, rule: Rule) -> Reach:
    """Whether s is within δ of the smoothed s_eq at the last point, and the first step of that last stretch."""
    n = min(len(steps), len(s), len(s_eq))
    if n == 0:
        return Reach(False, None)
    with np.errstate(invalid="ignore"):
        within = np.abs(np.asarray(s[:n], dtype=float) - running_mean(s_eq[:n], every, rule.window)) <= rule.delta
    if not within[-1]:
        return Reach(False, None)
    outside = np.flatnonzero(~within)
    start = int(outside[-1]) + 1 if outside.size else 0
    return Reach(True, int(steps[start]))


def _floats(values: Sequence[float | None]) -> np.ndarray:
    return np.array(values, dtype=float)  # JSON null → NaN


def run_reach(result: dict[str, Any], task: str, rule: Rule) -> Reach | None:
    """The run's `reach` for one task, or None where the run does not record both s and s_eq for it."""
    traj = result.get("trajectory") or {}
    values = traj.get("values") or {}
    s, s_eq = (values.get("s") or {}).get(task), (values.get("s_eq") or {}).get(task)
    if not s or not s_eq or not traj.get("step"):
        return None
    return reach(traj["step"], _floats(s), _floats(s_eq), int(traj.get("every") or 1), rule)


def _task_order(runs: Sequence[Run]) -> list[str]:
    seen = [t for r in runs for t in ((r.result.get("trajectory") or {}).get("tasks") or [])]
    return list(dict.fromkeys(seen))


def _cell_rows(runs: Sequence[Run], rule: Rule) -> list[dict[str, Any]]:
    rows = []
    for task in _task_order(runs):
        found = [x for r in runs if (x := run_reach(r.result, task, rule)) is not None]
        if not found:
            continue
        steps = [x.from_step for x in found if x.reached]
        median = float(np.median(steps)) if steps else math.nan
        rows.append({"task": task, "runs": len(found), "reached": len(steps), "from_step_median": median})
    return rows


def equilibrium_table(table: pd.DataFrame, runs: Sequence[Run], cells: Sequence[str], rule: Rule) -> pd.DataFrame:
    """Per cell (in the order of `cells`) and task: runs that record s and s_eq, how many reached it, median from.

    `table`: one row per run with its `path`, `cell`, `row` and `group`; cells not in `cells` are left out.
    """
    by_path = {str(r.path): r for r in runs}
    groups = dict(list(table.groupby("cell", sort=False)))
    out = []
    for cell in (c for c in cells if c in groups):
        rows = groups[cell]
        head = {"cell": cell, "row": rows["row"].iloc[0], "group": rows["group"].iloc[0]}
        out += [head | r for r in _cell_rows([by_path[p] for p in rows["path"]], rule)]
    columns = ["cell", "row", "group", "task", "runs", "reached", "from_step_median"]
    return pd.DataFrame(out, columns=columns).assign(delta=rule.delta, window_steps=rule.window)
