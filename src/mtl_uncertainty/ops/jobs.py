"""A sweep's job as the task function sees it: run it, and never let one run's failure end the sweep."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..job_folder import JobLocked

log = logging.getLogger(__name__)

FAILURES: dict[str, str] = {}
"""Job folder → its error in one line, for every job of this process that failed (the sweep's
summary names them even where a full disk kept the failure out of the job's folder)."""


def note_failure(out_dir: Path, error: BaseException | str) -> None:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    FAILURES[str(Path(out_dir).resolve())] = text.strip().splitlines()[0] if text.strip() else text


def job_value(cfg: DictConfig, out_dir: Path, outcome: dict[str, Any] | BaseException) -> dict[str, Any]:
    """What a sweep's job returns to Hydra: its status (the result itself is in its folder).

    A failure is logged here and recorded in the job's folder; the sweep's summary names it at the end.
    """
    if isinstance(outcome, JobLocked):
        log.warning("%s", outcome)
        return {"status": "skipped", "job_dir": str(out_dir), "reason": str(outcome)}
    if isinstance(outcome, BaseException):
        log.error("%s failed: %s: %s", out_dir, type(outcome).__name__, outcome)
        note_failure(out_dir, outcome)
        return {"status": "failed", "job_dir": str(out_dir), "error": f"{type(outcome).__name__}: {outcome}"}
    return {"status": outcome["status"], "job_dir": str(out_dir)}


def run_job(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    """Run one job of a sweep; its failure is recorded, not raised."""
    from ..run import run_many

    (outcome,) = run_many([cfg], [out_dir], stack=False)
    return job_value(cfg, out_dir, outcome)
