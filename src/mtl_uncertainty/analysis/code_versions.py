"""Which code computed each cell's runs: its numbers version and commits, for the report's Code section.

Runs of different numbers versions never share a cell (`cells.find_axes` makes the version an axis
where it varies). Runs of different commits at one version do: that version's numbers are the same
by construction (the suite's golden test), and this table says which commits each cell pools.
"""

from __future__ import annotations

import pandas as pd

from .cells import CODE, cell_order
from .displays import markdown

UNKNOWN_COMMIT = "unknown"
"""A run made outside a git checkout records no commit."""


def _counted(values: pd.Series) -> str:
    """`a (3 runs), b (1 run)`, most runs first."""
    counts = values.value_counts(sort=False).sort_index().sort_values(ascending=False, kind="stable")
    return ", ".join(f"{v} ({n} run{'s' if n != 1 else ''})" for v, n in counts.items())


def code_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per cell, in the report's order: its numbers versions and commits with their runs, and how many of
    its runs were resumed across a change of source (`resume.other_source=continue`)."""
    rows = []
    for cell in cell_order(table):
        runs = table[table["cell"] == cell]
        rows.append(
            {
                "cell": cell,
                "row": runs["row"].iloc[0],
                "group": runs["group"].iloc[0],
                "numbers version": ", ".join(str(v) for v in sorted(set(runs[CODE]))),
                "commits": _counted(runs["code.commit"].fillna(UNKNOWN_COMMIT)),
                "commit set": tuple(sorted(set(runs["code.commit"].fillna(UNKNOWN_COMMIT)))),
                "mixed source": int(runs["code.mixed_source"].sum()),
            }
        )
    return pd.DataFrame(rows)


def code_lines(table: pd.DataFrame) -> list[str]:
    """The report's Code section: one line where every cell pools the same code, else one table row per cell."""
    code = code_table(table)
    head = [
        "## Code",
        "",
        "Each run records the numbers version of the code that computed it (result.json `code.numbers_version`, "
        "raised with every change of the code that alters the numbers; 1 for runs made before it was recorded) "
        "and its git commit. Runs of different numbers versions are never averaged into one cell: the version is "
        "then an axis, `code.numbers_version`, with rows of its own. Commits at one version compute the same "
        "numbers (the suite's golden test), so their runs share cells.",
        "",
    ]
    mixed = int(code["mixed source"].sum())
    note = (
        [
            f"{mixed} run(s) resumed a checkpoint that other source code wrote at the same numbers version "
            "(`resume.other_source=continue`): result.json `code.source_by_segment` names each segment's source.",
            "",
        ]
        if mixed
        else []
    )
    if code[["numbers version", "commit set"]].astype(str).drop_duplicates().shape[0] == 1:
        commits = _counted(table["code.commit"].fillna(UNKNOWN_COMMIT))
        word = "commit" if len(code["commit set"].iloc[0]) == 1 else "commits"
        return [*head, f"Every cell: numbers version {code['numbers version'].iloc[0]}; {word} {commits}.", "", *note]
    shown = code.rename(columns={"row": "method (settings)", "mixed source": "resumed across a change of source"})
    columns = ["method (settings)", *(["group"] if (code["group"] != "").any() else []), "numbers version", "commits"]
    columns += ["resumed across a change of source"] if mixed else []
    return [*head, markdown(shown[columns]), "", *note]
