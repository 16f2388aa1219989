"""What decides that a run is already done or can resume: its identity, a whole result, an intact checkpoint."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from mtl_uncertainty.config import ConfigError
from mtl_uncertainty.data.splits import load_data
from mtl_uncertainty.run import run
from mtl_uncertainty.runs.checkpoint import CHECKPOINT_FILE, MAGIC, read_checkpoint
from mtl_uncertainty.runs.resume import prepare
from mtl_uncertainty.runs.session import open_session
from mtl_uncertainty.tasks import task_losses
from mtl_uncertainty.training.stacked import StackedTrainer
from tests.conftest import compose_cfg, tiny_overrides, write_synthetic_mnist


def two_epochs(root: Path, *extra: str):
    return compose_cfg(*tiny_overrides(root), "train.epochs=2", *extra)


def test_a_result_computed_on_other_data_is_set_aside_and_run_again(tmp_path: Path, synthetic_root: Path) -> None:
    other = write_synthetic_mnist(tmp_path / "other", n_train=384, n_test=128, seed=3)
    first = run(compose_cfg(*tiny_overrides(synthetic_root)), tmp_path / "job")
    second = run(compose_cfg(*tiny_overrides(other)), tmp_path / "job")
    assert second["finished_at"] >= first["finished_at"] and second["data"]["hash"] != first["data"]["hash"]
    assert second["history"][-1]["step"] == 3  # 384 images / 128: it really trained on the other files
    aside = list((tmp_path / "job").glob("result.otherdata-*.json"))
    assert len(aside) == 1 and json.loads(aside[0].read_text())["data"]["hash"] == first["data"]["hash"]
    assert run(compose_cfg(*tiny_overrides(other)), tmp_path / "job")["finished_at"] == second["finished_at"]


def test_verified_data_is_identified_by_content_and_unverified_by_size_items_and_mtime(
    tmp_path: Path, synthetic_root: Path
) -> None:
    cfg = compose_cfg(*tiny_overrides(synthetic_root))
    identity = prepare(cfg, tmp_path / "a")[1].data
    files = identity["files"]["train-images-idx3-ubyte"]
    assert identity["verified"] is False and files["items"] == 512 and files["bytes"] == 16 + 512 * 784
    assert "mtime_ns" in files
    copy = write_synthetic_mnist(tmp_path / "copy")  # the same bytes, written later
    assert prepare(compose_cfg(*tiny_overrides(copy)), tmp_path / "b")[1].data["hash"] != identity["hash"]


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{}", "invalid"),
        ("[]", "invalid"),
        ("partial", "invalid"),
        ("no-trajectory", "invalid"),
        ("short-history", "invalid"),
    ],
)
def test_a_result_that_is_not_whole_is_set_aside_and_the_run_trained_again(
    tmp_path: Path, synthetic_root: Path, content: str, why: str
) -> None:
    cfg = two_epochs(synthetic_root)
    good = run(cfg, tmp_path)
    forged = {
        "{}": {},
        "[]": [],
        "partial": {"status": "completed", "config_hash": good["config_hash"], "data": good["data"], "schema": 2},
        "no-trajectory": {k: v for k, v in good.items() if k != "trajectory"},
        "short-history": {**good, "history": good["history"][:1]},
    }[content]
    (tmp_path / "result.json").write_text(json.dumps(forged))
    again = run(cfg, tmp_path)
    assert again["finished_at"] >= good["finished_at"] and again["final"] == good["final"]
    assert len(list(tmp_path.glob(f"result.{why}*.json"))) == 1


def _alter(path: Path, change, keep_digest: bool = True) -> None:
    """Change a checkpoint's state; keep its old digest (an altered file) or write a new one (a forged file)."""
    data = path.read_bytes()
    head = len(MAGIC) + 32
    state = torch.load(io.BytesIO(data[head:]), weights_only=True)
    change(state)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    digest = data[len(MAGIC) : head] if keep_digest else hashlib.sha256(payload).digest()
    path.write_bytes(MAGIC + digest + payload)


