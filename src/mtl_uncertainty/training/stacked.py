"""Many runs trained as one: the sweep's fast path on a GPU.

The parameters of J runs are stacked along a leading run dimension
(`torch.func.stack_module_state`), the network and the weighting method are applied per run
with `torch.func.vmap` + `functional_call`, and one Adam steps all of them; Adam is elementwise,
so each run's update is its own. Each run keeps its own seed (weights, initial s, data order,
random weights), and the settings its method lets differ per run (`Weighting.per_run`); runs
stack when everything else is equal (`stack_key`). Each run still ends with its own checkpoints
and result.json, exactly as a run trained alone.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from .. import faults
from ..config import to_plain
from ..data.splits import Split, epoch_order, steps_per_epoch
from ..seeding import generator
from ..tasks import TASKS, correct_counts, task_losses
from ..weighting import WEIGHTINGS
from .cuda_graphs import CudaGraphSteps
from .steps import eval_metrics, step_row
from .trainer import Trainer, make_adam

PER_RUN_KEYS = ("seed", "sigma_init", "model")
"""Config entries in which the runs of one stack may differ, besides their method's `per_run` settings."""


def can_stack(cfg: DictConfig) -> bool:
    """Whether the run can train inside a stack: its weighting method can, and it computes in fp32 or tf32 (a
    stack's step has no autocast, so bf16 runs train alone)."""
    return WEIGHTINGS[cfg.weighting.name].stackable and cfg.speed.precision != "bf16"


def stack_key(cfg: DictConfig, epoch: int) -> str:
    """Runs with equal keys (config without the per-run entries, and the epoch they resume from) stack."""
    plain = to_plain(cfg)
    for key in PER_RUN_KEYS:
        plain.pop(key, None)
    for key in WEIGHTINGS[cfg.weighting.name].per_run:
        plain["weighting"].pop(key, None)
    return json.dumps({"config": plain, "epoch": epoch}, sort_keys=True)


class Recorder(nn.Module):
    """A weighting method seen through its `record` (so that `functional_call` can call it per run)."""

    def __init__(self, method: nn.Module) -> None:
        super().__init__()
        self.method = method

    def forward(self, losses: Tensor, i: Tensor) -> Tensor:
        return self.method.record(losses, i)


