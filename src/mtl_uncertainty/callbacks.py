"""Hydra callbacks (configured under hydra.callbacks in conf/config.yaml).

Hydra turns an exception raised in a callback into a warning and carries on, so these end the
process themselves (SystemExit) where they must stop it.
"""

from __future__ import annotations

import logging
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

log = logging.getLogger(__name__)


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


class SweepReport(Callback):
    """Write the analysis report into <sweep>/report/ when a sweep ends (never fails the sweep)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        from .analysis import NoRunsError, make_report

        sweep = Path(config.hydra.sweep.dir)
        try:
            report = make_report([sweep], sweep / "report")
        except NoRunsError as e:
            log.warning("no report: %s", e)
        except Exception as e:  # the runs are done and saved; a broken report must not hide that
            log.warning(
                "the report could not be made (%s: %s); try python analysis/report.py %s", type(e).__name__, e, sweep
            )
        else:
            log.info("report: %s\n%s", report.out_dir / "report.md", report.main_table_text())


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
