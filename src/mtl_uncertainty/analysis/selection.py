"""Selection on the validation split: per method and group, the cell with the best validation objective.

The objective is `mtl_uncertainty.objective.objective` (what tuning maximises) of each run's final
validation metrics, averaged over the run's seed repeats and then over seeds. The selected cell
is reported on the test split, which played no part in choosing it.
"""

from __future__ import annotations

import math

import pandas as pd

OBJECTIVE = "val.objective.mean"


def best_cell(candidates: pd.DataFrame) -> str | None:
    """The cell with the highest mean validation objective (the first on a tie); None if none has one."""
    known = candidates[candidates[OBJECTIVE].notna()]
    if known.empty:
        return None
    return str(known.loc[known[OBJECTIVE].idxmax(), "cell"])


def family(row: pd.Series) -> str:
    """A method and the tasks it trains (cells of one family differ only in settings worth tuning)."""
    trains_fewer = row["trained"] != row["active"]
    return f"{row['method']} (trains {row['trained']})" if trains_fewer else str(row["method"])


def select_on_validation(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary rows of the cells selected on validation, with what they were chosen from.

    Only where a family (method, trained tasks) has two or more cells with validation metrics in a group.
    """
    keyed = summary.assign(family=[family(r) for _, r in summary.iterrows()])
    rows = []
    for _, candidates in keyed.groupby(["group", "family"], sort=False):
        known = candidates[candidates[OBJECTIVE].notna()]
        if len(known) < 2:
            continue
        chosen = keyed[keyed["cell"] == best_cell(known)].iloc[0].to_dict()
        chosen.update(candidates=len(known), runner_up_gap=_gap(known))
        rows.append(chosen)
    return pd.DataFrame(rows)


def _gap(known: pd.DataFrame) -> float:
    """How far the best validation objective is above the second best."""
    top = known[OBJECTIVE].nlargest(2).to_numpy()
    return float(top[0] - top[1]) if len(top) == 2 else math.nan
