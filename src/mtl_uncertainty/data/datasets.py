"""The datasets' facts (MNIST, Fashion-MNIST) and their four IDX files: what each must be, and
reading them checked.

`read(files, facts, verify)` returns the decoded arrays, after checking each file's format and
(with `verify`) its content hash; `.gz` files are read in memory, never unpacked, so a read-only
data folder works. Nothing here trusts a file it did not check. Finding or fetching the files is
`sources.py`.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
SIDE = 28
FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
"""The four IDX file names, as torchvision expects them under <folder>/raw/."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetFacts:
    """What verified files of a dataset hold, and where the suite looks for them."""

    name: str  # the config name: dataset=<name>
    label: str  # its name in messages
    folder: str  # under data.root, as torchvision lays it out: <folder>/raw/
    sizes: Mapping[str, int]  # split prefix ("train", "t10k") → number of images
    sha256: Mapping[str, str]  # IDX file name → sha256 of its (uncompressed) bytes
    train_label_counts: Sequence[int]  # images per class 0–9 in the training split
    pixel_mean: float  # of the training pixels / 255 (a documented fact, checked by a test)
    pixel_std: float
    gz_md5: Mapping[str, str] = field(default_factory=dict)  # .gz name → md5 where the originals are known
    system_dirs: Sequence[str] = ()  # folders a system package installs the .gz files into


