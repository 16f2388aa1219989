"""Checks made before anything is written: every job's config, the device, the data, the output folder."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from ..config import ConfigError
from ..errors import InputError
from ..runs.folder import writable_target
from ..runs.resume import check_job, refused_resumption
from ..training.devices import precision_problem, resolve_device

BASIC_SWEEPER = "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"


def task_config(cfg: DictConfig) -> DictConfig:
    """A job's config without Hydra's own node, its data.root absolute: what `run` receives (train.main)."""
    from hydra.utils import to_absolute_path

    task = copy.deepcopy(cfg)
    with read_write(task), open_dict(task):
        task.pop("hydra", None)
        task.data.root = to_absolute_path(task.data.root)
    return task


def check_jobs(cfgs: Sequence[DictConfig], labels: Sequence[str], out_dir: Path, device: bool = True) -> None:
    """Raise one InputError covering every problem of every job; writes nothing but fetched data.

    Each job's own checks are `runs.resume.check_job`, which the runner then finds done (once per job);
    `device`: check each job's device too, when the jobs run on this host (not for a cluster's launcher).
    """
    problems: dict[str, list[str]] = {}
    for cfg, label in zip(cfgs, labels):
        try:
            check_job(cfg)
            # where the jobs run here: their device, and the precision it must have
            problem = precision_problem(cfg.speed.precision, resolve_device(cfg.device)) if device else None
            if problem is not None:
                raise ConfigError(problem)
        except ConfigError as e:
            problems.setdefault(str(e), []).append(label or "(no overrides)")
    if problems:
        raise ConfigError(" ".join(_in_jobs(msg, jobs, len(cfgs)) for msg, jobs in problems.items()))
    writable_target(out_dir)


def runs_here(config: DictConfig) -> bool:
    """Whether the sweep's jobs run on this host, so that this host's devices are theirs (not on a cluster's nodes,
    whose devices each job checks where it runs)."""
    return not str(OmegaConf.select(config, "hydra.launcher._target_") or "").endswith("SlurmLauncher")


def check_resumable(cfgs: Sequence[DictConfig], folders: Sequence[Path]) -> None:
    """Raise InputError if a job's checkpoint would be refused (written by other source code; `resume.other_source`)."""
    refused = [(folder, why) for cfg, folder in zip(cfgs, folders) if (why := refused_resumption(cfg, folder))]
    if not refused:
        return
    more = ""
    if len(refused) > 1:
        others = [str(folder) for folder, _ in refused[1:4]] + (["..."] if len(refused) > 4 else [])
        more = f" The same holds for {len(refused) - 1} more job(s) of this command: {', '.join(others)}."
    raise InputError(refused[0][1] + more)


def sweep_job_overrides(config: DictConfig) -> list[list[str]] | None:
    """Each job's overrides, as the basic sweeper will expand them; None for other sweepers."""
    if OmegaConf.select(config, "hydra.sweeper._target_") != BASIC_SWEEPER:
        return None
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = [f"{k}={v}" for k, v in (OmegaConf.select(config, "hydra.sweeper.params") or {}).items()]
    parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
    parsed = parser.parse_overrides([*params, *config.hydra.overrides.task])
    (jobs,) = BasicSweeper.split_arguments(parsed, None)
    return jobs


def compose_jobs(config: DictConfig, jobs: Sequence[Sequence[str]]) -> list[DictConfig]:
    """The full config (with Hydra's node) each job will run with."""
    from hydra.core.global_hydra import GlobalHydra

    loader = GlobalHydra.instance().config_loader()
    return [loader.load_sweep_config(config, list(overrides)) for overrides in jobs]


def shared_folders(jobs: Sequence[Sequence[str]], folders: Sequence[Path]) -> None:
    """Refuse a sweep in which two jobs would share one folder: each would set the other's result aside."""
    first: dict[Path, Sequence[str]] = {}
    for overrides, folder in zip(jobs, folders):
        other = first.setdefault(folder, overrides)
        if other is overrides:
            continue
        keys = sorted({o.partition("=")[0] for o in set(overrides) ^ set(other)})
        if not keys:
            raise InputError(
                f"The sweep lists the job {' '.join(overrides) or '(no overrides)'} twice; both would train in "
                f"{folder}. Give each swept value once; nothing was run."
            )
        raise InputError(
            f"Two jobs of the sweep would share the folder {folder} ({' '.join(other)} and {' '.join(overrides)}): "
            f"{', '.join(keys)} is left out of job folder names "
            "(hydra.job.config.override_dirname.exclude_keys), so each would set the other's result aside and "
            "both would train again on every rerun. Run one sweep per value, each with its own hydra.sweep.dir, or "
            "take the key out of exclude_keys to put it in the folder name; nothing was run."
        )


def empty_sweep(config: DictConfig) -> InputError:
    given = " ".join(config.hydra.overrides.task)
    return InputError(
        f"The sweep has no jobs: its overrides ({given or 'none'}) expand to nothing (an empty range or list?). "
        "Give every swept key at least one value, e.g. seed=range(5); nothing was run."
    )


def _in_jobs(message: str, jobs: list[str], total: int) -> str:
    if total == 1:
        return message
    shown = "; ".join(jobs[:3]) + (f"; and {len(jobs) - 3} more" if len(jobs) > 3 else "")
    return f"{message} [{len(jobs)} of {total} jobs: {shown}]"
