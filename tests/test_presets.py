"""The presets (conf/experiment/): each runs end to end through the real CLI, at one epoch on synthetic data."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CONF, compose_cfg, run_cli, tiny_overrides

PRESETS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


def results(sweep: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(sweep.rglob("result.json"))]


def test_every_preset_says_what_it_answers_and_how_to_run_it() -> None:
    assert PRESETS == [
        "core",
        "learning",
        "learning_tune",
        "lr_s",
        "methods",
        "regime_search",
        "replication",
        "tune_fixed",
    ]
    for name in PRESETS:
        text = (CONF / "experiment" / f"{name}.yaml").read_text()
        assert text.startswith("# @package _global_\n#"), name
        assert f"python src/train.py -m +experiment={name}" in text and "Took here" in text, name


@pytest.mark.slow
@pytest.mark.parametrize(
    ("preset", "jobs", "methods"),
    [
        ("replication", 4, {"learnable", "fixed"}),
        (
            "methods",
            19,
            {"fixed", "single", "liebel", "imtl_l", "rlw", "dwa", "gls", "gradnorm", "uw_so"}
            | {"famo", "pcgrad", "mgda_ub", "cagrad", "nash_mtl", "imtl_g", "aligned_mtl", "upgrad"},
        ),
        ("lr_s", 24, {"learnable", "liebel", "imtl_l"}),
    ],
)
def test_a_grid_preset_runs_every_job_and_reports(
    tmp_path: Path, synthetic_root: Path, preset: str, jobs: int, methods: set[str]
) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", f"+experiment={preset}", *tiny_overrides(synthetic_root), "seed=0", f"hydra.sweep.dir={sweep}"]
    if preset == "methods":  # the learning regime's validation split, at the synthetic data's size
        args.append("data.val_size=64")
    proc = run_cli(*args, "dataset=fashion_mnist")
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = results(sweep)
    assert len(found) == jobs and {r["status"] for r in found} == {"completed"}
    assert {r["config"]["weighting"]["name"] for r in found} == methods
    assert {r["data"]["dataset"] for r in found} == {"fashion_mnist"}
    assert (sweep / "report" / "report.md").exists()


@pytest.mark.slow
def test_the_core_preset_writes_what_results_commits(tmp_path: Path, synthetic_root: Path) -> None:
    """The evidence preset: a validation split, 10 seeds, the trajectory every 10th step, no TensorBoard files."""
    sweep = tmp_path / "sweep"
    args = ["-m", "+experiment=core", "weighting=fixed,learnable", *tiny_overrides(synthetic_root), "seed=0"]
    proc = run_cli(*args, "data.val_size=64", "train.batch_size=16", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = results(sweep)
    assert len(found) == 2 and all(r["final"]["val"] and r["trajectory"]["every"] == 10 for r in found)
    assert all(r["trajectory"]["step"][:2] == [10, 20] for r in found)
    assert not list(sweep.rglob("events.out.tfevents.*"))
    assert compose_cfg("+experiment=core").data.val_size == 10_000
    assert "dir: results/core/${dataset.name}" in (CONF / "experiment" / "core.yaml").read_text()


def test_the_learning_search_trains_as_the_learning_study_does_on_a_seed_it_never_uses() -> None:
    study, search = compose_cfg("+experiment=learning", "weighting=fixed"), compose_cfg("+experiment=learning_tune")
    for key in ("dataset", "data", "recon", "model", "train", "record", "weighting"):
        assert study[key] == search[key], key
    assert (study.model.output_bias, study.train.lr) == ("mean", 1e-3)
    sweep = yaml.safe_load((CONF / "experiment" / "learning.yaml").read_text())["hydra"]["sweeper"]["params"]
    assert sweep == {"seed": "range(10)"} and search.seed not in range(10)


def test_the_methods_study_trains_and_declares_as_the_learning_study_does_and_joins_its_folder() -> None:
    study = compose_cfg("+experiment=learning", "weighting=fixed")
    methods = compose_cfg("+experiment=methods", "weighting=fixed")
    for key in ("dataset", "data", "recon", "model", "train", "record", "report", "logger", "weighting"):
        assert study[key] == methods[key], key
    text = {n: yaml.safe_load((CONF / "experiment" / f"{n}.yaml").read_text()) for n in ("learning", "methods")}
    assert text["methods"]["hydra"]["sweep"] == text["learning"]["hydra"]["sweep"]
    params = text["methods"]["hydra"]["sweeper"]["params"]
    assert list(params) == ["weighting", "seed"] and params["seed"] == "range(5)"  # one method's seeds, then the next
    swept = params["weighting"].split(",")
    assert "learnable" not in swept  # the study's own cells of uncertainty weighting stay its declared question
    every = {p.stem for p in (CONF / "weighting").glob("*.yaml")} - {"learnable", "single", "fixed_end", "learning_end"}
    assert set(swept) == every


@pytest.mark.slow
def test_the_tuning_preset_searches_lambda_on_validation_in_batches(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "+experiment=tune_fixed", *tiny_overrides(synthetic_root), "data.val_size=128"]
    args += ["hydra.sweeper.n_trials=4", "hydra.sweeper.n_jobs=2", f"hydra.sweep.dir={sweep}"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = results(sweep)
    assert len(found) == 4 and all(r["final"]["val"] and r["config"]["data"]["val_size"] == 128 for r in found)
    lambdas = [r["config"]["weighting"]["weights"] for r in found]
    assert all(0.05 <= w["cls10"] <= 20 and 0.05 <= w["recon"] <= 20 and w["cls3"] == 1.0 for w in lambdas)
    assert len({(w["cls10"], w["recon"]) for w in lambdas}) == 4  # four different trials
    out = proc.stdout + proc.stderr
    assert out.count("validation objective (mean)") == 4 and "Best value" in out
    assert out.count("Launching 2 jobs") == 2  # each batch of n_jobs trials reaches the launcher as one batch
    report = (sweep / "report" / "report.md").read_text()
    assert "Selected on validation" in report
    assert "\x1b[" not in out and "setup plugin" not in out and "A new study created" not in out  # piped: plain
    folders = [p.parent.relative_to(sweep).as_posix() for p in sweep.rglob("result.json")]
    shown = re.findall(r"weights\.(?:cls10|recon)=([^/,)\s]+)", "\n".join([*folders, report]))
    assert len(shown) >= 8 + 8 and all(len(v) <= 7 for v in shown), shown  # 4 significant digits, not 16


def test_a_search_without_a_validation_split_is_refused(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli(
        "-m", "+experiment=tune_fixed", *tiny_overrides(synthetic_root), "data.val_size=0", f"hydra.sweep.dir={sweep}"
    )
    assert proc.returncode == 1 and "selects on a validation split" in proc.stderr
    assert not sweep.exists()


@pytest.mark.parametrize(
    ("override", "says"),
    [
        ("hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials=0 runs no trial"),
        ("weighting.weights.cls10=tag(log,interval(0,20))", "The search space cannot be searched"),
        ("weighting.weights.cls10=interval(20,0.05)", "The search space cannot be searched"),
    ],
)
def test_a_search_that_cannot_run_is_refused_in_one_paragraph(
    tmp_path: Path, synthetic_root: Path, override: str, says: str
) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "+experiment=tune_fixed", *tiny_overrides(synthetic_root), "data.val_size=128", override]
    proc = run_cli(*args, f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 1 and says in proc.stderr and "nothing was run" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not sweep.exists()


def _search(root: Path, sweep: Path, *extra: str, env: dict[str, str] | None = None) -> Any:
    args = ["-m", "+experiment=tune_fixed", *tiny_overrides(root), "data.val_size=128", "hydra.sweeper.n_trials=4"]
    return run_cli(*args, "hydra.sweeper.n_jobs=2", f"hydra.sweep.dir={sweep}", *extra, env=env)


def _trials(sweep: Path) -> dict[tuple[float, float], bytes]:
    """(λ_cls10, λ_recon) → the bytes of that trial's result.json."""
    out = {}
    for path in sweep.rglob("result.json"):
        w = json.loads(path.read_text())["config"]["weighting"]["weights"]
        out[(w["cls10"], w["recon"])] = path.read_bytes()
    return out


