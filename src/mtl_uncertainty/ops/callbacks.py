"""Hydra callbacks (configured under hydra.callbacks in conf/config.yaml).

Hydra turns an exception raised in a callback into a warning and carries on, so these end the
process themselves (SystemExit) where they must stop it. Every sweep, whatever launcher runs it,
starts with the preflight (and keeps the sweep folder's earlier multirun.yaml) and ends with the
report and the summary; a run's failure is recorded in its folder and never cuts the sweep short.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ..errors import InputError
from ..runs.folder import writable_target
from .interrupt import note_output
from .jobs import FAILURES, LAUNCHER_PID, tunes
from .library_logs import quiet_libraries
from .preflight import (
    BASIC_SWEEPER,
    check_jobs,
    check_resumable,
    compose_jobs,
    empty_sweep,
    runs_here,
    shared_folders,
    sweep_job_overrides,
    task_config,
)
from .sweep import DIVERGED_EXIT_CODE, summarize
from .sweep_record import keep_sweep_record
from .unfinished import mark_finished, mark_unfinished

log = logging.getLogger(__name__)

EXPECTED_JOBS: dict[str, list[Path]] = {}
"""The job folders of each sweep this process started, as the preflight composed them (basic sweeper)."""


def _or_exit(check: Callable[[], object]) -> None:
    """Run `check`; on any failure print one paragraph and exit with 1, before anything is written."""
    try:
        check()
    except InputError as e:
        print(e, file=sys.stderr)
        raise SystemExit(1) from e
    except Exception as e:  # a check that broke is still a refusal: nothing may run on unchecked input
        print(
            f"The checks before the run could not finish ({type(e).__name__}: {e}). Nothing was run or "
            "written; fix the cause above and run the command again.",
            file=sys.stderr,
        )
        raise SystemExit(1) from e


def _job_labels(jobs: list[list[str]]) -> list[str]:
    return [" ".join(j) for j in jobs]


class QuietLibraries(Callback):
    """Keep the libraries' INFO lines and colour codes out of the output (ops.library_logs)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        quiet_libraries()

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        quiet_libraries(tuning=tunes(config.hydra))


class Preflight(Callback):
    """Check every job's config, the device, the data and the output folder before Hydra writes anything."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        note_output("hydra.run.dir", config.hydra.run.dir)
        _or_exit(lambda: self._check_run(config))

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        note_output("hydra.sweep.dir", config.hydra.sweep.dir)
        _or_exit(lambda: self._check_sweep(config))
        os.environ[LAUNCHER_PID] = str(os.getpid())  # worker processes of this sweep end with this process

    @staticmethod
    def _check_run(config: DictConfig) -> None:
        task, folder = task_config(config), Path(config.hydra.run.dir)
        check_jobs([task], [""], folder)
        check_resumable([task], [folder])

    @staticmethod
    def _check_sweep(config: DictConfig) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs = sweep_job_overrides(config)
        if jobs is None:  # another sweeper: its jobs are checked as it launches them
            task = task_config(config)
            if tunes(config.hydra):
                check_search(config, task)
            check_jobs([task], [""], sweep_dir, device=runs_here(config))
            return
        if not jobs:
            raise empty_sweep(config)
        composed = compose_jobs(config, jobs)
        folders = [Path(str(c.hydra.sweep.dir)) / str(c.hydra.sweep.subdir) for c in composed]
        shared_folders(jobs, folders)
        tasks = [task_config(c) for c in composed]
        check_jobs(tasks, _job_labels(jobs), sweep_dir, device=runs_here(config))
        check_resumable(tasks, folders)
        writable_target(sweep_dir)
        EXPECTED_JOBS[str(sweep_dir)] = folders


class SweepRecord(Callback):
    """Keep the sweep folder's multirun.yaml as multirun.<date>_<time>.yaml before the basic sweeper overwrites it
    (ops.sweep_record): a folder reused by several commands keeps every command's record."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if OmegaConf.select(config, "hydra.sweeper._target_") == BASIC_SWEEPER:  # the sweeper that writes it
            kept = keep_sweep_record(Path(config.hydra.sweep.dir))
            if kept is not None:
                log.info("the sweep's earlier record is kept as %s", kept)


