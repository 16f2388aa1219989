"""Stacks as submitit jobs: `hydra/launcher=stacks_slurm` on a SLURM cluster, `stacks_local` on this machine.

The runs that can share a stack (`run.stack_units`: equal `stack_key`, chunked by `max_stack`)
become one submitit task each, whatever their number of seeds: a 2×2 sweep of 3 seeds is 4 tasks,
not 12. A task enters its jobs through the suite's one door (`ops.jobs.Stack` over Hydra's own
run_job) and trains them as one stacked network on its node. Runs already finished are never
submitted; a task requeued after its time limit or a preemption (`max_num_timeout`) resumes each of
its runs from its last epoch checkpoint. Every job's folder, record, log and result.json are the
default launcher's, so `python analysis/report.py <sweep>` gathers them whenever the tasks are done.
"""

from dataclasses import dataclass

from hydra.core.config_store import ConfigStore

try:
    from hydra_plugins.hydra_submitit_launcher.config import LocalQueueConf, SlurmQueueConf

    from ._stacks import StacksLocalLauncher, StacksSlurmLauncher  # noqa: F401  (Hydra's plugin scan finds them here)
except ImportError:  # without the cluster extra there are no stacks_* launchers (and no warning on every run)
    LocalQueueConf = SlurmQueueConf = None

_LAUNCHERS = "hydra_plugins.mtl_uncertainty_launcher._stacks"

if LocalQueueConf is not None and SlurmQueueConf is not None:

    @dataclass
    class StacksLocalConf(LocalQueueConf):
        _target_: str = f"{_LAUNCHERS}.StacksLocalLauncher"
        stack: str = "on"  # on: the runs that can share a stack train as one (one task each); off: one task per run
        max_stack: int = 64  # at most this many runs in one stack (one task)

    @dataclass
    class StacksSlurmConf(SlurmQueueConf):
        _target_: str = f"{_LAUNCHERS}.StacksSlurmLauncher"
        stack: str = "on"  # on: the runs that can share a stack train as one (one array task each); off: one per run
        max_stack: int = 64  # at most this many runs in one stack (one array task)

    store = ConfigStore.instance().store
    store(group="hydra/launcher", name="stacks_local", node=StacksLocalConf, provider="mtl_uncertainty")
    store(group="hydra/launcher", name="stacks_slurm", node=StacksSlurmConf, provider="mtl_uncertainty")
