"""The training loop: steps on device-resident data, metrics kept on the device.

Each step writes one row of `STEP_FIELDS` into a buffer on the device; the buffer is read back
once per epoch, so the loop never waits on the host inside an epoch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from . import faults
from .cuda_graphs import CudaGraphSteps
from .data import Split, epoch_order, steps_per_epoch
from .seeding import generator
from .tasks import TASKS, correct_counts, task_losses
from .weighting import Objective, Weighting

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


def make_optimizer(
    model: nn.Module, weighting: nn.Module, lr: float, eps: float, weighting_cfg: Any, capturable: bool = False
) -> torch.optim.Adam:
    """Adam over the network, with its own learning rate and weight decay for any learnable s.

    `capturable` keeps Adam's step count on the device and uses the fused kernel, as replaying
    steps from CUDA graphs needs.
    """
    groups = [{"params": list(model.parameters())}]
    extra = list(weighting.parameters())
    if extra:
        groups.append({"params": extra, "lr": weighting_cfg.lr, "weight_decay": weighting_cfg.weight_decay})
    if capturable:
        return torch.optim.Adam(groups, lr=lr, eps=eps, capturable=True, fused=True)
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
    memory_format: torch.memory_format = torch.contiguous_format  # channels_last is faster on CPUs
    poison_step: int | None = None  # fault injection: this global step's batch becomes NaN
    error_step: int | None = None  # fault injection: this global step raises
    graphs: CudaGraphSteps | None = None
    on_step: Callable[[], None] | None = None  # called after every step, e.g. to move a progress bar

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(len(self.train), self.batch_size)

    def step(self, idx: Tensor, poison: bool = False) -> Tensor:
        """One optimisation step on the training images `idx`; its `STEP_FIELDS` row, on the device."""
        x, y3, y10 = self.train.batch(idx)
        if poison:
            x = x * float("nan")
        x = x.contiguous(memory_format=self.memory_format)
        out = self.model(x, reconstruct=self.reconstruct)
        losses = task_losses(out, x, y3, y10)
        objective = self.weighting(losses)
        self.optimizer.zero_grad(set_to_none=True)
        objective.total.backward()
        self.optimizer.step()
        with torch.no_grad():
            after = self.weighting(losses.detach())  # s and weights after this step's update
        return step_row(objective.total, losses, correct_counts(out, y3, y10), after, x.shape[0])

    def use_cuda_graphs(self) -> None:
        """Replay every step from CUDA graphs from now on (call after any checkpoint is loaded)."""
        shapes = [(self.batch_size,), (len(self.train) - (self.steps_per_epoch - 1) * self.batch_size,)]
        state = [*self.model.parameters(), *self.model.buffers(), *self.weighting.parameters()]
        self.graphs = CudaGraphSteps(self.step, shapes, state, self.optimizer, self.train.images.device)

    def train_epoch(self, epoch: int) -> np.ndarray:
        """One pass over the training set in the epoch's seeded order; the step rows, on the host."""
        self.model.train()
        device = self.train.images.device
        order = epoch_order(len(self.train), generator(self.seed, "data", epoch), device)
        rows = torch.empty(self.steps_per_epoch, len(STEP_FIELDS), device=device)
        first = (epoch - 1) * self.steps_per_epoch
        for i in range(self.steps_per_epoch):
            faults.hit("step")
            step = first + i + 1
            if step == self.error_step:
                raise faults.InjectedFault(f"injected failure at step {step}")
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            if self.graphs is not None and step != self.poison_step:
                rows[i] = self.graphs(idx)
            else:
                rows[i] = self.step(idx, poison=step == self.poison_step)
            if self.on_step is not None:
                self.on_step()
        return rows.cpu().numpy()

    @torch.no_grad()
    def evaluate(self, split: Split, batch_size: int) -> dict[str, float | None]:
        """Mean task losses and accuracies over a whole split, in eval mode."""
        self.model.eval()
        sums = torch.zeros(len(TASKS) + 2, device=split.images.device)
        for x, y3, y10 in split.slices(batch_size):
            x = x.contiguous(memory_format=self.memory_format)
            out = self.model(x, reconstruct=self.reconstruct)
            sums += torch.cat((task_losses(out, x, y3, y10) * x.shape[0], correct_counts(out, y3, y10)))
        self.model.train()
        return eval_metrics(sums / len(split), self.reconstruct)


def step_row(total: Tensor, losses: Tensor, correct: Tensor, after: Objective, batch_size: int) -> Tensor:
    """A step's `STEP_FIELDS` row (works per run inside `torch.func.vmap` too)."""
    n = torch.full_like(total.detach()[None], batch_size)
    return torch.cat((total.detach()[None], losses.detach(), correct / n, after.log_vars, after.weights, n))


def eval_metrics(mean: Tensor, reconstruct: bool) -> dict[str, float | None]:
    """Named metrics from the means (task losses, then the two accuracies) of an evaluation."""
    values = mean.tolist()
    metrics: dict[str, float | None] = {f"loss_{t}": v for t, v in zip(TASKS, values)}
    metrics["acc_cls3"], metrics["acc_cls10"] = values[len(TASKS)], values[len(TASKS) + 1]
    if not reconstruct:
        metrics["loss_recon"] = None
    return metrics


def epoch_train_metrics(rows: np.ndarray) -> dict[str, float]:
    """Running training metrics of one epoch (batch-size-weighted means of its step rows)."""
    n = rows[:, COLUMN["batch_size"]].astype(np.float64)
    out = {}
    for name in ("loss_total", *(f"loss_{t}" for t in TASKS), "acc_cls3", "acc_cls10"):
        out[name] = float(np.dot(rows[:, COLUMN[name]].astype(np.float64), n) / n.sum())
    return out
