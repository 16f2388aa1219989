"""Every command's record of a sweep: Hydra's basic sweeper overwrites <sweep>/multirun.yaml at each start.

A sweep folder reused by several commands (a preset's commands into one results folder, a resumed
or extended sweep) would otherwise name only the last one. Before the sweeper writes its record, the
one there is kept beside it as multirun.<date>_<time>.yaml, stamped with the time it was written (when
that command started); a folder's records then name every command that made its runs.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..storage.atomic import write_atomic
from ..storage.reading import UnreadableFile, read_bytes

log = logging.getLogger(__name__)

SWEEP_RECORD = "multirun.yaml"
MAX_RECORD_BYTES = 16 * 2**20
"""multirun.yaml, the sweep's config as Hydra saved it, is a few kB."""


def kept_name(record: Path, n: int = 1) -> Path:
    """multirun.<date>_<time>.yaml for the time `record` was written (local time, as Hydra names sweep folders)."""
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(record.lstat().st_mtime))
    return record.with_name(f"{record.stem}.{stamp}{'' if n == 1 else f'-{n}'}{record.suffix}")


def keep_sweep_record(sweep_dir: Path) -> Path | None:
    """Copy <sweep_dir>/multirun.yaml to a name of its own (never over another file); the copy, or None if none.

    A copy, not a rename: the sweep keeps its record until the sweeper writes the new one. The same record
    kept twice (a command that stopped before its sweeper wrote anything) is kept once.
    """
    record = sweep_dir / SWEEP_RECORD
    if not record.exists() and not record.is_symlink():
        return None
    try:
        content = read_bytes(record, MAX_RECORD_BYTES)
        for n in range(1, 1000):
            target = kept_name(record, n)
            if not target.exists() and not target.is_symlink():
                write_atomic(target, content)
                return target
            if not target.is_symlink() and target.is_file() and target.read_bytes() == content:
                return target
    except (OSError, UnreadableFile) as e:  # the sweep runs; only the earlier command's record is lost
        log.warning("could not keep %s before the sweep overwrites it (%s)", record, e)
    return None
