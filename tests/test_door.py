"""One door into training: every job is checked once, whichever launcher and path brings it there."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra

import mtl_uncertainty.config as config_module
from mtl_uncertainty.runs import resume
from tests.conftest import TRAIN, tiny_overrides


def _train_module():
    spec = importlib.util.spec_from_file_location("train_under_test", TRAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main.__wrapped__.__module__ = "__main__"  # Hydra finds conf/ beside the file, as when run as a script
    return module


@pytest.fixture
def checks(monkeypatch: pytest.MonkeyPatch) -> Counter:
    """Each validation of a job's values (config._problems), by the job's weighting and seed."""
    seen: Counter = Counter()
    problems = config_module._problems

    def counting(cfg):
        seen[(cfg.weighting.name, int(cfg.seed))] += 1
        return problems(cfg)

    monkeypatch.setattr(config_module, "_problems", counting)
    monkeypatch.setattr(resume, "_CHECKED", set())  # a fresh process: nothing checked yet
    return seen


def _main(monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    """`python src/train.py ARGS` in this process (so that the checks can be counted)."""
    train = _train_module()
    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", [str(TRAIN), *args])
    try:
        train.main()
    finally:
        GlobalHydra.instance().clear()


def _results(sweep: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(sweep)): json.loads(p.read_text()) for p in sweep.rglob("result.json")}


@pytest.mark.parametrize("stack", ["on", "off"])
def test_each_job_of_a_sweep_is_checked_once(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, checks: Counter, stack: str
) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "weighting=learnable,fixed", "seed=0,1", *tiny_overrides(synthetic_root)]
    args += [f"hydra.launcher.stack={stack}", f"hydra.sweep.dir={sweep}", "hydra.callbacks.report.enabled=false"]
    _main(monkeypatch, *args)
    jobs = {(w, s) for w in ("learnable", "fixed") for s in (0, 1)}
    assert dict(checks) == dict.fromkeys(jobs, 1)  # the preflight's check; the launcher and the runner find it done
    found = _results(sweep)
    assert len(found) == 4 and {r["status"] for r in found.values()} == {"completed"}
    assert {r["timings"]["stack_size"] for r in found.values()} == ({2} if stack == "on" else {1})
    for name in found:  # every job keeps Hydra's own record and its own log, stacked or not
        assert {p.name for p in (sweep / name / ".hydra").iterdir()} == {"config.yaml", "hydra.yaml", "overrides.yaml"}
        assert "epoch 1/1" in (sweep / name / "train.log").read_text()


def test_a_single_run_is_checked_once(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, checks: Counter
) -> None:
    _main(monkeypatch, *tiny_overrides(synthetic_root), f"hydra.run.dir={tmp_path / 'one'}")
    assert dict(checks) == {("learnable", 0): 1}
    assert json.loads((tmp_path / "one" / "result.json").read_text())["status"] == "completed"
