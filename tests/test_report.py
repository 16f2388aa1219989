"""The report: aggregates, paired tests, Δm%, selection, figures and robustness, from result.json files only.

Fixtures start from real `run()` output (one tiny run per method and recon value) and then set the
final metrics by hand, so that every expected statistic can be computed by hand.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mtl_uncertainty.analysis import BaselineError, NoRunsError, make_report, newest_sweep
from mtl_uncertainty.analysis.cells import find_axes
from mtl_uncertainty.analysis.markdown import render
from mtl_uncertainty.analysis.report import build_report
from mtl_uncertainty.analysis.stats import holm, paired
from mtl_uncertainty.analysis.tables import csv_precision
from mtl_uncertainty.run import run
from tests.conftest import REPO, compose_cfg, run_cli, tiny_overrides

REPORT = REPO / "analysis" / "report.py"
TEXT: dict[str, Any] = {"capture_output": True, "text": True}
T975 = {2: 4.302652729911275, 3: 3.182446305284263}  # t(0.975, df)
TEMPLATE_KEYS = [
    *((w, True) for w in ("learnable", "fixed", "liebel", "imtl_l", "rlw", "single_cls3", "single_cls10")),
    ("single_recon", True),
    ("nash_mtl", True),  # a method that combines gradients, and FAMO: their records go through the report too
    ("famo", True),
    *((w, False) for w in ("learnable", "fixed", "single_cls3", "single_cls10")),
]

# 3-class test accuracy by (weighting, recon) cell and seed; 10-class is 0.1 lower, MSE set below.
ACC3 = {
    ("learnable", True): [0.90, 0.92, 0.94],
    ("fixed", True): [0.89, 0.90, 0.95],
    ("learnable", False): [0.80, 0.81, 0.83],
    ("fixed", False): [0.80, 0.80, 0.80],
}


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> dict[tuple[str, bool], dict]:
    """Real result.json content of one tiny run per (weighting, recon), with a validation split."""
    out = tmp_path_factory.mktemp("templates")
    overrides = [*tiny_overrides(synthetic_root), "data.val_size=64"]
    return {
        (w, recon): run(compose_cfg(*overrides, f"weighting={w}", f"recon={str(recon).lower()}"), out / f"{w}-{recon}")
        for w, recon in TEMPLATE_KEYS
    }


def _set(config: dict, dotted: str, value: Any) -> None:
    *path, last = dotted.split(".")
    for key in path:
        config = config[key]
    config[last] = value


def result(
    templates: dict, weighting: str, recon: bool, seed: int, acc3: float, config: dict | None = None, **metrics: Any
) -> dict:
    """A template's result with seed, config values and final test metrics set by hand (10-class: acc3 − 0.1)."""
    r = copy.deepcopy(templates[(weighting, recon)])
    r["config"]["seed"] = r["seed"] = seed
    for key, value in (config or {}).items():
        _set(r["config"], key, value)
    r["config_hash"] = hashlib.sha256(json.dumps(r["config"], sort_keys=True).encode()).hexdigest()[:16]
    test = {"acc_cls3": acc3, "acc_cls10": acc3 - 0.1, "loss_cls3": 0.3, "loss_cls10": 0.9}
    test["loss_recon"] = (0.2 + 0.01 * seed) if recon else None
    test.update({k: v for k, v in metrics.items() if k != "val"})
    r["final"]["test"] = test
    r["history"][-1]["test"] = test
    if "val" in metrics:  # the metrics given by hand; the template's for the rest, so the result stays whole
        r["final"]["val"] = {**r["final"]["val"], **metrics["val"]}
    return r


def write(root: Path, rel: str, content: dict) -> Path:
    """Write `content` as the result.json of job folder root/rel, as the run there would have."""
    job = root / rel
    job.mkdir(parents=True)
    (job / "result.json").write_text(json.dumps({**content, "job_dir": str(job.resolve())}))
    return job


def write_sweep(root: Path, templates: dict) -> Path:
    for (weighting, recon), accs in ACC3.items():
        for seed, acc in enumerate(accs):
            rel = f"weighting={weighting}/recon={str(recon).lower()}/seed={seed}"
            write(root, rel, result(templates, weighting, recon, seed, acc))
    return root


def add_broken_runs(root: Path, templates: dict) -> dict[str, str]:
    """Job folders the report must list and leave out: folder name → expected status."""
    (root / "no-result" / ".hydra").mkdir(parents=True)
    (root / "malformed").mkdir()
    (root / "malformed" / "result.json").write_text('{"status": "completed", "final": ')
    diverged = result(templates, "learnable", True, 7, 0.5)
    diverged.update(status="diverged", final=None, divergence={"epoch": 1, "step": 3, "losses": {"loss_total": "nan"}})
    failed = result(templates, "fixed", True, 8, 0.5)
    failed.update(status="failed", final=None, error={"type": "RuntimeError", "message": "boom", "traceback": []})
    incomplete = result(templates, "fixed", True, 9, 0.5)
    incomplete["final"]["test"] = {}
    for name, content in (("diverged", diverged), ("failed", failed), ("incomplete", incomplete)):
        write(root, name, content)
    return {
        "no-result": "missing",
        "malformed": "malformed",
        "diverged": "diverged",
        "failed": "failed",
        "incomplete": "incomplete",
    }


def p_paired(d: list[float]) -> float:
    mean = sum(d) / len(d)
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (len(d) - 1))
    return 2 * stats.t.sf(abs(mean / (sd / math.sqrt(len(d)))), len(d) - 1)


def _permutation(d: list[float], alternative: str) -> float:
    mean = lambda x, axis=-1: np.mean(x, axis=axis)  # noqa: E731
    return float(
        stats.permutation_test(
            (np.asarray(d),),
            mean,
            vectorized=True,
            permutation_type="samples",
            n_resamples=np.inf,
            alternative=alternative,
        ).pvalue
    )


def p_flip(d: list[float]) -> float:
    """The exact sign-flip test's p by scipy (which flips signs for one sample), independent of the report's."""
    return _permutation(d, "two-sided")


def p_flip_tost(d: list[float], m: float) -> float:
    """The sign-flip TOST by scipy: the larger of the one-sided p of H0 mean ≤ −m and of H0 mean ≥ +m."""
    return max(_permutation([x + m for x in d], "greater"), _permutation([x - m for x in d], "less"))


def family_holm(paired: pd.DataFrame) -> tuple[list[float], list[float]]:
    """Holm over the declared comparisons' difference and TOST p-values as one family, split back."""
    primary = paired[paired["primary"]]
    adjusted = holm([*primary["p_flip"], *primary["p_flip_tost"]])
    return adjusted[: len(primary)], adjusted[len(primary) :]


