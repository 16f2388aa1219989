"""The report: tables (Markdown, CSV, LaTeX) and figures for one or more sweeps.

`make_report(sweeps, out_dir)` reads only the runs' result.json files and writes report.md,
results.csv, summary.csv, summary.tex, equilibrium.csv and the figures into `out_dir`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..storage.atomic import write_atomic
from . import figures, metric_figures
from .cells import find_axes, label_runs, per_seed, split_axes
from .compare import DEFAULT_BASELINE, baseline_cells, margins_for, matching_cells, paired_table, parse_selector
from .contents import Report
from .copies import drop_copies
from .delta import add_single_task_rows
from .displays import latex, summary_display
from .equilibrium import DEFAULT_DELTA, DEFAULT_WINDOW, Rule, equilibrium_table
from .errors import BaselineError, NoRunsError
from .floors import group_floors, load_floors
from .markdown import render
from .replication import replication_table
from .runs import Excluded, Run, load_runs, runs_table
from .selection import select_on_validation
from .tables import csv_precision, summary_table

FORMATS = ("png",)
DECLARED = "declared"
"""`primary=DECLARED`: the primary comparisons the runs' config declares (`report.primary`), else every one."""


def declared(runs: Sequence[Run]) -> tuple[str | None, list[str] | None]:
    """The baseline and primary rows the runs' config declares (`report:` in a preset), where every run that
    declares them agrees; (None, None) where none does or they disagree."""
    found = {
        json.dumps([(r.result["config"].get("report") or {}).get(k) for k in ("baseline", "primary")])
        for r in runs
        if isinstance(r.result["config"].get("report"), dict)
    }
    if len(found) != 1:
        return None, None
    baseline, primary = json.loads(found.pop())
    ok = isinstance(primary, list) and all(isinstance(p, str) and _selects(p) for p in primary)
    return (baseline if isinstance(baseline, str) and _selects(baseline) else None), (primary if ok else None)


def _cells(table: pd.DataFrame, primary: Sequence[str] | None, strict: bool) -> set[str] | None:
    """The cells the primary selectors name; a declared selector that names no key of these runs is dropped
    (a damaged or foreign result.json), one asked for is an error."""
    if primary is None:
        return None
    cells: set[str] = set()
    for text in primary:
        try:
            cells |= matching_cells(table, parse_selector(text))
        except BaselineError:
            if strict:
                raise
    return cells


def _selects(text: str) -> bool:
    """Whether a declared selector is one (a damaged result.json's is ignored, never a reason to fail)."""
    try:
        parse_selector(text)
    except BaselineError:
        return False
    return True


def _load(sweeps: Sequence[Path]) -> tuple[list[Run], list[Excluded]]:
    runs, excluded = load_runs(sweeps)
    runs, copies = drop_copies(runs)
    if not runs:
        where = ", ".join(str(s) for s in sweeps)
        detail = f" ({len(excluded)} job folder(s) without a usable result)" if excluded else ""
        raise NoRunsError(f"No completed runs under {where}{detail}; nothing to report.")
    return runs, excluded + copies


def _figures(report: Report, formats: Sequence[str]) -> dict[str, list[Path]]:
    by_path = {str(r.path): r for r in report.runs}
    cells = [
        (cell, rows.iloc[0]["row"], rows.iloc[0]["group"], [by_path[p] for p in rows["path"]])
        for cell, rows in report.table.groupby("cell", sort=False)
    ]
    order = {c: i for i, c in enumerate(report.summary["cell"])}
    cells = sorted((c for c in cells if c[0] in order), key=lambda c: order[c[0]])  # single-task runs: one row
    labelled = [(cell, runs) for cell, _, _, runs in cells]
    out = report.out_dir
    made = {
        "final_accuracy": metric_figures.final_metrics(report.summary, report.seeds, out / "final_accuracy", formats),
        "differences": metric_figures.differences(report.paired, out / "differences", formats),
        "test_accuracy": metric_figures.test_accuracy_per_epoch(
            [(row, group, runs) for _, row, group, runs in cells], out / "test_accuracy", formats, report.floors
        ),
        "weights": figures.weight_trajectories(labelled, out / "weights", formats),
        "sigma_trajectories": figures.value_trajectories(labelled, out / "sigma_trajectories", formats),
        "equilibrium": figures.equilibrium(labelled, out / "equilibrium", formats, report.rule.window),
    }
    return {name: paths for name, paths in made.items() if paths}


