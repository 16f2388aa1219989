"""Speed of the suite against a naive port of the source, side by side in one process.

    python bench/bench.py --data ../shared/data                 # CPU, or the GPU when there is one
    python bench/bench.py --data ../shared/data --rounds 5
    python bench/bench.py --data ../shared/data --sweep         # GPU: also the 40-run sweep, one 10-epoch run

Each round trains one epoch (235 steps of 256 images) with the naive port (bench/naive_port.py:
DataLoader, `.item()` every step), one with the suite's trainer in fp32 and, where the CPU has
bf16 (AVX512-BF16 or AMX) or on a GPU, one in speed.precision=bf16 (autocast), then times a 1024² sgemm, all in
turn so that each sees the same machine load. It prints ms per step, images per second, the
ratios (median over rounds) and the step's floor: its FLOPs (forward and backward, counted) at the
sgemm's rate, the fastest the step could be if every FLOP ran as fast as a large matrix product.
The process keeps freed memory for reuse, as the suite's runs do (training.devices.keep_freed_memory);
the naive port, trained in the same process, gains from that too.
On a GPU it also checks that the fast paths (CUDA graphs, stacked runs) reach the metrics of the
plain sequential path, and with --sweep times the researcher's real job end to end.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "bench")]

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from omegaconf import DictConfig  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import naive_port  # noqa: E402
from mtl_uncertainty.data.datasets import read  # noqa: E402
from mtl_uncertainty.data.splits import Data, data_files, dataset_facts, load_data  # noqa: E402
from mtl_uncertainty.runs.resume import prepare  # noqa: E402
from mtl_uncertainty.runs.session import Session, open_session  # noqa: E402
from mtl_uncertainty.training.devices import (  # noqa: E402
    keep_freed_memory,
    precision_problem,
    resolve_device,
    uses_cuda_graphs,
)
from mtl_uncertainty.training.stacked import StackedTrainer  # noqa: E402

SWEEP = ["weighting=learnable,fixed", "recon=true,false", "seed=range(10)"]


def config(*overrides: str) -> DictConfig:
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def machine(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, torch {torch.__version__}"
    cpu = platform.processor() or platform.machine()
    info = Path("/proc/cpuinfo")
    lines = info.read_text().splitlines() if info.exists() else []
    names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
    return f"{names[0] if names else cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def suite_session(data: str, device: torch.device, *overrides: str) -> tuple[Session, Data]:
    cfg = config(f"data.root={data}", f"device={device}", "logger.tensorboard=false", *overrides)
    loaded = load_data(cfg, device)
    out, identity, _ = prepare(cfg, Path(tempfile.mkdtemp(prefix="bench-")))
    session = open_session(cfg, out, identity, loaded, device, time.perf_counter())
    session.release()
    if uses_cuda_graphs(cfg, device, session.trainer.weighting.graphable):
        session.trainer.use_cuda_graphs()
    return session, loaded


def step_flops(session: Session) -> int:
    """FLOPs of one training step (forward and backward of a full batch), as torch's flop counter counts them."""
    trainer = session.trainer
    with FlopCounterMode(display=False) as counter:
        trainer.step(torch.arange(trainer.batch_size, device=trainer.train.images.device), trainer._step_index[0])
    return counter.get_total_flops()


