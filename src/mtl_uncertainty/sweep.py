"""What a sweep folder holds: the status of every run, and the end-of-sweep summary."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from .errors import SweepError
from .result import RESULT_FILE

log = logging.getLogger(__name__)


def run_statuses(sweep_dir: Path) -> dict[Path, str]:
    """Each job folder under `sweep_dir` holding a result.json, with the status it records."""
    statuses = {}
    for path in sorted(Path(sweep_dir).rglob(RESULT_FILE)):
        try:
            statuses[path.parent] = str(json.loads(path.read_text()).get("status", "unknown"))
        except (OSError, ValueError):
            statuses[path.parent] = "unreadable"
    return statuses


def _name(job_dir: str | Path, sweep_dir: Path) -> str:
    try:
        return str(Path(job_dir).relative_to(sweep_dir)) or "."
    except ValueError:
        return str(job_dir)


def summarize(sweep_dir: Path, failed: Sequence[tuple[str, BaseException]] = ()) -> None:
    """Log how the sweep's runs ended; raise SweepError naming every run that failed."""
    statuses = run_statuses(sweep_dir)
    counts = {s: sum(1 for v in statuses.values() if v == s) for s in ("completed", "diverged")}
    log.info(
        "Sweep %s: %d completed, %d diverged, %d failed",
        sweep_dir,
        counts["completed"],
        counts["diverged"],
        len(failed),
    )
    for job_dir, status in statuses.items():
        if status == "diverged":
            log.warning("diverged: %s", _name(job_dir, sweep_dir))
    if failed:
        named = "; ".join(
            f"{_name(d, sweep_dir)}: {type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
            for d, e in failed
        )
        raise SweepError(
            f"{len(failed)} run(s) of the sweep in {sweep_dir} failed: {named}. Each failed run's result.json "
            "holds its traceback; run the same command again to retry them (finished runs are skipped)."
        )
