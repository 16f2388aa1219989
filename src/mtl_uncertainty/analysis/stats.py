"""The statistics of the report: config axes, per-cell estimates, paired comparisons.

Every interval is a two-sided 95% Student-t interval over seeds; the paired comparison of
learnable minus fixed weighting matches runs on the seed and on every other axis, and tests the
differences with a paired t-test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

NOT_AXES = {
    "config.seed",
    "config.device",
    "config.data.root",
    "config.data.verify",
    "config.data.download",
    "config.record.trajectory_every",
    "config.train.eval_batch_size",
}
"""Config keys that never define a cell: the seed is what cells are averaged over; the rest do not
change what is computed."""

AXIS_ORDER = ("config.weighting.name", "config.recon", "config.sigma_init.name")
WEIGHTING = "config.weighting.name"

METRICS = {
    "test.acc_cls3": ("3-class accuracy", +1),
    "test.acc_cls10": ("10-class accuracy", +1),
    "test.loss_recon": ("reconstruction MSE", -1),
}
"""Metrics of the main tables: column → (name, +1 if higher is better else −1)."""

SOURCE_TABLE = {  # ../shared/reference/README.md: (learnable, reconstruct) → (3-class, 10-class)
    (True, True): (0.96688, 0.89877),
    (False, True): (0.96745, 0.89035),
    (True, False): (0.97347, 0.88518),
    (False, False): (0.96508, 0.89003),
}
SOURCE_SETTINGS = {
    "config.train.epochs": 10,
    "config.train.batch_size": 256,
    "config.train.lr": 1e-4,
    "config.sigma_init.name": "uniform",
    "config.sigma_init.low": 0.2,
    "config.sigma_init.high": 1.0,
    "config.model.init": "keras",
}


@dataclass(frozen=True)
class Estimate:
    """Mean, sample standard deviation and 95% t-interval of the mean over `n` values."""

    mean: float
    std: float
    lo: float
    hi: float
    n: int


def estimate(values: Sequence[float] | pd.Series) -> Estimate:
    x = np.asarray(pd.Series(values, dtype=float).dropna(), dtype=float)
    n = len(x)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, math.nan, 0)
    mean = float(x.mean())
    if n == 1:
        return Estimate(mean, math.nan, math.nan, math.nan, 1)
    std = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.975, n - 1)) * std / math.sqrt(n)
    return Estimate(mean, std, mean - half, mean + half, n)


def find_axes(df: pd.DataFrame) -> list[str]:
    """Config columns that take at least two values across the runs, main axes first."""
    cols = [c for c in df.columns if c.startswith("config.") and c not in NOT_AXES]
    varying = [c for c in cols if df[c].dropna().astype(str).nunique() >= 2]
    return sorted(varying, key=lambda c: (AXIS_ORDER.index(c) if c in AXIS_ORDER else len(AXIS_ORDER), c))


def axis_name(col: str) -> str:
    name = col.removeprefix("config.")
    return name.removesuffix(".name") if name.count(".") == 1 and name.endswith(".name") else name


def value_text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return str(value)


def cells(df: pd.DataFrame, axes: Sequence[str]) -> list[tuple[str, pd.DataFrame]]:
    """(label, runs) for each combination of axis values, in a stable order."""
    if not axes:
        return [("all runs", df)]
    keyed = df.assign(**{f"_k{i}": df[a].map(value_text) for i, a in enumerate(axes)})
    keys = [f"_k{i}" for i in range(len(axes))]
    out = []
    for values, group in keyed.groupby(keys, sort=True):
        values = values if isinstance(values, tuple) else (values,)
        out.append((", ".join(f"{axis_name(a)}={v}" for a, v in zip(axes, values)), group.drop(columns=keys)))
    return out


def summary_table(df: pd.DataFrame, axes: Sequence[str]) -> pd.DataFrame:
    """One row per cell: the axis values, then mean, std, 95% CI and n of each main metric."""
    rows = []
    for label, group in cells(df, axes):
        row: dict[str, Any] = {"cell": label, **{axis_name(a): value_text(group[a].iloc[0]) for a in axes}}
        for metric in METRICS:
            e = estimate(group[metric]) if metric in group else estimate([])
            row.update({f"{metric}.mean": e.mean, f"{metric}.std": e.std, f"{metric}.ci_lo": e.lo})
            row.update({f"{metric}.ci_hi": e.hi, f"{metric}.n": e.n})
        rows.append(row)
    return pd.DataFrame(rows)


def _verdict(metric: str, e: Estimate, p: float) -> str:
    if e.n < 2:
        return "too few paired seeds to tell"
    if not (p < 0.05 and (e.lo > 0 or e.hi < 0)):
        return f"within noise (p = {p:.2g}; the 95% CI includes 0)"
    better = (e.mean > 0) == (METRICS[metric][1] > 0)
    return f"learnable {'better' if better else 'worse'} by {abs(e.mean):.4g} (p = {p:.2g})"


def paired_table(df: pd.DataFrame, axes: Sequence[str]) -> pd.DataFrame:
    """Learnable minus fixed weighting, matched on seed and every other axis, per metric."""
    if WEIGHTING not in axes or not {"fixed"} < set(df[WEIGHTING]):
        return pd.DataFrame()
    weighting_axes = [a for a in axes if a.startswith("config.weighting.")]
    others = [a for a in axes if a not in weighting_axes]
    rows = []
    for other_label, group in cells(df, others):
        fixed_runs, learn_runs = group[group[WEIGHTING] == "fixed"], group[group[WEIGHTING] != "fixed"]
        for learn_label, learn in cells(learn_runs, [a for a in weighting_axes if learn_runs[a].notna().any()]):
            for fixed_label, fixed in cells(fixed_runs, [a for a in weighting_axes if fixed_runs[a].notna().any()]):
                pairs = learn.merge(fixed, on="seed", suffixes=("_l", "_f"))
                for metric in METRICS:
                    if f"{metric}_l" not in pairs or pairs[f"{metric}_l"].isna().all():
                        continue
                    diff = (pairs[f"{metric}_l"] - pairs[f"{metric}_f"]).dropna()
                    e = estimate(diff)
                    p = (
                        float(stats.ttest_rel(pairs[f"{metric}_l"], pairs[f"{metric}_f"]).pvalue)
                        if e.n > 1
                        else math.nan
                    )
                    rows.append(
                        {
                            "cell": other_label,
                            "learnable": learn_label,
                            "fixed": fixed_label,
                            "metric": metric,
                            "n": e.n,
                            "diff": e.mean,
                            "ci_lo": e.lo,
                            "ci_hi": e.hi,
                            "p": p,
                            "verdict": _verdict(metric, e, p),
                        }
                    )
    return pd.DataFrame(rows)


def replication_table(df: pd.DataFrame) -> pd.DataFrame:
    """The source's four numbers beside ours, for runs with the source's settings."""
    like = df
    for col, value in SOURCE_SETTINGS.items():
        if col in like:
            like = like[like[col].isna() | (like[col] == value)]
    if "config.weighting.form" in like:
        like = like[like["config.weighting.form"].isna() | (like["config.weighting.form"] == "seed")]
    rows = []
    for (learnable, recon), (src3, src10) in SOURCE_TABLE.items():
        mine = like[(like[WEIGHTING] == ("learnable" if learnable else "fixed")) & (like["config.recon"] == recon)]
        row: dict[str, Any] = {"learnable": learnable, "reconstruct": recon, "source.acc_cls3": src3}
        row["source.acc_cls10"] = src10
        for m in ("acc_cls3", "acc_cls10"):
            test, running = estimate(mine.get(f"test.{m}", [])), estimate(mine.get(f"train_running.{m}", []))
            row.update({f"test.{m}": test.mean, f"test.{m}.ci_lo": test.lo, f"test.{m}.ci_hi": test.hi})
            row[f"train_running.{m}"] = running.mean
        row["n"] = len(mine)
        rows.append(row)
    return pd.DataFrame(rows)
