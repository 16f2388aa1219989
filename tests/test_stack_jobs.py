"""A stack is a job: with submitit (its local executor here, SLURM on a cluster) each task trains one stack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli, tiny_overrides


def _tasks(sweep: Path) -> set[str]:
    """The submitit tasks submitted for the sweep (one *_submitted.pkl each)."""
    return {p.name for p in (sweep / ".submitit").rglob("*_submitted.pkl")}


def _results(sweep: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(sweep)): json.loads(p.read_text()) for p in sweep.rglob("result.json")}


@pytest.mark.slow
def test_a_sweep_of_three_seeds_becomes_one_submitit_task_per_stack_and_a_rerun_submits_nothing(
    tmp_path: Path, synthetic_root: Path
) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "hydra/launcher=stacks_local", "hydra.launcher.timeout_min=10", "hydra.launcher.max_stack=3"]
    args += ["weighting=learnable,fixed", "recon=true,false", "seed=0,1,2", *tiny_overrides(synthetic_root)]
    args += [f"hydra.sweep.dir={sweep}", "hydra.callbacks.report.enabled=false"]
    first = run_cli(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert len(_tasks(sweep)) == 4  # 2 × 2 settings, their 3 seeds stacked in each task: not 12 tasks
    found = _results(sweep)
    assert len(found) == 12 and {r["status"] for r in found.values()} == {"completed"}
    assert {r["timings"]["stack_size"] for r in found.values()} == {3}
    for name in found:  # each job keeps its own Hydra record and log, as under the default launcher
        assert (sweep / name / ".hydra" / "config.yaml").exists()
        assert "epoch 1/1" in (sweep / name / "train.log").read_text()
    submitted = _tasks(sweep)
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _tasks(sweep) == submitted  # finished runs are never submitted again
    assert {k: r["finished_at"] for k, r in _results(sweep).items()} == {k: r["finished_at"] for k, r in found.items()}
    assert "12 finished already, 0 to train as 0 task(s)" in again.stderr + again.stdout
