"""The tables of the README and docs/results.md, written by the report's own code from the committed results.

A page marks each generated table with two HTML comments, invisible on a code-hosting site:

    <!-- generated: core/summary -->
    ...the table...
    <!-- end generated -->

`core/summary` names a study (a folder under `results/` and how its report is made: `STUDIES`) and
a table of its report (`TABLES`). `refresh(text, root)` rewrites every marked block from the
results under `root`; `stale(text, root)` names the blocks whose text differs, which is what the
test of the pages checks. Nothing here is typed by hand: a number on a page comes from a
result.json through this code.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..storage.result_schema import RESULT_FILE
from .contents import Report
from .displays import (
    equilibrium_display,
    floor_lines,
    markdown,
    num,
    paired_display,
    replication_display,
    selected_display,
    summary_display,
)
from .errors import ReportError
from .report import build_report
from .tables import METRICS

BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+/[\w-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)
OPENING = re.compile(r"<!-- generated: ([^>]*?) -->")


@dataclass(frozen=True)
class Study:
    """A folder of committed runs and the report options its tables are made with."""

    folder: str  # relative to the repository root
    baseline: str  # the --baseline of its paired comparisons
    command: str  # how its runs are made (shown beside its tables)


STUDIES = {
    "core": Study(
        "results/core",
        "weighting=fixed,weights.cls10=1",
        "the four commands of conf/experiment/core.yaml",
    ),
    "core-vs-tuned": Study(
        "results/core",
        "weighting=fixed,weights.cls10=16.1",
        "the four commands of conf/experiment/core.yaml",
    ),
    "replication": Study(
        "results/replication",
        "weighting=fixed",
        "python src/train.py -m +experiment=replication",
    ),
}


def _diff(diff: float, metric: str) -> str:
    """A paired difference as the pages show it: 5 decimals for a loss, 4 for an accuracy, signed."""
    return num(diff, 5 if "loss" in metric else 4, sign=True)


def _also_within(verdict: str) -> str | None:
    """'within ±m' of a better/worse verdict that is also an equivalence (compare.verdict), else None."""
    found = re.search(r"within ±[\d.e-]+", verdict) if verdict.startswith(("better", "worse")) else None
    return found.group(0) if found else None


def _short_verdict(verdict: str, diff: float, metric: str) -> str:
    """better/worse by x, equivalent (±m), or not shown (x): one cell of the verdict matrix."""
    if verdict.startswith(("better", "worse")):
        within = _also_within(verdict)
        return f"{verdict.split(' than ')[0]} ({_diff(diff, metric)})" + (f", {within}" if within else "")
    if verdict.startswith("equivalent"):
        return re.sub(r" \(TOST.*", "", verdict) + f" ({_diff(diff, metric)})"
    if verdict.startswith("not shown"):
        return f"not shown either way ({_diff(diff, metric)})"
    return verdict


def verdict_matrix(report: Report) -> pd.DataFrame:
    """One row per compared row, one column per metric: the verdict against the baseline and the difference."""
    paired = report.paired
    if paired.empty:
        return pd.DataFrame()
    rows = []
    bases = list(dict.fromkeys(paired["baseline"]))
    head = f"row, against {bases[0]}" if len(bases) == 1 else "row − baseline"
    for (row, base), group in paired.groupby(["row", "baseline"], sort=False):
        cells = {r.metric: _short_verdict(r.verdict, r.diff, r.metric) for r in group.itertuples()}
        out = {head: row if len(bases) == 1 else f"{row} − {base}"}
        out.update({f"{METRICS[m][0]}": cells.get(m, "—") for m in METRICS if m in set(paired["metric"])})
        rows.append(out)
    return pd.DataFrame(rows)


def provenance(report: Report, study: Study, root: Path) -> str:
    """Which runs the tables come from: how many, their seeds, the folder's size, the machine and the code."""
    table = report.table
    seeds = sorted(int(s) for s in table["seed"].unique())
    folder = root / study.folder
    size = sum(p.stat().st_size for p in folder.rglob(RESULT_FILE))
    cpus = sorted({str(c) for c in table["cpu"].dropna()})
    devices = sorted({str(g) for g in table["gpu"].dropna()}) or ["no GPU"]
    commits = sorted({str(r.result.get("git", {}).get("commit", ""))[:7] for r in report.runs} - {""})
    per_cell = sorted(set(report.summary["seeds"].astype(int)))
    return (
        f"{len(report.runs)} runs in `{study.folder}/` ({size / 2**20:.1f} MB of result.json files): "
        f"{'/'.join(map(str, per_cell))} seeds per row (seeds {_ranges(seeds)}), "
        f"{len(report.excluded)} left out; trained on {', '.join(cpus)} ({', '.join(devices)}) by commit "
        f"{', '.join(commits)}; made with {study.command}."
    )


