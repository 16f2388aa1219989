"""Tables and figures from the result.json files of one or more sweeps.

    python analysis/report.py                                     # the newest sweep with results under multirun/
    python analysis/report.py multirun/ablation multirun/other --out reports/ablation
    python analysis/report.py --baseline weighting=fixed,weights.recon=0.5 --format png,pdf
    python analysis/report.py --margin acc_cls10=0.005,loss_recon=0.01       # narrower equivalence margins
    python analysis/report.py --primary weighting=learnable       # the declared question: Holm over these rows
    python analysis/report.py --eq-delta 0.05 --eq-window 200             # a stricter equilibrium table

Prints the main table and the paired comparisons, and writes report.md, results.csv, summary.csv,
summary.tex, equilibrium.csv and the figures into the output folder (default: report/ inside the first sweep).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # works from a checkout, installed or not

from mtl_uncertainty.analysis import BaselineError, ReportError, make_report, newest_sweep
from mtl_uncertainty.analysis.compare import DEFAULT_BASELINE, DEFAULT_MARGINS, parse_margins
from mtl_uncertainty.analysis.equilibrium import DEFAULT_DELTA, DEFAULT_WINDOW
from mtl_uncertainty.analysis.errors import stopped_paragraph, write_failure
from mtl_uncertainty.analysis.publish import STUDIES
from mtl_uncertainty.analysis.report import DECLARED
from mtl_uncertainty.analysis.tables import METRICS
from mtl_uncertainty.ops.interrupt import INTERRUPTED_EXIT_CODE, TERMINATED_EXIT_CODE, Terminated, stop_on_sigterm

ROOT = Path(__file__).resolve().parents[1]
FIGURE_FORMATS = ("png", "pdf", "svg")


def _formats(text: str) -> list[str]:
    formats = [f.strip().lower().lstrip(".") for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FIGURE_FORMATS]
    if not formats or unknown:
        raise argparse.ArgumentTypeError(f"use one or more of {', '.join(FIGURE_FORMATS)}, comma-separated")
    return formats


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", nargs="*", type=Path, help="sweep folders (default: the newest under multirun/)")
    parser.add_argument("--out", type=Path, help="output folder (default: SWEEP/report)")
    parser.add_argument(
        "--baseline",
        default=None,
        help="the row every other row is compared with: key=value[,key=value] on config keys (weighting = the "
        "method), or best:key=value[,...] for the one of those rows best on validation (default: the one the "
        f"runs' preset declares, report.baseline, else {DEFAULT_BASELINE})",
    )
    parser.add_argument(
        "--primary",
        default=None,
        help="the rows whose comparisons with the baseline are the question, selectors separated by ';' (e.g. "
        "'weighting=learnable;weighting=liebel'): Holm's correction over these alone, the others exploratory; "
        "'all' for every row, 'none' for none (default: the runs' preset's report.primary, else all)",
    )
    parser.add_argument(
        "--margin",
        default="",
        help="equivalence margins of the TOST, metric=m[,metric=m] in the metric's units; a metric not named keeps "
        f"its default ({', '.join(f'{k}={v:g}' for k, v in DEFAULT_MARGINS.items())})",
    )
    parser.add_argument(
        "--eq-delta",
        type=float,
        default=DEFAULT_DELTA,
        help="equilibrium table: s counts as at its equilibrium within this distance of s_eq's running mean "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--eq-window",
        type=int,
        default=DEFAULT_WINDOW,
        help="equilibrium table and figure: training steps in the trailing running mean of s_eq (default: %(default)s)",
    )
    parser.add_argument(
        "--format", type=_formats, default=["png"], help="figure formats, e.g. png,pdf,svg (default: png)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    stop_on_sigterm()
    out: Path | str = "the report's folder"
    try:
        margins = parse_margins(args.margin)
        sweeps = args.sweeps or [newest_sweep(Path("multirun"))]
        missing = [s for s in sweeps if not s.is_dir()]
        if missing:
            raise ReportError(f"No such folder: {', '.join(map(str, missing))}.")
        out = args.out or sweeps[0] / "report"
        study_baseline, study_primary = study_question(sweeps)
        primary = _primary(args.primary) if args.primary is not None else study_primary
        options = {"margins": margins, "eq_delta": args.eq_delta, "eq_window": args.eq_window, "primary": primary}
        baseline = args.baseline or study_baseline
        try:
            report = make_report(sweeps, out, baseline=baseline, formats=args.format, **options)
        except BaselineError:
            if baseline is not None:
                raise
            baseline = f"best:{DEFAULT_BASELINE}"  # several fixed rows (a λ search): the one best on validation
            print(f"Several rows match --baseline {DEFAULT_BASELINE}; comparing with --baseline {baseline}.")
            report = make_report(sweeps, out, baseline=baseline, formats=args.format, **options)
    except ReportError as e:
        print(e, file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        cause = "Stopped by SIGTERM" if isinstance(e, Terminated) else "Interrupted"
        print(stopped_paragraph(out, cause), file=sys.stderr)
        return TERMINATED_EXIT_CODE if isinstance(e, Terminated) else INTERRUPTED_EXIT_CODE
    except OSError as e:
        if (message := write_failure(e, out)) is None:
            raise
        print(message, file=sys.stderr)
        return 1
    print(report.main_table_text())
    if not report.paired.empty:
        print()
        for r in report.paired.itertuples():
            where = f" ({r.group})" if r.group else ""
            print(f"{r.row} − {r.baseline}{where}, test {METRICS[r.metric][0]}: {r.diff:+.4f}, {r.verdict}")
    if report.excluded:
        print(f"\n{len(report.excluded)} run(s) left out (see the report's last section):")
        for e in report.excluded:
            print(f"  {e.path}: {e.reason}")
    print(f"\nReport: {report.out_dir / 'report.md'}")
    return 0


def _primary(text: str) -> list[str] | None:
    """--primary: 'all' → None (every row), 'none' → [], else the ';'-separated selectors."""
    if text.strip() == "all":
        return None
    return [] if text.strip() == "none" else [p.strip() for p in text.split(";") if p.strip()]


def study_question(sweeps: list[Path]) -> tuple[str | None, list[str] | str | None]:
    """The baseline and primary rows of a committed study's published tables, else what the runs declare."""
    if len(sweeps) == 1:
        for study in STUDIES.values():
            if sweeps[0].resolve() == (ROOT / study.folder).resolve():
                baseline, primary = study.question(ROOT)
                shown = "all" if primary is None else ";".join(primary) or "none"
                print(f"{study.folder}: the question of its published tables, --baseline {baseline} --primary {shown}.")
                return baseline, primary
    return None, DECLARED


if __name__ == "__main__":
    sys.exit(main())
