"""Many runs trained as one: the sweep's fast path on a GPU.

The parameters of J runs are stacked along a leading run dimension
(`torch.func.stack_module_state`), the network and the weighting are applied per run with
`torch.func.vmap` + `functional_call`, and one Adam steps all of them; Adam is elementwise, so
each run's update is its own. Each run keeps its own seed (weights, initial s, data order),
reconstruction flag, loss form or fixed weights; runs stack when everything else is equal.
Each run still ends with its own checkpoints and result.json, exactly as a run trained alone.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig
from torch import Tensor
from torch.func import functional_call, stack_module_state, vmap

from . import faults
from .config import to_plain
from .cuda_graphs import CudaGraphSteps
from .data import Split, epoch_order, steps_per_epoch
from .engine import STEP_FIELDS, Trainer, eval_metrics, step_row
from .run import Session, SingleRun, load_data, open_session, prepare, resolve_device, train_sessions
from .seeding import generator
from .tasks import TASKS, correct_counts, task_losses

log = logging.getLogger(__name__)

PER_RUN_KEYS = ("seed", "recon", "sigma_init", "model", "weighting.form", "weighting.weights")
"""Config entries in which the runs of one stack may differ."""


def stack_key(session: Session) -> str:
    """Sessions with equal keys can be trained as one stack."""
    plain = to_plain(session.cfg)
    for key in PER_RUN_KEYS:
        head, _, tail = key.partition(".")
        (plain[head] if tail else plain).pop(tail or head, None)
    return json.dumps({"config": plain, "epoch": session.epoch}, sort_keys=True)


class StackedTrainer:
    """Trains the networks of several `Trainer`s as one stacked network (see the module docstring)."""

    def __init__(self, trainers: Sequence[Trainer]) -> None:
        first = trainers[0]
        self.train, self.batch_size = first.train, first.batch_size
        self.seeds = [t.seed for t in trainers]
        self.reconstruct = [t.reconstruct for t in trainers]
        self.model = copy.deepcopy(first.model).to("meta")
        self.weighting = copy.deepcopy(first.weighting).to("meta")
        self.params, self.buffers = stack_module_state([t.model for t in trainers])
        self.w_params, self.w_buffers = stack_module_state([t.weighting for t in trainers])
        # plain layout for the stacked tensors, whatever layout the runs' own networks use
        self.params = {k: v.detach().contiguous().requires_grad_() for k, v in self.params.items()}
        groups = [{"params": list(self.params.values())}]
        if self.w_params:
            extra = first.optimizer.param_groups[1]
            groups.append(
                {"params": list(self.w_params.values()), "lr": extra["lr"], "weight_decay": extra["weight_decay"]}
            )
        defaults = first.optimizer.param_groups[0]
        fused = {"capturable": True, "fused": True} if defaults.get("capturable") else {}
        self.optimizer = torch.optim.Adam(groups, lr=defaults["lr"], eps=defaults["eps"], **fused)
        self._load_optimizer_states([t.optimizer for t in trainers])
        self.graphs: CudaGraphSteps | None = None
        self.on_step: Callable[[], None] | None = None

    @property
    def size(self) -> int:
        return len(self.seeds)

    @property
    def steps_per_epoch(self) -> int:
        return steps_per_epoch(len(self.train), self.batch_size)

    def _load_optimizer_states(self, optimizers: Sequence[torch.optim.Optimizer]) -> None:
        """Stack the per-run Adam states (non-empty when the runs resume from checkpoints)."""
        states = [o.state_dict()["state"] for o in optimizers]
        if not states[0]:
            return
        stacked = {
            i: {
                key: (value if key == "step" else torch.stack([s[i][key] for s in states]))
                for key, value in states[0][i].items()
            }
            for i in states[0]
        }
        self.optimizer.load_state_dict({"state": stacked, "param_groups": self.optimizer.state_dict()["param_groups"]})

    def _objective(self, params, buffers, w_params, w_buffers, x, y3, y10):
        out = functional_call(self.model, (params, buffers), (x,), {"reconstruct": True})
        losses = task_losses(out, x, y3, y10)
        objective = functional_call(self.weighting, (w_params, w_buffers), (losses,))
        return objective.total, losses, correct_counts(out, y3, y10)

    def _after(self, w_params, w_buffers, losses):
        return functional_call(self.weighting, (w_params, w_buffers), (losses,))

    def step(self, idx: Tensor) -> Tensor:
        """One step of every run on its batch `idx[j]`; the runs' `STEP_FIELDS` rows, (J, fields)."""
        x, y3, y10 = self.train.images[idx], self.train.y3[idx], self.train.y10[idx]
        totals, losses, correct = vmap(self._objective)(
            self.params, self.buffers, self.w_params, self.w_buffers, x, y3, y10
        )
        self.optimizer.zero_grad(set_to_none=True)
        totals.sum().backward()
        self.optimizer.step()
        with torch.no_grad():
            after = vmap(self._after)(self.w_params, self.w_buffers, losses.detach())
            return vmap(step_row, in_dims=(0, 0, 0, 0, None))(totals.detach(), losses, correct, after, idx.shape[1])

    def use_cuda_graphs(self) -> None:
        last = len(self.train) - (self.steps_per_epoch - 1) * self.batch_size
        shapes = [(self.size, self.batch_size), (self.size, last)]
        state = [*self.params.values(), *self.buffers.values(), *self.w_params.values()]
        self.graphs = CudaGraphSteps(self.step, shapes, state, self.optimizer, self.train.images.device)

    def train_epoch(self, epoch: int) -> np.ndarray:
        """One epoch of every run, each in its own seeded order; step rows (J, steps, fields) on the host."""
        device = self.train.images.device
        orders = torch.stack([epoch_order(len(self.train), generator(s, "data", epoch), device) for s in self.seeds])
        rows = torch.empty(self.steps_per_epoch, self.size, len(STEP_FIELDS), device=device)
        for i in range(self.steps_per_epoch):
            faults.hit("step")
            idx = orders[:, i * self.batch_size : (i + 1) * self.batch_size]
            rows[i] = self.graphs(idx) if self.graphs is not None else self.step(idx)
            if self.on_step is not None:
                self.on_step()
        return rows.transpose(0, 1).cpu().numpy()

    def _eval(self, params, buffers, x, y3, y10):
        out = functional_call(self.model, (params, buffers), (x,), {"reconstruct": True})
        return task_losses(out, x, y3, y10), correct_counts(out, y3, y10)

    @torch.no_grad()
    def evaluate(self, split: Split, batch_size: int) -> list[dict[str, float | None]]:
        """Each run's mean task losses and accuracies over a whole split."""
        sums = torch.zeros(self.size, len(TASKS) + 2, device=split.images.device)
        for x, y3, y10 in split.slices(batch_size):
            losses, correct = vmap(self._eval, in_dims=(0, 0, None, None, None))(self.params, self.buffers, x, y3, y10)
            sums += torch.cat((losses * x.shape[0], correct), dim=1)
        return [eval_metrics(row, r) for row, r in zip(sums / len(split), self.reconstruct)]

    @torch.no_grad()
    def unstack_into(self, trainers: Sequence[Trainer]) -> None:
        """Copy each run's parameters and Adam state back into its own trainer (for checkpoints)."""
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


