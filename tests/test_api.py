"""The Python API of docs/api.md: compose + run + make_report, as a notebook uses them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

API_DOC = REPO / "docs" / "api.md"
DATA_LINE = 'DATA = ["data.root=data"]'


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", markdown, flags=re.S | re.M)


def test_importing_the_package_and_the_report_loads_no_torch_and_registers_nothing() -> None:
    code = (
        "import sys, mtl_uncertainty, mtl_uncertainty.analysis; "
        "heavy = ('torch', 'hydra', 'mtl_uncertainty.config', 'mtl_uncertainty.ops'); "
        "loaded = [m for m in heavy if m in sys.modules]; "
        "print(loaded, mtl_uncertainty.compose.__module__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO / "src")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["[]", "mtl_uncertainty"]


def test_the_api_page_runs_as_written(tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/api.md, in order, with DATA pointed at synthetic files."""
    blocks = python_blocks(API_DOC.read_text())
    assert len(blocks) >= 3 and DATA_LINE in blocks[0]
    synthetic = f'DATA = ["data.root={synthetic_root}", "data.verify=false", "data.download=false", "device=cpu"]'
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for block in blocks:
        exec(compile(block.replace(DATA_LINE, synthetic), str(API_DOC), "exec"), namespace)
    assert namespace["result"]["status"] == "completed" and namespace["fixed"]["status"] == "completed"
    assert namespace["result"]["config"]["weighting"]["name"] == "learnable"
    assert (tmp_path / "api-runs" / "learnable" / "result.json").exists()
    assert len(namespace["report"].runs) == 2 and (tmp_path / "api-runs" / "report" / "report.md").exists()


def test_compose_gives_the_command_lines_config_and_its_refusals(tmp_path: Path) -> None:
    import mtl_uncertainty
    from mtl_uncertainty.config import ConfigError

    cfg = mtl_uncertainty.compose(["weighting=fixed", "train.epochs=3", "data.root=rel"])
    assert cfg.weighting.name == "fixed" and cfg.train.epochs == 3 and cfg.sigma_init.name == "uniform"
    assert cfg.data.root == str(Path.cwd() / "rel")
    with pytest.raises(ConfigError, match=r"epochs=1 is train\.epochs=1"):
        mtl_uncertainty.compose(["epochs=1"])
