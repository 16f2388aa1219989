"""TensorBoard logs, progress output, the end-of-sweep report, other Hydra launchers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mtl_uncertainty.run import run
from tests.conftest import CONF, REPO, TRAIN, compose_cfg, run_cli, tiny_overrides

TASK_TAGS = ("loss", "s", "sigma", "weight", "s_eq")


def scalars(job: Path) -> dict[str, list[tuple[int, float]]]:
    events = EventAccumulator(str(job))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def results(sweep: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(sweep)): json.loads(p.read_text()) for p in sorted(sweep.rglob("result.json"))}


def test_tensorboard_holds_every_scalar_of_every_step(tmp_path: Path, synthetic_root: Path) -> None:
    result = run(compose_cfg(*tiny_overrides(synthetic_root), "train.epochs=2"), tmp_path)
    logged = scalars(tmp_path)
    expected = {"train/loss", "train/acc_cls3", "train/acc_cls10"}
    expected |= {f"train/{kind}_{t}" for kind in TASK_TAGS for t in ("cls3", "cls10", "recon")}
    expected |= {f"test/{m}" for m in ("acc_cls3", "acc_cls10", "loss_cls3", "loss_cls10", "loss_recon")}
    assert set(logged) == expected
    assert [step for step, _ in logged["train/s_cls10"]] == list(range(1, 9))
    assert [step for step, _ in logged["test/acc_cls10"]] == [4, 8]
    traj = result["trajectory"]
    assert np.allclose([v for _, v in logged["train/s_cls10"]], traj["values"]["s"]["cls10"], rtol=1e-5)
    assert np.allclose([v for _, v in logged["train/sigma_recon"]], traj["values"]["sigma"]["recon"], rtol=1e-5)
    assert np.allclose([v for _, v in logged["train/loss_cls3"]], traj["loss"]["cls3"], rtol=1e-5)
    assert logged["test/acc_cls3"][-1][1] == pytest.approx(result["final"]["test"]["acc_cls3"])


def test_tensorboard_for_fixed_weights_without_reconstruction_has_no_s_and_no_recon(
    tmp_path: Path, synthetic_root: Path
) -> None:
    run(compose_cfg(*tiny_overrides(synthetic_root), "weighting=fixed", "recon=false"), tmp_path)
    logged = scalars(tmp_path)
    assert "train/weight_cls3" in logged and not [t for t in logged if "recon" in t or "/s_" in t or "sigma" in t]


def test_logger_tensorboard_false_writes_no_events(tmp_path: Path, synthetic_root: Path) -> None:
    run(compose_cfg(*tiny_overrides(synthetic_root), "logger.tensorboard=false"), tmp_path)
    assert not list(tmp_path.glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_tensorboard_of_a_resumed_run_shows_each_step_once(tmp_path: Path, synthetic_root: Path) -> None:
    args = [*tiny_overrides(synthetic_root), "train.epochs=3", f"hydra.run.dir={tmp_path}"]
    killed = run_cli(*args, env={"MTL_UNCERTAINTY_FAULT": "checkpoint_tmp@2"})  # epoch 2 logged, not saved
    assert killed.returncode == -signal.SIGKILL
    assert run_cli(*args).returncode == 0
    steps = [s for s, _ in scalars(tmp_path)["train/loss"]]
    assert steps == list(range(1, 13))


@pytest.mark.slow
def test_a_sweep_shows_progress_summaries_and_ends_with_its_report(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "weighting=learnable,fixed", *tiny_overrides(synthetic_root), f"hydra.sweep.dir={sweep}"]
    proc = run_cli(*args, "logger.progress=bar")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert out.count("finished: test acc") == 2
    assert "step/s" in proc.stderr or "s/step" in proc.stderr  # tqdm's bar
    assert (sweep / "report" / "report.md").exists() and "report: " in out
    quiet = run_cli(*args[:-1], f"hydra.sweep.dir={tmp_path / 'quiet'}", "hydra.callbacks.report.enabled=false")
    assert quiet.returncode == 0 and not (tmp_path / "quiet" / "report").exists()
    assert "step/s" not in quiet.stderr and "s/step" not in quiet.stderr  # not a terminal: log lines only
    assert "epoch 1/1" in quiet.stdout + quiet.stderr


@pytest.mark.slow
def test_joblib_runs_jobs_in_parallel_workers_and_resumes_after_a_kill(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", *tiny_overrides(synthetic_root)]
    args += ["train.epochs=2", f"hydra.sweep.dir={sweep}"]  # one thread each (tiny_overrides)
    killed = run_cli(*args, env={"MTL_UNCERTAINTY_FAULT": "step@6"})  # a worker dies in its 2nd epoch
    assert killed.returncode != 0 and not results(sweep)
    checkpointed = {p.parent.name for p in sweep.rglob("checkpoint.pt")}
    assert checkpointed  # at least the first job had finished its first epoch
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    out = resumed.stdout + resumed.stderr  # the same end as the default launcher: the summary and the report
    assert "2 completed, 0 diverged, 0 failed" in out and (sweep / "report" / "report.md").exists()
    found = {name.split("/")[-1]: r for name, r in results(sweep).items() if "seed=" in name}
    assert sorted(found) == ["seed=0", "seed=1"]
    for seed, r in found.items():
        assert r["status"] == "completed" and r["resumed_at_epochs"] == ([1] if seed in checkpointed else [])
        # like with like: one run alone, in its own process, with the workers' one thread (bit for bit holds at a
        # fixed thread count on one kind of CPU; oneDNN's kernels for 1 and 2 threads differ in the last digit)
        own = tmp_path / seed.replace("=", "-")
        alone = run_cli(*tiny_overrides(synthetic_root), "train.epochs=2", seed, f"hydra.run.dir={own}")
        assert alone.returncode == 0, alone.stderr[-2000:]
        assert r["final"] == json.loads((own / "result.json").read_text())["final"]


@pytest.mark.slow
def test_killing_a_joblib_sweep_ends_its_worker_processes_too(tmp_path: Path, synthetic_root: Path) -> None:
    """A worker whose launcher was SIGKILLed would finish its run unseen (parent pid 1); it ends with it."""
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", *tiny_overrides(synthetic_root)]
    args += ["train.epochs=400", "logger.heartbeat_s=1", f"hydra.sweep.dir={sweep}"]
    log = tmp_path / "out.log"
    with open(log, "w") as out:
        launcher = subprocess.Popen([sys.executable, str(TRAIN), *args], cwd=REPO, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 300
        while log.read_text().count("starting,") < 2:
            assert time.monotonic() < deadline and launcher.poll() is None, log.read_text()[-2000:]
            time.sleep(0.5)
        workers = _children(launcher.pid)
        assert len(workers) >= 2
        launcher.kill()
        launcher.wait()
        deadline = time.monotonic() + 30
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert not [pid for pid in workers if _alive(pid)], "worker processes outlived their sweep"
    finally:
        for pid in _children(launcher.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    """The live child processes of `pid` (Linux /proc)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie waiting for its reaper has ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.slow