def test_cell_aggregates_equal_hand_computed_values(tmp_path: Path, templates: dict) -> None:
    report = make_report([write_sweep(tmp_path / "sweep", templates)], tmp_path / "out")
    assert [a.removeprefix("config.") for a in report.axes] == ["weighting.name", "recon"]
    row = report.summary.set_index("cell").loc["learnable, recon=true"]
    values = [0.90, 0.92, 0.94]
    mean = sum(values) / 3
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / 2)
    half = T975[2] * std / math.sqrt(3)
    assert row["test.acc_cls3.mean"] == pytest.approx(mean)
    assert row["test.acc_cls3.std"] == pytest.approx(std)
    assert row["test.acc_cls3.ci_lo"] == pytest.approx(mean - half)
    assert row["test.acc_cls3.ci_hi"] == pytest.approx(mean + half)
    assert row["test.acc_cls3.n"] == 3 and row["seeds"] == 3 and row["runs"] == 3
    assert row["test.acc_cls10.mean"] == pytest.approx(mean - 0.1)
    assert row["test.loss_recon.mean"] == pytest.approx(0.21)
    off = report.summary.set_index("cell").loc["fixed, recon=false"]
    assert off["test.acc_cls3.std"] == pytest.approx(0, abs=1e-12) and off["test.loss_recon.n"] == 0


def test_paired_comparison_matches_hand_computed_sign_flip_and_t_tests(tmp_path: Path, templates: dict) -> None:
    report = make_report([write_sweep(tmp_path / "sweep", templates)], tmp_path / "out")
    paired_rows = report.paired.set_index(["cell", "metric"])
    row = paired_rows.loc[("learnable, recon=true", "test.acc_cls3")]
    d = [a - b for a, b in zip(ACC3[("learnable", True)], ACC3[("fixed", True)])]  # +0.01, +0.02, −0.01
    assert row["n"] == 3 and row["diff"] == pytest.approx(sum(d) / 3) and row["baseline"] == "fixed"
    assert row["p_t"] == pytest.approx(p_paired(d))
    assert row["p_flip"] == pytest.approx(p_flip(d)) and row["p_flip"] == pytest.approx(0.75)  # 6 of 8 patterns
    assert row["p_flip_tost"] == pytest.approx(p_flip_tost(d, 0.01))
    # 3 pairs: the smallest sign-flip p is 2/8, so no shift can be rejected and the interval is unbounded
    assert math.isinf(row["ci_lo"]) and math.isinf(row["ci_hi"])
    assert row["verdict"].startswith("not shown either way") and row["primary"]  # nothing declared: all primary
    off = paired_rows.loc[("learnable, recon=false", "test.acc_cls3")]  # +0.00, +0.01, +0.03: consistent but tiny n
    assert off["diff"] == pytest.approx(0.04 / 3)
    mse = paired_rows.loc[("learnable, recon=true", "test.loss_recon")]
    assert mse["diff"] == pytest.approx(0.0) and "too few" not in mse["verdict"]
    assert ("learnable, recon=false", "test.loss_recon") not in paired_rows.index
    diff_holm, tost_holm = family_holm(report.paired)
    assert report.paired["p_holm"].tolist() == pytest.approx(diff_holm, nan_ok=True)
    assert report.paired["p_tost_holm"].tolist() == pytest.approx(tost_holm, nan_ok=True)


# 1a–1d: the reliability of the paired statistics.


def test_paired_drops_pairs_with_a_missing_side_before_anything_is_computed() -> None:
    result_ = paired([0.5, 0.7, math.nan, 0.9], [0.4, 0.5, 0.3, math.nan])
    d = [0.1, 0.2]
    assert result_.diff.n == 2 and result_.diff.mean == pytest.approx(0.15)
    assert result_.p == pytest.approx(p_paired(d))
    assert result_.p == pytest.approx(stats.ttest_rel([0.5, 0.7], [0.4, 0.5]).pvalue)


def test_a_nan_in_one_pair_leaves_difference_ci_and_p_on_the_same_pairs(tmp_path: Path, templates: dict) -> None:
    """1a: the old report took the CI from 3 pairs and p (NaN) from 4, and called a clear difference noise."""
    sweep = tmp_path / "sweep"
    fixed_mse = [0.30 + 0.02 * s for s in range(10)]
    learn_mse: list[float | None] = [m - 0.10 + 0.01 * (s % 3 - 1) for s, m in enumerate(fixed_mse)]
    learn_mse[9] = None
    for seed in range(10):
        acc = 0.9 + 0.005 * seed
        write(sweep, f"f/{seed}", result(templates, "fixed", True, seed, acc, loss_recon=fixed_mse[seed]))
        write(sweep, f"l/{seed}", result(templates, "learnable", True, seed, acc, loss_recon=learn_mse[seed]))
    report = make_report([sweep], tmp_path / "out")
    row = report.paired.set_index("metric").loc["test.loss_recon"]
    d = [lm - fm for lm, fm in zip(learn_mse[:9], fixed_mse[:9])]
    assert row["n"] == 9 and row["diff"] == pytest.approx(sum(d) / 9)
    assert row["p_flip"] == pytest.approx(p_flip(d)) and row["p_t"] == pytest.approx(p_paired(d))
    assert row["ci_hi"] < 0  # the interval of the 9 pairs, at the level Holm tested it at
    diff_holm, _ = family_holm(report.paired)
    assert row["p_holm"] == pytest.approx(diff_holm[2])  # acc 3, acc 10 (both 0), MSE
    assert row["verdict"] == f"better than fixed by 0.1 (Holm p = {diff_holm[2]:.2g})"


def test_repeats_of_a_seed_are_averaged_before_pairing(tmp_path: Path, templates: dict) -> None:
    """1b: two sweeps of the same seeds were merged many-to-many (10 pairs from 3 seeds)."""
    cpu, gpu = tmp_path / "cpu", tmp_path / "gpu"
    runs = {
        (cpu, "fixed"): [0.90, 0.91, 0.92],
        (cpu, "learnable"): [0.91, 0.93, 0.95],
        (gpu, "fixed"): [0.92, 0.93],
        (gpu, "learnable"): [0.93, 0.97],
    }
    for (sweep, weighting), accs in runs.items():
        for seed, acc in enumerate(accs):
            write(sweep, f"{weighting}/seed={seed}", result(templates, weighting, True, seed, acc))
    report = make_report([cpu, gpu], tmp_path / "out")
    learn = report.summary.set_index("cell").loc["learnable"]
    per_seed = [0.92, 0.95, 0.95]  # seed 0: (0.91 + 0.93)/2, seed 1: (0.93 + 0.97)/2, seed 2: 0.95
    assert learn["test.acc_cls3.n"] == 3 and learn["runs"] == 5
    assert learn["test.acc_cls3.mean"] == pytest.approx(sum(per_seed) / 3)
    row = report.paired.set_index("metric").loc["test.acc_cls3"]
    d = [0.92 - 0.91, 0.95 - 0.92, 0.95 - 0.92]
    assert row["n"] == 3 and row["diff"] == pytest.approx(sum(d) / 3) and row["p_t"] == pytest.approx(p_paired(d))
    assert row["p_flip"] == pytest.approx(p_flip(d))
    assert "| 3 seeds; 5 runs averaged |" in (tmp_path / "out" / "report.md").read_text()


