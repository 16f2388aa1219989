"""The golden runs: the exact numbers of a few tiny runs, pinned, so that no change of the numbers goes unnoticed.

    python -m tests.golden --pin     # train them here and pin their numbers in tests/data/golden.json

tests/test_golden.py trains the same runs and compares every number bit for bit (each float as JSON
writes it, its shortest repr). A difference means the change alters what runs compute: bump
NUMBERS_VERSION in src/mtl_uncertainty/code_version.py and re-pin, so that results and checkpoints of
the old numbers are set aside instead of reused, or fix the change, if it was meant to keep them (a
refactor). Re-pinning at a new version drops every pin of another version.

The numbers are bit for bit only on one platform: one CPU thread, one torch version, and one kind of
CPU (PyTorch's kernels take other paths with other vector instructions, and oneDNN picks its
convolution kernels by the processor). So each pin names its platform, a pin is compared only on its
own platform, and the test skips, saying so, where no pin was made; `--pin` on another machine adds
its pin beside the others (only on code whose numbers are known to be the pinned ones).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from mtl_uncertainty import code_version
from mtl_uncertainty.run import run_many
from mtl_uncertainty.runs.result import cpu_model
from mtl_uncertainty.storage.result_schema import RESULT_FILE
from tests.conftest import compose_cfg, tiny_overrides, write_synthetic_mnist

GOLDEN = Path(__file__).resolve().parent / "data" / "golden.json"
COMMON = ("train.epochs=2", "data.val_size=64", "logger.tensorboard=false")  # and tiny_overrides: one thread
RUNS: dict[str, list[list[str]]] = {
    "fixed": [["weighting=fixed"]],
    "learnable": [["weighting=learnable", "seed=1"]],
    "stacked learnable, seeds 2 and 3": [["weighting=learnable", "seed=2"], ["weighting=learnable", "seed=3"]],
}
"""Each entry trains its runs together with run_many: one alone, or two as one stacked network (run_many stacks
what can stack, on a CPU too)."""
PIN_COMMAND = "python -m tests.golden --pin"


def platform_key() -> dict[str, Any]:
    """What the numbers depend on beyond the code: torch, the CPU and its vector instructions, one thread."""
    return {
        "torch": torch.__version__,
        "arch": platform.machine(),
        "cpu": cpu_model(),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "threads": 1,
    }


def _data_hash(root: Path) -> str:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(p.relative_to(root).as_posix().encode() + p.read_bytes() for p in files)).hexdigest()


def _numbers(result: dict[str, Any]) -> dict[str, Any]:
    """Every number a run computed: its final metrics, each epoch's metrics and values, its whole trajectory."""
    history = [{k: h.get(k) for k in ("train", "test", "val", "values")} for h in result["history"]]
    trajectory = {k: result["trajectory"][k] for k in ("step", "loss", "values", "initial")}
    return {"final": result["final"], "history": history, "trajectory": trajectory}


def compute(work: Path) -> dict[str, Any]:
    """Train the golden runs under `work` (at one thread) and return their numbers, with what they were made from."""
    root = write_synthetic_mnist(work / "data")
    threads = torch.get_num_threads()
    out: dict[str, Any] = {}
    try:
        for name, jobs in RUNS.items():
            cfgs = [compose_cfg(*tiny_overrides(root), *COMMON, *job) for job in jobs]
            dirs = [work / "runs" / f"{name}-{i}" for i in range(len(jobs))]
            for outcome in run_many(cfgs, dirs):
                if isinstance(outcome, BaseException):
                    raise outcome
            results = [json.loads((d / RESULT_FILE).read_text()) for d in dirs]  # the numbers as JSON holds them
            out[name] = {
                "stack sizes": [r["timings"].get("stack_size", 1) for r in results],
                "runs": [_numbers(r) for r in results],
            }
    finally:
        torch.set_num_threads(threads)
    return {"data": _data_hash(root), "runs": RUNS, "common": list(COMMON), "numbers": out}


def read_pins() -> list[dict[str, Any]]:
    return json.loads(GOLDEN.read_text())["pins"] if GOLDEN.exists() else []


def pin_here() -> dict[str, Any] | None:
    """This platform's pin, of any numbers version (None: none was made here)."""
    here = platform_key()
    return next((p for p in read_pins() if p["platform"] == here), None)


def differences(pinned: Any, now: Any, where: str = "", limit: int = 8) -> list[str]:
    """Where `now` differs from `pinned` (a path and both values), the first `limit` of them."""
    out: list[str] = []

    def walk(a: Any, b: Any, at: str) -> None:
        if len(out) >= limit:
            return
        if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
            for key in a:
                walk(a[key], b[key], f"{at}.{key}" if at else str(key))
        elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
            for i, (x, y) in enumerate(zip(a, b)):
                walk(x, y, f"{at}[{i}]")
        elif a != b:
            out.append(f"{at}: pinned {json.dumps(a)[:80]}, now {json.dumps(b)[:80]}")

    walk(pinned, now, where)
    return out


def pin(work: Path) -> dict[str, Any]:
    """Train the golden runs and pin their numbers for this platform at this numbers version (others dropped)."""
    made = {"numbers_version": code_version.NUMBERS_VERSION, "platform": platform_key(), **compute(work)}
    version, here = made["numbers_version"], made["platform"]
    kept = [p for p in read_pins() if p["numbers_version"] == version and p["platform"] != here]
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_text(json.dumps({"about": __doc__.splitlines()[0], "pins": [*kept, made]}, indent=1) + "\n")
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pin", action="store_true", help="train the golden runs and pin their numbers here")
    args = parser.parse_args(argv)
    if not args.pin:
        parser.print_help()
        return 2
    with tempfile.TemporaryDirectory() as work:
        made = pin(Path(work))
    print(f"pinned numbers version {made['numbers_version']} on {made['platform']} in {GOLDEN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
