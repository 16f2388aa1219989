"""Where a run's time goes: the training step by op, evaluation, bookkeeping and start-up.

    python bench/profile_run.py --data ../shared/data                # one thread, 1-epoch run + op tables
    python bench/profile_run.py --data ../shared/data --steps 60 --epochs 1

First a whole run through the CLI (`src/train.py`), timed from outside, with the split its
result.json records (start-up, training, evaluation, bookkeeping); then torch.profiler over
`--steps` training steps and one evaluation of the test split, printed as tables of ops by their
own CPU time. Numbers are the machine's of the moment: say what else was running beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from bench import machine, suite_session  # noqa: E402
from mtl_uncertainty.training.devices import keep_freed_memory  # noqa: E402


def whole_run(data: str, epochs: int, threads: int) -> dict:
    """One run through the CLI: the process's wall time and the timings its result.json records."""
    out = Path(tempfile.mkdtemp(prefix="profile-run-"))
    args = [f"data.root={data}", f"train.epochs={epochs}", f"speed.threads={threads}", "logger.tensorboard=false"]
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, str(ROOT / "src" / "train.py"), *args, f"hydra.run.dir={out}"],
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    wall = time.perf_counter() - t0
    timings = json.loads((out / "result.json").read_text())["timings"]
    return {"process_wall_s": wall, **{k: timings[k] for k in ("startup_s", "train_s", "eval_s", "bookkeeping_s")}}


def op_table(prof: profile, rows: int) -> str:
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="root holding MNIST/raw/")
    parser.add_argument("--epochs", type=int, default=1, help="epochs of the whole run (0: skip it)")
    parser.add_argument("--steps", type=int, default=40, help="training steps under the profiler")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=25, help="ops per table")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as a run does
    device = torch.device("cpu")
    print(machine(device))
    if args.epochs:
        run = whole_run(args.data, args.epochs, args.threads)
        print(f"\nwhole run, {args.epochs} epoch(s), {args.threads} thread(s):")
        for key, value in run.items():
            print(f"  {key:<16} {value:8.2f}")
        print(
            f"  {'other_s':<16} {run['process_wall_s'] - sum(v for k, v in run.items() if k != 'process_wall_s'):8.2f}"
        )
    session, data = suite_session(args.data, device, f"speed.threads={args.threads}")
    trainer = session.trainer
    order = torch.randperm(len(trainer.train), generator=torch.Generator().manual_seed(0))
    batches = [order[i * trainer.batch_size : (i + 1) * trainer.batch_size] for i in range(args.steps + 5)]
    for i in range(5):  # warm-up: oneDNN primitives, allocator
        trainer.step(batches[i], trainer._step_index[i])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for i in range(5, args.steps + 5):
            trainer.step(batches[i], trainer._step_index[i])
        step_s = (time.perf_counter() - t0) / args.steps
    print(f"\ntraining step, {args.steps} steps of {trainer.batch_size}: {step_s * 1e3:.1f} ms a step (profiled)")
    print(op_table(prof, args.rows))
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        trainer.evaluate(data.test, session.cfg.train.eval_batch_size)
        eval_s = time.perf_counter() - t0
    print(f"\nevaluation of the test split ({len(data.test)} images): {eval_s:.2f} s (profiled)")
    print(op_table(prof, args.rows))


if __name__ == "__main__":
    main()
