"""Where a learned weighting's runs ended, per seed, written as a `fixed_end` weighting (a YAML file).

    python -m mtl_uncertainty.analysis.endpoints STUDY SELECTOR > conf/weighting/NAME.yaml

SELECTOR picks one cell of the study (`weighting=learnable`, `weighting=learnable,weighting.lr=0.01`: the
report's key=value syntax); for each of its seeds the file holds the effective weight of every task on the
run's last step (`history[-1].values.weight` in result.json). `weighting=NAME` then trains each seed with
those constant weights, which tells learning the weights apart from where they end.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from .cells import find_axes, label_runs
from .compare import BaselineError, matching_cells, parse_selector
from .runs import Run, load_runs, runs_table


class EndpointError(ValueError):
    """The selector does not pick exactly one cell of finished runs with recorded weights."""


def _end_weights(run: Run) -> dict[str, float]:
    last = (run.result.get("history") or [{}])[-1]
    weights = (last.get("values") or {}).get("weight") or {}
    out = {t: weights.get(t) for t in run.result["tasks"]["active"]}
    if not out or not all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in out.values()):
        raise EndpointError(f"{run.path}: its result.json records no finite effective weights on its last step")
    return out


def end_weights(study: Path, selector: str) -> dict[int, dict[str, float]]:
    """Seed → each active task's effective weight on the last step, for the runs of the cell `selector` picks."""
    runs, _ = load_runs([study])
    runs = [r for r in runs if r.result.get("status") == "completed"]
    if not runs:
        raise EndpointError(f"{study}: no completed run with a result.json")
    table = runs_table(runs)
    table = label_runs(table, find_axes(table))  # the report's cells
    cells = sorted(matching_cells(table, parse_selector(selector)))
    if len(cells) != 1:
        raise EndpointError(
            f"{selector!r} picks {'no run' if not cells else f'runs of {len(cells)} different configs'} in "
            f"{study}; name one cell of completed runs (add key=value pairs, e.g. weighting.lr=0.01)"
        )
    picked = [runs[i] for i in table.index[table["cell"] == cells[0]]]
    seeds = [int(r.result["seed"]) for r in picked]
    if len(set(seeds)) != len(seeds):
        raise EndpointError(f"{selector!r} picks two runs of one seed in {study}; report each study on its own")
    return {seed: _end_weights(r) for seed, r in sorted(zip(seeds, picked))}


def weighting_yaml(study: str, selector: str, weights: dict[int, dict[str, float]]) -> str:
    """The conf/weighting/ file of a `fixed_end` weighting with these weights."""
    rows = "\n".join(
        f"  {seed}: {{{', '.join(f'{t}: {float(v)!r}' for t, v in w.items())}}}" for seed, w in weights.items()
    )
    return (
        f"# Fixed weights at where `{selector}` ended in {study}, per seed: each task's effective weight on\n"
        "# the run's last step (see src/mtl_uncertainty/weighting/fixed_end.py). Written by:\n"
        f"#   python -m mtl_uncertainty.analysis.endpoints {study} {selector}\n"
        "defaults:\n"
        "  - /schema/weighting/fixed_end@_here_\n"
        "\n"
        f"source: {study} {selector}\n"
        "weights_by_seed:\n"
        f"{rows}\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mtl_uncertainty.analysis.endpoints",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("study", help="a study folder (e.g. results/regime/mnist)")
    parser.add_argument("selector", help="the cell whose runs' end weights to take (e.g. weighting=learnable)")
    args = parser.parse_args(argv)
    try:
        weights = end_weights(Path(args.study), args.selector)
    except (EndpointError, BaselineError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(weighting_yaml(args.study, args.selector, weights))
    return 0


if __name__ == "__main__":
    sys.exit(main())
