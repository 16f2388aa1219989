"""The floors: computed from the runs' own data, written beside them, and read by the report.

The data are tiny IDX files whose floors are worked out by hand here; the runs are result.json
files written by hand (no training), except the CLI sweep of tests/test_run.py, which checks the
floors.json a real sweep ends by writing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from mtl_uncertainty.analysis.displays import floor_lines, learned_text
from mtl_uncertainty.analysis.report import build_report
from mtl_uncertainty.data.datasets import MNIST, idx_bytes, raw_dir
from mtl_uncertainty.data.splits import data_identity
from mtl_uncertainty.floors import floors_json, main, write_floors
from mtl_uncertainty.storage.floors_file import FLOORS_FILE, problems, read_floors
from mtl_uncertainty.storage.reading import UnreadableFile
from tests.conftest import REPO
from tests.test_figures import fake_result, write_runs

COARSE = [2, 2, 0, 2, 2, 2, 1, 2, 2, 2]  # MNIST's 3-class grouping: digit 2, digit 6, other digits


def _image(left: int, right: int) -> np.ndarray:
    """A 28×28 image whose left 14 columns hold pixel value `left` and right 14 columns `right`."""
    image = np.empty((28, 28), dtype=np.uint8)
    image[:, :14], image[:, 14:] = left, right
    return image


def write_known_mnist(root: Path) -> Path:
    """Three training images (the last is the validation split at val_size=1) and two test images.

    In [−1, 1]: train split X1 = −1 everywhere, X2 = −1 left / +1 right; validation X3 = +1; test +1 and −1.
    Labels: train 3, 3 (validation 7); test 3, 6.
    """
    raw = raw_dir(root, MNIST)
    raw.mkdir(parents=True)
    train = np.stack([_image(0, 0), _image(0, 255), _image(255, 255)])
    test = np.stack([_image(255, 255), _image(0, 0)])
    files = {
        "train-images-idx3-ubyte": train,
        "train-labels-idx1-ubyte": np.array([3, 3, 7], dtype=np.uint8),
        "t10k-images-idx3-ubyte": test,
        "t10k-labels-idx1-ubyte": np.array([3, 6], dtype=np.uint8),
    }
    for name, array in files.items():
        (raw / name).write_bytes(idx_bytes(array))
    return root


# By hand: the mean training image is −1 on the left and 0 on the right; the best constant is −0.5;
# the most frequent training class is 3 (10-class) and "other digits" (3-class).
EXPECTED = {
    # train: X1 and X2 each miss the mean image by 1 on the right half (0.5); the constant by 0.25 and 1.25
    "train": {"images": 2, "mse_mean": 0.5, "mse_constant": 0.75, "acc3": 1.0, "acc10": 1.0},
    # validation (+1): 4 on the left, 1 on the right; (1.5)² = 2.25; label 7 is "other digits" but not 3
    "val": {"images": 1, "mse_mean": 2.5, "mse_constant": 2.25, "acc3": 1.0, "acc10": 0.0},
    # test: +1 as the validation image, −1 as X1 (0.5 and 0.25); labels 3 (other digits) and 6 (digit 6)
    "test": {"images": 2, "mse_mean": 1.5, "mse_constant": 1.25, "acc3": 0.5, "acc10": 0.5},
}


def _data_config(root: Path, val_size: int) -> dict:
    return {
        "dataset": {"name": "mnist", "coarse_labels": COARSE},
        "data": {"root": str(root), "download": False, "verify": False, "val_size": val_size},
    }


def known_result(root: Path, val_size: int = 1, data_hash: str | None = None, seed: int = 0) -> dict:
    """A finished run's result.json as far as the floors read it: its config and the identity of its data."""
    config = _data_config(root, val_size)
    identity = data_identity(OmegaConf.create(config))
    return {
        "schema": 2,
        "status": "completed",
        "seed": seed,
        "config": config,
        "data": {**identity, "hash": data_hash or identity["hash"]},
    }


