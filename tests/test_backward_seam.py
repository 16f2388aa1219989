"""The seam where a method may own the backward pass: the network names its shared and task parameters, and a
loss-weighting method trains bit for bit as the plain backward of its total did before the seam existed."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from mtl_uncertainty.data.splits import load_data
from mtl_uncertainty.model import TASK_MODULES, build_model
from mtl_uncertainty.runs.resume import prepare
from mtl_uncertainty.runs.session import open_session
from mtl_uncertainty.tasks import TASKS, task_losses
from tests.conftest import compose_cfg, tiny_overrides


def test_the_network_names_its_shared_and_task_parameters_and_they_partition_it() -> None:
    model = build_model("keras", 0)
    shared = model.shared_parameters()
    own = model.task_parameters()
    assert list(own) == list(TASKS) == list(TASK_MODULES)
    assert all(name.startswith("encoder.") for name, _ in shared)
    names = [n for n, _ in shared] + [n for t in TASKS for n, _ in own[t]]
    assert sorted(names) == sorted(n for n, _ in model.named_parameters())  # every parameter once
    assert model.shared_module() is model.encoder


def old_step(trainer, idx: torch.Tensor, i: torch.Tensor) -> None:
    """The training step before methods could own the backward pass: the total's plain backward."""
    x, y3, y10 = trainer.train.batch(idx)
    x = x.contiguous(memory_format=trainer.memory_format)
    losses = task_losses(trainer.model(x, reconstruct=trainer.reconstruct), x, y3, y10)
    total = trainer.weighting(losses, i)
    trainer.optimizer.zero_grad(set_to_none=True)
    total.backward()
    trainer.optimizer.step()
    trainer.weighting.after_step(lambda: pytest.fail("a loss-weighting method measured the step"))


@pytest.fixture
def one_thread():
    """One PyTorch thread, as the runs of the tests train (two threads spin against a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def trainer(cfg, folder: Path, data):
    """A run's trainer, as `run` builds it, without training."""
    out, identity, _ = prepare(cfg, folder)
    session = open_session(cfg, out, identity, data, torch.device("cpu"), 0.0)
    session.release()
    return session.trainer


@pytest.mark.parametrize("option", ["fixed", "learnable", "gradnorm", "uw_so"])
def test_a_loss_weighting_method_trains_bit_for_bit_as_the_backward_of_its_total(
    tmp_path: Path, synthetic_root: Path, one_thread, option: str
) -> None:
    cfg = compose_cfg(*tiny_overrides(synthetic_root), f"weighting={option}", "seed=4")
    data = load_data(cfg, torch.device("cpu"))
    new, old = trainer(cfg, tmp_path / "new", data), trainer(cfg, tmp_path / "old", data)
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(0))
    for step in range(6):
        idx, i = order[(step % 4) * 128 : (step % 4 + 1) * 128], torch.tensor(step % 4)
        new.step(idx, i)
        old_step(old, idx, i)
    for module in ("model", "weighting"):
        a, b = getattr(new, module).state_dict(), getattr(old, module).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), module
    sa, sb = new.optimizer.state_dict()["state"], old.optimizer.state_dict()["state"]
    assert all(torch.equal(sa[k]["exp_avg_sq"], sb[k]["exp_avg_sq"]) for k in sa)


def test_after_a_step_a_method_can_see_the_batch_losses_of_the_updated_network(
    tmp_path: Path, synthetic_root: Path, one_thread
) -> None:
    cfg = compose_cfg(*tiny_overrides(synthetic_root), "weighting=fixed")
    data = load_data(cfg, torch.device("cpu"))
    t = trainer(cfg, tmp_path, data)
    seen = []
    t.weighting.after_step = lambda losses_after: seen.append(losses_after())
    idx = torch.arange(128)
    x, y3, y10 = t.train.batch(idx)
    x = x.contiguous(memory_format=t.memory_format)
    with torch.no_grad():
        before = task_losses(t.model(x), x, y3, y10)
    t.step(idx, torch.tensor(0))
    with torch.no_grad():
        after = task_losses(t.model(x), x, y3, y10)
    assert len(seen) == 1 and torch.equal(seen[0], after) and not torch.equal(after, before)
