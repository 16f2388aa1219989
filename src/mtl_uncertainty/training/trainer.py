"""Training one network: steps on device-resident data, metrics kept on the device.

Each step writes one row (see `steps.StepLayout`) into a buffer on the device; the buffer is read
back once per epoch, so the loop never waits on the host inside an epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .. import faults
from ..data.splits import Split, epoch_order, steps_per_epoch
from ..seeding import generator
from ..tasks import TASKS, correct_counts, task_losses
from ..weighting import Weighting
from .cuda_graphs import CudaGraphSteps
from .devices import autocast
from .steps import StepLayout, eval_metrics, step_row


def make_adam(
    model_params: Sequence[Tensor],
    weighting_groups: Sequence[Mapping[str, Any]],
    named: Mapping[str, Tensor],
    lr: float,
    eps: float,
    capturable: bool = False,
) -> torch.optim.Adam:
    """Adam over the network, plus the weighting method's groups (parameter names → `named` tensors).

    `capturable` keeps Adam's step count on the device and uses the fused kernel, as replaying
    steps from CUDA graphs needs. Otherwise Adam updates all tensors with its foreach ops (one call
    per update for all parameters, the default on GPUs only): the per-parameter loop's numbers bit
    for bit, with less Python per step on a CPU. The fused kernel is not used there: its numbers differ.
    """
    groups = [{"params": list(model_params)}]
    groups += [{**g, "params": [named[n] for n in g["params"]]} for g in weighting_groups]
    if capturable:
        return torch.optim.Adam(groups, lr=lr, eps=eps, capturable=True, fused=True)
    return torch.optim.Adam(groups, lr=lr, eps=eps, foreach=True)


def make_optimizer(model: nn.Module, weighting: Weighting, lr: float, eps: float, capturable: bool) -> torch.optim.Adam:
    """Adam for one run: its network and its weighting method's parameters."""
    named = dict(weighting.named_parameters())
    return make_adam(list(model.parameters()), weighting.optimizer_groups(), named, lr, eps, capturable)


@dataclass
class Trainer:
    """Trains one network with one weighting method on one device."""

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
    precision: str = "fp32"  # speed.precision: bf16 runs the forward pass and the losses under autocast
    graphs: CudaGraphSteps | None = None
    on_step: Callable[[], None] | None = None  # called after every step, e.g. to move a progress bar
    layout: StepLayout = field(init=False)

    def __post_init__(self) -> None:
        self.layout = StepLayout(tuple(self.weighting.recorded))
        self.weighting.bind(self.model)
        self._step_index = torch.arange(self.steps_per_epoch, device=self.train.images.device)

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(len(self.train), self.batch_size)

    def step(self, idx: Tensor, i: Tensor, poison: bool = False) -> Tensor:
        """One optimisation step on the training images `idx` (step `i` of the epoch); its row, on the device."""
        x, y3, y10 = self.train.batch(idx)
        if poison:
            x = x * float("nan")
        x = x.contiguous(memory_format=self.memory_format)
        with autocast(self.precision, x.device):
            out = self.model(x, reconstruct=self.reconstruct)
            losses = task_losses(out, x, y3, y10)
        self.optimizer.zero_grad(set_to_none=True)
        total = self.weighting.backward(losses, i)
        self.optimizer.step()
        self.weighting.after_step(lambda: self._losses(x, y3, y10))
        with torch.no_grad():
            recorded = self.weighting.record(losses.detach(), i)
        return step_row(total, losses, correct_counts(out, y3, y10), recorded, x.shape[0])

    @torch.no_grad()
    def _losses(self, x: Tensor, y3: Tensor, y10: Tensor) -> Tensor:
        """The batch's task losses with the network as it is now (after a step: for `Weighting.after_step`)."""
        with autocast(self.precision, x.device):
            return task_losses(self.model(x, reconstruct=self.reconstruct), x, y3, y10)

    def use_cuda_graphs(self) -> None:
        """Replay every step from CUDA graphs from now on (call after any checkpoint is loaded)."""
        shapes = [(self.batch_size,), (len(self.train) - (self.steps_per_epoch - 1) * self.batch_size,)]
        state = [*self.model.parameters(), *self.model.buffers(), *self.weighting.parameters()]
        state += list(self.weighting.buffers())
        self.graphs = CudaGraphSteps(self.step, shapes, state, self.optimizer, self.train.images.device)

    @torch.no_grad()
    def set_weighting_buffers(self, values: Mapping[str, Tensor]) -> None:
        """Write new values into the weighting method's buffers, in place (CUDA graphs hold their addresses)."""
        buffers = dict(self.weighting.named_buffers())
        for name, value in values.items():
            buffers[name].copy_(value)

    def train_epoch(self, epoch: int) -> np.ndarray:
        """One pass over the training set in the epoch's seeded order; the step rows, on the host."""
        self.model.train()
        device = self.train.images.device
        order = epoch_order(len(self.train), generator(self.seed, "data", epoch), device)
        rows = torch.empty(self.steps_per_epoch, self.layout.width, device=device)
        first = (epoch - 1) * self.steps_per_epoch
        for i in range(self.steps_per_epoch):
            faults.hit("step")
            step = first + i + 1
            if step == self.error_step:
                raise faults.InjectedFault(f"injected failure at step {step}")
            idx = order[i * self.batch_size : (i + 1) * self.batch_size]
            if self.graphs is not None and step != self.poison_step:
                rows[i] = self.graphs(idx, self._step_index[i])
            else:
                rows[i] = self.step(idx, self._step_index[i], poison=step == self.poison_step)
            if self.on_step is not None:
                self.on_step()
        return rows.cpu().numpy()

    @torch.inference_mode()
    def evaluate(self, split: Split, batch_size: int) -> dict[str, float | None]:
        """Mean task losses and accuracies over a whole split, in eval mode."""
        self.model.eval()
        sums = torch.zeros(len(TASKS) + 2, device=split.images.device)
        for x, y3, y10 in split.slices(batch_size):
            x = x.contiguous(memory_format=self.memory_format)
            with autocast(self.precision, x.device):
                out = self.model(x, reconstruct=self.reconstruct)
                losses = task_losses(out, x, y3, y10)
            sums += torch.cat((losses.float() * x.shape[0], correct_counts(out, y3, y10)))
        self.model.train()
        return eval_metrics(sums / len(split), self.reconstruct)
