"""Cluster details: the submitting host's devices are not the jobs', and a filesystem without flock."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mtl_uncertainty.errors import InputError
from mtl_uncertainty.run import run
from mtl_uncertainty.runs.folder import LOCK_FILE, JobLock
from tests.conftest import compose_cfg, run_cli, tiny_overrides


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a host without a GPU, as a login node is")
def test_a_slurm_sweep_for_gpus_is_submitted_from_a_host_without_one(tmp_path: Path, synthetic_root: Path) -> None:
    """device=cuda is the nodes' business: the login node's preflight does not refuse it, sbatch is called."""
    fake = tmp_path / "bin"
    fake.mkdir()
    called = tmp_path / "sbatch-called"
    (fake / "srun").write_text("#!/bin/sh\nexit 0\n")
    (fake / "sbatch").write_text(
        f'#!/bin/sh\necho "$@" > {called}\necho "sbatch: error: no cluster here" >&2\nexit 1\n'
    )
    for tool in ("srun", "sbatch"):
        (fake / tool).chmod(0o755)
    overrides = [o for o in tiny_overrides(synthetic_root) if o != "device=cpu"]
    proc = run_cli(
        "-m",
        "hydra/launcher=slurm",
        "device=cuda",
        "seed=0,1",
        *overrides,
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        env={"PATH": f"{fake}{os.pathsep}{os.environ['PATH']}"},
    )
    assert "sees no CUDA GPU" not in proc.stderr, proc.stderr[-2000:]
    assert called.exists(), proc.stderr[-2000:]  # the sweep got as far as submitting its (one) stack


def test_a_single_run_for_a_missing_gpu_is_still_refused_here(tmp_path: Path, synthetic_root: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("needs a host without a GPU")
    overrides = [o for o in tiny_overrides(synthetic_root) if o != "device=cpu"]
    proc = run_cli(*overrides, "device=cuda", f"hydra.run.dir={tmp_path / 'one'}")
    assert proc.returncode == 1 and "sees no CUDA GPU" in proc.stderr


def _no_flock(*args, **kwargs):
    raise OSError(errno.ENOSYS, "Function not implemented")


def test_without_flock_a_run_locks_its_folder_with_a_record_lock(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fcntl, "flock", _no_flock)
    out = tmp_path / "run"
    result = run(compose_cfg(*tiny_overrides(synthetic_root)), out)
    assert result["status"] == "completed" and json.loads((out / "result.json").read_text())["status"] == "completed"
    # the fallback lock keeps a second process out while this one holds the folder
    (tmp_path / "held").mkdir()
    held = JobLock(tmp_path / "held").acquire()
    probe = (
        "import fcntl, os, sys\n"
        f"fd = os.open({str(tmp_path / 'held' / LOCK_FILE)!r}, os.O_RDWR)\n"
        "try:\n    fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n    sys.exit(7)\n"
    )
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 7
    held.release()
    assert subprocess.run([sys.executable, "-c", probe]).returncode == 0


def test_without_any_lock_a_run_fails_with_one_paragraph_that_says_what_to_do(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fcntl, "flock", _no_flock)
    monkeypatch.setattr(fcntl, "lockf", _no_flock)
    with pytest.raises(InputError, match=r"supports neither flock nor POSIX record locks \(\[Errno 38\]") as caught:
        run(compose_cfg(*tiny_overrides(synthetic_root)), tmp_path / "run")
    assert "hydra.sweep.dir=DIR" in str(caught.value) and "\n" not in str(caught.value)
    assert not (tmp_path / "run" / "result.json").exists()
