"""Speed work keeps the numbers: runs at one thread compute, bit for bit, what the code before it computed.

The digests below hash every number of a tiny run's result.json (final metrics, each epoch's metrics
and values, the whole trajectory), pinned from the code of commit cfe27c2 (before the CPU speed work
of issue #27) on the platform named in PINNED_ON. The float rounding depends on the CPU's kernels
(tests/golden.py), so elsewhere the test skips. Unlike the golden runs these batches do not divide
the splits: the last training batch and the last evaluation batch of every split are partial.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mtl_uncertainty.run import run
from tests import golden
from tests.conftest import compose_cfg, tiny_overrides

PINNED_ON = {"torch": "2.14.1+cu130", "arch": "x86_64", "cpu": "AMD EPYC", "capability": "AVX512", "threads": 1}
COMMON = ("train.epochs=2", "train.batch_size=100", "train.eval_batch_size=96", "data.val_size=64")
RUNS: dict[str, tuple[tuple[str, ...], str]] = {
    "learnable": (
        ("weighting=learnable", "seed=5"),
        "b2e0da364285fc6f9d85f83981995bc4f712af2f61f050238b284c47db9a4030",
    ),
    "fixed, no reconstruction": (
        ("weighting=fixed", "recon=false", "seed=6"),
        "1b14c386ff76d9c8dd8a72301207f845198336ce7af004c324f8b01ce1554292",
    ),
    "pcgrad": (("weighting=pcgrad", "seed=7"), "870cc448875f699ec7e220f41a0e25b2b062ff534f7a0cc999aeedd286153b04"),
}
"""Each run's overrides and the sha256 of its numbers as pinned."""


def numbers_digest(result: dict) -> str:
    """sha256 of every number the run computed (the golden runs' selection), as JSON writes them."""
    return hashlib.sha256(json.dumps(golden._numbers(result), sort_keys=True).encode()).hexdigest()


@pytest.mark.parametrize("name", list(RUNS))
def test_a_run_computes_the_numbers_pinned_before_the_speed_work(
    name: str, tmp_path: Path, synthetic_root: Path
) -> None:
    if golden.platform_key() != PINNED_ON:
        pytest.skip(f"the digests were pinned on {PINNED_ON}; this is {golden.platform_key()} (other kernels)")
    overrides, digest = RUNS[name]
    result = run(
        compose_cfg(*tiny_overrides(synthetic_root), *COMMON, "logger.tensorboard=false", *overrides), tmp_path
    )
    assert result["status"] == "completed"
    assert numbers_digest(result) == digest, f"{name}: final metrics now {json.dumps(result['final'])[:400]}"
