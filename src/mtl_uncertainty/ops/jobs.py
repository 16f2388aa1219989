"""A sweep's job as the task function sees it: run it, and never let one run's failure end the sweep."""

from __future__ import annotations

import logging
import math
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from ..objective import objective
from ..runs.folder import JobLocked

log = logging.getLogger(__name__)

FAILURES: dict[str, str] = {}
"""Job folder → its error in one line, for every job of this process that failed (the sweep's
summary names them even where a full disk kept the failure out of the job's folder)."""


def note_failure(out_dir: Path, error: BaseException | str) -> None:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    FAILURES[str(Path(out_dir).resolve())] = text.strip().splitlines()[0] if text.strip() else text


def tunes(hydra_cfg: DictConfig | None) -> bool:
    """Whether the sweep is a search that needs each job's objective (hydra/sweeper=optuna)."""
    return "optuna" in str(OmegaConf.select(hydra_cfg, "sweeper._target_") or "") if hydra_cfg is not None else False


def validation_objective(cfg: DictConfig, outcome: dict[str, Any] | BaseException) -> float:
    """The objective a search maximises, on the validation split (NaN for a run that failed or diverged)."""
    if isinstance(outcome, BaseException) or not outcome.get("final"):
        return math.nan
    return objective(outcome["final"]["val"], outcome["tasks"]["active"], cfg.tune.objective)


def job_value(
    cfg: DictConfig, out_dir: Path, outcome: dict[str, Any] | BaseException, search: bool = False
) -> dict[str, Any] | float:
    """What a sweep's job returns to Hydra: its status (the result itself is in its folder), or for a
    search (`search`) its validation objective.

    A failure is logged here and recorded in the job's folder; the sweep's summary names it at the end.
    """
    if search:
        value = validation_objective(cfg, outcome)
        job_value(cfg, out_dir, outcome)
        log.info("%s: validation objective (%s) %.5f", out_dir, cfg.tune.objective, value)
        return value
    if isinstance(outcome, JobLocked):
        log.warning("%s", outcome)
        return {"status": "skipped", "job_dir": str(out_dir), "reason": str(outcome)}
    if isinstance(outcome, BaseException):
        log.error("%s failed: %s: %s", out_dir, type(outcome).__name__, outcome)
        note_failure(out_dir, outcome)
        return {"status": "failed", "job_dir": str(out_dir), "error": f"{type(outcome).__name__}: {outcome}"}
    return {"status": outcome["status"], "job_dir": str(out_dir)}


LAUNCHER_PID = "MTL_UNCERTAINTY_LAUNCHER_PID"
"""Set by the sweep's process before it launches any job; a job in a worker process it started ends with it."""


def end_with_launcher(poll_s: float = 1.0) -> None:
    """In a worker the sweep's process started (joblib), die as soon as that process is gone.

    A worker whose launcher was killed would otherwise finish its run unseen, holding its job's lock.
    Only a direct child of the launcher watches (a job on another machine, e.g. SLURM, does not).
    """
    launcher = int(os.environ.get(LAUNCHER_PID, "0") or 0)
    if not launcher or launcher == os.getpid() or os.getppid() != launcher or _watching.is_set():
        return
    _watching.set()

    def watch() -> None:
        while os.getppid() == launcher:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGKILL)  # what is kept: finished runs, and each run's last epoch checkpoint

    threading.Thread(target=watch, name="end-with-launcher", daemon=True).start()


_watching = threading.Event()


def run_job(cfg: DictConfig, out_dir: Path, search: bool = False, parallel_runs: int = 1) -> dict[str, Any] | float:
    """Run one job of a sweep; its failure is recorded, not raised (`search`: return its objective).

    `parallel_runs`: the jobs the launcher runs at once, which share the cores (speed.threads=null).
    """
    from ..run import run_many

    end_with_launcher()
    if _assembling is not None and _assembling.expects(out_dir):
        outcome = _assembling.join(cfg, out_dir, parallel_runs)
    else:
        (outcome,) = run_many([cfg], [out_dir], stack=False, parallel_runs=parallel_runs)
    return job_value(cfg, out_dir, outcome, search)


