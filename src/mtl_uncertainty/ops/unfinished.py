"""The sweep a repeated command finishes: "kill a sweep and run the same command again".

A sweep's folder is named from the time it started (multirun/<date>_<time>), so the same command
started again would make a new one. Instead, a command given no `hydra.sweep.dir` reuses the
newest sweep under multirun/ started by the same overrides, when that sweep has not finished:
each sweep holds an `.unfinished` mark from its start until it ends with every job completed or
diverged (a kill, Ctrl-C, SIGTERM or a failed run leave it there). An explicit hydra.sweep.dir
always wins; a sweep of the same command that finished is never reused.
"""

from __future__ import annotations

import logging
import os
import shlex
from collections.abc import Sequence
from pathlib import Path

import yaml

from ..storage.reading import UnreadableFile, read_bytes
from .sweep_record import MAX_RECORD_BYTES, SWEEP_RECORD

log = logging.getLogger(__name__)

UNFINISHED_MARK = ".unfinished"
"""In a sweep folder while the sweep has jobs left to finish."""

SWEEPS = Path("multirun")
"""Where sweeps go unless hydra.sweep.dir says otherwise (conf/config.yaml), relative to the launch folder."""

_NOT_COMPARED = ("hydra.sweep.dir", "hydra.mode")
"""Hydra overrides that differ between a sweep and its resumption (the folder given, the mode Hydra adds)."""


def mark_unfinished(sweep_dir: Path) -> None:
    """Mark a sweep as having jobs left to finish (at its start, after its checks passed); never through a link."""
    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
        os.close(os.open(sweep_dir / UNFINISHED_MARK, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644))
    except OSError as e:  # a full disk, a link planted there: the sweep runs; only its resumption by name is lost
        log.warning("could not mark %s as unfinished (%s); resume it with hydra.sweep.dir=DIR", sweep_dir, e)


def mark_finished(sweep_dir: Path) -> None:
    """Every job completed or diverged: the same command started again begins a new sweep."""
    (sweep_dir / UNFINISHED_MARK).unlink(missing_ok=True)


def _compared(overrides: Sequence[str]) -> list[str]:
    return [o for o in overrides if o.partition("=")[0].lstrip("+~") not in _NOT_COMPARED]


def _recorded_overrides(sweep_dir: Path) -> list[str] | None:
    """The overrides (Hydra's, then the task's) a sweep was started with; None if its record cannot be read."""
    try:
        record = yaml.safe_load(read_bytes(sweep_dir / SWEEP_RECORD, MAX_RECORD_BYTES))
        overrides = record["hydra"]["overrides"]
        return _compared([*overrides["hydra"], *overrides["task"]])
    except (OSError, UnreadableFile, yaml.YAMLError, RecursionError, KeyError, TypeError):
        return None


def _started(sweep_dir: Path) -> float:
    """When the sweep was last started: Hydra writes multirun.yaml at every start, a resumption's included."""
    return (sweep_dir / SWEEP_RECORD).lstat().st_mtime


def unfinished_sweep(overrides: Sequence[str], sweeps: Path = SWEEPS) -> Path | None:
    """The newest sweep in `sweeps` started with `overrides`, if it has jobs left to finish; else None."""
    if any(o.partition("=")[0].lstrip("+") == "hydra.sweep.dir" for o in overrides) or not sweeps.is_dir():
        return None
    given = sorted(_compared(overrides))
    same = [p for p in sweeps.iterdir() if p.is_dir() and not p.is_symlink() and _same(p, given)]
    if not same:
        return None
    newest = max(same, key=_started)
    return newest if (newest / UNFINISHED_MARK).is_file() else None


def _same(sweep_dir: Path, given: list[str]) -> bool:
    recorded = _recorded_overrides(sweep_dir)
    return recorded is not None and sorted(recorded) == given


def resuming(sweep_dir: Path) -> str:
    """The line that says a command resumes a sweep, and how to start a new one instead."""
    return (
        f"Resuming the unfinished sweep {sweep_dir}, started by this same command (finished runs are skipped, "
        f"the others continue from their checkpoint). To start a new sweep instead, add "
        f"{shlex.quote(f'hydra.sweep.dir={SWEEPS}/<new folder>')}."
    )
