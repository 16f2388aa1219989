"""Typed configuration: the schema Hydra checks every run against, and the checks of values.

Hydra rejects unknown options, unknown keys and wrong types while composing (before any job
runs); `validate` rejects impossible values with one paragraph that names the problem and the fix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from .errors import InputError
from .objective import DEFAULT as DEFAULT_OBJECTIVE
from .objective import SIGN
from .storage.result_schema import ADDED_CONFIG_KEYS
from .weighting import SIGMA_INITS, WEIGHTINGS
from .weighting.base import float32_holds
from .weighting.initial import sigma_init_problems


@dataclass
class TrainConfig:
    """Optimisation; the defaults are the source's."""

    epochs: int = 10  # passes over the 60,000 training images
    batch_size: int = 256  # the last, partial batch of an epoch is kept, as in the source
    lr: float = 1e-4  # Adam learning rate of the network
    adam_eps: float = 1e-7  # Keras's Adam epsilon (PyTorch's default is 1e-8)
    eval_batch_size: int = 500  # batch size for evaluation only; does not change any metric


class ModelInit(str, Enum):
    keras = "keras"  # Glorot-uniform weights and zero biases, as the source's Keras layers
    torch = "torch"  # PyTorch's default initialisation


class OutputBias(str, Enum):
    zero = "zero"  # as the init leaves it (Keras: zero), the source's
    mean = "mean"  # atanh(mean training pixel): the decoder predicts the mean pixel before its first step


@dataclass
class ModelConfig:
    init: ModelInit = ModelInit.keras
    output_bias: OutputBias = OutputBias.zero  # the decoder's last bias (see model.build_model)


@dataclass
class DatasetConfig:
    """Which images and labels: one YAML per dataset in conf/dataset/ (part of a run's identity)."""

    name: str = MISSING  # mnist | fashion_mnist (the facts: src/mtl_uncertainty/data/datasets.py)
    coarse_labels: list[int] = MISSING  # the 3-class task's class (0, 1, 2) of each of the 10 classes
    coarse_names: list[str] = MISSING  # names of the 3 classes, for reports


@dataclass
class DataConfig:
    root: str = "data"  # holds MNIST/raw/ and FashionMNIST/raw/; relative paths start at the launch directory
    download: bool = True  # fetch the dataset when it is missing (see data/sources.py for each one's sources)
    verify: bool = True  # check the files against the dataset's known content hashes
    val_size: int = 0  # the last N training images (file order) become a validation split; 0: none


@dataclass
class RecordConfig:
    trajectory_every: int = 1  # record s, σ, weights and task losses every this many steps


WANDB_MODES = ("online", "offline", "disabled")


@dataclass
class WandbConfig:
    """A Weights & Biases run per job (logger=wandb; pip install -e ".[wandb]"), made with wandb.init."""

    project: str = "mtl-uncertainty"  # the W&B project the runs go to
    entity: str | None = None  # the W&B user or team; null: your default entity
    mode: str | None = None  # online | offline (files only; upload later with wandb sync) | disabled; null: WANDB_MODE,
    # else online
    dir: str | None = None  # where W&B keeps its files (a wandb/ folder inside); null: WANDB_DIR, else the job folder
    group: str | None = None  # groups runs in the W&B UI (e.g. a study's name); null: none
    tags: list[str] = field(default_factory=list)  # tags of every run


@dataclass
class MlflowConfig:
    """An MLflow run per job (logger=mlflow; pip install -e ".[mlflow]"), made with MlflowClient."""

    tracking_uri: str | None = None  # e.g. http://host:5000, sqlite:///mlflow.db, file:./mlruns; null:
    # MLFLOW_TRACKING_URI, else MLflow's default (MLflow 3 refuses a file: store unless MLFLOW_ALLOW_FILE_STORE=true)
    experiment: str = "mtl-uncertainty"  # the experiment the runs go to (created when missing)