def _four_huge_weights(state: dict) -> None:
    weight = state["model"]["head10.3.weight"]
    weight.view(-1)[:4] = 1e30


def _a_nan(state: dict) -> None:
    state["optimizer"]["state"][0]["exp_avg"].view(-1)[0] = float("nan")


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: _alter(p, _four_huge_weights), "does not match its sha256 digest"),
        (lambda p: _alter(p, _a_nan, keep_digest=False), "NaN or infinite"),
        (lambda p: p.write_bytes(p.read_bytes()[:1000]), "does not match its sha256 digest"),
        (lambda p: p.write_bytes(p.read_bytes()[:20]), "cut short"),
        (lambda p: p.write_bytes(b"not a checkpoint at all"), "not a checkpoint of this suite"),
    ],
    ids=["altered weights", "forged NaN with a fresh digest", "truncated", "cut to 20 bytes", "foreign file"],
)
def test_a_damaged_checkpoint_is_set_aside_with_its_reason_and_the_run_starts_over(
    tmp_path: Path, synthetic_root: Path, caplog: pytest.LogCaptureFixture, damage, reason: str
) -> None:
    cfg = two_epochs(synthetic_root)
    reference = run(cfg, tmp_path / "reference")
    job = tmp_path / "job"
    run(cfg, job)
    (job / "result.json").unlink()  # the run must now resume from its epoch-2 checkpoint
    damage(job / CHECKPOINT_FILE)
    with caplog.at_level(logging.WARNING):
        again = run(cfg, job)
    assert reason in caplog.text and "set aside as" in caplog.text
    assert (job / "checkpoint.unusable.pt").exists()
    assert again["resumed_at_epochs"] == [] and again["final"] == reference["final"]


def test_an_intact_checkpoint_resumes(tmp_path: Path, synthetic_root: Path) -> None:
    cfg = two_epochs(synthetic_root)
    first = run(cfg, tmp_path)
    (tmp_path / "result.json").unlink()
    assert read_checkpoint(tmp_path / CHECKPOINT_FILE)["epoch"] == 2
    assert run(cfg, tmp_path)["resumed_at_epochs"] == [2] and first["final"]


def test_a_stack_fills_adam_state_a_run_never_had_with_zero_moments(tmp_path: Path, synthetic_root: Path) -> None:
    """A run whose decoder never had a gradient has no Adam state for it; stacking it must not fail or mix states."""
    cfg = compose_cfg(*tiny_overrides(synthetic_root), "speed.channels_last=false")
    data = load_data(cfg, torch.device("cpu"))
    trainers = []
    for seed, skip_decoder in ((0, False), (1, True)):
        cfg_seed = compose_cfg(*tiny_overrides(synthetic_root), "speed.channels_last=false", f"seed={seed}")
        out, identity, _ = prepare(cfg_seed, tmp_path / str(seed))
        session = open_session(cfg_seed, out, identity, data, torch.device("cpu"), 0.0)
        t = session.trainer
        x, y3, y10 = data.train.batch(torch.arange(128))
        losses = task_losses(t.model(x), x, y3, y10)
        total = t.weighting(losses, torch.zeros((), dtype=torch.long))
        t.optimizer.zero_grad(set_to_none=True)
        trained = [p for n, p in t.model.named_parameters() if not (skip_decoder and n.startswith("decoder"))]
        total.backward(inputs=[*trained, *t.weighting.parameters()])
        t.optimizer.step()
        session.release()
        trainers.append(t)
    decoder = [i for i, (n, _) in enumerate(trainers[0].model.named_parameters()) if n.startswith("decoder")]
    states = [t.optimizer.state_dict()["state"] for t in trainers]
    assert all(i in states[0] for i in decoder) and not any(i in states[1] for i in decoder)
    stacked = StackedTrainer(trainers).optimizer.state_dict()["state"]
    for i in decoder:
        assert torch.equal(stacked[i]["exp_avg"][0], states[0][i]["exp_avg"])
        assert not stacked[i]["exp_avg"][1].any() and not stacked[i]["exp_avg_sq"][1].any()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "RecursionError"),
        (lambda p: os.mkfifo(p), "it is a FIFO"),
        (lambda p: p.symlink_to(p.with_name("elsewhere.json")), "symbolic link"),
        (lambda p: p.mkdir(), "it is a folder"),
    ],
    ids=["nested 100,000 deep", "fifo", "link", "folder"],
)
def test_an_unreadable_result_is_set_aside_with_its_reason_and_the_run_trained_again(
    tmp_path: Path, synthetic_root: Path, caplog: pytest.LogCaptureFixture, make, reason: str
) -> None:
    cfg = compose_cfg(*tiny_overrides(synthetic_root))
    make(tmp_path / "result.json")
    with caplog.at_level(logging.WARNING):
        result = run(cfg, tmp_path)
    assert result["status"] == "completed" and json.loads((tmp_path / "result.json").read_text()) == result
    assert reason in caplog.text and len(list(tmp_path.glob("result.unreadable*.json"))) == 1


