"""The main table: one row per cell, each metric over seeds, Δm% against the single-task runs, mean rank."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from .cells import axis_name, value_text
from .delta import CellBaseline, delta_m, ranks
from .floors import GroupFloors, learned_counts
from .stats import estimate

METRICS = {
    "test.acc_cls3": ("3-class accuracy", +1),
    "test.acc_cls10": ("10-class accuracy", +1),
    "test.loss_recon": ("reconstruction MSE", -1),
}
"""Metrics of the main tables: column → (name, +1 if higher is better else −1)."""

CSV_DECIMALS = {"acc": 4, "loss": 5, "objective": 5, "delta_m": 3, "rank": 3}
"""Decimals kept in the CSV files, by what a column's name holds: accuracies to 1e-4 (one image in 10,000
on the MNIST test split), MSE and the validation objective (which includes the MSE) to 1e-5, Δm% (a
percentage) and mean ranks to 1e-3. Results are stored as float32, whose ~7 digits beyond these are noise."""
P_DIGITS = 3
"""Significant digits of p-values (columns `p`, `p_*`) in the CSV files."""


def _csv_round(column: str, values: pd.Series) -> pd.Series:
    if column == "p" or column.startswith("p_"):
        return values.map(lambda p: float(f"{p:.{P_DIGITS}g}"))
    decimals = next((d for key, d in CSV_DECIMALS.items() if key in column), None)
    return values if decimals is None else values.round(decimals)


def csv_precision(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with its float columns rounded to the precision measured (CSV_DECIMALS, P_DIGITS), for writing."""
    return df.assign(**{c: _csv_round(c, df[c]) for c in df.columns if pd.api.types.is_float_dtype(df[c])})


def _estimates(prefix: str, values: pd.Series) -> dict[str, Any]:
    e = estimate(values)
    return {
        f"{prefix}.mean": e.mean,
        f"{prefix}.std": e.std,
        f"{prefix}.ci_lo": e.lo,
        f"{prefix}.ci_hi": e.hi,
        f"{prefix}.n": e.n,
    }


def _cell_row(
    cell: str, rows: pd.DataFrame, others: Sequence[str], floors: Mapping[str, GroupFloors] | None
) -> dict[str, Any]:
    first = rows.iloc[0]
    out: dict[str, Any] = {"cell": cell, "row": first["row"], "group": first["group"], "method": first["method"]}
    out.update({axis_name(a): value_text(first[a]) for a in others})
    out.update({"active": first["active"], "trained": first["trained"], "n_trained": first["n_trained"]})
    for metric in METRICS:
        out.update(_estimates(metric, rows[metric] if metric in rows else pd.Series(dtype=float)))
    out.update(_estimates("delta_m", rows["delta_m"]))
    out.update({"seeds": len(rows), "runs": int(rows["runs"].sum())})
    out["val.objective.mean"] = rows["val.objective"].mean() if "val.objective" in rows else float("nan")
    if floors is not None:
        found = floors.get(first["group"])
        out.update(learned_counts(rows, found))
        out["floors.missing"] = found.missing if found is not None else "no runs of this group were read"
    return out


def summary_table(
    seeds: pd.DataFrame, others: Sequence[str], floors: Mapping[str, GroupFloors] | None = None
) -> tuple[pd.DataFrame, dict[str, CellBaseline]]:
    """One row per cell (in the per-seed table's order), and how each cell's Δm% baselines were found.

    With `floors` (per group, `floors.group_floors`), each row also counts the seeds that learned each
    task (`learned.<task>` of `learned.<task>.n`; NaN where the group has no floors) and holds the floors."""
    dm, how = delta_m(seeds, others)
    shown = seeds.assign(delta_m=dm)
    if "baseline_only" in shown:  # the single-task runs, shown through their composite row
        shown = shown[~shown["baseline_only"]]
    rows = [_cell_row(cell, group, others, floors) for cell, group in shown.groupby("cell", sort=False)]
    summary = pd.DataFrame(rows).merge(ranks(shown), on="cell", how="left")
    return summary, {cell: h for cell, h in how.items() if cell in set(shown["cell"])}
