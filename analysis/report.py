"""Tables and figures from the result.json files of one or more sweeps.

    python analysis/report.py                                     # the newest sweep under multirun/
    python analysis/report.py multirun/ablation multirun/other --out reports/ablation

Prints the main table and writes report.md, results.csv, summary.csv, summary.tex and the PNG
figures into the output folder (default: report/ inside the first sweep).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # works from a checkout, installed or not

from mtl_uncertainty.analysis import NoRunsError, make_report, newest_sweep
from mtl_uncertainty.analysis.stats import METRICS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", nargs="*", type=Path, help="sweep folders (default: the newest under multirun/)")
    parser.add_argument("--out", type=Path, help="output folder (default: SWEEP/report)")
    args = parser.parse_args(argv)
    try:
        sweeps = args.sweeps or [newest_sweep(Path("multirun"))]
        missing = [s for s in sweeps if not s.is_dir()]
        if missing:
            raise NoRunsError(f"No such folder: {', '.join(map(str, missing))}.")
        report = make_report(sweeps, args.out or sweeps[0] / "report")
    except NoRunsError as e:
        print(e, file=sys.stderr)
        return 1
    print(report.main_table_text())
    if not report.paired.empty:
        print()
        for r in report.paired.itertuples():
            print(f"{r.cell}: {r.learnable} − {r.fixed}, test {METRICS[r.metric][0]}: {r.diff:+.4f}, {r.verdict}")
    if report.excluded:
        print(f"\n{len(report.excluded)} run(s) left out (see the report's last section):")
        for e in report.excluded:
            print(f"  {e.path}: {e.reason}")
    print(f"\nReport: {report.out_dir / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
