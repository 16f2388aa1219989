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

Markers count only on lines of their own, so prose that mentions a marker inline is never taken for one.
Everything that comes from a result.json is written inert (`displays.inline`: one line, no HTML), so no
label can end a block, open a heading or add HTML. Pages are read as the suite reads sweep files (regular
files, no links, size-capped). The figures docs/results.md shows are listed, with the hash of each and of
the results they were made from, in docs/results/<study>/figures.json, which is how `--check` knows that a
figure is missing, damaged or older than its runs.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from ..storage.reading import UnreadableFile, read_bytes
from ..storage.result_schema import RESULT_FILE
from .contents import Report
from .displays import (
    equilibrium_display,
    floor_lines,
    inline,
    markdown,
    num,
    paired_display,
    replication_display,
    selected_display,
    summary_display,
)
from .errors import ReportError
from .report import DECLARED, build_report
from .runs import CODE_AXIS
from .tables import METRICS

BLOCK = re.compile(
    r"^(<!-- generated: (?P<name>[\w-]+/[\w-]+) -->\n)(?P<body>.*?)^(<!-- end generated -->)$", re.S | re.M
)
OPENING = re.compile(r"^<!-- generated: ([^>\n]*?) -->$", re.M)
MAX_PAGE_BYTES = 4 * 2**20
"""A page of the docs is well under 100 KB."""


@dataclass(frozen=True)
class Study:
    """A folder of committed runs and the question its tables answer.

    `preset`: the conf/experiment/ file whose `report:` block declares the baseline and the primary rows (the
    committed runs may predate the block, so it is read from the preset, the one place it is written);
    `baseline`/`primary` given here replace the preset's (a second view of the same runs, all exploratory).
    """

    folder: str  # relative to the repository root
    command: str  # how its runs are made (shown beside its tables)
    preset: str | None = None
    baseline: str | None = None
    primary: tuple[str, ...] | None = None

    def question(self, root: Path) -> tuple[str | None, list[str] | None]:
        """The baseline and primary rows of its tables."""
        declared: dict = {}
        preset = root / "conf" / "experiment" / f"{self.preset}.yaml"
        if self.preset and preset.is_file():  # a results folder without the suite's conf/: what the runs declare
            declared = (yaml.safe_load(preset.read_text()) or {}).get("report") or {}
        primary = self.primary if self.primary is not None else declared.get("primary", DECLARED)
        return self.baseline or declared.get("baseline"), primary if primary in (None, DECLARED) else list(primary)


STUDIES = {
    "core": Study("results/core", "the four commands of conf/experiment/core.yaml", preset="core"),
    "core-vs-equal": Study(
        "results/core",
        "the four commands of conf/experiment/core.yaml",
        baseline="weighting=fixed,weights.cls10=1",
        primary=(),
    ),
    "replication": Study("results/replication", "python src/train.py -m +experiment=replication", preset="replication"),
    "learning": Study("results/learning", "the commands of conf/experiment/learning.yaml", preset="learning"),
    "learning-tune": Study(
        "results/learning_tune", "python src/train.py -m +experiment=learning_tune", preset="learning_tune"
    ),
    "regime-search": Study(
        "results/regime_search", "the four commands of conf/experiment/regime_search.yaml", preset="regime_search"
    ),
}


def _diff(diff: float, metric: str) -> str:
    """A paired difference as the pages show it: 5 decimals for a loss, 4 for an accuracy, signed."""
    return num(diff, 5 if "loss" in metric else 4, sign=True)


def _short_verdict(r: Any) -> str:
    """better/worse (x), equivalent within ±m (x), not shown (x) or exploratory (x): one cell of the matrix."""
    diff = _diff(r.diff, r.metric)
    if r.kind in ("better", "worse"):
        return f"{r.kind} ({diff})" + (f", within ±{r.margin:g}" if r.also_equivalent else "")
    if r.kind == "equivalent":
        return f"equivalent within ±{r.margin:g} ({diff})"
    if r.kind == "unclear":
        found = f"±{r.detectable:.2g} detectable" if math.isfinite(r.detectable) else "too few seeds"
        return f"not shown either way ({diff}; {found})"
    if r.kind == "exploratory":
        return f"exploratory ({diff}, p = {r.p_flip:.2g})"
    return "too few paired seeds"


