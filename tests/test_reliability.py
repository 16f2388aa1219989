"""Reliability: killed sweeps resume to the same numbers, failures and divergence are recorded,
and bad input is refused with a clear message before anything is written."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mtl_uncertainty.run import run
from tests.conftest import REPO, TRAIN, compose_cfg, real_idx, run_cli, tiny_overrides, write_synthetic_mnist

FAULT = "MTL_UNCERTAINTY_FAULT"


def sweep_args(root: Path, sweep: Path) -> list[str]:
    """A 2-run sweep of 2 epochs × 4 steps on synthetic data."""
    return ["-m", "weighting=learnable,fixed", *tiny_overrides(root), "train.epochs=2", f"hydra.sweep.dir={sweep}"]


def results(sweep: Path) -> dict[str, dict]:
    return {str(p.parent.relative_to(sweep)): json.loads(p.read_text()) for p in sorted(sweep.rglob("result.json"))}


def numbers(result: dict) -> dict:
    """What must not change when a run is interrupted and resumed."""
    return {
        "status": result["status"],
        "final": result["final"],
        "history": [{k: h[k] for k in ("epoch", "step", "train", "test", "values")} for h in result["history"]],
        "trajectory": result["trajectory"],
    }


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> dict[str, dict]:
    """The uninterrupted sweep."""
    sweep = tmp_path_factory.mktemp("reference") / "sweep"
    proc = run_cli(*sweep_args(synthetic_root, sweep))
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = results(sweep)
    assert len(found) == 2
    return found


KILL_POINTS = {
    "during the first epoch of the first run": "step@3",
    "during a run, after its first checkpoint": "step@6",
    "during the second run": "step@13",
    "between runs": "run_start@2",
    "while writing a checkpoint": "checkpoint_tmp@2",
    "while writing the first result.json": "result_tmp@1",
    "while writing the last result.json": "result_tmp@2",
}


@pytest.mark.slow
@pytest.mark.parametrize("fault", list(KILL_POINTS.values()), ids=list(KILL_POINTS))
def test_a_sweep_killed_anywhere_resumes_to_the_uninterrupted_numbers(
    tmp_path: Path, synthetic_root: Path, reference: dict[str, dict], fault: str
) -> None:
    sweep = tmp_path / "sweep"
    killed = run_cli(*sweep_args(synthetic_root, sweep), env={FAULT: fault})
    assert killed.returncode == -signal.SIGKILL
    assert len(results(sweep)) < 2
    resumed = run_cli(*sweep_args(synthetic_root, sweep))
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    found = results(sweep)
    assert sorted(found) == sorted(reference)
    for name, result in found.items():
        assert numbers(result) == numbers(reference[name]), name
    assert not [p for p in sweep.rglob("*.tmp")], "a half-written file was left behind"


@pytest.mark.slow
def test_a_sweep_killed_from_outside_resumes_and_finished_runs_are_skipped(
    tmp_path: Path, synthetic_root: Path, reference: dict[str, dict]
) -> None:
    sweep = tmp_path / "sweep"
    args = [*sweep_args(synthetic_root, sweep)]
    proc = subprocess.Popen(
        [sys.executable, str(TRAIN), *args], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 300
    while not results(sweep) and time.time() < deadline:  # kill once the first run has finished
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first = results(sweep)
    assert len(first) >= 1
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    found = results(sweep)
    assert {k: numbers(v) for k, v in found.items()} == {k: numbers(v) for k, v in reference.items()}
    for name, result in first.items():
        assert found[name]["finished_at"] == result["finished_at"], "a finished run was run again"


@pytest.mark.slow
def test_the_same_command_again_finishes_a_killed_sweep_in_its_own_timestamped_folder(
    tmp_path: Path, synthetic_root: Path, reference: dict[str, dict]
) -> None:
    """No hydra.sweep.dir: the repeated command resumes the newest unfinished sweep it started under multirun/."""
    args = ["-m", "weighting=learnable,fixed", *tiny_overrides(synthetic_root), "train.epochs=2"]
    killed = run_cli(*args, cwd=tmp_path, env={FAULT: "step@6"})
    assert killed.returncode == -signal.SIGKILL
    (sweep,) = (tmp_path / "multirun").iterdir()
    resumed = run_cli(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert list((tmp_path / "multirun").iterdir()) == [sweep], "the same command started a new sweep"
    assert f"Resuming the unfinished sweep {Path('multirun') / sweep.name}" in resumed.stderr
    found = results(sweep)
    assert {k: numbers(v) for k, v in found.items()} == {k: numbers(v) for k, v in reference.items()}
    assert any(r["resumed_at_epochs"] for r in found.values()), "no run continued from its checkpoint"
    again = run_cli(*args, cwd=tmp_path)  # that sweep has finished: the same command starts a new one
    assert again.returncode == 0, again.stderr[-2000:]
    assert len(list((tmp_path / "multirun").iterdir())) == 2 and "Resuming" not in again.stderr


def test_only_an_unfinished_sweep_of_the_same_overrides_is_resumed_and_a_given_folder_wins(tmp_path: Path) -> None:
    from mtl_uncertainty.ops.unfinished import UNFINISHED_MARK, unfinished_sweep

    def sweep(name: str, task: list[str], unfinished: bool, hydra: tuple[str, ...] = ("hydra.mode=MULTIRUN",)) -> Path:
        folder = tmp_path / "multirun" / name
        folder.mkdir(parents=True)
        (folder / "multirun.yaml").write_text(json.dumps({"hydra": {"overrides": {"hydra": hydra, "task": task}}}))
        if unfinished:
            (folder / UNFINISHED_MARK).write_text("")
        return folder

    killed = sweep("2026-12-01_10-00-00", ["weighting=learnable,fixed", "seed=0"], unfinished=True)
    sweep("2026-12-01_11-00-00", ["weighting=learnable,fixed", "seed=1"], unfinished=False)
    sweeps = tmp_path / "multirun"
    assert unfinished_sweep(["weighting=learnable,fixed", "seed=0"], sweeps) == killed
    assert unfinished_sweep(["seed=0", "weighting=learnable,fixed"], sweeps) == killed
    assert unfinished_sweep(["weighting=learnable,fixed", "seed=1"], sweeps) is None  # that one finished
    assert unfinished_sweep(["weighting=learnable", "seed=0"], sweeps) is None  # another command
    assert unfinished_sweep(["weighting=learnable,fixed", "seed=0", "hydra.sweep.dir=x"], sweeps) is None
    assert unfinished_sweep(["weighting=learnable,fixed", "seed=0", "hydra.launcher.stack=on"], sweeps) is None


@pytest.mark.slow
def test_a_diverged_run_is_marked_and_the_rest_of_the_sweep_completes(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0,1,2", *tiny_overrides(synthetic_root), "train.epochs=2", f"hydra.sweep.dir={sweep}"]
    proc = run_cli(*args, env={FAULT: "nan@6:seed=1"})
    assert proc.returncode == 3
    assert "2 completed, 1 diverged, 0 failed" in proc.stderr and "seed=1 (see 'divergence'" in proc.stderr
    found = results(sweep)
    statuses = {name.split("/")[-1]: r["status"] for name, r in found.items()}
    assert statuses == {"seed=0": "completed", "seed=1": "diverged", "seed=2": "completed"}
    bad = next(r for n, r in found.items() if n.endswith("seed=1"))
    assert bad["divergence"]["step"] == 6 and bad["divergence"]["epoch"] == 2
    assert bad["divergence"]["losses"]["loss_total"] == "nan"
    assert set(bad["divergence"]["values"]["s"]) == {"cls3", "cls10", "recon"}
    assert all(isinstance(v, float) for v in bad["divergence"]["values"]["s"].values())
    assert bad["final"] is None and len(bad["history"]) == 1
    again = run_cli(*args)  # a diverged run is over: running the sweep again changes nothing
    assert again.returncode == 3 and results(sweep) == found


@pytest.mark.slow
def test_failed_runs_are_recorded_and_all_named_at_the_end(tmp_path: Path, synthetic_root: Path) -> None:
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=0,1,2", *tiny_overrides(synthetic_root), f"hydra.sweep.dir={sweep}"]
    proc = run_cli(*args, env={FAULT: "error@2:seed=0,error@3:seed=2"})
    assert proc.returncode == 1
    assert "1 completed, 0 diverged, 2 failed" in proc.stderr
    assert "seed=0: InjectedFault" in proc.stderr and "seed=2: InjectedFault" in proc.stderr
    assert (sweep / "report" / "report.md").exists()  # the report is most needed when something failed
    found = {name.split("/")[-1]: r for name, r in results(sweep).items()}
    assert {k: r["status"] for k, r in found.items()} == {"seed=0": "failed", "seed=1": "completed", "seed=2": "failed"}
    error = found["seed=2"]["error"]
    assert error["type"] == "InjectedFault" and "step 3" in error["message"]
    assert any("train_epoch" in line for line in error["traceback"])
    retry = run_cli(*args)  # without the fault: the failed runs run again, the finished one is skipped
    assert retry.returncode == 0, retry.stderr[-2000:]
    assert {r["status"] for r in results(sweep).values()} == {"completed"}
    assert (
        results(sweep)[next(n for n in results(sweep) if n.endswith("seed=1"))]["finished_at"]
        == (found["seed=1"]["finished_at"])
    )


def test_a_changed_config_is_run_again_not_mixed(tmp_path: Path, synthetic_root: Path) -> None:
    first = run(compose_cfg(*tiny_overrides(synthetic_root)), tmp_path)
    changed = run(compose_cfg(*tiny_overrides(synthetic_root), "train.lr=0.01"), tmp_path)
    assert changed["config_hash"] != first["config_hash"]
    assert changed["final"] != first["final"]
    stale = list(tmp_path.glob("result.stale-*.json"))
    assert len(stale) == 1 and json.loads(stale[0].read_text())["config_hash"] == first["config_hash"]
    assert json.loads((tmp_path / "result.json").read_text())["config_hash"] == changed["config_hash"]


def test_a_complete_run_is_not_run_again(tmp_path: Path, synthetic_root: Path) -> None:
    cfg = compose_cfg(*tiny_overrides(synthetic_root))
    first = run(cfg, tmp_path)
    assert run(cfg, tmp_path)["finished_at"] == first["finished_at"]


def _corrupt_real_labels(root: Path, shared_mnist: Path) -> list[str]:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        data = bytearray(real_idx(shared_mnist, name))
        if name == "t10k-labels-idx1-ubyte":
            data[100] = (data[100] + 1) % 10
        (raw / name).write_bytes(bytes(data))
    return [f"data.root={root}", "data.download=false"]


def _synthetic(root: Path, damage: str) -> list[str]:
    write_synthetic_mnist(root)
    path = root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    data = path.read_bytes()
    path.write_bytes({"magic": b"\x00\x00\x08\x01" + data[4:], "truncated": data[:-500]}.get(damage, b""))
    if damage in ("missing", "a folder where a file must be"):
        path.unlink()
    if damage == "a folder where a file must be":
        path.mkdir()
    return [f"data.root={root}", "data.verify=false", "data.download=false"]


def _file_for_a_folder(tmp_path: Path, case: str) -> list[str]:
    """data.root with a file (tmp_path/file) where a folder must be; fetching on, so it would be tried."""
    root = {
        "data.root is a file": tmp_path / "file",
        "data.root inside a file": tmp_path / "file" / "data",
        "raw folder is a file": tmp_path / "data",
    }[case]
    if case == "raw folder is a file":
        (root / "MNIST").mkdir(parents=True)
        (root / "MNIST" / "raw").write_text("")
    return [f"data.root={root}", "data.download=true"]


BAD_INPUTS = [
    # (id, overrides, expected words in the message)
    ("unknown weighting", ["weighting=bogus"], "Could not find 'weighting/bogus'"),
    ("unknown sigma_init", ["sigma_init=gaussian"], "Could not find 'sigma_init/gaussian'"),
    ("a mistyped weighting", ["weighting=learnabel"], "did you mean `weighting=learnable`"),
    ("a mistyped option in a sweep", ["weighting=fixed,learnabel"], "'weighting/learnabel' (did you mean"),
    ("a mistyped preset", ["+experiment=cor"], "did you mean `+experiment=core`"),
    ("unknown key", ["train.momentum=0.9"], "Key 'momentum' not in 'TrainConfig'"),
    (
        "unknown key of a weighting",
        ["weighting.temperature=2"],
        "Key 'temperature' not in 'UncertaintyConfig'",
    ),
    ("added unknown key", ["+train.momentum=0.9"], "train.momentum is not a setting of this suite"),
    ("wrong type", ["train.epochs=ten"], "could not be converted to Integer"),
    ("wrong type of a bool", ["recon=maybe"], "is not a valid bool"),
    ("zero epochs", ["train.epochs=0"], "train.epochs=0 trains nothing"),
    ("negative epochs", ["train.epochs=-3"], "train.epochs=-3 trains nothing"),
    ("zero lr", ["train.lr=0"], "train.lr=0.0 is not a positive number"),
    ("negative lr", ["train.lr=-0.001"], "train.lr=-0.001 is not a positive number"),
    ("lr of s", ["weighting.lr=-1"], "weighting.lr=-1.0 is not a positive number"),
    ("zero batch", ["train.batch_size=0"], "train.batch_size=0 is not between 1"),
    ("batch above MNIST", ["train.batch_size=60001"], "train.batch_size=60001 is not between 1"),
    ("uniform low above high", ["sigma_init.low=1.5", "sigma_init.high=0.5"], "low above high"),
    ("negative fixed weight", ["weighting=fixed", "weighting.weights.recon=-1"], "weights.recon=-1.0 is a negative"),
    ("negative seed", ["seed=-1"], "seed=-1 is negative"),
    ("unknown device", ["device=tpu"], "device=tpu is not a device"),
    ("a device index that is not a number", ["device=cuda:abc"], "device=cuda:abc is not a device"),
    ("a GPU that is not there", ["device=cuda:7"], "device=cuda:7"),
    ("an initial s that overflows", ["sigma_init=constant", "sigma_init.value=1e6"], "sigma_init.value=1000000.0"),
    ("a validation split above MNIST", ["data.val_size=60000"], "data.val_size=60000 is not between 0"),
    ("a validation split above the data", ["data.val_size=600"], "data.val_size=600 leaves no training images"),
    ("a method setting with no value", ["weighting=single"], "weighting.task has no value"),
    ("a single task that is off", ["weighting=single_recon", "recon=false"], "trains a task that recon=false"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("overrides", "message"), [b[1:] for b in BAD_INPUTS], ids=[b[0] for b in BAD_INPUTS])
@pytest.mark.parametrize("mode", ["run", "sweep"])
def test_bad_config_is_refused_before_anything_is_written(
    tmp_path: Path, synthetic_root: Path, overrides: list[str], message: str, mode: str
) -> None:
    out = tmp_path / "out"
    where = ["-m", f"hydra.sweep.dir={out}"] if mode == "sweep" else ["--", f"hydra.run.dir={out}"]
    proc = run_cli(where[0], *tiny_overrides(synthetic_root), *overrides, where[1])
    assert proc.returncode == 1
    assert message in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not out.exists(), "a refused run or sweep wrote its folder (multirun.yaml, .hydra, ...)"


def _assert_refused(tmp_path: Path, args: list[str], message: str, out: Path) -> None:
    """One run and a sweep with `args` both exit 1 with `message` alone, before any result is written."""
    for flag, where in (("-m", f"hydra.sweep.dir={out}"), ("--", f"hydra.run.dir={out}")):
        proc = run_cli(flag, *args, "device=cpu", where)
        assert proc.returncode == 1
        assert message in proc.stderr, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        assert not list(tmp_path.rglob("result.json"))


BAD_DATA = [
    # (case, expected words in the message; {tmp} is the test's folder)
    ("missing", "missing: train-images-idx3-ubyte"),
    ("magic", "magic number is 2049, expected 2051"),
    ("truncated", "(truncated?)"),
    ("a folder where a file must be", "train-images-idx3-ubyte is not usable: it is not a regular file"),
    ("data.root is a file", "data.root={tmp}/file is a file, not a folder; pass data.root=DIR"),
    ("data.root inside a file", "data.root={tmp}/file/data cannot hold MNIST: {tmp}/file is a file, not a folder"),
    ("raw folder is a file", "cannot hold MNIST: {tmp}/data/MNIST/raw is a file, not a folder"),
    ("data.root under a missing folder", "data.root={tmp}/missing/mnist does not exist, and neither does its parent"),
    ("batch above the data", "train.batch_size=1000 is larger than the 512 training images"),
    ("unwritable output", "Cannot write results to"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("case", "message"), BAD_DATA, ids=[case for case, _ in BAD_DATA])
def test_bad_data_or_output_folder_is_refused_before_anything_is_written(
    tmp_path: Path, synthetic_root: Path, case: str, message: str
) -> None:
    (tmp_path / "file").write_text("")
    if case in ("missing", "magic", "truncated", "a folder where a file must be"):
        data = _synthetic(tmp_path / "data", case)
    elif case in ("data.root is a file", "data.root inside a file", "raw folder is a file"):
        data = _file_for_a_folder(tmp_path, case)
    elif case == "data.root under a missing folder":  # fetching on: nothing may be created or fetched there
        data = [f"data.root={tmp_path / 'missing' / 'mnist'}", "data.download=true"]
    else:
        data = [f"data.root={synthetic_root}", "data.verify=false", "data.download=false"]
    out = tmp_path / ("file/out" if case == "unwritable output" else "out")
    extra = ["train.batch_size=1000"] if case == "batch above the data" else []
    _assert_refused(tmp_path, [*data, *extra], message.format(tmp=tmp_path), out)
    assert os.path.exists(tmp_path / "file")
    assert not os.path.exists(tmp_path / "missing")


@pytest.mark.slow
def test_bad_data_with_a_wrong_checksum_is_refused_before_anything_is_written(
    tmp_path: Path, shared_mnist: Path
) -> None:
    data = _corrupt_real_labels(tmp_path / "data", shared_mnist)
    message = "t10k-labels-idx1-ubyte is not usable: its sha256 is"
    _assert_refused(tmp_path, data, message, tmp_path / "out")


def _default_sigint() -> None:
    """In the child: Ctrl-C's default, which a shell's `&` or nohup leaves ignored for the whole test run."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


