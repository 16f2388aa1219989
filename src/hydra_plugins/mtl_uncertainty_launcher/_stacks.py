"""The launchers of `hydra/launcher=stacks_local` and `stacks_slurm` (registered in stacks_submitit.py).

Needs the cluster extra (hydra-submitit-launcher); Hydra's plugin scan skips this module (its leading _).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, run_job, setup_globals
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher
from omegaconf import DictConfig, OmegaConf, open_dict

from .suite_launcher import SuiteLauncher, failed_job_return, job_configs

log = logging.getLogger(__name__)


class _StacksLauncher(BaseSubmititLauncher):
    """Submit one submitit task per stack of unfinished runs, and train each stack in its task."""

    def __init__(self, stack: str = "on", max_stack: int = 64, **params: Any) -> None:
        if stack not in ("on", "off"):
            raise ValueError(f"hydra.launcher.stack={stack} is not on or off")
        super().__init__(**params)
        self.stack, self.max_stack = stack, max_stack

    def __call__(  # type: ignore[override]  # in the task: one stack, entered through the one door
        self, overrides: list[list[str]], job_nums: list[int], singleton_state: dict[type, Singleton]
    ) -> list[JobReturn]:
        import submitit

        from mtl_uncertainty.ops.jobs import Stack, assembling, tunes

        assert self.hydra_context is not None and self.config is not None and self.task_function is not None
        Singleton.set_state(singleton_state)
        setup_globals()
        configs = []
        for job_overrides, num in zip(overrides, job_nums):
            cfg = self.hydra_context.config_loader.load_sweep_config(self.config, list(job_overrides))
            with open_dict(cfg.hydra.job):
                cfg.hydra.job.id = submitit.JobEnvironment().job_id
                cfg.hydra.job.num = num
            configs.append(cfg)
        returns: dict[int, JobReturn] = {}

        def enter(cfg: DictConfig) -> None:
            returns[int(cfg.hydra.job.num)] = run_job(
                hydra_context=self.hydra_context,
                task_function=self.task_function,
                config=cfg,
                job_dir_key="hydra.sweep.dir",
                job_subdir_key="hydra.sweep.subdir",
            )

        def failed(cfg: DictConfig, error: BaseException) -> None:
            returns[int(cfg.hydra.job.num)] = failed_job_return(cfg, error, tunes(self.config.hydra))

        stack = Stack(configs, enter, failed)
        with assembling(stack):
            stack.enter_next()
        return [returns[num] for num in job_nums]

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from mtl_uncertainty.ops.jobs import job_folder, job_value, tunes
        from mtl_uncertainty.ops.preflight import check_jobs
        from mtl_uncertainty.run import finished_result_of, stack_units

        assert self.config is not None and self.hydra_context is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        configs, labels, tasks = job_configs(self.config, self.hydra_context, job_overrides, initial_job_idx)
        check_jobs(tasks, labels, sweep_dir, device=self._EXECUTOR == "local")  # a node's devices are checked there
        returns: dict[int, JobReturn] = {}
        todo = []
        for i, (cfg, task) in enumerate(zip(configs, tasks)):
            done = finished_result_of(task, job_folder(cfg))
            if done is None:
                todo.append(i)
            else:  # never submitted again
                value = job_value(task, job_folder(cfg), done, tunes(self.config.hydra))
                returns[int(cfg.hydra.job.num)] = SuiteLauncher._job_return(cfg, task, value)
        units = [
            [todo[j] for j in unit]
            for unit in stack_units([tasks[i] for i in todo], self.max_stack, self.stack == "on")
        ]
        log.info(
            f"Submitit '{self._EXECUTOR}': {len(configs)} jobs, {len(configs) - len(todo)} finished already, "
            f"{len(todo)} to train as {len(units)} task(s) (at most {self.max_stack} runs in one); sweep: {sweep_dir}"
        )
        if units:
            batches = [[list(job_overrides[i]) for i in unit] for unit in units]
            nums = [[int(configs[i].hydra.job.num) for i in unit] for unit in units]
            jobs = self._executor().map_array(self, batches, nums, [Singleton.get_state()] * len(units))
            for unit, job in zip(units, jobs):
                names = [str(OmegaConf.select(configs[i], "hydra.sweep.subdir")) for i in unit]
                log.info(f"\ttask {job.job_id}: {len(unit)} run(s): {', '.join(names)}")
            for unit, job in zip(units, jobs):  # a task that failed as a whole raises here, as Hydra's launcher does
                for i, ret in zip(unit, job.results()[0]):
                    returns[int(configs[i].hydra.job.num)] = ret
        return [returns[int(c.hydra.job.num)] for c in configs]

    def _executor(self) -> Any:
        """submitit's executor, from the launcher's parameters (as Hydra's submitit launcher makes it)."""
        import submitit
        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        init = {"submitit_folder", "max_num_timeout"}
        extra = (
            {f"{self._EXECUTOR}_max_num_timeout": self.params["max_num_timeout"]}
            if "max_num_timeout" in self.params
            else {}
        )
        executor = submitit.AutoExecutor(folder=self.params["submitit_folder"], cluster=self._EXECUTOR, **extra)
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(
            **{k if k in base else f"{self._EXECUTOR}_{k}": v for k, v in self.params.items() if k not in init}
        )
        return executor


class StacksLocalLauncher(_StacksLauncher):
    _EXECUTOR = "local"


class StacksSlurmLauncher(_StacksLauncher):
    _EXECUTOR = "slurm"
