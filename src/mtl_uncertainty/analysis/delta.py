"""Δm%, the average relative change against the single-task baselines, and the mean rank of each row.

Δm = (1/K) Σ_i (−1)^{l_i} (M_i − M_single,i)/M_single,i × 100 over the K active tasks, l_i = 1 where
lower is better (the MSE) (Maninis et al. 2019). Single-task baselines are the runs whose
result.json says they trained exactly one task; each seed is compared with the baseline of the
same seed and the same other axes, recon aside: a single-task run trains the same with recon on or
off, only the tasks it records differ. Where that seed has no baseline run, the mean over the
baseline's seeds stands in, and the report says so.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from ..objective import SIGN, TASK_METRIC
from .cells import value_text
from .stats import mean_ranks

RECON_AXIS = "config.recon"


def task_metric(task: str) -> str:
    """The test-split column that measures `task`."""
    return f"test.{TASK_METRIC[task]}"


@dataclass
class CellBaseline:
    """How one cell's Δm% was found: tasks without any baseline, and seeds that used the mean over seeds."""

    missing: set[str] = field(default_factory=set)
    fallback: dict[str, set[int]] = field(default_factory=dict)


@dataclass
class Baselines:
    """Per task: the single-task value by (other axes, seed), and its mean over seeds by other axes."""

    match_axes: list[str]
    by_seed: dict[str, pd.Series]
    by_axes: dict[str, pd.Series]

    def key(self, row: pd.Series) -> tuple[str, ...]:
        return tuple(value_text(row[a]) for a in self.match_axes)

    def value(self, task: str, key: tuple[str, ...], seed: int, how: CellBaseline) -> float:
        """The baseline of `task` for this seed (or the mean over seeds, noted in `how`); NaN if none."""
        if task in self.by_seed and (key, seed) in self.by_seed[task].index:
            return float(self.by_seed[task][(key, seed)])
        if task in self.by_axes and key in self.by_axes[task].index:
            how.fallback.setdefault(task, set()).add(int(seed))
            return float(self.by_axes[task][key])
        how.missing.add(task)
        return math.nan


def baselines(seeds: pd.DataFrame, others: Sequence[str]) -> Baselines:
    """The single-task baselines among the per-seed rows (one trained task each)."""
    match_axes = [a for a in others if a != RECON_AXIS]
    singles = seeds[seeds["n_trained"] == 1]
    keys = pd.Series([tuple(value_text(r[a]) for a in match_axes) for _, r in singles.iterrows()], dtype=object)
    singles = singles.assign(_key=keys.to_numpy())
    by_seed, by_axes = {}, {}
    for task, runs in singles.groupby("trained"):
        values = runs.groupby(["_key", "seed"])[task_metric(task)].mean().dropna()
        if len(values):
            by_seed[task] = values
            by_axes[task] = values.groupby(level=0).mean()
    return Baselines(match_axes, by_seed, by_axes)


SINGLE_TASK_ROW = "single-task (each task trained alone)"
"""The row that stands for the single-task runs: each task's metric from the run that trains it alone."""


def _single_task_rows(group: pd.DataFrame, base: Baselines) -> list[dict]:
    """Per seed, the single-task value of every task the group's rows are active in (seeds with all of them)."""
    first = group.iloc[0]
    tasks = _common_tasks(group)
    key = base.key(first)
    seeds = sorted(set(group["seed"]))
    rows = []
    for seed in seeds:
        values = {t: base.by_seed[t].get((key, seed)) if t in base.by_seed else None for t in tasks}
        if not tasks or any(v is None or math.isnan(v) for v in values.values()):
            continue
        label = f"{SINGLE_TASK_ROW}, {first['group']}" if first["group"] else SINGLE_TASK_ROW
        row = {c: first[c] for c in group.columns if c.startswith("config.")} | {"group": first["group"]}
        row |= {"cell": label, "row": SINGLE_TASK_ROW, "method": "single-task", "seed": seed, "runs": 1}
        row |= {"active": ",".join(tasks), "trained": ",".join(tasks), "n_trained": len(tasks)}
        row |= {task_metric(t): v for t, v in values.items()}
        rows.append(row)
    return rows


