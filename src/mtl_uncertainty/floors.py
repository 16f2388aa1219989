"""Write floors.json beside a sweep's runs: the floors of the data they trained and were tested on.

    python -m mtl_uncertainty.floors DIR [DIR ...] [--data-root PATH]

For every sweep folder under each DIR (a folder with a multirun.yaml; DIR itself if none is under
it), it reads the runs' result.json files to learn which data they used (dataset, `data.hash`,
`data.val_size`, the 3-class grouping, `data.root`), loads those files with the runs' own loading
and split code (never fetching anything), checks that their identity hash is the one the runs
recorded, and writes `<sweep>/floors.json` (`storage.floors_file`) whole or not at all. Every sweep
also ends by doing this for itself (`ops.callbacks.SweepReport`), before its report.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from .data.floors import data_floors
from .data.splits import load_data
from .storage.atomic import write_atomic
from .storage.floors_file import FLOORS_FILE, FLOORS_SCHEMA, floor_key
from .storage.reading import UnreadableFile, read_json
from .storage.result_schema import FINAL_STATUSES, RESULT_FILE

SWEEP_RECORD = "multirun.yaml"
ABOUT = (
    "Floors of each dataset and split, fitted on the training split (the training set minus the validation "
    "split) and measured on each split as the runs' metrics are: the reconstruction MSE of predicting the mean "
    "training image and of predicting the best constant (the mean training pixel), on pixels in [-1, 1], and "
    "the accuracy of always predicting the training split's most frequent class. Written by "
    "mtl_uncertainty.floors from the data files, never typed."
)


@dataclass
class Recorded:
    """The data of the runs with one key, as their result.json files record it."""

    dataset: str
    data_hash: str
    val_size: int
    coarse_labels: list[int]
    verify: bool
    roots: list[str] = field(default_factory=list)
    runs: int = 0


def sweep_folders(root: Path) -> list[Path]:
    """The sweeps under `root` (folders holding a multirun.yaml, `root` included), or `root` itself if none."""
    found = sorted({p.parent for p in root.rglob(SWEEP_RECORD) if p.is_file()})
    return found or [root]


def _recorded_run(result: Any) -> tuple[tuple, dict[str, Any]] | None:
    """(key, what loading its data needs) of a finished run's result, or None where it does not say."""
    if not isinstance(result, dict) or result.get("status") not in FINAL_STATUSES:
        return None
    config, data = result.get("config"), result.get("data")
    if not isinstance(config, dict) or not isinstance(data, dict) or not isinstance(data.get("hash"), str):
        return None
    try:
        dataset, cfg_data = config["dataset"], config["data"]
        needs = {
            "dataset": str(dataset["name"]),
            "data_hash": data["hash"],
            "val_size": int(cfg_data["val_size"]),
            "coarse_labels": [int(c) for c in dataset["coarse_labels"]],
            "verify": bool(cfg_data["verify"]),
            "root": str(cfg_data["root"]),
        }
    except (KeyError, TypeError, ValueError):
        return None
    return floor_key(needs["dataset"], needs["data_hash"], needs["val_size"], needs["coarse_labels"]), needs


def recorded_data(sweep: Path, jobs: Sequence[Path] | None = None) -> dict[tuple, Recorded]:
    """The data every finished run under `sweep` (or in the job folders `jobs`) used, by floor key; unreadable or
    unfinished runs are skipped."""
    found: dict[tuple, Recorded] = {}
    paths = sorted(sweep.rglob(RESULT_FILE)) if jobs is None else [Path(job) / RESULT_FILE for job in jobs]
    for path in paths:
        try:
            run = _recorded_run(read_json(path))
        except (OSError, UnreadableFile):
            continue
        if run is None:
            continue
        key, needs = run
        root = needs.pop("root")
        entry = found.setdefault(key, Recorded(**needs))
        entry.runs += 1
        if root not in entry.roots:
            entry.roots.append(root)
    return found


def _config(recorded: Recorded, root: str):
    return OmegaConf.create(
        {
            "dataset": {"name": recorded.dataset, "coarse_labels": recorded.coarse_labels},
            "data": {"root": root, "download": False, "verify": recorded.verify, "val_size": recorded.val_size},
        }
    )


def _same_folder(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def compute(
    recorded: Recorded, data_root: str | None = None, roots: Sequence[str] | None = None
) -> dict[str, Any] | str:
    """The floors.json entry of the runs' data, or why it cannot be computed (files missing or not theirs).

    The data are loaded from `data_root`, else from each data.root the runs recorded (only those among `roots`,
    where given: the folders the sweep was told to use).
    """
    candidates = [data_root] if data_root else recorded.roots
    if roots is not None and not data_root:
        candidates = [r for r in candidates if any(_same_folder(r, allowed) for allowed in roots)]
    reasons = [] if candidates else [f"the runs' data.root ({', '.join(recorded.roots)}) is not the sweep's"]
    for root in candidates:
        try:
            data = load_data(_config(recorded, root), torch.device("cpu"))
        except Exception as e:  # missing, unreadable or wrong files: said, never a crash
            reasons.append(f"under {root}: {type(e).__name__}: {str(e).strip()[:300]}")
            continue
        if data.identity["hash"] != recorded.data_hash:
            reasons.append(
                f"the files under {root} are not the runs' (their data.hash is {data.identity['hash']}, "
                f"the runs recorded {recorded.data_hash})"
            )
            continue
        return data_floors(data)
    what = f"{recorded.dataset} (data.hash {recorded.data_hash}, val_size {recorded.val_size})"
    return f"no floors for {what}: " + "; ".join(reasons)


def floors_json(entries: Sequence[dict[str, Any]]) -> bytes:
    return (json.dumps({"schema": FLOORS_SCHEMA, "about": ABOUT, "floors": list(entries)}, indent=2) + "\n").encode()


def write_floors(
    sweep: Path,
    data_root: str | None = None,
    jobs: Sequence[Path] | None = None,
    roots: Sequence[str] | None = None,
) -> tuple[Path | None, list[str]]:
    """Write `<sweep>/floors.json` for the data of the runs under it; (its path or None, what could not be done).

    `jobs`: only the runs in these job folders (a sweep's own); `roots`: load data only from these folders.
    Nothing is written where no finished run says which data it used (None and no problems).
    """
    recorded = recorded_data(sweep, jobs)
    if not recorded:
        return None, []
    entries, problems = [], []
    for key in sorted(recorded):
        entry = compute(recorded[key], data_root, roots)
        (problems if isinstance(entry, str) else entries).append(entry)
    if not entries:
        return None, problems
    path = sweep / FLOORS_FILE
    write_atomic(path, floors_json(entries))
    return path, problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mtl_uncertainty.floors",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dirs", nargs="+", type=Path, metavar="DIR", help="sweep folders, or folders holding sweeps")
    parser.add_argument("--data-root", help="where the data lies, instead of the data.root the runs recorded")
    args = parser.parse_args(argv)
    failed = False
    for folder in args.dirs:
        if not folder.is_dir():
            print(f"{folder}: not a folder", file=sys.stderr)
            failed = True
            continue
        for sweep in sweep_folders(folder):
            path, problems = write_floors(sweep, args.data_root)
            if path is None and not problems:
                problems = [f"{sweep}: no finished run with a result.json, so no data to compute floors of"]
            if path is not None:
                print(f"wrote {path}")
            for problem in problems:
                print(problem, file=sys.stderr)
            failed |= bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
