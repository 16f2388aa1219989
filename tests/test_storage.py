"""The one reader of files in a sweep folder and the lock file's opening (fast): links are never followed,
FIFOs never block, sizes are capped, undecodable JSON is a reason, not a crash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mtl_uncertainty.storage import reading
from mtl_uncertainty.storage.atomic import NotAPlainFile, open_lock_file, set_aside
from mtl_uncertainty.storage.reading import UnreadableFile, read_bytes, read_json


def test_a_plain_json_file_is_read(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text('{"a": [1, 2]}')
    assert read_json(tmp_path / "r.json") == {"a": [1, 2]}
    with pytest.raises(FileNotFoundError):
        read_json(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.symlink_to(p.with_name("target.json")), "symbolic link, which the suite never follows"),
        (lambda p: os.mkfifo(p), "it is a FIFO, not a regular file"),
        (lambda p: p.mkdir(), "it is a folder, not a regular file"),
        (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "not valid JSON (RecursionError"),
        (lambda p: p.write_text('{"a": '), "not valid JSON (JSONDecodeError"),
        (lambda p: p.write_bytes(b"\xff\xfe{"), "not valid JSON"),
    ],
    ids=["symlink", "fifo", "folder", "nested 100,000 deep", "cut", "not text"],
)
def test_files_that_are_not_what_they_seem_are_refused_with_a_reason(tmp_path: Path, make, reason: str) -> None:
    (tmp_path / "target.json").write_text("{}")
    path = tmp_path / "result.json"
    make(path)
    with pytest.raises(UnreadableFile, match=reason.replace("(", r"\(")):
        read_json(path)


def test_a_huge_sparse_file_is_refused_by_its_size_without_being_read(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    with open(path, "wb") as f:
        f.truncate(64 * 2**30)  # 64 GB, sparse: nothing on disk
    with pytest.raises(UnreadableFile, match="68,719,476,736 bytes, more than the"):
        read_json(path)
    with pytest.raises(UnreadableFile, match="more than the 10 allowed"):
        read_bytes(_small(tmp_path), 10)
    assert reading.MAX_JSON_BYTES >= 64 * 2**20


def _small(tmp_path: Path) -> Path:
    path = tmp_path / "eleven"
    path.write_bytes(b"x" * 11)
    return path


def test_the_lock_file_is_opened_without_following_links_or_truncating(tmp_path: Path) -> None:
    users = tmp_path / "users-file"
    users.write_bytes(b"precious")
    lock = tmp_path / ".lock"
    lock.symlink_to(users)
    with pytest.raises(NotAPlainFile, match="not a plain file"):
        open_lock_file(lock)
    lock.unlink()
    os.link(users, lock)  # a hard link to a user's file: writing the pid would change it
    with pytest.raises(NotAPlainFile, match="hard link"):
        open_lock_file(lock)
    lock.unlink()
    os.mkfifo(lock)
    with pytest.raises(NotAPlainFile, match="FIFO"):
        open_lock_file(lock)
    lock.unlink()
    lock.write_bytes(b"12345")
    fd = open_lock_file(lock)
    os.close(fd)
    assert lock.read_bytes() == b"12345" and users.read_bytes() == b"precious"


def test_set_aside_moves_links_fifos_and_folders_without_following_or_overwriting(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_bytes(b"x")
    job = tmp_path / "job"
    job.mkdir()
    (job / "result.json").symlink_to(outside)
    assert set_aside(job / "result.json", "unreadable").name == "result.unreadable.json"
    os.mkfifo(job / "result.json")
    assert set_aside(job / "result.json", "unreadable").name == "result.unreadable-2.json"
    (job / "result.json").mkdir()
    assert set_aside(job / "result.json", "unreadable").name == "result.unreadable-3.json"
    assert (job / "result.unreadable.json").is_symlink() and (job / "result.unreadable-3.json").is_dir()
    assert outside.read_bytes() == b"x" and not (job / "result.json").exists()
