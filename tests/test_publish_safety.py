"""The publisher and the report as commands that cannot corrupt a page or end in a traceback: what comes from a
result.json is written inert, markers count only on their own lines, pages are read without following links,
figures are checked against their manifest, and Ctrl-C, SIGTERM, a full disk or a read-only folder each end in
one paragraph (analysis/publish.py, analysis/report.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import REPO
from tests.test_untrusted_files import whole_result, write

PUBLISH, REPORT = REPO / "analysis" / "publish.py", REPO / "analysis" / "report.py"
BLOCKS = ("core/summary", "core/verdicts", "core/claims", "core/provenance", "replication/summary")
PAGE = "# Results\n\nProse that names the end marker, `<!-- end generated -->`, inline.\n\n" + "".join(
    f"<!-- generated: {b} -->\nold\n<!-- end generated -->\n\n" for b in BLOCKS
)
INJECTED = "x<!-- end generated -->\n# Injected heading\n<b>bold</b>"


def checkout(root: Path, change: Any = None) -> Path:
    """A checkout with a README of generated blocks and a small core study (3 seeds of fixed and learnable);
    `change(result)` edits each learnable run's result.json before it is written."""
    sweep = root / "results" / "core" / "mnist"
    for seed in range(3):
        for weighting, acc in (("fixed", 0.90), ("learnable", 0.92)):
            rel = f"weighting={weighting}/seed={seed}"
            result = whole_result(sweep / rel, weighting, seed, acc + 0.001 * seed)
            if change and weighting == "learnable":
                change(result)
            write(sweep, rel, result)
    (root / "docs").mkdir()
    (root / "README.md").write_text(PAGE)
    return root


def publish(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(PUBLISH), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )


def _inject(result: dict) -> None:
    result["config"]["weighting"]["name"] = "learnable" + INJECTED
    result["cpu"] = {"model": INJECTED}
    result["git"] = {"commit": INJECTED, "dirty": False}


@pytest.mark.slow
def test_labels_from_results_are_written_inert_and_publishing_twice_changes_nothing(tmp_path: Path) -> None:
    root = checkout(tmp_path, _inject)
    first = publish(root)
    assert first.returncode == 0, first.stderr
    page = (root / "README.md").read_text()
    assert publish(root).returncode == 0 and (root / "README.md").read_text() == page  # stable, not growing
    assert publish(root, "--check").returncode == 0
    lines = page.splitlines()
    assert lines.count("<!-- end generated -->") == len(BLOCKS) == page.count("<!-- generated: ")
    assert "# Injected heading" not in lines and not any(line.startswith("# Injected") for line in lines)
    assert "<b>" not in page and "&lt;b>bold&lt;/b>" in page and "learnablex&lt;!-- end generated -->" in page
    assert page.startswith("# Results\n\nProse that names the end marker, `<!-- end generated -->`, inline.\n")
    assert "No committed runs in `results/replication/` yet" in page  # a study with no runs blocks nothing


def test_a_block_without_its_own_end_marker_line_is_refused_and_the_prose_kept(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    page = "Intro.\n\n<!-- generated: core/summary -->\nno end of its own; prose: <!-- end generated --> here.\n"
    (root / "README.md").write_text(page + "More prose.\n")
    proc = publish(root)
    assert proc.returncode == 1 and "has no <!-- end generated --> after it" in proc.stderr
    assert (root / "README.md").read_text() == page + "More prose.\n"


def test_a_page_that_is_a_link_is_never_followed(tmp_path: Path) -> None:
    root = checkout(tmp_path)
    (root / "README.md").unlink()
    (root / "README.md").symlink_to("/dev/zero")
    for args in ((), ("--check",)):
        proc = publish(root, *args)
        assert proc.returncode == 1 and "README.md cannot be published: it is a symbolic link" in proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_a_run_trained_outside_git_publishes_and_the_figures_are_checked_against_their_manifest(
    tmp_path: Path,
) -> None:
    root = checkout(tmp_path, lambda r: r.update(git=None))
    assert publish(root).returncode == 0
    assert publish(root, "--check").returncode == 0
    figures = root / "docs" / "results" / "core"
    manifest = json.loads((figures / "figures.json").read_text())
    assert set(manifest["figures"]) and all((figures / f).is_file() for f in manifest["figures"])
    first, second = sorted(manifest["figures"])[:2]
    (figures / first).unlink()
    (figures / second).write_bytes(b"not a figure")
    proc = publish(root, "--check")
    assert proc.returncode == 1
    for name in (first, second):
        assert f"docs/results/core/{name}: missing" in proc.stderr
    assert publish(root).returncode == 0 and publish(root, "--check").returncode == 0
    job = root / "results" / "core" / "mnist" / "weighting=fixed" / "seed=3"
    write(root / "results" / "core" / "mnist", "weighting=fixed/seed=3", whole_result(job, "fixed", 3, 0.9))
    proc = publish(root, "--check")
    assert proc.returncode == 1
    assert "docs/results/core/: made from other results than results/core/ holds" in proc.stderr


def test_figures_are_never_written_through_a_linked_folder(tmp_path: Path) -> None:
    root, outside = checkout(tmp_path / "checkout"), tmp_path / "outside"
    outside.mkdir()
    (root / "docs" / "results").symlink_to(outside)
    proc = publish(root)
    assert proc.returncode == 1 and "docs/results is a symbolic link" in proc.stderr
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(("fault", "says"), [("full_disk@1", "No space left"), ("read_only@1", "read-only")])
def test_a_report_that_cannot_write_says_so_in_one_paragraph(tmp_path: Path, fault: str, says: str) -> None:
    sweep = checkout(tmp_path) / "results" / "core" / "mnist"
    proc = subprocess.run(
        [sys.executable, str(REPORT), str(sweep), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MTL_UNCERTAINTY_FAULT": fault},
    )
    assert proc.returncode == 1 and says in proc.stderr and "Traceback" not in proc.stderr
    assert "the runs were only read" in proc.stderr or "no run was changed" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def _script(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"script_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("how", "status", "says"), [("ctrl-c", 130, "Interrupted"), ("sigterm", 143, "SIGTERM")])
def test_a_report_stopped_by_ctrl_c_or_sigterm_says_what_was_kept(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    how: str,
    status: int,
    says: str,
) -> None:
    sweep = checkout(tmp_path) / "results" / "core" / "mnist"
    report = _script(REPORT)

    def stop(*args: Any, **kwargs: Any) -> None:
        if how == "ctrl-c":
            raise KeyboardInterrupt
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before the next line: it raises here

    monkeypatch.setattr(report, "make_report", stop)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert report.main([str(sweep), "--out", str(tmp_path / "out")]) == status
    finally:
        signal.signal(signal.SIGTERM, previous)
    err = capsys.readouterr().err
    assert says in err and "no run was changed" in err and "Run the same command again" in err