def write_sweep(folder: Path, results: list[dict]) -> Path:
    folder.mkdir(parents=True)
    (folder / "multirun.yaml").write_text("hydra: {}\n")
    for i, r in enumerate(results):
        (folder / f"job{i}").mkdir()
        (folder / f"job{i}" / "result.json").write_text(json.dumps(r))
    return folder


def test_the_floors_of_known_images_are_the_ones_worked_out_by_hand(tmp_path: Path) -> None:
    root = write_known_mnist(tmp_path / "data")
    sweep = write_sweep(tmp_path / "sweep", [known_result(root), known_result(root, seed=1)])
    assert main([str(sweep)]) == 0
    (entry,) = read_floors(sweep / FLOORS_FILE)
    assert entry["dataset"] == "mnist" and entry["val_size"] == 1 and entry["coarse_labels"] == COARSE
    assert entry["data_hash"] == known_result(root)["data"]["hash"]
    assert entry["constant"] == pytest.approx(-0.5) and entry["majority_class"] == {"cls3": 2, "cls10": 3}
    for split, want in EXPECTED.items():
        got = entry["splits"][split]
        assert got["images"] == want["images"], split
        assert got["loss_recon_mean_image"] == pytest.approx(want["mse_mean"], abs=1e-12), split
        assert got["loss_recon_constant"] == pytest.approx(want["mse_constant"], abs=1e-12), split
        assert got["acc_cls3_majority"] == pytest.approx(want["acc3"]), split
        assert got["acc_cls10_majority"] == pytest.approx(want["acc10"]), split


def test_without_a_validation_split_the_floors_are_fitted_on_all_training_images(tmp_path: Path) -> None:
    root = write_known_mnist(tmp_path / "data")
    sweep = write_sweep(tmp_path / "sweep", [known_result(root, val_size=0)])
    assert main([str(sweep)]) == 0
    (entry,) = read_floors(sweep / FLOORS_FILE)
    assert sorted(entry["splits"]) == ["test", "train"]
    # mean image (X1, X2, X3): −1/3 on the left, +1/3 on the right; each test image misses it by 4/3 on one
    # half and 2/3 on the other
    assert entry["splits"]["test"]["loss_recon_mean_image"] == pytest.approx((16 / 9 + 4 / 9) / 2)
    assert entry["constant"] == pytest.approx(0.0)  # as many pixels at −1 as at +1
    assert entry["splits"]["test"]["loss_recon_constant"] == pytest.approx(1.0)


