"""Every file the suite writes: whole or not at all, and never through a link it did not make.

`write_atomic` writes a temporary file beside the destination (created new, never following a
link) and renames it over the destination, so a reader sees the old file or the whole new one,
and a symlink planted at the destination is replaced, not followed. `set_aside` renames a file
out of the way without ever overwriting an earlier one. `open_lock_file` opens a job's lock file
without following links or truncating anything.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
from pathlib import Path

from .. import faults

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def _create_temporary(path: Path) -> tuple[Path, int]:
    """A new temporary file beside `path` (a stale one of the same name, e.g. a dead process's, is removed)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        return tmp, os.open(tmp, _NEW_FILE, 0o644)
    except FileExistsError:
        tmp.unlink()  # removes a link itself, never its target
        return tmp, os.open(tmp, _NEW_FILE, 0o644)


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a new temporary file beside `path`, flush it to disk, then rename it over `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp, fd = _create_temporary(path)
    try:
        with open(fd, "wb") as f:
            f.write(data)
            faults.writing(path)
            f.flush()
            os.fsync(f.fileno())
        faults.hit(f"{path.name.split('.')[0]}_tmp")
        os.replace(tmp, path)
    except BaseException:  # a full disk, an interrupt: leave no half-written file behind
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


MAX_TAG = 40
"""A set-aside name's tag is at most this long: the file name stays far below any system's limit."""


def safe_tag(tag: str) -> str:
    """`tag` as a part of a file name: letters, digits, `_` and `-` only (no `/`, NUL or `..`), at most 40."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", tag)[:MAX_TAG] or "_"


def set_aside(path: Path, tag: str) -> Path:
    """Rename `path` to `<stem>.<tag><suffix>` (or `<stem>.<tag>-2<suffix>`, ... if taken); nothing is overwritten.

    The tag may come from the file itself (another config's hash): it is made safe first (`safe_tag`).
    """
    tag = safe_tag(tag)
    for n in range(1, 10_000):
        target = path.with_name(f"{path.stem}.{tag}{'' if n == 1 else f'-{n}'}{path.suffix}")
        try:
            os.link(path, target, follow_symlinks=False)  # fails if the target exists: never overwrites
        except FileExistsError:
            continue
        except OSError as e:  # a folder cannot be hard-linked: rename it, if the name is free
            if e.errno not in (errno.EPERM, errno.EISDIR, errno.EXDEV, errno.EMLINK) or os.path.lexists(target):
                raise
            os.rename(path, target)
            return target
        os.unlink(path)
        return target
    raise FileExistsError(f"{path}: 9,999 earlier copies are set aside already; move some of them away")


class NotAPlainFile(OSError):
    """A file where the suite expects one of its own plain files: a link, a FIFO, a folder, a hard link."""


def open_lock_file(path: Path) -> int:
    """A read-write descriptor of the lock file at `path`, created if absent; never a link, FIFO or shared file.

    Nothing is truncated. A lock file that is not a plain file of its own (a symlink, a FIFO, a
    folder, a file with other hard links) raises NotAPlainFile; the caller sets it aside.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise NotAPlainFile(e.errno, f"{path} is not a plain file (a link, folder or socket)", str(path)) from e
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
        os.close(fd)
        raise NotAPlainFile(errno.EINVAL, f"{path} is not a plain file of its own (a FIFO or a hard link)", str(path))
    return fd
