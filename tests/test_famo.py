"""FAMO: its loss and its logits' update against the authors' code, its state, and training end to end."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mtl_uncertainty.weighting import WEIGHTINGS
from tests.test_gradient_methods import trains_records_and_resumes_exactly
from tests.test_weighting import NO_RECON, STEP0, make, recorded


def famo_authors(losses: np.ndarray, after: np.ndarray, logits: np.ndarray, adam: dict, lr: float, gamma: float):
    """Cranial-XIX/FAMO famo.py: the weighted loss's gradient in the losses, then `update` (torch's Adam, L2 decay)."""
    z = np.exp(logits) / np.exp(logits).sum()
    d = losses + 1e-8
    grad_in_losses = z / (z / d).sum() / d
    delta = np.log(losses + 1e-8) - np.log(after + 1e-8)
    g = (np.diag(z) - np.outer(z, z)) @ delta + gamma * logits  # ∂softmax/∂ξᵀ·δ, and Adam's weight decay
    adam["t"] += 1
    adam["m"] = 0.9 * adam["m"] + 0.1 * g
    adam["v"] = 0.999 * adam["v"] + 0.001 * g * g
    m_hat, v_hat = adam["m"] / (1 - 0.9 ** adam["t"]), adam["v"] / (1 - 0.999 ** adam["t"])
    return grad_in_losses, logits - lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def test_famo_descends_the_log_losses_and_steps_its_logits_as_the_authors_code() -> None:
    method = make("famo", "weighting.lr=0.1", "weighting.gamma=0.01")
    steps = [([0.9, 2.1, 0.3], [0.7, 2.0, 0.29]), ([0.7, 2.0, 0.29], [0.5, 1.99, 0.28])]
    logits, adam = np.zeros(3), {"t": 0, "m": np.zeros(3), "v": np.zeros(3)}
    for before, after in steps:
        losses = torch.tensor(before, requires_grad=True)
        method(losses, STEP0).backward()
        grad_in_losses, logits = famo_authors(np.array(before), np.array(after), logits, adam, 0.1, 0.01)
        assert np.allclose(losses.grad.numpy(), grad_in_losses, rtol=1e-6)
        assert math.isclose(losses.grad.sum().item(), 1, rel_tol=1e-6)  # a convex combination of the gradients
        method.after_step(lambda after=after: torch.tensor(after))
        assert np.allclose(method.logits.detach().numpy(), logits, rtol=1e-5, atol=1e-7)
    values = recorded(method, torch.tensor(steps[-1][1]))
    assert np.allclose(values["z"], np.exp(logits) / np.exp(logits).sum(), rtol=1e-5)
    assert method.optimizer_groups() == [] and math.isclose(sum(values["weight"]), 1, rel_tol=1e-6)


def test_famo_keeps_its_adam_state_in_the_methods_state_and_ignores_an_inactive_task() -> None:
    method = make("famo", active=NO_RECON)
    method(torch.tensor([1.0, 2.0, 0.0]), STEP0)
    method.after_step(lambda: torch.tensor([0.5, 1.9, 0.0]))
    state = method.state_dict()
    copy = make("famo", active=NO_RECON)
    copy.load_state_dict(state)
    for m in (method, copy):
        m(torch.tensor([0.5, 1.9, 0.0]), STEP0)
        m.after_step(lambda: torch.tensor([0.4, 1.7, 0.0]))
    assert torch.equal(method.logits, copy.logits) and method.logits[2].item() == 0.0
    assert recorded(method, torch.tensor([1.0, 1.0, 0.0]))["z"][2] == 0.0


def test_famo_trains_alone_and_resumes_exactly(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert not WEIGHTINGS["famo"].stackable and not WEIGHTINGS["famo"].graphable  # its step after the network's
    trains_records_and_resumes_exactly(tmp_path, synthetic_root, monkeypatch, "famo")
