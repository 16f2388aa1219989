"""floors.json: what a network must beat to have learned anything, per dataset and split (no torch here).

The suite writes one into each sweep folder (`mtl_uncertainty.floors`); the report reads it with
`read_floors`. Each entry is keyed by what determines its numbers: the dataset, the identity hash
of its files (result.json `data.hash`), the validation split's size and the 3-class grouping. Every
number is fitted on the training split (the training set minus the validation split) and measured
on each split, as a run's metrics are:

- `loss_recon_mean_image`: the reconstruction MSE of predicting the mean training image;
- `loss_recon_constant`: the MSE of predicting one constant, the best one (the mean training pixel);
- `acc_cls3_majority`, `acc_cls10_majority`: the accuracy of always predicting the training split's
  most frequent class.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .reading import UnreadableFile, read_json

FLOORS_FILE = "floors.json"
FLOORS_SCHEMA = 1
MAX_FLOORS_BYTES = 2**20
"""A floors.json holds a few numbers per dataset; anything larger is not one the suite wrote."""
SPLIT_FIELDS = {
    "images": int,
    "loss_recon_mean_image": float,
    "loss_recon_constant": float,
    "acc_cls3_majority": float,
    "acc_cls10_majority": float,
}
"""The numbers of each split, by name and kind."""
SPLITS = ("train", "val", "test")


def floor_key(dataset: str, data_hash: str, val_size: int, coarse_labels: list[int]) -> tuple:
    """What an entry's numbers depend on: runs with an equal key have equal floors."""
    return (str(dataset), str(data_hash), int(val_size), tuple(int(c) for c in coarse_labels))


def entry_key(entry: dict[str, Any]) -> tuple:
    return floor_key(entry["dataset"], entry["data_hash"], entry["val_size"], entry["coarse_labels"])


def _is(value: Any, kind: type) -> bool:
    if isinstance(value, bool):
        return False
    if kind is int:
        return isinstance(value, int)
    return isinstance(value, (int, float)) and math.isfinite(value)


def _split_problems(where: str, split: Any) -> list[str]:
    if not isinstance(split, dict):
        return [f"{where} is not an object"]
    out = [f"{where}.{name} is not a number" for name, kind in SPLIT_FIELDS.items() if not _is(split.get(name), kind)]
    if out:
        return out
    if split["images"] < 1 or any(split[n] < 0 for n in SPLIT_FIELDS):
        out.append(f"{where} holds an impossible value")
    if not all(0 <= split[n] <= 1 for n in ("acc_cls3_majority", "acc_cls10_majority")):
        out.append(f"{where} holds an accuracy outside [0, 1]")
    return out


def _entry_problems(i: int, entry: Any) -> list[str]:
    where = f"floors[{i}]"
    if not isinstance(entry, dict):
        return [f"{where} is not an object"]
    out = []
    if not isinstance(entry.get("dataset"), str) or not isinstance(entry.get("data_hash"), str):
        out.append(f"{where} lacks its dataset or data_hash")
    if not _is(entry.get("val_size"), int) or entry["val_size"] < 0:
        out.append(f"{where}.val_size is not a count")
    coarse = entry.get("coarse_labels")
    if not isinstance(coarse, list) or not all(_is(c, int) for c in coarse):
        out.append(f"{where}.coarse_labels is not a list of classes")
    splits = entry.get("splits")
    if not isinstance(splits, dict):
        return [*out, f"{where}.splits is not an object"]
    wanted = ["train", *(["val"] if entry.get("val_size") else []), "test"]
    if sorted(splits) != sorted(wanted):
        out.append(f"{where}.splits holds {sorted(splits)}, not {wanted}")
    for name in wanted:
        out += _split_problems(f"{where}.splits.{name}", splits.get(name))
    return out


def problems(floors: Any) -> list[str]:
    """What keeps `floors` from being a floors.json the suite writes (empty: it is one)."""
    if not isinstance(floors, dict):
        return [f"it holds a {type(floors).__name__}, not an object"]
    if floors.get("schema") != FLOORS_SCHEMA:
        return [f"its schema is {floors.get('schema')!r}, not {FLOORS_SCHEMA}"]
    entries = floors.get("floors")
    if not isinstance(entries, list):
        return ["it lacks its list of floors"]
    out = [p for i, e in enumerate(entries) for p in _entry_problems(i, e)]
    keys = [entry_key(e) for e in entries] if not out else []
    if len(set(keys)) != len(keys):
        out.append("it holds two entries for the same data")
    return out


def read_floors(path: Path) -> list[dict[str, Any]]:
    """The entries of the floors.json at `path`, read as every untrusted file is (`reading`) and checked.

    FileNotFoundError if there is none; UnreadableFile (with the reason) if it is not one the suite writes.
    """
    floors = read_json(path, MAX_FLOORS_BYTES)
    if found := problems(floors):
        raise UnreadableFile("it is not a floors file the suite writes: " + "; ".join(found[:3]))
    return floors["floors"]
