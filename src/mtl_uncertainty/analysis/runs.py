"""Finding and reading the runs of one or more sweeps: only their result.json files.

A run that cannot be used (no result.json, malformed JSON, a failed or diverged status, missing
metrics) is kept as an `Excluded` entry with the reason, never dropped silently.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

RESULT_FILE = "result.json"  # as mtl_uncertainty.result writes it; not imported, to keep torch out
METRICS = ("acc_cls3", "acc_cls10", "loss_cls3", "loss_cls10", "loss_recon")


@dataclass(frozen=True)
class Run:
    path: Path
    result: dict[str, Any]


@dataclass(frozen=True)
class Excluded:
    path: Path
    status: str  # missing | malformed | failed | diverged | incomplete | <other status>
    reason: str


def job_dirs(sweep: Path) -> list[Path]:
    """Folders under `sweep` (itself included) that Hydra made for a job or that hold a result."""
    found = {p.parent for p in sweep.rglob(RESULT_FILE)}
    found |= {p.parent for p in sweep.rglob(".hydra") if p.is_dir()}
    return sorted(found)


def _exclusion(path: Path, result: dict[str, Any]) -> Excluded | None:
    status = result.get("status")
    if status == "diverged":
        d = result.get("divergence") or {}
        return Excluded(path, "diverged", f"diverged at step {d.get('step')} (losses {d.get('losses')})")
    if status == "failed":
        e = result.get("error") or {}
        return Excluded(path, "failed", f"failed: {e.get('type')}: {str(e.get('message', '')).strip()[:200]}")
    if status != "completed":
        return Excluded(path, str(status), f"status {status!r} is not 'completed'")
    final = result.get("final") or {}
    test = final.get("test") or {}
    missing = [m for m in ("acc_cls3", "acc_cls10") if type(test.get(m)) not in (int, float)]
    if missing or not isinstance(result.get("config"), dict):
        return Excluded(path, "incomplete", "result.json lacks its config or final test metrics")
    return None


def load_runs(sweeps: Iterable[Path]) -> tuple[list[Run], list[Excluded]]:
    """Every usable run under `sweeps`, and every job that is not usable with the reason."""
    runs, excluded = [], []
    for sweep in sweeps:
        for path in job_dirs(Path(sweep)):
            file = path / RESULT_FILE
            if not file.exists():
                excluded.append(Excluded(path, "missing", "no result.json (never finished, or still running)"))
                continue
            try:
                result = json.loads(file.read_text())
            except (OSError, ValueError) as e:
                excluded.append(Excluded(path, "malformed", f"result.json is not valid JSON ({e})"))
                continue
            if not isinstance(result, dict):
                excluded.append(Excluded(path, "malformed", "result.json does not hold an object"))
            elif (why := _exclusion(path, result)) is not None:
                excluded.append(why)
            else:
                runs.append(Run(path, result))
    return runs, excluded


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def runs_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run: its folder, seed, flattened config, final metrics and timings."""
    rows = []
    for run in runs:
        r = run.result
        last = (r.get("history") or [{}])[-1].get("train", {})
        row: dict[str, Any] = {"path": str(run.path), "seed": r.get("seed"), "status": r.get("status")}
        row.update({f"config.{k}": v for k, v in _flatten(r["config"]).items()})
        for split in ("test", "train"):
            for m in METRICS:
                row[f"{split}.{m}"] = (r["final"].get(split) or {}).get(m)
        for m in ("acc_cls3", "acc_cls10"):
            row[f"train_running.{m}"] = last.get(m)
        row.update({f"timings.{k}": v for k, v in (r.get("timings") or {}).items()})
        row["device"], row["gpu"] = r.get("device"), r.get("gpu")
        rows.append(row)
    return pd.DataFrame(rows)
