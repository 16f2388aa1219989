"""What a report holds: the runs it read, the runs it left out, and every table it computed."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .delta import CellBaseline
from .displays import floor_lines, markdown, summary_display
from .equilibrium import Rule
from .floors import GroupFloors
from .runs import Excluded, Run


@dataclass
class Report:
    out_dir: Path
    runs: list[Run]
    excluded: list[Excluded]
    table: pd.DataFrame  # one row per usable run
    axes: list[str]
    others: list[str]  # the axes that are not the method or its settings: the groups
    seeds: pd.DataFrame  # one row per cell and seed, repeats averaged
    summary: pd.DataFrame  # one row per cell
    baselines: dict[str, CellBaseline]  # how each cell's Δm% baselines were found
    paired: pd.DataFrame
    baseline: str  # the --baseline selector
    primary: list[str] | None  # the selectors of the rows whose comparisons are the declared question (None: all)
    margins: dict[str, float]  # the TOST's equivalence margin per metric (acc_cls3, acc_cls10, loss_recon)
    selected: pd.DataFrame
    replication: pd.DataFrame
    rule: Rule  # when s counts as at its equilibrium (δ, w)
    equilibrium: pd.DataFrame  # per cell and task: runs that record s and s_eq, how many reached it, median step
    figures: dict[str, list[Path]] = field(default_factory=dict)  # figure name → its files, first one linked
    floors: dict[str, GroupFloors] = field(default_factory=dict)  # per group: the floors.json entry of its data

    def main_table_text(self) -> str:
        """The main table in Markdown (printed at the end of a sweep)."""
        return markdown(summary_display(self.summary, self.others))

    def floors_text(self) -> str:
        """The floors under the main table (or why there are none), one paragraph per line."""
        return "\n".join(floor_lines(self.summary))
