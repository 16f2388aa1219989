"""Hydra callbacks (configured under hydra.callbacks in conf/config.yaml).

Hydra turns an exception raised in a callback into a warning and carries on, so these end the
process themselves (SystemExit) where they must stop it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from .errors import InputError
from .preflight import check_jobs, task_config
from .run import prepare_output_dir
from .sweep import run_statuses

DIVERGED_EXIT_CODE = 3


def _or_exit(check: Callable[[], object]) -> None:
    """Run `check`; on bad input print its message alone and exit with 1, before anything is written."""
    try:
        check()
    except InputError as e:
        print(e, file=sys.stderr)
        raise SystemExit(1) from e


class Preflight(Callback):
    """Check the config, the data and the output folder before Hydra creates any folder."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _or_exit(lambda: check_jobs([task_config(config)], [""], Path(config.hydra.run.dir)))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _or_exit(lambda: prepare_output_dir(config.hydra.sweep.dir))


class SweepStatus(Callback):
    """End a sweep in which runs diverged with exit status 3, saying how many."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        statuses = run_statuses(Path(config.hydra.sweep.dir))
        diverged = [d for d, s in statuses.items() if s == "diverged"]
        if diverged:
            print(
                f"{len(diverged)} of {len(statuses)} runs in {config.hydra.sweep.dir} diverged (a NaN or infinite "
                f"loss; see 'divergence' in their result.json). Exit status {DIVERGED_EXIT_CODE}.",
                file=sys.stderr,
            )
            raise SystemExit(DIVERGED_EXIT_CODE)
