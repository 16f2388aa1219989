"""Train one run, or a sweep with -m: `python src/train.py -m weighting=learnable,fixed recon=true,false`.

Hydra composes the config (conf/), this file hands it to `run`, which writes result.json into
the job's folder. A single run that diverges exits with status 3, as a sweep with a diverged run
does; in a sweep, a run's failure is recorded in its folder and summarised when the sweep ends.
"""

import logging
import os
import sys
from pathlib import Path

import hydra
from hydra._internal.utils import get_args_parser as hydra_args_parser
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from mtl_uncertainty.ops.interrupt import stop_on_sigterm, stopped
from mtl_uncertainty.ops.jobs import run_job, tunes
from mtl_uncertainty.ops.overrides import ungrouped_keys, unknown_options
from mtl_uncertainty.ops.sweep import DIVERGED_EXIT_CODE
from mtl_uncertainty.ops.unfinished import resuming, unfinished_sweep
from mtl_uncertainty.run import run
from mtl_uncertainty.runs.folder import JobLocked

# Launchers that start fresh Python processes (submitit, SLURM) find the package uninstalled too.
_src = str(Path(__file__).resolve().parent)
if _src not in os.environ.get("PYTHONPATH", "").split(os.pathsep):
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (_src, os.environ.get("PYTHONPATH")) if p)


@hydra.main(config_path="../conf", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> object:
    cfg.data.root = to_absolute_path(cfg.data.root)
    hydra_cfg = HydraConfig.get()
    out_dir = Path(hydra_cfg.runtime.output_dir)
    if hydra_cfg.mode == RunMode.MULTIRUN:
        parallel = OmegaConf.select(hydra_cfg, "launcher.n_jobs") or 1  # joblib runs this many jobs at once
        return run_job(cfg, out_dir, search=tunes(hydra_cfg), parallel_runs=int(parallel))
    try:
        result = run(cfg, out_dir)
    except JobLocked as e:
        print(e, file=sys.stderr)
        return None
    if result["status"] == "diverged":
        step = (result.get("divergence") or {}).get("step")
        print(
            f"The run in {out_dir} diverged at step {step} (a NaN or infinite loss; see 'divergence' in its "
            f"result.json). Exit status {DIVERGED_EXIT_CODE}.",
            file=sys.stderr,
        )
        raise SystemExit(DIVERGED_EXIT_CODE)
    return None


def resume_unfinished_sweep(argv: list[str]) -> list[str]:
    """argv with hydra.sweep.dir= the newest unfinished sweep of this same command, if there is one (said so)."""
    args = hydra_args_parser().parse_known_args(argv)[0]
    if not args.multirun or args.cfg or args.help or args.hydra_help or args.info or args.shell_completion:
        return argv
    if (sweep_dir := unfinished_sweep(args.overrides)) is None:
        return argv
    print(resuming(sweep_dir), file=sys.stderr)
    return [*argv, f"hydra.sweep.dir={sweep_dir}"]


def refuse_mistyped_overrides(argv: list[str]) -> None:
    """Exit 1 with one paragraph for a key without its group or an unknown option (Hydra's answers mislead)."""
    overrides = hydra_args_parser().parse_known_args(argv)[0].overrides
    conf = Path(__file__).resolve().parents[1] / "conf"
    if problem := ungrouped_keys(overrides, conf) or unknown_options(overrides, conf):
        print(problem, file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    logging.captureWarnings(True)
    refuse_mistyped_overrides(sys.argv[1:])
    sys.argv[1:] = resume_unfinished_sweep(sys.argv[1:])
    stop_on_sigterm()
    try:
        main()
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM (ops.interrupt.Terminated)
        paragraph, status = stopped(e, sys.argv)
        print(paragraph, file=sys.stderr)
        sys.exit(status)