def test_submitit_local_runs_a_two_job_sweep_and_skips_it_when_run_again(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "weighting=learnable,fixed"]
    args += [*tiny_overrides(synthetic_root), f"hydra.sweep.dir={sweep}"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-2000:]
    found = results(sweep)
    assert len(found) == 2 and all(r["status"] == "completed" for r in found.values())
    again = run_cli(*args)
    assert again.returncode == 0
    assert {k: r["finished_at"] for k, r in results(sweep).items()} == {k: r["finished_at"] for k, r in found.items()}


def test_the_slurm_config_makes_a_valid_sbatch_script_for_one_gpu(tmp_path: Path, monkeypatch) -> None:
    """The YAML goes through submitit as the launcher sends it: every key must be one sbatch accepts."""
    import submitit
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf
    from omegaconf import OmegaConf

    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake / "srun").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")  # submitit looks for srun
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    params = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert params["_target_"].endswith("SlurmLauncher")
    assert params["max_num_timeout"] == 3  # a timed-out job is requeued, and resumes from its checkpoint
    base = set(OmegaConf.structured(BaseQueueConf).keys())
    executor = submitit.AutoExecutor(folder=str(tmp_path / "jobs"), cluster="slurm")
    executor.update_parameters(
        **{
            k if k in base else f"slurm_{k}": v
            for k, v in params.items()
            if k not in ("_target_", "submitit_folder", "max_num_timeout", "stack", "max_stack")
        }
    )
    script = executor._executor._make_submission_file_text("python src/train.py", "uid")
    for line in ("--gpus-per-node=1", "--partition=gpu", "--time=30", "--signal=USR2@", "--cpus-per-task=4"):
        assert f"#SBATCH {line}" in script, line


def test_without_a_terminal_a_run_says_when_it_starts_and_how_far_it_is(tmp_path: Path, synthetic_root: Path) -> None:
    proc = run_cli(
        *tiny_overrides(synthetic_root), "train.epochs=2", "logger.heartbeat_s=0.000001", f"hydra.run.dir={tmp_path}"
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert ": starting, 8 steps" in out
    assert "step 8/8 (100%)" in out and "steps/s, about" in out


def test_help_shows_the_suites_groups_presets_and_commands() -> None:
    proc = run_cli("--help")
    assert proc.returncode == 0
    for text in (
        "python analysis/report.py",
        "pytest",
        "+experiment=methods",
        "weighting: aligned_mtl, cagrad, dwa, famo, fixed",
        "dataset: fashion_mnist",
        "+experiment=learning ",
    ):
        assert text in proc.stdout, text
    groups = proc.stdout.split("== Configuration groups (group=option) ==")[1].split("== Config")[0].split()
    assert "schema/weighting:" not in groups and not any(g.startswith("schema") for g in groups)  # the typed schemas
    assert [g for g in groups if g.endswith(":")] == ["dataset:", "experiment:", "logger:", "sigma_init:", "weighting:"]
    assert "logger: csv, mlflow, tensorboard, wandb" in proc.stdout


def test_hydras_own_compose_api_works_in_a_fresh_interpreter_with_no_suite_import() -> None:
    code = (
        "import sys\n"
        "from hydra import compose, initialize_config_dir\n"
        f"with initialize_config_dir(config_dir={str(CONF)!r}, version_base='1.3'):\n"
        "    cfg = compose('config', ['weighting=fixed', 'weighting.weights.cls10=2', 'sigma_init=constant'])\n"
        "print(cfg.weighting.name, cfg.weighting.weights.cls10, cfg.sigma_init.name, cfg.train.lr)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO.parent, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["fixed", "2.0", "constant", "0.0001"]
