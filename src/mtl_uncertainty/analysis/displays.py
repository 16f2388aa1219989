"""The report's tables as text: formatted numbers, Markdown and LaTeX."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

import pandas as pd

from .cells import axis_name
from .plotting import TASK_NAMES
from .tables import METRICS


def num(x: Any, digits: int = 4, sign: bool = False) -> str:
    """A number with `digits` decimals, or — when there is none."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if round(x, digits) == 0:
        x = 0.0  # no "-0.0000": a difference that rounds to nothing has no sign
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


TAG_START = re.compile(r"<(?=[A-Za-z!/?])")
"""Where `<` would open an HTML tag or comment (`<b>`, `<!--`, `</p>`); a `<` before a space or digit is text."""


def inline(value: object) -> str:
    """Text from a result.json as it may stand inside a line of Markdown: on one line (newlines, tabs and other
    control characters become spaces) and inert (no HTML tag or comment can open, so a label holding
    `<!-- end generated -->` cannot end a generated block)."""
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in str(value))
    return TAG_START.sub("&lt;", text)


def markdown(df: pd.DataFrame) -> str:
    """A Markdown table: every cell on one line and inert (`inline`), | in values written as /."""

    def cell(v: object) -> str:
        return inline(v).replace("|", "/")

    head = "| " + " | ".join(map(cell, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(map(cell, row)) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def latex(display: pd.DataFrame) -> str:
    """A booktabs LaTeX table of a display table."""

    def esc(text: object) -> str:
        return (
            str(text)
            .replace("\\", r"\textbackslash{}")
            .replace("_", r"\_")
            .replace("%", r"\%")
            .replace("&", r"\&")
            .replace("#", r"\#")
            .replace("±", r"$\pm$")
            .replace("Δ", r"$\Delta$")
            .replace("—", "--")
            .replace("−", "--")
        )

    lines = [r"% needs \usepackage{booktabs}", r"\begin{tabular}{" + "l" * len(display.columns) + "}", r"\toprule"]
    lines.append(" & ".join(esc(c) for c in display.columns) + r" \\")
    lines.append(r"\midrule")
    lines += [" & ".join(esc(v) for v in row) + r" \\" for row in display.itertuples(index=False)]
    lines += [r"\bottomrule", r"\end{tabular}", ""]
    return "\n".join(lines)


def metric_text(r: pd.Series | dict[str, Any], metric: str, seeds: int) -> str:
    """mean ± s.d. [95% CI] of one metric of a row; the number of seeds where it differs from the row's."""
    n = int(r[f"{metric}.n"])
    if n == 0:
        return "—"
    digits = 5 if "loss" in metric else 4
    mean = num(r[f"{metric}.mean"], digits)
    if n == 1:
        return f"{mean} (n = 1, no CI)"
    text = f"{mean} ± {num(r[f'{metric}.std'], digits)} [{num(r[f'{metric}.ci_lo'], digits)}, "
    text += f"{num(r[f'{metric}.ci_hi'], digits)}]"
    return text + (f" (n = {n})" if n != seeds else "")


def delta_text(r: pd.Series | dict[str, Any]) -> str:
    """Δm% with its 95% CI over seeds, or — without single-task baselines."""
    n = int(r["delta_m.n"])
    if n == 0:
        return "—"
    if n == 1:
        return f"{num(r['delta_m.mean'], 2, sign=True)} (n = 1)"
    lo, hi = num(r["delta_m.ci_lo"], 2, sign=True), num(r["delta_m.ci_hi"], 2, sign=True)
    return f"{num(r['delta_m.mean'], 2, sign=True)} [{lo}, {hi}]"


def n_text(r: pd.Series | dict[str, Any]) -> str:
    """Seeds, and the runs averaged into them where a seed has several."""
    seeds, runs = int(r["seeds"]), int(r["runs"])
    return str(seeds) if runs == seeds else f"{seeds} seeds; {runs} runs averaged"


def _present(summary: pd.DataFrame) -> list[str]:
    return [m for m in METRICS if f"{m}.n" in summary and summary[f"{m}.n"].max() > 0]


def summary_display(summary: pd.DataFrame, others: Sequence[str], ranks: bool = True) -> pd.DataFrame:
    """The main table: row, other axes, each metric, Δm%, mean rank and n."""
    out = pd.DataFrame({"method (settings)": summary["row"]})
    for a in others:
        out[axis_name(a)] = summary[axis_name(a)]
    for metric in _present(summary):
        out[f"test {METRICS[metric][0]}: mean ± s.d. [95% CI]"] = [
            metric_text(r, metric, int(r["seeds"])) for _, r in summary.iterrows()
        ]
    if "learned.cls3.n" in summary:
        tasks = learned_tasks(summary)
        head = "/".join(LEARNED_NAMES[t] for t in tasks)
        out[f"learned ({head})"] = [learned_text(r, tasks) for _, r in summary.iterrows()]
    out["Δm% [95% CI]"] = [delta_text(r) for _, r in summary.iterrows()]
    if ranks and "rank.mean" in summary:
        out["mean rank"] = [num(x, 2) for x in summary["rank.mean"]]
    out["n"] = [n_text(r) for _, r in summary.iterrows()]
    return out


LEARNED_NAMES = {"cls3": "3-class", "cls10": "10-class", "recon": "recon"}


def learned_tasks(summary: pd.DataFrame) -> list[str]:
    """The tasks some row of the summary trains (whose learned counts the table shows)."""
    return [t for t in LEARNED_NAMES if f"learned.{t}.n" in summary and summary[f"learned.{t}.n"].max() > 0]


def learned_text(r: pd.Series | dict[str, Any], tasks: Sequence[str]) -> str:
    """How many of a row's seeds beat each task's floor: `10/10/0 of 10`; — for a task it does not train."""
    shown = [t for t in tasks if int(r[f"learned.{t}.n"]) > 0]
    if all(math.isnan(float(r[f"learned.{t}"])) for t in shown):
        return "— (no floors)"
    counts = {t: int(r[f"learned.{t}"]) if t in shown else None for t in tasks}
    totals = {int(r[f"learned.{t}.n"]) for t in shown}
    if len(totals) == 1:
        return "/".join("—" if c is None else str(c) for c in counts.values()) + f" of {totals.pop()}"
    return "/".join("—" if c is None else f"{c} of {int(r[f'learned.{t}.n'])}" for t, c in counts.items())


FLOOR_COLUMNS = (
    "floor.test.loss_recon",
    "floor.constant.test.loss_recon",
    "floor.test.acc_cls3",
    "floor.test.acc_cls10",
)


def floor_lines(summary: pd.DataFrame) -> list[str]:
    """The floors under the main table: one line for every group's (one per group where they differ), or why none."""
    if "floors.missing" not in summary:
        return []
    groups = summary.drop_duplicates("group")
    found = groups[groups["floors.missing"] == ""]
    distinct = list(dict.fromkeys(tuple(float(r[c]) for c in FLOOR_COLUMNS) for _, r in found.iterrows()))
    differ = len(distinct) > 1
    lines = []
    for _, r in groups.iterrows():
        values = tuple(float(r[c]) for c in FLOOR_COLUMNS)
        several = len(groups) > 1 and (bool(r["floors.missing"]) or differ)
        where = f", {inline(r['group'])}" if r["group"] and several else ""
        if r["floors.missing"]:
            lines.append(
                f"Floors{where}: not available: {inline(r['floors.missing'])}. Compute them with "
                "`python -m mtl_uncertainty.floors <sweep folder>` (it writes floors.json beside the runs) and make "
                "the report again."
            )
        elif values in distinct:
            distinct.remove(values)  # said once: every other group with these floors shares the line
            lines.append(
                f"Floors on the test split{where}: reconstruction MSE {num(values[0], 5)} predicting the mean "
                f"training image, {num(values[1], 5)} predicting the best constant; accuracy {num(values[2])} "
                f"(3-class) and {num(values[3])} (10-class) always predicting the most frequent class."
            )
    if len(found):
        lines.append(
            "The floors are fitted on the training split and measured on the test split (floors.json, written "
            "from the data files beside the runs). A seed learned a task if its test MSE is below the mean "
            "training image's, or its accuracy above the most frequent class's; `learned` counts them per row."
        )
    return lines


def selected_display(selected: pd.DataFrame, others: Sequence[str]) -> pd.DataFrame:
    """The selected-on-validation table: what was chosen from how many, and its test results."""
    out = pd.DataFrame({"method": selected["family"]})
    for a in others:
        out[axis_name(a)] = selected[axis_name(a)]
    out["selected on validation"] = selected["row"]
    out["validation objective"] = [
        f"{num(v)} (best of {int(c)}; next best {g:.2g} lower)"
        for v, c, g in zip(selected["val.objective.mean"], selected["candidates"], selected["runner_up_gap"])
    ]
    table = summary_display(selected, [], ranks=False).drop(columns="method (settings)")
    return pd.concat([out.reset_index(drop=True), table.reset_index(drop=True)], axis=1)


def interval_text(lo: float, hi: float, digits: int = 4) -> str:
    """[lo, hi], or (−∞, ∞) where the test could reject no shift at its level (too few pairs)."""
    if math.isinf(lo) or math.isinf(hi):
        return "(−∞, ∞)"
    return f"[{num(lo, digits, sign=True)}, {num(hi, digits, sign=True)}]"


def level_text(level: float) -> str:
    """The confidence of an interval drawn at test level `level`: 95%, 99.5%, 99.72%."""
    return f"{100 * (1 - level):.4g}%"


def paired_display(paired: pd.DataFrame) -> pd.DataFrame:
    """The paired comparisons: difference and the interval its verdict used, the sign-flip, t and TOST p-values,
    the detectable difference, which family, and the verdict."""
    out = pd.DataFrame({"row": paired["row"]})
    if paired["group"].astype(bool).any():
        out["group"] = paired["group"]
    out["baseline"] = paired["baseline"]
    out["metric"] = [f"test {METRICS[m][0]}" for m in paired["metric"]]
    out["pairs"] = paired["n"]
    out["row − baseline [CI, its level]"] = [
        f"{num(r.diff, 4, sign=True)} {interval_text(r.ci_lo, r.ci_hi)} {level_text(r.level)}"
        for r in paired.itertuples()
    ]
    out["sign-flip p"] = [num(p, 3) for p in paired["p_flip"]]
    out["paired t p"] = [num(p, 3) for p in paired["p_t"]]
    out["Holm p"] = [num(p, 3) for p in paired["p_holm"]]
    out["equivalence margin"] = [f"±{m:g}" for m in paired["margin"]]
    out["TOST p (Holm)"] = [num(p, 3) for p in paired["p_tost_holm"]]
    out["detectable (80% power)"] = [
        f"±{d:.2g}" if math.isfinite(d) else "none (too few seeds)" if d == math.inf else "—"
        for d in paired["detectable"]
    ]
    out["family"] = ["declared" if p else "exploratory" for p in paired["primary"]]
    out["verdict"] = paired["verdict"]
    return out


def _inside_text(inside: Any) -> str:
    return "—" if inside is None or inside != inside else ("inside" if inside else "outside")


def replication_display(rep: pd.DataFrame) -> pd.DataFrame:
    """The source's numbers against one run's 95% prediction interval of ours (its measure), and our test accuracy."""
    rows = []
    for r in rep.to_dict("records"):
        row = {"weighting": r["weighting"], "recon": r["recon"]}
        for m, name in (("acc_cls3", "3-class"), ("acc_cls10", "10-class")):
            lo, hi = r.get(f"train_running.{m}.pi_lo"), r.get(f"train_running.{m}.pi_hi")
            row[f"source {name}"] = f"{r[f'source.{m}']:.4f}"
            row[f"ours, train batches {name}: mean [95% PI of one run]"] = (
                f"{num(r[f'train_running.{m}'])} [{num(lo)}, {num(hi)}]"
            )
            row[f"source {name} in the PI"] = _inside_text(r.get(f"source.{m}.inside"))
        for m, name in (("acc_cls3", "3-class"), ("acc_cls10", "10-class")):
            row[f"ours, test {name} [95% CI]"] = (
                f"{num(r[f'test.{m}'])} [{num(r[f'test.{m}.ci_lo'])}, {num(r[f'test.{m}.ci_hi'])}]"
            )
        row["seeds"] = r["n"]
        rows.append(row)
    return pd.DataFrame(rows)


def _step_text(step: float) -> str:
    return str(int(step)) if float(step).is_integer() else f"{step:.1f}"


def _reach_text(r: pd.Series) -> str:
    text = f"reached {int(r['reached'])}/{int(r['runs'])}"
    return text + (f", median from step {_step_text(r['from_step_median'])}" if r["reached"] else "")


def equilibrium_display(equilibrium: pd.DataFrame) -> pd.DataFrame:
    """One row per cell, a column per task: "reached r/n, median from step k" (— where not recorded)."""
    cells = equilibrium.drop_duplicates("cell").set_index("cell")
    out = pd.DataFrame({"method (settings)": cells["row"]})
    if cells["group"].astype(bool).any():
        out["group"] = cells["group"]
    found = equilibrium.set_index(["cell", "task"])
    for task in (t for t in TASK_NAMES if t in set(equilibrium["task"])):
        out[f"{TASK_NAMES[task]}: s within δ of s_eq"] = [
            _reach_text(found.loc[(cell, task)]) if (cell, task) in found.index else "—" for cell in cells.index
        ]
    return out.reset_index(drop=True)
