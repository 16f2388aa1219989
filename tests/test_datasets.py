"""The second dataset: Fashion-MNIST's facts, its 3-class task, its sources, and its place in a run's identity."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from mtl_uncertainty.config import config_hash
from mtl_uncertainty.data import datasets
from mtl_uncertainty.data.datasets import FASHION_MNIST, FILES, MNIST, DatasetError, raw_dir
from mtl_uncertainty.data.sources import ensure_dataset
from mtl_uncertainty.data.splits import load_data
from mtl_uncertainty.ops.naming import job_dirname
from tests.conftest import compose_cfg


@pytest.fixture
def closed_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision's downloads, pointed at a local port nothing listens on."""
    from torchvision.datasets import MNIST as TorchvisionMNIST
    from torchvision.datasets import FashionMNIST

    for dataset in (TorchvisionMNIST, FashionMNIST):
        monkeypatch.setattr(dataset, "mirrors", ["http://127.0.0.1:9/"])


@pytest.mark.slow
def test_fashion_mnist_loads_verified_with_its_facts_and_three_class_grouping(shared_fashion: Path) -> None:
    cfg = compose_cfg("dataset=fashion_mnist", f"data.root={shared_fashion}", "data.download=false")
    data = load_data(cfg, torch.device("cpu"))
    assert data.identity["dataset"] == "fashion_mnist" and data.identity["verified"] is True
    assert len(data.train) == 60_000 and len(data.test) == 10_000
    assert torch.bincount(data.train.y10).tolist() == list(FASHION_MNIST.train_label_counts)
    pixels = (data.train.images + 1) / 2
    assert pixels.mean().item() == pytest.approx(FASHION_MNIST.pixel_mean, abs=1e-4)
    assert pixels.std().item() == pytest.approx(FASHION_MNIST.pixel_std, abs=1e-4)
    # tops: T-shirt/top, Pullover, Coat, Shirt; footwear: Sandal, Sneaker, Ankle boot; other: Trouser, Dress, Bag
    assert torch.bincount(data.train.y3).tolist() == [4 * 6000, 3 * 6000, 3 * 6000]
    assert torch.bincount(data.test.y3).tolist() == [4 * 1000, 3 * 1000, 3 * 1000]
    assert (data.train.y3[data.train.y10 == 8] == 2).all() and (data.train.y3[data.train.y10 == 6] == 0).all()


@pytest.mark.slow
def test_mnist_facts_hold_for_the_real_files(shared_mnist: Path) -> None:
    data = load_data(compose_cfg(f"data.root={shared_mnist}", "data.download=false"), torch.device("cpu"))
    pixels = (data.train.images + 1) / 2
    assert pixels.mean().item() == pytest.approx(MNIST.pixel_mean, abs=1e-4)
    assert pixels.std().item() == pytest.approx(MNIST.pixel_std, abs=1e-4)
    assert torch.bincount(data.test.y3).tolist() == [1032, 958, 10_000 - 1032 - 958]  # digit 2, digit 6, others


def test_fashion_mnist_comes_from_the_debian_package_when_torchvision_cannot_fetch_it(
    tmp_path: Path, shared_fashion: Path, closed_mirrors, monkeypatch: pytest.MonkeyPatch
) -> None:
    system = tmp_path / "usr-share-datasets-fashion-mnist"
    shutil.copytree(raw_dir(shared_fashion, FASHION_MNIST), system)
    facts = dataclasses.replace(FASHION_MNIST, system_dirs=(str(system),))
    files = ensure_dataset(tmp_path / "data", facts=facts)
    assert {p.parent for p in files.values()} == {system}  # read where the package put them, nothing copied
    assert not any(raw_dir(tmp_path / "data", facts).iterdir())


