"""Checkpoint files on their own (fast): the digest, weights-only loading, non-finite state, setting aside;
and the atomic writes every file goes through."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import pytest
import torch

from mtl_uncertainty.runs.checkpoint import (
    MAGIC,
    CheckpointError,
    OtherSource,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from mtl_uncertainty.storage.atomic import write_atomic

PARTS = {"model": "m" * 16, "training": "t" * 16}
CODE = {"numbers_version": 1, "source": "s" * 16, "source_by_part": PARTS}
IDENTITY = {"config_hash": "c" * 16, "data_hash": "d" * 16, "code": CODE}


def state(**extra: object) -> dict:
    return {
        **IDENTITY,
        "code": {**CODE, "source_by_segment": [CODE["source"]]},
        "epoch": 3,
        "model": {"w": torch.arange(6.0).reshape(2, 3)},
        "weighting": {"s": torch.tensor([0.5, 0.25])},
        "optimizer": {"state": {0: {"step": torch.tensor(7.0), "exp_avg": torch.ones(2, 3)}}, "param_groups": []},
        "record": {"history": [{"epoch": e} for e in (1, 2, 3)]},
        **extra,
    }


def test_a_checkpoint_reads_back_exactly_what_was_saved(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state())
    data = path.read_bytes()
    assert data.startswith(MAGIC)
    payload = data[len(MAGIC) + 32 :]
    assert data[len(MAGIC) : len(MAGIC) + 32] == hashlib.sha256(payload).digest()
    back = read_checkpoint(path)
    assert back["epoch"] == 3 and torch.equal(back["model"]["w"], torch.arange(6.0).reshape(2, 3))
    assert load_checkpoint(path, IDENTITY, 3)["config_hash"] == "c" * 16


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: d[:-1] + bytes([d[-1] ^ 1]), "does not match its sha256 digest"),
        (lambda d: d[: len(d) // 2], "does not match its sha256 digest"),
        (lambda d: d[:10], "cut short"),
        (lambda d: b"PK" + d[2:], "not a checkpoint of this suite"),
    ],
)
def test_a_damaged_file_is_refused_with_its_reason(tmp_path: Path, damage, reason: str) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match=reason):
        read_checkpoint(path)


def _forged(path: Path, content: dict) -> None:
    buffer = io.BytesIO()
    torch.save(content, buffer)
    payload = buffer.getvalue()
    path.write_bytes(MAGIC + hashlib.sha256(payload).digest() + payload)


@pytest.mark.parametrize("section", ["model", "weighting", "optimizer"])
def test_non_finite_state_is_refused_even_with_a_matching_digest(tmp_path: Path, section: str) -> None:
    content = state()
    bad = {"model": content["model"]["w"], "weighting": content["weighting"]["s"]}
    bad["optimizer"] = content["optimizer"]["state"][0]["exp_avg"]
    bad[section].view(-1)[1] = float("inf")
    _forged(tmp_path / "checkpoint.pt", content)
    with pytest.raises(CheckpointError, match=f"its {section} state holds NaN or infinite values"):
        read_checkpoint(tmp_path / "checkpoint.pt")


def test_a_checkpoint_that_is_not_a_state_or_not_weights_only_is_refused(tmp_path: Path) -> None:
    _forged(tmp_path / "a.pt", [1, 2, 3])
    with pytest.raises(CheckpointError, match="holds a list, not a state"):
        read_checkpoint(tmp_path / "a.pt")
    _forged(tmp_path / "b.pt", {"model": {"f": print}})  # a global: refused by weights-only loading
    with pytest.raises(CheckpointError, match="does not load"):
        read_checkpoint(tmp_path / "b.pt")


@pytest.mark.parametrize(
    ("identity", "aside", "words"),
    [
        ({**IDENTITY, "config_hash": "x" * 16}, "checkpoint.stale-" + "c" * 16 + ".pt", "another config"),
        ({**IDENTITY, "data_hash": "y" * 16}, "checkpoint.otherdata-" + "d" * 16 + ".pt", "other data"),
        ({**IDENTITY, "code": {**CODE, "numbers_version": 2}}, "checkpoint.numbers-1.pt", "numbers version 1"),
    ],
)
def test_a_checkpoint_of_another_run_is_set_aside_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, identity: dict, aside: str, words: str
) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state())
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, identity, 3) is None
    assert (tmp_path / aside).exists() and not path.exists() and words in caplog.text


OTHER = {**IDENTITY, "code": {**CODE, "source": "o" * 16, "source_by_part": {**PARTS, "model": "n" * 16}}}
"""This run's identity in code whose model.py differs from the code that wrote `state()`, at the same version."""


def test_a_checkpoint_of_other_source_is_refused_by_default_naming_what_changed_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state())
    with pytest.raises(OtherSource) as refused:
        load_checkpoint(path, OTHER, 3)
    text = str(refused.value)
    assert "parts changed: model)" in text and "s" * 16 in text and "nothing was trained" in text
    for fix in ("bump NUMBERS_VERSION", "resume.other_source=restart", "resume.other_source=continue"):
        assert fix in text
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]  # refused: nothing set aside or removed