def run_sweep(
    cfgs: Sequence[DictConfig], out_dirs: Sequence[Path], max_stack: int = 64, labels: Sequence[str] = ()
) -> list[Any]:
    """Run every job, training those that can stack together; each job's result or its exception."""
    t_start = time.perf_counter()
    outcomes: list[Any] = [None] * len(cfgs)
    opened: dict[str, list[tuple[int, Session, Split]]] = {}
    data: dict[tuple, tuple[Split, Split]] = {}
    for i, (cfg, out_dir) in enumerate(zip(cfgs, out_dirs)):
        try:
            out, digest, done = prepare(cfg, out_dir)
            if done is not None:
                outcomes[i] = done
                continue
            device = resolve_device(cfg.device)
            key = (cfg.data.root, cfg.data.verify, cfg.data.download, str(device), cfg.train.batch_size)
            if key not in data:
                data[key] = load_data(cfg, device)
            train, test = data[key]
            session = open_session(cfg, out, digest, train, device, t_start)
            session.label = labels[i] if labels else ""
            opened.setdefault(stack_key(session), []).append((i, session, test))
        except Exception as e:
            outcomes[i] = e
    for members in opened.values():
        for start in range(0, len(members), max_stack):
            chunk = members[start : start + max_stack]
            sessions, test = [m[1] for m in chunk], chunk[0][2]
            try:
                results = train_sessions(sessions, test, StackedTrainer if len(chunk) > 1 else SingleRun)
                for (i, _, _), result in zip(chunk, results):
                    outcomes[i] = result
            except Exception as e:
                log.error("a stack of %d runs failed: %s", len(chunk), e)
                for i, _, _ in chunk:
                    outcomes[i] = e
    return outcomes
