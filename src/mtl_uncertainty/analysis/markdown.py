"""report.md: every table and figure of a report, with what each one means."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .cells import axis_name
from .code_versions import code_lines
from .compare import DEFAULT_MARGINS, KINDS_SHOWN
from .contents import Report
from .delta import CellBaseline
from .displays import (
    equilibrium_display,
    floor_lines,
    markdown,
    paired_display,
    replication_display,
    selected_display,
)
from .metric_figures import MIN_SPAN
from .plotting import BAND, LOG_SPAN
from .tables import METRICS

FIGURE_TEXT = {
    "final_accuracy": (
        "Final test metrics per row: the grey dots are the seeds, the black diamonds the mean with its 95% CI "
        "(no CI below 2 seeds). Each axis spans its data and at least {min_span:.0%} of its values, and states "
        "its range under it, so that a zoomed axis cannot make noise look like an effect; the differences figure "
        "shows each row against its baseline with the CI of the difference. Where floors.json has the floors of "
        "a row's data, dashed lines mark them (the mean training image's MSE, the most frequent class's accuracy; "
        "dotted: the best constant's MSE), and a floor beyond its axis is named under it."
    ),
    "differences": (
        "Each row minus its group's baseline ({baselines}), paired on seed: the mean difference and the sign-flip "
        "interval its verdict used (at Holm's level for a declared comparison, 95% for an exploratory one). Red "
        "line: no difference. Filled: a clear difference after Holm's correction; hollow: none shown (equivalent, "
        "not shown either way, or exploratory; the table says which)."
    ),
    "test_accuracy": (
        "Test accuracy after each epoch: one line per row, one panel per group and accuracy, one y-scale per "
        "accuracy ({band}); the dashed line, where floors.json has it, is the accuracy of always predicting the "
        "most frequent class."
    ),
    "weights": (
        "The effective weight on each task's loss against the training step, one panel per row, one y-scale in "
        "every panel ({band}). The scale is logarithmic when the weights span more than {log_span:g}× and none "
        "is negative (the title then says so), and a weight of 0 (a task the method does not train) is not drawn "
        "on it. Each task has its own colour, line style and marker, so that equal weights (λ = 1 for every task "
        "under fixed weights) stay told apart."
    ),
    "sigma_trajectories": (
        "σ and s against the training step, for the rows whose method records them (σ above s where a row has "
        "both), one y-scale per quantity ({band}). What each method records:"
    ),
    "equilibrium": (
        "s (solid) against s_eq (dashed), the value s would settle at for the current batch loss if the loss "
        "held still, for the rows whose method records both. s_eq follows each batch's noisy loss, so the dashed "
        "line is its trailing running mean over the last {span} steps (as the equilibrium table takes it); "
        "one y-scale ({band}). Each method's s and s_eq:"
    ),
}
"""What each figure shows, said beside it: the figures' own titles stay short."""
FIGURE_SECTION = {
    "test_accuracy": "Test accuracy per epoch",
    "weights": "Effective task weights",
    "sigma_trajectories": "sigma and s trajectories",
    "equilibrium": "s against its equilibrium",
}
DEFINED = {"sigma_trajectories": ("sigma", "s"), "equilibrium": ("s", "s_eq"), "weights": ("weight",)}
"""The recorded values each method defines in its own way, listed beside these figures."""
ON_THE_LOSS = "effective weight"
"""How the label of a weight on the task's loss starts: beside the weights figure only the other kinds are listed."""
OTHER_WEIGHTS = (
    "Where a method's weight is not on the task's loss (the methods that combine the tasks' gradients), it is:"
)


