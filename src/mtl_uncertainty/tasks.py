"""The three tasks of the experiment: names, kinds and per-batch losses.

Every run knows all three tasks; `recon=false` only drops the reconstruction task from the
objective (as the source does), so that runs with and without it start from the same weights.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

TASKS: tuple[str, ...] = ("cls3", "cls10", "recon")
"""Task names, in the order of every per-task tensor in the suite."""

CLASSIFICATION: tuple[bool, ...] = (True, True, False)
"""Whether each task in `TASKS` is a classification (else a regression) task."""


def active_tasks(recon: bool) -> tuple[bool, ...]:
    """Which tasks enter the objective."""
    return (True, True, recon)


def task_names(active: tuple[bool, ...]) -> list[str]:
    """The names of the tasks that are on."""
    return [t for t, on in zip(TASKS, active) if on]


class Outputs(NamedTuple):
    """What the network returns for a batch; `recon` is None when the decoder was skipped."""

    logits3: Tensor
    logits10: Tensor
    recon: Tensor | None


def task_losses(out: Outputs, images: Tensor, y3: Tensor, y10: Tensor) -> Tensor:
    """Mean loss of each task over the batch, stacked in `TASKS` order (0 for a skipped decoder)."""
    l3 = F.cross_entropy(out.logits3, y3)
    l10 = F.cross_entropy(out.logits10, y10)
    lrec = F.mse_loss(out.recon, images) if out.recon is not None else torch.zeros_like(l3)
    return torch.stack((l3, l10, lrec))


def correct_counts(out: Outputs, y3: Tensor, y10: Tensor) -> Tensor:
    """Number of correct predictions of the two classifiers, as a float tensor of shape (2,)."""
    return torch.stack(
        (
            (out.logits3.argmax(1) == y3).sum(),
            (out.logits10.argmax(1) == y10).sum(),
        )
    ).float()