@pytest.mark.slow
def test_a_search_killed_half_way_resumes_with_its_finished_trials_kept(tmp_path: Path, synthetic_root: Path) -> None:
    """Killed as its third trial starts, the same command finishes the search: the two finished trials are read
    back, not trained again, and the four trials are those of a search never stopped (the seeded sampler
    proposes them again)."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    assert _search(synthetic_root, whole).returncode == 0
    first = _search(synthetic_root, killed, env={"MTL_UNCERTAINTY_FAULT": "run_start@3"})
    assert first.returncode != 0
    before = _trials(killed)
    assert len(before) == 2
    again = _search(synthetic_root, killed)
    assert again.returncode == 0, again.stderr[-3000:]
    after = _trials(killed)
    assert set(after) == set(_trials(whole)) and len(after) == 4
    assert all(after[k] == v for k, v in before.items())  # finished trials kept byte for byte
    assert (again.stdout + again.stderr).count("already completed") >= 2


@pytest.mark.slow
def test_two_workers_share_one_search_through_its_storage(tmp_path: Path, synthetic_root: Path) -> None:
    """Two searches on one Optuna storage, each with its own sampler seed and folder: the second sees the first's
    trials, so the study holds all eight and each worker's trials are its own."""
    optuna = pytest.importorskip("optuna")
    storage = f"sqlite:///{tmp_path / 'search.db'}"
    for worker in (0, 1):
        extra = (f"hydra.sweeper.storage={storage}", f"hydra.sweeper.sampler.seed={worker}")
        proc = _search(synthetic_root, tmp_path / f"worker{worker}", *extra)
        assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name="tune_fixed_mnist", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 8
    assert len(set(_trials(tmp_path / "worker0")) | set(_trials(tmp_path / "worker1"))) == 8
