"""The fast paths give the plain sequential path's numbers: channels-last on a CPU, stacked runs
(torch.func.vmap, one Adam over stacked parameters) and, on a GPU, CUDA graphs."""

from __future__ import annotations

import json
import math
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from mtl_uncertainty.run import run, run_many
from mtl_uncertainty.runs.resume import expected_shape
from mtl_uncertainty.storage import result_schema
from mtl_uncertainty.weighting import WEIGHTINGS
from tests.conftest import compose_cfg, run_cli, tiny_overrides

VARIANTS = [
    ["seed=0"],
    ["seed=1", "recon=false"],
    ["seed=2", "weighting.form=kendall"],
    ["seed=3", "sigma_init=constant", "model.init=torch"],
]


def assert_same_numbers(a: dict, b: dict, tol: float) -> None:
    assert a["status"] == b["status"] == "completed"
    for split in ("test", "train"):
        for key, value in a["final"][split].items():
            other = b["final"][split][key]
            assert (value is None) == (other is None), key
            if value is not None:
                assert math.isclose(value, other, abs_tol=tol), (split, key, value, other)
    ta, tb = a["trajectory"], b["trajectory"]
    assert ta["step"] == tb["step"] and ta["tasks"] == tb["tasks"]
    assert set(ta["values"]) == set(tb["values"])
    for name, series in [("loss", ta["loss"]), *ta["values"].items()]:
        other = tb["loss"] if name == "loss" else tb["values"][name]
        for task in ta["tasks"]:
            assert np.allclose(series[task], other[task], atol=tol, rtol=1e-4), (name, task)


def test_channels_last_gives_the_plain_layouts_numbers(tmp_path: Path, synthetic_root: Path) -> None:
    base = [*tiny_overrides(synthetic_root), "train.epochs=2", "device=cpu"]
    plain = run(compose_cfg(*base, "speed.channels_last=false"), tmp_path / "plain")
    fast = run(compose_cfg(*base, "speed.channels_last=true"), tmp_path / "fast")
    assert_same_numbers(plain, fast, tol=1e-5)


def test_stacked_runs_give_each_runs_own_numbers(tmp_path: Path, synthetic_root: Path) -> None:
    base = [*tiny_overrides(synthetic_root), "train.epochs=2", "speed.channels_last=false"]
    cfgs = [compose_cfg(*base, *v) for v in VARIANTS] + [compose_cfg(*base, "weighting=fixed", "seed=4")]
    alone = [run(c, tmp_path / "alone" / str(i)) for i, c in enumerate(cfgs)]
    together = run_many(cfgs, [tmp_path / "stacked" / str(i) for i in range(len(cfgs))])
    for a, b in zip(alone, together):
        assert not isinstance(b, BaseException), b
        assert_same_numbers(a, b, tol=1e-5)
    # recon=false runs (no decoder work) and other methods stack apart
    assert [r["timings"]["stack_size"] for r in together] == [3, 1, 3, 3, 1]
    assert json.loads((tmp_path / "stacked" / "2" / "result.json").read_text())["config"]["weighting"]["form"] == (
        "kendall"
    )


STACKABLE = [*sorted({n for n, m in WEIGHTINGS.items() if m.stackable} - {"single"}), "single_cls10"]


@pytest.mark.parametrize("option", STACKABLE)
def test_every_stackable_method_stacked_equals_alone_with_non_default_settings(
    tmp_path: Path, synthetic_root: Path, option: str
) -> None:
    """Each run of a stack follows its own seed, random draws, epoch hooks and the method's lr and weight decay."""
    base = [*tiny_overrides(synthetic_root), "train.epochs=3", "speed.channels_last=false", f"weighting={option}"]
    if option == "fixed_end":  # its weights are data, one set per seed: none in conf/weighting/fixed_end.yaml
        base.append("+weighting.weights_by_seed={0: {cls3: 0.5, cls10: 2.0, recon: 0.25}, 1: {cls3: 1.5}}")
    if "lr" in compose_cfg(*base).weighting:
        base += ["weighting.lr=0.01", "weighting.weight_decay=0.05"]
    cfgs = [compose_cfg(*base, f"seed={seed}") for seed in (0, 1)]
    alone = [run(c, tmp_path / "alone" / str(i)) for i, c in enumerate(cfgs)]
    together = run_many(cfgs, [tmp_path / "stacked" / str(i) for i in range(len(cfgs))])
    for cfg, a, b in zip(cfgs, alone, together):
        assert not isinstance(b, BaseException), b
        assert not result_schema.problems(a, **expected_shape(cfg)) and not result_schema.problems(
            b, **expected_shape(cfg)
        )
        assert b["timings"]["stack_size"] == 2
        assert_same_numbers(a, b, tol=1e-5)
    if "lr" in cfgs[0].weighting:  # a mutant that drops the method's own lr or weight decay would not move s
        default = run(compose_cfg(*base[:-2], "seed=0"), tmp_path / "default")
        first = next(iter(default["trajectory"]["values"]))
        task = default["trajectory"]["tasks"][0]
        assert default["trajectory"]["values"][first][task][-1] != together[0]["trajectory"]["values"][first][task][-1]


