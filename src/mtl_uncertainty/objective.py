"""The validation objective that tuning maximises (torch-free: the report selects with it too)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

DEFAULT = "mean"
"""The mean over the active tasks of the classifiers' accuracy and the reconstruction MSE with its sign flipped."""

SIGN = {"acc_cls3": +1.0, "acc_cls10": +1.0, "loss_cls3": -1.0, "loss_cls10": -1.0, "loss_recon": -1.0}
"""Each metric's direction: +1 where higher is better."""

TASK_METRIC = {"cls3": "acc_cls3", "cls10": "acc_cls10", "recon": "loss_recon"}


def objective(metrics: Mapping[str, Any], tasks: Sequence[str], key: str = DEFAULT) -> float:
    """Higher is better: the mean of ±metric over `tasks` (`key`="mean"), or one metric with its sign (e.g. acc_cls10).

    NaN when a metric it needs is missing or not finite.
    """
    names = [TASK_METRIC[t] for t in tasks] if key == DEFAULT else [key]
    values = []
    for name in names:
        value = metrics.get(name)
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return math.nan
        values.append(SIGN[name] * value)
    return sum(values) / len(values)
