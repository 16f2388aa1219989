"""The report: aggregates, the paired test, figures and robustness, from result.json files only."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from scipy import stats

from mtl_uncertainty.analysis import NoRunsError, make_report
from mtl_uncertainty.analysis.stats import find_axes
from mtl_uncertainty.run import run
from tests.conftest import REPO, compose_cfg, run_cli, tiny_overrides

REPORT = REPO / "analysis" / "report.py"

# 3-class test accuracy by (weighting, recon) cell and seed; 10-class is 0.1 lower, MSE set below.
ACC3 = {
    ("learnable", True): [0.90, 0.92, 0.94],
    ("fixed", True): [0.89, 0.90, 0.95],
    ("learnable", False): [0.80, 0.81, 0.83],
    ("fixed", False): [0.80, 0.80, 0.80],
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> dict[str, dict]:
    """Real result.json content of one tiny run per weighting, to build fixtures from."""
    out = tmp_path_factory.mktemp("templates")
    return {
        w: run(compose_cfg(*tiny_overrides(synthetic_root), f"weighting={w}"), out / w) for w in ("learnable", "fixed")
    }


def fake_result(templates: dict[str, dict], weighting: str, recon: bool, seed: int, acc3: float) -> dict:
    r = copy.deepcopy(templates[weighting])
    r["config"]["recon"], r["config"]["seed"], r["seed"] = recon, seed, seed
    test = {"acc_cls3": acc3, "acc_cls10": acc3 - 0.1, "loss_cls3": 0.3, "loss_cls10": 0.9}
    test["loss_recon"] = (0.2 + 0.01 * seed) if recon else None
    r["final"]["test"] = test
    r["history"][-1]["test"] = test
    if not recon:
        for key in ("s", "sigma", "weight", "loss"):
            if r["trajectory"][key]:
                r["trajectory"][key].pop("recon", None)
        r["trajectory"]["tasks"] = ["cls3", "cls10"]
    return r


def write_sweep(root: Path, templates: dict[str, dict]) -> Path:
    for (weighting, recon), accs in ACC3.items():
        for seed, acc in enumerate(accs):
            job = root / f"weighting={weighting}" / f"recon={str(recon).lower()}" / f"seed={seed}"
            job.mkdir(parents=True)
            (job / "result.json").write_text(json.dumps(fake_result(templates, weighting, recon, seed, acc)))
    return root


def add_broken_runs(root: Path, templates: dict[str, dict]) -> dict[str, str]:
    """Job folders the report must list and leave out: folder name → expected status."""
    (root / "no-result" / ".hydra").mkdir(parents=True)
    (root / "malformed").mkdir()
    (root / "malformed" / "result.json").write_text('{"status": "completed", "final": ')
    diverged = fake_result(templates, "learnable", True, 7, 0.5)
    diverged.update(status="diverged", final=None, divergence={"epoch": 1, "step": 3, "losses": {"loss_total": "nan"}})
    failed = fake_result(templates, "fixed", True, 8, 0.5)
    failed.update(status="failed", final=None, error={"type": "RuntimeError", "message": "boom", "traceback": []})
    incomplete = fake_result(templates, "fixed", True, 9, 0.5)
    incomplete["final"]["test"] = {}
    for name, content in (("diverged", diverged), ("failed", failed), ("incomplete", incomplete)):
        (root / name).mkdir()
        (root / name / "result.json").write_text(json.dumps(content))
    return {
        "no-result": "missing",
        "malformed": "malformed",
        "diverged": "diverged",
        "failed": "failed",
        "incomplete": "incomplete",
    }


def test_cell_aggregates_equal_hand_computed_values(tmp_path: Path, templates: dict[str, dict]) -> None:
    report = make_report([write_sweep(tmp_path / "sweep", templates)], tmp_path / "out")
    assert [a.removeprefix("config.") for a in report.axes] == ["weighting.name", "recon"]
    row = report.summary.set_index("cell").loc["weighting=learnable, recon=true"]
    values = [0.90, 0.92, 0.94]
    mean = sum(values) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    half = 4.302652729911275 * std / math.sqrt(3)  # t(0.975, df=2)
    assert row["test.acc_cls3.mean"] == pytest.approx(mean)
    assert row["test.acc_cls3.std"] == pytest.approx(std)
    assert row["test.acc_cls3.ci_lo"] == pytest.approx(mean - half)
    assert row["test.acc_cls3.ci_hi"] == pytest.approx(mean + half)
    assert row["test.acc_cls3.n"] == 3
    assert row["test.acc_cls10.mean"] == pytest.approx(mean - 0.1)
    assert row["test.loss_recon.mean"] == pytest.approx(0.21)
    off = report.summary.set_index("cell").loc["weighting=fixed, recon=false"]
    assert off["test.acc_cls3.std"] == pytest.approx(0, abs=1e-12) and off["test.loss_recon.n"] == 0


def test_paired_comparison_matches_a_hand_computed_paired_t_test(tmp_path: Path, templates: dict[str, dict]) -> None:
    report = make_report([write_sweep(tmp_path / "sweep", templates)], tmp_path / "out")
    paired = report.paired.set_index(["cell", "metric"])
    row = paired.loc[("recon=true", "test.acc_cls3")]
    d = [a - b for a, b in zip(ACC3[("learnable", True)], ACC3[("fixed", True)])]  # +0.01, +0.02, −0.01
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
    t = mean / (sd / math.sqrt(3))
    p = 2 * (1 - stats.t.cdf(abs(t), df=2))
    assert row["n"] == 3 and row["diff"] == pytest.approx(mean)
    assert row["p"] == pytest.approx(p)
    assert row["ci_lo"] == pytest.approx(mean - 4.302652729911275 * sd / math.sqrt(3))
    assert row["verdict"].startswith("within noise")
    off = paired.loc[("recon=false", "test.acc_cls3")]  # +0.00, +0.01, +0.03: consistent but tiny n
    assert off["diff"] == pytest.approx(0.04 / 3)
    mse = paired.loc[("recon=true", "test.loss_recon")]
    assert mse["diff"] == pytest.approx(0.0) and "too few" not in mse["verdict"]
    assert ("recon=false", "test.loss_recon") not in paired.index


def test_every_output_file_is_written_and_not_empty(tmp_path: Path, templates: dict[str, dict]) -> None:
    out = tmp_path / "out"
    make_report([write_sweep(tmp_path / "sweep", templates)], out)
    names = ["report.md", "results.csv", "summary.csv", "summary.tex"]
    names += ["final_accuracy.png", "test_accuracy.png", "sigma_trajectories.png", "weights.png", "equilibrium.png"]
    for name in names:
        assert (out / name).stat().st_size > 0, name
    assert (out / "final_accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    for name in names[4:]:
        assert f"]({name})" in md
    assert "0.9200 ± 0.0200" in md and "Replication of the source's table" in md
    assert r"\begin{tabular}" in (out / "summary.tex").read_text()
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 12


def test_broken_partial_and_diverged_runs_are_listed_and_left_out(tmp_path: Path, templates: dict[str, dict]) -> None:
    sweep = write_sweep(tmp_path / "sweep", templates)
    expected = add_broken_runs(sweep, templates)
    report = make_report([sweep], tmp_path / "out")
    assert len(report.runs) == 12
    assert {e.path.name: e.status for e in report.excluded} == expected
    assert report.summary.set_index("cell").loc["weighting=learnable, recon=true", "test.acc_cls3.n"] == 3
    md = (tmp_path / "out" / "report.md").read_text()
    assert "left out: 5" in md and "1 diverged" in md
    for name in expected:
        assert f"{sweep / name}`" in md
    assert "diverged at step 3" in md and "RuntimeError: boom" in md and "not valid JSON" in md


def test_axes_appear_when_they_vary(tmp_path: Path, templates: dict[str, dict]) -> None:
    sweep = write_sweep(tmp_path / "sweep", templates)
    r = fake_result(templates, "learnable", True, 0, 0.93)
    r["config"]["weighting"]["form"] = "kendall"
    (sweep / "kendall").mkdir()
    (sweep / "kendall" / "result.json").write_text(json.dumps(r))
    report = make_report([sweep], tmp_path / "out")
    assert "config.weighting.form" in report.axes
    assert "weighting=learnable, recon=true, weighting.form=kendall" in set(report.summary["cell"])
    assert "config.weighting.weights.cls3" not in find_axes(report.table)


def test_a_folder_without_runs_is_a_clear_error(tmp_path: Path, templates: dict[str, dict]) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoRunsError, match="No completed runs"):
        make_report([tmp_path / "empty"], tmp_path / "out")
    proc = subprocess.run([sys.executable, str(REPORT), str(tmp_path / "empty")], capture_output=True, text=True)
    assert proc.returncode == 1 and "No completed runs" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, str(REPORT)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1 and "No sweeps under multirun" in proc.stderr


@pytest.mark.slow
def test_cli_reports_the_newest_sweep_made_by_the_suite(tmp_path: Path, synthetic_root: Path) -> None:
    for name in ("older", "newer"):
        sweep = tmp_path / "multirun" / name
        proc = run_cli(
            "-m", "weighting=learnable,fixed", "recon=true,false", "seed=0,1", *tiny_overrides(synthetic_root),
            f"hydra.sweep.dir={sweep}", "hydra.callbacks.report.enabled=false",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-2000:]
    proc = subprocess.run([sys.executable, str(REPORT)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "| weighting=learnable, recon=true |" in proc.stdout and "within noise" in proc.stdout
    out = tmp_path / "multirun" / "newer" / "report"
    assert (out / "report.md").exists() and not (tmp_path / "multirun" / "older" / "report").exists()
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 8
    other = tmp_path / "combined"
    sweeps = [str(tmp_path / "multirun" / n) for n in ("older", "newer")]
    proc = subprocess.run([sys.executable, str(REPORT), *sweeps, "--out", str(other)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len((other / "results.csv").read_text().splitlines()) == 1 + 16
