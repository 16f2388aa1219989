"""The one reader of files in a sweep folder, which the suite may not have written.

Before anything is read: the path must not be a link (never followed), must be a regular file
(a FIFO would block forever, a folder is not a file) and must be within a size cap (a sparse
64 GB file is refused by its size, not read). JSON that cannot be decoded for any reason, deep
nesting included, is an `UnreadableFile` with the reason, never a crash.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

MAX_JSON_BYTES = 256 * 2**20
"""A result.json is well under 10 MB even when every step of a long run is recorded."""


class UnreadableFile(ValueError):
    """A file the suite will not read or could not decode; the message says why."""


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The bytes of the regular file at `path` (FileNotFoundError if there is none), checked before reading."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise UnreadableFile("it is a symbolic link, which the suite never follows") from e
        raise UnreadableFile(f"it cannot be opened ({e.strerror or e})") from e
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile(f"it is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise UnreadableFile(f"it holds {info.st_size:,} bytes, more than the {max_bytes:,} allowed")
        chunks, left = [], max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, 2**24))):
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as e:
        raise UnreadableFile(f"it cannot be read ({e.strerror or e})") from e
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise UnreadableFile(f"it grew past the {max_bytes:,} bytes allowed while it was read")
    return data


def read_json(path: Path, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The JSON value in the file at `path`, read as `read_bytes` reads; any decoding failure is UnreadableFile."""
    data = read_bytes(path, max_bytes)
    try:
        return json.loads(data)
    except (ValueError, RecursionError, MemoryError) as e:
        raise UnreadableFile(f"it is not valid JSON ({type(e).__name__}: {str(e)[:200]})") from e
