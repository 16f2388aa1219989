"""Cells: which runs are the same experiment, and how their rows are named.

A cell is one combination of the config values that vary across the runs (the axes). Its row
label is the method with only the settings that vary within that method (`single (task=cls3)`,
`learnable (lr=0.01)`); the other axes (recon, train.lr, ...) form its group and are shown as
columns. Repeated runs of one seed in a cell (e.g. two sweeps reported together) are averaged
into one value per seed before any statistic, so `n` always counts seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..storage.labels import MAX_DIGITS, SHORT_DIGITS, distinct_digits, short_number

NOT_AXES = (
    "config.seed",
    "config.dataset.coarse_labels",
    "config.dataset.coarse_names",
    "config.device",
    "config.data.root",
    "config.data.verify",
    "config.data.download",
    "config.record.trajectory_every",
    "config.train.eval_batch_size",
    "config.speed.",
    "config.logger.",
    "config.report.",
    "config.resume.",
    "config.weighting.weights_by_seed.",
)
"""Config keys (or prefixes, ending in '.') that never define a cell: the seed is what cells are
averaged over; the coarse classes follow from dataset.name; the rest do not change what is computed (the
report's declared question, `report.`, is the study's, not a run's; `resume.` says what a run does with a
checkpoint); `fixed_end`'s weights differ per seed by design, and its `source` tells its cells apart."""
PRECISION = "config.speed.precision"
"""The one `speed.` key that defines cells: runs in bf16 or tf32 compute other numbers than fp32 runs, and are never
pooled with them (runs made before the key existed read as fp32)."""

METHOD = "config.weighting.name"
DATASET = "config.dataset.name"
FILES = "config.data.files"  # analysis.runs.DATA_AXIS: which files a run computed from
CODE = "code.numbers_version"  # analysis.runs.CODE_AXIS: which code computed a run's numbers
SETTING_PREFIXES = ("config.weighting.", "config.sigma_init.")
"""Axes that are settings of the method (shown in the row label); every other axis forms the group."""
AXIS_ORDER = (METHOD, "config.recon", "config.sigma_init.name")
SEED_METRICS = (
    *(f"{split}.{m}" for split in ("test", "val", "train") for m in ("acc_cls3", "acc_cls10", "loss_recon")),
    "val.objective",
    "train_running.acc_cls3",
    "train_running.acc_cls10",
)
"""Per-run numbers averaged over the repeats of a seed in a cell."""


def _not_axis(col: str) -> bool:
    return col != PRECISION and any(col.startswith(k) if k.endswith(".") else col == k for k in NOT_AXES)


def find_axes(df: pd.DataFrame) -> list[str]:
    """Config columns that take at least two values across the runs, main axes first.

    The data's files (`data.files`) are an axis only where they vary within one dataset: runs on
    other files are then a group of their own, never averaged with the rest. So is the numbers
    version of the code that computed the runs (`code.numbers_version`), where it varies.
    """
    cols = [c for c in df.columns if (c.startswith("config.") or c == CODE) and not _not_axis(c)]
    varying = [c for c in cols if df[c].dropna().astype(str).nunique() >= 2]
    if FILES in varying and DATASET in df and (df.groupby(DATASET)[FILES].nunique() <= 1).all():
        varying.remove(FILES)
    return sorted(varying, key=lambda c: (AXIS_ORDER.index(c) if c in AXIS_ORDER else len(AXIS_ORDER), c))


def axis_name(col: str) -> str:
    """The name an axis goes by on the command line: `recon`, `weighting`, `sigma_init`, `train.lr`."""
    name = col.removeprefix("config.")
    return name.removesuffix(".name") if name.count(".") == 1 and name.endswith(".name") else name


def setting_name(col: str) -> str:
    """A setting's name inside its method's label: `task`, `lr`, `weights.cls3`, `sigma_init`."""
    return axis_name(col).removeprefix("weighting.")


def value_text(value: Any, digits: int = SHORT_DIGITS) -> str:
    """A config value as the command line spells it (true/false, — for none), a search's long floats to `digits`."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, (float, np.floating)):
        return short_number(repr(float(value)), digits)
    return str(value)


def axis_digits(values: pd.Series) -> int:
    """The digits that keep an axis's different floats apart in labels (at least SHORT_DIGITS)."""
    return distinct_digits(repr(float(v)) for v in values.dropna() if isinstance(v, (float, np.floating)))


def split_axes(axes: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the method's settings, the other axes) among `axes` (the method itself in neither)."""
    settings = [a for a in axes if a != METHOD and a.startswith(SETTING_PREFIXES)]
    return settings, [a for a in axes if a != METHOD and a not in settings]


def _label(method: str, names: Sequence[str], values: Sequence[Any], digits: dict[str, int]) -> str:
    shown = ", ".join(f"{setting_name(n)}={value_text(v, digits[n])}" for n, v in zip(names, values))
    return f"{method} ({shown})" if shown else method


def _shown_settings(df: pd.DataFrame, settings: Sequence[str]) -> dict[str, list[str]]:
    """Per method, the settings that take two or more values within one of its groups."""
    shown: dict[str, list[str]] = {}
    for (method, _), runs in df.groupby(["method", "group"], sort=False):
        varying = {s for s in settings if runs[s].map(lambda v: value_text(v, MAX_DIGITS)).nunique() >= 2}
        shown[method] = [s for s in settings if s in varying or s in shown.get(method, [])]
    return shown


def label_runs(df: pd.DataFrame, axes: Sequence[str]) -> pd.DataFrame:
    """`df` with its cell's columns: method, row (method and settings), group (other axes), cell."""
    settings, others = split_axes(axes)
    digits = {a: axis_digits(df[a]) for a in axes}
    df = df.assign(
        method=df[METHOD].map(value_text) if METHOD in df else "all runs",
        group=[
            ", ".join(f"{axis_name(a)}={value_text(v, digits[a])}" for a, v in zip(others, values))
            for values in df[others].itertuples(index=False)
        ],
    )
    shown = _shown_settings(df, settings)
    df["row"] = [
        _label(r["method"], shown[r["method"]], [r[s] for s in shown[r["method"]]], digits) for _, r in df.iterrows()
    ]
    df["cell"] = [f"{r}, {g}" if g else r for r, g in zip(df["row"], df["group"])]
    df["n_trained"] = df["trained"].map(lambda t: len(t.split(",")) if t else 0)
    return df


def cell_order(df: pd.DataFrame) -> list[str]:
    """Cells by group, then rows that train more tasks first, then method and settings."""
    cells = df.drop_duplicates("cell")
    cells = cells.sort_values(["group", "n_trained", "method", "row"], ascending=[True, False, True, True])
    return list(cells["cell"])


def per_seed(df: pd.DataFrame, others: Sequence[str]) -> pd.DataFrame:
    """One row per (cell, seed): the mean of each metric over that seed's runs, and how many there were."""
    keep = ["row", "group", "method", "active", "trained", "n_trained", *others]
    metrics = [m for m in SEED_METRICS if m in df]
    agg = {**{k: "first" for k in keep}, **{m: "mean" for m in metrics}, "path": "count"}
    out = df.groupby(["cell", "seed"], sort=False, dropna=False).agg(agg).reset_index().rename(columns={"path": "runs"})
    order = {c: i for i, c in enumerate(cell_order(df))}
    out["_order"] = out["cell"].map(order)
    return out.sort_values(["_order", "seed"]).drop(columns="_order").reset_index(drop=True)
