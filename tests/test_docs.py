"""The README and docs/: every relative link resolves, every page is reachable from the README, and the
README stays a page a researcher can read on a screen or three."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def links(page: Path) -> list[str]:
    """The link targets of a Markdown page, code blocks left out."""
    return LINK.findall(FENCE.sub("", page.read_text()))


def anchor(heading: str) -> str:
    """The anchor a code-hosting site gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {anchor(h) for h in re.findall(r"^#+ (.+)$", FENCE.sub("", page.read_text()), re.M)}


@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(REPO)) for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):
            continue  # http(s), mailto: not checked here
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved):
            broken.append(f"{target} (no heading #{fragment})")
    assert not broken, f"{page.name}: {broken}"


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    linked = {(REPO / t.partition("#")[0]).resolve() for t in links(REPO / "README.md")}
    unlinked = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_the_readme_fits_on_a_screen_or_three() -> None:
    assert len((REPO / "README.md").read_text().splitlines()) <= 200


def test_the_anchor_rule_matches_headings_with_punctuation() -> None:
    assert anchor("Paired comparisons: different, equivalent, or not shown either way") == (
        "paired-comparisons-different-equivalent-or-not-shown-either-way"
    )
    assert anchor("More than one CPU, a GPU, a cluster") == "more-than-one-cpu-a-gpu-a-cluster"


@pytest.mark.parametrize("written", ["api-runs/learnable/result.json", "outputs/x/result.json", "data/MNIST/raw/x"])
def test_what_the_quickstart_and_the_api_page_write_is_ignored_by_git(written: str) -> None:
    """A user who follows the README or docs/api.md in a clone sees no stray files in git status."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    proc = subprocess.run(["git", "check-ignore", "-q", written], cwd=REPO, capture_output=True)
    assert proc.returncode == 0, f"{written} is not in .gitignore"
