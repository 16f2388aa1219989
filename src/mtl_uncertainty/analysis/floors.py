"""The floors beside the runs (floors.json), matched to each group of the report, and who beat them.

A run **learned** a task if its final test metric beats that task's floor on the test split: a
reconstruction MSE below that of predicting the mean training image, an accuracy above that of
always predicting the training split's most frequent class. The floors come from the floors.json
that the suite writes into each sweep folder (`mtl_uncertainty.floors`), read as every untrusted
file is and checked (`storage.floors_file`); an entry is used only for runs whose dataset, data
hash, validation split and 3-class grouping are its own. Where none matches, the report says so
and how to compute them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..storage.floors_file import FLOORS_FILE, entry_key, floor_key, read_floors
from ..storage.reading import UnreadableFile

COMMAND = "python -m mtl_uncertainty.floors"
SWEEP_RECORD = "multirun.yaml"
FLOOR_OF = {
    "test.acc_cls3": "acc_cls3_majority",
    "test.acc_cls10": "acc_cls10_majority",
    "test.loss_recon": "loss_recon_mean_image",
}
"""Each main-table metric → the floor it must beat to count as learned (on the test split)."""
TASK_OF = {"test.acc_cls3": "cls3", "test.acc_cls10": "cls10", "test.loss_recon": "recon"}


@dataclass
class Floors:
    """The floors.json entries found beside the runs, by key, and the files that could not be used."""

    entries: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    unusable: list[str] = field(default_factory=list)


def _candidates(folder: Path) -> list[Path]:
    """Where a sweep's floors.json may lie: the folder itself, every sweep folder under it, and every folder
    under it that holds one (a search's folder has no multirun.yaml: Optuna's sweeper writes none)."""
    return sorted(
        {folder, *(p.parent for p in folder.rglob(SWEEP_RECORD)), *(p.parent for p in folder.rglob(FLOORS_FILE))}
    )


def load_floors(folders: Iterable[Path]) -> Floors:
    """Every floors.json of the sweeps the report reads; two files that disagree on one key leave it out."""
    found = Floors()
    clashes: set[tuple] = set()
    for folder in folders:
        for place in _candidates(Path(folder)):
            path = place / FLOORS_FILE
            try:
                entries = read_floors(path)
            except FileNotFoundError:
                continue
            except UnreadableFile as e:
                found.unusable.append(f"`{path}`: {e}")
                continue
            for entry in entries:
                key = entry_key(entry)
                if key in found.entries and found.entries[key]["splits"] != entry["splits"]:
                    clashes.add(key)
                found.entries.setdefault(key, entry)
    for key in clashes:
        found.entries.pop(key)
        found.unusable.append(f"two floors.json files disagree on the floors of {key[0]} (data.hash {key[1]})")
    return found


def run_key(row: pd.Series | dict[str, Any]) -> tuple | None:
    """The floor key of one run of the runs table, or None where its result does not record its data."""
    dataset, data_hash = row.get("config.dataset.name"), row.get("data.hash")
    coarse = row.get("config.dataset.coarse_labels")
    val_size = row.get("config.data.val_size")
    if not isinstance(dataset, str) or not isinstance(data_hash, str) or not isinstance(coarse, list):
        return None
    val_size = 0 if val_size is None or (isinstance(val_size, float) and math.isnan(val_size)) else val_size
    return floor_key(dataset, data_hash, int(val_size), coarse)


@dataclass(frozen=True)
class GroupFloors:
    """The test-split floors of one group's runs, or why there are none (`missing`)."""

    entry: dict[str, Any] | None
    missing: str = ""

    def floor(self, metric: str) -> float:
        return math.nan if self.entry is None else float(self.entry["splits"]["test"][FLOOR_OF[metric]])


def group_floors(table: pd.DataFrame, floors: Floors) -> dict[str, GroupFloors]:
    """Per group of the runs table: the floors entry all its runs share, or why none applies."""
    out = {}
    for group, runs in table.groupby("group", sort=False):
        keys = {run_key(r) for _, r in runs.iterrows()}
        if None in keys:
            out[group] = GroupFloors(None, "their result.json files do not all record their data")
        elif len(keys) > 1:
            out[group] = GroupFloors(None, "its runs used different data")
        elif (key := keys.pop()) in floors.entries:
            out[group] = GroupFloors(floors.entries[key])
        else:
            dataset, data_hash, val_size, _ = key
            what = f"{dataset}, data.hash {data_hash}, val_size {val_size}"
            unusable = f" (left out: {'; '.join(floors.unusable)})" if floors.unusable else ""
            out[group] = GroupFloors(
                None, f"no floors.json beside these runs holds the floors of their data ({what}){unusable}"
            )
    return out


def learned(metric: str, value: float, floor: float) -> bool:
    """Whether a final test value beats its floor (lower for the MSE, higher for an accuracy)."""
    return value < floor if metric == "test.loss_recon" else value > floor


def learned_counts(rows: pd.DataFrame, floors: GroupFloors | None) -> dict[str, float]:
    """Of one cell's per-seed rows: per task, how many beat the floor and of how many that train it (NaN: no floors)."""
    out: dict[str, float] = {}
    for metric, task in TASK_OF.items():
        trains = rows["trained"].map(lambda t, task=task: task in str(t).split(","))
        values = rows.loc[trains, metric].dropna() if metric in rows else pd.Series(dtype=float)
        out[f"learned.{task}.n"] = len(values)
        floor = floors.floor(metric) if floors is not None else math.nan
        out[f"learned.{task}"] = math.nan if math.isnan(floor) else int(sum(learned(metric, v, floor) for v in values))
        out[f"floor.{metric}"] = floor
    constant = (
        math.nan if floors is None or floors.entry is None else floors.entry["splits"]["test"]["loss_recon_constant"]
    )
    out["floor.constant.test.loss_recon"] = float(constant)
    return out