def test_a_second_damaged_result_is_set_aside_beside_the_first(tmp_path: Path, synthetic_root: Path) -> None:
    cfg = compose_cfg(*tiny_overrides(synthetic_root))
    for content in ("{}", "[1]"):
        (tmp_path / "result.json").write_text(content)
        run(cfg, tmp_path)
    kept = {p.name: p.read_text() for p in tmp_path.glob("result.invalid*.json")}
    assert kept == {"result.invalid.json": "{}", "result.invalid-2.json": "[1]"}


def test_half_written_files_are_cleared_only_by_the_process_holding_the_jobs_lock(
    tmp_path: Path, synthetic_root: Path
) -> None:
    """Another process's checkpoint in flight is not deleted by a process that finds the job locked."""
    from mtl_uncertainty.runs.folder import JobLock, JobLocked

    cfg = compose_cfg(*tiny_overrides(synthetic_root))
    tmp_path.mkdir(exist_ok=True)
    in_flight = tmp_path / ".checkpoint.pt.4242.tmp"
    in_flight.write_bytes(b"half of a checkpoint")
    holder = JobLock(tmp_path).acquire()  # the other process, training this job now
    try:
        out, identity, done = prepare(cfg, tmp_path)
        assert done is None and in_flight.exists()
        with pytest.raises(JobLocked):
            open_session(cfg, out, identity, load_data(cfg, torch.device("cpu")), torch.device("cpu"), 0.0)
        assert in_flight.exists()
    finally:
        holder.release()
    run(cfg, tmp_path)  # the lock is free: this process clears what a dead writer left
    assert not in_flight.exists()


