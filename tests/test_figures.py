"""The report's figures, on synthetic result.json files written by hand (no training).

1, 2, 4 and 12 rows, runs that record s, σ, s_eq and the weights, 1-epoch and multi-epoch histories.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from mtl_uncertainty.analysis import make_report

STEPS_PER_EPOCH = 40
EVERY = 5
COARSE = {
    "mnist": ([2, 2, 0, 2, 2, 2, 1, 2, 2, 2], ["digit 2", "digit 6", "other digits"]),
    "fashion_mnist": ([0, 1, 0, 1, 0, 2, 0, 2, 1, 2], ["tops", "bottoms", "shoes"]),
}
LEARNED = {
    "learnable": {"s": "s = log σ²", "sigma": "σ = exp(s/2)", "s_eq": "s* = log(2cL), where s would settle"},
    "liebel": {"sigma": "σ (the trained parameter)", "s": "s = log σ²", "s_eq": "log σ*², where σ² would settle"},
    "imtl_l": {"s": "s (scale e^s on the loss)", "s_eq": "s* = −log L, where s would settle"},
}
"""The methods that record more than the weights, with the labels of what they record."""


def _tasks(recon: bool) -> list[str]:
    return ["cls3", "cls10", "recon"] if recon else ["cls3", "cls10"]


def _trajectory(method: str, tasks: list[str], epochs: int, rng: np.random.Generator) -> dict[str, Any]:
    steps = np.arange(EVERY, epochs * STEPS_PER_EPOCH + 1, EVERY)
    start = {"cls3": 1.1, "cls10": 2.3, "recon": 0.9}
    loss = {t: start[t] * np.exp(-steps / 60) + 0.2 + 0.05 * rng.standard_normal(len(steps)) for t in tasks}
    values: dict[str, dict[str, np.ndarray]] = {"weight": {}}
    for t in tasks:
        s_eq = np.log(np.abs(loss[t]))
        s = s_eq + (rng.uniform(0.2, 1.0) - s_eq[0]) * np.exp(-steps / 80)
        if method in LEARNED:
            values.setdefault("s", {})[t], values.setdefault("s_eq", {})[t] = s, s_eq
            values["weight"][t] = np.exp(s) if method == "imtl_l" else 0.5 * np.exp(-s)
            if "sigma" in LEARNED[method]:
                values.setdefault("sigma", {})[t] = np.exp(s / 2)
        else:
            values["weight"][t] = np.ones(len(steps)) if method == "fixed" else rng.uniform(0.5, 1.5, len(steps))
    labels = {"weight": "effective weight on L_i", **LEARNED.get(method, {})}
    return {
        "every": EVERY,
        "tasks": tasks,
        "step": steps.tolist(),
        "loss": {t: v.round(5).tolist() for t, v in loss.items()},
        "values": {name: {t: v.round(5).tolist() for t, v in per.items()} for name, per in values.items()},
        "labels": {name: labels[name] for name in values},
        "initial": {name: {t: float(v[0]) for t, v in per.items()} for name, per in values.items()},
    }


def _metrics(acc3: float, recon: bool) -> dict[str, float | None]:
    return {
        "acc_cls3": acc3,
        "acc_cls10": acc3 - 0.1,
        "loss_cls3": 0.3,
        "loss_cls10": 0.9,
        "loss_recon": 0.2 + (1 - acc3) if recon else None,
    }


def _epoch(epoch: int, acc3: float, recon: bool, traj: dict[str, Any]) -> dict[str, Any]:
    at = epoch * STEPS_PER_EPOCH // EVERY - 1  # the epoch's last recorded step
    return {
        "epoch": epoch,
        "step": epoch * STEPS_PER_EPOCH,
        "train": _metrics(acc3 - 0.01, recon),
        "test": _metrics(acc3, recon),
        "val": _metrics(acc3 + 0.005, recon),
        "values": {name: {t: v[at] for t, v in per.items()} for name, per in traj["values"].items()},
    }


def fake_result(
    method: str,
    seed: int,
    *,
    recon: bool = True,
    epochs: int = 3,
    dataset: str = "mnist",
    settings: dict[str, Any] | None = None,
    quality: float = 0.0,
) -> dict[str, Any]:
    """A completed run's result.json content with plausible numbers, as `run()` would write it."""
    rng = np.random.default_rng([seed, len(method), int(recon), epochs])
    tasks = _tasks(recon)
    traj = _trajectory(method, tasks, epochs, rng)
    accs = [0.95 + quality - 0.25 * 0.5**e + 0.01 * rng.standard_normal() for e in range(1, epochs + 1)]
    history = [_epoch(e, acc, recon, traj) for e, acc in enumerate(accs, start=1)]
    coarse_labels, coarse_names = COARSE[dataset]
    weighting = {"name": method, **(settings or {})}
    if method == "fixed":
        weighting["weights"] = {"cls3": 1.0, "cls10": 1.0, "recon": 1.0}
    config = {
        "dataset": {"name": dataset, "coarse_labels": coarse_labels, "coarse_names": coarse_names},
        "weighting": weighting,
        "recon": recon,
        "seed": seed,
        "train": {"epochs": epochs, "batch_size": 256, "lr": 1e-4},
    }
    return {
        "schema": 2,
        "config": config,
        "config_hash": f"{method}-{seed}-{recon}-{dataset}-{sorted((settings or {}).items())}",
        "seed": seed,
        "tasks": {"active": tasks, "trained": tasks},
        "status": "completed",
        "final": {"test": history[-1]["test"], "val": history[-1]["val"], "train": history[-1]["train"]},
        "history": history,
        "trajectory": traj,
        "device": "cpu",
        "gpu": None,
    }


