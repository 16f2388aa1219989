"""An MLflow run per job (logger=mlflow), through MLflow's own client; `pip install -e ".[mlflow]"`.

Each job is an MLflow run of its own in logger.mlflow.experiment, also when several are trained as one
stack: its parameters are the run's hyperparameters, its tags the run's identity (config_hash, data_hash,
numbers_version, job_dir), each epoch logs the epoch's metrics at the epoch's last step, and the end logs
the final metrics and the weighting's trajectory summary and the status tag. The run id is kept in the
job's checkpoint, so a resumed job continues the same MLflow run.
"""

from __future__ import annotations

import time
from typing import Any

from ...config import MlflowConfig
from .base import EpochLog, RunInfo, end_summary, finite_only, flat

BATCH = {"metrics": 1000, "params": 100}  # MLflow's limits per log_batch call


class MlflowLog:
    name = "mlflow"

    def __init__(self, settings: MlflowConfig, info: RunInfo) -> None:
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=settings.tracking_uri)
        run_id = info.run_ids.get(self.name)
        if run_id is not None:
            try:
                self.client.update_run(run_id, status="RUNNING")
            except MlflowException:  # deleted, or another tracking server now: start a new run
                run_id = None
        if run_id is None:
            tags = {k: str(v) for k, v in info.identity.items()}
            run = self.client.create_run(_experiment(self.client, settings.experiment), run_name=info.name, tags=tags)
            run_id = run.info.run_id
            self._params(run_id, info.params)
        self.run_id: str | None = run_id
        self._step = 0
        self._ended = False

    def _params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, "null" if v is None else str(v)) for k, v in flat(params).items()]
        for i in range(0, len(items), BATCH["params"]):
            self.client.log_batch(run_id, params=items[i : i + BATCH["params"]])

    def _metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, v, now, step) for k, v in values.items()]
        for i in range(0, len(items), BATCH["metrics"]):
            self.client.log_batch(self.run_id, metrics=items[i : i + BATCH["metrics"]])

    def epoch(self, log: EpochLog) -> None:
        if log.metrics is not None:
            self._step = int(log.metrics["step"])
            self._metrics(finite_only(log.metrics), self._step)

    def end(self, result: dict[str, Any]) -> None:
        self._metrics(finite_only(end_summary(result)), self._step)
        self.client.set_tag(self.run_id, "status", result["status"])
        self.client.set_terminated(self.run_id, status="FINISHED")
        self._ended = True

    def close(self) -> None:
        if not self._ended:
            self.client.set_terminated(self.run_id, status="FAILED")


def _experiment(client: Any, name: str) -> str:
    """The id of the experiment `name`, created when missing (another process may create it at the same time)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        return client.get_experiment_by_name(name).experiment_id
