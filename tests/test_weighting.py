"""The weighting methods: each one's formula on hand-computed numbers, its gradients, and its checks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from mtl_uncertainty.config import ConfigError, validate
from mtl_uncertainty.seeding import generator
from mtl_uncertainty.weighting import WEIGHTINGS, RunContext, build_weighting, initial_log_vars
from mtl_uncertainty.weighting.gradients import GradientMethod
from tests.conftest import CONF, compose_cfg

ALL_ON = (True, True, True)
NO_RECON = (True, True, False)
STEP0 = torch.zeros((), dtype=torch.long)


def make(option: str, *overrides: str, active=ALL_ON, s0=(0.5, 0.5, 0.5), seed: int = 0, steps: int = 4):
    """The method of `conf/weighting/<option>.yaml` with `overrides`, built for a run."""
    cfg = compose_cfg(f"weighting={option}", *overrides)
    return build_weighting(cfg.weighting, RunContext(active, torch.tensor(s0), seed, steps))


def recorded(method, losses: torch.Tensor, step: torch.Tensor = STEP0) -> dict[str, list[float]]:
    with torch.no_grad():
        rows = method.record(losses, step)
    return {name: row.tolist() for name, row in zip(method.recorded, rows)}


def test_every_yaml_option_builds_and_every_method_has_a_yaml() -> None:
    options = sorted(p.stem for p in (CONF / "weighting").glob("*.yaml"))
    extra = {"single": "weighting.task=cls3", "fixed_end": "+weighting.weights_by_seed={0: {cls3: 1, cls10: 2}}"}
    names = {compose_cfg(f"weighting={o}", extra.get(o, "seed=0")).weighting.name for o in options}
    assert names == set(WEIGHTINGS)
    for option in options:
        if option != "single":
            method = make(option, *([extra[option]] if option in extra else []))
            for name, value in method.epoch_buffers(1, []).items():
                getattr(method, name).copy_(value)
            assert "weight" in method.recorded
            weight = recorded(method, torch.tensor([1.0, 2.0, 3.0]))["weight"]
            if isinstance(method, GradientMethod):  # its weights come from a step's gradients (test_gradient_methods)
                assert all(math.isnan(w) for w in weight)
            else:
                assert sum(weight) > 0


def test_uncertainty_seed_form_value_and_gradients_match_the_formula() -> None:
    s = (0.3, -0.7, 1.1)
    w = make("learnable", s0=s)
    losses = torch.tensor([0.9, 2.2, 0.05], requires_grad=True)
    total = w(losses, STEP0)
    total.backward()
    expected = sum(0.5 * math.exp(-si) * li + 0.5 * si for si, li in zip(s, losses.tolist()))
    assert total.item() == pytest.approx(expected, rel=1e-6)
    for i in range(3):
        si, li = s[i], losses[i].item()
        assert w.s.grad[i].item() == pytest.approx(-0.5 * math.exp(-si) * li + 0.5, rel=1e-5)
        assert losses.grad[i].item() == pytest.approx(0.5 * math.exp(-si), rel=1e-6)
    values = recorded(w, losses.detach())
    assert values["weight"] == pytest.approx([0.5 * math.exp(-v) for v in s], rel=1e-6)
    assert values["sigma"] == pytest.approx([math.exp(v / 2) for v in s], rel=1e-6)
    assert values["s_eq"] == pytest.approx([math.log(li) for li in losses.tolist()], rel=1e-6)


def test_uncertainty_kendall_form_scales_classification_by_one_and_regression_by_half() -> None:
    s = (0.2, 0.4, 0.6)
    total = make("learnable", "weighting.form=kendall", s0=s)(torch.tensor([1.0, 2.0, 3.0]), STEP0).item()
    e = [math.exp(-v) for v in s]
    assert total == pytest.approx(1.0 * e[0] * 1.0 + 1.0 * e[1] * 2.0 + 0.5 * e[2] * 3.0 + 0.5 * sum(s), rel=1e-6)


@pytest.mark.parametrize(("form", "scale"), [("seed", (0.5, 0.5, 0.5)), ("kendall", (1.0, 1.0, 0.5))])
def test_learnable_s_converges_to_its_closed_form_optimum(form: str, scale: tuple[float, ...]) -> None:
    """With L fixed, d/ds [c·e^(−s)·L + s/2] = 0 at s* = log(2cL): log L (seed), log 2L (kendall, cls)."""
    losses = torch.tensor([0.25, 2.5, 0.02])
    w = make("learnable", f"weighting.form={form}")
    opt = torch.optim.Adam(w.parameters(), lr=0.05)
    for _ in range(3000):
        opt.zero_grad()
        w(losses, STEP0).backward()
        opt.step()
    expected = [math.log(2 * c * li) for c, li in zip(scale, losses.tolist())]
    assert w.s.detach().tolist() == pytest.approx(expected, abs=1e-3)
    assert recorded(w, losses)["s_eq"] == pytest.approx(expected, abs=1e-6)


def test_an_inactive_task_adds_nothing_and_gets_no_gradient() -> None:
    w = make("learnable", active=NO_RECON, s0=(0.1, 0.2, 0.3))
    total = w(torch.tensor([1.0, 2.0, 123.0]), STEP0)
    total.backward()
    two_task = sum(0.5 * math.exp(-si) * li + 0.5 * si for si, li in zip([0.1, 0.2], [1.0, 2.0]))
    assert total.item() == pytest.approx(two_task, rel=1e-6)
    assert w.s.grad[2].item() == 0.0
    assert recorded(w, torch.ones(3))["weight"][2] == 0.0


def test_fixed_is_the_weighted_sum_and_has_nothing_to_learn() -> None:
    w = make("fixed", "weighting.weights.cls10=2.0", "weighting.weights.recon=0.5")
    assert w(torch.tensor([1.0, 2.0, 4.0]), STEP0).item() == pytest.approx(1.0 + 4.0 + 2.0)
    assert list(w.parameters()) == [] and w.optimizer_groups() == []
    assert make("fixed", active=NO_RECON)(torch.tensor([1.0, 2.0, 4.0]), STEP0).item() == 3.0


def test_single_trains_one_task_and_only_records_the_others() -> None:
    w = make("single_cls10")
    losses = torch.tensor([1.5, 2.5, 0.7], requires_grad=True)
    w(losses, STEP0).backward()
    assert losses.grad.tolist() == [0.0, 1.0, 0.0]
    assert w.trained() == (False, True, False)
    assert recorded(w, losses.detach())["weight"] == [0.0, 1.0, 0.0]


def test_liebel_value_gradient_and_where_sigma_settles() -> None:
    s0 = (0.4, -0.2, 1.0)
    w = make("liebel", s0=s0)
    losses = torch.tensor([0.8, 2.0, 0.1])
    total = w(losses, STEP0)
    total.backward()
    sig = [math.exp(v / 2) for v in s0]
    assert w.sigma.detach().tolist() == pytest.approx(sig, rel=1e-6)
    expected = sum(li / (2 * si**2) + math.log(1 + si**2) for si, li in zip(sig, losses.tolist()))
    assert total.item() == pytest.approx(expected, rel=1e-6)
    grads = [-li / si**3 + 2 * si / (1 + si**2) for si, li in zip(sig, losses.tolist())]
    assert w.sigma.grad.tolist() == pytest.approx(grads, rel=1e-5)
    settle = recorded(w, losses)["s_eq"]
    for li, log_var in zip(losses.tolist(), settle):  # the derivative in σ² vanishes at s_eq
        v = math.exp(log_var)
        assert -li / (2 * v**2) + 1 / (1 + v) == pytest.approx(0.0, abs=1e-6)
    assert recorded(w, losses)["weight"] == pytest.approx([1 / (2 * si**2) for si in sig], rel=1e-6)


def test_imtl_l_value_gradient_and_equilibrium() -> None:
    s0 = (0.3, -0.5, 0.0)
    w = make("imtl_l", s0=s0)
    losses = torch.tensor([0.5, 2.0, 0.04])
    total = w(losses, STEP0)
    total.backward()
    assert total.item() == pytest.approx(sum(math.exp(s) * li - s for s, li in zip(s0, losses.tolist())), rel=1e-6)
    assert w.s.grad.tolist() == pytest.approx([math.exp(s) * li - 1 for s, li in zip(s0, losses.tolist())], rel=1e-5)
    values = recorded(w, losses)
    assert values["s_eq"] == pytest.approx([-math.log(li) for li in losses.tolist()], rel=1e-6)
    assert values["weight"] == pytest.approx([math.exp(s) for s in s0], rel=1e-6)


def test_rlw_draws_softmax_of_a_seeded_normal_per_step_and_epoch() -> None:
    w = make("rlw", seed=7, steps=5, active=NO_RECON)
    draws = w.epoch_buffers(2, [])["draws"]
    z = torch.randn((5, 3), generator=generator(7, "weighting", 2))
    expected = torch.softmax(z[:, :2], dim=-1)
    assert torch.allclose(draws[:, :2], expected) and (draws[:, 2] == 0).all()
    assert torch.equal(make("rlw", seed=7, steps=5, active=NO_RECON).epoch_buffers(2, [])["draws"], draws)
    assert not torch.equal(w.epoch_buffers(3, [])["draws"], draws)
    assert not torch.equal(make("rlw", seed=8, steps=5, active=NO_RECON).epoch_buffers(2, [])["draws"], draws)
    w.draws.copy_(draws)
    losses = torch.tensor([1.0, 3.0, 5.0])
    step = torch.tensor(3)
    assert w(losses, step).item() == pytest.approx(draws[3, 0].item() * 1.0 + draws[3, 1].item() * 3.0, rel=1e-6)
    assert recorded(w, losses, step)["weight"] == pytest.approx(draws[3].tolist())


def test_dwa_weights_follow_the_ratio_of_the_last_two_epochs_mean_losses() -> None:
    w = make("dwa")
    history = [
        {"train": {"loss_cls3": 1.0, "loss_cls10": 2.0, "loss_recon": 0.5}},
        {"train": {"loss_cls3": 0.5, "loss_cls10": 1.8, "loss_recon": 0.5}},
    ]
    assert w.epoch_buffers(1, []).get("lambdas").tolist() == [1.0, 1.0, 1.0]
    assert w.epoch_buffers(2, history[:1])["lambdas"].tolist() == [1.0, 1.0, 1.0]
    ratios = [0.5 / 1.0, 1.8 / 2.0, 0.5 / 0.5]
    e = [math.exp(r / 2.0) for r in ratios]
    assert w.epoch_buffers(3, history)["lambdas"].tolist() == pytest.approx([3 * x / sum(e) for x in e], rel=1e-6)
    two = make("dwa", "weighting.temperature=1.0", active=NO_RECON).epoch_buffers(3, history)["lambdas"]
    e2 = [math.exp(r) for r in ratios[:2]]
    assert two.tolist() == pytest.approx([2 * e2[0] / sum(e2), 2 * e2[1] / sum(e2), 0.0], rel=1e-6)


def test_gls_is_the_geometric_mean_of_the_active_losses() -> None:
    w = make("gls")
    losses = torch.tensor([0.5, 2.0, 0.1], requires_grad=True)
    total = w(losses, STEP0)
    total.backward()
    geo = (0.5 * 2.0 * 0.1) ** (1 / 3)
    assert total.item() == pytest.approx(geo, rel=1e-6)
    assert losses.grad.tolist() == pytest.approx([geo / (3 * li) for li in (0.5, 2.0, 0.1)], rel=1e-5)
    assert recorded(w, losses.detach())["weight"] == pytest.approx(losses.grad.tolist(), rel=1e-5)
    assert make("gls", active=NO_RECON)(torch.tensor([0.5, 2.0, 9.0]), STEP0).item() == pytest.approx(1.0)


def test_uw_so_is_a_softmax_of_inverse_losses_at_temperature_t() -> None:
    w = make("uw_so", "weighting.temperature=2.0")
    losses = torch.tensor([0.5, 2.0, 0.25], requires_grad=True)
    e = [math.exp((1 / li) / 2.0) for li in (0.5, 2.0, 0.25)]
    weights = [x / sum(e) for x in e]
    total = w(losses, STEP0)
    total.backward()
    assert total.item() == pytest.approx(sum(wi * li for wi, li in zip(weights, (0.5, 2.0, 0.25))), rel=1e-5)
    assert losses.grad.tolist() == pytest.approx(weights, rel=1e-5)  # the weights are detached
    assert recorded(w, losses.detach())["weight"] == pytest.approx(weights, rel=1e-5)


class ToyNet(nn.Module):
    """A 'network' whose last shared layer has two weights, for GradNorm's gradient norms."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(2, 1, bias=False)
        with torch.no_grad():
            self.layer.weight.copy_(torch.tensor([[1.0, 2.0]]))

    def last_shared_layer(self) -> nn.Linear:
        return self.layer


