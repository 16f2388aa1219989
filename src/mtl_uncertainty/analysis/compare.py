"""Paired comparisons of every row against a chosen baseline row, with Holm's correction over the report.

The baseline is chosen with a selector on config keys, `key=value[,key=value]` (`weighting` is the
method, `weighting.name`; a setting may be named as in the row labels, e.g. `lr`, `weights.cls3`),
or `best:<selector>` for the cell of those that is best on the validation split. In each group of
the other axes, every other row is paired with the baseline on seed, per metric.

Each comparison asks two questions on the same pairs: is the row different from the baseline (the
paired t-test), and is it the same within a stated margin (the paired TOST, against
`DEFAULT_MARGINS` or `--margin`)? Each family of p-values gets Holm's correction over the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .cells import axis_name, find_axes, setting_name, value_text
from .errors import BaselineError, ReportError
from .selection import best_cell
from .stats import Paired, equivalent, holm, paired, significant, tost_p
from .tables import METRICS

DEFAULT_BASELINE = "weighting=fixed"
DEFAULT_MARGINS = {"acc_cls3": 0.01, "acc_cls10": 0.01, "loss_recon": 0.02}
"""Equivalence margins of the TOST, per test metric: one accuracy point; about 5% of the reconstruction
MSE (0.4–0.7 on MNIST). Stated before the results are seen; `--margin` changes them."""


@dataclass(frozen=True)
class Selector:
    """A parsed `--baseline`: config key/value pairs, and whether to take the best on validation."""

    text: str
    best: bool
    pairs: tuple[tuple[str, str], ...]


def parse_selector(text: str) -> Selector:
    """`weighting=fixed`, `weighting=fixed,weights.cls3=2`, `best:weighting=fixed` → a Selector."""
    body = text.strip()
    best = body.startswith("best:")
    body = body.removeprefix("best:")
    parts = [p.strip() for p in body.split(",") if p.strip()]
    if not parts or any("=" not in p for p in parts):
        raise BaselineError(
            f"--baseline {text!r} is not key=value[,key=value] (e.g. weighting=fixed, or best:weighting=fixed)"
        )
    return Selector(text, best, tuple(tuple(p.split("=", 1)) for p in parts))  # type: ignore[misc]


def _column(key: str, columns: Sequence[str]) -> str:
    for col in (f"config.{key}", f"config.{key}.name", f"config.weighting.{key}"):
        if col in columns:
            return col
    known = sorted({axis_name(c) for c in columns if c.startswith("config.")})
    raise BaselineError(f"--baseline names {key!r}, which is no config key of these runs (keys: {', '.join(known)})")


def _equal(value: Any, wanted: str) -> bool:
    if value_text(value) == wanted:
        return True
    try:
        return float(value) == float(wanted)
    except (TypeError, ValueError):
        return False


def matching_cells(table: pd.DataFrame, selector: Selector) -> set[str]:
    """The cells with a run whose config has every key=value of the selector."""
    mask = pd.Series(True, index=table.index)
    for key, wanted in selector.pairs:
        mask &= table[_column(key, list(table.columns))].map(lambda v, w=wanted: _equal(v, w))
    return set(table.loc[mask, "cell"])


def _narrowing(table: pd.DataFrame, cells: Sequence[str]) -> str:
    """One key=value that tells the first of `cells` from the others (for the error message)."""
    rows = table[table["cell"].isin(cells)].drop_duplicates("cell").set_index("cell")
    for col in find_axes(table):
        if rows[col].map(value_text).nunique() >= 2:
            return f"{setting_name(col)}={value_text(rows.loc[cells[0], col])}"
    return ""


def _ambiguous(selector: Selector, group: str, cells: list[str], table: pd.DataFrame) -> BaselineError:
    where = f" in group {group}" if group else ""
    hint = _narrowing(table, cells)
    return BaselineError(
        f"--baseline {selector.text} matches {len(cells)} rows{where}: {'; '.join(cells)}. Name one: add the setting "
        f"that tells them apart (e.g. --baseline {selector.text},{hint}), or take the one best on the validation "
        f"split (--baseline best:{selector.text})."
    )


def baseline_cells(
    summary: pd.DataFrame, table: pd.DataFrame, selector: Selector, required: bool = True
) -> dict[str, str]:
    """The baseline cell of each group that has one (group label → cell).

    `required`: a selector that matches no row at all is an error (else there are no comparisons).
    """
    matched = matching_cells(table, selector)
    if not matched and required:
        rows = "; ".join(dict.fromkeys(summary["row"]))
        raise BaselineError(f"--baseline {selector.text} matches no row. The rows are: {rows}.")
    chosen = {}
    for group, rows in summary.groupby("group", sort=False):
        candidates = rows[rows["cell"].isin(matched)]
        if candidates.empty:
            continue
        if selector.best:
            cell = best_cell(candidates)
            if cell is None:
                raise BaselineError(
                    f"--baseline {selector.text}: no run of {'; '.join(candidates['cell'])} has validation metrics; "
                    "best: needs runs with a validation split (data.val_size > 0)"
                )
            chosen[group] = cell
        elif len(candidates) > 1:
            raise _ambiguous(selector, group, list(candidates["cell"]), table)
        else:
            chosen[group] = str(candidates["cell"].iloc[0])
    return chosen


def _margin_error(text: str, problem: str) -> ReportError:
    defaults = ", ".join(f"{k}={v:g}" for k, v in DEFAULT_MARGINS.items())
    return ReportError(
        f"--margin {text!r}: {problem}. Give metric=margin pairs, comma-separated, each margin a number above 0 "
        f"in the metric's own units (e.g. --margin acc_cls10=0.005,loss_recon=0.01); the metrics and their "
        f"defaults are {defaults}, and a metric not named keeps its default."
    )


def _is_margin(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < math.inf


def margins_for(chosen: Mapping[str, float] | None = None, given: str | None = None) -> dict[str, float]:
    """The margin of every metric: the defaults with the chosen ones in their place (unknown or bad ones refused).

    `given`: the text the margins were parsed from, for the error message.
    """
    chosen = dict(chosen or {})
    text = given if given is not None else ",".join(f"{k}={v}" for k, v in chosen.items())
    unknown = sorted(set(chosen) - set(DEFAULT_MARGINS))
    if unknown:
        raise _margin_error(text, f"{', '.join(unknown)} is no metric of the report")
    bad = [f"{k}={v}" for k, v in chosen.items() if not _is_margin(v)]
    if bad:
        raise _margin_error(text, f"{', '.join(bad)} is not a margin above 0")
    return {**DEFAULT_MARGINS, **{k: float(v) for k, v in chosen.items()}}


def parse_margins(text: str) -> dict[str, float]:
    """`acc_cls10=0.005,loss_recon=0.01` → the margin of every metric (the others keep their defaults)."""
    chosen: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, _, value = part.partition("=")
        try:
            chosen[name.strip()] = float(value)
        except ValueError:
            raise _margin_error(text, f"{part!r} is not metric=number") from None
    return margins_for(chosen, text)


def verdict(metric: str, result: Paired, p_holm: float, baseline: str, margin: float, p_tost_holm: float) -> str:
    """A plain verdict: a difference (Holm p and 95% CI), equivalence within ±margin (TOST Holm p), both, or neither."""
    e = result.diff
    if e.n < 2:
        return "too few paired seeds to tell"
    within = f"within ±{margin:g}"
    same = equivalent(e, p_tost_holm)
    if significant(e, p_holm):
        better = (e.mean > 0) == (METRICS[metric][1] > 0)
        text = f"{'better' if better else 'worse'} than {baseline} by {abs(e.mean):.4g}"
        if same:
            return f"{text}, {within} (Holm p = {p_holm:.2g}; TOST Holm p = {p_tost_holm:.2g})"
        return f"{text} (Holm p = {p_holm:.2g})"
    if same:
        return f"equivalent {within} (TOST Holm p = {p_tost_holm:.2g})"
    return f"not shown either way (Holm p = {p_holm:.2g}; TOST Holm p = {p_tost_holm:.2g} for ±{margin:g})"


def _pairs(seeds: pd.DataFrame, cell: str, base: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    mine = seeds[seeds["cell"] == cell].set_index("seed")
    ref = seeds[seeds["cell"] == base].set_index("seed")
    common = mine.index.intersection(ref.index)
    return mine.loc[common], ref.loc[common]


def _compare(seeds: pd.DataFrame, cell: str, base: str, margins: Mapping[str, float]) -> list[dict[str, Any]]:
    mine, ref = _pairs(seeds, cell, base)
    rows = []
    for metric in METRICS:
        if metric not in seeds or mine[metric].isna().all() or ref[metric].isna().all():
            continue
        result = paired(mine[metric], ref[metric])
        e, margin = result.diff, margins[metric.removeprefix("test.")]
        rows.append({"metric": metric, "n": e.n, "diff": e.mean, "ci_lo": e.lo, "ci_hi": e.hi, "p": result.p})
        rows[-1].update(margin=margin, p_tost=tost_p(e, margin), paired=result)
    return rows


def paired_table(
    seeds: pd.DataFrame, baselines: dict[str, str], margins: Mapping[str, float] = DEFAULT_MARGINS
) -> pd.DataFrame:
    """Every row minus its group's baseline row, paired on seed, per metric: the difference test and the TOST
    within the metric's margin, each with raw and Holm-adjusted p (Holm over each family separately)."""
    labels = dict(zip(seeds["cell"], seeds["row"]))
    rows = []
    for group, base in baselines.items():
        for cell in dict.fromkeys(seeds.loc[seeds["group"] == group, "cell"]):
            if cell != base:
                for r in _compare(seeds, cell, base, margins):
                    head = {"group": group, "cell": cell, "row": labels[cell], "baseline": labels[base]}
                    rows.append(head | {"baseline_cell": base} | r)
    if not rows:
        return pd.DataFrame()
    results = [r.pop("paired") for r in rows]
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out["p"])
    out["p_tost_holm"] = holm(out["p_tost"])
    out["verdict"] = [
        verdict(r.metric, result, r.p_holm, r.baseline, r.margin, r.p_tost_holm)
        for r, result in zip(out.itertuples(), results)
    ]
    return out