def _ranges(values: list[int]) -> str:
    """0, 1, 2, 5 → '0–2, 5'."""
    out, start = [], None
    for i, v in enumerate(values):
        start = v if start is None else start
        if i + 1 == len(values) or values[i + 1] != v + 1:
            out.append(f"{start}–{v}" if v > start else str(v))
            start = None
    return ", ".join(out)


def _listing(items: list[str]) -> str:
    return "none" if not items else items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def claims(report: Report) -> str:
    """What the paired verdicts and the equilibrium table say, grouped by verdict: the summary's claims, generated."""
    paired = report.paired
    if paired.empty:
        return "No paired comparison: the study has no baseline row with two seeds paired."
    base = _listing(list(dict.fromkeys(paired["baseline"])))
    margin = paired.drop_duplicates("metric").set_index("metric")["margin"]
    margins = ", ".join(f"±{margin[m]:g} {METRICS[m][0]}" for m in METRICS if m in margin.index)
    by_row: dict[str, dict[str, list[str]]] = {}
    for r in paired.itertuples():
        kind = r.verdict.split(" ")[0] if r.verdict.startswith(("better", "worse", "equivalent")) else "unclear"
        within = _also_within(r.verdict)
        also = f"; also equivalent {within}" if within else ""
        by_row.setdefault(kind, {}).setdefault(r.row, []).append(
            f"{METRICS[r.metric][0]} ({_diff(r.diff, r.metric)}{also})"
        )
    heads = {
        "equivalent": f"**Equivalent to {base}** (paired TOST, Holm p < 0.05, margins {margins})",
        "better": f"**Better than {base}** (paired t, Holm p < 0.05)",
        "worse": f"**Worse than {base}** (paired t, Holm p < 0.05)",
    }
    lines = []
    for kind, head in heads.items():
        rows = by_row.get(kind, {})
        listed = "; ".join(f"{row} on {_listing(m)}" for row, m in rows.items()) or "none"
        lines.append(f"- {head}: {listed}.")
    unclear = sum(len(m) for m in by_row.get("unclear", {}).values())
    lines.append(f"- **Not shown either way**: the other {unclear} of {len(paired)} comparisons.")
    lines += _equilibrium_claims(report)
    return "\n".join(lines)


def _equilibrium_claims(report: Report) -> list[str]:
    eq = report.equilibrium
    if eq.empty:
        return []
    eq = eq[eq["runs"] > 0]
    kinds: dict[str, list[str]] = {"all": [], "none": [], "some": []}
    for cell, rows in eq.groupby("row", sort=False):
        kind = "all" if (rows["reached"] == rows["runs"]).all() else "none" if (rows["reached"] == 0).all() else "some"
        kinds[kind].append(str(cell))
    rule = f"|s − s_eq| ≤ {report.rule.delta:g} at the last step, s_eq smoothed over {report.rule.window} steps"
    return [
        f"- **s reaches its equilibrium** ({rule}) for every task in every run: {_listing(kinds['all'])}; in no run "
        f"for any task: {_listing(kinds['none'])}; in some runs or for some tasks: {_listing(kinds['some'])}."
    ]