MNIST = DatasetFacts(
    name="mnist",
    label="MNIST",
    folder="MNIST",
    sizes={"train": 60_000, "t10k": 10_000},
    sha256={
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    train_label_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
    pixel_mean=0.1307,
    pixel_std=0.3081,
    gz_md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
)

FASHION_MNIST = DatasetFacts(
    name="fashion_mnist",
    label="Fashion-MNIST",
    folder="FashionMNIST",
    sizes={"train": 60_000, "t10k": 10_000},
    sha256={
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
    train_label_counts=(6000,) * 10,
    pixel_mean=0.2860,
    pixel_std=0.3530,
    system_dirs=("/usr/share/datasets/fashion-mnist",),  # Debian/Ubuntu: apt-get install dataset-fashion-mnist
)
# Fashion-MNIST's .gz files differ by distributor (Debian recompressed them), so only the
# uncompressed content is verified.

DATASETS: dict[str, DatasetFacts] = {facts.name: facts for facts in (MNIST, FASHION_MNIST)}


class DatasetError(InputError):
    """Dataset files are missing, corrupt, or could not be fetched; the message says what to do."""


class FetchError(RuntimeError):
    """One source of a dataset failed; the chain goes on to the next."""


def raw_dir(root: str | os.PathLike[str], facts: DatasetFacts = MNIST) -> Path:
    return Path(root) / facts.folder / "raw"


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's bytes for uint8 images (n, 28, 28) or labels (n,)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = IMAGE_MAGIC if array.ndim == 3 else LABEL_MAGIC
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.tobytes()


def _corrupt(path: Path, problem: str, facts: DatasetFacts = MNIST) -> DatasetError:
    return DatasetError(
        f"{facts.label} file {path} is not usable: {problem}. Delete it and run again to fetch a fresh "
        f"copy, or replace it with the original file (for files that are not {facts.label}, such as small "
        "test data, pass data.verify=false)."
    )


def file_bytes(path: Path, facts: DatasetFacts = MNIST, verify: bool = True) -> bytes:
    """The uncompressed bytes of an IDX file or its `.gz` (an original .gz is md5-checked first, where known)."""
    if not path.is_file():
        raise _corrupt(path, "it is not a regular file", facts)
    data = path.read_bytes()
    if path.suffix != ".gz":
        return data
    if verify and path.name in facts.gz_md5 and (md5 := hashlib.md5(data).hexdigest()) != facts.gz_md5[path.name]:
        raise _corrupt(path, f"its md5 is {md5}, expected {facts.gz_md5[path.name]}", facts)
    try:
        return gzip.decompress(data)
    except (OSError, EOFError) as e:
        raise _corrupt(path, f"it does not decompress ({e})", facts) from e


def check_idx_bytes(data: bytes, path: Path, facts: DatasetFacts = MNIST, verify: bool = True) -> np.ndarray:
    """The array an IDX file holds, or DatasetError naming what is wrong with it (and, with `verify`, its hash)."""
    name = path.name.removesuffix(".gz")
    images = "images" in name
    ndim = 3 if images else 1
    header = 4 * (1 + ndim)
    if len(data) < header:
        raise _corrupt(path, f"it has {len(data)} bytes, fewer than an IDX header ({header})", facts)
    magic, *dims = struct.unpack(f">{1 + ndim}I", data[:header])
    want_magic = IMAGE_MAGIC if images else LABEL_MAGIC
    if magic != want_magic:
        kind = "image" if images else "label"
        raise _corrupt(path, f"its magic number is {magic}, expected {want_magic} (an IDX {kind} file)", facts)
    if images and dims[1:] != [SIDE, SIDE]:
        raise _corrupt(path, f"its images are {dims[1]}×{dims[2]}, expected {SIDE}×{SIDE}", facts)
    want_size = header + int(np.prod(dims))
    if len(data) != want_size:
        problem = f"it has {len(data)} bytes, expected {want_size} for {dims[0]} items (truncated?)"
        raise _corrupt(path, problem, facts)
    if verify:
        split = name.split("-")[0]
        if dims[0] != facts.sizes[split]:
            raise _corrupt(path, f"it holds {dims[0]} items, expected {facts.sizes[split]}", facts)
        if (digest := hashlib.sha256(data).hexdigest()) != facts.sha256[name]:
            raise _corrupt(path, f"its sha256 is {digest}, expected {facts.sha256[name]}", facts)
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def check_idx(path: Path, facts: DatasetFacts = MNIST, verify: bool = True) -> None:
    """Raise DatasetError unless `path` (an IDX file or its .gz) is well-formed (and, with `verify`, the known one)."""
    check_idx_bytes(file_bytes(path, facts, verify), path, facts, verify)


def find_files(folder: Path) -> dict[str, Path] | None:
    """The four files in `folder`, each unpacked or as its .gz; None unless all four are there."""
    found = {}
    for name in FILES:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.exists():
                found[name] = candidate
                break
    return found if len(found) == len(FILES) else None


def unusable(root: str | os.PathLike[str], e: OSError, facts: DatasetFacts) -> DatasetError:
    """An OSError (permissions, a full disk) as the one-paragraph message a user can act on."""
    where = f" ({e.filename})" if e.filename else ""
    return DatasetError(
        f"{facts.label} under data.root={root} could not be read or written: {e.strerror or e}{where}. Make sure "
        f"data.root names a folder you can read (and write, to fetch {facts.label}), or pass data.root=DIR."
    )


_read: dict[tuple, dict[str, np.ndarray]] = {}
"""Arrays this process has already read and checked, by path, size and modification time of each file."""


def _checked_array(path: Path, facts: DatasetFacts, verify: bool) -> np.ndarray:
    return check_idx_bytes(file_bytes(path, facts, verify), path, facts, verify)


def read(files: Mapping[str, Path], facts: DatasetFacts = MNIST, verify: bool = True) -> dict[str, np.ndarray]:
    """The four arrays (IDX name → uint8 array), each file checked once per process."""
    try:
        stamp = (facts.name, verify, *((p.resolve(), p.stat().st_size, p.stat().st_mtime_ns) for p in files.values()))
        if stamp not in _read:
            while len(_read) >= 2:  # a process reads one or two datasets: keep the last two in memory
                _read.pop(next(iter(_read)))
            _read[stamp] = {name: _checked_array(path, facts, verify) for name, path in files.items()}
        return _read[stamp]
    except OSError as e:
        raise unusable(next(iter(files.values())).parent, e, facts) from e
