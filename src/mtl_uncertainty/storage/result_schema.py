"""result.json: its file name, version, and the check that one is whole (torch-free: the report uses it too).

Every field is documented in docs/outputs.md ("result.json"). A result is trusted as finished only if
`problems` finds nothing: a file with the right status and hash but missing metrics, history or
trajectory is set aside and the run is trained again.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..code_version import UNVERSIONED
from .json_shape import BOOL, INT, NUM, SCALAR, STR, list_of, map_of, obj, one_of, optional
from .json_shape import shape_problems as _shape_of

RESULT_FILE = "result.json"
SCHEMA_VERSION = 2
ADDED_CONFIG_KEYS: dict[str, Any] = {"model.output_bias": "zero", "speed.precision": "fp32"}
"""Config keys added after runs were made, each with the value every run made before it computed with.
A run's config hash leaves such a key out while it holds that value, so the runs made before the key
existed keep their identity (and are not trained again), and the report reads a run that lacks the key
as holding that value."""
FINAL_STATUSES = ("completed", "diverged")
"""Statuses of a run that is over: running it again would compute the same thing."""

TASKS = ("cls3", "cls10", "recon")
ACCURACIES = ("acc_cls3", "acc_cls10")
TASK_LOSSES = tuple(f"loss_{t}" for t in TASKS)
"""Per-task losses (cross-entropy, MSE) are never negative; the minimised total can be (learned s)."""


METRICS = map_of(optional(NUM))
"""A split's metrics: each a number, or null where it does not apply (no reconstruction)."""
_PER_TASK = map_of(optional(NUM))
_CONFIG_SECTION = map_of(one_of(SCALAR, map_of(SCALAR)))
CONFIG = obj(
    {
        "dataset": obj({"name": STR, "coarse_labels": list_of(INT), "coarse_names": list_of(STR)}, rest=SCALAR),
        "weighting": obj(  # a setting: a value, a value per task, or a value per task per seed (fixed_end)
            {"name": STR}, rest=one_of(SCALAR, map_of(SCALAR), map_of(map_of(SCALAR))), required=("name",)
        ),
        "sigma_init": obj({"name": STR}, rest=one_of(SCALAR, map_of(SCALAR)), required=("name",)),
        "recon": BOOL,
        "seed": INT,
        "device": STR,
        "train": obj(
            {"epochs": INT, "batch_size": INT, "lr": NUM, "adam_eps": NUM, "eval_batch_size": INT}, required=("epochs",)
        ),
        "model": obj({"init": STR}, rest=SCALAR),
        "data": obj({"root": STR, "download": BOOL, "verify": BOOL, "val_size": INT}, rest=SCALAR),
        "record": obj({"trajectory_every": INT}, rest=SCALAR),
        "report": obj({"baseline": optional(STR), "primary": optional(list_of(STR))}),
        "logger": map_of(one_of(SCALAR, optional(map_of(one_of(SCALAR, list_of(STR)))))),  # a tracker: its settings
    },
    rest=_CONFIG_SECTION,
    required=("dataset", "weighting", "recon", "seed", "train"),
)
"""The resolved config as result.json records it: the fields every part reads, typed; any other a plain value."""
EPOCH = obj(
    {
        "epoch": INT,
        "step": INT,
        "train": METRICS,
        "test": METRICS,
        "val": METRICS,
        "values": map_of(_PER_TASK),
        "seconds": map_of(optional(NUM)),
    }
)
TRAJECTORY = obj(
    {
        "every": INT,
        "tasks": list_of(STR),
        "step": list_of(INT),
        "loss": map_of(list_of(optional(NUM))),
        "values": map_of(map_of(list_of(optional(NUM)))),
        "labels": map_of(STR),
        "initial": map_of(optional(_PER_TASK)),
    }
)
CODE = obj(
    {
        "numbers_version": INT,
        "source": optional(STR),
        "source_by_part": map_of(STR),
        "source_by_segment": list_of(optional(STR)),
    },
    required=("numbers_version",),
)
"""The code that computed a run (code_version.current(), and the source of each segment of its training)."""
RESULT = obj(
    {
        "schema": INT,
        "config": CONFIG,
        "config_hash": STR,
        "data": obj(
            {
                "dataset": STR,
                "verified": BOOL,
                "files": map_of(map_of(one_of(STR, INT))),
                "hash": optional(STR),  # null: a schema-1 file, which predates the data's identity
            }
        ),
        "seed": INT,
        "job_dir": optional(STR),
        "tasks": obj({"active": list_of(STR), "trained": list_of(STR)}),
        "device": STR,
        "gpu": optional(STR),
        "cpu": one_of(
            obj({"model": STR, "arch": STR, "threads": INT, "threads_by_segment": list_of(optional(INT))}), STR
        ),
        "versions": map_of(optional(STR)),
        "git": optional(obj({"commit": STR, "dirty": BOOL})),
        "code": CODE,
        "status": STR,
        "started_at": STR,
        "finished_at": STR,
        "resumed_at_epochs": list_of(INT),
        "final": optional(map_of(METRICS)),
        "divergence": optional(obj({"epoch": INT, "step": INT, "losses": map_of(SCALAR), "values": map_of(_PER_TASK)})),
        "error": obj({"type": STR, "message": STR, "traceback": one_of(STR, list_of(STR))}),
        "history": list_of(EPOCH),
        "trajectory": TRAJECTORY,
        "timings": map_of(optional(NUM)),
    }
)
"""result.json (schema 2, and schema 1 read in its layout): the type of every field a reader uses."""


