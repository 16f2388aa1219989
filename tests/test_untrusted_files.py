"""Files in a sweep folder that are not what they seem, and numbers the training side would reject: the
report and the runner read them through one checked reader, pool only runs on the same files, and
never follow a link when they write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mtl_uncertainty.analysis import make_report
from mtl_uncertainty.config import config_hash, to_plain
from mtl_uncertainty.storage import result_schema
from tests.conftest import REPO, compose_cfg

REPORT = REPO / "analysis" / "report.py"
TASKS = ["cls3", "cls10", "recon"]


def whole_result(
    job: Path,
    weighting: str,
    seed: int,
    acc3: float,
    data: dict[str, Any] | None = None,
    epochs: int = 2,
    val: bool = False,
) -> dict[str, Any]:
    """A result.json the runner would accept as whole (checked below), with the given test (and val) accuracy."""
    cfg = compose_cfg(f"weighting={weighting}", f"seed={seed}", f"train.epochs={epochs}", f"data.val_size={64 * val}")
    recon = True
    tasks = TASKS if recon else TASKS[:2]
    data = data or {"dataset": "mnist", "verified": True, "files": {}, "hash": "a" * 16}
    metrics = {"acc_cls3": acc3, "acc_cls10": acc3 - 0.1, "loss_cls3": 0.3, "loss_cls10": 0.9}
    metrics["loss_recon"] = 0.4 if recon else None
    splits = {"test": metrics, **({"val": metrics} if val else {})}
    history = [{"epoch": e, "step": 4 * e, "train": {**metrics, "loss_total": 1.5}, **splits, "values": {}}
               for e in range(1, epochs + 1)]  # fmt: skip
    series = {t: [1.0, 1.0] for t in tasks}
    result = {
        "schema": 2, "config": to_plain(cfg), "config_hash": config_hash(cfg), "data": data, "seed": seed,
        "job_dir": str(job.resolve()), "tasks": {"active": tasks, "trained": tasks}, "status": "completed",
        "started_at": f"2026-11-30T00:00:{seed:02d}", "finished_at": "2026-11-30T00:01:00", "resumed_at_epochs": [],
        "final": {**splits, "train": metrics}, "divergence": None, "history": history,
        "trajectory": {"every": 4, "tasks": tasks, "step": [4, 8], "loss": series, "values": {"weight": series},
                       "labels": {"weight": "w"}, "initial": {"weight": {t: 1.0 for t in tasks}}},
        "timings": {},
    }  # fmt: skip
    assert result_schema.problems(result, epochs, tasks, tuple(splits)) == []
    return result


def write(sweep: Path, rel: str, content: Any, text: str | None = None) -> Path:
    job = sweep / rel
    job.mkdir(parents=True)
    (job / "result.json").write_text(text if text is not None else json.dumps(content))
    return job


def test_runs_on_different_files_are_never_averaged_together(tmp_path: Path) -> None:
    """The same sweep on two data roots with other files: two groups of 2 seeds, not '2 seeds; 4 runs averaged'."""
    sweep = tmp_path / "sweep"
    for root, digest, acc in (("a", "1" * 16, 0.9), ("b", "2" * 16, 0.5)):
        data = {"dataset": "mnist", "verified": False, "files": {}, "hash": digest}
        for seed in (0, 1):
            rel = f"{root}/seed={seed}"
            write(sweep, rel, whole_result(sweep / rel, "fixed", seed, acc + 0.01 * seed, data))
    report = make_report([sweep], tmp_path / "out")
    rows = report.summary.set_index("group")
    assert sorted(rows.index) == ["data.files=unverified 11111111", "data.files=unverified 22222222"]
    assert (
        rows["test.acc_cls3.mean"].round(4).tolist() == [0.905, 0.505]
        and set(rows["seeds"]) == {2}
        and set(rows["runs"]) == {2}
    )
    assert "runs averaged" not in report.main_table_text()


def test_files_follow_the_dataset_without_an_axis_of_their_own(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    for name, digest in (("mnist", "1" * 16), ("fashion_mnist", "2" * 16)):
        data = {"dataset": name, "verified": True, "files": {}, "hash": digest}
        result = whole_result(sweep / name, "fixed", 0, 0.9, data)
        result["config"]["dataset"]["name"] = name
        write(sweep, name, result)
    report = make_report([sweep], tmp_path / "out")
    assert report.others == ["config.dataset.name"]


def test_the_replication_row_takes_only_runs_on_the_verified_real_mnist(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    synthetic = {"dataset": "mnist", "verified": False, "files": {}, "hash": "5" * 16}
    for weighting in ("learnable", "fixed"):
        for seed in (0, 1):
            rel = f"{weighting}/{seed}"
            write(sweep, rel, whole_result(sweep / rel, weighting, seed, 0.9, synthetic))
    report = make_report([sweep], tmp_path / "out")
    assert report.replication["n"].sum() == 0
    assert "none of these runs has them" in (tmp_path / "out" / "report.md").read_text()
    real = tmp_path / "real"
    for weighting in ("learnable", "fixed"):
        write(real, weighting, whole_result(real / weighting, weighting, 0, 0.9, epochs=10))  # the source's 10
    assert make_report([real], tmp_path / "out2").replication.set_index("weighting").loc["fixed", "n"].max() == 1


@pytest.mark.parametrize(
    ("field", "text", "reason"),
    [
        ("acc_cls3", "Infinity", "acc_cls3 = inf"),
        ("acc_cls10", "NaN", "acc_cls10"),
        ("acc_cls10", "7.5", "acc_cls10 = 7.5"),
        ("loss_cls3", "-0.5", "loss_cls3 = -0.5"),
    ],
)
def test_numbers_the_training_side_rejects_are_left_out_with_the_reason(
    tmp_path: Path, field: str, text: str, reason: str
) -> None:
    sweep = tmp_path / "sweep"
    for seed in (0, 1, 2):
        write(sweep, f"ok/{seed}", whole_result(sweep / f"ok/{seed}", "fixed", seed, 0.9))
    bad = whole_result(sweep / "bad", "fixed", 3, 0.9)
    bad["final"]["test"][field] = "PLACEHOLDER"
    write(sweep, "bad", None, json.dumps(bad).replace('"PLACEHOLDER"', text))
    report = make_report([sweep], tmp_path / "out")
    assert [e.path.name for e in report.excluded] == ["bad"] and reason in report.excluded[0].reason
    row = report.summary.iloc[0]
    assert row["seeds"] == 3 and row["test.acc_cls3.mean"] == pytest.approx(0.9)


def test_unreadable_files_are_left_out_and_the_report_neither_crashes_nor_hangs(tmp_path: Path) -> None:
    """Nested 100,000 deep, a FIFO, a link to a file outside, a folder: the report lists each and finishes."""
    sweep = tmp_path / "sweep"
    write(sweep, "good", whole_result(sweep / "good", "fixed", 0, 0.9))
    write(sweep, "nested", None, "[" * 100_000 + "]" * 100_000)
    outside = tmp_path / "outside.json"
    outside.write_text(json.dumps(whole_result(sweep / "link", "fixed", 1, 0.9)))
    for name, make in (("fifo", os.mkfifo), ("link", outside.symlink_to), ("folder", os.mkdir)):
        (sweep / name).mkdir()
        make(sweep / name / "result.json") if name != "link" else (sweep / name / "result.json").symlink_to(outside)
    proc = subprocess.run(
        [sys.executable, str(REPORT), str(sweep)], capture_output=True, text=True, timeout=300, cwd=REPO
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    out = proc.stdout
    assert "4 run(s) left out" in out
    for words in ("RecursionError", "it is a FIFO", "symbolic link, which the suite never follows", "it is a folder"):
        assert words in out


def test_the_reports_files_replace_links_and_never_write_through_them(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    write(sweep, "good", whole_result(sweep / "good", "fixed", 0, 0.9))
    users = tmp_path / "users-thesis.tex"
    users.write_text("my thesis")
    out = tmp_path / "out"
    out.mkdir()
    for name in ("summary.tex", "report.md", "results.csv"):
        (out / name).symlink_to(users)
    make_report([sweep], out)
    assert users.read_text() == "my thesis"
    assert not any((out / name).is_symlink() for name in ("summary.tex", "report.md", "results.csv"))


def test_a_report_that_stops_half_way_leaves_no_report_md_describing_other_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = tmp_path / "sweep"
    write(sweep, "a", whole_result(sweep / "a", "fixed", 0, 0.9))
    out = tmp_path / "out"
    make_report([sweep], out)
    assert "Runs used: 1" in (out / "report.md").read_text()
    write(sweep, "b", whole_result(sweep / "b", "fixed", 1, 0.8))
    from mtl_uncertainty.analysis import report as report_module

    def killed(*args: object) -> None:
        raise KeyboardInterrupt  # as if the process died while writing the tables

    monkeypatch.setattr(report_module, "latex", killed)
    with pytest.raises(KeyboardInterrupt):
        make_report([sweep], out)
    assert not (out / "report.md").exists()  # not the old one beside the new figures
    assert not list(out.glob(".*.tmp"))


def test_the_report_command_compares_with_the_fixed_row_best_on_validation_where_several_match(
    tmp_path: Path,
) -> None:
    """Equal and tuned fixed weights in one folder: the default --baseline weighting=fixed is ambiguous."""
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        for name, weights in (("equal", 1.0), ("tuned", 4.0)):
            acc = 0.9 if name == "equal" else 0.95
            result = whole_result(sweep / f"{name}/{seed}", "fixed", seed, acc, val=True)
            result["config"]["weighting"]["weights"]["cls10"] = weights
            write(sweep, f"{name}/{seed}", result)
    proc = subprocess.run([sys.executable, str(REPORT), str(sweep)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "comparing with --baseline best:weighting=fixed" in proc.stdout
