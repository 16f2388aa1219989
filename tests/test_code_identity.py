"""Runs know their code: a result or checkpoint of other code is never reused or resumed silently.

The probe that must not recur: a run killed, the code changed by one line, the run resumed, giving
numbers that match neither version's uninterrupted run, and nobody told. Interruption is simulated
with the fault hook (an exception at a step of the second epoch leaves the first epoch's checkpoint),
a change of the code by patching what `code_version` reports: another NUMBERS_VERSION, or another
hash of the model's source.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from mtl_uncertainty import code_version, faults
from mtl_uncertainty.config import Config
from mtl_uncertainty.run import run
from mtl_uncertainty.runs.checkpoint import CHECKPOINT_FILE, MAGIC, OtherSource, read_checkpoint
from mtl_uncertainty.runs.resume import identity_of, read_back
from mtl_uncertainty.storage.result_schema import RESULT_FILE
from tests.conftest import REPO, compose_cfg, run_cli, tiny_overrides

COMMITTED = sorted((REPO / "results").rglob(RESULT_FILE))


def two_epochs(root: Path, *extra: str):
    return compose_cfg(*tiny_overrides(root), "train.epochs=2", *extra)


def killed_in_epoch_2(cfg, job: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Train `cfg` in `job` until a step of its second epoch (4 steps an epoch), leaving epoch 1's checkpoint."""
    with monkeypatch.context() as m:
        m.setattr(faults, "_SPEC", ["error@6:seed=0"])  # as MTL_UNCERTAINTY_FAULT=error@6:seed=0 would
        with pytest.raises(faults.InjectedFault):
            run(cfg, job)
    state = read_checkpoint(job / CHECKPOINT_FILE)
    assert state["epoch"] == 1
    return state


def other_model_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's code, as if model.py had been edited since the checkpoint was written."""
    parts = {**code_version.source_by_part(), "model": "0123456789abcdef"}
    monkeypatch.setattr(code_version, "source_by_part", lambda: parts)


@pytest.fixture
def reference(tmp_path: Path, synthetic_root: Path) -> dict:
    """The uninterrupted run every resumed or restarted run must match bit for bit."""
    return run(two_epochs(synthetic_root), tmp_path / "reference")


def test_a_checkpoint_of_edited_source_is_refused_then_restarted_never_mixed(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, reference: dict
) -> None:
    cfg, job = two_epochs(synthetic_root), tmp_path / "job"
    written = killed_in_epoch_2(cfg, job, monkeypatch)
    before = (job / CHECKPOINT_FILE).read_bytes()
    other_model_source(monkeypatch)
    with pytest.raises(OtherSource, match=r"parts changed: model\).*resume\.other_source=restart"):
        run(cfg, job)
    assert (job / CHECKPOINT_FILE).read_bytes() == before  # nothing resumed, nothing set aside
    assert json.loads((job / RESULT_FILE).read_text())["status"] == "failed"
    again = run(two_epochs(synthetic_root, "resume.other_source=restart"), job)
    assert again["resumed_at_epochs"] == [] and again["final"] == reference["final"]
    assert (job / f"checkpoint.source-{written['code']['source']}.pt").exists()
    assert again["code"]["source"] != reference["code"]["source"] and again["config_hash"] == reference["config_hash"]


def test_continue_resumes_a_checkpoint_of_other_source_and_records_each_segments_source(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, reference: dict
) -> None:
    """The change here keeps the numbers (only the hash differs): continuing it gives the uninterrupted run's."""
    job = tmp_path / "job"
    written = killed_in_epoch_2(two_epochs(synthetic_root), job, monkeypatch)
    other_model_source(monkeypatch)
    again = run(two_epochs(synthetic_root, "resume.other_source=continue"), job)
    assert again["resumed_at_epochs"] == [1] and again["final"] == reference["final"]
    assert again["code"]["source_by_segment"] == [written["code"]["source"], again["code"]["source"]]
    assert written["code"]["source"] == reference["code"]["source"] != again["code"]["source"]


