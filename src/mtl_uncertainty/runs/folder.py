"""A run's folder: proving it is writable, clearing half-written files, and locking it while it trains."""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
from pathlib import Path

from .. import faults
from ..errors import InputError
from ..storage.atomic import NotAPlainFile, open_lock_file, set_aside

log = logging.getLogger(__name__)

LOCK_FILE = ".lock"
PID_WIDTH = 12


class JobLocked(RuntimeError):
    """Another process is training this run now; this process leaves it alone."""


def writable_target(path: str | Path) -> None:
    """Raise InputError unless `path` exists as a writable folder or could be created; creates nothing."""
    path = Path(path).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    problem = None
    if not existing.is_dir():
        problem = f"{existing} is a file, not a folder"
    elif not os.access(existing, os.W_OK | os.X_OK):
        problem = f"{existing} is not writable"
    if problem:
        raise InputError(
            f"Cannot write results to {path} ({problem}). Choose a writable folder with "
            "hydra.sweep.dir=DIR for a sweep or hydra.run.dir=DIR for one run; nothing was run."
        )


def prepare_output_dir(path: str | Path) -> Path:
    """Create `path` and prove it is writable, or raise InputError saying how to fix it."""
    path = Path(path)
    writable_target(path)
    probe = path / f".write-test-{time.time_ns()}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise InputError(
            f"Cannot write results to {path} ({e.strerror or e}). Choose a writable folder with "
            "hydra.sweep.dir=DIR for a sweep or hydra.run.dir=DIR for one run; nothing was run."
        ) from e
    return path


def remove_leftovers(out_dir: Path) -> None:
    """Delete the temporary files of writes a killed process left half done."""
    for leftover in out_dir.glob(".*.tmp"):
        leftover.unlink(missing_ok=True)


_NO_LOCKS = {errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOLCK}
"""What flock or lockf raises on a filesystem that cannot lock (errno 38, ENOSYS, on some NFS and FUSE mounts)."""


def try_lock(fd: int, path: Path, exclusive: bool = True) -> bool:
    """Lock the open file without waiting: True, or False if another process holds it.

    flock first; where the filesystem has no flock, a POSIX record lock (fcntl.lockf, which NFS serves
    through its lock manager); where it has neither, an InputError in one paragraph. `exclusive=False`
    (a read-only descriptor, to probe) takes a shared record lock in the fallback, which any holder's
    exclusive one still refuses.
    """
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    except OSError as e:
        if e.errno not in _NO_LOCKS:
            raise
    try:
        fcntl.lockf(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except (BlockingIOError, PermissionError):  # EAGAIN or EACCES: another process holds it
        return False
    except OSError as e:
        if e.errno not in _NO_LOCKS:
            raise
        raise InputError(
            f"Cannot lock {path}: its filesystem supports neither flock nor POSIX record locks "
            f"([Errno {e.errno}] {e.strerror}). The suite locks each job folder while it trains, so that two "
            "processes (a rerun, a requeued cluster task) never train one run at once. Put the sweep on a "
            "filesystem that locks (a local disk, or NFS mounted without 'nolock' with its lock manager running): "
            "hydra.sweep.dir=DIR for a sweep, hydra.run.dir=DIR for one run. Nothing was trained in this folder."
        ) from e


def unlock(fd: int) -> None:
    """Give back a lock `try_lock` took (flock, or the record lock where the filesystem has no flock)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError as e:
        if e.errno not in _NO_LOCKS:
            raise
        fcntl.lockf(fd, fcntl.LOCK_UN)


class JobLock:
    """An exclusive lock on a job folder while one process trains it (released on exit, even on SIGKILL).

    The lock file is opened without following links and never truncated; one that is not a plain
    file of its own (a symlink, a FIFO, a hard link to another file) is set aside and a new one made.
    A finished job's holder removes the file before it unlocks; a process that locked the removed
    file in between sees it is no longer at the path and opens the one there.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / LOCK_FILE
        self._fd: int | None = None

    def _open(self) -> int:
        try:
            return open_lock_file(self.path)
        except NotAPlainFile as e:
            log.warning("%s; set aside as %s, a new lock file takes its place", e.strerror, set_aside(self.path, "odd"))
            return open_lock_file(self.path)

    def acquire(self) -> JobLock:
        """Take the lock, or raise JobLocked naming the process that holds it."""
        for _ in range(_ATTEMPTS):
            fd = self._open()
            try:
                locked = try_lock(fd, self.path)
            except BaseException:
                os.close(fd)
                raise
            if not locked:
                holder = os.pread(fd, PID_WIDTH, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise self._locked(holder)
            if _is_at(fd, self.path):
                break
            os.close(fd)  # its holder finished and removed the file while we opened it: lock the file there now
        else:
            raise self._locked("unknown")
        try:  # the holder's pid, for the message above; a fixed width, so nothing needs truncating
            faults.writing(self.path)
            os.pwrite(fd, f"{os.getpid():>{PID_WIDTH - 1}}\n".encode(), 0)
        except OSError:  # e.g. a full disk: give the lock back, so nobody takes this job for one in training
            unlock(fd)
            os.close(fd)
            raise
        self._fd = fd
        return self

    def _locked(self, holder: str) -> JobLocked:
        return JobLocked(
            f"{self.path.parent} is being trained by another process (pid {holder}); this process skips it. "
            "Run the command again after that process ends to pick up its result."
        )

    def release(self, finished: bool = False) -> None:
        """Give the lock back; a finished job's lock file is removed first, while still held, if it is ours."""
        if self._fd is None:
            return
        if finished and _is_at(self._fd, self.path):
            self.path.unlink(missing_ok=True)  # removes the name, never what a link there would point to
        unlock(self._fd)
        os.close(self._fd)
        self._fd = None


_ATTEMPTS = 3
"""How often `acquire` opens the lock file again when its holder removed it in between (a finished job)."""


def _is_at(fd: int, path: Path) -> bool:
    """Whether `path` (not followed if a link) is the file open as `fd`: a removed or replaced lock file is not."""
    try:
        named = os.lstat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)