def test_when_every_fashion_source_fails_the_error_names_all_three(
    tmp_path: Path, closed_mirrors, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts = dataclasses.replace(FASHION_MNIST, system_dirs=(str(tmp_path / "nowhere"),))
    with pytest.raises(DatasetError) as err:
        ensure_dataset(tmp_path / "data", facts=facts)
    text = str(err.value)
    assert f"Fashion-MNIST is not in {tmp_path / 'data' / 'FashionMNIST' / 'raw'}" in text
    assert "(1) torchvision's download" in text and "127.0.0.1" in text
    assert "(2) Debian's package dataset-fashion-mnist" in text and "apt-get install dataset-fashion-mnist" in text
    assert "copy train-images-idx3-ubyte.gz" in text and "DIR/FashionMNIST/raw/" in text


def test_a_wrong_fashion_file_is_named_with_its_expected_hash(tmp_path: Path) -> None:
    raw = raw_dir(tmp_path, FASHION_MNIST)
    raw.mkdir(parents=True)
    for name in FILES:
        images = name.endswith("idx3-ubyte")
        n = 60_000 if name.startswith("train") else 10_000
        header = (2051 if images else 2049).to_bytes(4, "big") + n.to_bytes(4, "big")
        header += (28).to_bytes(4, "big") * 2 if images else b""
        (raw / name).write_bytes(header + bytes(n * (784 if images else 1)))
    with pytest.raises(DatasetError, match=r"Fashion-MNIST file .* its sha256 is [0-9a-f]{64}, expected"):
        ensure_dataset(tmp_path, facts=FASHION_MNIST, download=False)


def test_the_dataset_is_part_of_a_runs_identity_and_its_folder_name() -> None:
    assert config_hash(compose_cfg("dataset=fashion_mnist")) != config_hash(compose_cfg())
    assert compose_cfg("dataset=fashion_mnist").dataset.coarse_names == ["tops", "footwear", "other"]
    assert job_dirname(["seed=1", "weighting=fixed", "dataset=fashion_mnist"], []) == (
        "dataset=fashion_mnist/weighting=fixed/seed=1"
    )
    assert datasets.DATASETS == {"mnist": MNIST, "fashion_mnist": FASHION_MNIST}


def test_a_stacked_sweep_over_two_datasets_trains_each_run_on_its_own_data(
    tmp_path: Path, synthetic_root: Path
) -> None:
    """The launcher's stacked path loads data once per shape: MNIST's copy must never reach the Fashion run."""
    from mtl_uncertainty.run import run, run_many
    from tests.conftest import tiny_overrides

    cfgs = [compose_cfg(*tiny_overrides(synthetic_root), f"dataset={name}") for name in ("mnist", "fashion_mnist")]
    stacked = run_many(cfgs, [tmp_path / "mnist", tmp_path / "fashion"], stack=True)
    alone = run(cfgs[1], tmp_path / "fashion-alone")
    assert [r["data"]["dataset"] for r in stacked] == ["mnist", "fashion_mnist"]
    assert stacked[1]["final"]["test"] != stacked[0]["final"]["test"]
    assert stacked[1]["final"] == alone["final"]  # the same numbers as the Fashion run trained on its own


def test_a_session_refuses_data_that_are_not_its_runs(tmp_path: Path, synthetic_root: Path) -> None:
    """Whatever hands a run its data (a cache, a stack), a run never trains on another run's data."""
    from mtl_uncertainty.runs.resume import prepare
    from mtl_uncertainty.runs.session import DataMismatch, open_session
    from tests.conftest import tiny_overrides

    mnist = compose_cfg(*tiny_overrides(synthetic_root))
    data = load_data(mnist, torch.device("cpu"))
    for other in (["dataset=fashion_mnist"], ["data.val_size=100"], ["dataset.coarse_labels=[0,1,2,2,2,2,2,2,2,2]"]):
        cfg = compose_cfg(*tiny_overrides(synthetic_root), *other)
        out, identity, _ = prepare(cfg, tmp_path / other[0].replace("=", "-"))
        with pytest.raises(DataMismatch, match="not its own"):
            open_session(cfg, out, identity, data, torch.device("cpu"), 0.0)
        assert not (out / ".lock").exists()  # refused before the job folder was locked or touched


def test_when_every_source_fails_no_folder_is_left_behind(tmp_path: Path, closed_mirrors) -> None:
    """A refused run writes nothing: the folders made for a fetch that failed are removed, and only those."""
    facts = dataclasses.replace(FASHION_MNIST, system_dirs=(str(tmp_path / "nowhere"),))
    new_root, old_root = tmp_path / "new", tmp_path / "old"  # a new root in an existing folder, and an old one
    (old_root / "FashionMNIST").mkdir(parents=True)
    for root in (new_root, old_root):
        with pytest.raises(DatasetError, match="every source failed"):
            ensure_dataset(root, facts=facts)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["old", "old/FashionMNIST"]
