"""Config composition for every option, and the errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import OmegaConfBaseException

from mtl_uncertainty.config import ConfigError, config_hash, to_plain, validate
from mtl_uncertainty.ops.naming import job_dirname
from mtl_uncertainty.ops.overrides import ungrouped_keys
from tests.conftest import CONF, compose_cfg, run_cli


def test_defaults_are_the_source_experiment() -> None:
    cfg = compose_cfg()
    plain = to_plain(cfg)
    assert plain["weighting"] == {"name": "learnable", "form": "seed", "lr": 1e-4, "weight_decay": 0.0}
    assert plain["sigma_init"] == {"name": "uniform", "low": 0.2, "high": 1.0}
    assert plain["recon"] is True and plain["seed"] == 0 and plain["device"] == "auto"
    assert plain["train"]["epochs"] == 10 and plain["train"]["batch_size"] == 256
    assert plain["train"]["lr"] == 1e-4 and plain["train"]["adam_eps"] == 1e-7
    assert plain["model"]["init"] == "keras"
    validate(cfg)


@pytest.mark.parametrize(
    ("overrides", "path", "expected"),
    [
        (["weighting=fixed"], "weighting.weights.cls10", 1.0),
        (["weighting=fixed", "weighting.weights.recon=0.1"], "weighting.weights.recon", 0.1),
        (["weighting=learnable", "weighting.form=kendall"], "weighting.form", "kendall"),
        (["weighting.lr=0.01"], "weighting.lr", 0.01),
        (["train.lr=0.003"], "weighting.lr", 0.003),  # s follows the model's lr unless set
        (["weighting.weight_decay=0.1"], "weighting.weight_decay", 0.1),
        (["sigma_init=constant"], "sigma_init.value", 0.0),
        (["sigma_init=constant", "sigma_init.value=1.5"], "sigma_init.value", 1.5),
        (["sigma_init=uniform", "sigma_init.low=0.0"], "sigma_init.low", 0.0),
        (["recon=false"], "recon", False),
        (["seed=7"], "seed", 7),
        (["device=cpu"], "device", "cpu"),
        (["model.init=torch"], "model.init", "torch"),
        (["data.root=/tmp/x"], "data.root", "/tmp/x"),
        (["record.trajectory_every=10"], "record.trajectory_every", 10),
    ],
)
def test_every_option_composes(overrides: list[str], path: str, expected: object) -> None:
    cfg = compose_cfg(*overrides)
    node = to_plain(cfg)
    for key in path.split("."):
        node = node[key]
    assert node == expected
    validate(cfg)


@pytest.mark.parametrize(
    "override",
    [
        "weighting=bogus",  # unknown option
        "sigma_init=gaussian",
        "weighting.foo=1",  # unknown key
        "train.momentum=0.9",
        "train.epochs=ten",  # wrong type
        "recon=maybe",
        "weighting.form=other",
        "model.init=jax",
    ],
)
def test_hydra_rejects_unknown_options_keys_and_wrong_types(override: str) -> None:
    with pytest.raises((ConfigCompositionException, OmegaConfBaseException)):
        compose_cfg(override)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.epochs=0"], "train.epochs=0"),
        (["train.lr=-1"], "train.lr=-1"),
        (["train.batch_size=0"], "train.batch_size=0"),
        (["train.batch_size=60001"], "train.batch_size=60001"),
        (["sigma_init.low=2.0"], "low above high"),
        (["weighting=fixed", "weighting.weights.cls3=-1"], "weighting.weights.cls3=-1"),
        (["weighting.lr=0"], "weighting.lr=0"),
        (["+weighting.extra=1"], "weighting.extra is not a setting"),
        (["device=tpu"], "device=tpu"),
    ],
)
def test_impossible_values_are_named_with_a_fix(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match="Invalid configuration") as err:
        validate(compose_cfg(*overrides))
    assert message in str(err.value)


def test_hash_ignores_where_data_lives_but_not_what_is_computed() -> None:
    base = config_hash(compose_cfg())
    assert config_hash(compose_cfg("data.root=/elsewhere")) == base
    assert config_hash(compose_cfg("speed.channels_last=true", "speed.cuda_graph=false")) == base
    assert config_hash(compose_cfg("seed=1")) != base
    assert config_hash(compose_cfg("weighting.form=kendall")) != base


def test_job_folders_are_named_from_the_values_in_a_fixed_order() -> None:
    overrides = ["seed=3", "recon=true", "weighting=learnable", "data.root=/x/y", "speed.cuda_graph=false"]
    assert job_dirname(overrides, ["data", "speed"]) == "weighting=learnable/recon=true/seed=3"
    assert job_dirname(["sigma_init=constant", "train.lr=0.1", "weighting.form=kendall"], []) == (
        "weighting.form=kendall/sigma_init=constant/train.lr=0.1"
    )


def test_a_searchs_long_floats_get_short_folder_names_unique_in_the_sweep_and_stable(tmp_path: Path) -> None:
    """Optuna's 1.3397250122983564 is cut to 1.34; a trial that would share that name gets more digits; a
    restarted sweep finds every job in its folder again, in any order; typed values keep their text."""
    sweep, left_out = str(tmp_path), ["data"]
    trial = ["weighting.weights.cls10=1.3397250122983564", "weighting.weights.recon=0.5", "seed=0"]
    near = ["weighting.weights.cls10=1.3401250122983564", "weighting.weights.recon=0.5", "seed=0"]
    assert job_dirname(trial, left_out, sweep) == "weighting.weights.cls10=1.34/weighting.weights.recon=0.5/seed=0"
    for job in (trial, near):  # each job started: Hydra records its overrides in its folder
        record = tmp_path / job_dirname(job, left_out, sweep) / ".hydra"
        record.mkdir(parents=True)
        (record / "overrides.yaml").write_text("".join(f"- {o}\n" for o in [*job, "data.root=/x"]))
    assert job_dirname(near, left_out, sweep) == "weighting.weights.cls10=1.3401/weighting.weights.recon=0.5/seed=0"
    for job in (near, trial):  # started again, elsewhere the data lie
        assert job_dirname([*job, "data.root=/y"], left_out, sweep) == job_dirname(job, left_out, sweep)
    assert job_dirname(trial, left_out) == job_dirname(trial, left_out, sweep)
    assert job_dirname(["train.lr=0.00012345", "weighting.weights.cls10=1e-4"], []) == (
        "weighting.weights.cls10=1e-4/train.lr=0.00012345"
    )


def test_a_key_without_its_group_is_named_with_the_keys_it_may_mean(tmp_path: Path) -> None:
    """`epochs=1` gets the schema's train.epochs, not Hydra's advice to add +epochs=1; nothing is written."""
    proc = run_cli("epochs=1", "lr=0.1", "weights.cls10=2", cwd=tmp_path)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "+epochs" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert "epochs=1 is train.epochs=1" in proc.stderr
    assert "lr=0.1 is one of train.lr=0.1, weighting.lr=0.1" in proc.stderr
    assert "weights.cls10=2 is weighting.weights.cls10=2" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_key_no_schema_key_ends_with_is_named_as_unknown() -> None:
    message = ungrouped_keys(["epoch=1", "train.epochs=2", "+experiment=methods", "hydra/launcher=joblib"], CONF)
    assert message is not None and message.startswith("epoch=1: no setting of this suite is called epoch")
    assert ungrouped_keys(["train.epochs=2", "weighting=fixed", "seed=1,2", "experiment=methods"], CONF) is None
