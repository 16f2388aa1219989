"""Write the Results tables of README.md and docs/*.md from the committed runs in results/, by the report's code.

    python analysis/publish.py            # rewrite every generated table, and the figures under docs/results/
    python analysis/publish.py --check    # exit 1 naming each table or figure that differs from what results/ gives

A table is generated where a page marks it: <!-- generated: <study>/<table> --> ... <!-- end generated -->
(studies and tables: src/mtl_uncertainty/analysis/publish.py). Run it after adding runs to results/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # works from a checkout, installed or not

from mtl_uncertainty.analysis import ReportError
from mtl_uncertainty.analysis.errors import stopped_paragraph, write_failure
from mtl_uncertainty.analysis.publish import Reports, pages, read_page, refresh, stale, stale_figures, write_figures
from mtl_uncertainty.ops.interrupt import INTERRUPTED_EXIT_CODE, TERMINATED_EXIT_CODE, Terminated, stop_on_sigterm
from mtl_uncertainty.storage.atomic import write_atomic

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a table is out of date")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout to publish (default: this one)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    reports = Reports(root)
    stop_on_sigterm()
    try:
        if args.check:
            out_of_date = [
                f"{p.relative_to(root)}: {name}" for p in pages(root) for name in stale(read_page(p), reports)
            ]
            out_of_date += stale_figures(root)
            for line in out_of_date:
                print(f"out of date: {line}", file=sys.stderr)
            if out_of_date:
                print("Run python analysis/publish.py to write them from results/.", file=sys.stderr)
            return 1 if out_of_date else 0
        for page in pages(root):
            text = read_page(page)
            if (new := refresh(text, reports)) != text:
                write_atomic(page, new.encode())
                print(f"updated {page.relative_to(root)}")
        for figure in write_figures(root):
            print(f"wrote {figure.relative_to(root)}")
    except ReportError as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        cause = "Stopped by SIGTERM" if isinstance(e, Terminated) else "Interrupted"
        print(stopped_paragraph(f"the pages of {root}", cause), file=sys.stderr)
        return TERMINATED_EXIT_CODE if isinstance(e, Terminated) else INTERRUPTED_EXIT_CODE
    except OSError as e:
        if (message := write_failure(e, f"the pages of {root}")) is None:
            raise
        print(message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
