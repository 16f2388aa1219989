"""End to end: the real CLI sweep and `run(cfg)` on small synthetic data, on the CPU."""

from __future__ import annotations

import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from mtl_uncertainty.config import config_hash
from mtl_uncertainty.data.splits import load_data
from mtl_uncertainty.run import run
from mtl_uncertainty.runs.resume import prepare
from mtl_uncertainty.runs.session import open_session
from mtl_uncertainty.storage.floors_file import FLOORS_FILE, read_floors
from tests.conftest import compose_cfg, run_cli, tiny_overrides

GRID = ["weighting=learnable,fixed", "recon=true,false"]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


@pytest.mark.slow
def test_the_two_by_two_grid_writes_four_valid_results(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = run_cli("-m", *GRID, *tiny_overrides(synthetic_root), f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = sorted(str(p.parent.relative_to(sweep)) for p in sweep.rglob("result.json"))
    constants = "train.batch_size=128/train.epochs=1"  # where the data is and the device are left out
    assert found == [
        f"weighting=fixed/recon=false/{constants}",
        f"weighting=fixed/recon=true/{constants}",
        f"weighting=learnable/recon=false/{constants}",
        f"weighting=learnable/recon=true/{constants}",
    ]
    for name in found:
        r = load(sweep / name / "result.json")
        learnable, recon = "learnable" in name, "recon=true" in name
        assert r["status"] == "completed" and r["schema"] == 2
        assert r["config"]["weighting"]["name"] == ("learnable" if learnable else "fixed")
        assert r["config"]["recon"] is recon
        cell = name.split("/")[:2]
        assert r["config_hash"] == config_hash(compose_cfg(*cell, *tiny_overrides(synthetic_root)))
        assert r["device"] == "cpu" and r["versions"]["torch"]
        assert r["final"]["test"] == r["history"][-1]["test"]
        for split, images in (("test", 256), ("train", 512)):
            m = r["final"][split]
            for acc in ("acc_cls3", "acc_cls10"):  # a fraction of the whole split, counted image by image
                assert math.isclose(m[acc] * images, round(m[acc] * images), abs_tol=1e-3), (split, acc)
            assert (m["loss_recon"] is not None) is recon
        assert len(r["history"]) == 1 and r["history"][0]["step"] == 4  # 512 images / 128
        traj = r["trajectory"]
        assert traj["step"] == [1, 2, 3, 4]
        assert traj["tasks"] == (["cls3", "cls10", "recon"] if recon else ["cls3", "cls10"])
        values = traj["values"]
        if learnable:
            assert set(values) == {"s", "sigma", "weight", "s_eq"}
            for task in traj["tasks"]:
                s, sigma = values["s"][task], values["sigma"][task]
                assert all(math.isclose(sg, math.exp(v / 2), rel_tol=1e-4) for v, sg in zip(s, sigma))
                assert all(math.isclose(w, 0.5 * math.exp(-v), rel_tol=1e-4) for v, w in zip(s, values["weight"][task]))
            assert 0.2 <= traj["initial"]["s"]["cls3"] <= 1.0
        else:
            assert set(values) == {"weight"} and all(w == 1.0 for w in values["weight"]["cls3"])
        assert set(r["timings"]) == {"startup_s", "train_s", "eval_s", "bookkeeping_s", "total_s", "stack_size"}
    # the sweep ends by writing the floors of the data its runs used, then the report that shows them
    (floors,) = read_floors(sweep / FLOORS_FILE)
    assert floors["data_hash"] == r["data"]["hash"] and floors["val_size"] == 0
    assert sorted(floors["splits"]) == ["test", "train"]
    data = load_data(compose_cfg(*tiny_overrides(synthetic_root)), torch.device("cpu"))
    mean_image = data.train.images.double().mean(0)
    expected = float((data.test.images.double() - mean_image).square().mean())
    assert floors["splits"]["test"]["loss_recon_mean_image"] == pytest.approx(expected, rel=1e-9)
    report = (sweep / "report" / "report.md").read_text()
    assert "learned (3-class/10-class/recon)" in report and "Floors on the test split" in report


def test_same_seed_twice_gives_identical_results_on_cpu(tmp_path: Path, synthetic_root: Path) -> None:
    cfg = compose_cfg(*tiny_overrides(synthetic_root), "seed=5")
    a, b = run(cfg, tmp_path / "a"), run(cfg, tmp_path / "b")
    assert a["final"] == b["final"]
    assert a["trajectory"] == b["trajectory"]
    assert [h["train"] for h in a["history"]] == [h["train"] for h in b["history"]]
    other = run(compose_cfg(*tiny_overrides(synthetic_root), "seed=6"), tmp_path / "c")
    assert other["trajectory"]["initial"] != a["trajectory"]["initial"]


@pytest.mark.parametrize("weighting", ["learnable", "liebel", "fixed"])
def test_recon_on_and_off_start_from_the_same_network_and_weights(
    tmp_path: Path, synthetic_root: Path, weighting: str
) -> None:
    """Common random numbers: the recon flag changes the objective, not the starting point."""
    started = []
    for recon in ("true", "false"):
        cfg = compose_cfg(*tiny_overrides(synthetic_root), f"weighting={weighting}", f"recon={recon}")
        out, identity, _ = prepare(cfg, tmp_path / recon)
        session = open_session(cfg, out, identity, load_data(cfg, torch.device("cpu")), torch.device("cpu"), 0.0)
        session.release()
        started.append((session.trainer.model.state_dict(), session.trainer.weighting.state_dict(), session.record))
    (model_on, weighting_on, record_on), (model_off, weighting_off, record_off) = started
    assert model_on.keys() == model_off.keys()
    assert all(torch.equal(model_on[k], model_off[k]) for k in model_on)
    for name, value in weighting_on.items():
        if name != "active":
            assert torch.equal(value, weighting_off[name]), name
    initial_on, initial_off = record_on.trajectory()["initial"], record_off.trajectory()["initial"]
    for name, per_task in initial_off.items():  # the values before the first step, of the tasks both have
        assert per_task == {t: initial_on[name][t] for t in per_task}, name


def test_result_json_is_the_returned_record(tmp_path: Path, synthetic_root: Path) -> None:
    result = run(compose_cfg(*tiny_overrides(synthetic_root), "record.trajectory_every=2"), tmp_path)
    on_disk = load(tmp_path / "result.json")
    assert on_disk["final"] == result["final"] and on_disk["config_hash"] == result["config_hash"]
    assert on_disk["trajectory"]["step"] == [2, 4]
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("init", ["torch", "keras"])
def test_a_run_draws_nothing_from_the_generator_other_threads_share(
    tmp_path: Path, synthetic_root: Path, init: str
) -> None:
    """Every initial weight comes from the run's own generator: a run while another thread of the process reseeds
    PyTorch's global generator, and 4 runs at once in threads, give the numbers of the runs alone (before:
    model.init=torch seeded the global generator under fork_rng, which the threads shared)."""
    cfgs = [compose_cfg(*tiny_overrides(synthetic_root), f"model.init={init}", f"seed={s}") for s in range(4)]
    alone = [run(cfg, tmp_path / f"alone{i}")["final"] for i, cfg in enumerate(cfgs)]
    stop = threading.Event()

    def reseed() -> None:
        n = 0
        while not stop.is_set():
            torch.manual_seed(n := n + 1)

    other = threading.Thread(target=reseed)
    other.start()
    try:
        beside = run(cfgs[0], tmp_path / "beside")["final"]
    finally:
        stop.set()
        other.join()
    assert beside == alone[0]
    with ThreadPoolExecutor(max_workers=4) as pool:
        jobs = [pool.submit(run, cfg, tmp_path / f"threads{i}") for i, cfg in enumerate(cfgs)]
        assert [job.result()["final"] for job in jobs] == alone