def add_single_task_rows(seeds: pd.DataFrame, others: Sequence[str]) -> pd.DataFrame:
    """The per-seed rows with one composite single-task row per group, the single-task runs marked `baseline_only`.

    A run that trains one task says nothing about the others (its 3-class accuracy, say, is that of an
    untrained head), so the single-task runs are shown as one row that takes each task's metric from
    the run that trained it alone; its Δm% is 0 by definition. They stay the baselines of every Δm%.
    """
    singles = seeds["n_trained"] == 1
    base = baselines(seeds, others)
    added = [row for _, group in seeds[~singles].groupby("group", sort=False) for row in _single_task_rows(group, base)]
    if not added:
        return seeds.assign(baseline_only=False)
    merged = {row["group"] for row in added}  # groups where every task has its single-task runs
    hidden = singles & seeds["group"].isin(merged)
    return pd.concat(
        [seeds.assign(baseline_only=hidden), pd.DataFrame(added).assign(baseline_only=False)], ignore_index=True
    )


def _delta(row: pd.Series, base: Baselines, how: CellBaseline) -> float:
    tasks = [t for t in str(row["active"]).split(",") if t]
    terms = []
    for task in tasks:
        ref = base.value(task, base.key(row), row["seed"], how)
        change = (row[task_metric(task)] - ref) / ref if ref else math.nan
        terms.append(SIGN[TASK_METRIC[task]] * change * 100)
    return sum(terms) / len(terms) if terms else math.nan


def delta_m(seeds: pd.DataFrame, others: Sequence[str]) -> tuple[pd.Series, dict[str, CellBaseline]]:
    """Δm% of every per-seed row, and per cell how its baselines were found."""
    base = baselines(seeds, others)
    how: dict[str, CellBaseline] = {}
    values = [_delta(row, base, how.setdefault(row["cell"], CellBaseline())) for _, row in seeds.iterrows()]
    return pd.Series(values, index=seeds.index, dtype=float), how


def _common_tasks(group: pd.DataFrame) -> list[str]:
    sets = [set(a.split(",")) for a in group["active"].unique()]
    return [t for t in TASK_METRIC if all(t in s for s in sets)]


def group_ranks(group: pd.DataFrame) -> pd.DataFrame:
    """Mean rank of each cell of one group over the seeds every cell has and the tasks every cell is active in."""
    tasks = _common_tasks(group)
    wide = {t: group.pivot_table(index="seed", columns="cell", values=task_metric(t), aggfunc="mean") for t in tasks}
    cells = list(dict.fromkeys(group["cell"]))
    seeds = None
    for table in wide.values():
        complete = set(table.reindex(columns=cells).dropna().index)
        seeds = complete if seeds is None else seeds & complete
    seeds = sorted(seeds or [])
    if len(cells) < 2 or not seeds or not tasks:
        return pd.DataFrame({"cell": cells, "rank.mean": math.nan, "rank.seeds": len(seeds), "rank.tasks": len(tasks)})
    ranks = [mean_ranks(wide[t].loc[seeds, cells], SIGN[TASK_METRIC[t]] > 0) for t in tasks]
    mean = pd.concat(ranks).mean()
    return pd.DataFrame({"cell": cells, "rank.mean": mean[cells].to_numpy(), "rank.seeds": len(seeds)}).assign(
        **{"rank.tasks": len(tasks)}
    )


def ranks(seeds: pd.DataFrame) -> pd.DataFrame:
    """Mean rank of every cell among the cells of its group (rank per seed and active task metric)."""
    return pd.concat([group_ranks(g) for _, g in seeds.groupby("group", sort=False)], ignore_index=True)
