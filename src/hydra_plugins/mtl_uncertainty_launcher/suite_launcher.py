"""The suite's Hydra launcher (`hydra/launcher=suite`, the default).

Checks every job of a batch before any runs (config values, data, output folder), then runs the
jobs: one after another (the reference path, and the fast one on a CPU), or, with a GPU, the
jobs that can share one stacked network together (`stack: auto`; see mtl_uncertainty.training.stacked).
Either way each unit of work (a stack of 1..max_stack jobs) enters training through the same door as
every other launcher's jobs: Hydra's run_job for each job (its folder, `.hydra/` record, log and job
callbacks), then train.main (see mtl_uncertainty.ops.jobs.Stack). A job that fails, even
while Hydra saves its config (a full disk), is logged with its folder and recorded as failed; the
other jobs go on, and the sweep's end-of-run callbacks summarise and report every job.
"""

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict

log = logging.getLogger(__name__)


@dataclass
class SuiteLauncherConf:
    _target_: str = "hydra_plugins.mtl_uncertainty_launcher.suite_launcher.SuiteLauncher"
    stack: str = "auto"  # auto: stack runs when they train on a GPU; on: always; off: one run after another
    max_stack: int = 64  # at most this many runs in one stack


ConfigStore.instance().store(group="hydra/launcher", name="suite", node=SuiteLauncherConf, provider="mtl_uncertainty")


class SuiteLauncher(Launcher):
    def __init__(self, stack: str = "auto", max_stack: int = 64) -> None:
        if stack not in ("auto", "on", "off"):
            raise ValueError(f"hydra.launcher.stack={stack} is not auto, on or off")
        self.stack, self.max_stack = stack, max_stack
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from mtl_uncertainty.ops.jobs import Stack, assembling
        from mtl_uncertainty.ops.preflight import check_jobs
        from mtl_uncertainty.run import stack_units
        from mtl_uncertainty.training.devices import resolve_device

        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        configs, labels, tasks = job_configs(self.config, self.hydra_context, job_overrides, initial_job_idx)
        check_jobs(tasks, labels, sweep_dir)  # jobs the preflight checked are not checked again (runs.resume.check_job)

        on_gpu = any(resolve_device(t.device).type == "cuda" for t in tasks)
        units = stack_units(tasks, self.max_stack, stack=self.stack == "on" or (self.stack == "auto" and on_gpu))
        if len(units) < len(configs):
            log.info(f"Launching {len(configs)} jobs as {len(units)} stacks (at most {self.max_stack} runs in one)")
        else:
            log.info(f"Launching {len(configs)} jobs locally")
        returns: dict[int, JobReturn] = {}
        for unit in units:
            for i in unit:
                log.info(f"\t#{configs[i].hydra.job.num} : {labels[i]}")
            stack = Stack([configs[i] for i in unit], self._enter(returns), self._record_failure(returns))
            with assembling(stack):
                stack.enter_next()
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        return [returns[int(c.hydra.job.num)] for c in configs]

    def _enter(self, returns: dict[int, JobReturn]) -> Callable[[DictConfig], None]:
        """Hydra's own run_job for one job: its folder, .hydra record, log, job callbacks, then train.main."""

        def enter(cfg: DictConfig) -> None:
            returns[int(cfg.hydra.job.num)] = run_job(
                hydra_context=self.hydra_context,
                task_function=self.task_function,
                config=cfg,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )

        return enter

    def _record_failure(self, returns: dict[int, JobReturn]) -> Callable[[DictConfig, BaseException], None]:
        def failed(cfg: DictConfig, error: BaseException) -> None:
            returns[int(cfg.hydra.job.num)] = self._failed(cfg, error)

        return failed

    def _failed(self, cfg: DictConfig, error: BaseException) -> JobReturn:
        from mtl_uncertainty.ops.jobs import tunes

        return failed_job_return(cfg, error, tunes(self.config.hydra))

    @staticmethod
    def _job_return(cfg: DictConfig, task: DictConfig, value: object) -> JobReturn:
        ret = JobReturn(
            overrides=list(cfg.hydra.overrides.task),
            cfg=task,
            hydra_cfg=cfg,
            working_dir=os.getcwd(),
            task_name=str(cfg.hydra.job.name),
        )
        ret.status = JobStatus.COMPLETED  # failures are recorded in the job's folder, and summarised at the end
        ret.return_value = value
        return ret


def job_configs(
    config: DictConfig, hydra_context: HydraContext, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
) -> tuple[list[DictConfig], list[str], list[DictConfig]]:
    """Each job's Hydra config (numbered from `initial_job_idx`), its label (its overrides) and its task config."""
    from mtl_uncertainty.ops.preflight import task_config

    configs = []
    for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
        cfg = hydra_context.config_loader.load_sweep_config(config, list(overrides))
        with open_dict(cfg):
            cfg.hydra.job.id = cfg.hydra.job.num = idx
        configs.append(cfg)
    labels = [" ".join(filter_overrides(o)) for o in job_overrides]
    return configs, labels, [task_config(c) for c in configs]


def failed_job_return(cfg: DictConfig, error: BaseException, search: bool) -> JobReturn:
    """The JobReturn of a job Hydra could not start (its config could not be saved), logged and recorded."""
    from mtl_uncertainty.ops.jobs import note_failure

    out_dir = Path(str(cfg.hydra.sweep.dir)) / str(OmegaConf.select(cfg, "hydra.sweep.subdir"))
    log.error("%s could not start: %s: %s", out_dir, type(error).__name__, error)
    note_failure(out_dir, error)
    if search:
        return SuiteLauncher._job_return(cfg, cfg, float("nan"))
    return SuiteLauncher._job_return(cfg, cfg, {"status": "failed", "job_dir": str(out_dir), "error": str(error)})
