"""Fixed weights at where a learned weighting ended: the weights per seed, written from results, train as fixed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from mtl_uncertainty.analysis.endpoints import EndpointError, end_weights, main, weighting_yaml
from mtl_uncertainty.config import ConfigError, validate
from mtl_uncertainty.run import run
from mtl_uncertainty.weighting import RunContext, build_weighting
from tests.conftest import compose_cfg, tiny_overrides

MAP = "+weighting.weights_by_seed={3: {cls3: 0.5, cls10: 2.0, recon: 0.25}}"


def test_each_seed_gets_its_own_weights_and_a_seed_without_weights_is_refused() -> None:
    cfg = compose_cfg("weighting=fixed_end", MAP, "seed=3")
    method = build_weighting(cfg.weighting, RunContext((True, True, True), torch.zeros(3), 3, 4))
    assert method.lambdas.tolist() == [0.5, 2.0, 0.25]
    assert method(torch.tensor([1.0, 1.0, 4.0]), torch.tensor(0)).item() == 0.5 + 2.0 + 1.0
    with pytest.raises(ConfigError, match=r"weighting.weights_by_seed has no weights for seed=4 \(it has seeds: 3\)"):
        validate(compose_cfg("weighting=fixed_end", MAP, "seed=4"))
    with pytest.raises(ConfigError, match=r"weighting.weights_by_seed.3.cls10=-1.0 is a negative"):
        validate(compose_cfg("weighting=fixed_end", MAP.replace("2.0", "-1.0"), "seed=3"))


def test_end_weights_of_learnable_runs_train_like_fixed_runs_with_those_weights(
    tmp_path: Path, synthetic_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = tmp_path / "study"
    tiny = tiny_overrides(synthetic_root)
    learned = {
        seed: run(compose_cfg(*tiny, "weighting=learnable", "weighting.lr=0.01", f"seed={seed}"), study / f"s{seed}")
        for seed in (0, 1)
    }
    run(compose_cfg(*tiny, "weighting=fixed", "seed=0"), study / "fixed")  # another cell: not picked

    weights = end_weights(study, "weighting=learnable")
    assert weights == {s: learned[s]["history"][-1]["values"]["weight"] for s in (0, 1)}
    assert weights[0] != weights[1] and all(v != 0.5 for v in weights[0].values())  # s moved from its start
    assert main([str(study), "weighting=learnable"]) == 0
    text = capsys.readouterr().out
    assert text == weighting_yaml(str(study), "weighting=learnable", weights)

    written = OmegaConf.create(text)
    for seed in (0, 1):
        end = run(
            compose_cfg(
                *tiny,
                "weighting=fixed_end",
                f"+weighting.weights_by_seed={dict(written.weights_by_seed)}".replace("'", ""),
                f"seed={seed}",
            ),
            tmp_path / f"end{seed}",
        )
        w = weights[seed]
        fixed = run(
            compose_cfg(
                *tiny, "weighting=fixed", *(f"weighting.weights.{t}={v!r}" for t, v in w.items()), f"seed={seed}"
            ),
            tmp_path / f"fixed{seed}",
        )
        assert end["final"] == fixed["final"]
        assert end["config"]["weighting"]["name"] == "fixed_end"


def test_a_selector_that_picks_two_cells_or_none_is_refused(tmp_path: Path, synthetic_root: Path) -> None:
    tiny = tiny_overrides(synthetic_root)
    for lr in (0.01, 0.1):
        run(compose_cfg(*tiny, "weighting=learnable", f"weighting.lr={lr}", "seed=0"), tmp_path / str(lr))
    with pytest.raises(EndpointError, match="runs of 2 different configs"):
        end_weights(tmp_path, "weighting=learnable")
    with pytest.raises(EndpointError, match="picks no run"):
        end_weights(tmp_path, "weighting=liebel")
    assert end_weights(tmp_path, "weighting=learnable,weighting.lr=0.1").keys() == {0}


def test_a_finished_fixed_end_run_is_whole_and_read_back(tmp_path: Path, synthetic_root: Path) -> None:
    """Its config holds a value per task per seed; result.json's typed check refused that shape (before: every
    fixed_end result was set aside as not whole and trained again, and the report left it out)."""
    cfg = compose_cfg(*tiny_overrides(synthetic_root), "weighting=fixed_end", MAP, "seed=3")
    first = run(cfg, tmp_path / "job")
    assert run(cfg, tmp_path / "job")["finished_at"] == first["finished_at"]
    assert not list((tmp_path / "job").glob("result.*.json"))
