"""The weighting methods: objective values, gradients, and where learnable s settles."""

from __future__ import annotations

import math

import pytest
import torch

from mtl_uncertainty.tasks import TASKS
from mtl_uncertainty.weighting import (
    FixedWeighting,
    UncertaintyWeighting,
    build_weighting,
    initial_log_vars,
)
from tests.conftest import compose_cfg

ALL_ON = (True, True, True)


def test_seed_form_value_and_gradients_match_the_formula() -> None:
    s = torch.tensor([0.3, -0.7, 1.1])
    losses = torch.tensor([0.9, 2.2, 0.05], requires_grad=True)
    w = UncertaintyWeighting(ALL_ON, s, "seed")
    total = w(losses).total
    total.backward()
    expected = sum(0.5 * math.exp(-si) * li + 0.5 * si for si, li in zip(s.tolist(), losses.tolist()))
    assert total.item() == pytest.approx(expected, rel=1e-6)
    for i in range(3):
        si, li = s[i].item(), losses[i].item()
        assert w.s.grad[i].item() == pytest.approx(-0.5 * math.exp(-si) * li + 0.5, rel=1e-5)
        assert losses.grad[i].item() == pytest.approx(0.5 * math.exp(-si), rel=1e-6)
    assert w.weights().tolist() == pytest.approx([0.5 * math.exp(-v) for v in s.tolist()], rel=1e-6)


def test_kendall_form_scales_classification_by_one_and_regression_by_half() -> None:
    s = torch.tensor([0.2, 0.4, 0.6])
    losses = torch.tensor([1.0, 2.0, 3.0])
    total = UncertaintyWeighting(ALL_ON, s, "kendall")(losses).total.item()
    e = [math.exp(-v) for v in s.tolist()]
    expected = 1.0 * e[0] * 1.0 + 1.0 * e[1] * 2.0 + 0.5 * e[2] * 3.0 + 0.5 * sum(s.tolist())
    assert total == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("form", "scale"), [("seed", (0.5, 0.5, 0.5)), ("kendall", (1.0, 1.0, 0.5))])
def test_learnable_s_converges_to_its_closed_form_optimum(form: str, scale: tuple[float, ...]) -> None:
    """With L fixed, d/ds [c·e^(−s)·L + s/2] = 0 at s* = log(2cL): log L (seed), log 2L (kendall, cls)."""
    losses = torch.tensor([0.25, 2.5, 0.02])
    w = UncertaintyWeighting(ALL_ON, torch.tensor([0.5, 0.5, 0.5]), form)
    opt = torch.optim.Adam(w.parameters(), lr=0.05)
    for _ in range(3000):
        opt.zero_grad()
        w(losses).total.backward()
        opt.step()
    expected = [math.log(2 * c * li) for c, li in zip(scale, losses.tolist())]
    assert w.s.detach().tolist() == pytest.approx(expected, abs=1e-3)


def test_inactive_task_adds_nothing_and_gets_no_gradient() -> None:
    s = torch.tensor([0.1, 0.2, 0.3])
    on = UncertaintyWeighting((True, True, False), s, "seed")
    losses = torch.tensor([1.0, 2.0, 123.0])
    total = on(losses).total
    total.backward()
    two_task = sum(0.5 * math.exp(-si) * li + 0.5 * si for si, li in zip([0.1, 0.2], [1.0, 2.0]))
    assert total.item() == pytest.approx(two_task, rel=1e-6)
    assert on.s.grad[2].item() == 0.0
    assert on.weights()[2].item() == 0.0


def test_fixed_weighting_is_the_weighted_sum_and_has_nothing_to_learn() -> None:
    w = FixedWeighting((True, True, True), [1.0, 2.0, 0.5])
    assert w(torch.tensor([1.0, 2.0, 4.0])).total.item() == pytest.approx(1.0 + 4.0 + 2.0)
    assert list(w.parameters()) == []
    assert w.log_vars() is None
    assert FixedWeighting((True, True, False), [1, 1, 1])(torch.tensor([1.0, 2.0, 4.0])).total.item() == 3.0


def test_weightings_are_built_from_their_config_by_name() -> None:
    s0 = torch.zeros(len(TASKS))
    learn = build_weighting(compose_cfg("weighting.form=kendall").weighting, ALL_ON, s0)
    assert isinstance(learn, UncertaintyWeighting)
    assert learn.scale.tolist() == [1.0, 1.0, 0.5]
    fixed = build_weighting(compose_cfg("weighting=fixed", "weighting.weights.recon=0.25").weighting, ALL_ON, s0)
    assert isinstance(fixed, FixedWeighting)
    assert fixed.weights().tolist() == [1.0, 1.0, 0.25]


def test_sigma_init_uniform_is_seeded_and_in_range_and_constant_is_constant() -> None:
    cfg = compose_cfg("sigma_init=uniform")
    a = initial_log_vars(cfg.sigma_init, torch.Generator().manual_seed(1))
    b = initial_log_vars(cfg.sigma_init, torch.Generator().manual_seed(1))
    c = initial_log_vars(cfg.sigma_init, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert ((a >= 0.2) & (a <= 1.0)).all()
    const = compose_cfg("sigma_init=constant", "sigma_init.value=-0.5").sigma_init
    assert initial_log_vars(const, torch.Generator()).tolist() == [-0.5, -0.5, -0.5]
