"""Does s reach its equilibrium? The rule on constructed trajectories (fast: no runs, no files)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mtl_uncertainty.analysis import figures
from mtl_uncertainty.analysis.equilibrium import (
    DEFAULT_DELTA,
    DEFAULT_WINDOW,
    Reach,
    Rule,
    equilibrium_table,
    run_reach,
    running_mean,
    window_points,
)
from mtl_uncertainty.analysis.errors import ReportError
from mtl_uncertainty.analysis.runs import Run

RULE = Rule()  # δ = 0.1, w = 100 steps


def trajectory(s: dict[str, list[float] | None], s_eq: dict[str, list[float] | None], every: int = 1) -> dict:
    """A result.json holding only a trajectory: s and s_eq per task, one point every `every` steps."""
    n = len(next(v for v in s.values() if v))
    tasks = [t for t, v in s.items() if v is not None]
    values = {"s": s, "s_eq": s_eq, "weight": {t: [1.0] * n for t in tasks}}
    return {
        "trajectory": {"every": every, "tasks": tasks, "step": [every * (i + 1) for i in range(n)], "values": values}
    }


def one(s: list[float], s_eq: list[float], every: int = 1, rule: Rule = RULE) -> Reach | None:
    return run_reach(trajectory({"cls3": s}, {"cls3": s_eq}, every), "cls3", rule)


def test_the_defaults_are_delta_0_1_and_a_window_of_100_steps() -> None:
    assert (DEFAULT_DELTA, DEFAULT_WINDOW) == (0.1, 100) and (RULE.delta, RULE.window) == (0.1, 100)


def test_never_reaching_is_not_reached() -> None:
    assert one([0.0] * 50, [1.0] * 50) == Reach(False, None)


def test_reaching_and_staying_gives_the_first_step_within_delta() -> None:
    s = [0.0] * 20 + [0.95] * 30  # steps 1..50; within 0.1 of 1.0 from the 21st point on
    assert one(s, [1.0] * 50) == Reach(True, 21)


def test_reaching_then_leaving_is_not_reached() -> None:
    s = [0.0] * 10 + [1.0] * 30 + [0.5] * 10
    assert one(s, [1.0] * 50) == Reach(False, None)


def test_entering_leaving_and_entering_again_counts_from_the_last_entry() -> None:
    s = [0.0] * 10 + [1.0] * 10 + [0.0] * 10 + [1.05] * 20
    assert one(s, [1.0] * 50) == Reach(True, 31)


def test_a_noisy_s_eq_is_judged_by_its_running_mean() -> None:
    s_eq = [1.4 if i % 2 == 0 else 0.6 for i in range(300)]  # every point 0.4 from s; the mean over any two is 1.0
    s = [1.0] * 300
    # trailing means over 1, 2, 3, 4, 5 points: 1.4, 1.0, 1.133, 1.0, 1.08, then within 0.1 of 1.0 for good
    assert one(s, s_eq) == Reach(True, 4)
    assert one(s, s_eq, rule=Rule(window=1)) == Reach(False, None)  # no smoothing: never within δ


def test_a_window_in_steps_covers_ceil_w_over_every_recorded_points() -> None:
    assert (window_points(100, 10), window_points(95, 10), window_points(5, 10), window_points(100, 1)) == (
        10,
        10,
        1,
        100,
    )
    s_eq = [0.0] * 50 + [1.0] * 50  # steps 10, 20, ..., 1000; s_eq jumps at step 510
    # 100 steps = 10 points: the mean reaches 0.9 at the 9th point after the jump, step 590
    assert one([1.0] * 100, s_eq, every=10) == Reach(True, 590)
    assert one([1.0] * 100, s_eq, every=10, rule=Rule(window=10)) == Reach(True, 510)


def test_the_running_mean_is_trailing_and_skips_missing_points() -> None:
    assert running_mean(np.array([1.0, 3.0, 5.0, 7.0]), every=10, window=20).tolist() == [1.0, 2.0, 4.0, 6.0]
    two = running_mean(np.array([[1.0, math.nan, 5.0], [0.0, 2.0, 4.0]]), every=1, window=2)
    assert two[0].tolist() == [1.0, 1.0, 5.0] and two[1].tolist() == [0.0, 1.0, 3.0]


def test_a_missing_s_point_breaks_the_stretch() -> None:
    s = [1.0] * 10 + [math.nan] + [1.0] * 9
    assert one(s, [1.0] * 20) == Reach(True, 12)


def test_an_inactive_task_or_a_method_without_s_is_not_in_the_table() -> None:
    n = 30
    on = trajectory({"cls3": [1.0] * n, "cls10": [0.0] * n, "recon": None}, {"cls3": [1.0] * n, "cls10": [1.0] * n})
    assert run_reach(on, "recon", RULE) is None
    fixed = {"trajectory": {"every": 1, "tasks": ["cls3"], "step": list(range(1, n + 1)), "values": {"weight": {}}}}
    runs = [Run(Path("/l/0"), on), Run(Path("/f/0"), fixed)]
    table = pd.DataFrame({"path": ["/l/0", "/f/0"], "cell": ["l, recon=false", "f"], "row": ["l", "f"]})
    found = equilibrium_table(table.assign(group=["recon=false", ""]), runs, ["f", "l, recon=false"], RULE)
    assert found[["cell", "task", "runs", "reached"]].values.tolist() == [
        ["l, recon=false", "cls3", 1, 1],
        ["l, recon=false", "cls10", 1, 0],
    ]
    assert found["delta"].tolist() == [0.1, 0.1] and found["window_steps"].tolist() == [100, 100]


def _cell_runs(from_steps: list[int | None], n: int = 50) -> list[Run]:
    """One run per entry: s within δ from that step on (1-based), or never (None)."""
    runs = []
    for i, start in enumerate(from_steps):
        s = [0.0] * n if start is None else [0.0] * (start - 1) + [1.0] * (n - start + 1)
        runs.append(Run(Path(f"/c/{i}"), trajectory({"cls3": s}, {"cls3": [1.0] * n})))
    return runs


def test_a_cell_counts_the_runs_that_reached_it_and_takes_their_median_step() -> None:
    runs = _cell_runs([21, None, 31, 40])
    table = pd.DataFrame({"path": [str(r.path) for r in runs], "cell": "c", "row": "c", "group": ""})
    row = equilibrium_table(table, runs, ["c"], RULE).iloc[0]
    assert (row["task"], row["runs"], row["reached"], row["from_step_median"]) == ("cls3", 4, 3, 31.0)
    none = equilibrium_table(table.iloc[[1]], runs, ["c"], RULE).iloc[0]
    assert none["reached"] == 0 and math.isnan(none["from_step_median"])


@pytest.mark.parametrize(("delta", "window"), [(0.0, 100), (-1.0, 100), (math.nan, 100), (0.1, 0), (0.1, 2.5)])
def test_a_bad_rule_is_refused(delta: float, window: Any) -> None:
    with pytest.raises(ReportError, match="--eq-"):
        Rule(delta, window)


def test_the_figure_draws_the_running_mean_the_table_judges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    s_eq = [1.4 if i % 2 == 0 else 0.6 for i in range(30)]
    run = Run(Path("/l/0"), trajectory({"cls3": [1.0] * 30}, {"cls3": s_eq}, every=10))
    drawn = {}
    monkeypatch.setattr(figures, "save", lambda fig, title, stem, formats: drawn.update(fig=fig, title=title) or [])
    figures.equilibrium([("l", [run])], tmp_path / "eq", ["png"], window=40)
    dashed = [line for line in drawn["fig"].axes[0].get_lines() if line.get_linestyle() == "--"]
    expected = running_mean(np.array(s_eq), every=10, window=40)
    assert np.allclose(dashed[0].get_ydata(), expected)  # the window is stated beside the figure, in report.md