def type_problems(result: Any) -> list[str]:
    """Which fields of `result` are of the wrong type (a string where an object belongs): checked before any is used."""
    if not isinstance(result, dict):
        return [f"it holds a {type(result).__name__}, not an object"]
    return _shape_of(RESULT, result)


def numbers_version(doc: dict[str, Any]) -> int:
    """The numbers version a result or checkpoint records (`code.numbers_version`); UNVERSIONED where it records none.

    `doc` is typed already (`type_problems`, or a checkpoint this suite wrote).
    """
    code = doc.get("code")
    return code["numbers_version"] if isinstance(code, dict) and "numbers_version" in code else UNVERSIONED


def run_identity(doc: dict[str, Any]) -> tuple[Any, Any, int]:
    """What makes two results the same run: what was computed (config hash), from which files (data hash),
    by which code (numbers version). The runner reuses a result only of the same run (runs.resume)."""
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    return doc.get("config_hash"), data.get("hash"), numbers_version(doc)


def training_identity(doc: dict[str, Any]) -> tuple[Any, ...]:
    """What is the same in a result.json and every copy of it, and differs between two trainings of the same run:
    the run's identity and the record of that one training (the folder it was written in, its start and end).

    The sweep's summary (ops.sweep) and the report (analysis.copies) count each training once by it.
    """
    return (*run_identity(doc), doc.get("job_dir"), doc.get("started_at"), doc.get("finished_at"))


def expected_shape(config: dict[str, Any], active: Sequence[str]) -> dict[str, Any]:
    """What a whole result of a run with `config` (plain) and active tasks `active` holds."""
    splits = ("test", "val") if (config.get("data") or {}).get("val_size") else ("test",)
    return {"epochs": (config.get("train") or {}).get("epochs"), "tasks": list(active), "splits": splits}


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _out_of_range(name: str, value: Any) -> bool:
    """Whether a metric's number is one no run can compute: an accuracy outside [0, 1], a negative loss."""
    if name in ACCURACIES:
        return not 0 <= value <= 1
    return name in TASK_LOSSES and value < 0


def _range_problems(where: str, metrics: dict[str, Any]) -> list[str]:
    """The metrics in `metrics` that are there but not finite, or out of their range."""
    bad = []
    for name, value in metrics.items():
        if value is None or isinstance(value, str) or name not in (*ACCURACIES, *TASK_LOSSES):
            continue
        if not _number(value) or _out_of_range(name, value):
            bad.append(f"{name} = {value!r}")
    return [f"{where} holds impossible values ({', '.join(bad)})"] if bad else []


