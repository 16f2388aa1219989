"""The report: tables (Markdown, CSV, LaTeX) and figures for one or more sweeps.

`make_report(sweeps, out_dir)` reads only the runs' result.json files and writes report.md,
results.csv, summary.csv, summary.tex and the PNG figures into `out_dir`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import figures
from .runs import Excluded, Run, load_runs, runs_table
from .stats import METRICS, axis_name, cells, find_axes, paired_table, replication_table, summary_table


class NoRunsError(RuntimeError):
    """There is nothing to report on."""


@dataclass
class Report:
    out_dir: Path
    runs: list[Run]
    excluded: list[Excluded]
    table: pd.DataFrame  # one row per usable run
    axes: list[str]
    summary: pd.DataFrame
    paired: pd.DataFrame
    replication: pd.DataFrame
    figures: list[Path]

    def main_table_text(self) -> str:
        return _markdown(_summary_display(self.summary))


def _num(x: float, digits: int = 4) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _markdown(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _summary_display(summary: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"cell": summary["cell"]})
    for metric, (name, _) in METRICS.items():
        if summary[f"{metric}.n"].max() == 0:
            continue
        digits = 5 if "loss" in metric else 4
        out[f"test {name}: mean ± s.d. [95% CI]"] = [
            "—"
            if r[f"{metric}.n"] == 0
            else f"{_num(r[f'{metric}.mean'], digits)} ± {_num(r[f'{metric}.std'], digits)} "
            f"[{_num(r[f'{metric}.ci_lo'], digits)}, {_num(r[f'{metric}.ci_hi'], digits)}]"
            for _, r in summary.iterrows()
        ]
    out["seeds"] = summary["test.acc_cls3.n"]
    return out


def _paired_display(paired: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cell": paired["cell"],
            "learnable": paired["learnable"],
            "fixed": paired["fixed"],
            "metric": [f"test {METRICS[m][0]}" for m in paired["metric"]],
            "pairs": paired["n"],
            "learnable − fixed [95% CI]": [
                f"{r.diff:+.4f} [{_num(r.ci_lo)}, {_num(r.ci_hi)}]" for r in paired.itertuples()
            ],
            "p (paired t)": [_num(p, 3) for p in paired["p"]],
            "verdict": paired["verdict"],
        }
    )


def _replication_display(rep: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for r in rep.to_dict("records"):
        rows.append(
            {
                "learnable": r["learnable"],
                "reconstruct": r["reconstruct"],
                "source 3-class": f"{r['source.acc_cls3']:.4f}",
                "source 10-class": f"{r['source.acc_cls10']:.4f}",
                "ours test 3-class [95% CI]": f"{_num(r['test.acc_cls3'])} [{_num(r['test.acc_cls3.ci_lo'])}, "
                f"{_num(r['test.acc_cls3.ci_hi'])}]",
                "ours test 10-class [95% CI]": f"{_num(r['test.acc_cls10'])} [{_num(r['test.acc_cls10.ci_lo'])}, "
                f"{_num(r['test.acc_cls10.ci_hi'])}]",
                "ours train batches 3-class / 10-class": f"{_num(r['train_running.acc_cls3'])} / "
                f"{_num(r['train_running.acc_cls10'])}",
                "seeds": r["n"],
            }
        )
    return pd.DataFrame(rows)


def _latex(display: pd.DataFrame) -> str:
    def esc(text: object) -> str:
        return (
            str(text)
            .replace("\\", r"\textbackslash{}")
            .replace("_", r"\_")
            .replace("%", r"\%")
            .replace("&", r"\&")
            .replace("#", r"\#")
            .replace("±", r"$\pm$")
            .replace("—", "--")
        )

    lines = [r"% needs \usepackage{booktabs}", r"\begin{tabular}{" + "l" * len(display.columns) + "}", r"\toprule"]
    lines.append(" & ".join(esc(c) for c in display.columns) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(esc(v) for v in row) + r" \\" for row in display.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def _plain_summary(paired: pd.DataFrame) -> list[str]:
    """What the paired comparisons show, in plain words: the clear differences, then the rest."""
    clear = paired[paired["verdict"].str.startswith("learnable ")]
    short = paired[paired["verdict"].str.startswith("too few")]
    out = [
        f"- {r.cell}, {r.learnable} vs {r.fixed}, test {METRICS[r.metric][0]}: {r.verdict}." for r in clear.itertuples()
    ]
    rest = len(paired) - len(clear) - len(short)
    if len(short):
        out.append(f"- {len(short)} of {len(paired)} comparisons have fewer than 2 paired seeds: no verdict.")
    if rest:
        every = "Every" if not len(clear) else "Every other"
        out.append(
            f"- {every} difference ({rest} of {len(paired)}) is within noise: its 95% CI includes 0 "
            "(or p ≥ 0.05), so these runs do not show that learning the weights helps or hurts there."
        )
    return out


def make_report(sweeps: Sequence[Path], out_dir: Path) -> Report:
    """Read every run under `sweeps` and write the report into `out_dir`."""
    runs, excluded = load_runs(sweeps)
    if not runs:
        where = ", ".join(str(s) for s in sweeps)
        detail = f" ({len(excluded)} job folder(s) without a usable result)" if excluded else ""
        raise NoRunsError(f"No completed runs under {where}{detail}; nothing to report.")
    out_dir.mkdir(parents=True, exist_ok=True)
    table = runs_table(runs)
    axes = find_axes(table)
    summary = summary_table(table, axes)
    paired = paired_table(table, axes)
    replication = replication_table(table) if "config.weighting.name" in table else pd.DataFrame()
    by_path = {str(r.path): r for r in runs}
    cell_runs = [(label, [by_path[p] for p in group["path"]]) for label, group in cells(table, axes)]
    made = [
        figures.final_accuracy_bars(summary, out_dir / "final_accuracy.png"),
        figures.test_accuracy_per_epoch(cell_runs, out_dir / "test_accuracy.png"),
        figures.sigma_trajectories(cell_runs, out_dir / "sigma_trajectories.png"),
        figures.weight_trajectories(cell_runs, out_dir / "weights.png"),
        figures.equilibrium(cell_runs, out_dir / "equilibrium.png"),
    ]
    report = Report(out_dir, runs, excluded, table, axes, summary, paired, replication, [f for f in made if f])
    table.to_csv(out_dir / "results.csv", index=False)
    summary.to_csv(out_dir / "summary.csv", index=False)
    (out_dir / "summary.tex").write_text(_latex(_summary_display(summary)))
    (out_dir / "report.md").write_text(_render(report, sweeps))
    return report


def _render(report: Report, sweeps: Sequence[Path]) -> str:
    devices = sorted({str(g) for g in report.table["gpu"].dropna()} or {"CPU"})
    counts = pd.Series([e.status for e in report.excluded]).value_counts().to_dict() if report.excluded else {}
    lines = [
        "# Uncertainty weighting vs fixed weights: report",
        "",
        f"Sweeps: {', '.join(f'`{s}`' for s in sweeps)}. Runs used: {len(report.runs)}"
        + (f"; left out: {len(report.excluded)} ({', '.join(f'{n} {s}' for s, n in counts.items())})" if counts else "")
        + f". Device: {', '.join(devices)}.",
        "",
        "Cells are the combinations of the config values that vary across the runs "
        f"({', '.join(axis_name(a) for a in report.axes) or 'none'}); each is summarised over its seeds "
        "with the mean, the sample standard deviation and a 95% Student-t confidence interval of the mean. "
        "Accuracies and the reconstruction MSE are measured on the 10,000 held-out test images after the last epoch.",
        "",
        "## Main table",
        "",
        report.main_table_text(),
        "",
        "![Final test accuracy](final_accuracy.png)",
        "",
    ]
    if not report.paired.empty:
        lines += [
            "## Learnable minus fixed, paired on seed",
            "",
            "Each learnable run is matched with the fixed run of the same seed and the same values of every "
            "other axis; the table gives the mean difference, its 95% CI and a paired t-test's p-value. "
            "For the MSE, lower is better.",
            "",
            _markdown(_paired_display(report.paired)),
            "",
            *_plain_summary(report.paired),
            "",
        ]
    if not report.replication.empty:
        none = report.replication["n"].sum() == 0
        lines += [
            "## Replication of the source's table",
            "",
            "The source measured accuracy on training batches while training one more epoch, one run per cell. "
            "Ours: held-out test accuracy after the last epoch (mean over seeds, 95% CI), and — closest to the "
            "source's protocol — the mean accuracy on the training batches of the last epoch. Only runs with the "
            "source's settings (10 epochs, batch 256, lr 1e-4, s ~ U(0.2, 1.0), Keras init, the source's loss "
            "form) are counted"
            + (": none of these runs has them, so only the source's numbers are shown." if none else "."),
            "",
            _markdown(_replication_display(report.replication)),
            "",
        ]
    lines += [
        "## Figures",
        "",
        "![Test accuracy per epoch](test_accuracy.png)",
        "",
        "![sigma and s trajectories](sigma_trajectories.png)",
        "",
        "![Effective task weights](weights.png)",
        "",
    ]
    if any(f.name == "equilibrium.png" for f in report.figures):
        lines += [
            "With the loss L held fixed, the learnable objective c·exp(−s)·L + s/2 is smallest at "
            "s* = log(2cL): log L in the source's form (c = ½), log 2L for classification in the paper's form. "
            "The dashed lines use an exponential running mean of the batch loss.",
            "",
            "![s against its equilibrium](equilibrium.png)",
            "",
        ]
    lines += ["## Runs left out", ""]
    if report.excluded:
        lines += ["| run | status | reason |", "|---|---|---|"]
        lines += [f"| `{e.path}` | {e.status} | {e.reason.replace('|', '/')} |" for e in report.excluded]
    else:
        lines.append("None: every job folder held a completed run.")
    return "\n".join(lines) + "\n"
