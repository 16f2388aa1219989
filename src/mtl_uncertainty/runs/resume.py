"""Deciding what a run still has to do: nothing (a whole result for the same run), or all of it.

Two runs are the same run when their config hashes (everything that changes what is computed)
and their data hashes (which files they computed from) are equal. A result.json is trusted only
if it is whole (`result_schema.problems`) and of the same run; anything else is set aside beside
it (`result.<why>-<hash>.json`), never deleted, and the run is trained again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from ..config import config_hash, to_plain, validate
from ..data.splits import data_identity
from ..storage import result_schema
from ..storage.atomic import set_aside
from ..storage.reading import UnreadableFile, read_json
from ..storage.result_schema import RESULT_FILE
from ..tasks import active_tasks, task_names
from .folder import prepare_output_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunIdentity:
    """What makes two runs the same run."""

    config_hash: str
    data: dict[str, Any]  # data.data_identity: the files and their hash

    @property
    def data_hash(self) -> str:
        return self.data["hash"]

    def as_dict(self) -> dict[str, str]:
        return {"config_hash": self.config_hash, "data_hash": self.data_hash}


def identity_of(cfg: DictConfig) -> RunIdentity:
    return RunIdentity(config_hash(cfg), data_identity(cfg))


def expected_shape(cfg: DictConfig) -> dict[str, Any]:
    """What a whole result of `cfg` holds: its epochs, active tasks and evaluation splits."""
    return result_schema.expected_shape(to_plain(cfg), task_names(active_tasks(cfg.recon)))


def finished_result(out_dir: Path, cfg: DictConfig, identity: RunIdentity) -> dict[str, Any] | None:
    """The run's result if it is whole, over, and of this run; any other result.json is set aside."""
    path = out_dir / RESULT_FILE
    try:
        result = read_json(path)
    except FileNotFoundError:
        return None
    except UnreadableFile as e:
        log.warning("%s is unreadable (%s); set aside as %s", path, e, set_aside(path, "unreadable"))
        return None
    if wrong := result_schema.type_problems(result):  # before any field is used: every field of its type
        aside = set_aside(path, "invalid")
        log.warning("%s is not a result of a run (%s); set aside as %s", path, "; ".join(wrong), aside)
        return None
    if result.get("status") == "failed":
        return None  # a failed run is trained again; its record is overwritten
    if "config_hash" not in result:
        log.warning("%s holds no result of a run; set aside as %s", path, set_aside(path, "invalid"))
        return None
    if result.get("config_hash") != identity.config_hash:
        old = result.get("config_hash")
        log.warning("%s is from another config; set aside as %s", path, set_aside(path, f"stale-{old}"))
        return None
    if (result.get("data") or {}).get("hash") != identity.data_hash:
        old = (result.get("data") or {}).get("hash")
        log.warning("%s was computed on other data; set aside as %s", path, set_aside(path, f"otherdata-{old}"))
        return None
    if problems := result_schema.problems(result, **expected_shape(cfg)):
        log.warning(
            "%s is not a whole result (%s); set aside as %s", path, "; ".join(problems), set_aside(path, "invalid")
        )
        return None
    return result


def prepare(cfg: DictConfig, out_dir: str | Path) -> tuple[Path, RunIdentity, dict[str, Any] | None]:
    """Check the config, the data and the folder; (folder, the run's identity, its result if already over)."""
    validate(cfg)
    identity = identity_of(cfg)
    out_dir = prepare_output_dir(out_dir)
    done = finished_result(out_dir, cfg, identity)
    if done is not None:
        log.info("%s: already %s, nothing to do", out_dir, done["status"])
    return out_dir, identity, done
