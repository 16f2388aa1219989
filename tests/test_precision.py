"""`speed.precision`: fp32 keeps runs' identity; bf16 and tf32 are runs of their own, refused where unsupported."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from mtl_uncertainty.analysis.cells import find_axes
from mtl_uncertainty.config import PRECISIONS, ConfigError, config_hash, validate
from mtl_uncertainty.ops.naming import job_dirname
from mtl_uncertainty.run import run
from mtl_uncertainty.training import devices
from mtl_uncertainty.training.stacked import can_stack
from tests.conftest import CONF, compose_cfg, tiny_overrides


def test_fp32_keeps_the_hash_and_the_others_are_runs_of_their_own() -> None:
    base = compose_cfg("weighting=fixed")
    assert config_hash(compose_cfg("weighting=fixed", "speed.precision=fp32")) == config_hash(base)
    assert config_hash(compose_cfg("weighting=fixed", "speed.threads=2")) == config_hash(base)  # speed, unhashed
    hashes = {config_hash(compose_cfg("weighting=fixed", f"speed.precision={p}")) for p in ("fp32", "bf16", "tf32")}
    assert len(hashes) == 3


def test_an_unknown_precision_is_refused() -> None:
    with pytest.raises(ConfigError, match=re.escape("speed.precision=fp16 is not a precision; use fp32, bf16, tf32")):
        validate(compose_cfg("speed.precision=fp16"))


def test_tf32_is_refused_on_a_cpu(tmp_path: Path, synthetic_root: Path) -> None:
    cfg = compose_cfg(*tiny_overrides(synthetic_root), "speed.precision=tf32")
    with pytest.raises(ConfigError, match="TF32 is a mode of NVIDIA GPUs' tensor cores"):
        run(cfg, tmp_path)
    assert not (tmp_path / "result.json").exists()


def test_bf16_is_refused_on_a_cpu_without_bf16(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: False)
    cfg = compose_cfg(*tiny_overrides(synthetic_root), "speed.precision=bf16")
    with pytest.raises(ConfigError, match="has neither AVX512-BF16 nor AMX"):
        run(cfg, tmp_path)
    assert devices.precision_problem("fp32", torch.device("cpu")) is None


@pytest.mark.skipif(not devices.cpu_has_bf16(), reason="this CPU has neither AVX512-BF16 nor AMX")
def test_a_bf16_run_records_its_precision_and_computes_other_numbers(tmp_path: Path, synthetic_root: Path) -> None:
    base = [*tiny_overrides(synthetic_root), "weighting=learnable", "logger.tensorboard=false"]
    fp32 = run(compose_cfg(*base), tmp_path / "fp32")
    bf16 = run(compose_cfg(*base, "speed.precision=bf16"), tmp_path / "bf16")
    assert bf16["status"] == "completed" and bf16["config"]["speed"]["precision"] == "bf16"
    assert fp32["config"]["speed"]["precision"] == "fp32"
    assert bf16["config_hash"] != fp32["config_hash"]
    assert bf16["final"]["test"]["loss_recon"] != fp32["final"]["test"]["loss_recon"]
    assert bf16["final"]["test"]["loss_recon"] == pytest.approx(fp32["final"]["test"]["loss_recon"], rel=0.05)


def test_bf16_runs_train_alone_and_the_others_stack() -> None:
    assert not can_stack(compose_cfg("weighting=learnable", "speed.precision=bf16"))
    assert can_stack(compose_cfg("weighting=learnable", "speed.precision=fp32"))


def test_the_report_never_pools_precisions() -> None:
    df = pd.DataFrame(
        {
            "config.weighting.name": ["learnable"] * 4,
            "config.speed.precision": ["fp32", "fp32", "bf16", "bf16"],
            "config.speed.threads": [1, 2, 1, 2],
        }
    )
    assert find_axes(df) == ["config.speed.precision"]


def test_a_sweep_over_precisions_gives_each_its_own_folder() -> None:
    exclude = list(OmegaConf.load(CONF / "config.yaml").hydra.job.config.override_dirname.exclude_keys)
    jobs = [["weighting=learnable", f"speed.precision={p}", "speed.threads=1"] for p in PRECISIONS]
    names = {job_dirname(job, exclude) for job in jobs}
    assert len(names) == len(PRECISIONS) and not any("threads" in n for n in names), names