def test_a_checkpoint_of_other_source_restarts_or_continues_as_resume_other_source_says(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state())
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, OTHER, 3, "continue")["code"]["source"] == "s" * 16
        assert path.exists() and "continuing it" in caplog.text
        assert load_checkpoint(path, OTHER, 3, "restart") is None
    assert not path.exists() and (tmp_path / f"checkpoint.source-{'s' * 16}.pt").exists()


def test_a_checkpoint_that_records_no_code_is_version_1_of_unrecorded_source(tmp_path: Path) -> None:
    """A checkpoint written before checkpoints recorded their code: resumable only at version 1, never silently."""
    path = tmp_path / "checkpoint.pt"
    old = {k: v for k, v in state().items() if k != "code"}
    save_checkpoint(path, old)
    with pytest.raises(OtherSource, match="its source is not recorded"):
        load_checkpoint(path, IDENTITY, 3)
    assert load_checkpoint(path, IDENTITY, 3, "continue")["epoch"] == 3
    assert load_checkpoint(path, {**IDENTITY, "code": {**CODE, "numbers_version": 2}}, 3) is None
    assert (tmp_path / "checkpoint.numbers-1.pt").exists()


def test_an_unusable_checkpoint_is_set_aside_and_a_missing_one_is_none(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    assert load_checkpoint(path, IDENTITY, 3) is None
    path.write_bytes(b"garbage")
    assert load_checkpoint(path, IDENTITY, 3) is None
    assert (tmp_path / "checkpoint.unusable.pt").read_bytes() == b"garbage"


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_write_atomic_removes_its_temporary_file_when_writing_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "result.json"
    target.write_bytes(b"old")

    def full_disk(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, failing, full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_write_atomic_syncs_the_whole_temporary_file_before_renaming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        events.append(("fsync", os.fstat(fd).st_ino, os.fstat(fd).st_size))
        real_fsync(fd)

    def replace(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        events.append(("replace", os.stat(src).st_ino, Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    target = tmp_path / "result.json"
    write_atomic(target, b"new content")
    inode = target.stat().st_ino
    assert events == [("fsync", inode, len(b"new content")), ("replace", inode, target)]
    assert target.read_bytes() == b"new content"


def test_write_atomic_creates_the_folders_its_target_needs(tmp_path: Path) -> None:
    target = tmp_path / "sweep" / "job" / "result.json"
    write_atomic(target, b"{}")
    assert target.read_bytes() == b"{}"
    assert [p.name for p in target.parent.iterdir()] == ["result.json"]


@pytest.mark.parametrize(
    ("change", "epochs", "reason"),
    [
        ({"epoch": 7}, 3, "its epoch 7 is not one a run of 3 epochs can have reached"),
        ({"epoch": 0}, 3, "its epoch 0 is not one"),
        ({"epoch": 3}, 2, "its epoch 3 is not one a run of 2 epochs"),
        ({"epoch": True}, 3, "its epoch True is not one"),
        ({"record": {"history": [{}, {}]}}, 3, "it records 2 epochs of history for epoch 3"),
    ],
)
def test_a_checkpoint_whose_epoch_the_run_cannot_have_reached_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, change: dict, epochs: int, reason: str
) -> None:
    """An edited epoch with a recomputed digest is intact as a file, and still not a state this run can be in."""
    path = tmp_path / "checkpoint.pt"
    save_checkpoint(path, state(**change))
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, IDENTITY, epochs) is None
    assert reason in caplog.text and (tmp_path / "checkpoint.unusable.pt").exists()


def test_a_second_unusable_checkpoint_is_set_aside_beside_the_first_never_over_it(tmp_path: Path) -> None:
    path = tmp_path / "checkpoint.pt"
    for content in (b"first", b"second", b"third"):
        path.write_bytes(content)
        assert load_checkpoint(path, IDENTITY, 3) is None
    names = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert names == {"checkpoint.unusable.pt": b"first", "checkpoint.unusable-2.pt": b"second",
                     "checkpoint.unusable-3.pt": b"third"}  # fmt: skip


def test_a_checkpoint_that_is_a_link_is_set_aside_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside.pt"
    save_checkpoint(outside, state())
    job = tmp_path / "job"
    job.mkdir()
    (job / "checkpoint.pt").symlink_to(outside)
    assert load_checkpoint(job / "checkpoint.pt", IDENTITY, 3) is None
    assert (job / "checkpoint.unusable.pt").is_symlink() and outside.exists()


def test_write_atomic_replaces_a_link_at_its_destination_and_never_writes_through_it(tmp_path: Path) -> None:
    outside = tmp_path / "users-file.txt"
    outside.write_bytes(b"precious")
    report = tmp_path / "report"
    report.mkdir()
    (report / "summary.tex").symlink_to(outside)
    (report / f".summary.tex.{os.getpid()}.tmp").symlink_to(outside)  # even a link planted at the temporary name
    write_atomic(report / "summary.tex", b"table")
    assert outside.read_bytes() == b"precious"
    assert not (report / "summary.tex").is_symlink() and (report / "summary.tex").read_bytes() == b"table"
    assert [p.name for p in report.iterdir()] == ["summary.tex"]