class StackedTrainer:
    """Trains the networks of several `Trainer`s as one stacked network (see the module docstring)."""

    def __init__(self, trainers: Sequence[Trainer]) -> None:
        first = trainers[0]
        self.train, self.batch_size, self.reconstruct = first.train, first.batch_size, first.reconstruct
        if any(t.reconstruct != self.reconstruct for t in trainers):
            raise ValueError("runs with and without reconstruction do not stack")
        self.seeds = [t.seed for t in trainers]
        self.layout = first.layout
        self.model = copy.deepcopy(first.model).to("meta")
        self.weighting = copy.deepcopy(first.weighting).to("meta")
        self._recorder = Recorder(self.weighting)
        self.params, self.buffers = stack_module_state([t.model for t in trainers])
        self.w_params, self.w_buffers = stack_module_state([t.weighting for t in trainers])
        # plain layout for the stacked tensors, whatever layout the runs' own networks use
        self.params = {k: v.detach().contiguous().requires_grad_() for k, v in self.params.items()}
        defaults = first.optimizer.param_groups[0]
        self.optimizer = make_adam(
            list(self.params.values()),
            first.weighting.optimizer_groups(),
            self.w_params,
            defaults["lr"],
            defaults["eps"],
            capturable=bool(defaults.get("capturable")),
        )
        self._load_optimizer_states([t.optimizer for t in trainers])
        self._step_index = torch.arange(self.steps_per_epoch, device=self.train.images.device)
        self.graphs: CudaGraphSteps | None = None
        self.on_step: Callable[[], None] | None = None

    @property
    def size(self) -> int:
        return len(self.seeds)

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(len(self.train), self.batch_size)

    def _load_optimizer_states(self, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        """Stack the per-run Adam states (non-empty when the runs resume from checkpoints).

        Adam keeps no state for a parameter that never had a gradient (the decoder of a run
        without reconstruction); a run missing a state that others have gets zero moments, which
        is what a zero gradient leaves (and keeps: Adam moves such a parameter by 0), so stacking
        neither fails nor mixes one run's moments into another's.
        """
        states = [o.state_dict()["state"] for o in optimizers]
        if not any(states):
            return
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        stacked = {}
        for i, param in enumerate(params):
            have = [s[i] for s in states if i in s]
            if not have:
                continue
            step = max(h["step"] for h in have)
            stacked[i] = {
                "step": step,
                **{
                    key: torch.stack([s[i][key] if i in s else torch.zeros_like(have[0][key]) for s in states])
                    for key in ("exp_avg", "exp_avg_sq")
                },
            }
            assert stacked[i]["exp_avg"].shape == param.shape
        self.optimizer.load_state_dict({"state": stacked, "param_groups": self.optimizer.state_dict()["param_groups"]})

    def _objective(self, params, buffers, w_params, w_buffers, x, y3, y10, i):
        out = functional_call(self.model, (params, buffers), (x,), {"reconstruct": self.reconstruct})
        losses = task_losses(out, x, y3, y10)
        total = functional_call(self.weighting, (w_params, w_buffers), (losses, i))
        return total, losses, correct_counts(out, y3, y10)

    def step(self, idx: Tensor, i: Tensor) -> Tensor:
        """One step of every run on its batch `idx[j]`; the runs' step rows, (J, fields)."""
        x, y3, y10 = self.train.images[idx], self.train.y3[idx], self.train.y10[idx]
        objective = vmap(self._objective, in_dims=(0, 0, 0, 0, 0, 0, 0, None))
        totals, losses, correct = objective(self.params, self.buffers, self.w_params, self.w_buffers, x, y3, y10, i)
        self.optimizer.zero_grad(set_to_none=True)
        totals.sum().backward()
        self.optimizer.step()
        with torch.no_grad():
            recorded = vmap(self._record, in_dims=(0, 0, 0, None))(self.w_params, self.w_buffers, losses.detach(), i)
            return vmap(step_row, in_dims=(0, 0, 0, 0, None))(totals.detach(), losses, correct, recorded, idx.shape[1])

    def _record(self, w_params, w_buffers, losses, i):
        named = {f"method.{k}": v for k, v in (*w_params.items(), *w_buffers.items())}
        return functional_call(self._recorder, named, (losses, i))

    def use_cuda_graphs(self) -> None:
        last = len(self.train) - (self.steps_per_epoch - 1) * self.batch_size
        shapes = [(self.size, self.batch_size), (self.size, last)]
        state = [*self.params.values(), *self.buffers.values(), *self.w_params.values(), *self.w_buffers.values()]
        self.graphs = CudaGraphSteps(self.step, shapes, state, self.optimizer, self.train.images.device)

    @torch.no_grad()
    def set_weighting_buffers(self, j: int, values: Mapping[str, Tensor]) -> None:
        """Write run j's new buffer values into the stacked buffers, in place."""
        for name, value in values.items():
            self.w_buffers[name][j].copy_(value)

    def train_epoch(self, epoch: int) -> np.ndarray:
        """One epoch of every run, each in its own seeded order; step rows (J, steps, fields) on the host."""
        device = self.train.images.device
        orders = torch.stack([epoch_order(len(self.train), generator(s, "data", epoch), device) for s in self.seeds])
        rows = torch.empty(self.steps_per_epoch, self.size, self.layout.width, device=device)
        for i in range(self.steps_per_epoch):
            faults.hit("step")
            idx = orders[:, i * self.batch_size : (i + 1) * self.batch_size]
            step = self._step_index[i]
            rows[i] = self.graphs(idx, step) if self.graphs is not None else self.step(idx, step)
            if self.on_step is not None:
                self.on_step()
        return rows.transpose(0, 1).cpu().numpy()

    def _eval(self, params, buffers, x, y3, y10):
        out = functional_call(self.model, (params, buffers), (x,), {"reconstruct": self.reconstruct})
        return task_losses(out, x, y3, y10), correct_counts(out, y3, y10)

    @torch.inference_mode()
    def evaluate(self, split: Split, batch_size: int) -> list[dict[str, float | None]]:
        """Each run's mean task losses and accuracies over a whole split."""
        sums = torch.zeros(self.size, len(TASKS) + 2, device=split.images.device)
        for x, y3, y10 in split.slices(batch_size):
            losses, correct = vmap(self._eval, in_dims=(0, 0, None, None, None))(self.params, self.buffers, x, y3, y10)
            sums += torch.cat((losses * x.shape[0], correct), dim=1)
        return [eval_metrics(row, self.reconstruct) for row in sums / len(split)]

    @torch.no_grad()
    def unstack_into(self, trainers: Sequence[Trainer]) -> None:
        """Copy each run's parameters, buffers and Adam state back into its own trainer (for checkpoints)."""
        state = self.optimizer.state_dict()
        for j, t in enumerate(trainers):
            for module, params, buffers in (
                (t.model, self.params, self.buffers),
                (t.weighting, self.w_params, self.w_buffers),
            ):
                for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
                    tensor.copy_((params.get(name) if name in params else buffers[name])[j])
            per_run = {
                i: {k: (v.clone() if k == "step" else v[j].clone()) for k, v in s.items()}
                for i, s in state["state"].items()
            }
            t.optimizer.load_state_dict({"state": per_run, "param_groups": t.optimizer.state_dict()["param_groups"]})
