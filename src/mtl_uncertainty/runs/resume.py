"""Deciding what a run still has to do: nothing (a whole result for the same run), or all of it.

Two runs are the same run when their config hashes (everything that changes what is computed),
their data hashes (which files they computed from) and their numbers versions (which code computed
them: code_version) are equal. A result.json is trusted only if it is whole
(`result_schema.problems`) and of the same run; anything else is set aside beside it
(`result.<why>-<hash>.json`, `result.numbers-<version>.json`), never deleted, and the run is trained again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from .. import code_version
from ..config import ConfigError, config_hash, to_plain, validate
from ..data.splits import data_identity, training_images
from ..storage import result_schema
from ..storage.atomic import set_aside
from ..storage.reading import UnreadableFile, read_json
from ..storage.result_schema import RESULT_FILE
from ..tasks import active_tasks, task_names
from .checkpoint import CHECKPOINT_FILE, pending_refusal
from .folder import prepare_output_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunIdentity:
    """What makes two runs the same run."""

    config_hash: str
    data: dict[str, Any]  # data.data_identity: the files and their hash
    code: dict[str, Any]  # code_version.current(): the numbers version, and the source for information

    @property
    def data_hash(self) -> str:
        return self.data["hash"]

    @property
    def numbers_version(self) -> int:
        return self.code["numbers_version"]

    @property
    def key(self) -> tuple[str, str, int]:
        """As storage.result_schema.run_identity reads it from a result: the one definition of the same run."""
        return self.config_hash, self.data_hash, self.numbers_version

    def as_dict(self) -> dict[str, Any]:
        """What a checkpoint must carry to be this run's: the hashes, the numbers version and the source."""
        return {"config_hash": self.config_hash, "data_hash": self.data_hash, "code": self.code}


def identity_of(cfg: DictConfig) -> RunIdentity:
    return RunIdentity(config_hash(cfg), data_identity(cfg), code_version.current())


def expected_shape(cfg: DictConfig) -> dict[str, Any]:
    """What a whole result of `cfg` holds: its epochs, active tasks and evaluation splits."""
    return result_schema.expected_shape(to_plain(cfg), task_names(active_tasks(cfg.recon)))


def _rejection(result: Any, cfg: DictConfig, identity: RunIdentity) -> tuple[str | None, str] | None:
    """Why `result` is not this run's finished result: (its set-aside tag, or None to leave it; why); None if it is."""
    if wrong := result_schema.type_problems(result):  # before any field is used: every field of its type
        return "invalid", f"is not a result of a run ({'; '.join(wrong)})"
    if result.get("status") == "failed":
        return None, "records a failure"  # a failed run is trained again; its record is overwritten
    if "config_hash" not in result:
        return "invalid", "holds no result of a run"
    if result_schema.run_identity(result) != identity.key:
        return _other_run(result, identity)
    if problems := result_schema.problems(result, **expected_shape(cfg)):
        return "invalid", f"is not a whole result ({'; '.join(problems)})"
    return None


def _other_run(result: dict[str, Any], identity: RunIdentity) -> tuple[str, str]:
    """Which part of the run's identity `result` differs in: (its set-aside tag, why)."""
    if result["config_hash"] != identity.config_hash:
        return f"stale-{result['config_hash']}", "is from another config"
    if (old := (result.get("data") or {}).get("hash")) != identity.data_hash:
        return f"otherdata-{old}", "was computed on other data"
    version = result_schema.numbers_version(result)
    return f"numbers-{version}", (
        f"was computed by code of numbers version {version}, and this code computes version "
        f"{identity.numbers_version} (code_version.NUMBERS_VERSION): the run is trained again by this code"
    )


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
    if (rejection := _rejection(result, cfg, identity)) is None:
        return result
    tag, why = rejection
    if tag is not None:
        aside = set_aside(path, tag)
        log.warning("%s %s; set aside as %s", path, why, aside)
    return None


def read_back(out_dir: Path, cfg: DictConfig, identity: RunIdentity) -> dict[str, Any] | None:
    """The run's finished result in `out_dir`, read without writing anything (a read-only folder will do)."""
    try:
        result = read_json(out_dir / RESULT_FILE)
    except (OSError, UnreadableFile):
        return None
    return result if _rejection(result, cfg, identity) is None else None


def refused_resumption(cfg: DictConfig, out_dir: str | Path) -> str | None:
    """Why `run` would refuse to resume the run in `out_dir` (its checkpoint is of other source code, and
    `resume.other_source` is refuse), or None; writes nothing."""
    if cfg.resume.other_source != "refuse":
        return None
    identity = identity_of(cfg)
    if read_back(Path(out_dir), cfg, identity) is not None:
        return None
    return pending_refusal(Path(out_dir) / CHECKPOINT_FILE, identity.as_dict(), cfg.train.epochs)


def check_fits(cfg: DictConfig) -> None:
    """Refuse a validation split or a batch the run's training images cannot hold, before any folder is made."""
    n_train = training_images(cfg)
    if cfg.data.val_size >= n_train:
        raise ConfigError(
            f"data.val_size={cfg.data.val_size} leaves no training images of the {n_train} under "
            f"{cfg.data.root}; use a validation split smaller than {n_train}. Nothing was run."
        )
    if cfg.train.batch_size > n_train - cfg.data.val_size:
        raise ConfigError(
            f"train.batch_size={cfg.train.batch_size} is larger than the {n_train - cfg.data.val_size} training "
            f"images under {cfg.data.root}; use a batch size of at most {n_train - cfg.data.val_size}. "
            "Nothing was run."
        )


_CHECKED: set[str] = set()
"""The configs this process has checked (check_job), as YAML: a job is checked once, wherever it enters."""


def check_job(cfg: DictConfig) -> None:
    """Check one job once per process: its values (config.validate), its data (fetched, verified) and that the
    validation split and the batch fit in its training images. The sweep's preflight and the runner both ask;
    the second asking of the same config is free."""
    key = OmegaConf.to_yaml(cfg)
    if key in _CHECKED:
        return
    validate(cfg)
    data_identity(cfg)
    check_fits(cfg)
    _CHECKED.add(key)


def prepare(cfg: DictConfig, out_dir: str | Path) -> tuple[Path, RunIdentity, dict[str, Any] | None]:
    """Check the config, the data and the folder; (folder, the run's identity, its result if already over).

    A finished run is read back even from a folder this process cannot write; a run that would be
    refused creates no folder.
    """
    check_job(cfg)
    identity = identity_of(cfg)
    done = read_back(Path(out_dir), cfg, identity)
    if done is None:
        out_dir = prepare_output_dir(out_dir)
        done = finished_result(out_dir, cfg, identity)
    if done is not None:
        log.info("%s: already %s, nothing to do", out_dir, done["status"])
    return Path(out_dir), identity, done
