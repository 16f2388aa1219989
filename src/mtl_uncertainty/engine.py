"""The training loop: steps on device-resident data, metrics kept on the device.

Each step writes one row of `STEP_FIELDS` into a buffer on the device; the buffer is read back
once per epoch, so the loop never waits on the host inside an epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from . import faults
from .data import Split, epoch_order, steps_per_epoch
from .seeding import generator
from .tasks import TASKS, correct_counts, task_losses
from .weighting import Weighting

STEP_FIELDS: tuple[str, ...] = (
    "loss_total",
    *(f"loss_{t}" for t in TASKS),
    "acc_cls3",
    "acc_cls10",
    *(f"s_{t}" for t in TASKS),
    *(f"weight_{t}" for t in TASKS),
    "batch_size",
)
"""One row per training step: the minimised total, each task's batch loss, the classifiers'
batch accuracy, then each task's s and effective weight after the step's update (s is NaN for
methods without one), and the batch size."""

COLUMN = {name: i for i, name in enumerate(STEP_FIELDS)}


def make_optimizer(model: nn.Module, weighting: Weighting, lr: float, eps: float, weighting_cfg) -> torch.optim.Adam:
    """Adam over the network, with its own learning rate and weight decay for any learnable s."""
    groups = [{"params": list(model.parameters())}]
    extra = list(weighting.parameters())
    if extra:
        groups.append({"params": extra, "lr": weighting_cfg.lr, "weight_decay": weighting_cfg.weight_decay})
    return torch.optim.Adam(groups, lr=lr, eps=eps)


@dataclass
class Trainer:
    """Trains one network with one weighting on one device."""

    model: nn.Module
    weighting: Weighting
    optimizer: torch.optim.Optimizer
    train: Split
    batch_size: int
    reconstruct: bool
    seed: int
    poison_step: int | None = None  # fault injection: this global step's batch becomes NaN
    error_step: int | None = None  # fault injection: this global step raises

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(len(self.train), self.batch_size)

    def step(self, x: Tensor, y3: Tensor, y10: Tensor) -> Tensor:
        """One optimisation step; returns its `STEP_FIELDS` row, still on the device."""
        out = self.model(x, reconstruct=self.reconstruct)
        losses = task_losses(out, x, y3, y10)
        total = self.weighting(losses)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        n = torch.full((1,), x.shape[0], dtype=torch.float32, device=x.device)
        s = self.weighting.log_vars()
        s = s.detach() if s is not None else torch.full_like(losses, float("nan"))
        return torch.cat(
            (
                total.detach()[None],
                losses.detach(),
                correct_counts(out, y3, y10) / n,
                s,
                self.weighting.weights(),
                n,
            )
        )

    def train_epoch(self, epoch: int) -> np.ndarray:
        """One pass over the training set in the epoch's seeded order; the step rows, on the host."""
        self.model.train()
        device = self.train.images.device
        order = epoch_order(len(self.train), generator(self.seed, "data", epoch), device)
        rows = torch.empty(self.steps_per_epoch, len(STEP_FIELDS), device=device)
        first = (epoch - 1) * self.steps_per_epoch
        for i in range(self.steps_per_epoch):
            faults.hit("step")
            x, y3, y10 = self.train.batch(order[i * self.batch_size : (i + 1) * self.batch_size])
            if first + i + 1 == self.poison_step:
                x = x * float("nan")
            if first + i + 1 == self.error_step:
                raise faults.InjectedFault(f"injected failure at step {first + i + 1}")
            rows[i] = self.step(x, y3, y10)
        return rows.cpu().numpy()

    @torch.no_grad()
    def evaluate(self, split: Split, batch_size: int) -> dict[str, float | None]:
        """Mean task losses and accuracies over a whole split, in eval mode."""
        self.model.eval()
        sums = torch.zeros(len(TASKS) + 2, device=split.images.device)
        for x, y3, y10 in split.slices(batch_size):
            out = self.model(x, reconstruct=self.reconstruct)
            sums += torch.cat((task_losses(out, x, y3, y10) * x.shape[0], correct_counts(out, y3, y10)))
        self.model.train()
        mean = (sums / len(split)).tolist()
        metrics: dict[str, float | None] = {f"loss_{t}": v for t, v in zip(TASKS, mean)}
        metrics["acc_cls3"], metrics["acc_cls10"] = mean[len(TASKS)], mean[len(TASKS) + 1]
        if not self.reconstruct:
            metrics["loss_recon"] = None
        return metrics


def epoch_train_metrics(rows: np.ndarray) -> dict[str, float]:
    """Running training metrics of one epoch (batch-size-weighted means of its step rows)."""
    n = rows[:, COLUMN["batch_size"]].astype(np.float64)
    out = {}
    for name in ("loss_total", *(f"loss_{t}" for t in TASKS), "acc_cls3", "acc_cls10"):
        out[name] = float(np.dot(rows[:, COLUMN[name]].astype(np.float64), n) / n.sum())
    return out
