"""Schema-1 result.json files in the layout of schema 2, so that sweeps from before the change still report.

Schema 1 kept s, sigma and weight at the top of `trajectory` (and s, weight in each epoch of
`history`); schema 2 keeps every recorded value under `values`, with `labels`, and records the
active and trained tasks, the data's identity and the job folder. Only the layout is converted:
no value is computed.
"""

from __future__ import annotations

import copy
from typing import Any

OLD_VALUES = ("s", "sigma", "weight")
LABELS = {"s": "s = log σ²", "sigma": "σ = exp(s/2)", "weight": "effective weight on L_i"}


def _pop_all(node: dict[str, Any]) -> dict[str, Any]:
    """Remove and return the schema-1 value fields of `node`."""
    return {name: node.pop(name) for name in OLD_VALUES if name in node}


def _upgrade_trajectory(traj: dict[str, Any]) -> dict[str, Any]:
    values = {name: v for name, v in _pop_all(traj).items() if v is not None}
    initial = {name: v for name, v in (traj.get("initial") or {}).items() if v is not None}
    traj["values"] = values
    traj["labels"] = {name: LABELS[name] for name in values}
    traj["initial"] = initial
    return traj


def upgrade(result: dict[str, Any]) -> dict[str, Any]:
    """A schema-2 layout of a schema-1 result (a copy); any other result is returned as it is."""
    if result.get("schema") != 1:
        return result
    new = copy.deepcopy(result)
    traj = new.get("trajectory")
    if isinstance(traj, dict):
        _upgrade_trajectory(traj)
    for epoch in new.get("history") or []:
        if isinstance(epoch, dict):
            epoch["values"] = {name: v for name, v in _pop_all(epoch).items() if v is not None}
    tasks = list((traj or {}).get("tasks") or [])
    new.setdefault("tasks", {"active": tasks, "trained": tasks})
    new.setdefault("data", {"hash": None})
    new.setdefault("job_dir", None)
    return new