def _definitions(report: Report, name: str) -> list[str]:
    """Per method, what the values a figure draws are for it (the panels say only σ, s, s_eq)."""
    found: dict[str, str] = {}
    for run in report.runs:
        labels = (run.result.get("trajectory") or {}).get("labels") or {}
        shown = [labels[n] for n in DEFINED.get(name, ()) if n in labels]
        if name == "weights":
            shown = [label for label in shown if not label.startswith(ON_THE_LOSS)]
        if shown:
            found.setdefault(str(run.result["config"]["weighting"]["name"]), "; ".join(shown))
    if not found:
        return []
    intro = [OTHER_WEIGHTS] if name == "weights" else []
    return [*intro, *(f"- {method}: {text}" for method, text in sorted(found.items())), ""]


def _figure(report: Report, name: str, alt: str) -> list[str]:
    paths = report.figures.get(name)
    if not paths:
        return []
    baselines = " / ".join(sorted(set(report.paired["baseline"]))) if not report.paired.empty else ""
    note = FIGURE_TEXT[name].format(
        min_span=MIN_SPAN, baselines=baselines, band=BAND, log_span=LOG_SPAN, span=report.rule.window
    )
    return [note, "", *_definitions(report, name), f"![{alt}]({paths[0].name})", ""]


def _options(report: Report) -> str:
    """The options this report was made with, as the command line spells them."""
    margins = ",".join(f"{k}={v:g}" for k, v in report.margins.items())
    return (
        f"`--baseline {report.baseline} --margin {margins} --eq-delta {report.rule.delta:g} "
        f"--eq-window {report.rule.window}`"
    )


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
        f"Options: {_options(report)} (each is explained in its section).",
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
        *[line for text in floor_lines(report.summary) for line in (text, "")],
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
    shown = paired[paired["kind"].isin(KINDS_SHOWN)]
    short = paired[paired["kind"] == "too few"]
    unclear = paired[paired["kind"] == "unclear"]
    exploratory = paired[paired["kind"] == "exploratory"]
    out = [f"- {r.cell}, test {METRICS[r.metric][0]}: {r.verdict}." for r in shown.itertuples()]
    if len(short):
        out.append(f"- {len(short)} of {len(paired)} comparisons have fewer than 2 paired seeds: no verdict.")
    if len(unclear):
        out.append(
            f"- {len(unclear)} of {len(paired)} comparisons are not shown either way: after Holm's correction the "
            "difference is not clearly away from 0, and the TOST does not place it within its margin. These runs show "
            "neither that the row differs from the baseline nor that it matches it; each says how large a difference "
            "its seeds would have found."
        )
    if len(exploratory):
        out.append(f"- {len(exploratory)} of {len(paired)} comparisons are exploratory: outside the declared question.")
    return out


def _family_text(report: Report) -> str:
    """Which comparisons form the corrected family, and how many tests Holm's correction ran over."""
    paired = report.paired
    primary = paired[paired["primary"] & paired["p_flip"].notna()]
    if report.primary is None:
        scope = "Every comparison of this report is in the family (no question was declared)"
    elif not report.primary:
        scope = "No question was declared for these comparisons: every one is exploratory"
    else:
        scope = f"The declared question: {', '.join(f'`{p}`' for p in report.primary)} against the baseline"
    if primary.empty:
        return scope + "; no declared comparison has 2 paired seeds, so Holm's correction has nothing to correct."
    return (
        f"{scope}; Holm's correction runs over the {2 * len(primary)} tests (difference and TOST) of its "
        f"{len(primary)} comparisons with 2 or more paired seeds, and every other comparison is exploratory: its "
        "p-values are uncorrected and it gets no verdict."
    )


def _margins_text(margins: dict[str, float]) -> str:
    used = ", ".join(f"{METRICS[f'test.{k}'][0]} ±{v:g}" for k, v in margins.items())
    defaults = "one accuracy point; about 5% of the MSE"
    origin = (
        f"These are the defaults ({defaults}); `--margin metric=m[,...]` changes them."
        if margins == DEFAULT_MARGINS
        else "Set with `--margin`; the defaults are "
        + ", ".join(f"{k} ±{v:g}" for k, v in DEFAULT_MARGINS.items())
        + f" ({defaults})."
    )
    return (
        f"Equivalence margins m: {used}. {origin} A margin says how large a difference would matter; it is chosen "
        "before the results are seen, never fitted to them."
    )


