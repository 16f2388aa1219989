"""The data of a run: device-resident splits, seeded batching by `randperm` slicing, and the
identity of the files the numbers were computed from."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from .datasets import DATASETS, DatasetFacts, read
from .sources import locate


@dataclass
class Split:
    """One split: images scaled to [-1, 1] (n, 1, 28, 28) and the labels of both classifiers."""

    images: Tensor
    y10: Tensor
    y3: Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(self, idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        return self.images[idx], self.y3[idx], self.y10[idx]

    def slices(self, size: int) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """Consecutive batches in order (for evaluation)."""
        for i in range(0, len(self), size):
            yield self.images[i : i + size], self.y3[i : i + size], self.y10[i : i + size]

    def head(self, n: int) -> Split:
        return Split(self.images[:n], self.y10[:n], self.y3[:n])

    def tail(self, n: int) -> Split:
        return Split(self.images[-n:], self.y10[-n:], self.y3[-n:])


@dataclass
class Data:
    """A run's splits on its device (`val` None without a validation split) and what shaped them.

    `identity` names the files (data_identity); `coarse_labels` and `val_size` are how the splits
    were cut from them. `problems(cfg)` says where they are not the data `cfg` asks for.
    """

    train: Split
    val: Split | None
    test: Split
    identity: dict[str, Any]
    coarse_labels: tuple[int, ...] = ()
    val_size: int = 0

    def problems(self, cfg: DictConfig, identity: dict[str, Any]) -> list[str]:
        """How these splits differ from the ones a run of `cfg` whose data identity is `identity` trains on."""
        out = []
        if self.identity.get("hash") != identity.get("hash"):
            got, want = self.identity.get("dataset"), identity.get("dataset")
            out.append(
                f"its files are {got} ({self.identity.get('hash')}), the run's are {want} ({identity.get('hash')})"
            )
        if self.coarse_labels != tuple(cfg.dataset.coarse_labels):
            out.append(
                f"its 3-class grouping is {list(self.coarse_labels)}, the run's {list(cfg.dataset.coarse_labels)}"
            )
        if self.val_size != cfg.data.val_size:
            out.append(f"its validation split has {self.val_size} images, the run's {cfg.data.val_size}")
        return out

    def evaluation_splits(self) -> dict[str, Split]:
        """The splits evaluated after every epoch, by the name result.json gives them."""
        return {"test": self.test} | ({"val": self.val} if self.val is not None else {})


def to_split(pixels: Tensor, labels: Tensor, coarse: Tensor, device: torch.device) -> Split:
    """uint8 pixels (n, 28, 28) and class labels → a Split on `device`, pixels scaled to [−1, 1] as the source does.

    `coarse` maps each of the 10 classes to its class of the 3-class task.
    """
    images = ((pixels.to(device).float().div(255.0) - 0.5) / 0.5).unsqueeze(1)
    labels = labels.to(device=device, dtype=torch.long)
    return Split(images.contiguous(), labels, coarse.to(device)[labels])


def dataset_facts(cfg: DictConfig) -> DatasetFacts:
    return DATASETS[cfg.dataset.name]


def data_files(cfg: DictConfig) -> dict[str, Path]:
    """The run's four files (fetched if missing and allowed), each checked once per process."""
    facts = dataset_facts(cfg)
    files = locate(cfg.data.root, facts, download=cfg.data.download)
    read(files, facts, verify=cfg.data.verify)
    return files


def data_identity(cfg: DictConfig) -> dict[str, Any]:
    """Which files a run computes from: their content hashes when verified, else size, items and mtime.

    Fetches and checks the files first (once per process). Two runs with equal identities and
    equal config hashes compute the same thing.
    """
    facts = dataset_facts(cfg)
    paths = data_files(cfg)
    arrays = read(paths, facts, verify=cfg.data.verify)
    if cfg.data.verify:
        files: dict[str, Any] = {name: {"sha256": facts.sha256[name]} for name in paths}
    else:
        files = {}
        for name, path in paths.items():
            stat = os.stat(path)
            files[name] = {"bytes": stat.st_size, "items": len(arrays[name]), "mtime_ns": stat.st_mtime_ns}
    described = {"dataset": facts.name, "verified": bool(cfg.data.verify), "files": files}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]
    return {**described, "hash": digest}


def training_images(cfg: DictConfig) -> int:
    """How many training images the run's files hold (before a validation split is taken)."""
    return len(read(data_files(cfg), dataset_facts(cfg), verify=cfg.data.verify)["train-labels-idx1-ubyte"])


def load_data(cfg: DictConfig, device: torch.device) -> Data:
    """The run's splits on `device`: the last `data.val_size` training images become the validation split."""
    identity = data_identity(cfg)
    arrays = read(data_files(cfg), dataset_facts(cfg), verify=cfg.data.verify)
    coarse = torch.tensor(list(cfg.dataset.coarse_labels), dtype=torch.long)

    def split(prefix: str) -> Split:
        images, labels = arrays[f"{prefix}-images-idx3-ubyte"], arrays[f"{prefix}-labels-idx1-ubyte"]
        return to_split(torch.from_numpy(images.copy()), torch.from_numpy(labels.copy()), coarse, device)

    train, test = split("train"), split("t10k")
    n_val = cfg.data.val_size
    shape = {"coarse_labels": tuple(cfg.dataset.coarse_labels), "val_size": n_val}
    if n_val:
        return Data(train.head(len(train) - n_val), train.tail(n_val), test, identity, **shape)
    return Data(train, None, test, identity, **shape)


def epoch_order(n: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """A seeded permutation of the training set, drawn on the CPU so every device sees the same."""
    return torch.randperm(n, generator=generator).to(device, non_blocking=True)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Batches per epoch; the last, partial batch is kept (as the source's tf.data pipeline)."""
    return -(-n // batch_size)