def sgemm_gflops(device: torch.device, n: int = 1024, reps: int = 5) -> float:
    """The rate of an n² fp32 matrix product at this call's thread count (median of `reps`), in GFLOP/s."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b  # warm-up
    times = []
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        a @ b
        sync(device)
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times) / 1e9


def time_suite_epoch(session: Session, epoch: int, device: torch.device) -> float:
    """Seconds per step of one epoch of the suite's trainer (in its run's speed.precision)."""
    sync(device)
    t0 = time.perf_counter()
    session.trainer.train_epoch(epoch)  # ends by reading its metrics back: a full sync
    return (time.perf_counter() - t0) / session.trainer.steps_per_epoch


def time_epochs(data: str, device: torch.device, rounds: int) -> dict:
    cfg = config(f"data.root={data}")
    arrays = read(data_files(cfg), dataset_facts(cfg))
    images = torch.from_numpy(arrays["train-images-idx3-ubyte"].copy())
    labels = torch.from_numpy(arrays["train-labels-idx1-ubyte"].copy())
    session, _ = suite_session(data, device)
    bf16 = precision_problem("bf16", device) is None  # a CPU with AVX512-BF16 or AMX, a GPU with bf16
    bf16_session = suite_session(data, device, "speed.precision=bf16")[0] if bf16 else None
    steps = session.trainer.steps_per_epoch
    flops = step_flops(suite_session(data, device)[0])
    naive, suite, suite_bf16, gflops = [], [], [], []
    for r in range(1, rounds + 1):
        naive.append(naive_port.train(images, labels, device, steps, seed=r)["seconds"] / steps)
        suite.append(time_suite_epoch(session, r, device))
        line = f"  round {r}: naive {naive[-1] * 1e3:.2f} ms/step, suite fp32 {suite[-1] * 1e3:.2f}"
        if bf16_session is not None:
            suite_bf16.append(time_suite_epoch(bf16_session, r, device))
            line += f", suite bf16 autocast {suite_bf16[-1] * 1e3:.2f}"
        gflops.append(sgemm_gflops(device))
        print(f"{line} ms/step; sgemm {gflops[-1]:.1f} GFLOP/s", flush=True)
    n, s, g = statistics.median(naive), statistics.median(suite), statistics.median(gflops)
    floor = flops / (g * 1e9)
    out = {
        "steps_per_round": steps,
        "naive_ms_per_step": n * 1e3,
        "suite_ms_per_step": s * 1e3,
        "ratio": n / s,
        "step_gflop": flops / 1e9,
        "sgemm_gflops": g,
        "sgemm_gflops_rounds": gflops,
        "floor_ms_per_step": floor * 1e3,
        "suite_over_floor": s / floor,
    }
    if suite_bf16:
        b = statistics.median(suite_bf16)
        out |= {"suite_bf16_ms_per_step": b * 1e3, "ratio_bf16": n / b, "bf16_speedup_over_fp32": s / b}
    return out


def check_fast_paths(data: str, device: torch.device) -> dict:
    """One epoch three ways on the GPU: eager, CUDA graph, stacked + graph. Test metrics should agree."""
    out = {}
    for name, overrides in (("eager", ["speed.cuda_graph=false"]), ("cuda_graph", [])):
        session, loaded = suite_session(data, device, *overrides)
        session.trainer.train_epoch(1)
        out[name] = session.trainer.evaluate(loaded.test, 2000)
    test = loaded.test
    sessions = [suite_session(data, device, f"seed={s}")[0] for s in (0, 1, 2, 3)]
    stack = StackedTrainer([s.trainer for s in sessions])
    stack.use_cuda_graphs()
    stack.train_epoch(1)
    out["stacked"] = stack.evaluate(test, 2000)[0]  # seed 0, like the two above
    worst = max(abs(out[k][m] - out["eager"][m]) for k in ("cuda_graph", "stacked") for m in ("acc_cls3", "acc_cls10"))
    return {"metrics": out, "max_abs_accuracy_difference_vs_eager": worst}


def time_command(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "src" / "train.py"), *args], check=True, cwd=ROOT)
    return time.perf_counter() - t0


def sweep_timeline(sweep: Path, wall_s: float, report_s: float) -> dict:
    """Where the sweep's time went, from its result.json timings (each run's share of its stack's time)."""
    timings = [json.loads(p.read_text())["timings"] for p in sweep.rglob("result.json")]
    train = sum(t["train_s"] for t in timings)
    evaluation = sum(t["eval_s"] for t in timings)
    bookkeeping = sum(t.get("bookkeeping_s", 0.0) for t in timings)
    startup = max((t["startup_s"] for t in timings), default=0.0)
    stacks: dict[int, int] = {}
    for t in timings:
        stacks[t["stack_size"]] = stacks.get(t["stack_size"], 0) + 1
    busy = train + evaluation
    return {
        "wall_s": wall_s,
        "startup_and_data_s": startup,
        "train_s": train,
        "eval_s": evaluation,
        "bookkeeping_s": bookkeeping,
        "report_s": report_s,
        "other_s": wall_s - startup - busy - bookkeeping,
        "stacks": {f"{size} runs": count // size for size, count in sorted(stacks.items())},
        "device_idle_share": max(0.0, 1 - busy / wall_s) if wall_s else None,
    }


def time_sweeps(data: str) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    one = time_command([f"data.root={data}", f"hydra.run.dir={tmp / 'one'}"])
    train_s = json.loads((tmp / "one" / "result.json").read_text())["timings"]["train_s"]
    sweep = tmp / "sweep"
    sweep_s = time_command(["-m", *SWEEP, f"data.root={data}", f"hydra.sweep.dir={sweep}"])
    t0 = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "analysis" / "report.py"), str(sweep)], check=True, cwd=ROOT)
    report_s = time.perf_counter() - t0
    return {
        "one_run_command_s": one,
        "one_run_train_s": train_s,
        "sweep_40_runs_s": sweep_s,
        "sweep_results": len(list(sweep.rglob("result.json"))),
        "timeline": sweep_timeline(sweep, sweep_s, report_s),
    }


