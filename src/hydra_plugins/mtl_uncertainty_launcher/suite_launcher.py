"""The suite's Hydra launcher (`hydra/launcher=suite`, the default).

Checks every job of a sweep before any runs (config values, data, output folder), runs the
jobs, then names every run that failed or diverged.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, run_job, setup_globals
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, open_dict

log = logging.getLogger(__name__)


@dataclass
class SuiteLauncherConf:
    _target_: str = "hydra_plugins.mtl_uncertainty_launcher.suite_launcher.SuiteLauncher"


ConfigStore.instance().store(group="hydra/launcher", name="suite", node=SuiteLauncherConf, provider="mtl_uncertainty")


class SuiteLauncher(Launcher):
    def __init__(self) -> None:
        self.config: DictConfig | None = None
        self.hydra_context: HydraContext | None = None
        self.task_function: TaskFunction | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from mtl_uncertainty.preflight import check_jobs, task_config
        from mtl_uncertainty.sweep import summarize

        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        configs = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(overrides))
            with open_dict(cfg):
                cfg.hydra.job.id = cfg.hydra.job.num = idx
            configs.append(cfg)
        labels = [" ".join(filter_overrides(o)) for o in job_overrides]
        check_jobs([task_config(c) for c in configs], labels, sweep_dir)

        log.info(f"Launching {len(configs)} jobs locally")
        runs = []
        for cfg, label in zip(configs, labels):
            log.info(f"\t#{cfg.hydra.job.num} : {label}")
            runs.append(
                run_job(
                    hydra_context=self.hydra_context,
                    task_function=self.task_function,
                    config=cfg,
                    job_dir_key="hydra.sweep.dir",
                    job_subdir_key="hydra.sweep.subdir",
                )
            )
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        failed = [r for r in runs if r.status is JobStatus.FAILED]
        summarize(sweep_dir, failed=[(r.hydra_cfg.hydra.runtime.output_dir, r._return_value) for r in failed])
        return runs