STOPS = [
    # (id, signal, exit status, the paragraph's first words)
    ("ctrl-c", signal.SIGINT, 130, "Interrupted."),
    ("sigterm, as a scheduler's preemption", signal.SIGTERM, 143, "Stopped by SIGTERM."),
]


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "status", "opening"), [s[1:] for s in STOPS], ids=[s[0] for s in STOPS])
def test_ctrl_c_or_sigterm_says_what_was_kept_and_how_to_resume_and_exits_128_plus_the_signal(
    tmp_path: Path, synthetic_root: Path, sig: signal.Signals, status: int, opening: str
) -> None:
    """The signal while the second run of a sweep trains: one paragraph, no traceback; the same command resumes."""
    sweep = tmp_path / "sweep"
    tiny = [o for o in tiny_overrides(synthetic_root) if not o.startswith("train.epochs=")]
    args = [sys.executable, str(TRAIN), "-m", "train.epochs=1,12", *tiny, f"hydra.sweep.dir={sweep}"]
    env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", FAULT)}
    proc = subprocess.Popen(
        args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint
    )
    finished, unfinished = (sweep / "train.batch_size=128" / f"train.epochs={n}" for n in (1, 12))
    deadline = time.monotonic() + 300
    while not (unfinished / "checkpoint.pt").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == status, err[-3000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err and "Terminated" not in err
    paragraph = err.strip().splitlines()[-1]
    assert paragraph.startswith(opening) and f"in {sweep}" in paragraph
    assert "each unfinished run up to its last finished epoch" in paragraph and str(TRAIN) in paragraph
    assert (finished / "result.json").exists() and not (unfinished / "result.json").exists()
    done = json.loads((finished / "result.json").read_text())
    again = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((finished / "result.json").read_text())["finished_at"] == done["finished_at"]
    resumed = json.loads((unfinished / "result.json").read_text())
    assert resumed["status"] == "completed" and resumed["resumed_at_epochs"][0] >= 1