TABLES: dict[str, Callable[[Report, Study, Path], str]] = {
    "summary": lambda r, s, root: markdown(summary_display(r.summary, r.others)),
    "paired": lambda r, s, root: markdown(paired_display(r.paired)),
    "verdicts": lambda r, s, root: markdown(verdict_matrix(r)),
    "equilibrium": lambda r, s, root: markdown(equilibrium_display(r.equilibrium)),
    "selected": lambda r, s, root: markdown(selected_display(r.selected, r.others)),
    "replication": lambda r, s, root: markdown(replication_display(r.replication)),
    "provenance": provenance,
    "claims": lambda r, s, root: claims(r),
    "floors": lambda r, s, root: "\n\n".join(floor_lines(r.summary)),
}
"""What a block may show, by the name after the study's (`core/summary`)."""


class Reports:
    """The report of each study, built once per page set."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._built: dict[str, Report] = {}

    def table(self, name: str) -> str:
        study_name, _, table = name.partition("/")
        if study_name not in STUDIES or table not in TABLES:
            raise ReportError(
                f"<!-- generated: {name} --> names no table: use <study>/<table> with a study of "
                f"{', '.join(STUDIES)} and a table of {', '.join(TABLES)}."
            )
        study = STUDIES[study_name]
        if study_name not in self._built:
            folder = self.root / study.folder
            if not folder.is_dir():
                raise ReportError(f"<!-- generated: {name} --> needs the committed runs in {folder}, which is missing.")
            self._built[study_name] = build_report([folder], folder / "report", baseline=study.baseline)
        return TABLES[table](self._built[study_name], study, self.root).strip()


def _blocks(text: str) -> Iterator[re.Match[str]]:
    """The marked blocks of a page; an opening marker without its end is an error, not a silent skip."""
    found = list(BLOCK.finditer(text))
    if len(found) != len(OPENING.findall(text)):
        raise ReportError("A <!-- generated: ... --> marker has no <!-- end generated --> after it; add one.")
    return iter(found)


def refresh(text: str, reports: Reports) -> str:
    """`text` with every marked block rewritten from the committed results."""
    pieces, last = [], 0
    for m in _blocks(text):
        pieces += [text[last : m.end(1)], reports.table(m["name"]) + "\n", m.group(4)]
        last = m.end()
    return "".join(pieces) + text[last:]


def stale(text: str, reports: Reports) -> list[str]:
    """The names of the blocks whose text is not what the committed results give."""
    return [m["name"] for m in _blocks(text) if m["body"] != reports.table(m["name"]) + "\n"]


def pages(root: Path) -> list[Path]:
    """The pages that may hold generated blocks: README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


FIGURES = {
    "core": ("final_accuracy", "differences", "equilibrium", "weights"),
    "core-vs-tuned": ("differences",),
    "replication": ("final_accuracy", "differences"),
}
"""The figures docs/results.md shows, per study; written under docs/results/<study>/."""


def write_figures(root: Path) -> list[Path]:
    """Make each committed study's report in a scratch folder and keep the figures the docs show, in
    docs/results/<study>/ (a study with no folder under results/ yet has none)."""
    import tempfile

    from ..storage.atomic import write_atomic
    from .report import make_report

    written = []
    for name, wanted in FIGURES.items():
        study = STUDIES[name]
        if not (root / study.folder).is_dir():
            continue
        with tempfile.TemporaryDirectory(prefix=f"publish-{name}-") as scratch:
            report = make_report([root / study.folder], Path(scratch), baseline=study.baseline)
            for figure in wanted:
                for made in report.figures.get(figure, []):
                    target = root / "docs" / "results" / name / made.name
                    write_atomic(target, made.read_bytes())
                    written.append(target)
    return written