def test_gradnorm_balances_gradient_norms_on_the_last_shared_layer() -> None:
    net = ToyNet()
    w = make("gradnorm", "weighting.alpha=1.5")
    w.bind(net)
    W = net.layer.weight[0]
    losses = torch.stack((W[0] ** 2, 3 * W[1], W[0] + W[1]))  # gradient norms on W: 2, 3, √2
    total = w(losses, STEP0)
    total.backward()
    norms = [2.0, 3.0, math.sqrt(2)]
    target = sum(norms) / 3  # first step: every loss ratio is 1
    l_grad = sum(abs(g - target) for g in norms)
    assert total.item() == pytest.approx(sum(losses.tolist()) + l_grad, rel=1e-5)
    assert w.w.grad.tolist() == pytest.approx([math.copysign(g, g - target) for g in norms], rel=1e-5)
    assert net.layer.weight.grad[0].tolist() == pytest.approx([2 * 1.0 + 1, 3 + 1], rel=1e-5)  # Σ w̄_i ∇L_i
    assert w.initial_losses.tolist() == pytest.approx([1.0, 6.0, 3.0])
    with torch.no_grad():
        w.w.copy_(torch.tensor([1.0, 2.0, 3.0]))
    w.after_step(lambda: pytest.fail("GradNorm needs no losses after the step"))
    assert w.w.tolist() == pytest.approx([0.5, 1.0, 1.5])