class Stack:
    """The jobs of one unit of work, trained as one stack, each entered through Hydra's own `run_job`.

    `enter(cfg)` is the launcher's call of Hydra's run_job for one job (its .hydra record, its job
    callbacks, its log, its HydraConfig). Each job's task function (train.main, then `run_job` above)
    joins the stack and enters the next job inside it; the last one trains them all together, and
    every job then returns its own outcome to its own run_job, ending its callbacks after the training.
    A job Hydra cannot start (its record cannot be saved: a full disk) is `failed(cfg, error)` and skipped.
    """

    def __init__(
        self,
        members: list[DictConfig],
        enter: Callable[[DictConfig], object],
        failed: Callable[[DictConfig, BaseException], object],
    ) -> None:
        self.pending, self.enter, self.failed = list(members), enter, failed
        self.names = {str(job_folder(c)): str(OmegaConf.select(c, "hydra.sweep.subdir")) for c in members}
        self.cfgs: list[DictConfig] = []
        self.out_dirs: list[Path] = []
        self.logs: list[tuple[str, logging.Formatter | None]] = []
        self.outcomes: list[dict[str, Any] | BaseException] | None = None

    def expects(self, out_dir: Path) -> bool:
        return str(Path(out_dir).resolve()) in self.names

    def enter_next(self) -> None:
        """Enter the next job that Hydra can start; it returns once the whole stack has trained."""
        while self.pending:
            cfg = self.pending.pop(0)
            try:
                self.enter(cfg)
                return
            except OSError as e:  # Hydra could not save the job's config (a full disk): record it, go on
                self.failed(cfg, e)

    def join(self, cfg: DictConfig, out_dir: Path, parallel_runs: int = 1) -> dict[str, Any] | BaseException:
        """Add this job to the stack, enter the rest inside it, and return this job's outcome once it trained."""
        index = len(self.cfgs)
        self.cfgs.append(cfg)
        self.out_dirs.append(Path(out_dir))
        files = [h for h in logging.getLogger().handlers if isinstance(h, logging.FileHandler)]
        self.logs += [(h.baseFilename, h.formatter) for h in files]  # this job's log, as Hydra configured it
        self.enter_next()
        if self.outcomes is None:
            self.outcomes = self._train(parallel_runs)
        return self.outcomes[index]

    def _train(self, parallel_runs: int) -> list[dict[str, Any] | BaseException]:
        from ..run import run_many

        labels = [self.names[str(d.resolve())] if len(self.cfgs) > 1 else "" for d in self.out_dirs]
        with _logging_to(self.logs):  # every job's own log holds the stack's lines
            return run_many(self.cfgs, self.out_dirs, len(self.cfgs), labels, parallel_runs=parallel_runs)


def job_folder(cfg: DictConfig) -> Path:
    """A sweep job's folder, from its full config (with Hydra's node)."""
    return (Path(str(cfg.hydra.sweep.dir)) / str(OmegaConf.select(cfg, "hydra.sweep.subdir"))).resolve()


@contextmanager
def _logging_to(logs: list[tuple[str, logging.Formatter | None]]) -> Iterator[None]:
    root = logging.getLogger()
    present = {h.baseFilename for h in root.handlers if isinstance(h, logging.FileHandler)}
    added = []
    for filename, formatter in logs:
        if filename in present:
            continue
        present.add(filename)
        handler = logging.FileHandler(filename)
        handler.setFormatter(formatter)
        root.addHandler(handler)
        added.append(handler)
    try:
        yield
    finally:
        for handler in added:
            root.removeHandler(handler)
            handler.close()


_assembling: Stack | None = None


@contextmanager
def assembling(stack: Stack) -> Iterator[Stack]:
    """While the launcher enters `stack`'s jobs, their task functions join it instead of training alone."""
    global _assembling
    outer, _assembling = _assembling, stack
    try:
        yield stack
    finally:
        _assembling = outer
