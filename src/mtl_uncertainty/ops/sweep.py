"""How a sweep ended: the status of each of its jobs, told once per run, and the summary line.

Each training is counted once by its identity (storage.result_schema.training_identity, as the
report counts it): a copy of a job folder inside the sweep is named and not counted, and so is any
folder that is not one of the sweep's jobs. The same summary ends every sweep, whatever launcher ran it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from ..runs.folder import LOCK_FILE, try_lock
from ..storage import result_schema
from ..storage.reading import UnreadableFile, read_json
from ..storage.result_schema import RESULT_FILE

DIVERGED_EXIT_CODE = 3
FAILED_EXIT_CODE = 1


@dataclass
class SweepSummary:
    """The jobs of a sweep by how they ended, and the folders that were not counted."""

    sweep_dir: Path
    by_status: dict[str, list[Path]] = field(default_factory=dict)
    errors: dict[Path, str] = field(default_factory=dict)  # failed job → its error in one line
    invalid: dict[Path, str] = field(default_factory=dict)  # job whose result is not whole → why
    not_counted: dict[Path, str] = field(default_factory=dict)  # folder → why it is not counted

    def names(self, status: str) -> list[str]:
        return [self.name(p) for p in self.by_status.get(status, [])]

    def name(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.sweep_dir)) or "."
        except ValueError:
            return str(path)

    def count(self, status: str) -> int:
        return len(self.by_status.get(status, []))

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.by_status.values())

    def line(self) -> str:
        """Sweep DIR: N completed, D diverged, F failed (+ the rest, where there is any)."""
        parts = [f"{self.count(s)} {s}" for s in ("completed", "diverged", "failed")]
        if self.count("missing"):
            parts.append(f"{self.count('missing')} without a result")
        if self.count("invalid"):
            parts.append(f"{self.count('invalid')} with a result that is not whole")
        if self.count("running"):
            parts.append(f"{self.count('running')} being trained by another process")
        return f"Sweep {self.sweep_dir}: {', '.join(parts)}"

    def exit_code(self) -> int:
        if self.total > sum(self.count(s) for s in ("completed", "diverged", "running")):
            return FAILED_EXIT_CODE  # every job that did not complete and is not another process's counts
        return DIVERGED_EXIT_CODE if self.count("diverged") else 0

    def details(self) -> list[str]:
        """One line per job that did not complete, and per folder that was not counted."""
        out = [f"failed: {self.name(p)}: {self.errors.get(p, '')}" for p in self.by_status.get("failed", [])]
        out += [
            f"no result: {self.name(p)} (never finished; run the command again)"
            for p in self.by_status.get("missing", [])
        ]
        out += [f"not a whole result: {self.name(p)} ({why}; run the command again)" for p, why in self.invalid.items()]
        out += [f"diverged: {n} (see 'divergence' in its result.json)" for n in self.names("diverged")]
        out += [f"being trained by another process: {n}" for n in self.names("running")]
        out += [f"not counted: {self.name(p)}: {why}" for p, why in self.not_counted.items()]
        return out


def _read(path: Path) -> dict | None:
    """The folder's result.json, if it can be read and every field is of its type (else None: no result)."""
    try:
        result = read_json(path / RESULT_FILE)
    except (OSError, UnreadableFile):
        return None
    return None if result_schema.type_problems(result) else result


def _unusable(folder: Path) -> str | None:
    """Why the folder's result.json cannot be used at all (unreadable, a field of the wrong type); None if absent."""
    try:
        result = read_json(folder / RESULT_FILE)
    except FileNotFoundError:
        return None
    except (OSError, UnreadableFile) as e:
        return f"its result.json is unreadable: {e}"
    return "; ".join(result_schema.type_problems(result)) or None