def test_gradnorm_targets_use_the_loss_ratios_since_the_first_step() -> None:
    net = ToyNet()
    w = make("gradnorm", "weighting.alpha=2.0")
    w.bind(net)
    w.initial_losses.copy_(torch.tensor([2.0, 6.0, 1.0]))
    W = net.layer.weight[0]
    losses = torch.stack((W[0] ** 2, 3 * W[1], W[0] + W[1]))  # 1, 6, 3: ratios 0.5, 1, 3
    w(losses, STEP0).backward()
    norms = [2.0, 3.0, math.sqrt(2)]
    ratios = [0.5, 1.0, 3.0]
    relative = [r / (sum(ratios) / 3) for r in ratios]
    targets = [sum(norms) / 3 * r**2 for r in relative]
    assert w.w.grad.tolist() == pytest.approx([math.copysign(g, g - t) for g, t in zip(norms, targets)], rel=1e-5)


def test_learned_methods_put_their_parameters_in_their_own_adam_group() -> None:
    for option, param in (("learnable", "s"), ("liebel", "sigma"), ("imtl_l", "s"), ("gradnorm", "w")):
        w = make(option, "weighting.lr=0.01", "weighting.weight_decay=0.001")
        assert w.optimizer_groups() == [{"params": [param], "lr": 0.01, "weight_decay": 0.001}]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["weighting=dwa", "weighting.temperature=0"], "weighting.temperature=0.0 is not a positive number"),
        (["weighting=uw_so", "weighting.temperature=-1"], "weighting.temperature=-1.0 is not a positive number"),
        (["weighting=gradnorm", "weighting.alpha=-1"], "weighting.alpha=-1.0 is negative"),
        (["weighting=liebel", "weighting.lr=0"], "weighting.lr=0.0 is not a positive number"),
        (["weighting=single_recon", "recon=false"], "weighting.task=recon trains a task that recon=false turns off"),
        (["weighting=single"], "weighting.task has no value"),
        (
            ["weighting=fixed", "weighting.weights.cls3=0", "weighting.weights.cls10=0", "recon=false"],
            "every active task's weight is 0",
        ),
        (["sigma_init=constant", "sigma_init.value=1e6"], "sigma_init.value=1000000.0 is outside"),
        (["sigma_init.high=40"], "a bound outside"),
        (["sigma_init.low=0.6", "sigma_init.high=0.5"], "sigma_init.low <= sigma_init.high"),
        (["weighting=fixed", "weighting.weights.cls10=-0.5"], "weighting.weights.cls10=-0.5 is a negative"),
        (["weighting=fixed", "weighting.weights.recon=nan"], "weighting.weights.recon=nan is a negative or non-finite"),
        # values a 64-bit float holds and the run's 32-bit tensors do not: refused, not diverged at step 1
        (
            ["weighting=fixed", "weighting.weights.cls10=1e39"],
            "weighting.weights.cls10=1e+39 is a negative or non-finite",
        ),
        (["weighting=uw_so", "weighting.temperature=1e-300"], "weighting.temperature=1e-300 is not a positive number"),
        (["weighting=dwa", "weighting.temperature=1e-40"], "weighting.temperature=1e-40 is not a positive number"),
        (
            ["weighting=gradnorm", "weighting.alpha=1e308"],
            "weighting.alpha=1e+308 is negative or not finite (or beyond",
        ),
        (["weighting=liebel", "weighting.weight_decay=1e39"], "weighting.weight_decay=1e+39 is negative or not finite"),
        (["train.adam_eps=1e-300"], "train.adam_eps=1e-300 is not a positive number a 32-bit tensor holds"),
        (["weighting=cagrad", "weighting.c=-0.1"], "weighting.c=-0.1 is negative"),
        (["weighting=nash_mtl", "weighting.max_norm=-1"], "weighting.max_norm=-1.0 is negative"),
        (["weighting=nash_mtl", "weighting.update_weights_every=0"], "weighting.update_weights_every=0 is below 1"),
        (["weighting=nash_mtl", "weighting.optim_niter=0"], "weighting.optim_niter=0 is below 1"),
        (["weighting=mgda_ub", "weighting.epsilon=0"], "weighting.epsilon=0.0 is not a positive number"),
        (["weighting=mgda_ub", "weighting.max_iters=0"], "weighting.max_iters=0 runs no Frank-Wolfe step"),
        (["weighting=famo", "weighting.lr=0"], "weighting.lr=0.0 is not a positive number"),
        (["weighting=famo", "weighting.gamma=-1"], "weighting.gamma=-1.0 is negative"),
    ],
)
def test_each_methods_own_checks_name_the_problem(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match="Invalid configuration") as err:
        validate(compose_cfg(*overrides))
    assert message in str(err.value)