def test_a_copied_job_folder_is_counted_once(tmp_path: Path, templates: dict) -> None:
    """1c: a copy of a job folder inside the sweep was a second run of its seed."""
    sweep = write_sweep(tmp_path / "sweep", templates)
    original = sweep / "weighting=learnable" / "recon=true" / "seed=0"
    copy_ = sweep / "weighting=learnable (copy)" / "recon=true" / "seed=0"  # sorts before the original
    shutil.copytree(original, copy_)
    report = make_report([sweep], tmp_path / "out")
    row = report.summary.set_index("cell").loc["learnable, recon=true"]
    assert row["seeds"] == 3 and row["runs"] == 3 and row["test.acc_cls3.std"] > 0
    assert [(e.path, e.status, e.reason) for e in report.excluded] == [
        (copy_, "copy", f"a copy of {original} (same run), counted once")
    ]
    assert "a copy of" in (tmp_path / "out" / "report.md").read_text()
    shutil.rmtree(original)  # only the copy left: it is the run
    report = make_report([sweep], tmp_path / "out2")
    assert report.summary.set_index("cell").loc["learnable, recon=true", "runs"] == 3 and not report.excluded


def test_verdicts_name_the_direction_of_clear_differences(tmp_path: Path, templates: dict) -> None:
    """1d: accuracy higher/lower and MSE lower/higher each get their word, from the Holm-adjusted p."""
    sweep = tmp_path / "sweep"
    step = [0.05, 0.06, 0.04, 0.05, 0.055, 0.045, 0.05, 0.06, 0.04, 0.05]
    noise = [0.01, -0.01, 0.02, -0.02, 0.015, -0.015, 0.01, -0.01, 0.005, -0.005]
    for seed in range(10):
        base3, base10, mse = 0.90 - 0.005 * seed, 0.80 - 0.005 * seed, 0.30 + 0.01 * seed
        write(sweep, f"f/{seed}", result(templates, "fixed", True, seed, base3, acc_cls10=base10, loss_recon=mse))
        learn = {"acc_cls10": base10 - step[seed], "loss_recon": mse - step[seed]}
        write(sweep, f"l/{seed}", result(templates, "learnable", True, seed, base3 + step[seed], **learn))
        liebel = {"acc_cls10": base10 + noise[seed], "loss_recon": mse + step[seed]}
        write(sweep, f"s/{seed}", result(templates, "liebel", True, seed, base3 + noise[seed], **liebel))
    report = make_report([sweep], tmp_path / "out")
    rows = report.paired.set_index(["cell", "metric"])
    verdicts, holm_p = rows["verdict"], rows["p_holm"]
    assert rows.loc[("learnable", "test.acc_cls3"), "p_flip"] == pytest.approx(2 / 2**10)  # every seed one way
    for cell, metric, word in [
        ("learnable", "test.acc_cls3", "better"),
        ("learnable", "test.acc_cls10", "worse"),
        ("learnable", "test.loss_recon", "better"),
        ("liebel", "test.loss_recon", "worse"),
    ]:
        assert holm_p[(cell, metric)] < 0.05
        assert verdicts[(cell, metric)] == f"{word} than fixed by 0.05 (Holm p = {holm_p[(cell, metric)]:.2g})"
        assert rows.loc[(cell, metric), "kind"] == word
    assert verdicts[("liebel", "test.acc_cls3")].startswith("not shown either way")
    assert "80% power" in verdicts[("liebel", "test.acc_cls3")]
    md = (tmp_path / "out" / "report.md").read_text()
    assert f"- learnable, test 10-class accuracy: {verdicts[('learnable', 'test.acc_cls10')]}." in md


def _equivalence_sweep(sweep: Path, templates: dict) -> dict[str, list[float]]:
    """learnable − fixed per seed over 10 seeds: 3-class tiny (equivalent), 10-class −0.002 ± 0.0002 (worse and
    within the margin), MSE ±0.03 (neither)."""
    d = {
        "acc_cls3": [0.001, -0.001, 0.0005, -0.0005] * 2 + [0.0002, -0.0002],
        "acc_cls10": [-0.0022, -0.0018, -0.0021, -0.0019] * 2 + [-0.002, -0.0020001],
        "loss_recon": [0.03, -0.03, 0.02, -0.02] * 2 + [0.025, -0.025],
    }
    for seed in range(10):
        base = {"acc_cls10": 0.80 + 0.01 * seed, "loss_recon": 0.30 + 0.01 * seed}
        write(sweep, f"f/{seed}", result(templates, "fixed", True, seed, 0.90 + 0.005 * seed, **base))
        moved = {k: base[k] + d[k][seed] for k in base}
        write(
            sweep,
            f"l/{seed}",
            result(templates, "learnable", True, seed, 0.90 + 0.005 * seed + d["acc_cls3"][seed], **moved),
        )
    return d


def test_equivalence_is_a_sign_flip_tost_in_one_holm_family_with_the_differences(
    tmp_path: Path, templates: dict
) -> None:
    d = _equivalence_sweep(tmp_path / "sweep", templates)
    report = make_report([tmp_path / "sweep"], tmp_path / "out")
    rows = report.paired.set_index("metric")
    margins = {"test.acc_cls3": 0.01, "test.acc_cls10": 0.01, "test.loss_recon": 0.02}
    for metric, m in margins.items():
        assert rows.loc[metric, "margin"] == m
        assert rows.loc[metric, "p_flip_tost"] == pytest.approx(p_flip_tost(d[metric.removeprefix("test.")], m))
    diff_holm, tost_holm = family_holm(report.paired)
    assert report.paired["p_tost_holm"].tolist() == pytest.approx(tost_holm)
    assert report.paired["p_holm"].tolist() == pytest.approx(diff_holm)
    tost = rows["p_tost_holm"]
    assert (
        rows.loc["test.acc_cls3", "verdict"] == f"equivalent within ±0.01 (TOST Holm p = {tost['test.acc_cls3']:.2g})"
    )
    assert rows.loc["test.acc_cls10", "verdict"] == (
        f"worse than fixed by 0.002, within ±0.01 (Holm p = {rows.loc['test.acc_cls10', 'p_holm']:.2g}; "
        f"TOST Holm p = {tost['test.acc_cls10']:.2g})"
    )
    assert rows.loc["test.loss_recon", "verdict"].startswith("not shown either way (Holm p = ")
    md = (tmp_path / "out" / "report.md").read_text()
    assert "within noise" not in md
    assert "| equivalence margin | TOST p (Holm) | detectable (80% power) | family | verdict |" in md
    assert "| ±0.02 |" in md and "The exact sign-flip test decides" in md
    assert "Equivalence margins m: 3-class accuracy ±0.01, 10-class accuracy ±0.01, reconstruction MSE ±0.02." in md
    assert "- 1 of 3 comparisons are not shown either way" in md
    assert "- learnable, test 3-class accuracy: equivalent within ±0.01" in md


