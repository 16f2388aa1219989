"""`model.output_bias`: the untrained decoder predicts the mean training pixel; older runs keep their identity."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from mtl_uncertainty.analysis.runs import load_runs, runs_table
from mtl_uncertainty.config import Config, config_hash
from mtl_uncertainty.model import build_model
from mtl_uncertainty.run import run

from .conftest import REPO, compose_cfg, tiny_overrides

COMMITTED = sorted((REPO / "results").rglob("result.json"))


def test_every_committed_run_keeps_its_config_hash() -> None:
    """Each committed config, completed by the schema (output_bias=zero), hashes to the hash its run recorded."""
    assert len(COMMITTED) >= 100
    schema = OmegaConf.structured(Config)
    before = 0
    for path in COMMITTED:
        result = json.loads(path.read_text())
        before += "output_bias" not in result["config"]["model"]  # made before the key existed: zero
        cfg = OmegaConf.merge(schema, result["config"])
        assert cfg.model.output_bias == result["config"]["model"].get("output_bias", "zero")
        assert config_hash(cfg) == result["config_hash"], path
    assert before >= 100


def test_mean_is_hashed_and_zero_is_not() -> None:
    base = compose_cfg("weighting=fixed")
    assert config_hash(compose_cfg("weighting=fixed", "model.output_bias=zero")) == config_hash(base)
    assert config_hash(compose_cfg("weighting=fixed", "model.output_bias=mean")) != config_hash(base)


@pytest.mark.parametrize("init", ["keras", "torch"])
def test_mean_bias_sets_only_the_decoders_last_bias(init: str) -> None:
    plain, shifted = build_model(init, 3), build_model(init, 3, output_mean=-0.738)
    pairs = zip(plain.state_dict().items(), shifted.state_dict().values())
    changed = [name for (name, a), b in pairs if not torch.equal(a, b)]
    assert changed == ["decoder.6.bias"]
    assert shifted.decoder[6].bias.item() == pytest.approx(torch.atanh(torch.tensor(-0.738)).item())


def test_the_untrained_keras_decoder_predicts_the_mean_pixel() -> None:
    """Keras's zero biases give a zero code zero activations, so the output is tanh(atanh(mean)) = mean."""
    code = torch.zeros(2, 8, 2, 2)
    assert torch.equal(build_model("keras", 0).decoder(code), torch.zeros(2, 1, 28, 28))
    torch.testing.assert_close(build_model("keras", 0, -0.738).decoder(code), torch.full((2, 1, 28, 28), -0.738))


@pytest.mark.parametrize("mean", [-1.0, 1.0, 1.5])
def test_a_mean_no_tanh_reaches_is_refused(mean: float) -> None:
    with pytest.raises(ValueError, match="use one in"):
        build_model("keras", 0, mean)


def test_a_mean_bias_run_is_a_run_of_its_own(tmp_path: Path, synthetic_root: Path) -> None:
    overrides = [*tiny_overrides(synthetic_root), "weighting=fixed", "data.val_size=128"]
    zero = run(compose_cfg(*overrides), tmp_path / "zero")
    mean = run(compose_cfg(*overrides, "model.output_bias=mean"), tmp_path / "mean")
    assert (zero["config"]["model"]["output_bias"], mean["config"]["model"]["output_bias"]) == ("zero", "mean")
    assert mean["config_hash"] != zero["config_hash"]
    assert mean["final"]["val"]["loss_recon"] != zero["final"]["val"]["loss_recon"]
    again = run(compose_cfg(*overrides, "model.output_bias=mean"), tmp_path / "mean")  # the same run: nothing to do
    assert again["final"] == mean["final"]


def test_an_unknown_output_bias_is_refused_while_composing() -> None:
    with pytest.raises(Exception, match="output_bias"):
        compose_cfg("model.output_bias=median")


def test_the_report_reads_a_run_made_before_the_key_as_zero(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    shutil.copytree(COMMITTED[0].parent, sweep / "job")
    runs, excluded = load_runs([sweep])
    assert not excluded
    assert runs_table(runs)["config.model.output_bias"].tolist() == ["zero"]
