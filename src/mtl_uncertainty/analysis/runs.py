"""Finding and reading the runs of one or more sweeps: only their result.json files.

Each file is read by the suite's one reader of untrusted files (no links followed, regular files
only, size-capped) and checked with the same schema check the runner uses before it trusts a
result (`storage.result_schema`: every metric there, finite and possible). A run that cannot be
used (no result.json, unreadable, a failed or diverged status, missing or impossible metrics, a
copy of a run already counted) is kept as an `Excluded` entry with the reason, never dropped
silently. Schema-1 files are read in the layout of schema 2 (see `upgrade`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..objective import objective
from ..storage import result_schema
from ..storage.reading import UnreadableFile, read_json
from ..storage.result_schema import RESULT_FILE
from .upgrade import upgrade

METRICS = ("acc_cls3", "acc_cls10", "loss_cls3", "loss_cls10", "loss_recon")
SPLITS = ("test", "val", "train")


@dataclass(frozen=True)
class Run:
    path: Path
    result: dict[str, Any]


@dataclass(frozen=True)
class Excluded:
    path: Path
    status: str  # missing | malformed | failed | diverged | incomplete | copy | <other status>
    reason: str


def job_dirs(sweep: Path) -> list[Path]:
    """Folders under `sweep` (itself included) that Hydra made for a job or that hold a result."""
    found = {p.parent for p in sweep.rglob(RESULT_FILE)}
    found |= {p.parent for p in sweep.rglob(".hydra") if p.is_dir()}
    return sorted(found)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


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
    if problems := _problems(result):
        return Excluded(path, "incomplete", "not a whole result: " + "; ".join(problems))
    return None


def _problems(result: dict[str, Any]) -> list[str]:
    """What the runner's schema check finds wrong with a completed result (any version, once upgraded)."""
    if not isinstance(result.get("config"), dict) or not isinstance(result.get("tasks"), dict):
        return ["it lacks its config or its tasks"]
    shape = result_schema.expected_shape(result["config"], result["tasks"].get("active") or [])
    if result.get("schema") != 1:  # schema 1 predates the data identity; its layout is upgraded, not its content
        return result_schema.problems(result, **shape)
    return result_schema.shape_problems(result, **shape)


def read_run(path: Path) -> Run | Excluded:
    """The usable run in job folder `path`, or why it is not usable."""
    file = path / RESULT_FILE
    try:
        result = read_json(file)
    except FileNotFoundError:
        return Excluded(path, "missing", "no result.json (never finished, or still running)")
    except UnreadableFile as e:
        return Excluded(path, "malformed", f"result.json is unreadable: {e}")
    if not isinstance(result, dict):
        return Excluded(path, "malformed", "result.json does not hold an object")
    wrong = result_schema.type_problems(result)  # before any field is used, in either layout
    if not wrong:
        result = upgrade(result)
        wrong = result_schema.type_problems(result)
    if wrong:
        return Excluded(path, "malformed", "result.json has fields of the wrong type: " + "; ".join(wrong))
    return _exclusion(path, result) or Run(path, result)


def load_runs(sweeps: Iterable[Path]) -> tuple[list[Run], list[Excluded]]:
    """Every usable run under `sweeps`, and every job that is not usable with the reason."""
    runs, excluded = [], []
    for sweep in sweeps:
        for path in job_dirs(Path(sweep)):
            found = read_run(path)
            (runs if isinstance(found, Run) else excluded).append(found)
    return runs, excluded


DATA_AXIS = "config.data.files"
"""The files a run computed from, as a report axis: runs on different files are never averaged together."""


CODE_AXIS = "code.numbers_version"
"""The version of the code that computed a run's numbers, as a report axis: runs of different versions are never
averaged together (a result that records none is version 1, `code_version.UNVERSIONED`)."""


def commit_label(git: Any) -> str | None:
    """The run's commit, short (`3152573`, `3152573+dirty` where its tree had changes), or None outside git."""
    if not isinstance(git, dict) or not isinstance(git.get("commit"), str):
        return None
    return git["commit"][:7] + ("+dirty" if git.get("dirty") else "")


def _resumed_across_sources(code: Any) -> bool:
    """Whether the run's training segments were computed by different source (`resume.other_source=continue`)."""
    segments = code.get("source_by_segment") if isinstance(code, dict) else None
    return isinstance(segments, list) and len(set(segments)) > 1


def data_label(data: dict[str, Any]) -> str:
    """`verified` (the dataset's known content), `unverified <hash>` (other files), or `unknown` (schema 1)."""
    if data.get("verified") is True:
        return "verified"
    return f"unverified {str(data['hash'])[:8]}" if data.get("hash") else "unknown"


def _flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for k, v in node.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out
    return {prefix[:-1]: node}


def _metric(value: Any) -> float:
    return float(value) if _number(value) else math.nan


def _task_list(result: dict[str, Any], which: str) -> list[str]:
    tasks = result.get("tasks") if isinstance(result.get("tasks"), dict) else {}
    return list(tasks.get(which) or [])


def _row(run: Run) -> dict[str, Any]:
    r = run.result
    final = r["final"]
    active = _task_list(r, "active")
    row: dict[str, Any] = {"path": str(run.path), "seed": r.get("seed"), "status": r.get("status")}
    row.update({f"config.{k}": v for k, v in _flatten(r["config"]).items()})
    for key, before in result_schema.ADDED_CONFIG_KEYS.items():  # runs made before the key existed
        row.setdefault(f"config.{key}", before)
    data = r.get("data") if isinstance(r.get("data"), dict) else {}
    row[DATA_AXIS] = data_label(data)
    row["data.verified"] = data.get("verified") is True
    row["data.hash"] = data.get("hash") if isinstance(data.get("hash"), str) else None
    row[CODE_AXIS] = result_schema.numbers_version(r)
    row["code.commit"] = commit_label(r.get("git"))
    row["code.mixed_source"] = _resumed_across_sources(r.get("code"))
    for split in SPLITS:
        row.update({f"{split}.{m}": _metric((final.get(split) or {}).get(m)) for m in METRICS})
    row["val.objective"] = objective(final["val"], active) if isinstance(final.get("val"), dict) else math.nan
    last = (r.get("history") or [{}])[-1].get("train") or {}
    row.update({f"train_running.{m}": _metric(last.get(m)) for m in ("acc_cls3", "acc_cls10")})
    row["active"], row["trained"] = ",".join(active), ",".join(_task_list(r, "trained"))
    row.update({f"timings.{k}": v for k, v in (r.get("timings") or {}).items()})
    cpu = r.get("cpu")
    row.update(device=r.get("device"), gpu=r.get("gpu"), cpu=cpu.get("model") if isinstance(cpu, dict) else cpu)
    return row


def runs_table(runs: Sequence[Run]) -> pd.DataFrame:
    """One row per run: its folder, seed, flattened config, final metrics, tasks and timings."""
    return pd.DataFrame([_row(run) for run in runs])
