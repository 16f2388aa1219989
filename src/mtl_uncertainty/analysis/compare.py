"""Paired comparisons of every row against a chosen baseline row, with Holm's correction over the report.

The baseline is chosen with a selector on config keys, `key=value[,key=value]` (`weighting` is the
method, `weighting.name`; a setting may be named as in the row labels, e.g. `lr`, `weights.cls3`),
or `best:<selector>` for the cell of those that is best on the validation split. In each group of
the other axes, every other row is paired with the baseline on seed, per metric.

Each comparison asks two questions on the same pairs: is the row different from the baseline, and is
it the same within a stated margin (the TOST, against `DEFAULT_MARGINS` or `--margin`)? Both are
answered by the exact sign-flip test over seeds, which needs no normality (the paired t-test's p stands
beside it). A study declares its question (`primary`): the comparisons of those rows form one family,
both tests of each, with Holm's correction; the other comparisons are exploratory and claim nothing.
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
from .stats import (
    ALPHA,
    detectable_difference,
    differences,
    estimate,
    holm,
    holm_levels,
    paired,
    sign_flip,
    sign_flip_interval,
    sign_flip_tost,
)
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


@dataclass(frozen=True)
class Verdict:
    """What one comparison shows, as a value: its kind, and whether a difference is also within the margin."""

    kind: str  # better | worse | equivalent | unclear | too few | exploratory
    also_equivalent: bool = False  # a better/worse difference that the TOST also places within ±margin


KINDS_SHOWN = ("better", "worse", "equivalent")
"""The kinds of verdict that claim something: a difference, equivalence within the margin, or both."""


def judge(metric: str, n: int, diff: float, primary: bool, p_holm: float, p_tost_holm: float) -> Verdict:
    """The verdict of one comparison from its Holm-adjusted sign-flip p-values (exploratory ones claim nothing)."""
    if n < 2:
        return Verdict("too few")
    if not primary:
        return Verdict("exploratory")
    same = p_tost_holm < ALPHA
    if p_holm < ALPHA:
        better = (diff > 0) == (METRICS[metric][1] > 0)
        return Verdict("better" if better else "worse", same)
    return Verdict("equivalent" if same else "unclear")


def verdict_text(r: Any) -> str:
    """The verdict of a paired-table row in words, with the numbers it rests on."""
    v = Verdict(r.kind, bool(r.also_equivalent))
    within = f"within ±{r.margin:g}"
    if v.kind == "too few":
        return "too few paired seeds to tell"
    if v.kind == "exploratory":
        return (
            f"exploratory, not corrected (sign-flip p = {r.p_flip:.2g}; TOST p = {r.p_flip_tost:.2g} for ±{r.margin:g})"
        )
    if v.kind in ("better", "worse"):
        text = f"{v.kind} than {r.baseline} by {abs(r.diff):.4g}"
        if v.also_equivalent:
            return f"{text}, {within} (Holm p = {r.p_holm:.2g}; TOST Holm p = {r.p_tost_holm:.2g})"
        return f"{text} (Holm p = {r.p_holm:.2g})"
    if v.kind == "equivalent":
        return f"equivalent {within} (TOST Holm p = {r.p_tost_holm:.2g})"
    found = (
        f"these seeds would find ±{r.detectable:.2g} with 80% power"
        if math.isfinite(r.detectable)
        else "too few seeds for the sign-flip test to find any difference at this level"
    )
    return (
        f"not shown either way (Holm p = {r.p_holm:.2g}; TOST Holm p = {r.p_tost_holm:.2g} for ±{r.margin:g}; {found})"
    )


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
        d = differences(mine[metric], ref[metric])
        e, margin = estimate(d), margins[metric.removeprefix("test.")]
        rows.append(
            {"metric": metric, "n": e.n, "diff": e.mean, "std": e.std, "p_t": paired(mine[metric], ref[metric]).p}
        )
        rows[-1].update(margin=margin, p_flip=sign_flip(d), p_flip_tost=sign_flip_tost(d, margin), d=d)
    return rows


def _family(out: pd.DataFrame) -> pd.DataFrame:
    """Holm over the primary comparisons' sign-flip and TOST p-values together (one family), and the level
    each difference was tested at: its interval and its detectable difference are drawn at that level."""
    primary = out["primary"].to_numpy()
    p = [*out.loc[primary, "p_flip"], *out.loc[primary, "p_flip_tost"]]
    adjusted, levels = holm(p), holm_levels(p)
    k = int(primary.sum())
    out["p_holm"], out["p_tost_holm"], out["level"] = math.nan, math.nan, ALPHA
    out.loc[primary, "p_holm"], out.loc[primary, "p_tost_holm"] = adjusted[:k], adjusted[k:]
    out.loc[primary, "level"] = [x if not math.isnan(x) else ALPHA for x in levels[:k]]
    return out


def paired_table(
    seeds: pd.DataFrame,
    baselines: dict[str, str],
    margins: Mapping[str, float] = DEFAULT_MARGINS,
    primary: set[str] | None = None,
) -> pd.DataFrame:
    """Every row minus its group's baseline row, paired on seed, per metric.

    `primary`: the cells whose comparisons are the study's declared question (None: every compared cell). Their
    exact sign-flip p-values, of the difference and of the TOST within the metric's margin, form one family with
    Holm's correction; every other comparison is exploratory (raw p-values, no verdict). The paired t-test's p
    stands beside. Each interval is the sign-flip test's, at the level its comparison was tested at.
    """
    labels = dict(zip(seeds["cell"], seeds["row"]))
    rows = []
    for group, base in baselines.items():
        for cell in dict.fromkeys(seeds.loc[seeds["group"] == group, "cell"]):
            if cell != base:
                for r in _compare(seeds, cell, base, margins):
                    head = {"group": group, "cell": cell, "row": labels[cell], "baseline": labels[base]}
                    rows.append(head | {"baseline_cell": base, "primary": primary is None or cell in primary} | r)
    if not rows:
        return pd.DataFrame()
    diffs = [r.pop("d") for r in rows]
    out = _family(pd.DataFrame(rows))
    bounds = [sign_flip_interval(d, level) for d, level in zip(diffs, out["level"])]
    out["ci_lo"], out["ci_hi"] = [b[0] for b in bounds], [b[1] for b in bounds]
    out["detectable"] = [detectable_difference(r.std, r.n, r.level) for r in out.itertuples()]
    verdicts = [judge(r.metric, r.n, r.diff, r.primary, r.p_holm, r.p_tost_holm) for r in out.itertuples()]
    out["kind"] = [v.kind for v in verdicts]
    out["also_equivalent"] = [v.also_equivalent for v in verdicts]
    out["verdict"] = [verdict_text(r) for r in out.itertuples()]
    return out
