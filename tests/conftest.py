"""Shared fixtures: small synthetic MNIST files, config composition, paths."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

import mtl_uncertainty.config  # noqa: F401  (registers the config schemas)
from mtl_uncertainty.data.datasets import FASHION_MNIST, MNIST, DatasetFacts, file_bytes, find_files, idx_bytes, raw_dir

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"
TRAIN = REPO / "src" / "train.py"


def real_data_roots(env: Mapping[str, str] = os.environ, repo: Path = REPO) -> list[Path]:
    """Where the tests look for real data (<folder>/raw/): MNIST_ROOT (CI sets it), else data/, else ../shared/data."""
    if env.get("MNIST_ROOT"):
        return [Path(env["MNIST_ROOT"])]
    return [repo / "data", repo.parent / "shared" / "data"]


def real_data_root(facts: DatasetFacts, roots: Sequence[Path]) -> Path | None:
    """The first of `roots` that holds the dataset's four files; None if none does."""
    return next((root for root in roots if find_files(raw_dir(root, facts)) is not None), None)


def write_synthetic_mnist(
    root: Path, n_train: int = 512, n_test: int = 256, seed: int = 0, facts: DatasetFacts = MNIST
) -> Path:
    """Small IDX files in root/<dataset folder>/raw: each class a bright bar at its own row, plus noise."""
    rng = np.random.default_rng(seed)
    raw = raw_dir(root, facts)
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, d in enumerate(labels):
            images[i, 2 + 2 * d : 4 + 2 * d, 4:24] = 255
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
    return root


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small synthetic MNIST and Fashion-MNIST files under one data root."""
    root = write_synthetic_mnist(tmp_path_factory.mktemp("mnist"))
    return write_synthetic_mnist(root, seed=1, facts=FASHION_MNIST)


def _real(facts: DatasetFacts) -> Path:
    roots = real_data_roots()
    if (root := real_data_root(facts, roots)) is None:
        where = " or ".join(f"{root}/{facts.folder}/raw" for root in roots)
        pytest.skip(f"real {facts.label} not found under {where} (set MNIST_ROOT to a folder holding it)")
    return root


@pytest.fixture(scope="session")
def shared_mnist() -> Path:
    return _real(MNIST)


@pytest.fixture(scope="session")
def shared_fashion() -> Path:
    return _real(FASHION_MNIST)


def real_idx(root: Path, name: str, facts: DatasetFacts = MNIST) -> bytes:
    """The uncompressed bytes of one real IDX file under `root`, whether it lies there unpacked or as .gz."""
    return file_bytes(find_files(raw_dir(root, facts))[name], facts)


def compose_cfg(*overrides: str) -> DictConfig:
    """The config `python src/train.py <overrides>` would run with."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def tiny_overrides(root: Path, threads: int | None = 1) -> list[str]:
    """Overrides for a fast CPU run on synthetic data (never fetching real MNIST).

    One PyTorch thread by default: numbers are bit for bit only at one thread count, and the default
    count follows the machine's load, which a test suite does not control.
    """
    return [
        f"data.root={root}",
        "data.verify=false",
        "data.download=false",
        "device=cpu",
        "train.epochs=1",
        "train.batch_size=128",
        *([f"speed.threads={threads}"] if threads else []),
    ]


def run_cli(
    *args: str, cwd: Path = REPO, timeout: int = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run `python src/train.py ARGS` in a subprocess, as a user would."""
    inherited = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "MTL_UNCERTAINTY_FAULT")}
    full_env = {**inherited, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, str(TRAIN), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