def test_margins_are_chosen_per_metric_in_make_report_and_on_the_command_line(tmp_path: Path, templates: dict) -> None:
    _equivalence_sweep(tmp_path / "sweep", templates)
    report = make_report([tmp_path / "sweep"], tmp_path / "out", margins={"acc_cls3": 0.0005})
    rows = report.paired.set_index("metric")
    assert rows["margin"].to_dict() == {"test.acc_cls3": 0.0005, "test.acc_cls10": 0.01, "test.loss_recon": 0.02}
    assert rows.loc["test.acc_cls3", "verdict"].startswith("not shown either way")
    assert "Set with `--margin`" in (tmp_path / "out" / "report.md").read_text()
    cli = [sys.executable, str(REPORT), str(tmp_path / "sweep"), "--out", str(tmp_path / "cli")]
    proc = subprocess.run([*cli, "--margin", "acc_cls10=0.001"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "equivalent within ±0.01" in proc.stdout and "worse than fixed by 0.002 (Holm p" in proc.stdout
    proc = subprocess.run([*cli, "--margin", "acc_cls10=-1"], capture_output=True, text=True)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "is not a margin above 0" in proc.stderr


def test_a_declared_question_is_the_only_corrected_family(tmp_path: Path, templates: dict) -> None:
    """The rows named by --primary (or the runs' report.primary) get Holm over their tests alone; the rest are
    exploratory: uncorrected p-values and no verdict."""
    d = _equivalence_sweep(tmp_path / "sweep", templates)
    for seed in range(10):  # liebel: a clear 3-class gain that, being outside the question, claims nothing
        acc = 0.95 + 0.005 * seed
        write(
            tmp_path / "sweep", f"s/{seed}", result(templates, "liebel", True, seed, acc, loss_recon=0.3 + 0.01 * seed)
        )
    report = make_report([tmp_path / "sweep"], tmp_path / "out", primary=["weighting=learnable"])
    rows = report.paired.set_index(["cell", "metric"])
    assert set(report.paired.loc[report.paired["primary"], "cell"]) == {"learnable"}
    liebel = rows.loc[("liebel", "test.acc_cls3")]
    assert liebel["kind"] == "exploratory" and math.isnan(liebel["p_holm"]) and liebel["level"] == 0.05
    assert liebel["verdict"].startswith("exploratory, not corrected (sign-flip p = 0.002")
    learn = report.paired[report.paired["primary"]]
    adjusted = holm([*learn["p_flip"], *learn["p_flip_tost"]])  # 6 tests, not 12
    assert learn["p_holm"].tolist() == pytest.approx(adjusted[:3])
    assert rows.loc[("learnable", "test.acc_cls3"), "p_flip_tost"] == pytest.approx(p_flip_tost(d["acc_cls3"], 0.01))
    md = (tmp_path / "out" / "report.md").read_text()
    assert "The declared question: `weighting=learnable` against the baseline" in md
    assert "over the 6 tests (difference and TOST) of its 3 comparisons" in md
    assert "- 3 of 6 comparisons are exploratory" in md
    cli = [sys.executable, str(REPORT), str(tmp_path / "sweep"), "--out", str(tmp_path / "cli")]
    proc = subprocess.run([*cli, "--primary", "weighting=learnable"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "liebel − fixed, test 3-class accuracy: +0.0" in proc.stdout and "exploratory, not corrected" in proc.stdout
    everything = make_report([tmp_path / "sweep"], tmp_path / "all")  # nothing declared: one family of 12
    assert everything.paired["primary"].all()
    assert everything.paired["p_holm"].tolist() == pytest.approx(family_holm(everything.paired)[0])


def test_the_interval_beside_a_verdict_excludes_0_exactly_when_the_verdict_is_a_difference(
    tmp_path: Path, templates: dict
) -> None:
    _equivalence_sweep(tmp_path / "sweep", templates)
    report = make_report([tmp_path / "sweep"], tmp_path / "out")
    for r in report.paired.itertuples():
        excludes = r.ci_lo > 0 or r.ci_hi < 0
        assert excludes == (r.kind in ("better", "worse")), r
        assert r.level <= 0.05  # Holm's level for this comparison
    assert (report.paired["level"] < 0.05).any()  # not the unadjusted 5% everywhere


def test_holm_scope_counts_only_comparisons_with_two_paired_seeds(tmp_path: Path, templates: dict) -> None:
    sweep = tmp_path / "sweep"
    write(sweep, "f", result(templates, "fixed", True, 0, 0.90))
    write(sweep, "l", result(templates, "learnable", True, 0, 0.91))
    report = make_report([sweep], tmp_path / "out")
    assert set(report.paired["verdict"]) == {"too few paired seeds to tell"}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "over all 0 comparisons" not in md and "no declared comparison has 2 paired seeds" in md


def test_holm_adjusts_step_down_and_leaves_nan_out() -> None:
    assert holm([0.01, 0.04, 0.03, math.nan]) == pytest.approx([0.03, 0.06, 0.06, math.nan], nan_ok=True)
    assert holm([0.02, 0.9]) == pytest.approx([0.04, 0.9])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def _with_s(r: dict, off: float) -> dict:
    """`r` with s = 0 and s_eq = `off` at every recorded step of every active task."""
    traj = r["trajectory"]
    n = len(traj["step"])
    traj["values"]["s"] = {t: [0.0] * n for t in traj["tasks"]}
    traj["values"]["s_eq"] = {t: [off] * n for t in traj["tasks"]}
    return r


def test_the_equilibrium_table_counts_runs_per_cell_and_task(tmp_path: Path, templates: dict) -> None:
    sweep = tmp_path / "sweep"
    for recon in (True, False):
        for seed, off in enumerate([0.0, 0.05, 1.0]):  # the third run ends 1.0 away from s_eq
            write(sweep, f"l/{recon}/{seed}", _with_s(result(templates, "learnable", recon, seed, 0.9), off))
            write(sweep, f"f/{recon}/{seed}", result(templates, "fixed", recon, seed, 0.9))
    report = make_report([sweep], tmp_path / "out")
    first = templates[("learnable", True)]["trajectory"]["step"][0]
    eq = report.equilibrium
    assert set(eq["cell"]) == {"learnable, recon=true", "learnable, recon=false"}  # fixed records no s
    assert eq[["cell", "task", "runs", "reached"]].values.tolist() == [  # in the main table's order
        ["learnable, recon=false", "cls3", 3, 2],
        ["learnable, recon=false", "cls10", 3, 2],
        ["learnable, recon=true", "cls3", 3, 2],
        ["learnable, recon=true", "cls10", 3, 2],
        ["learnable, recon=true", "recon", 3, 2],
    ]
    assert (eq["from_step_median"] == first).all() and (eq["delta"] == 0.1).all() and (eq["window_steps"] == 100).all()
    written = pd.read_csv(tmp_path / "out" / "equilibrium.csv")
    assert written[["cell", "task", "reached"]].values.tolist() == eq[["cell", "task", "reached"]].values.tolist()
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## s and its equilibrium" in md and "δ = 0.1" in md and "w = 100 training steps" in md
    assert f"| learnable | recon=false | reached 2/3, median from step {first} | reached 2/3, median" in md
    assert md.count("| — |") >= 1  # no reconstruction with recon=false
    assert "Options: `--baseline weighting=fixed --margin acc_cls3=0.01,acc_cls10=0.01,loss_recon=0.02" in md
    wide = make_report([sweep], tmp_path / "wide", eq_delta=2.0, eq_window=10)
    assert (wide.equilibrium["reached"] == 3).all() and (wide.equilibrium["window_steps"] == 10).all()
    assert "--eq-delta 2 --eq-window 10" in (tmp_path / "wide" / "report.md").read_text()
    proc = subprocess.run(
        [sys.executable, str(REPORT), str(sweep), "--out", str(tmp_path / "cli"), "--eq-delta", "-1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "--eq-delta -1.0" in proc.stderr


def test_without_s_the_equilibrium_section_says_so(tmp_path: Path, templates: dict) -> None:
    sweep = tmp_path / "sweep"
    for seed in range(2):
        write(sweep, f"f/{seed}", result(templates, "fixed", True, seed, 0.9))
    report = make_report([sweep], tmp_path / "out")
    assert report.equilibrium.empty and (tmp_path / "out" / "equilibrium.csv").exists()
    assert "No run here records s and s_eq" in (tmp_path / "out" / "report.md").read_text()


# Many methods: rows, Δm%, ranks, baselines, validation selection.


def test_rows_are_the_method_with_the_settings_that_vary_within_it(tmp_path: Path, templates: dict) -> None:
    sweep = tmp_path / "sweep"
    for seed in range(2):
        for recon in (True, False):
            for w in ("single_cls3", "single_cls10", "fixed"):
                write(sweep, f"{w}/{recon}/{seed}", result(templates, w, recon, seed, 0.9))
            for lr in (0.01, 0.0001):
                cfg = {"weighting.lr": lr}
                write(sweep, f"l{lr}/{recon}/{seed}", result(templates, "learnable", recon, seed, 0.9, cfg))
    report = make_report([sweep], tmp_path / "out")
    rows = set(report.summary["row"])
    assert rows == {
        "fixed",
        "single (task=cls3)",  # recon=true: no single-task recon run, so the single-task runs stay rows of their own
        "single (task=cls10)",
        "single-task (each task trained alone)",  # recon=false: both active tasks have one, merged into one row
        "learnable (lr=0.01)",
        "learnable (lr=0.0001)",
    }
    by_group = report.summary.groupby("group")["row"].apply(set)
    assert "single (task=cls3)" not in by_group["recon=false"] and "single (task=cls3)" in by_group["recon=true"]
    assert list(report.summary.columns[:5]) == ["cell", "row", "group", "method", "recon"]
    head = report.main_table_text().splitlines()[0]
    assert head.startswith("| method (settings) | recon | test 3-class accuracy")
    assert "| single (task=cls3) | true |" in report.main_table_text()


def test_delta_m_against_the_single_task_runs_of_each_seed(tmp_path: Path, templates: dict) -> None:
    sweep = tmp_path / "sweep"
    single = {"single_cls3": [0.90, 0.80], "single_cls10": [0.70, 0.60], "single_recon": [0.20, 0.40]}
    for seed in range(2):
        write(sweep, f"s3/{seed}", result(templates, "single_cls3", True, seed, single["single_cls3"][seed]))
        # the 10-class baseline trains with recon off: recon is ignored when baselines are matched
        write(
            sweep,
            f"s10/{seed}",
            result(templates, "single_cls10", False, seed, 0.5, acc_cls10=single["single_cls10"][seed]),
        )
        write(
            sweep,
            f"sr/{seed}",
            result(templates, "single_recon", True, seed, 0.5, loss_recon=single["single_recon"][seed]),
        )
    learn = [(0.99, 0.77, 0.18), (0.88, 0.54, 0.50)]  # acc3, acc10, MSE per seed
    for seed, (a3, a10, mse) in enumerate(learn):
        write(sweep, f"l/{seed}", result(templates, "learnable", True, seed, a3, acc_cls10=a10, loss_recon=mse))
    write(sweep, "l/2", result(templates, "learnable", True, 2, 0.85, acc_cls10=0.65, loss_recon=0.30))
    report = make_report([sweep], tmp_path / "out")
    dm = [
        ((0.99 - 0.90) / 0.90 + (0.77 - 0.70) / 0.70 - (0.18 - 0.20) / 0.20) / 3 * 100,
        ((0.88 - 0.80) / 0.80 + (0.54 - 0.60) / 0.60 - (0.50 - 0.40) / 0.40) / 3 * 100,
        ((0.85 - 0.85) / 0.85 + (0.65 - 0.65) / 0.65 - (0.30 - 0.30) / 0.30) / 3 * 100,  # seed 2: means over seeds
    ]
    row = report.summary.set_index("cell").loc["learnable, recon=true"]
    mean = sum(dm) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in dm) / 2)
    assert row["delta_m.mean"] == pytest.approx(mean) and row["delta_m.n"] == 3
    assert row["delta_m.ci_hi"] == pytest.approx(mean + T975[2] * sd / math.sqrt(3))
    md = (tmp_path / "out" / "report.md").read_text()
    assert "- learnable, recon=true: seed(s) 2 have no single-task cls10 run" in md
    # the single-task runs are one row: each task from the run that trained it alone, Δm% 0 by definition
    shown = report.summary[report.summary["group"] == "recon=true"]
    assert not any(shown["row"].str.startswith("single ("))
    alone = report.summary.set_index("cell").loc["single-task (each task trained alone), recon=true"]
    assert alone["test.acc_cls3.mean"] == pytest.approx(0.85) and alone["test.acc_cls10.mean"] == pytest.approx(0.65)
    assert alone["test.loss_recon.mean"] == pytest.approx(0.30) and alone["seeds"] == 2
    assert alone["delta_m.mean"] == pytest.approx(0.0)


def test_delta_m_is_a_dash_and_explained_without_single_task_runs(tmp_path: Path, templates: dict) -> None:
    report = make_report([write_sweep(tmp_path / "sweep", templates)], tmp_path / "out")
    assert (report.summary["delta_m.n"] == 0).all()
    assert all(line.split(" | ")[-3] == "—" for line in report.main_table_text().splitlines()[2:])
    assert "none of these runs is a single-task baseline" in (tmp_path / "out" / "report.md").read_text()


def test_delta_m_names_the_single_task_runs_that_are_missing(tmp_path: Path, templates: dict) -> None:
    """Single-task runs of the 10-class task only: the note says which tasks lack one, not that there are none."""
    sweep = write_sweep(tmp_path / "sweep", templates)
    for seed in range(3):
        write(sweep, f"s10/{seed}", result(templates, "single_cls10", True, seed, 0.5))
    report = make_report([sweep], tmp_path / "out")
    assert (report.summary["delta_m.n"] == 0).all()
    md = (tmp_path / "out" / "report.md").read_text()
    assert "none of these runs is a single-task baseline" not in md
    assert "the single-task runs here train cls10 only" in md
    assert "add `weighting=single_cls3,single_recon` runs for cls3, recon" in md


def test_mean_rank_per_seed_and_task_with_ties(tmp_path: Path, templates: dict) -> None:
    sweep = tmp_path / "sweep"
    acc = {"fixed": [(0.9, 0.8), (0.9, 0.7)], "learnable": [(0.8, 0.8), (0.95, 0.75)]}
    for w, seeds in acc.items():
        for seed, (a3, a10) in enumerate(seeds):
            write(sweep, f"{w}/{seed}", result(templates, w, False, seed, a3, acc_cls10=a10))
    report = make_report([sweep], tmp_path / "out")
    ranks = report.summary.set_index("row")["rank.mean"]
    # seed 0: 3-class fixed 1, learnable 2; 10-class tie 1.5 each. seed 1: learnable 1 and 1.
    assert ranks["fixed"] == pytest.approx((1 + 1.5 + 2 + 2) / 4)
    assert ranks["learnable"] == pytest.approx((2 + 1.5 + 1 + 1) / 4)


def _fixed_variants(sweep: Path, templates: dict, val: dict[float, list[float]] | None = None) -> None:
    """fixed with weights.recon 0.5 and 2.0, and learnable, 3 seeds, recon on; `val`: 3-class val accuracy."""
    for seed in range(3):
        for lam in (0.5, 2.0):
            extra = {"val": {"acc_cls3": val[lam][seed], "acc_cls10": 0.5, "loss_recon": 0.2}} if val else {}
            cfg = {"weighting.weights.recon": lam}
            acc = 0.90 + 0.01 * seed + (0.02 if lam == 2.0 else 0.0)
            write(sweep, f"f{lam}/{seed}", result(templates, "fixed", True, seed, acc, cfg, **extra))
        extra = {"val": {"acc_cls3": 0.7, "acc_cls10": 0.5, "loss_recon": 0.2}} if val else {}
        write(sweep, f"l/{seed}", result(templates, "learnable", True, seed, 0.93 + 0.01 * seed, **extra))


def test_an_ambiguous_baseline_is_refused_with_the_rows_and_how_to_narrow_it(tmp_path: Path, templates: dict) -> None:
    sweep = tmp_path / "sweep"
    _fixed_variants(sweep, templates)
    with pytest.raises(BaselineError) as err:
        make_report([sweep], tmp_path / "out")
    message = str(err.value)
    assert "fixed (weights.recon=0.5)" in message and "fixed (weights.recon=2.0)" in message
    assert "--baseline weighting=fixed,weights.recon=0.5" in message and "best:weighting=fixed" in message
    with pytest.raises(BaselineError, match=r"matches no row\. The rows are: fixed"):
        make_report([sweep], tmp_path / "out", baseline="weighting=fixd")
    report = make_report([sweep], tmp_path / "out", baseline="weighting=fixed,weights.recon=2")
    rows = report.paired.set_index(["row", "metric"])
    assert set(report.paired["baseline"]) == {"fixed (weights.recon=2.0)"}
    assert rows.loc[("fixed (weights.recon=0.5)", "test.acc_cls3"), "diff"] == pytest.approx(-0.02)
    proc = subprocess.run(
        [sys.executable, str(REPORT), str(sweep), "--out", str(tmp_path / "cli")], capture_output=True, text=True
    )
    # the command line, like the end of a sweep, then compares with the fixed row best on validation, and says so
    assert proc.returncode == 0 and "comparing with --baseline best:weighting=fixed" in proc.stdout, proc.stderr


def test_the_cell_best_on_validation_is_reported_on_test_and_can_be_the_baseline(
    tmp_path: Path, templates: dict
) -> None:
    sweep = tmp_path / "sweep"
    _fixed_variants(sweep, templates, val={0.5: [0.9, 0.9, 0.9], 2.0: [0.8, 0.8, 0.85]})
    report = make_report([sweep], tmp_path / "out", baseline="best:weighting=fixed")
    chosen = report.selected.set_index("family").loc["fixed"]
    assert chosen["row"] == "fixed (weights.recon=0.5)" and chosen["candidates"] == 2
    assert chosen["val.objective.mean"] == pytest.approx((0.9 + 0.5 - 0.2) / 3)  # objective(): acc, acc, −MSE
    assert chosen["test.acc_cls3.mean"] == pytest.approx(0.91)  # on test, not validation
    assert "learnable" not in set(report.selected["family"])  # one cell: nothing to select
    assert set(report.paired["baseline"]) == {"fixed (weights.recon=0.5)"}
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Selected on validation" in md and "selected on the validation split" in md
    assert "every other number is on the test split" in md


# What a person looks at: figures, formats, naming, the default folder.


def test_figures_compare_like_with_like(tmp_path: Path, templates: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    import mtl_uncertainty.analysis.figures as figures_module

    sweep = tmp_path / "sweep"
    for seed in range(2):
        for w in ("learnable", "fixed", "imtl_l", "rlw"):
            write(sweep, f"{w}/{seed}", result(templates, w, True, seed, 0.9))
    big = result(templates, "fixed", True, 2, 0.9)
    big["trajectory"]["values"]["weight"]["recon"] = [40.0] * len(big["trajectory"]["step"])
    write(sweep, "fixed/2", big)
    drawn: dict[str, Any] = {}

    def keep(fig, title, stem, formats):
        drawn[stem.name] = (fig, title)
        return [stem.with_suffix(".png")]

    monkeypatch.setattr(figures_module, "save", keep)
    make_report([sweep], tmp_path / "out")
    fig, title = drawn["weights"]
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in panels) == ["fixed", "imtl_l", "learnable", "rlw"]
    assert len({ax.get_ylim() for ax in panels}) == 1 and {ax.get_yscale() for ax in panels} == {"log"}
    assert "log scale" in title
    fig, _ = drawn["sigma_trajectories"]
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert {ax.get_title() for ax in panels} - {""} == {"learnable", "imtl_l"}  # the rows that record s or sigma
    assert not any(ax.texts for ax in fig.axes)
    fig, _ = drawn["equilibrium"]
    assert {ax.get_title().split("\n")[0] for ax in fig.axes if ax.get_visible()} == {"learnable", "imtl_l"}


def test_the_gradient_methods_records_are_reported_with_what_their_weight_is(
    tmp_path: Path, templates: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mtl_uncertainty.analysis.figures as figures_module

    sweep = tmp_path / "sweep"
    for seed in range(2):
        for w in ("fixed", "nash_mtl", "famo"):
            write(sweep, f"{w}/{seed}", result(templates, w, True, seed, 0.9))
    drawn: dict[str, Any] = {}
    monkeypatch.setattr(
        figures_module,
        "save",
        lambda fig, title, stem, formats: drawn.update({stem.name: fig}) or [stem.with_suffix(".png")],
    )
    report = make_report([sweep], tmp_path / "out")
    assert sorted(report.summary["row"]) == ["famo", "fixed", "nash_mtl"] and not report.excluded
    md = (tmp_path / "out" / "report.md").read_text()
    weights = md.split("](weights.png)")[0].split("\n\n")[-2]  # what is said beside the weights figure
    assert weights.splitlines() == [
        "Where a method's weight is not on the task's loss (the methods that combine the tasks' gradients), it is:",
        "- nash_mtl: weight α_i·clip on task i's gradient in the shared parameters' update (α_i on its head)",
    ]  # fixed's and famo's weights are on the loss: not listed
    panels = [ax for ax in drawn["weights"].axes if ax.get_visible()]
    assert sorted(ax.get_title() for ax in panels) == ["famo", "fixed", "nash_mtl"]


def test_negative_weights_keep_the_weights_figure_on_a_linear_scale(
    tmp_path: Path, templates: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A gradient method's weight can be negative (Aligned-MTL, IMTL-G): a log scale would drop it from the panel."""
    import mtl_uncertainty.analysis.figures as figures_module

    sweep = tmp_path / "sweep"
    for seed in range(2):
        r = result(templates, "nash_mtl", True, seed, 0.9)
        steps = len(r["trajectory"]["step"])
        r["trajectory"]["values"]["weight"]["cls3"] = [-0.5] * steps
        r["trajectory"]["values"]["weight"]["recon"] = [40.0] * steps  # 40 / min positive: far beyond 20×
        write(sweep, f"nash_mtl/{seed}", r)
    drawn: dict[str, Any] = {}
    monkeypatch.setattr(
        figures_module, "save", lambda fig, title, stem, formats: drawn.update({stem.name: title}) or []
    )
    make_report([sweep], tmp_path / "out")
    assert "log scale" not in drawn["weights"]


def test_final_accuracy_with_one_seed_has_points_and_no_ci(tmp_path: Path, templates: dict) -> None:
    import mtl_uncertainty.analysis.metric_figures as metric_figures

    sweep = tmp_path / "sweep"
    write(sweep, "l", result(templates, "learnable", True, 0, 0.905))
    write(sweep, "f", result(templates, "fixed", True, 0, 0.900))
    report = make_report([sweep], tmp_path / "out")
    fig_files = report.figures["final_accuracy"]
    assert fig_files[0].stat().st_size > 0
    summary, seeds = report.summary, report.seeds
    captured = {}
    original = metric_figures.save
    metric_figures.save = lambda fig, title, stem, formats: captured.update(fig=fig, title=title) or []
    try:
        metric_figures.final_metrics(summary, seeds, tmp_path / "f", ["png"])
    finally:
        metric_figures.save = original
    texts = [t.get_text() for ax in captured["fig"].axes for t in ax.texts]
    assert texts.count("n = 1, no CI") == 2 * 3  # two rows, three metrics
    assert all("axis" in ax.get_xlabel() for ax in captured["fig"].axes)
    assert "| 0.9050 (n = 1, no CI) |" in report.main_table_text()


def test_every_figure_in_every_format_and_report_links_the_first(tmp_path: Path, templates: dict) -> None:
    sweep = write_sweep(tmp_path / "sweep", templates)
    out = tmp_path / "out"
    report = make_report([sweep], out, formats=("svg", "png", "pdf"))
    names = ["final_accuracy", "differences", "test_accuracy", "weights", "sigma_trajectories", "equilibrium"]
    assert sorted(report.figures) == sorted(names)
    md = (out / "report.md").read_text()
    for name in names:
        for fmt in ("svg", "png", "pdf"):
            assert (out / f"{name}.{fmt}").stat().st_size > 0
        assert f"]({name}.svg)" in md and f"]({name}.png)" not in md
    proc = subprocess.run(
        [sys.executable, str(REPORT), str(sweep), "--out", str(tmp_path / "cli"), "--format", "pdf"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cli" / "weights.pdf").exists() and not (tmp_path / "cli" / "weights.png").exists()


def test_every_output_file_is_written_and_not_empty(tmp_path: Path, templates: dict) -> None:
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
    assert "| weighting | recon | source 3-class |" in md and "| learnable | true | 0.9669 |" in md
    assert r"\begin{tabular}" in (out / "summary.tex").read_text()
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 12


def test_summary_csv_keeps_the_precision_measured_not_float32_noise(tmp_path: Path, templates: dict) -> None:
    sweep = tmp_path / "sweep"
    for seed in range(2):  # values as a float32 run writes them
        write(
            sweep,
            f"f/{seed}",
            result(templates, "fixed", True, seed, 0.9520000219345093, loss_recon=0.4999179244041443),
        )
    report = make_report([sweep], tmp_path / "out")
    assert report.summary.loc[0, "test.acc_cls3.mean"] == pytest.approx(0.9520000219345093, abs=1e-12)
    written = pd.read_csv(tmp_path / "out" / "summary.csv").iloc[0]
    assert written["test.acc_cls3.mean"] == 0.952 and written["test.acc_cls10.mean"] == 0.852
    assert written["test.loss_recon.mean"] == 0.49992 and written["test.acc_cls3.n"] == 2
    assert "0.9520000219345093" not in (tmp_path / "out" / "summary.csv").read_text()


def test_csv_precision_rounds_each_kind_of_number_as_documented() -> None:
    df = pd.DataFrame(
        {
            "test.acc_cls3.ci_lo": [0.94349999],
            "val.loss_recon.mean": [0.123456789],
            "val.objective.mean": [0.4375123],
            "delta_m.mean": [-1.234567],
            "rank.mean": [1.6666667],
            "p": [0.000123456],
            "p_tost_holm": [math.nan],
            "n": [3],
        }
    )
    row = csv_precision(df).iloc[0]
    assert row.drop("p_tost_holm").tolist() == [0.9435, 0.12346, 0.43751, -1.235, 1.667, 0.000123, 3]
    assert math.isnan(row["p_tost_holm"])


def test_broken_partial_and_diverged_runs_are_listed_and_left_out(tmp_path: Path, templates: dict) -> None:
    sweep = write_sweep(tmp_path / "sweep", templates)
    expected = add_broken_runs(sweep, templates)
    report = make_report([sweep], tmp_path / "out")
    assert len(report.runs) == 12
    assert {e.path.name: e.status for e in report.excluded} == expected
    assert report.summary.set_index("cell").loc["learnable, recon=true", "test.acc_cls3.n"] == 3
    md = (tmp_path / "out" / "report.md").read_text()
    assert "left out: 5" in md and "1 diverged" in md
    for name in expected:
        assert f"{sweep / name}`" in md
    assert "diverged at step 3" in md and "RuntimeError: boom" in md and "not valid JSON" in md


def test_axes_appear_when_they_vary(tmp_path: Path, templates: dict) -> None:
    sweep = write_sweep(tmp_path / "sweep", templates)
    write(sweep, "kendall", result(templates, "learnable", True, 0, 0.93, {"weighting.form": "kendall"}))
    report = make_report([sweep], tmp_path / "out")
    assert "config.weighting.form" in report.axes
    assert {"learnable (form=kendall), recon=true", "learnable (form=seed), recon=true"} <= set(report.summary["cell"])
    assert "fixed, recon=true" in set(report.summary["cell"])
    assert "config.weighting.weights.cls3" not in find_axes(report.table)


def test_schema_1_results_still_report(tmp_path: Path, templates: dict) -> None:
    sweep = write_sweep(tmp_path / "sweep", templates)
    for path in sweep.rglob("result.json"):
        r = json.loads(path.read_text())
        traj = r["trajectory"]
        values = traj.pop("values")
        traj.update(s=values.get("s"), sigma=values.get("sigma"), weight=values["weight"])
        traj["initial"] = {"s": traj["initial"].get("s"), "weight": traj["initial"]["weight"]}
        del traj["labels"]
        for epoch in r["history"]:
            v = epoch.pop("values")
            epoch.update(s=v.get("s"), weight=v["weight"])
        for key in ("tasks", "data", "job_dir"):
            del r[key]
        r["schema"] = 1
        path.write_text(json.dumps(r))
    report = make_report([sweep], tmp_path / "out")
    assert len(report.runs) == 12 and not report.excluded
    assert report.summary.set_index("cell").loc["learnable, recon=true", "test.acc_cls3.mean"] == pytest.approx(0.92)
    assert {"weights", "sigma_trajectories"} <= set(report.figures)


def test_runs_of_another_numbers_version_are_rows_of_their_own_and_the_code_section_names_them(
    tmp_path: Path, templates: dict
) -> None:
    """Runs of other code (numbers version 2, another commit) are never averaged with version 1's: a group of their
    own, labelled, and the Code section lists each cell's versions and commits."""
    sweep = write_sweep(tmp_path / "sweep", templates)
    for seed, acc in enumerate([0.50, 0.60, 0.70]):
        r = result(templates, "learnable", True, seed, acc)
        r["code"] = {**r["code"], "numbers_version": 2}
        r["git"] = {"commit": "b" * 40, "dirty": False}
        write(sweep, f"version-2/seed={seed}", r)
    report = make_report([sweep], tmp_path / "out")
    assert "code.numbers_version" in report.others
    cells = report.summary.set_index("cell")
    assert cells.loc["learnable, recon=true, code.numbers_version=1", "test.acc_cls3.mean"] == pytest.approx(0.92)
    assert cells.loc["learnable, recon=true, code.numbers_version=2", "test.acc_cls3.mean"] == pytest.approx(0.60)
    assert cells.loc["learnable, recon=true, code.numbers_version=2", "seeds"] == 3
    text = (tmp_path / "out" / "report.md").read_text()
    code = text[text.index("## Code") : text.index("## Runs left out")]
    assert "| learnable | recon=true, code.numbers_version=2 | 2 | bbbbbbb (3 runs) |" in code
    assert "| learnable | recon=true, code.numbers_version=1 | 1 |" in code


def test_the_committed_runs_report_as_numbers_version_1_with_their_commit(tmp_path: Path) -> None:
    """Every committed result predates the record of its code: read as version 1, one cell each as before."""
    sweeps = [REPO / "results" / "replication"]
    report = build_report(sweeps, tmp_path / "report")
    assert len(report.runs) == 40 and set(report.table["code.numbers_version"]) == {1}
    assert "code.numbers_version" not in report.axes
    assert "Every cell: numbers version 1; commit fb16112 (40 runs)." in render(report, sweeps)


def test_a_folder_without_runs_is_a_clear_error(tmp_path: Path, templates: dict) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NoRunsError, match="No completed runs"):
        make_report([tmp_path / "empty"], tmp_path / "out")
    proc = subprocess.run([sys.executable, str(REPORT), str(tmp_path / "empty")], capture_output=True, text=True)
    assert proc.returncode == 1 and "No completed runs" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run([sys.executable, str(REPORT)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 1 and "No sweeps under multirun" in proc.stderr


def test_a_searchs_long_floats_are_short_in_row_labels_with_more_digits_where_two_would_look_alike(
    tmp_path: Path, templates: dict
) -> None:
    weights = [1.3397250122983564, 1.3398250122983564, 3.6302425329692234]  # the first two agree to 4 digits
    for i, w in enumerate(weights):
        for seed in range(2):
            r = result(templates, "fixed", True, seed, 0.9, config={"weighting.weights.cls10": w})
            write(tmp_path / "sweep", f"w={i}/seed={seed}", r)
    report = make_report([tmp_path / "sweep"], tmp_path / "out", baseline="best:weighting=fixed")
    rows = set(report.summary["row"])
    assert rows == {f"fixed (weights.cls10={w})" for w in ("1.3397", "1.3398", "3.6302")}
    assert report.runs[0].result["config"]["weighting"]["weights"]["cls10"] in weights  # the values themselves


def test_the_default_folder_is_the_newest_sweep_with_results(tmp_path: Path, templates: dict) -> None:
    root = tmp_path / "multirun"
    older = write_sweep(root / "older", templates)
    (root / "newer").mkdir()
    (root / "newer" / "multirun.yaml").write_text("hydra: {}\n")  # started, nothing finished yet
    assert newest_sweep(root) == older
    shutil.rmtree(older)
    with pytest.raises(NoRunsError, match=r"No sweeps under .* have a result\.json"):
        newest_sweep(root)


def test_the_default_folder_is_one_sweep_never_a_preset_folder_holding_several(tmp_path: Path, templates: dict) -> None:
    """multirun/replication/ holds mnist/ and fashion_mnist/ sweeps: the default is the newer of them, alone."""
    root = tmp_path / "multirun"
    preset = root / "replication"
    for age, name in ((200, "mnist"), (100, "fashion_mnist")):
        sweep = write_sweep(preset / name, templates)
        (sweep / "multirun.yaml").write_text("hydra: {}\n")
        for f in [sweep / "multirun.yaml", *sweep.rglob("result.json")]:
            os.utime(f, (f.stat().st_mtime - age, f.stat().st_mtime - age))
    assert newest_sweep(root) == preset / "fashion_mnist"
    proc = subprocess.run([sys.executable, str(REPORT)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"Report: {Path('multirun/replication/fashion_mnist/report/report.md')}" in proc.stdout
    assert len((preset / "fashion_mnist" / "report" / "results.csv").read_text().splitlines()) == 1 + 12
    assert not (preset / "report").exists()


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
    assert "| learnable | true |" in proc.stdout and "within noise" not in proc.stdout
    assert "not shown either way" in proc.stdout or "equivalent within" in proc.stdout
    out = tmp_path / "multirun" / "newer" / "report"
    assert (out / "report.md").exists() and not (tmp_path / "multirun" / "older" / "report").exists()
    assert len((out / "results.csv").read_text().splitlines()) == 1 + 8
    other = tmp_path / "combined"
    sweeps = [str(tmp_path / "multirun" / n) for n in ("older", "newer")]
    proc = subprocess.run([sys.executable, str(REPORT), *sweeps, "--out", str(other)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert len((other / "results.csv").read_text().splitlines()) == 1 + 16
    assert "2 seeds; 4 runs averaged" in (other / "report.md").read_text()


@pytest.mark.slow
def test_a_sweep_declares_its_question_and_the_reports_use_it(tmp_path: Path, synthetic_root: Path) -> None:
    """report.primary on the command line (as a preset's report: block does) reaches every run's config, the
    end-of-sweep report and a later analysis/report.py; it is not part of a run's identity."""
    sweep = tmp_path / "sweep"
    args = ["-m", *tiny_overrides(synthetic_root), "weighting=fixed,learnable,liebel", "seed=0,1"]
    args += ['report.primary=["weighting=learnable"]', f"hydra.sweep.dir={sweep}"]
    proc = run_cli(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    configs = [json.loads(p.read_text())["config"] for p in sweep.rglob("result.json")]
    assert len(configs) == 6 and all(c["report"]["primary"] == ["weighting=learnable"] for c in configs)
    end_of_sweep = (sweep / "report" / "report.md").read_text()
    assert "The declared question: `weighting=learnable` against the baseline" in end_of_sweep
    later = subprocess.run([sys.executable, str(REPORT), str(sweep), "--out", str(tmp_path / "later")], **TEXT)
    assert later.returncode == 0, later.stderr
    assert "liebel − fixed, test 3-class accuracy" in later.stdout and "exploratory, not corrected" in later.stdout
    assert "learnable − fixed, test 3-class accuracy" in later.stdout
    again = run_cli(*args[:-2], 'report.primary=["weighting=liebel"]', f"hydra.sweep.dir={sweep}")
    assert (
        again.returncode == 0 and again.stderr.count("already completed") + again.stdout.count("already completed") == 6
    )