def make_report(
    sweeps: Sequence[Path],
    out_dir: Path,
    baseline: str | None = None,
    formats: Sequence[str] = FORMATS,
    margins: Mapping[str, float] | None = None,
    eq_delta: float = DEFAULT_DELTA,
    eq_window: int = DEFAULT_WINDOW,
    primary: Sequence[str] | str | None = DECLARED,
) -> Report:
    """Read the sweeps' result.json files and write every table and figure into `out_dir`.

    `baseline`: the `--baseline` selector of the paired comparisons (None: the one the runs' config declares,
    `report.baseline`, else DEFAULT_BASELINE); `formats`: the figures' file formats;
    `margins`: equivalence margins by metric (`acc_cls3`, `acc_cls10`, `loss_recon`), the others keep their default;
    `eq_delta`, `eq_window`: δ and w (steps) of the equilibrium table (`equilibrium`); `primary`: selectors of
    the rows whose comparisons are the question (DECLARED: the runs' `report.primary`; None: every row; `[]`: none).
    """
    report = build_report(sweeps, out_dir, baseline, margins, eq_delta, eq_window, primary)
    _write(report, sweeps, formats)
    return report


def build_report(
    sweeps: Sequence[Path],
    out_dir: Path,
    baseline: str | None = None,
    margins: Mapping[str, float] | None = None,
    eq_delta: float = DEFAULT_DELTA,
    eq_window: int = DEFAULT_WINDOW,
    primary: Sequence[str] | str | None = DECLARED,
) -> Report:
    """Every table of the report on the sweeps' result.json files, computed and not written (see make_report)."""
    margins, rule = margins_for(margins), Rule(eq_delta, eq_window)
    runs, excluded = _load(sweeps)
    declared_baseline, declared_primary = declared(runs)
    required = baseline is not None  # a baseline asked for must match; a declared or default one may not
    baseline = baseline or declared_baseline or DEFAULT_BASELINE
    from_runs = primary == DECLARED
    primary = declared_primary if from_runs else primary
    selector = parse_selector(baseline)
    table = runs_table(runs)
    axes = find_axes(table)
    _, others = split_axes(axes)
    table = label_runs(table, axes)
    every_seed = add_single_task_rows(per_seed(table, others), others)
    floors = group_floors(table, load_floors(sweeps))
    summary, how = summary_table(every_seed, others, floors)
    seeds = every_seed[~every_seed["baseline_only"]].drop(columns="baseline_only")
    primary_cells = _cells(table, primary, strict=not from_runs)
    paired = paired_table(seeds, baseline_cells(summary, table, selector, required), margins, primary_cells)
    replication = replication_table(table)
    selected = select_on_validation(summary)
    equilibrium = equilibrium_table(table, runs, list(summary["cell"]), rule)
    return Report(
        out_dir,
        runs,
        excluded,
        table,
        axes,
        others,
        seeds,
        summary,
        how,
        paired,
        baseline,
        None if primary is None else list(primary),
        margins,
        selected,
        replication,
        rule,
        equilibrium,
        floors=floors,
    )


def _write(report: Report, sweeps: Sequence[Path], formats: Sequence[str]) -> None:
    """Every file of the report, each whole or not at all; report.md last, so it never describes a missing file.

    The old report.md goes first: a report killed half way leaves no report.md beside a mix of files.
    """
    out_dir = report.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.md").unlink(missing_ok=True)  # a link is removed itself, never its target
    report.figures = _figures(report, formats)
    write_atomic(out_dir / "results.csv", report.table.to_csv(index=False).encode())
    write_atomic(out_dir / "summary.csv", csv_precision(report.summary).to_csv(index=False).encode())
    write_atomic(out_dir / "equilibrium.csv", report.equilibrium.to_csv(index=False).encode())
    write_atomic(out_dir / "summary.tex", latex(summary_display(report.summary, report.others)).encode())
    write_atomic(out_dir / "report.md", render(report, sweeps).encode())
