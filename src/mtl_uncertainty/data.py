"""The data of a run: device-resident splits, seeded batching by `randperm` slicing, and the
identity of the files the numbers were computed from."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig
from torch import Tensor

from .mnist import FILES, MNIST, ensure_mnist, idx_count
from .tasks import three_class_labels


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
    """A run's splits on its device (`val` None without a validation split) and their files' identity."""

    train: Split
    val: Split | None
    test: Split
    identity: dict[str, Any]

    def evaluation_splits(self) -> dict[str, Split]:
        """The splits evaluated after every epoch, by the name result.json gives them."""
        return {"test": self.test} | ({"val": self.val} if self.val is not None else {})


def to_split(pixels: Tensor, digits: Tensor, device: torch.device) -> Split:
    """uint8 pixels (n, 28, 28) and digit labels → a Split on `device` (pixels/255 − 0.5)/0.5."""
    images = ((pixels.to(device).float().div(255.0) - 0.5) / 0.5).unsqueeze(1)
    digits = digits.to(device=device, dtype=torch.long)
    return Split(images.contiguous(), digits, three_class_labels(digits))


def data_identity(cfg: DictConfig) -> dict[str, Any]:
    """Which files a run computes from: their content hashes when verified, else size, items and mtime.

    Fetches and checks the files first (once per process). Two runs with equal identities and
    equal config hashes compute the same thing.
    """
    raw = ensure_mnist(cfg.data.root, verify=cfg.data.verify, download=cfg.data.download)
    if cfg.data.verify:
        files: dict[str, Any] = {name: {"sha256": MNIST.sha256[name]} for name in FILES}
    else:
        files = {}
        for name in FILES:
            stat = os.stat(raw / name)
            files[name] = {"bytes": stat.st_size, "items": idx_count(raw / name), "mtime_ns": stat.st_mtime_ns}
    described = {"dataset": "mnist", "verified": bool(cfg.data.verify), "files": files}
    digest = hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:16]
    return {**described, "hash": digest}


def load_data(cfg: DictConfig, device: torch.device) -> Data:
    """The run's splits on `device`: the last `data.val_size` training images become the validation split."""
    from torchvision.datasets import MNIST as TorchvisionMNIST  # imported here: it takes a second

    identity = data_identity(cfg)
    root = str(cfg.data.root)
    train_files, test_files = TorchvisionMNIST(root, train=True), TorchvisionMNIST(root, train=False)
    train = to_split(train_files.data, train_files.targets, device)
    test = to_split(test_files.data, test_files.targets, device)
    n_val = cfg.data.val_size
    if n_val:
        return Data(train.head(len(train) - n_val), train.tail(n_val), test, identity)
    return Data(train, None, test, identity)


def epoch_order(n: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """A seeded permutation of the training set, drawn on the CPU so every device sees the same."""
    return torch.randperm(n, generator=generator).to(device, non_blocking=True)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Batches per epoch; the last, partial batch is kept (as the source's tf.data pipeline)."""
    return -(-n // batch_size)
