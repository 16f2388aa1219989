"""Milliseconds per training step of each weighting method, on this machine's CPU with one thread.

    python bench/methods.py --data ../shared/data                    # real MNIST
    python bench/methods.py --data ../shared/data --steps 40 --rounds 3 --out methods.json

Each method trains the suite's network (reconstruction on, the source's settings) from the same
start with the suite's own step (`Trainer.step`: forward, the method's backward, Adam, the method's
after-step hook), on batches of 256 real training images in one fixed order, at one PyTorch thread
(as the sweeps run). A round times `--steps` steps of every method after two untimed warm-up steps,
the methods one after another; the rounds repeat that so that every method sees the machine's load
over the whole run, and the table gives the median of the rounds' ms per step. The gradient
methods need a backward pass per task and a host-side solver; the loss-weighting ones one backward.
On a shared machine the numbers are noisy: compare methods measured in the same call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402

from mtl_uncertainty.data.splits import load_data  # noqa: E402
from mtl_uncertainty.runs.resume import prepare  # noqa: E402
from mtl_uncertainty.runs.session import open_session  # noqa: E402
from mtl_uncertainty.training.trainer import Trainer  # noqa: E402

METHODS = [
    "fixed",
    "learnable",
    "gradnorm",
    "famo",
    "pcgrad",
    "mgda_ub",
    "cagrad",
    "nash_mtl",
    "imtl_g",
    "aligned_mtl",
    "upgrad",
]


def trainer(data_root: str, method: str, loaded=None) -> tuple[Trainer, object]:
    """The suite's trainer of one run of `method` on the CPU (seed 0), and the data it trains on."""
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="config",
            overrides=[f"data.root={data_root}", "device=cpu", f"weighting={method}", "logger.tensorboard=false"],
        )
    loaded = loaded or load_data(cfg, torch.device("cpu"))
    out, identity, _ = prepare(cfg, Path(tempfile.mkdtemp(prefix="bench-methods-")))
    session = open_session(cfg, out, identity, loaded, torch.device("cpu"), time.perf_counter())
    session.release()
    t = session.trainer
    for name, value in t.weighting.epoch_buffers(1, []).items():
        getattr(t.weighting, name).copy_(value)
    return t, loaded


def time_steps(t: Trainer, order: torch.Tensor, first: int, steps: int) -> float:
    """Seconds per step of `steps` steps, from batch `first` of `order` on."""
    batch = t.batch_size
    t0 = time.perf_counter()
    for k in range(first, first + steps):
        i = k % t.steps_per_epoch
        t.step(order[i * batch : (i + 1) * batch], torch.tensor(i))
    return (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="root holding MNIST/raw/")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per method and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    methods = args.methods.split(",")
    trainers, loaded = {}, None
    for m in methods:
        trainers[m], loaded = trainer(args.data, m, loaded)
    order = torch.randperm(len(loaded.train), generator=torch.Generator().manual_seed(0))
    per_round: dict[str, list[float]] = {m: [] for m in methods}
    for m in methods:
        time_steps(trainers[m], order, 0, 2)  # warm-up: first-call costs (solver set-up, allocations)
    for r in range(args.rounds):
        for m in methods:
            per_round[m].append(time_steps(trainers[m], order, 2 + r * args.steps, args.steps) * 1e3)
        print(f"  round {r + 1}: " + ", ".join(f"{m} {per_round[m][-1]:.1f}" for m in methods), flush=True)
    median = {m: statistics.median(v) for m, v in per_round.items()}
    base = median.get("fixed")
    print(f"\nms per training step, batch 256, 1 thread, median of {args.rounds} rounds of {args.steps} steps:\n")
    print("| method | ms per step | × fixed |\n|---|---|---|")
    for m in methods:
        ratio = f"{median[m] / base:.1f}" if base else "—"
        print(f"| `{m}` | {median[m]:.1f} | {ratio} |")
    if args.out:
        args.out.write_text(json.dumps({"ms_per_step": median, "rounds": per_round, "steps": args.steps}, indent=1))


if __name__ == "__main__":
    main()
