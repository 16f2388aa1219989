"""The logger group: csv, TensorBoard's hparams, W&B (offline) and MLflow (file store), each read back."""

from __future__ import annotations

import csv
import json
import logging
import struct
from pathlib import Path
from typing import Any

import pytest

from mtl_uncertainty import faults
from mtl_uncertainty.config import ConfigError, config_hash, validate
from mtl_uncertainty.ops.overrides import unknown_options
from mtl_uncertainty.run import run, run_many
from tests.conftest import CONF, compose_cfg, run_cli, tiny_overrides

TWO_EPOCHS = "train.epochs=2"  # 512 synthetic images, batches of 128: 4 steps an epoch, epochs end at steps 4 and 8


def rows(job: Path) -> list[dict[str, str]]:
    with (job / "metrics.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def event_files(job: Path) -> list[Path]:
    return list(job.glob("events.out.tfevents.*"))


def fail_in_epoch_two(monkeypatch: pytest.MonkeyPatch, cfg: Any, job: Path) -> None:
    """Train `cfg` into `job` until an exception at step 6 (epoch 2; the checkpoint holds epoch 1)."""
    monkeypatch.setattr(faults, "_SPEC", ["error@6:seed=0"])  # as MTL_UNCERTAINTY_FAULT=error@6:seed=0 would
    with pytest.raises(faults.InjectedFault):
        run(cfg, job)
    monkeypatch.setattr(faults, "_SPEC", [])


def test_the_logger_group_changes_no_config_hash_and_presets_keep_tensorboard_off() -> None:
    default = compose_cfg()
    assert default.logger.tensorboard and not default.logger.csv and default.logger.wandb is None
    several = compose_cfg("logger=[tensorboard,csv,wandb,mlflow]")
    assert several.logger.tensorboard and several.logger.csv
    assert several.logger.wandb.project == several.logger.mlflow.experiment == "mtl-uncertainty"
    assert not compose_cfg("logger=csv").logger.tensorboard
    assert config_hash(default) == config_hash(several) == config_hash(compose_cfg("logger=csv"))
    core = compose_cfg("+experiment=core")
    assert not core.logger.tensorboard and config_hash(core) == config_hash(compose_cfg("+experiment=core", "~logger"))


def test_a_tracker_whose_library_is_missing_is_refused_saying_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[wandb\]"'):
        validate(compose_cfg("logger=[csv,wandb]", "data.root=/x"))


def test_a_list_of_loggers_is_checked_option_by_option() -> None:
    assert unknown_options(["logger=[tensorboard,csv]"], CONF) is None
    message = unknown_options(["logger=[tensorboard,wandbb]"], CONF)
    assert "'logger/wandbb'" in message and "logger=wandb" in message and "tensorboard'" not in message
    with pytest.raises(ConfigError, match=r"logger\.wandb\.mode=onlin is not a W&B mode"):
        validate(compose_cfg("logger=wandb", "logger.wandb.mode=onlin"))


def test_csv_holds_a_row_per_epoch_with_its_metrics_and_the_weightings_values(
    tmp_path: Path, synthetic_root: Path
) -> None:
    result = run(compose_cfg(*tiny_overrides(synthetic_root), TWO_EPOCHS, "logger=csv"), tmp_path)
    logged = rows(tmp_path)
    assert [(r["epoch"], r["step"]) for r in logged] == [("1", "4"), ("2", "8")]
    for row, entry in zip(logged, result["history"]):
        assert row["config_hash"] == result["config_hash"]
        assert float(row["test/acc_cls10"]) == pytest.approx(entry["test"]["acc_cls10"])
        assert float(row["train/loss_total"]) == pytest.approx(entry["train"]["loss_total"])
        for name in ("s", "sigma", "weight"):
            assert float(row[f"weighting/{name}_recon"]) == pytest.approx(entry["values"][name]["recon"])
    assert not event_files(tmp_path)  # logger=csv alone: no TensorBoard


def test_a_resumed_csv_keeps_the_rows_to_its_checkpoint_and_drops_later_ones(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = compose_cfg(*tiny_overrides(synthetic_root), TWO_EPOCHS, "logger=csv")
    fail_in_epoch_two(monkeypatch, cfg, tmp_path)
    (first,) = rows(tmp_path)
    with (tmp_path / "metrics.csv").open("a") as f:  # as a process killed after logging epoch 2, before its checkpoint
        f.write(",".join(["x", "2", "8"] + ["0"] * (len(first) - 3)) + "\n")
    result = run(cfg, tmp_path)
    assert result["resumed_at_epochs"] == [1]
    logged = rows(tmp_path)
    assert [r["epoch"] for r in logged] == ["1", "2"] and logged[0] == first
    assert float(logged[1]["test/acc_cls10"]) == pytest.approx(result["history"][1]["test"]["acc_cls10"])


def test_a_tracker_that_fails_is_left_out_and_the_run_goes_on(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from mtl_uncertainty.runs.trackers.csv_log import CsvLog

    def server_gone(self: CsvLog, log: Any) -> None:
        raise ConnectionError("the tracking server went away")

    monkeypatch.setattr(CsvLog, "epoch", server_gone)
    with caplog.at_level(logging.ERROR):
        result = run(compose_cfg(*tiny_overrides(synthetic_root), TWO_EPOCHS, "logger=[tensorboard,csv]"), tmp_path)
    assert result["status"] == "completed" and len(result["history"]) == 2
    assert caplog.text.count("could not log epoch 1 to csv (ConnectionError: the tracking server went away)") == 1
    assert "epoch 2 to csv" not in caplog.text  # left out after its first failure
    assert event_files(tmp_path)  # the other tracker goes on


def test_tensorboard_shows_the_hyperparameters_and_the_end(tmp_path: Path, synthetic_root: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import api_pb2, metadata

    result = run(compose_cfg(*tiny_overrides(synthetic_root), "train.lr=0.001"), tmp_path)
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    content = events.PluginTagToContent(metadata.PLUGIN_NAME)
    start = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    assert start.hparams["config_hash"].string_value == result["config_hash"]
    assert start.hparams["train.lr"].number_value == pytest.approx(0.001)
    assert start.hparams["weighting.name"].string_value == "learnable"
    assert "logger.csv" not in start.hparams  # the hyperparameters are what the config hash covers
    end = metadata.parse_session_end_info_plugin_data(content[metadata.SESSION_END_INFO_TAG])
    assert end.status == api_pb2.STATUS_SUCCESS


# W&B offline: a run's records are a LevelDB-style log of protobuf `Record`s (wandb's own format).
WANDB_HEADER, BLOCK, FULL, FIRST, LAST = 7, 32768, 1, 2, 4


def wandb_records(path: Path) -> list[Any]:
    """Every record of an offline run's .wandb file, parsed with wandb's own protobuf classes."""
    from wandb.proto import wandb_internal_pb2

    data, pos, records, pending = path.read_bytes(), WANDB_HEADER, [], b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        if BLOCK - pos % BLOCK < 7:  # a block's tail too short for a header is padding
            pos += BLOCK - pos % BLOCK
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:
            continue
        pending = chunk if kind in (FULL, FIRST) else pending + chunk
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
    return records


def _items(items: Any) -> dict[str, Any]:
    """W&B's key/value items (a config, summary or history update) as a dict; a nested key joined with '/'."""
    return {item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in items}


def wandb_runs(root: Path) -> dict[str, dict[str, Any]]:
    """Per W&B run id: its history rows by step, its config and summary (every segment of a resumed run)."""
    runs: dict[str, dict[str, Any]] = {}
    for path in sorted(root.rglob("run-*.wandb")):
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                entry = runs.setdefault(record.run.run_id, {"history": {}, "config": {}, "summary": {}, "segments": 0})
                entry["segments"] += 1
                entry["name"] = record.run.display_name
                entry["config"] |= _items(record.run.config.update)
            elif kind == "history":
                entry["history"][record.history.step.num] = _items(record.history.item)
            elif kind in ("config", "summary"):
                entry[kind] |= _items(getattr(record, kind).update)
    return runs


@pytest.fixture
def wandb_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pytest.importorskip("wandb")
    root = tmp_path / "wandb_dir"
    root.mkdir()
    for key, value in {"WANDB_DIR": str(root), "WANDB_SILENT": "true", "WANDB_MODE": "offline"}.items():
        monkeypatch.setenv(key, value)
    return root


@pytest.fixture
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 keeps the file store behind this flag
    return (tmp_path / "mlruns").as_uri()


def mlflow_runs(uri: str) -> list[Any]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("mtl-uncertainty")
    return client, client.search_runs([experiment.experiment_id])


def assert_epochs_logged(history: dict[int, dict[str, Any]], result: dict[str, Any]) -> None:
    for entry in result["history"]:
        row = history[entry["step"]]
        assert row["epoch"] == entry["epoch"]
        assert row["test/acc_cls10"] == pytest.approx(entry["test"]["acc_cls10"])
        assert row["weighting/s_cls10"] == pytest.approx(entry["values"]["s"]["cls10"])


def test_wandb_offline_logs_each_epoch_and_a_resumed_run_continues_the_same_run(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, wandb_offline: Path
) -> None:
    cfg = compose_cfg(*tiny_overrides(synthetic_root), TWO_EPOCHS, "logger=wandb", "logger.wandb.mode=offline")
    job = tmp_path / "weighting=learnable"
    fail_in_epoch_two(monkeypatch, cfg, job)
    result = run(cfg, job)
    assert result["resumed_at_epochs"] == [1]
    (logged,) = wandb_runs(wandb_offline).values()  # one W&B run, in two segments
    assert logged["segments"] == 2 and logged["name"] == "weighting=learnable"
    assert_epochs_logged(logged["history"], result)
    assert logged["config"]["config_hash"] == result["config_hash"]
    assert logged["config"]["train"]["lr"] == pytest.approx(1e-4)
    summary = logged["summary"]
    assert summary["status"] == "completed"
    assert summary["final/test/acc_cls10"] == pytest.approx(result["final"]["test"]["acc_cls10"])
    assert summary["trajectory/s_cls10/final"] == pytest.approx(result["trajectory"]["values"]["s"]["cls10"][-1])
    assert not event_files(job)


def test_mlflow_logs_parameters_identity_and_each_epoch_and_a_resumed_run_continues_it(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, mlflow_store: str
) -> None:
    cfg = compose_cfg(
        *tiny_overrides(synthetic_root), TWO_EPOCHS, "logger=mlflow", f"logger.mlflow.tracking_uri={mlflow_store}"
    )
    fail_in_epoch_two(monkeypatch, cfg, tmp_path / "job")
    result = run(cfg, tmp_path / "job")
    client, (logged,) = mlflow_runs(mlflow_store)  # one MLflow run, continued
    assert logged.info.status == "FINISHED" and logged.data.tags["status"] == "completed"
    assert logged.data.tags["config_hash"] == result["config_hash"]
    assert logged.data.params["train.lr"] == "0.0001" and logged.data.params["weighting.name"] == "learnable"
    history = client.get_metric_history(logged.info.run_id, "test/acc_cls10")
    assert [m.step for m in history] == [4, 8]
    assert [m.value for m in history] == pytest.approx([e["test"]["acc_cls10"] for e in result["history"]])
    assert logged.data.metrics["final/test/acc_cls10"] == pytest.approx(result["final"]["test"]["acc_cls10"])
    assert logged.data.metrics["trajectory/sigma_recon/max"] == pytest.approx(
        max(result["trajectory"]["values"]["sigma"]["recon"])
    )


def test_stacked_runs_log_each_run_to_its_own_tracker_run(
    tmp_path: Path, synthetic_root: Path, wandb_offline: Path, mlflow_store: str
) -> None:
    loggers = ["logger=[csv,wandb,mlflow]", f"logger.mlflow.tracking_uri={mlflow_store}"]
    cfgs = [compose_cfg(*tiny_overrides(synthetic_root), TWO_EPOCHS, *loggers, f"seed={seed}") for seed in (0, 1)]
    jobs = [tmp_path / f"seed={seed}" for seed in (0, 1)]
    results = run_many(cfgs, jobs)
    assert [r["timings"]["stack_size"] for r in results] == [2, 2]
    assert results[0]["config_hash"] != results[1]["config_hash"]
    by_name = {r["name"]: r for r in wandb_runs(wandb_offline).values()}
    _, logged = mlflow_runs(mlflow_store)
    by_hash = {r.data.tags["config_hash"]: r for r in logged}
    for job, result in zip(jobs, results):
        assert [float(r["test/acc_cls10"]) for r in rows(job)] == pytest.approx(
            [e["test"]["acc_cls10"] for e in result["history"]]
        )
        assert_epochs_logged(by_name[job.name]["history"], result)
        assert by_hash[result["config_hash"]].data.metrics["test/acc_cls10"] == pytest.approx(
            result["history"][-1]["test"]["acc_cls10"]
        )


@pytest.mark.slow
def test_the_command_line_logs_to_csv_wandb_and_mlflow_at_once(
    tmp_path: Path, synthetic_root: Path, wandb_offline: Path, mlflow_store: str
) -> None:
    job = tmp_path / "run"
    proc = run_cli(
        *tiny_overrides(synthetic_root),
        "logger=[tensorboard,csv,wandb,mlflow]",
        "logger.wandb.mode=offline",
        f"logger.mlflow.tracking_uri={mlflow_store}",
        f"hydra.run.dir={job}",
        env={"WANDB_DIR": str(wandb_offline), "MLFLOW_ALLOW_FILE_STORE": "true", "WANDB_SILENT": "true"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((job / "result.json").read_text())
    accuracy = result["final"]["test"]["acc_cls10"]
    assert float(rows(job)[-1]["test/acc_cls10"]) == pytest.approx(accuracy)
    assert event_files(job)
    (logged,) = wandb_runs(wandb_offline).values()
    assert logged["summary"]["final/test/acc_cls10"] == pytest.approx(accuracy)
    _, (mlflow_run,) = mlflow_runs(mlflow_store)
    assert mlflow_run.data.metrics["final/test/acc_cls10"] == pytest.approx(accuracy)