def test_a_checkpoint_of_another_numbers_version_is_set_aside_and_the_run_starts_over(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, reference: dict, caplog
) -> None:
    job = tmp_path / "job"
    killed_in_epoch_2(two_epochs(synthetic_root), job, monkeypatch)
    monkeypatch.setattr(code_version, "NUMBERS_VERSION", 2)
    with caplog.at_level(logging.WARNING):
        again = run(two_epochs(synthetic_root), job)
    assert "numbers version 1, and this code computes version 2" in caplog.text
    assert (job / "checkpoint.numbers-1.pt").exists() and again["resumed_at_epochs"] == []
    assert again["final"] == reference["final"] and again["code"]["numbers_version"] == 2


def test_a_result_of_another_numbers_version_is_set_aside_and_trained_again(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, job = compose_cfg(*tiny_overrides(synthetic_root)), tmp_path / "job"
    first = run(cfg, job)
    assert first["code"]["numbers_version"] == code_version.NUMBERS_VERSION == 1
    monkeypatch.setattr(code_version, "NUMBERS_VERSION", 2)
    second = run(cfg, job)
    assert second["finished_at"] >= first["finished_at"] and second["code"]["numbers_version"] == 2
    assert json.loads((job / "result.numbers-1.json").read_text())["code"] == first["code"]
    assert run(cfg, job) == second  # the same run at version 2 now: nothing to do


def test_a_result_that_records_no_code_is_version_1_and_kept(tmp_path: Path, synthetic_root: Path) -> None:
    """Every committed result predates the record of the code: at version 1 it is this code's finished run."""
    cfg, job = compose_cfg(*tiny_overrides(synthetic_root)), tmp_path / "job"
    result = run(cfg, job)
    older = {k: v for k, v in result.items() if k != "code"}
    (job / RESULT_FILE).write_text(json.dumps(older))
    assert run(cfg, job) == older and sorted(p.name for p in job.glob("result*")) == [RESULT_FILE]


def test_every_committed_result_is_a_finished_run_of_this_code(shared_mnist: Path) -> None:
    """Rerunning the presets with unchanged numbers trains nothing and sets nothing aside (read, never written)."""
    assert len(COMMITTED) >= 164
    schema = OmegaConf.structured(Config)
    for path in COMMITTED:
        cfg = OmegaConf.merge(schema, json.loads(path.read_text())["config"])
        cfg.data.root = str(shared_mnist)
        assert read_back(path.parent, cfg, identity_of(cfg)) is not None, path


def _with_other_source(path: Path) -> None:
    """Rewrite a checkpoint as if other source code had written it (with a digest of its own: an intact file)."""
    data = path.read_bytes()
    state = torch.load(io.BytesIO(data[len(MAGIC) + 32 :]), weights_only=True)
    state["code"] = {**state["code"], "source": "f" * 16, "source_by_segment": ["f" * 16]}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    path.write_bytes(MAGIC + hashlib.sha256(payload).digest() + payload)


@pytest.mark.slow
def test_the_command_line_refuses_a_checkpoint_of_other_source_before_anything_runs(
    tmp_path: Path, synthetic_root: Path
) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0", *tiny_overrides(synthetic_root), "train.epochs=2", f"hydra.sweep.dir={sweep}"]
    assert run_cli(*args, env={"MTL_UNCERTAINTY_FAULT": "error@6:seed=0"}).returncode == 1
    (job,) = {p.parent for p in sweep.rglob(CHECKPOINT_FILE)}
    _with_other_source(job / CHECKPOINT_FILE)
    files = sorted(p.name for p in job.iterdir())
    refused = run_cli(*args)
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert "written by other source code at this numbers version" in refused.stderr
    assert "resume.other_source=restart" in refused.stderr and "Traceback" not in refused.stderr
    assert sorted(p.name for p in job.iterdir()) == files  # nothing ran
    restarted = run_cli(*args, "resume.other_source=restart")
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert (job / f"checkpoint.source-{'f' * 16}.pt").exists()
    assert json.loads((job / RESULT_FILE).read_text())["resumed_at_epochs"] == []
