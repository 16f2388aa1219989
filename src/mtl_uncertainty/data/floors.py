"""The floors of a run's data: what predicting without looking at the image scores on each split.

Computed from the very splits a run trains and is evaluated on (`splits.load_data`: pixels in
[−1, 1], the validation split cut from the end of the training set), and fitted on the training
split only. The MSE is the mean over every image and pixel, as the evaluation's batch-size-weighted
mean of `F.mse_loss` is (every image has the same number of pixels); sums are taken in float64.
The names of the numbers are `storage.floors_file`'s.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .splits import Data, Split

CHUNK = 10_000
"""Images per step of the sums, so that float64 copies of a split stay small."""


def _sum_of_squares(images: Tensor, prediction: Tensor) -> float:
    total = 0.0
    for i in range(0, images.shape[0], CHUNK):
        total += float((images[i : i + CHUNK].double() - prediction).square().sum())
    return total


def _mean_image(images: Tensor) -> Tensor:
    total = torch.zeros(images.shape[1:], dtype=torch.float64, device=images.device)
    for i in range(0, images.shape[0], CHUNK):
        total += images[i : i + CHUNK].double().sum(0)
    return total / images.shape[0]


def mean_pixel(split: Split) -> float:
    """The mean pixel of `split`'s images: of all constants, the prediction with the least squared error."""
    return float(_mean_image(split.images).mean())


def _majority(labels: Tensor) -> int:
    """The most frequent class (the lowest such class on a tie)."""
    return int(torch.bincount(labels.cpu()).argmax())


def split_floors(split: Split, mean_image: Tensor, constant: float, majority3: int, majority10: int) -> dict[str, Any]:
    """The floors of one split, given what was fitted on the training split."""
    values = split.images[0].numel() * len(split)
    return {
        "images": len(split),
        "loss_recon_mean_image": _sum_of_squares(split.images, mean_image) / values,
        "loss_recon_constant": _sum_of_squares(split.images, torch.tensor(constant, dtype=torch.float64)) / values,
        "acc_cls3_majority": float((split.y3 == majority3).double().mean()),
        "acc_cls10_majority": float((split.y10 == majority10).double().mean()),
    }


def data_floors(data: Data) -> dict[str, Any]:
    """The floors.json entry of `data`: its key, what was fitted on the training split, each split's floors."""
    mean_image = _mean_image(data.train.images)
    constant = float(mean_image.mean())  # the mean pixel: the constant with the least squared error on train
    majority3, majority10 = _majority(data.train.y3), _majority(data.train.y10)
    splits = {"train": data.train, **({"val": data.val} if data.val is not None else {}), "test": data.test}
    return {
        "dataset": str(data.identity["dataset"]),
        "data_hash": str(data.identity["hash"]),
        "val_size": int(data.val_size),
        "coarse_labels": [int(c) for c in data.coarse_labels],
        "fitted_on": f"the training split ({len(data.train):,} images)",
        "constant": constant,
        "majority_class": {"cls3": majority3, "cls10": majority10},
        "splits": {
            name: split_floors(split, mean_image, constant, majority3, majority10) for name, split in splits.items()
        },
    }