def verdict_matrix(report: Report) -> pd.DataFrame:
    """One row per compared row, one column per metric: the verdict against the baseline and the difference."""
    paired = report.paired
    if paired.empty:
        return pd.DataFrame()
    rows = []
    bases = list(dict.fromkeys(paired["baseline"]))
    head = f"row, against {bases[0]}" if len(bases) == 1 else "row − baseline"
    for (row, where, base), group in paired.groupby(["row", "group", "baseline"], sort=False):
        cells = {r.metric: _short_verdict(r) for r in group.itertuples()}
        row = f"{row} ({where})" if where else row  # the row in its group (e.g. recon=false)
        out = {head: row if len(bases) == 1 else f"{row} − {base}"}
        out.update({f"{METRICS[m][0]}": cells.get(m, "—") for m in METRICS if m in set(paired["metric"])})
        rows.append(out)
    return pd.DataFrame(rows)


def provenance(report: Report, study: Study, root: Path) -> str:
    """Which runs the tables come from: how many, their seeds, the folder's size, the machine and the code (its
    commits and numbers versions)."""
    table = report.table
    seeds = sorted(int(s) for s in table["seed"].unique())
    folder = root / study.folder
    size = sum(p.stat().st_size for p in folder.rglob(RESULT_FILE))
    cpus = sorted({inline(c) for c in table["cpu"].dropna()})
    devices = sorted({inline(g) for g in table["gpu"].dropna()}) or ["no GPU"]
    commits = sorted({inline((r.result.get("git") or {}).get("commit") or "")[:7] for r in report.runs} - {""})
    versions = sorted(set(table[CODE_AXIS]))
    code = f"numbers version{'s' if len(versions) > 1 else ''} {', '.join(map(inline, versions))}"
    per_cell = sorted(set(report.summary["seeds"].astype(int)))
    return (
        f"{len(report.runs)} runs in `{study.folder}/` ({size / 2**20:.1f} MB of result.json files): "
        f"{'/'.join(map(str, per_cell))} seed{'s' if per_cell != [1] else ''} per row "
        f"(seed{'s' if len(set(seeds)) > 1 else ''} {_ranges(seeds)}), "
        f"{len(report.excluded)} left out; trained on {', '.join(cpus)} ({', '.join(devices)}) by commit "
        f"{', '.join(commits)} ({code}); made with {study.command}."
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
        return NO_PAIRS
    base = _listing([inline(b) for b in dict.fromkeys(paired["baseline"])])
    primary = paired[paired["primary"]]
    margin = paired.drop_duplicates("metric").set_index("metric")["margin"]
    margins = ", ".join(f"±{margin[m]:g} {METRICS[m][0]}" for m in METRICS if m in margin.index)
    by_row: dict[str, dict[str, list[str]]] = {}
    for r in primary.itertuples():
        also = f"; also equivalent within ±{r.margin:g}" if r.also_equivalent else ""
        label = inline(f"{r.row} ({r.group})" if r.group else r.row)  # the row in its group (e.g. recon=false)
        by_row.setdefault(r.kind, {}).setdefault(label, []).append(
            f"{METRICS[r.metric][0]} ({_diff(r.diff, r.metric)}{also})"
        )
    family = f"Holm p < 0.05 over the {2 * len(primary)} tests of the {len(primary)} declared comparisons"
    heads = {
        "equivalent": f"**Equivalent to {base}** (sign-flip TOST, {family}, margins {margins})",
        "better": f"**Better than {base}** (exact sign-flip test, {family})",
        "worse": f"**Worse than {base}** (exact sign-flip test, {family})",
    }
    lines = []
    if primary.empty:
        lines.append(f"- No comparison against {base} is declared as the question: all {len(paired)} are exploratory.")
    else:
        for kind, head in heads.items():
            rows = by_row.get(kind, {})
            listed = "; ".join(f"{row} on {_listing(m)}" for row, m in rows.items()) or "none"
            lines.append(f"- {head}: {listed}.")
        unclear = primary[primary["kind"] == "unclear"]
        if len(unclear):
            smallest = ", ".join(
                f"{METRICS[m][0]} {_span(g['detectable'])}" for m, g in unclear.groupby("metric", sort=False)
            )
            lines.append(
                f"- **Not shown either way**: the other {len(unclear)} of {len(primary)} declared comparisons "
                f"(these seeds would have found differences of about {smallest} with 80% power)."
            )
        rest = len(paired) - len(primary)
        if rest:
            lines.append(f"- {rest} other comparisons are exploratory (not corrected, no verdict).")
    lines += _equilibrium_claims(report)
    return "\n".join(lines)


def _span(values: pd.Series) -> str:
    """±a–b, or ±a where every value rounds alike."""
    low, high = f"{values.min():.2g}", f"{values.max():.2g}"
    return f"±{low}" if low == high else f"±{low}–{high}"


def _equilibrium_claims(report: Report) -> list[str]:
    eq = report.equilibrium
    if eq.empty:
        return []
    eq = eq[eq["runs"] > 0]
    kinds: dict[str, list[str]] = {"all": [], "none": [], "some": []}
    for cell, rows in eq.groupby("row", sort=False):
        kind = "all" if (rows["reached"] == rows["runs"]).all() else "none" if (rows["reached"] == 0).all() else "some"
        kinds[kind].append(inline(cell))
    rule = f"|s − s_eq| ≤ {report.rule.delta:g} at the last step, s_eq smoothed over {report.rule.window} steps"
    return [
        f"- **s reaches its equilibrium** ({rule}) for every task in every run: {_listing(kinds['all'])}; in no run "
        f"for any task: {_listing(kinds['none'])}; in some runs or for some tasks: {_listing(kinds['some'])}."
    ]


NO_PAIRS = "No paired comparison: the study has no baseline row with two seeds paired."
TABLES: dict[str, Callable[[Report, Study, Path], str]] = {
    "summary": lambda r, s, root: markdown(summary_display(r.summary, r.others)),
    "paired": lambda r, s, root: markdown(paired_display(r.paired)) if len(r.paired) else NO_PAIRS,
    "verdicts": lambda r, s, root: markdown(verdict_matrix(r)) if len(r.paired) else NO_PAIRS,
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
        if not has_runs(self.root / study.folder):  # a study not run yet, or started: its blocks say so
            return f"No committed runs in `{study.folder}/` yet: {study.command} makes them."
        if study_name not in self._built:
            folder = self.root / study.folder
            baseline, primary = study.question(self.root)
            self._built[study_name] = build_report([folder], folder / "report", baseline=baseline, primary=primary)
        return TABLES[table](self._built[study_name], study, self.root).strip()


def has_runs(folder: Path) -> bool:
    """Whether a study's folder holds a result.json (a real folder, not a link; an empty one holds none)."""
    return folder.is_dir() and not folder.is_symlink() and next(folder.rglob(RESULT_FILE), None) is not None


def read_page(path: Path) -> str:
    """A page's text, read as the suite reads sweep files: a regular file, never through a link, size-capped."""
    try:
        return read_bytes(path, MAX_PAGE_BYTES).decode("utf-8")
    except (FileNotFoundError, UnreadableFile, UnicodeDecodeError) as e:
        raise ReportError(f"{path} cannot be published: {e}. Restore it as a regular UTF-8 text file.") from e


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
    "core-vs-equal": ("differences",),
    "learning": ("final_accuracy", "differences", "equilibrium", "weights"),
    "replication": ("final_accuracy", "differences", "sigma_trajectories", "equilibrium"),
}
"""The figures docs/results.md shows, per study; written under docs/results/<study>/."""


MANIFEST = "figures.json"
"""Beside a study's figures: the hash of the results they were made from and of each figure."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def inputs_hash(root: Path, name: str) -> str:
    """The hash of what a study's figures are made from: every result.json and floors.json in its folder (by
    path and content) and the question its report asks."""
    study = STUDIES[name]
    folder = root / study.folder
    digest = hashlib.sha256(json.dumps([study.question(root), FIGURES[name]]).encode())
    for path in sorted(p for p in folder.rglob("*.json") if p.name in (RESULT_FILE, "floors.json")):
        try:
            content = _sha256(read_bytes(path, 2**28))
        except (OSError, UnreadableFile) as e:
            content = f"unreadable: {e}"  # the report leaves such a run out; its hash still says it is there
        digest.update(f"{path.relative_to(folder).as_posix()}\0{content}\n".encode())
    return digest.hexdigest()


def _figure_folder(root: Path, name: str) -> Path:
    """docs/results/<study>/, refused where a part of it is a link (figures are written inside the checkout only)."""
    folder = root / "docs" / "results" / name
    for part in (root / "docs", root / "docs" / "results", folder):
        if part.is_symlink():
            raise ReportError(
                f"{part} is a symbolic link; the publisher writes figures only into folders of the checkout itself. "
                "Remove the link (a real folder is made in its place) and publish again."
            )
    return folder


def write_figures(root: Path) -> list[Path]:
    """Make each committed study's report in a scratch folder and keep the figures the docs show, in
    docs/results/<study>/, with their manifest (a study with no runs under results/ yet has none)."""
    import tempfile

    from ..storage.atomic import write_atomic
    from .report import make_report

    written = []
    for name, wanted in FIGURES.items():
        study = STUDIES[name]
        if not has_runs(root / study.folder):
            continue
        folder = _figure_folder(root, name)
        listed: dict[str, str] = {}
        with tempfile.TemporaryDirectory(prefix=f"publish-{name}-") as scratch:
            baseline, primary = study.question(root)
            report = make_report([root / study.folder], Path(scratch), baseline=baseline, primary=primary)
            for figure in wanted:
                for made in report.figures.get(figure, []):
                    data = made.read_bytes()
                    write_atomic(folder / made.name, data)
                    listed[made.name] = _sha256(data)
                    written.append(folder / made.name)
        manifest = {"inputs": inputs_hash(root, name), "figures": dict(sorted(listed.items()))}
        write_atomic(folder / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return written


def stale_figures(root: Path) -> list[str]:
    """What is wrong with the figures the docs show: a manifest or figure missing, a figure whose bytes are not
    the ones published, or figures made from other results than the committed ones."""
    problems = []
    for name in FIGURES:
        if not has_runs(root / STUDIES[name].folder):
            continue
        folder = root / "docs" / "results" / name
        try:
            manifest = json.loads(read_bytes(folder / MANIFEST, 2**20))
            inputs, figures = manifest["inputs"], dict(manifest["figures"])
        except (OSError, UnreadableFile, ValueError, KeyError, TypeError) as e:
            problems.append(f"docs/results/{name}/{MANIFEST}: missing or unreadable ({type(e).__name__})")
            continue
        if inputs != inputs_hash(root, name):
            problems.append(f"docs/results/{name}/: made from other results than {STUDIES[name].folder}/ holds")
        for figure, digest in figures.items():
            try:
                ok = _sha256(read_bytes(folder / str(figure), 2**28)) == digest
            except (OSError, UnreadableFile):
                ok = False
            if not ok:
                problems.append(f"docs/results/{name}/{figure}: missing or not the published figure")
    return problems
