"""The version of the code that computes a run's numbers: part of a run's identity, with its config and data.

`NUMBERS_VERSION` is bumped by hand whenever a change alters the numbers a run computes (another
initialisation, a reordered sum, a fixed bug in a loss). tests/golden.py pins the exact metrics of a
few tiny runs and fails on any change of them until the version is bumped and the metrics re-pinned,
so a change that keeps the numbers (a refactor) keeps the version, and the results made before it
stay this code's results. A finished result or a checkpoint of another version is never reused or
resumed (runs.resume, runs.checkpoint).

`current()` also hashes the source files that compute the numbers, part by part (`PARTS`): recorded
for information, and compared when a run resumes, so that a checkpoint written by other source at
the same version is not continued silently (the config's `resume.other_source`). The hash is of the
files' bytes as this process first read them: an edit to a comment changes it too.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import Any

NUMBERS_VERSION = 1
"""Bumped by hand with every change that alters the numbers a run computes (the golden test enforces it)."""

UNVERSIONED = 1
"""The numbers version of a result or checkpoint that records none: every run made before runs recorded their code."""

PARTS = {
    "model": ("model.py",),
    "tasks": ("tasks.py",),
    "seeding": ("seeding.py",),
    "data": ("data",),
    "weighting": ("weighting",),
    "training": ("training",),
    "runs": ("run.py", "runs/session.py", "runs/loop.py", "runs/checkpoint.py"),
}
"""The source files that compute a run's numbers, by part (a folder: every .py file in it), relative to the package.
Not here: what only reads, checks, names or shows runs (config checks, the report, the Hydra glue, the search's
objective); a config default that changes is a change of the config hash."""

PACKAGE = Path(__file__).resolve().parent


def _files(entry: str) -> list[Path]:
    path = PACKAGE / entry
    return sorted(path.rglob("*.py")) if path.is_dir() else [path]


def _digest(chunks: list[bytes]) -> str:
    h = hashlib.sha256()
    for chunk in chunks:
        h.update(len(chunk).to_bytes(8, "big") + chunk)
    return h.hexdigest()[:16]


@cache
def source_by_part() -> dict[str, str]:
    """A short sha256 of each part's files (their paths and bytes); a missing file counts as empty."""
    out = {}
    for part, entries in PARTS.items():
        files = [f for entry in entries for f in _files(entry)]
        chunks = []
        for f in files:
            chunks += [f.relative_to(PACKAGE).as_posix().encode(), f.read_bytes() if f.is_file() else b""]
        out[part] = _digest(chunks)
    return out


def source_hash(parts: dict[str, str]) -> str:
    """One hash of every part's hash."""
    return _digest([f"{name}={digest}".encode() for name, digest in sorted(parts.items())])


def current() -> dict[str, Any]:
    """This code's `numbers_version`, its `source` hash and `source_by_part`, as result.json records them."""
    parts = source_by_part()
    return {"numbers_version": NUMBERS_VERSION, "source": source_hash(parts), "source_by_part": dict(parts)}


def changed_parts(recorded: Any, parts: dict[str, str]) -> list[str]:
    """The parts whose hash differs between a recorded `source_by_part` and `parts` (every part if none is recorded)."""
    if not isinstance(recorded, dict):
        return sorted(parts)
    return sorted(p for p in set(parts) | set(recorded) if recorded.get(p) != parts.get(p))