def write_runs(root: Path, runs: list[dict[str, Any]]) -> Path:
    """Write each result.json into a job folder of its own under `root`."""
    for i, content in enumerate(runs):
        job = root / f"job{i:03d}"
        job.mkdir(parents=True)
        (job / "result.json").write_text(json.dumps({**content, "job_dir": str(job)}))
    return root


TWELVE = [
    *(("learnable", {"form": form, "lr": lr}) for form in ("seed", "kendall") for lr in (0.01, 0.001)),
    *((m, {}) for m in ("liebel", "imtl_l", "fixed", "rlw", "dwa", "gls", "gradnorm", "uw_so")),
]


def sweep(rows: int, root: Path) -> Path:
    """A sweep with `rows` rows: 1 (one seed, one epoch), 2 (one epoch), 4 (2×2: method × recon), 12 (methods)."""
    if rows == 1:
        runs = [fake_result("learnable", 0, epochs=1)]
    elif rows == 2:
        runs = [fake_result(m, s, epochs=1, quality=q) for m, q in (("learnable", 0.01), ("fixed", 0)) for s in (0, 1)]
    elif rows == 4:
        runs = [
            fake_result(m, s, recon=recon, epochs=4, quality=0.01 * (m == "learnable"))
            for m in ("learnable", "fixed")
            for recon in (False, True)
            for s in range(3)
        ]
    else:
        runs = [
            fake_result(m, s, settings=c, epochs=10, quality=0.002 * i)
            for i, (m, c) in enumerate(TWELVE)
            for s in (0, 1, 2)
        ]
    return write_runs(root, runs)


def two_datasets(root: Path) -> Path:
    """learnable and fixed on MNIST and Fashion-MNIST, two seeds each."""
    runs = [fake_result(m, s, dataset=d, epochs=2) for d in COARSE for m in ("learnable", "fixed") for s in range(2)]
    return write_runs(root, runs)


def test_groups_of_two_datasets_are_named_by_the_dataset_alone(tmp_path: Path) -> None:
    """coarse_labels and coarse_names follow from dataset.name: they are no axes of the report."""
    report = make_report([two_datasets(tmp_path / "sweep")], tmp_path / "out")
    assert [a.removeprefix("config.") for a in report.axes] == ["weighting.name", "dataset.name"]
    assert set(report.summary["group"]) == {"dataset=mnist", "dataset=fashion_mnist"}
    assert "coarse" not in (tmp_path / "out" / "report.md").read_text()


def test_a_symlink_at_a_figure_path_is_replaced_and_its_target_left_alone(tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"not a figure")
    out = tmp_path / "report"
    out.mkdir()
    (out / "weights.png").symlink_to(outside)
    make_report([sweep(2, tmp_path / "sweep")], out)
    assert outside.read_bytes() == b"not a figure"
    assert not (out / "weights.png").is_symlink()
    assert (out / "weights.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp"))
