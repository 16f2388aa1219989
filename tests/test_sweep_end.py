"""How sweeps end, through the real CLI: one summary for every launcher, each run counted once, a
second process kept off a job being trained, a full disk that fails jobs but not the sweep."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtl_uncertainty.run import run
from mtl_uncertainty.runs.folder import JobLock
from tests.conftest import REPO, TRAIN, compose_cfg, run_cli, tiny_overrides, write_synthetic_mnist

FAULT = "MTL_UNCERTAINTY_FAULT"


def results(sweep: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(sweep)): json.loads(p.read_text()) for p in sorted(sweep.rglob("result.json"))}


def seeds(root: Path, sweep: Path, *extra: str) -> list[str]:
    return ["-m", "seed=0,1", *tiny_overrides(root), f"hydra.sweep.dir={sweep}", *extra]


@pytest.mark.slow
def test_a_copied_job_folder_is_counted_once_and_named(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    assert run_cli(*seeds(synthetic_root, sweep)).returncode == 0
    job = next(p.parent for p in sweep.rglob("result.json") if p.parent.name == "seed=0")
    shutil.copytree(job, job.with_name("seed=0 (copy)"))
    again = run_cli(*seeds(synthetic_root, sweep))
    assert again.returncode == 0, again.stderr[-2000:]
    out = again.stdout + again.stderr
    assert "2 completed, 0 diverged, 0 failed" in out
    assert "seed=0 (copy): a copy of" in out and "counted once" in out


@pytest.mark.slow
def test_a_job_another_process_is_training_is_skipped_and_said_so(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    first = run_cli(*seeds(synthetic_root, sweep))
    job = next(p.parent for p in sweep.rglob("result.json") if p.parent.name == "seed=1")
    (job / "result.json").unlink()
    lock = JobLock(job).acquire()  # this test process plays the other process
    try:
        second = run_cli(*seeds(synthetic_root, sweep))
    finally:
        lock.release()
    assert first.returncode == 0 and second.returncode == 0, second.stderr[-2000:]
    out = second.stdout + second.stderr
    assert "is being trained by another process" in out and "1 being trained by another process" in out
    assert not (job / "result.json").exists()
    third = run_cli(*seeds(synthetic_root, sweep))
    assert third.returncode == 0 and (job / "result.json").exists()


@pytest.mark.slow
def test_two_processes_on_one_sweep_train_each_job_once(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0,1,2,3", *tiny_overrides(synthetic_root), "train.epochs=3", f"hydra.sweep.dir={sweep}"]
    args += ["hydra.callbacks.report.enabled=false"]
    procs = [
        subprocess.Popen(
            [sys.executable, str(TRAIN), *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    trained = sum(o.count("finished: test acc") for o in outputs)
    assert trained == 4, outputs  # each job trained by exactly one of the two processes
    assert {r["status"] for r in results(sweep).values()} == {"completed"} and len(results(sweep)) == 4


@pytest.mark.slow
def test_a_full_disk_fails_jobs_not_the_sweep_and_every_failure_is_named(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0,1,2", *tiny_overrides(synthetic_root), "train.epochs=2", f"hydra.sweep.dir={sweep}"]
    # writes: job 0's 3 config files, lock, 2 checkpoints and result; job 1's 3 config files and lock; then the
    # disk is full
    proc = run_cli(*args, env={FAULT: "full_disk@12"})
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "1 completed, 0 diverged, 2 failed" in proc.stderr
    assert "seed=1: OSError: [Errno 28]" in proc.stderr and "checkpoint.pt" in proc.stderr  # failed training
    assert "seed=2: OSError: [Errno 28]" in proc.stderr and ".hydra" in proc.stderr  # could not even start
    assert "could not record the failure" in proc.stdout
    assert not list(sweep.rglob("*.tmp")), "a half-written file was left behind"
    retry = run_cli(*args)  # disk space back: the same command finishes the sweep
    assert retry.returncode == 0, retry.stderr[-2000:]
    assert {r["status"] for r in results(sweep).values()} == {"completed"} and len(results(sweep)) == 3


@pytest.mark.slow
def test_a_single_run_that_diverges_exits_3_like_a_sweep(tmp_path: Path, synthetic_root: Path) -> None:
    proc = run_cli(*tiny_overrides(synthetic_root), "seed=1", f"hydra.run.dir={tmp_path}", env={FAULT: "nan@2:seed=1"})
    assert proc.returncode == 3
    assert "diverged at step 2" in proc.stderr
    assert json.loads((tmp_path / "result.json").read_text())["status"] == "diverged"


@pytest.mark.slow
def test_an_empty_sweep_is_refused_and_writes_nothing(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli("-m", "seed=range(0)", *tiny_overrides(synthetic_root), f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 1
    assert "The sweep has no jobs" in proc.stderr and "Traceback" not in proc.stderr
    assert not sweep.exists()


@pytest.mark.parametrize("value", ["30", "-30"])
def test_the_extreme_allowed_initial_s_trains_and_logs_without_overflow(
    tmp_path: Path, synthetic_root: Path, value: str
) -> None:
    cfg = compose_cfg(*tiny_overrides(synthetic_root), "sigma_init=constant", f"sigma_init.value={value}")
    result = run(cfg, tmp_path)
    assert result["status"] in ("completed", "diverged")
    assert list(tmp_path.glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_a_full_disk_while_a_jobs_lock_is_written_fails_the_job_and_the_sweep(
    tmp_path: Path, synthetic_root: Path
) -> None:
    """Not 'being trained by another process' with exit status 0: the lock is given back and the job failed."""
    sweep = tmp_path / "sweep"
    proc = run_cli(*seeds(synthetic_root, sweep), env={FAULT: "full_disk@4"})  # job 0: 3 config files, then its lock
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert "0 completed, 0 diverged, 2 failed" in proc.stderr and "another process" not in proc.stderr
    assert "seed=0: OSError: [Errno 28]" in proc.stderr and ".lock" in proc.stderr
    retry = run_cli(*seeds(synthetic_root, sweep))
    assert retry.returncode == 0 and "2 completed" in retry.stdout + retry.stderr


@pytest.mark.slow
def test_an_unreadable_result_in_a_sweep_is_set_aside_and_the_sweep_ends_by_the_table(
    tmp_path: Path, synthetic_root: Path
) -> None:
    """A result.json nested 100,000 deep: set aside, trained again, exit 0; before, every rerun failed and exited 0."""
    sweep = tmp_path / "sweep"
    assert run_cli(*seeds(synthetic_root, sweep)).returncode == 0
    job = next(p.parent for p in sweep.rglob("result.json") if p.parent.name == "seed=1")
    (job / "result.json").write_text("[" * 100_000 + "]" * 100_000)
    again = run_cli(*seeds(synthetic_root, sweep))
    assert again.returncode == 0, again.stderr[-3000:]
    out = again.stdout + again.stderr
    assert "2 completed, 0 diverged, 0 failed" in out and "RecursionError" in out and "report: " in out
    assert (job / "result.unreadable.json").exists() and json.loads((job / "result.json").read_text())["final"]


@pytest.mark.slow
def test_a_swept_key_left_out_of_folder_names_is_refused_before_anything_runs(
    tmp_path: Path, synthetic_root: Path
) -> None:
    """data.root=A,B would put both jobs in one folder (before: '1 completed' for 2 jobs, exit 0, both trained on
    every rerun); the sweep is refused in one paragraph naming the key and the fix, and nothing is written."""
    other = write_synthetic_mnist(tmp_path / "other", seed=3)
    sweep = tmp_path / "sweep"
    args = [*tiny_overrides(synthetic_root), "weighting=fixed", f"hydra.sweep.dir={sweep}"]
    proc = run_cli("-m", *args, f"data.root={synthetic_root},{other}")
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "would share the folder" in proc.stderr and "data.root is left out of job folder names" in proc.stderr
    assert "Run one sweep per value" in proc.stderr and "Traceback" not in proc.stderr
    assert not sweep.exists()