def test_the_command_writes_each_sweeps_floors_and_refuses_files_that_are_not_the_runs(tmp_path: Path) -> None:
    root = write_known_mnist(tmp_path / "data")
    study = tmp_path / "study"
    good = write_sweep(study / "good", [known_result(root)])
    other = write_sweep(study / "other", [known_result(root, data_hash="0123456789abcdef")])
    proc = subprocess.run(
        [sys.executable, "-m", "mtl_uncertainty.floors", str(study)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        timeout=300,
    )
    assert proc.returncode == 1, proc.stderr  # one sweep's data are not on this machine as the runs had them
    assert f"wrote {good / FLOORS_FILE}" in proc.stdout
    assert "are not the runs'" in proc.stderr and "0123456789abcdef" in proc.stderr
    assert not (other / FLOORS_FILE).exists()
    assert read_floors(good / FLOORS_FILE)[0]["splits"]["test"]["loss_recon_mean_image"] == pytest.approx(1.5)
    # --data-root: files moved elsewhere are found there, and checked the same way
    moved = tmp_path / "moved"
    moved.mkdir()
    (root / "MNIST").rename(moved / "MNIST")
    (good / FLOORS_FILE).unlink()
    assert main([str(good)]) == 1 and not (good / FLOORS_FILE).exists()
    assert main([str(good), "--data-root", str(moved)]) == 0 and (good / FLOORS_FILE).is_file()


def test_at_a_sweeps_end_only_its_own_runs_and_its_data_root_are_used(tmp_path: Path) -> None:
    root = write_known_mnist(tmp_path / "data")
    elsewhere = write_known_mnist(tmp_path / "elsewhere")
    sweep = write_sweep(tmp_path / "sweep", [known_result(root), known_result(elsewhere, val_size=0)])
    # job1 is not among the sweep's jobs (a result.json put there by other means): its data are never loaded
    path, problems = write_floors(sweep, jobs=[sweep / "job0"], roots=[str(root)])
    assert problems == [] and [e["val_size"] for e in read_floors(path)] == [1]
    # every job the sweep's own, but job1's data.root is not the sweep's: no floors for it, and it is said
    path, problems = write_floors(sweep, jobs=[sweep / "job0", sweep / "job1"], roots=[str(root)])
    assert [e["val_size"] for e in read_floors(path)] == [1]
    assert len(problems) == 1 and "is not the sweep's" in problems[0] and str(elsewhere) in problems[0]


def test_a_folder_without_finished_runs_gets_no_floors(tmp_path: Path) -> None:
    sweep = write_sweep(tmp_path / "sweep", [{"status": "failed", "config": {}}])
    assert main([str(sweep)]) == 1 and not (sweep / FLOORS_FILE).exists()


def test_a_floors_file_the_suite_does_not_write_is_refused(tmp_path: Path) -> None:
    path = tmp_path / FLOORS_FILE
    path.write_text(json.dumps({"schema": 1, "floors": [{"dataset": "mnist"}]}))
    with pytest.raises(UnreadableFile, match="not a floors file"):
        read_floors(path)
    target = tmp_path / "elsewhere.json"
    target.write_text(floors_json([]).decode())
    (tmp_path / "link").mkdir()
    (tmp_path / "link" / FLOORS_FILE).symlink_to(target)
    with pytest.raises(UnreadableFile, match="symbolic link"):
        read_floors(tmp_path / "link" / FLOORS_FILE)
    assert problems(json.loads(floors_json([]))) == []


# The report: learned counts and floor lines on hand-made runs.

FAKE_HASH = "mnist-files"  # what tests.test_figures.fake_result records as its data.hash


def fake_floors(recon_mean: float = 0.25, acc3: float = 0.8, acc10: float = 0.11) -> dict:
    """A floors.json entry for the data of fake_result's runs (no validation split)."""
    split = {
        "images": 100,
        "loss_recon_mean_image": recon_mean,
        "loss_recon_constant": recon_mean + 0.1,
        "acc_cls3_majority": acc3,
        "acc_cls10_majority": acc10,
    }
    return {
        "dataset": "mnist",
        "data_hash": FAKE_HASH,
        "val_size": 0,
        "coarse_labels": COARSE,
        "splits": {"train": split, "test": split},
    }


def run_with(method: str, seed: int, acc3: float, acc10: float, mse: float | None) -> dict:
    r = fake_result(method, seed, recon=mse is not None, epochs=1)
    r["final"]["test"].update(acc_cls3=acc3, acc_cls10=acc10, loss_recon=mse)
    return r


def test_each_row_counts_the_seeds_that_beat_each_floor(tmp_path: Path) -> None:
    sweep = write_runs(
        tmp_path / "sweep",
        [
            run_with("fixed", 0, 0.95, 0.90, 0.20),  # learned all three
            run_with("fixed", 1, 0.95, 0.10, 0.30),  # 10-class below chance, MSE above the mean image's
            run_with("fixed", 2, 0.79, 0.50, 0.25),  # 3-class below the majority; MSE at the floor: not below
            run_with("learnable", 0, 0.95, 0.90, 0.20),
            run_with("learnable", 1, 0.95, 0.90, 0.24),
        ],
    )
    (sweep / FLOORS_FILE).write_bytes(floors_json([fake_floors()]))
    report = build_report([sweep], tmp_path / "out")
    rows = report.summary.set_index("row")
    assert rows.loc["fixed", ["learned.cls3", "learned.cls10", "learned.recon"]].tolist() == [2, 2, 1]
    assert rows.loc["fixed", "learned.recon.n"] == 3
    assert rows.loc["learnable", ["learned.cls3", "learned.cls10", "learned.recon"]].tolist() == [2, 2, 2]
    table = report.main_table_text()
    assert "learned (3-class/10-class/recon)" in table.splitlines()[0]
    assert "| 2/2/1 of 3 |" in table and "| 2/2/2 of 2 |" in table
    line, explained = floor_lines(report.summary)
    assert "MSE 0.25000 predicting the mean training image, 0.35000 predicting the best constant" in line
    assert "learned a task if" in explained
    assert "accuracy 0.8000 (3-class) and 0.1100 (10-class)" in line


def test_a_task_a_row_does_not_train_is_a_dash_in_its_count(tmp_path: Path) -> None:
    sweep = write_runs(
        tmp_path / "sweep",
        [run_with("fixed", s, 0.95, 0.90, 0.20) for s in range(2)]
        + [run_with("learnable", s, 0.95, 0.05, None) for s in range(2)],
    )
    (sweep / FLOORS_FILE).write_bytes(floors_json([fake_floors()]))
    summary = build_report([sweep], tmp_path / "out").summary
    texts = {r["cell"]: learned_text(r, ["cls3", "cls10", "recon"]) for _, r in summary.iterrows()}
    assert texts["fixed, recon=true"] == "2/2/2 of 2"
    assert texts["learnable, recon=false"] == "2/0/— of 2"


def test_without_matching_floors_the_report_says_so_and_how_to_compute_them(tmp_path: Path) -> None:
    sweep = write_runs(tmp_path / "sweep", [run_with("fixed", s, 0.95, 0.90, 0.20) for s in range(2)])
    report = build_report([sweep], tmp_path / "out")
    assert "| — (no floors) |" in report.main_table_text()
    (line,) = floor_lines(report.summary)
    assert "not available" in line and "python -m mtl_uncertainty.floors" in line
    other = {**fake_floors(), "data_hash": "other-files"}  # the floors of other files are never used
    (sweep / FLOORS_FILE).write_bytes(floors_json([other]))
    (line,) = floor_lines(build_report([sweep], tmp_path / "out").summary)
    assert "not available" in line and f"data.hash {FAKE_HASH}" in line
    (sweep / FLOORS_FILE).write_text('{"schema": 1, "floors": 3}')
    (line,) = floor_lines(build_report([sweep], tmp_path / "out").summary)
    assert "not available" in line and "not a floors file" in line


@pytest.mark.slow
def test_the_committed_floors_are_what_the_command_computes_from_the_real_data(
    tmp_path: Path, shared_mnist: Path
) -> None:
    committed = REPO / "results" / "core" / "mnist" / FLOORS_FILE
    results = tmp_path / "core" / "mnist"
    results.mkdir(parents=True)
    (results / "multirun.yaml").write_text("hydra: {}\n")
    one = next((REPO / "results" / "core" / "mnist").rglob("result.json"))
    (results / "job").mkdir()
    (results / "job" / "result.json").write_bytes(one.read_bytes())
    assert main([str(results), "--data-root", str(shared_mnist)]) == 0
    # float64 sums in torch may differ in the last bits with the thread count: equal to 12 significant digits
    assert _rounded(json.loads((results / FLOORS_FILE).read_text())) == _rounded(json.loads(committed.read_text()))


def _rounded(node: object) -> object:
    if isinstance(node, float):
        return float(f"{node:.12g}")
    if isinstance(node, dict):
        return {k: _rounded(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_rounded(v) for v in node]
    return node


def test_a_searchs_floors_are_found_in_its_folder_without_a_sweep_record(tmp_path: Path) -> None:
    """Optuna's sweeper writes no multirun.yaml: the floors.json in the search's own folder still counts."""
    study = tmp_path / "study"
    search = write_runs(study / "mnist", [run_with("fixed", 0, 0.95, 0.90, 0.20)])
    assert not list(study.rglob("multirun.yaml"))
    (search / FLOORS_FILE).write_bytes(floors_json([fake_floors()]))
    rows = build_report([study], tmp_path / "out").summary.set_index("row")
    assert rows.loc["fixed", ["learned.cls3", "learned.cls10", "learned.recon"]].tolist() == [1, 1, 1]