@dataclass
class LoggerConfig:
    """What a run shows and logs besides result.json; changes no result (not hashed).

    The trackers are the options of the logger group (conf/logger/): logger=tensorboard (the default),
    logger=csv, logger=[tensorboard,csv,wandb,mlflow] for several; each option switches its key on.
    """

    tensorboard: bool = False  # TensorBoard events and hparams in the job folder: tensorboard --logdir multirun/<sweep>
    csv: bool = False  # metrics.csv in the job folder: a row per epoch, its metrics and the weighting's values
    wandb: WandbConfig | None = None  # a W&B run per job; null: none
    mlflow: MlflowConfig | None = None  # an MLflow run per job; null: none
    progress: str = "auto"  # auto: a progress bar on a terminal, log lines otherwise | bar | log
    heartbeat_s: float = 60.0  # without a bar: a log line every this many seconds while a run trains (0: none)


@dataclass
class SpeedConfig:
    """How fast, not what: these change results by float rounding at most (precision excepted, see its field)."""

    channels_last: bool | None = None  # NHWC memory layout; null: on for CPU (faster there), off for CUDA
    cuda_graph: bool = True  # replay each training step as a CUDA graph (CUDA only)
    cudnn_benchmark: bool = True  # let cuDNN time its convolution algorithms once (CUDA only; before graph capture)
    precision: str = "fp32"  # fp32 | bf16: autocast to bfloat16 (CPUs with AVX512-BF16 or AMX, GPUs with bf16) |
    # tf32: TF32 matmuls and convolutions (NVIDIA GPUs from Ampere on). Unlike the rest of speed it changes the
    # numbers beyond float rounding, so it is part of the run's identity (hashed unless fp32) and the report's cells
    threads: int | None = None  # PyTorch CPU threads of a run; null: the cores other work leaves free (runnable
    # threads now), shared by the runs a launcher runs at once (joblib's n_jobs), at least 1; logged when chosen


@dataclass
class TuneConfig:
    """What a tuning sweeper (hydra/sweeper=optuna) maximises; changes no result."""

    objective: str = "mean"  # mean: the active tasks' validation accuracy, −MSE for reconstruction, averaged;
    # or one validation metric: acc_cls3 | acc_cls10 | loss_cls3 | loss_cls10 | loss_recon (losses negated)


@dataclass
class ReportConfig:
    """The question a study declares before its runs, for its report; changes no result (not hashed)."""

    baseline: str | None = None  # the row every other row is compared with, as the report's --baseline (e.g.
    # weighting=fixed, or best:weighting=fixed: the fixed row best on validation); null: the report's default
    primary: list[str] | None = None  # the rows (selectors, e.g. weighting=learnable) whose comparisons with the
    # baseline are the study's question: Holm's correction over these alone, the others exploratory; null: all


OTHER_SOURCE = ("refuse", "restart", "continue")


@dataclass
class ResumeConfig:
    """What a run does with a checkpoint that other source code wrote at this numbers version; changes no result."""

    other_source: str = "refuse"  # refuse: train nothing, saying why and how to go on | restart: set the checkpoint
    # aside and train from scratch | continue: resume it (the change is known to keep the numbers; recorded per segment)


