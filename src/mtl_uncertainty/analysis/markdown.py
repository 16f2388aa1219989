"""report.md: every table and figure of a report, with what each one means."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .cells import axis_name
from .contents import Report
from .delta import CellBaseline
from .displays import markdown, paired_display, replication_display, selected_display
from .figures import EQUILIBRIUM_SPAN
from .metric_figures import MIN_SPAN
from .plotting import BAND, LOG_SPAN
from .tables import METRICS

FIGURE_TEXT = {
    "final_accuracy": (
        "Final test metrics per row: the grey dots are the seeds, the black diamonds the mean with its 95% CI "
        "(no CI below 2 seeds). Each axis spans its data and at least {min_span:.0%} of its values, and states "
        "its range under it, so that a zoomed axis cannot make noise look like an effect; the differences figure "
        "shows each row against its baseline with the CI of the difference."
    ),
    "differences": (
        "Each row minus its group's baseline ({baselines}), paired on seed: the mean difference and its 95% CI. "
        "Red line: no difference. Filled: a clear difference after Holm's correction; hollow: within noise."
    ),
    "test_accuracy": (
        "Test accuracy after each epoch: one line per row, one panel per group and accuracy, one y-scale per "
        "accuracy ({band})."
    ),
    "weights": (
        "The effective weight on each task's loss against the training step, one panel per row, one y-scale in "
        "every panel ({band}). The scale is logarithmic when the weights span more than {log_span:g}× (the title "
        "then says so), and a weight of 0 (a task the method does not train) is not drawn on it. Each task has "
        "its own colour, line style and marker, so that equal weights (λ = 1 for every task under fixed "
        "weights) stay told apart."
    ),
    "sigma_trajectories": (
        "σ and s against the training step, for the rows whose method records them (σ above s where a row has "
        "both), one y-scale per quantity ({band}). What each method records:"
    ),
    "equilibrium": (
        "s (solid) against s_eq (dashed), the value s would settle at for the current batch loss if the loss "
        "held still, for the rows whose method records both. s_eq follows each batch's noisy loss, so the dashed "
        "line is its exponential running mean over ~{span} steps; one y-scale ({band}). Each method's s and s_eq:"
    ),
}
"""What each figure shows, said beside it: the figures' own titles stay short."""
FIGURE_SECTION = {
    "test_accuracy": "Test accuracy per epoch",
    "weights": "Effective task weights",
    "sigma_trajectories": "sigma and s trajectories",
    "equilibrium": "s against its equilibrium",
}
DEFINED = {"sigma_trajectories": ("sigma", "s"), "equilibrium": ("s", "s_eq")}
"""The recorded values each method defines in its own way, listed beside these figures."""


def _definitions(report: Report, name: str) -> list[str]:
    """Per method, what the values a figure draws are for it (the panels say only σ, s, s_eq)."""
    found: dict[str, str] = {}
    for run in report.runs:
        labels = (run.result.get("trajectory") or {}).get("labels") or {}
        shown = [labels[n] for n in DEFINED.get(name, ()) if n in labels]
        if shown:
            found.setdefault(str(run.result["config"]["weighting"]["name"]), "; ".join(shown))
    return [*(f"- {method}: {text}" for method, text in sorted(found.items())), ""] if found else []


def _figure(report: Report, name: str, alt: str) -> list[str]:
    paths = report.figures.get(name)
    if not paths:
        return []
    baselines = " / ".join(sorted(set(report.paired["baseline"]))) if not report.paired.empty else ""
    note = FIGURE_TEXT[name].format(
        min_span=MIN_SPAN, baselines=baselines, band=BAND, log_span=LOG_SPAN, span=EQUILIBRIUM_SPAN
    )
    return [note, "", *_definitions(report, name), f"![{alt}]({paths[0].name})", ""]


def _header(report: Report, sweeps: Sequence[Path]) -> list[str]:
    devices = sorted({str(g) for g in report.table["gpu"].dropna()} or {"CPU"})
    counts = pd.Series([e.status for e in report.excluded]).value_counts().to_dict() if report.excluded else {}
    left = f"; left out: {len(report.excluded)} ({', '.join(f'{n} {s}' for s, n in counts.items())})" if counts else ""
    others = ", ".join(axis_name(a) for a in report.others)
    return [
        "# Multi-task loss weighting: report",
        "",
        f"Sweeps: {', '.join(f'`{s}`' for s in sweeps)}. Runs used: {len(report.runs)}{left}. "
        f"Device: {', '.join(devices)}.",
        "",
        "Each row is a method with the settings that vary within it; "
        + (f"the other axes that vary ({others}) are columns. " if others else "no other axis varies. ")
        + "Each metric is the mean ± sample s.d. over seeds with a 95% Student-t confidence interval of the mean, "
        "on the held-out test split after the last epoch. n counts seeds: where one seed has several runs in a "
        "cell (e.g. two sweeps reported together) they are averaged into one value first, and n says so "
        "(`n seeds; m runs averaged`). A copied job folder is the same run and is counted once.",
        "",
    ]


def _delta_notes(report: Report) -> list[str]:
    summary = report.summary
    if (summary["delta_m.n"] == 0).all():
        return [_no_delta(report.table)]
    notes = []
    for cell, how in report.baselines.items():
        notes += _cell_notes(cell, how)
    return notes


