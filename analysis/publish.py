"""Write the Results tables of README.md and docs/*.md from the committed runs in results/, by the report's code.

    python analysis/publish.py            # rewrite every generated table, and the figures under docs/results/
    python analysis/publish.py --check    # exit 1 naming each table that differs from what results/ gives

A table is generated where a page marks it: <!-- generated: <study>/<table> --> ... <!-- end generated -->
(studies and tables: src/mtl_uncertainty/analysis/publish.py). Run it after adding runs to results/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # works from a checkout, installed or not

from mtl_uncertainty.analysis import ReportError
from mtl_uncertainty.analysis.publish import Reports, pages, refresh, stale, write_figures
from mtl_uncertainty.storage.atomic import write_atomic

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is out of date")
    args = parser.parse_args(argv)
    reports = Reports(ROOT)
    try:
        if args.check:
            out_of_date = [
                f"{p.relative_to(ROOT)}: {name}" for p in pages(ROOT) for name in stale(p.read_text(), reports)
            ]
            for line in out_of_date:
                print(f"out of date: {line}", file=sys.stderr)
            if out_of_date:
                print("Run python analysis/publish.py to write them from results/.", file=sys.stderr)
            return 1 if out_of_date else 0
        for page in pages(ROOT):
            text = page.read_text()
            if (new := refresh(text, reports)) != text:
                write_atomic(page, new.encode())
                print(f"updated {page.relative_to(ROOT)}")
        for figure in write_figures(ROOT):
            print(f"wrote {figure.relative_to(ROOT)}")
    except ReportError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