@pytest.mark.parametrize(
    "overrides",
    [
        ["sigma_init=constant", "sigma_init.value=30"],
        ["sigma_init=constant", "sigma_init.value=-30"],
        ["sigma_init.low=-30", "sigma_init.high=30"],
        ["sigma_init.low=0.5", "sigma_init.high=0.5"],
        ["weighting=fixed", "weighting.weights.cls10=0"],
    ],
)
def test_values_on_the_edge_of_what_the_checks_allow_are_accepted(overrides: list[str]) -> None:
    validate(compose_cfg(*overrides))


def test_sigma_init_uniform_is_seeded_and_in_range_and_constant_is_constant() -> None:
    cfg = compose_cfg("sigma_init=uniform")
    a = initial_log_vars(cfg.sigma_init, torch.Generator().manual_seed(1))
    b = initial_log_vars(cfg.sigma_init, torch.Generator().manual_seed(1))
    c = initial_log_vars(cfg.sigma_init, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert ((a >= 0.2) & (a <= 1.0)).all()
    const = compose_cfg("sigma_init=constant", "sigma_init.value=-0.5").sigma_init
    assert initial_log_vars(const, torch.Generator()).tolist() == [-0.5, -0.5, -0.5]


def test_the_weighting_package_holds_one_module_per_method() -> None:
    package = Path(__file__).resolve().parents[1] / "src" / "mtl_uncertainty" / "weighting"
    modules = {p.stem for p in package.glob("*.py")} - {"__init__", "base", "initial", "gradients"}
    assert len(modules) == len(WEIGHTINGS)