def _no_delta(table: pd.DataFrame) -> str:
    """Why no row has a Δm%: no single-task run at all, or single-task runs of some tasks only."""
    single = sorted(set(table.loc[table["n_trained"] == 1, "trained"]))
    if not single:
        return (
            "Δm% is — everywhere: none of these runs is a single-task baseline (a result.json whose "
            "`tasks.trained` holds one task; e.g. `weighting=single_cls3,single_cls10,single_recon`)."
        )
    active = sorted({t for tasks in table["active"] for t in tasks.split(",") if t})
    missing = [t for t in active if t not in single]
    return (
        f"Δm% is — everywhere: the single-task runs here train {', '.join(single)} only, and Δm% compares "
        f"every active task with its own single-task run; add `weighting={','.join(f'single_{t}' for t in missing)}` "
        f"runs for {', '.join(missing)}."
    )


def _cell_notes(cell: str, how: CellBaseline) -> list[str]:
    out = []
    if how.missing:
        out.append(f"- {cell}: Δm% is — (no single-task run of {', '.join(sorted(how.missing))} to compare with).")
    for task, seeds in sorted(how.fallback.items()):
        listed = ", ".join(str(s) for s in sorted(seeds))
        out.append(
            f"- {cell}: seed(s) {listed} have no single-task {task} run; the mean over that baseline's seeds stands in."
        )
    return out


def _main(report: Report) -> list[str]:
    notes = _delta_notes(report)
    return [
        "## Main table",
        "",
        report.main_table_text(),
        "",
        "Δm%: the mean over the active tasks of the relative improvement over the single-task baseline "
        "(Maninis et al. 2019; for the MSE a decrease counts as an improvement), each seed against the single-task "
        "run of the same seed and the same other axes (recon aside), then mean and 95% CI over seeds. "
        "Mean rank: each row's rank among the rows of its group (1 = best), per seed and per active task, "
        "averaged (ties share their average rank), over the seeds every row of the group has.",
        "",
        *notes,
        *([""] if notes else []),
        *_figure(report, "final_accuracy", "Final test metrics"),
    ]


def _selected(report: Report) -> list[str]:
    if report.selected.empty:
        return []
    return [
        "## Selected on validation",
        "",
        "For each method (with the tasks it trains) and group, the row with the best mean validation objective "
        "over seeds (`mtl_uncertainty.objective`: the mean over the active tasks of the accuracies and the "
        "negated MSE, on the validation split after the last epoch), chosen among the rows that have validation "
        "metrics. It was selected on the validation split; the validation objective is the only number "
        "here from that split, every other number is on the test split.",
        "",
        markdown(selected_display(report.selected, report.others)),
        "",
    ]


def _plain_summary(paired: pd.DataFrame) -> list[str]:
    clear = paired[paired["verdict"].str.startswith(("better", "worse"))]
    short = paired[paired["verdict"].str.startswith("too few")]
    out = [f"- {r.cell}, test {METRICS[r.metric][0]}: {r.verdict}." for r in clear.itertuples()]
    rest = len(paired) - len(clear) - len(short)
    if len(short):
        out.append(f"- {len(short)} of {len(paired)} comparisons have fewer than 2 paired seeds: no verdict.")
    if rest:
        every = "Every" if not len(clear) else "Every other"
        out.append(
            f"- {every} difference ({rest} of {len(paired)}) is within noise: after Holm's correction it is not "
            "clearly different from 0, so these runs do not show that the row is better or worse than the baseline."
        )
    return out


def _paired(report: Report) -> list[str]:
    head = ["## Paired comparisons against the baseline", ""]
    if report.paired.empty:
        return [*head, f"No row matches `--baseline {report.baseline}` in a group with other rows: no comparisons.", ""]
    return [
        *head,
        f"Baseline: `--baseline {report.baseline}`. Each row is matched with its group's baseline row on seed; the "
        "table gives the mean difference (row − baseline), its 95% CI and a paired t-test's p-value, computed on "
        "the same pairs (a seed missing on either side is dropped first), then Holm's correction over all "
        f"{int(report.paired['p'].notna().sum())} comparisons of this report. The verdict says better or worse only "
        "where the Holm-adjusted p is below 0.05 and the CI excludes 0. For the MSE, lower is better.",
        "",
        markdown(paired_display(report.paired)),
        "",
        *_plain_summary(report.paired),
        "",
        *_figure(report, "differences", "Differences from the baseline"),
    ]


def _replication(report: Report) -> list[str]:
    rep = report.replication
    if rep.empty:
        return []
    none = rep["n"].sum() == 0
    return [
        "## Replication of the source's table",
        "",
        "The source measured accuracy on training batches while training one more epoch, one run per cell. "
        "Ours: held-out test accuracy after the last epoch (mean over seeds, 95% CI), and — closest to the "
        "source's protocol — the mean accuracy on the training batches of the last epoch. Only runs with the "
        "source's settings (10 epochs, batch 256, lr 1e-4, s ~ U(0.2, 1.0), Keras init, the source's loss "
        "form, all fixed weights 1) are counted"
        + (": none of these runs has them, so only the source's numbers are shown." if none else "."),
        "",
        markdown(replication_display(rep)),
        "",
    ]


def _figures(report: Report) -> list[str]:
    lines = ["## Figures", ""]
    for name, alt in FIGURE_SECTION.items():
        lines += _figure(report, name, alt)
    return lines


def _left_out(report: Report) -> list[str]:
    lines = ["## Runs left out", ""]
    if not report.excluded:
        return [*lines, "None: every job folder held a completed run."]
    lines += ["| run | status | reason |", "|---|---|---|"]
    return lines + [f"| `{e.path}` | {e.status} | {e.reason.replace('|', '/')} |" for e in report.excluded]


def render(report: Report, sweeps: Sequence[Path]) -> str:
    """The text of report.md."""
    lines = _header(report, sweeps)
    for part in (_main, _selected, _paired, _replication, _figures, _left_out):
        lines += part(report)
    return "\n".join(lines) + "\n"
