"""MNIST as tensors resident on the run's device, and seeded batching by `randperm` slicing."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from .mnist import ensure_mnist
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


def to_split(pixels: Tensor, digits: Tensor, device: torch.device) -> Split:
    """uint8 pixels (n, 28, 28) and digit labels → a Split on `device` (pixels/255 − 0.5)/0.5."""
    images = ((pixels.to(device).float().div(255.0) - 0.5) / 0.5).unsqueeze(1)
    digits = digits.to(device=device, dtype=torch.long)
    return Split(images.contiguous(), digits, three_class_labels(digits))


def load_mnist(
    root: str | os.PathLike[str], device: torch.device, verify: bool = True, download: bool = True
) -> tuple[Split, Split]:
    """(train, test) on `device`, fetching (if allowed) and checking the files under `root` first."""
    from torchvision.datasets import MNIST as TorchvisionMNIST  # imported here: it takes a second

    ensure_mnist(root, verify=verify, download=download)
    train = TorchvisionMNIST(str(root), train=True)
    test = TorchvisionMNIST(str(root), train=False)
    return to_split(train.data, train.targets, device), to_split(test.data, test.targets, device)


def epoch_order(n: int, generator: torch.Generator, device: torch.device) -> Tensor:
    """A seeded permutation of the training set, drawn on the CPU so every device sees the same."""
    return torch.randperm(n, generator=generator).to(device, non_blocking=True)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Batches per epoch; the last, partial batch is kept (as the source's tf.data pipeline)."""
    return -(-n // batch_size)
