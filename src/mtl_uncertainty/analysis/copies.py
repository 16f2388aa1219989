"""Counting each run once: a copied job folder holds the same run as its original.

A training's identity is its run's (`config_hash`, `data.hash`, the numbers version) and the record
of that one training (`job_dir`, the folder it was written in, and its start and finish times), as
storage.result_schema.training_identity defines it for the runner's, the summary's and the report's
use alike. The config and data hashes alone are not enough: the same config trained again, e.g. by a CPU sweep and a GPU
sweep with `device=auto`, has the same hashes and is a second run of that seed, not a copy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..storage.result_schema import training_identity
from .runs import Excluded, Run


def identity(result: dict[str, Any]) -> tuple[Any, ...]:
    """What is the same in a run's result.json and every copy of it (storage.result_schema.training_identity)."""
    return training_identity(result)


def _is_original(run: Run) -> bool:
    """Whether the run's folder is the one its result.json says it was written in."""
    written_in = run.result.get("job_dir")
    return written_in is not None and Path(written_in) == run.path.resolve()


def drop_copies(runs: Sequence[Run]) -> tuple[list[Run], list[Excluded]]:
    """One run per identity (the original folder where there is one), and the copies left out."""
    by_identity: dict[tuple[Any, ...], list[Run]] = {}
    for run in runs:
        by_identity.setdefault(identity(run.result), []).append(run)
    kept, copies = [], []
    for same in by_identity.values():
        original = next((r for r in same if _is_original(r)), same[0])
        kept.append(original)
        copies += [
            Excluded(r.path, "copy", f"a copy of {original.path} (same run), counted once")
            for r in same
            if r is not original
        ]
    order = {id(r): i for i, r in enumerate(runs)}
    return sorted(kept, key=lambda r: order[id(r)]), copies