def _paired(report: Report) -> list[str]:
    head = ["## Paired comparisons against the baseline", ""]
    if report.paired.empty:
        return [*head, f"No row matches `--baseline {report.baseline}` in a group with other rows: no comparisons.", ""]
    return [
        *head,
        f"Baseline: `--baseline {report.baseline}`. Each row is matched with its group's baseline row on seed (a "
        f"seed missing on either side is dropped first). {_family_text(report)} The exact sign-flip test decides "
        "(why, and the rest of the method: the suite's docs/report.md, “Paired comparisons”); "
        "the paired t-test's p stands beside it. The interval is the sign-flip test's at the level Holm tested that "
        "comparison at, so it excludes 0 exactly when the verdict is better or worse; the detectable difference is "
        "the smallest the sign-flip test at that level finds with 80% power, for normal differences with these "
        "seeds' spread.",
        "",
        _margins_text(report.margins),
        "",
        markdown(paired_display(report.paired)),
        "",
        *_plain_summary(report.paired),
        "",
        *_figure(report, "differences", "Differences from the baseline"),
    ]


def _equilibrium(report: Report) -> list[str]:
    head = ["## s and its equilibrium", ""]
    if report.equilibrium.empty:
        return [*head, "No run here records s and s_eq (fixed weights do not): nothing to show.", ""]
    delta, window = report.rule.delta, report.rule.window
    return [
        *head,
        "For the rows whose method records s and s_eq, the value s would settle at for that step's loss "
        "(result.json `trajectory.values`). s_eq follows each batch's noisy loss, so it is smoothed first: a "
        f"trailing running mean over the last w = {window} training steps (the last ⌈w / every⌉ recorded points, "
        "fewer at the start; the dashed line of the equilibrium figure). A run reached the equilibrium if "
        f"|s − smoothed s_eq| ≤ δ = {delta:g} at its last recorded step; its from-step is the first step of the "
        "final uninterrupted stretch of recorded points within δ. Each entry gives how many runs reached it (of the "
        "runs that record s and s_eq for the task) and the median from-step over those that did; — : the task is "
        "not active or not recorded. `--eq-delta` and `--eq-window` change δ and w.",
        "",
        markdown(equilibrium_display(report.equilibrium)),
        "",
    ]


def _replication(report: Report) -> list[str]:
    rep = report.replication
    if rep.empty:
        return []
    none = rep["n"].sum() == 0
    return [
        "## Replication of the source's table",
        "",
        "The source measured accuracy on training batches while training one more epoch, one run per cell. So its "
        "number is placed against the 95% prediction interval of one run of ours on the closest measure we have, "
        "the running accuracy on the last epoch's training batches (mean ± t·s·√(1 + 1/n) over seeds: where a "
        "single new run would fall); “inside” means the source's single run is what this replication predicts for "
        "one run. Held-out test accuracy (mean over seeds, 95% CI) stands beside it. Only runs with the source's "
        "settings (10 epochs, batch 256, lr 1e-4, s ~ U(0.2, 1.0), Keras init, the source's loss form, all fixed "
        "weights 1) on the verified MNIST files are counted"
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


def _code(report: Report) -> list[str]:
    return code_lines(report.table)


def _left_out(report: Report) -> list[str]:
    lines = ["## Runs left out", ""]
    if not report.excluded:
        return [*lines, "None: every job folder held a completed run."]
    lines += ["| run | status | reason |", "|---|---|---|"]
    return lines + [f"| `{e.path}` | {e.status} | {e.reason.replace('|', '/')} |" for e in report.excluded]


def render(report: Report, sweeps: Sequence[Path]) -> str:
    """The text of report.md."""
    lines = _header(report, sweeps)
    for part in (_main, _selected, _paired, _equilibrium, _replication, _figures, _code, _left_out):
        lines += part(report)
    return "\n".join(lines) + "\n"