def _not_whole(result: dict) -> list[str]:
    """What keeps a result that says it is over from being a whole run, by its own config (the runner's check)."""
    if result.get("status") not in result_schema.FINAL_STATUSES:
        return []
    if "config" not in result or "tasks" not in result:
        return ["it lacks its config or its tasks"]
    shape = result_schema.expected_shape(result["config"], result["tasks"].get("active") or [])
    return result_schema.problems(result, **shape)


def _why_not_whole(folder: Path, result: dict | None, status: str) -> str:
    """Why the job's result is not a whole run ('' if it is, or if the folder holds none)."""
    if result is not None:
        return "; ".join(_not_whole(result))
    return (_unusable(folder) or "") if status == "missing" else ""


def _locked(folder: Path) -> bool:
    """Whether another process holds the folder's training lock now (an odd lock file is nobody's lock)."""
    try:
        fd = os.open(folder / LOCK_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return not try_lock(fd, folder / LOCK_FILE, exclusive=False)
    except InputError:  # a filesystem that cannot lock: nobody holds a lock there
        return False
    finally:
        os.close(fd)


def _status(folder: Path, result: dict | None) -> str:
    if result is None:
        return "running" if _locked(folder) else "missing"
    status = result.get("status")
    return status if status in ("completed", "diverged", "failed") else "missing"


def _error_line(result: dict | None) -> str:
    error = (result or {}).get("error") or {}  # typed by the reader: an object of strings, or absent
    message = str(error.get("message", "")).strip().splitlines()
    return f"{error.get('type', 'error')}: {message[0] if message else ''}"


def at_home(folder: Path, result: dict | None) -> bool:
    """Whether the result was written in this folder (a copied folder's result names the original)."""
    return result is not None and result.get("job_dir") == str(folder.resolve())


def found_folders(sweep_dir: Path) -> list[Path]:
    """Folders under the sweep that hold a result.json or a job's .hydra record (the report's own excluded)."""
    found = {p.parent for p in sweep_dir.rglob(RESULT_FILE)}
    found |= {p.parent for p in sweep_dir.rglob(".hydra") if p.is_dir()}
    return sorted(f for f in found if f != sweep_dir and "report" not in f.relative_to(sweep_dir).parts[:1])


def summarize(
    sweep_dir: Path, expected: Sequence[Path] | None = None, failures: Mapping[str, str] | None = None
) -> SweepSummary:
    """The status of each job, each run counted once.

    `expected`: the sweep's job folders, when known; `failures`: errors this process saw, by
    resolved job folder (a job whose failure could not be written into its folder is still named).
    """
    failures = failures or {}
    sweep_dir = Path(sweep_dir)
    found = found_folders(sweep_dir)
    results = {f: _read(f) for f in found}
    jobs = [Path(p) for p in expected] if expected is not None else found
    summary = SweepSummary(sweep_dir)
    owner: dict[tuple, Path] = {}
    others = [f for f in found if f not in set(jobs)]
    for folder in sorted(jobs, key=lambda f: not at_home(f, results.get(f))) + others:
        result = results.get(folder) if folder in results else _read(folder)
        identity = result_schema.training_identity(result) if result is not None else None
        if result is not None and identity in owner:
            summary.not_counted[folder] = f"a copy of {summary.name(owner[identity])} (same run), counted once"
            continue
        if folder not in jobs:
            summary.not_counted[folder] = "not a job of this sweep (left from another command, or copied here)"
            continue
        if result is not None:
            owner[identity] = folder
        status = _status(folder, result)
        seen = failures.get(str(folder.resolve()))
        if seen is not None and status != "running":  # it failed in this process, whatever its folder says
            status = "failed"
        elif why := _why_not_whole(folder, result, status):
            status = "invalid"
            summary.invalid[folder] = why
        summary.by_status.setdefault(status, []).append(folder)
        if status == "failed":
            recorded = result is not None and result.get("status") == "failed"
            summary.errors[folder] = _error_line(result) if recorded else f"{seen} (not recorded in its folder)"
    return summary
