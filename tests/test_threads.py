"""The default PyTorch thread count (speed.threads=null): the cores other work leaves free, shared by the runs
a launcher runs at once, never fewer than 1; with the machine's load and core counts injected."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from mtl_uncertainty.run import run
from mtl_uncertainty.training import devices
from mtl_uncertainty.training.devices import MachineLoad, cpu_threads, default_threads
from tests.conftest import compose_cfg, tiny_overrides


@pytest.mark.parametrize(
    ("machine", "parallel", "expected"),
    [
        (MachineLoad(cores=2, total=2, load=0.1, own=0.0), 1, 2),  # an idle machine: every core
        (MachineLoad(cores=2, total=2, load=2.0, own=0.0), 1, 1),  # two other runs on both cores: one, never 0
        (MachineLoad(cores=2, total=2, load=6.5, own=0.0), 1, 1),
        (MachineLoad(cores=2, total=2, load=1.0, own=0.0), 1, 1),  # one core busy elsewhere
        (MachineLoad(cores=2, total=2, load=2.1, own=2.0), 1, 2),  # the load is this process's own last run
        (MachineLoad(cores=16, total=16, load=4.0, own=0.0), 2, 6),  # 12 free cores for 2 runs at a time
        (MachineLoad(cores=16, total=16, load=16.0, own=4.0), 4, 4),  # 4 joblib workers, each as busy as this one
        (MachineLoad(cores=4, total=64, load=60.0, own=0.0), 1, 4),  # a cluster job's 4 cores: the node's other
        (MachineLoad(cores=4, total=64, load=62.0, own=0.0), 1, 2),  # 60 cores take the others' load first
        (MachineLoad(cores=8, total=8, load=0.0, own=0.0), 16, 1),  # more runs than cores: one thread each
    ],
)
def test_the_default_leaves_the_cores_other_work_uses(machine: MachineLoad, parallel: int, expected: int) -> None:
    assert default_threads(machine, parallel) == expected


def test_an_explicit_count_is_used_as_given_and_the_default_says_how_to_override_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    busy = MachineLoad(cores=2, total=2, load=2.0, own=0.0)
    assert cpu_threads(3, machine=busy) == 3
    with caplog.at_level(logging.INFO, logger=devices.__name__):
        assert cpu_threads(None, machine=busy) == 1
    assert "1 PyTorch thread" in caplog.text and "speed.threads=N" in caplog.text


@pytest.fixture
def restore_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_a_run_with_the_default_uses_the_free_cores(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, restore_threads: None
) -> None:
    """run(cfg) (the CLI's and the API's door) applies the default, not PyTorch's own (every core)."""
    monkeypatch.setattr(devices, "load_now", lambda: MachineLoad(cores=2, total=2, load=2.0, own=0.0))
    torch.set_num_threads(2)
    result = run(compose_cfg(*tiny_overrides(synthetic_root, threads=None)), tmp_path)
    assert result["cpu"]["threads"] == 1 and torch.get_num_threads() == 1


def fake_proc(root: Path, running: int, own_states: str) -> Path:
    """A /proc with `running` runnable threads on the machine and this process's threads in `own_states` (R, S)."""
    root.mkdir(parents=True)
    (root / "stat").write_text(f"cpu  1 2 3 4\nprocs_running {running}\nprocs_blocked 0\n")
    for tid, state in enumerate(own_states, 1):
        (root / "self" / "task" / str(tid)).mkdir(parents=True)
        (root / "self" / "task" / str(tid) / "stat").write_text(f"{tid} (python (x)) {state} 1 1 1 0 -1\n")
    return root


@pytest.mark.parametrize(
    ("running", "own_states", "expected"),
    [
        (1, "RSSS", 2),  # only this process reading: the killed run's 2.0 in the load average is history
        (3, "RSSS", 1),  # two other threads running now: one core left
        (3, "RRRS", 2),  # this process's own pool still busy from its last run: not other work
    ],
)
def test_a_run_with_the_default_counts_the_threads_running_now_not_the_lagging_load_average(
    tmp_path: Path,
    synthetic_root: Path,
    monkeypatch: pytest.MonkeyPatch,
    restore_threads: None,
    running: int,
    own_states: str,
    expected: int,
) -> None:
    """Right after a kill the 1-minute average still holds the killed run's load; the runnable count does not."""
    monkeypatch.setattr(devices, "PROC", fake_proc(tmp_path / "proc", running, own_states), raising=False)
    monkeypatch.setattr(devices.os, "getloadavg", lambda: (2.0, 2.0, 1.5))
    monkeypatch.setattr(devices, "available_cores", lambda: 2)
    monkeypatch.setattr(devices.os, "cpu_count", lambda: 2)
    result = run(compose_cfg(*tiny_overrides(synthetic_root, threads=None)), tmp_path / "job")
    assert result["cpu"]["threads"] == expected


def test_without_a_runnable_count_the_default_falls_back_to_the_load_average(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devices, "PROC", tmp_path / "no-proc", raising=False)
    monkeypatch.setattr(devices.os, "getloadavg", lambda: (7.0, 7.0, 7.0))
    assert devices.load_now().load == 7.0
