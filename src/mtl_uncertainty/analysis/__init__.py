"""The report: tables and figures from the runs' result.json files (and the floors.json beside them), nothing else.

`make_report(sweeps, out_dir)` reads every result.json under the sweeps (`runs`) and their floors
(`floors`), groups runs into cells (`cells`), computes the statistics (`stats`, `tables`, `delta`,
`compare`, `selection`, `replication`), says which code computed each cell (`code_versions`) and writes the
tables (`displays`, `markdown`) and figures (`figures`, `metric_figures`, `plotting`).

May import: `storage` (result.json's schema), `objective`, `labels` (how numbers are written), pandas,
scipy, matplotlib. Never torch, `training`, `runs`, `run` or `config`: the report works on a machine
that only has the JSON files.
"""

from __future__ import annotations

from pathlib import Path

from ..storage.result_schema import RESULT_FILE
from .errors import BaselineError, NoRunsError, ReportError
from .report import Report, make_report

__all__ = ["BaselineError", "NoRunsError", "Report", "ReportError", "make_report", "newest_sweep"]


SWEEP_RECORD = "multirun.yaml"
"""What Hydra writes into every sweep folder: it tells one sweep from a folder that holds several."""


def _has_results(sweep: Path) -> bool:
    return next(sweep.rglob(RESULT_FILE), None) is not None


def sweeps_under(root: Path) -> list[Path]:
    """Each sweep under `root`, at any depth (a folder with a multirun.yaml), and each top-level folder that
    holds results but no sweep record (results gathered by other means); never a folder that holds sweeps."""
    if not root.is_dir():
        return []
    recorded = {p.parent for p in root.rglob(SWEEP_RECORD)}
    tops = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    unrecorded = [p for p in tops if not any(s == p or p in s.parents for s in recorded)]
    return sorted(recorded | set(unrecorded))


def newest_sweep(root: Path) -> Path:
    """The sweep under `root` (e.g. multirun/) with results whose results or config changed last."""

    def last_change(sweep: Path) -> float:
        files = [sweep / SWEEP_RECORD, *sweep.rglob(RESULT_FILE)]
        return max((f.stat().st_mtime for f in files if f.exists()), default=sweep.stat().st_mtime)

    sweeps = sweeps_under(root)
    with_results = [p for p in sweeps if _has_results(p)]
    if not with_results:
        none = f"No sweeps under {root}/" if not sweeps else f"No sweeps under {root}/ have a {RESULT_FILE} yet"
        raise NoRunsError(
            f"{none}. Run one first (python src/train.py -m weighting=learnable,fixed "
            "recon=true,false) or name the folders to report on: python analysis/report.py DIR [DIR ...]."
        )
    return max(with_results, key=last_change)