@dataclass
class Config:
    """One run of the experiment."""

    dataset: DatasetConfig = MISSING  # group: mnist | fashion_mnist
    weighting: Any = MISSING  # group: one YAML per option in conf/weighting/ (learnable, fixed, single, ...)
    sigma_init: Any = MISSING  # group: uniform | constant
    recon: bool = True  # add the reconstruction task to the two classification tasks
    seed: int = 0  # seeds the weights, the initial s and the data order
    device: str = "auto"  # auto (cuda when available, else cpu) | cpu | cuda | cuda:N
    train: TrainConfig = field(default_factory=TrainConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    record: RecordConfig = field(default_factory=RecordConfig)
    speed: SpeedConfig = field(default_factory=SpeedConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    tune: TuneConfig = field(default_factory=TuneConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    resume: ResumeConfig = field(default_factory=ResumeConfig)


def register_configs() -> None:
    """Put the schemas in Hydra's ConfigStore; the YAML files in conf/ build on them."""
    cs = ConfigStore.instance()
    cs.store(group="schema", name="config", node=Config)
    cs.store(group="schema", name="dataset", node=DatasetConfig)
    for name, weighting in WEIGHTINGS.items():
        cs.store(group="schema/weighting", name=name, node=weighting.config_class)
    for name, init in SIGMA_INITS.items():
        cs.store(group="schema/sigma_init", name=name, node=init)


MNIST_TRAIN_SIZE = 60_000
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")

_NOT_HASHED = ("data.root", "data.download", "data.verify", "speed", "logger", "tune", "report", "resume")
"""Config entries that say where inputs live, how fast to compute and what to show, not what is
computed; left out of the hash, so a run can resume with other such settings. Which files the
data are and which code computes them are parts of a run's identity of their own (data.data_identity,
code_version.NUMBERS_VERSION)."""
HASHED_WITHIN = {"speed": ("precision",)}
"""Entries of an unhashed section that are hashed all the same: the arithmetic a run computes in."""
PRECISIONS = ("fp32", "bf16", "tf32")


class ConfigError(InputError):
    """A configuration value that cannot work; the message names the problem and the fix."""


def _unknown_keys(node: Any, schema: type, prefix: str = "") -> list[str]:
    """Keys in `node` that `schema` (a dataclass) does not have, e.g. ones added with +key=value."""
    known = {f.name for f in dataclasses.fields(schema)}
    nested = {f.name: f.default_factory for f in dataclasses.fields(schema)}
    out = []
    for key in node:
        if key not in known:
            out.append(f"{prefix}{key}")
        elif dataclasses.is_dataclass(factory := nested[key]) and isinstance(node[key], DictConfig):
            out += _unknown_keys(node[key], factory, f"{prefix}{key}.")
    return out


def _positive(x: float) -> bool:
    """A positive number the run's 32-bit tensors hold as itself (not flushed to 0, not infinite)."""
    return math.isfinite(x) and x > 0 and float32_holds(x)


def _problems(cfg: DictConfig) -> list[str]:
    """Each impossible value in `cfg`, as 'what is wrong; how to fix it'."""
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        return [f"{key} has no value; set it on the command line ({key}=...)" for key in missing]
    t, w, s = cfg.train, cfg.weighting, cfg.sigma_init
    method = WEIGHTINGS[w.name]
    extra = _unknown_keys(cfg, Config)
    extra += _unknown_keys(w, method.config_class, "weighting.")
    extra += _unknown_keys(s, SIGMA_INITS[s.name], "sigma_init.")
    checks = [(False, f"{key} is not a setting of this suite (added with +{key}=...?); remove it") for key in extra]
    checks += [
        (t.epochs >= 1, f"train.epochs={t.epochs} trains nothing; use 1 or more (the source: 10)"),
        (
            1 <= t.batch_size <= MNIST_TRAIN_SIZE,
            f"train.batch_size={t.batch_size} is not between 1 and the {MNIST_TRAIN_SIZE:,} training "
            "images; use a batch size in that range (the source: 256)",
        ),
        (t.eval_batch_size >= 1, f"train.eval_batch_size={t.eval_batch_size} is below 1; use 1 or more"),
        (
            _positive(t.lr),
            f"train.lr={t.lr} is not a positive number a 32-bit tensor holds; use e.g. 1e-4 (the source's)",
        ),
        (
            _positive(t.adam_eps),
            f"train.adam_eps={t.adam_eps} is not a positive number a 32-bit tensor holds; use e.g. 1e-7 (Keras's)",
        ),
        (cfg.seed >= 0, f"seed={cfg.seed} is negative; use a seed of 0 or more"),
        (
            0 <= cfg.data.val_size < MNIST_TRAIN_SIZE,
            f"data.val_size={cfg.data.val_size} is not between 0 and the {MNIST_TRAIN_SIZE:,} training images; "
            "use 0 (no validation split) or e.g. 10000",
        ),
        (
            cfg.record.trajectory_every >= 1,
            f"record.trajectory_every={cfg.record.trajectory_every} is below 1; record every N ≥ 1 steps",
        ),
        (
            cfg.speed.precision in PRECISIONS,
            f"speed.precision={cfg.speed.precision} is not a precision; use {', '.join(PRECISIONS)}",
        ),
        (
            cfg.speed.threads is None or cfg.speed.threads >= 1,
            f"speed.threads={cfg.speed.threads} is below 1; use 1 or more, or null for the default",
        ),
        (
            cfg.tune.objective == DEFAULT_OBJECTIVE or cfg.tune.objective in SIGN,
            f"tune.objective={cfg.tune.objective} is not an objective; use {DEFAULT_OBJECTIVE} or one of "
            + ", ".join(SIGN),
        ),
        (
            math.isfinite(cfg.logger.heartbeat_s) and cfg.logger.heartbeat_s >= 0,
            f"logger.heartbeat_s={cfg.logger.heartbeat_s} is negative or not finite; use 0 (none) or more",
        ),
        (
            cfg.logger.progress in ("auto", "bar", "log"),
            f"logger.progress={cfg.logger.progress} is not a progress display; use auto, bar or log",
        ),
        (
            cfg.logger.wandb is None or cfg.logger.wandb.mode in (None, *WANDB_MODES),
            f"logger.wandb.mode={(cfg.logger.wandb or {}).get('mode')} is not a W&B mode; use "
            + ", ".join(WANDB_MODES),
        ),
        (
            cfg.resume.other_source in OTHER_SOURCE,
            f"resume.other_source={cfg.resume.other_source} is not a choice; use {', '.join(OTHER_SOURCE)}",
        ),
        *(
            (
                cfg.logger[name] is None or importlib.util.find_spec(name) is not None,
                f"logger={name} needs the {name} package, which is not installed here; install it with "
                f'pip install -e ".[{name}]" (or pip install {name}), or leave {name} out of logger=[...]',
            )
            for name in ("wandb", "mlflow")
        ),
        (
            DEVICE_PATTERN.fullmatch(cfg.device) is not None,
            f"device={cfg.device} is not a device this suite runs on; use auto, cpu, cuda or cuda:N",
        ),
    ]
    problems = [message for ok, message in checks if not ok]
    problems += _dataset_problems(cfg.dataset)
    if not extra:
        problems += method.problems(w, cfg) + sigma_init_problems(s)
    return problems


def _dataset_problems(d: DictConfig) -> list[str]:
    from .data.datasets import DATASETS

    if d.name not in DATASETS:
        return [f"dataset.name={d.name} is not a dataset this suite knows; use one of {', '.join(DATASETS)}"]
    labels = list(d.coarse_labels)
    if len(labels) != 10 or set(labels) != {0, 1, 2} or len(d.coarse_names) != 3:
        return [
            f"dataset.coarse_labels={labels} must give each of the 10 classes a class 0, 1 or 2, each used, "
            "with 3 coarse_names; see conf/dataset/"
        ]
    return []


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError naming every impossible value in `cfg` and how to fix it."""
    problems = _problems(cfg)
    if problems:
        raise ConfigError(
            "Invalid configuration: " + "; ".join(problems) + ". Nothing was run; "
            "change the value on the command line (key=value) or in conf/."
        )


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain JSON-ready data (enums as their names)."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # type: ignore[return-value]


def hashed_config(cfg: DictConfig) -> dict[str, Any]:
    """Everything in `cfg` that changes what a run computes (its hyperparameters), as plain data."""
    plain = to_plain(cfg)
    kept = {head: {k: plain[head][k] for k in keys if k in plain.get(head, {})} for head, keys in HASHED_WITHIN.items()}
    for key in _NOT_HASHED:
        head, _, tail = key.partition(".")
        (plain[head] if tail else plain).pop(tail or head, None)
    plain.update({head: values for head, values in kept.items() if values})
    for key, before in ADDED_CONFIG_KEYS.items():
        head, _, tail = key.partition(".")
        if plain.get(head, {}).get(tail) == before:
            del plain[head][tail]
            if head in HASHED_WITHIN and not plain[head]:  # a section hashed only for this key: as before it
                del plain[head]
    return plain


def config_hash(cfg: DictConfig) -> str:
    """A short, stable hash of everything in `cfg` that changes what a run computes."""
    text = json.dumps(hashed_config(cfg), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


register_configs()