def test_a_lock_that_cannot_be_written_is_given_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk while the pid is written: the job fails, and nobody takes it for one in training."""
    from mtl_uncertainty import faults
    from mtl_uncertainty.runs.folder import JobLock

    def full_disk(path: object) -> None:
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(faults, "writing", full_disk)
    with pytest.raises(OSError, match="No space left"):
        JobLock(tmp_path).acquire()
    monkeypatch.undo()
    JobLock(tmp_path).acquire().release()  # free: not held by the failed attempt


def test_a_lock_file_that_is_a_link_is_set_aside_and_its_target_never_written(
    tmp_path: Path, synthetic_root: Path
) -> None:
    users = tmp_path / "users-file.txt"
    users.write_text("precious")
    job = tmp_path / "job"
    job.mkdir()
    (job / ".lock").symlink_to(users)
    result = run(compose_cfg(*tiny_overrides(synthetic_root)), job)
    assert result["status"] == "completed" and users.read_text() == "precious"
    assert (job / ".lock.odd").is_symlink() and not (job / ".lock").is_symlink()


def test_each_segments_thread_count_is_recorded(tmp_path: Path, synthetic_root: Path) -> None:
    """speed.threads may change between a kill and the resumption: result.json records each segment's count
    (before: only the last one's)."""
    before = torch.get_num_threads()
    try:
        run(two_epochs(synthetic_root, "speed.threads=1"), tmp_path)
        (tmp_path / "result.json").unlink()  # as if killed after the last checkpoint
        cpu = run(two_epochs(synthetic_root, "speed.threads=2"), tmp_path)["cpu"]
    finally:
        torch.set_num_threads(before)
    assert cpu["threads_by_segment"] == [1, 2] and cpu["threads"] == 2


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """`folder` made unwritable for this process (chattr +i where it runs as root), or the test skipped."""
    as_root = os.geteuid() == 0
    make = ["chattr", "+i" if as_root else "-i", str(folder)]
    if as_root and subprocess.run(make, capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is not allowed: no folder can be made read-only")
    if not as_root:
        folder.chmod(0o555)
    try:
        yield
    finally:
        if as_root:
            subprocess.run(["chattr", "-i", str(folder)], check=True)
        else:
            folder.chmod(0o755)


def test_a_finished_run_is_read_back_from_a_read_only_folder(tmp_path: Path, synthetic_root: Path) -> None:
    """run() on a folder that holds the finished run and cannot be written returns it (before: it raised)."""
    cfg = compose_cfg(*tiny_overrides(synthetic_root))
    first = run(cfg, tmp_path / "job")
    with read_only(tmp_path / "job"):
        assert run(cfg, tmp_path / "job") == first


@pytest.mark.parametrize("val_size", [512, 600])
def test_a_refused_run_creates_no_folder(tmp_path: Path, synthetic_root: Path, val_size: int) -> None:
    """A validation split the 512 training images cannot hold is refused before out_dir is made, as the CLI refuses
    it (before: 512 left an empty out_dir; 600 trained on the first 424 images, validated on all 512)."""
    with pytest.raises(ConfigError, match=rf"data\.val_size={val_size} leaves no training images of the 512"):
        run(compose_cfg(*tiny_overrides(synthetic_root), f"data.val_size={val_size}"), tmp_path / "job")
    assert not (tmp_path / "job").exists()


def test_a_finished_run_leaves_no_lock_file_and_a_failed_one_neither(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock file is for a job in training; a finished job's folder holds its results only."""
    from mtl_uncertainty import faults

    assert run(compose_cfg(*tiny_overrides(synthetic_root)), tmp_path / "done")["status"] == "completed"
    assert not (tmp_path / "done" / ".lock").exists()
    monkeypatch.setattr(faults, "_SPEC", ["error@2:seed=0"])  # as MTL_UNCERTAINTY_FAULT=error@2:seed=0 would
    with pytest.raises(faults.InjectedFault):
        run(compose_cfg(*tiny_overrides(synthetic_root)), tmp_path / "failed")
    assert json.loads((tmp_path / "failed" / "result.json").read_text())["status"] == "failed"
    assert not (tmp_path / "failed" / ".lock").exists()


def test_a_lock_file_removed_by_its_finishing_holder_is_never_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A process that opened the lock file just before its holder finished and removed it locks the new one."""
    from mtl_uncertainty.runs import folder
    from mtl_uncertainty.runs.folder import JobLock, JobLocked

    holder = JobLock(tmp_path).acquire()
    opened = folder.open_lock_file

    def open_then_holder_finishes(path: Path) -> int:
        fd = opened(path)
        if holder._fd is not None:
            holder.release(finished=True)
        return fd

    monkeypatch.setattr(folder, "open_lock_file", open_then_holder_finishes)
    late = JobLock(tmp_path).acquire()
    monkeypatch.undo()
    try:
        assert (tmp_path / ".lock").exists()
        with pytest.raises(JobLocked):  # a third process finds the job locked, not a second free lock file
            JobLock(tmp_path).acquire()
    finally:
        late.release()


def test_a_finished_holder_removes_only_its_own_lock_file_never_a_link_put_in_its_place(tmp_path: Path) -> None:
    from mtl_uncertainty.runs.folder import JobLock

    users = tmp_path / "users-file"
    users.write_text("precious")
    holder = JobLock(tmp_path).acquire()
    (tmp_path / "link").symlink_to(users)
    os.replace(tmp_path / "link", tmp_path / ".lock")
    holder.release(finished=True)
    assert (tmp_path / ".lock").is_symlink() and users.read_text() == "precious"
