"""metrics.csv in the job folder (logger=csv): one row per epoch, its metrics and the weighting's values.

Columns: config_hash, epoch, step, train/<metric>, [val/<metric>,] test/<metric>, weighting/<value>_<task>
(the values the method recorded at the epoch's last step: weight always; s, sigma, ... where it has them)
and seconds/train, seconds/eval; an empty cell is a metric the run does not have (an inactive task's loss).
The file is rewritten whole each epoch (a small file, never half written); a resumed run keeps the rows
up to its checkpoint and drops any a killed process wrote after it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ...storage.atomic import write_atomic
from .base import EpochLog, RunInfo

CSV_FILE = "metrics.csv"


class CsvLog:
    """The per-epoch rows of one run, in `out_dir/metrics.csv`."""

    name = "csv"
    run_id = None

    def __init__(self, info: RunInfo) -> None:
        self.path = info.out_dir / CSV_FILE
        self.config_hash = info.identity["config_hash"]
        self.rows = _kept_rows(self.path, info.resumed_epoch)

    def epoch(self, log: EpochLog) -> None:
        if log.metrics is None:  # a diverged epoch records no row; result.json's divergence says where
            return
        self.rows.append({"config_hash": self.config_hash, **log.metrics})
        columns = list(dict.fromkeys(key for row in self.rows for key in row))
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in self.rows)
        write_atomic(self.path, text.getvalue().encode())

    def end(self, result: dict[str, Any]) -> None:
        """Nothing more: the end's numbers are in result.json."""

    def close(self) -> None:
        """Nothing open: every row is on disk when `epoch` returns."""


def _kept_rows(path: Path, resumed_epoch: int) -> list[dict[str, Any]]:
    """The rows of epochs up to `resumed_epoch` in an existing file (none for a run starting over)."""
    if resumed_epoch == 0 or not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [row for row in rows if row.get("epoch", "").isdigit() and int(row["epoch"]) <= resumed_epoch]
