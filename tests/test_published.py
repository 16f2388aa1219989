"""The Results tables of the README and docs/ are what the committed runs in results/ give, through the
report's own code (analysis/publish.py); and the marking of generated tables works as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mtl_uncertainty.analysis import ReportError
from mtl_uncertainty.analysis.publish import Reports, pages, refresh, stale
from tests.conftest import REPO
from tests.test_untrusted_files import whole_result, write


def test_every_generated_table_is_what_the_committed_results_give() -> None:
    reports = Reports(REPO)
    out_of_date = {p.name: stale(p.read_text(), reports) for p in pages(REPO)}
    assert not {name: blocks for name, blocks in out_of_date.items() if blocks}, (
        "run python analysis/publish.py to write these tables from results/"
    )
    readme, results = (REPO / "README.md").read_text(), (REPO / "docs" / "results.md").read_text()
    assert "<!-- generated: core/verdicts -->" in readme
    for block in ("core/summary", "core/paired", "core/equilibrium", "core/claims"):
        assert f"<!-- generated: {block} -->" in results


def _study(root: Path) -> Path:
    """A small committed study: equal weights and learnable weighting, 3 seeds, as results/core/ holds them."""
    sweep = root / "results" / "core" / "mnist"
    for seed in range(3):
        for weighting, acc in (("fixed", 0.90), ("learnable", 0.92)):
            rel = f"weighting={weighting}/seed={seed}"
            write(sweep, rel, whole_result(sweep / rel, weighting, seed, acc + 0.001 * seed))
    return root


PAGE = "# Results\n\n<!-- generated: core/summary -->\nold text\n<!-- end generated -->\n\nprose stays\n"


def test_a_marked_block_is_rewritten_from_the_runs_and_the_rest_of_the_page_kept(tmp_path: Path) -> None:
    reports = Reports(_study(tmp_path))
    assert stale(PAGE, reports) == ["core/summary"]
    page = refresh(PAGE, reports)
    assert page.startswith("# Results\n\n<!-- generated: core/summary -->\n| method (settings) |")
    assert "| learnable | 0.9210 ± 0.0010 [0.9185, 0.9235]" in page and page.endswith("prose stays\n")
    assert stale(page, reports) == [] and refresh(page, reports) == page
    edited = page.replace("0.9210 ± 0.0010", "0.9300 ± 0.0010")
    assert stale(edited, reports) == ["core/summary"]  # a number typed by hand is caught


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("<!-- generated: core/nonsense -->\n<!-- end generated -->\n", "names no table"),
        ("<!-- generated: elsewhere/summary -->\n<!-- end generated -->\n", "names no table"),
        ("<!-- generated: core/summary -->\nno end marker\n", "has no <!-- end generated -->"),
    ],
)
def test_a_block_that_cannot_be_made_says_why(tmp_path: Path, page: str, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        refresh(page, Reports(_study(tmp_path)))


def test_a_block_of_a_study_with_no_runs_yet_says_so_and_blocks_nothing(tmp_path: Path) -> None:
    (tmp_path / "results" / "replication" / "mnist").mkdir(parents=True)  # started, nothing finished
    page = refresh("<!-- generated: replication/summary -->\n<!-- end generated -->\n", Reports(_study(tmp_path)))
    assert "No committed runs in `results/replication/` yet: python src/train.py -m +experiment=replication" in page


def test_the_check_of_the_command_line_passes_on_this_checkout() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "analysis" / "publish.py"), "--check"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr


def test_the_generated_claims_group_each_comparison_by_its_verdict(tmp_path: Path) -> None:
    """One row clearly above the baseline, one slightly above it and within the margin, one within a hair of it,
    one scattered around it (the MSE is the same everywhere), 10 seeds: the claims list says better, better and
    equivalent, equivalent, and not shown either way, row by row, with what the seeds could have detected."""
    sweep = tmp_path / "results" / "core" / "mnist"
    noise = [0.004, -0.003, 0.001, -0.002, 0.003, -0.001, 0.002, -0.004, 0.0015, -0.0015]  # mean 0
    for seed, e in enumerate(noise):
        rows = {"fixed": 0.90, "learnable": 0.93 + e / 2, "liebel": 0.90 - e / 4, "rlw": 0.90 + 0.02 * (-1) ** seed}
        rows["gls"] = 0.905 + e / 4  # above the baseline, and within the margin: both
        for weighting, acc in rows.items():
            rel = f"weighting={weighting}/seed={seed}"
            write(sweep, rel, whole_result(sweep / rel, weighting, seed, acc + 3 * e))
    claims = Reports(tmp_path).table("core/claims").splitlines()
    family = "Holm p < 0.05 over the 24 tests of the 12 declared comparisons"
    assert claims[:3] == [
        f"- **Equivalent to fixed** (sign-flip TOST, {family}, margins ±0.01 3-class accuracy, ±0.01 10-class "
        "accuracy, ±0.02 reconstruction MSE): gls on reconstruction MSE (+0.00000); learnable on reconstruction "
        "MSE (+0.00000); liebel on 3-class "
        "accuracy (+0.0000), 10-class accuracy (+0.0000) and reconstruction MSE (+0.00000); rlw on reconstruction "
        "MSE (+0.00000).",
        f"- **Better than fixed** (exact sign-flip test, {family}): gls on 3-class accuracy (+0.0050; also "
        "equivalent within ±0.01) and 10-class accuracy (+0.0050; also equivalent within ±0.01); learnable on "
        "3-class accuracy (+0.0300) and 10-class accuracy (+0.0300).",
        f"- **Worse than fixed** (exact sign-flip test, {family}): none.",
    ]
    assert claims[3].startswith("- **Not shown either way**: the other 2 of 12 declared comparisons (these seeds ")
