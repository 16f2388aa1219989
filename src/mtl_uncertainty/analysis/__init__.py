"""Tables and figures from the runs' result.json files (no training code is imported here)."""

from __future__ import annotations

from pathlib import Path

from .report import NoRunsError, Report, make_report

__all__ = ["NoRunsError", "Report", "make_report", "newest_sweep"]


def newest_sweep(root: Path) -> Path:
    """The sweep folder under `root` (e.g. multirun/) whose results or config changed last."""

    def last_change(sweep: Path) -> float:
        files = [sweep / "multirun.yaml", *sweep.rglob("result.json")]
        return max((f.stat().st_mtime for f in files if f.exists()), default=sweep.stat().st_mtime)

    sweeps = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")] if root.is_dir() else []
    if not sweeps:
        raise NoRunsError(
            f"No sweeps under {root}/. Run one first (python src/train.py -m weighting=learnable,fixed "
            "recon=true,false) or name the folders to report on: python analysis/report.py DIR [DIR ...]."
        )
    return max(sweeps, key=last_change)