def test_a_method_that_cannot_stack_trains_alone_in_a_sweep(tmp_path: Path, synthetic_root: Path) -> None:
    base = [*tiny_overrides(synthetic_root), "weighting=gradnorm"]
    cfgs = [compose_cfg(*base, f"seed={seed}") for seed in (0, 1)]
    together = run_many(cfgs, [tmp_path / str(i) for i in range(2)])
    assert [r["timings"]["stack_size"] for r in together] == [1, 1]
    assert not result_schema.problems(together[0], **expected_shape(cfgs[0]))
    assert together[0]["final"] == run(cfgs[0], tmp_path / "alone")["final"]


@pytest.mark.slow
def test_a_stacked_sweep_writes_what_the_sequential_sweep_writes_and_resumes(
    tmp_path: Path, synthetic_root: Path
) -> None:
    args = ["-m", "weighting=learnable,fixed", "recon=true,false", "seed=0,1", *tiny_overrides(synthetic_root)]
    args += ["train.epochs=2"]
    seq = run_cli(*args, f"hydra.sweep.dir={tmp_path / 'seq'}", "hydra.launcher.stack=off")
    assert seq.returncode == 0, seq.stderr[-2000:]
    killed = run_cli(
        *args, f"hydra.sweep.dir={tmp_path / 'stk'}", "hydra.launcher.stack=on", env={"MTL_UNCERTAINTY_FAULT": "step@6"}
    )
    assert killed.returncode == -signal.SIGKILL
    resumed = run_cli(*args, f"hydra.sweep.dir={tmp_path / 'stk'}", "hydra.launcher.stack=on")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    seq_runs = {p.parent.relative_to(tmp_path / "seq") for p in (tmp_path / "seq").rglob("result.json")}
    stk_runs = {p.parent.relative_to(tmp_path / "stk") for p in (tmp_path / "stk").rglob("result.json")}
    assert seq_runs == stk_runs and len(seq_runs) == 8
    for name in seq_runs:
        a = json.loads((tmp_path / "seq" / name / "result.json").read_text())
        b = json.loads((tmp_path / "stk" / name / "result.json").read_text())
        assert_same_numbers(a, b, tol=1e-4)  # channels-last alone vs plain layout stacked
        killed_stack = "weighting=learnable/recon=true" in str(name)  # the first stack: killed in its second epoch
        assert b["resumed_at_epochs"] == ([1] if killed_stack else []) and b["timings"]["stack_size"] == 2
        assert (tmp_path / "stk" / name / ".hydra" / "config.yaml").exists()


@pytest.fixture
def no_tf32():
    """Full float32 matmuls and convolutions: stacked convolutions pick other algorithms than single ones."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_graphs_and_stacks_give_the_eager_numbers_on_a_gpu(tmp_path: Path, synthetic_root: Path, no_tf32) -> None:
    # 512 images in batches of 96: the last batch of each epoch has 32, a second graph shape
    base = [*tiny_overrides(synthetic_root), "device=cuda", "train.epochs=2", "train.batch_size=96"]
    eager = run(compose_cfg(*base, "speed.cuda_graph=false"), tmp_path / "eager")
    graphed = run(compose_cfg(*base), tmp_path / "graph")
    assert_same_numbers(eager, graphed, tol=1e-4)
    cfgs = [compose_cfg(*base, *v) for v in VARIANTS] + [compose_cfg(*base, "weighting=rlw", "seed=5")]
    alone = [run(c, tmp_path / "alone" / str(i)) for i, c in enumerate(cfgs)]
    together = run_many(cfgs, [tmp_path / "stacked" / str(i) for i in range(len(cfgs))])
    for a, b in zip(alone, together):
        assert_same_numbers(a, b, tol=1e-4)
    assert graphed["trajectory"]["step"][-1] == 12  # 6 steps per epoch, the last one partial