def _metrics_problems(where: str, metrics: Any, tasks: Sequence[str]) -> list[str]:
    if not isinstance(metrics, dict):
        return [f"{where} is missing"]
    wanted = [*ACCURACIES, *(f"loss_{t}" for t in tasks)]
    bad = [k for k in wanted if not _number(metrics.get(k))]
    return ([f"{where} lacks {', '.join(bad)}"] if bad else []) + _range_problems(where, metrics)


def _trajectory_problems(traj: Any, tasks: Sequence[str]) -> list[str]:
    if not isinstance(traj, dict) or not isinstance(traj.get("step"), list):
        return ["trajectory is missing"]
    n = len(traj["step"])
    series = {"loss": traj.get("loss"), **(traj.get("values") or {})}
    if "weight" not in series:
        return ["trajectory lacks the effective weights"]
    out = []
    for name, per_task in series.items():
        if not isinstance(per_task, dict) or any(len(per_task.get(t) or []) != n for t in tasks):
            out.append(f"trajectory.{name} does not hold {n} values for each of {', '.join(tasks)}")
    return out


def _task_problems(tasks: dict[str, Any] | None) -> list[str]:
    """The active tasks: one or more of TASKS, each once; the trained ones: one or more of those."""
    if tasks is None:
        return []
    active, trained = tasks.get("active") or [], tasks.get("trained") or []
    if not active or len(set(active)) < len(active) or not set(active) <= set(TASKS):
        return [f"its active tasks {active} are not one or more of {', '.join(TASKS)}, each once"]
    if not trained or len(set(trained)) < len(trained) or not set(trained) <= set(active):
        return [f"its trained tasks {trained} are not one or more of its active tasks, each once"]
    return []


def problems(result: Any, epochs: int, tasks: Sequence[str], splits: Sequence[str] = ("test",)) -> list[str]:
    """What keeps `result` from being a whole, finished run of `epochs` epochs over `tasks` (empty: whole).

    `splits` are the evaluation splits every epoch and the final metrics must have (test, val).
    Every metric must be finite and possible: accuracies in [0, 1], losses ≥ 0.
    """
    if wrong := type_problems(result):
        return wrong
    out = []
    if result.get("schema") != SCHEMA_VERSION:
        out.append(f"its schema is {result.get('schema')!r}, not {SCHEMA_VERSION}")
    if not isinstance(result.get("config"), dict) or not isinstance(result.get("config_hash"), str):
        out.append("it lacks its config or config_hash")
    if not isinstance((result.get("data") or {}).get("hash"), str):
        out.append("it lacks the identity of its data")
    return out + shape_problems(result, epochs, tasks, splits)


def shape_problems(result: dict[str, Any], epochs: int, tasks: Sequence[str], splits: Sequence[str]) -> list[str]:
    """`problems` without the version and identity checks: what a result of any version must hold to be read."""
    if wrong := type_problems(result):
        return wrong
    out = _task_problems(result.get("tasks"))
    status = result.get("status")
    if status not in FINAL_STATUSES:
        return [*out, f"its status is {status!r}, not finished"]
    history = result.get("history")
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        return [*out, "its history is missing"]
    if [h.get("epoch") for h in history] != list(range(1, len(history) + 1)):
        out.append("its history does not list epochs 1, 2, ... in order")
    for h in history:
        for split in ("train", *splits):
            if not isinstance(h.get(split), dict):
                out.append(f"history epoch {h.get('epoch')} lacks its {split} metrics")
            else:
                out += _range_problems(f"history epoch {h.get('epoch')} {split}", h[split])
    if status == "completed":
        if len(history) != epochs:
            out.append(f"its history has {len(history)} epochs, expected {epochs}")
        final = result.get("final")
        if not isinstance(final, dict):
            out.append("it lacks its final metrics")
        else:
            for split in ("train", *splits):
                out += _metrics_problems(f"final.{split}", final.get(split), tasks)
    elif not isinstance(result.get("divergence"), dict) or len(history) > epochs:
        out.append("it is marked diverged but lacks where it diverged")
    return out + _trajectory_problems(result.get("trajectory"), tasks)
