"""Every command's multirun.yaml is kept: a sweep folder reused by several commands names all of them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import yaml

from mtl_uncertainty.ops.sweep_record import keep_sweep_record
from tests.conftest import run_cli, tiny_overrides


@pytest.mark.slow
def test_two_commands_on_one_sweep_folder_keep_both_records(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    common = [*tiny_overrides(synthetic_root), f"hydra.sweep.dir={sweep}", "hydra.callbacks.report.enabled=false"]
    assert run_cli("-m", "seed=0", *common).returncode == 0
    first = (sweep / "multirun.yaml").read_text()
    os.utime(sweep / "multirun.yaml", (time.time() - 3600, time.time() - 3600))  # an hour ago: its own stamp
    assert run_cli("-m", "seed=1", *common).returncode == 0
    (kept,) = sweep.glob("multirun.*.yaml")
    assert kept.read_text() == first
    tasks = [yaml.safe_load(p.read_text())["hydra"]["overrides"]["task"] for p in (kept, sweep / "multirun.yaml")]
    assert ("seed=0" in tasks[0], "seed=1" in tasks[1]) == (True, True)


def test_a_kept_record_never_overwrites_another_and_is_kept_once(tmp_path: Path) -> None:
    record = tmp_path / "multirun.yaml"
    record.write_text("first")
    written = record.lstat().st_mtime
    kept = keep_sweep_record(tmp_path)
    stamp = time.strftime("%Y-%m-%d_%H-%M-%S", time.localtime(written))
    assert kept == tmp_path / f"multirun.{stamp}.yaml" and kept.read_text() == "first"
    assert keep_sweep_record(tmp_path) == kept  # the same record again: kept once
    record.write_text("second")
    os.utime(record, (written, written))  # another command's record of the same second
    again = keep_sweep_record(tmp_path)
    assert again == tmp_path / f"multirun.{stamp}-2.yaml" and again.read_text() == "second"
    assert kept.read_text() == "first" and keep_sweep_record(tmp_path / "none") is None