def print_timeline(t: dict) -> None:
    print("\nwhere the sweep's time went (s; train, eval and bookkeeping summed over stacks):")
    for key in ("wall_s", "startup_and_data_s", "train_s", "eval_s", "bookkeeping_s", "other_s", "report_s"):
        print(f"  {key:<20} {t[key]:8.2f}")
    print(f"  stacks               {t['stacks']}")
    print(f"  device idle share    {t['device_idle_share']:.0%} (1 − (train + eval) / wall)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="root holding MNIST/raw/")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sweep", action="store_true", help="GPU: time the 40-run sweep and one 10-epoch run")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    device = resolve_device(args.device)
    keep_freed_memory()  # as the suite's runs do; the naive port, in this process too, gains from it as well
    report: dict = {"machine": machine(device), "device": str(device)}
    print(f"{report['machine']}\nepochs of 235 steps, batch 256, naive port and suite alternating:")
    report["epochs"] = e = time_epochs(args.data, device, args.rounds)
    rows = [("naive port", e["naive_ms_per_step"]), ("suite, fp32", e["suite_ms_per_step"])]
    if "suite_bf16_ms_per_step" in e:
        rows.append(("suite, bf16 autocast", e["suite_bf16_ms_per_step"]))
    rows.append((f"floor: {e['step_gflop']:.2f} GFLOP at the sgemm's {e['sgemm_gflops']:.1f} GFLOP/s", None))
    print("\n| way of training | ms per step | images per second |\n|---|---|---|")
    for name, ms in rows:
        ms = e["floor_ms_per_step"] if ms is None else ms
        print(f"| {name} | {ms:.2f} | {256e3 / ms:,.0f} |")
    print(f"\nsuite fp32 / naive throughput: {e['ratio']:.2f}x (median of {args.rounds} rounds)")
    if "ratio_bf16" in e:
        print(f"suite bf16 / naive throughput: {e['ratio_bf16']:.2f}x; bf16 / fp32: {e['bf16_speedup_over_fp32']:.2f}x")
    print(f"suite fp32 step / its floor: {e['suite_over_floor']:.2f}x")
    if device.type == "cuda":
        report["fast_paths"] = check = check_fast_paths(args.data, device)
        worst = check["max_abs_accuracy_difference_vs_eager"]
        print(f"fast paths vs eager, largest test-accuracy difference after 1 epoch: {worst:.4f}")
        if args.sweep:
            report["sweeps"] = s = time_sweeps(args.data)
            print(
                f"one 10-epoch run: {s['one_run_train_s']:.2f} s training ({s['one_run_command_s']:.1f} s command); "
                f"40-run sweep: {s['sweep_40_runs_s']:.1f} s from start to end, {s['sweep_results']} result files"
            )
            print_timeline(s["timeline"])
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
