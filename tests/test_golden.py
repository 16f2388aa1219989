"""The numbers runs compute are the pinned ones (tests/golden.py): a change that alters them bumps NUMBERS_VERSION.

Bit for bit on the platform each pin names (torch, the CPU and its vector instructions, one thread); on a
platform without a pin the test skips, saying so (the kernels, and so the float rounding, differ by CPU).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mtl_uncertainty import code_version
from tests import golden


def test_the_golden_runs_compute_the_pinned_numbers(tmp_path: Path) -> None:
    pin = golden.pin_here()
    if pin is None:
        pytest.skip(
            f"no golden numbers pinned for this platform ({golden.platform_key()}); the numbers depend on the CPU's "
            f"kernels. Pin them here with {golden.PIN_COMMAND}, on code whose numbers are known to be unchanged."
        )
    assert pin["numbers_version"] == code_version.NUMBERS_VERSION, (
        f"NUMBERS_VERSION is {code_version.NUMBERS_VERSION}, and the golden numbers of this platform are pinned at "
        f"version {pin['numbers_version']}: re-pin them with {golden.PIN_COMMAND} (the version was bumped)."
    )
    now = golden.compute(tmp_path)
    assert (now["data"], now["runs"], now["common"]) == (pin["data"], pin["runs"], pin["common"]), (
        f"the golden runs or their data (tests/conftest.py write_synthetic_mnist) changed: re-pin with "
        f"{golden.PIN_COMMAND} on code whose numbers are known, before changing the code."
    )
    changed = golden.differences(pin["numbers"], now["numbers"])
    assert not changed, (
        "The numbers changed: the golden runs no longer compute what tests/data/golden.json pins. If the change is "
        "meant to alter the numbers, bump NUMBERS_VERSION in src/mtl_uncertainty/code_version.py and re-pin with "
        f"{golden.PIN_COMMAND} (results and checkpoints of the old numbers are then set aside and retrained, never "
        "reused); if it is meant to keep them (a refactor), fix the change. First differences:\n" + "\n".join(changed)
    )


def test_the_differences_name_where_the_numbers_moved() -> None:
    pinned = {"final": {"test": {"acc_cls3": 0.5, "loss_recon": 0.25}}, "history": [1.0, 2.0]}
    now = {"final": {"test": {"acc_cls3": 0.5, "loss_recon": 0.25000000000000006}}, "history": [1.0, 2.0]}
    assert golden.differences(pinned, now) == ["final.test.loss_recon: pinned 0.25, now 0.25000000000000006"]
    assert golden.differences(pinned, pinned) == []