def check_search(config: DictConfig, task: DictConfig) -> None:
    """Refuse a search (hydra/sweeper=optuna) that cannot run: no validation split, no trials, a bad search space."""
    if not task.data.val_size:
        raise InputError(
            "A search (hydra/sweeper=optuna) selects on a validation split, and data.val_size is 0: it "
            "would tune on nothing, or on the test set. Set data.val_size (e.g. 10000); nothing was run."
        )
    trials = config.hydra.sweeper.get("n_trials")
    if not isinstance(trials, int) or trials < 1:
        raise InputError(
            f"hydra.sweeper.n_trials={trials} runs no trial, so the search would have nothing to report. Use 1 or "
            "more (the tune_fixed preset: 20); nothing was run."
        )
    from hydra_plugins.hydra_optuna_sweeper._impl import create_params_from_overrides

    params = [f"{key}={value}" for key, value in (config.hydra.sweeper.get("params") or {}).items()]
    try:
        create_params_from_overrides([*params, *config.hydra.overrides.task])
    except Exception as e:  # Optuna's own checks: an empty interval, a log scale through 0, a bad expression
        raise InputError(
            f"The search space cannot be searched: {type(e).__name__}: {str(e).rstrip('.')}. Each searched key needs "
            "a valid sweep, e.g. tag(log, interval(0.05, 20)) with 0 < low < high for a log scale, or "
            "choice(a, b); nothing was run."
        ) from e


def write_sweep_floors(config: DictConfig) -> None:
    """Write <sweep>/floors.json from the data the sweep's runs used (`mtl_uncertainty.floors`); warn, never fail.

    Only the sweep's own runs count (the job folders the preflight composed, where it did), and data are
    loaded only from the sweep's data.root, and only where their hash is the one the runs recorded.
    """
    from ..floors import write_floors

    sweep = Path(config.hydra.sweep.dir)
    try:
        path, problems = write_floors(sweep, jobs=EXPECTED_JOBS.get(str(sweep)), roots=[str(config.data.root)])
    except Exception as e:  # the runs are done and saved; floors that could not be computed must not hide that
        log.warning("no floors.json (%s: %s); try python -m mtl_uncertainty.floors %s", type(e).__name__, e, sweep)
        return
    for problem in problems:
        log.warning("%s; try python -m mtl_uncertainty.floors %s --data-root PATH", problem, sweep)
    if path is not None:
        log.info("floors: %s", path)


class SweepReport(Callback):
    """Write floors.json and the analysis report into <sweep>/report/ when a sweep ends (never fails the sweep)."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        write_sweep_floors(config)  # before the report, which reads it
        if not self.enabled:
            return
        from ..analysis import NoRunsError, make_report
        from ..analysis.errors import BaselineError

        sweep = Path(config.hydra.sweep.dir)
        question = config.get("report") or {}
        baseline = question.get("baseline")
        primary = question.get("primary")
        primary = None if primary is None else list(primary)
        try:
            try:
                report = make_report([sweep], sweep / "report", baseline=baseline, primary=primary)
            except BaselineError:  # several fixed-weight rows (a λ search): compare with the one best on validation
                if baseline is not None:
                    raise
                report = make_report([sweep], sweep / "report", baseline="best:weighting=fixed", primary=primary)
        except NoRunsError as e:
            log.warning("no report: %s", e)
        except Exception as e:  # the runs are done and saved; a broken report must not hide that
            log.warning(
                "the report could not be made (%s: %s); try python analysis/report.py %s", type(e).__name__, e, sweep
            )
        else:
            log.info("report: %s\n%s\n%s", report.out_dir / "report.md", report.main_table_text(), report.floors_text())


class SweepStatus(Callback):
    """End every sweep with one summary line and the exit status: 1 if runs failed, 3 if runs diverged.

    A sweep is marked unfinished from its start (after the preflight) until it ends with every job
    completed or diverged, so that the same command started again finishes it (ops.unfinished).
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        mark_unfinished(Path(config.hydra.sweep.dir))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = str(config.hydra.sweep.dir)
        summary = summarize(Path(sweep_dir), EXPECTED_JOBS.get(sweep_dir), FAILURES)
        code = summary.exit_code()
        details = summary.details()
        if code in (0, DIVERGED_EXIT_CODE):
            mark_finished(Path(sweep_dir))
        if code:
            print(summary.line(), file=sys.stderr)
            for line in details:
                print(f"  {line}", file=sys.stderr)
            if code == 1:
                print(
                    "Each failed run's result.json holds its traceback; run the same command again to retry the "
                    "runs that failed or have no result (finished runs are skipped).",
                    file=sys.stderr,
                )
            raise SystemExit(code)
        log.info(summary.line())
        for line in details:
            log.warning(line)
