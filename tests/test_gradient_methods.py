"""The methods that own the backward pass: each on fixed per-task gradients against an independent NumPy
version of its authors' or LibMTL's formula (float precision where the formula is closed, the solver's
tolerance where it iterates), what the seam writes into the network's gradients, and training end to end."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.optimize import fsolve, minimize
from torch import nn

from mtl_uncertainty import faults
from mtl_uncertainty.run import run
from mtl_uncertainty.runs.resume import expected_shape
from mtl_uncertainty.storage import result_schema
from mtl_uncertainty.tasks import TASKS
from mtl_uncertainty.weighting import WEIGHTINGS, RunContext, build_weighting
from mtl_uncertainty.weighting.gradients import GradientMethod, TaskGradients
from mtl_uncertainty.weighting.pcgrad import pcgrad_weights
from tests.conftest import compose_cfg, tiny_overrides
from tests.test_weighting import ALL_ON, NO_RECON, STEP0, make, recorded

GRADIENT = sorted(n for n, m in WEIGHTINGS.items() if issubclass(m, GradientMethod))


def grads_of(jacobian: np.ndarray) -> TaskGradients:
    """Fixed per-task gradients (rows) of the first len(jacobian) tasks, with no head parameters."""
    return TaskGradients(tuple(range(len(jacobian))), torch.tensor(jacobian), tuple(() for _ in jacobian))


def conflicting(tasks: int = 3, dim: int = 6, seed: int = 0) -> np.ndarray:
    """Gradients with real conflicts: the second points partly against the first."""
    j = np.random.default_rng(seed).normal(size=(tasks, dim))
    j[1] -= 1.2 * j[0]
    return j


def test_the_gradient_methods_are_the_issues_seven_and_train_alone() -> None:
    assert GRADIENT == ["aligned_mtl", "cagrad", "imtl_g", "mgda_ub", "nash_mtl", "pcgrad", "upgrad"]
    for name in GRADIENT:
        assert not WEIGHTINGS[name].stackable and not WEIGHTINGS[name].graphable, name


def test_without_torchjd_a_gradient_method_says_in_one_paragraph_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mtl_uncertainty.weighting.gradients as gradients

    def missing(name: str):
        raise ModuleNotFoundError(f"No module named {name.split('.')[0]!r}")

    cfg = compose_cfg("weighting=upgrad")
    monkeypatch.setattr(gradients.importlib, "import_module", missing)  # after Hydra, which imports by it too
    with pytest.raises(ImportError) as err:
        build_weighting(cfg.weighting, RunContext(ALL_ON, torch.zeros(3), 0, 4))
    message = str(err.value)
    assert "\n" not in message and "No module named 'torchjd'" in message
    assert 'pip install "torchjd[quadprog-projector,cagrad,nash-mtl]==0.18.*"' in message


# ----- PCGrad -----------------------------------------------------------------------------------


def pcgrad_libmtl(grads: np.ndarray, orders: list[list[int]]) -> np.ndarray:
    """LibMTL/weighting/PCGrad.py's loop, with each task's shuffled order given instead of random.shuffle."""
    pc = grads.copy()
    for i in range(len(grads)):
        for j in orders[i]:  # LibMTL meets j = i too: g_i^PC·g_i stays positive for the gradients used here
            g_ij = pc[i] @ grads[j]
            if g_ij < 0:
                pc[i] -= g_ij * grads[j] / (grads[j] @ grads[j])
    return pc.sum(0)


def test_pcgrad_on_two_conflicting_2d_gradients_is_the_hand_computed_projection() -> None:
    """g1 = (1, 0), g2 = (−1, 1): g1^PC = g1 + g2/2 = (½, ½), g2^PC = g2 + g1 = (0, 1); sum (½, 3/2) = 2·g1 + 3/2·g2."""
    j = np.array([[1.0, 0.0], [-1.0, 1.0]])
    w = make("pcgrad", active=NO_RECON).combine(grads_of(j), torch.ones(3), STEP0).shared
    assert w.tolist() == [2.0, 1.5]
    assert (w.numpy() @ j).tolist() == [0.5, 1.5]
    agree = np.array([[1.0, 0.0], [1.0, 1.0]])  # no conflict: the plain sum
    assert make("pcgrad", active=NO_RECON).combine(grads_of(agree), torch.ones(3), STEP0).shared.tolist() == [1, 1]


def test_pcgrad_matches_libmtl_and_torchjd_in_each_drawn_order() -> None:
    j = conflicting()
    method = make("pcgrad", steps=5, seed=3)
    method.orders.copy_(method.epoch_buffers(1, [])["orders"])
    for step in range(5):
        orders = method.orders[step].tolist()
        w = method.combine(grads_of(j), torch.ones(3), torch.tensor(step)).shared.numpy()
        assert np.allclose(w @ j, pcgrad_libmtl(j, orders), rtol=1e-12, atol=1e-12)
    torch.manual_seed(11)
    drawn = [torch.randperm(3).tolist() for _ in range(3)]  # what torchjd's PCGradWeighting draws after this seed
    torch.manual_seed(11)
    from torchjd.aggregation import PCGradWeighting

    gramian = torch.tensor(j @ j.T)
    assert torch.allclose(PCGradWeighting()(gramian), pcgrad_weights(gramian, drawn), rtol=1e-12, atol=0)


def test_pcgrad_orders_come_from_the_runs_seed_and_epoch() -> None:
    def orders(seed: int, epoch: int) -> torch.Tensor:
        return make("pcgrad", seed=seed, steps=6).epoch_buffers(epoch, [])["orders"]

    a = orders(1, 2)
    assert a.shape == (6, 3, 3) and all(sorted(row) == [0, 1, 2] for row in a.reshape(-1, 3).tolist())
    assert torch.equal(a, orders(1, 2)) and not torch.equal(a, orders(1, 3)) and not torch.equal(a, orders(2, 2))


# ----- MGDA-UB ------------------------------------------------------------------------------------


def min_norm_2(g1: np.ndarray, g2: np.ndarray) -> float:
    """LibMTL/weighting/MGDA.py's `_min_norm_element_from2` (the authors' MinNormSolver): the weight on g1."""
    v11, v12, v22 = g1 @ g1, g1 @ g2, g2 @ g2
    assert v12 < min(v11, v22)  # the interior case, where neither end is clamped
    return -(v12 - v22) / (v11 + v22 - 2 * v12)


def frank_wolfe(gramian: np.ndarray, epsilon: float, iters: int) -> np.ndarray:
    """Algorithm 2 of Sener & Koltun (2018), the Frank-Wolfe solver of the min-norm point, on the Gramian."""
    m = len(gramian)
    alpha = np.full(m, 1 / m)
    for _ in range(iters):
        t = int(np.argmin(gramian @ alpha))
        a, b, c = alpha @ gramian[:, t], alpha @ gramian @ alpha, gramian[t, t]
        gamma = 1.0 if c <= a else 0.0 if b <= a else (b - a) / (b + c - 2 * a)
        alpha = (1 - gamma) * alpha
        alpha[t] += gamma
        if gamma < epsilon:
            break
    return alpha


class ToyNet(nn.Module):
    """A shared layer (3 → 4, tanh) read by three linear heads, one per task; squared-error losses."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, 4), nn.Tanh())
        self.heads = nn.ModuleDict({t: nn.Linear(4, 1) for t in TASKS})
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g))

    def shared_module(self) -> nn.Module:
        return self.encoder

    def shared_parameters(self) -> list[tuple[str, nn.Parameter]]:
        return list(self.encoder.named_parameters(prefix="encoder"))

    def task_parameters(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        return {t: list(self.heads[t].named_parameters(prefix=f"heads.{t}")) for t in TASKS}

    def losses(self, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """The representation z of a fixed batch of 8 and each task's loss on it."""
        g = torch.Generator().manual_seed(seed)
        x, y = torch.randn(8, 3, generator=g), torch.randn(8, 3, generator=g)
        z = self.encoder(x)
        return z, torch.stack([(self.heads[t](z)[:, 0] - y[:, i]).square().mean() for i, t in enumerate(TASKS)])


def bound(option: str, *overrides: str, active=ALL_ON):
    net = ToyNet()
    method = make(option, *overrides, active=active)
    method.bind(net)
    for name, value in method.epoch_buffers(1, []).items():
        getattr(method, name).copy_(value)
    return net, method


@pytest.mark.parametrize("normalization", ["none", "l2", "loss", "loss_norm"])
@pytest.mark.parametrize("active", [ALL_ON, NO_RECON], ids=["3 tasks", "2 tasks"])
def test_mgda_ub_weighs_by_the_min_norm_point_of_the_representation_gradients(normalization: str, active) -> None:
    net, method = bound("mgda_ub", f"weighting.normalization={normalization}", active=active)
    z, losses = net.losses()
    tasks = [i for i, on in enumerate(active) if on]
    rows = np.stack([torch.autograd.grad(losses[i], z, retain_graph=True)[0].reshape(-1).double() for i in tasks])
    norms, values = np.linalg.norm(rows, axis=1), losses.detach().double().numpy()[tasks]
    scale = {"none": np.ones(len(tasks)), "l2": norms, "loss": values, "loss_norm": values * norms}[normalization]
    rows = rows / scale[:, None]  # the authors' gradient_normalizers, before the solver
    if len(tasks) == 2:
        gamma = min_norm_2(rows[0], rows[1])
        expected = np.array([gamma, 1 - gamma])
    else:
        expected = frank_wolfe(rows @ rows.T, 1e-5, 250)
    method.backward(losses, STEP0)
    alpha = recorded(method, losses.detach())["weight"]
    assert np.allclose([alpha[i] for i in tasks], expected, rtol=1e-6, atol=1e-7)  # float32 weights
    assert all(alpha[i] == 0 for i in range(3) if i not in tasks) and math.isclose(sum(alpha), 1, rel_tol=1e-6)
    weights = torch.tensor(alpha)
    expected_grads = torch.autograd.grad((weights * net.losses()[1]).sum(), list(net.parameters()), allow_unused=True)
    for p, g in zip(net.parameters(), expected_grads):  # Σ α_i·L_i backpropagated: heads weighted too
        if g is None or not g.any():  # an inactive task's head: nothing to learn (the real decoder is not even run)
            assert p.grad is None or not p.grad.any()
        else:
            assert torch.allclose(p.grad, g, rtol=1e-5, atol=1e-7)


def test_mgda_ub_reaches_the_exact_min_norm_point_within_its_stopping_rule() -> None:
    j = conflicting()
    gramian = j @ j.T
    exact = minimize(
        lambda a: a @ gramian @ a, np.full(3, 1 / 3), bounds=[(0, 1)] * 3,
        constraints={"type": "eq", "fun": lambda a: a.sum() - 1}, options={"ftol": 1e-15},
    ).x  # fmt: skip
    alpha = make("mgda_ub").solver(torch.tensor(gramian)).numpy()
    assert np.allclose(alpha, frank_wolfe(gramian, 1e-5, 250), rtol=1e-12, atol=0)
    assert np.abs(alpha - exact).max() < 1e-4


# ----- CAGrad, IMTL-G, Aligned-MTL, UPGrad, Nash-MTL on fixed gradients ---------------------------


def cagrad_authors(grads: np.ndarray, c: float) -> np.ndarray:
    """The shared update of the authors' `cagrad(grads, alpha=c, rescale=1)` and `overwrite_grad` (×K), as in
    Cranial-XIX/CAGrad nyuv2/utils.py and LibMTL/weighting/CAGrad.py (which leaves out the ×K)."""
    gg = grads @ grads.T
    k = len(grads)
    x_start = np.ones(k) / k
    cc = c * np.sqrt(gg.mean() + 1e-8) + 1e-8

    def objfn(x: np.ndarray) -> float:
        return float(x @ gg @ x_start + cc * np.sqrt(x @ gg @ x + 1e-8))

    w = minimize(
        objfn, x_start, bounds=[(0, 1)] * k, constraints={"type": "eq", "fun": lambda x: 1 - x.sum()}
    ).x  # the authors' SLSQP, with its default tolerance
    gw = w @ grads
    return k * (grads.mean(0) + cc / (np.linalg.norm(gw) + 1e-8) * gw) / (1 + c**2)


@pytest.mark.parametrize(("c", "active"), [(0.4, ALL_ON), (0.4, NO_RECON), (0.8, ALL_ON)])
def test_cagrad_is_the_authors_update(c: float, active) -> None:
    j = conflicting()[: sum(active)]
    w = make("cagrad", f"weighting.c={c}", active=active).combine(grads_of(j), torch.ones(3), STEP0).shared.numpy()
    reference = cagrad_authors(j, c)
    assert np.abs(w @ j - reference).max() < 1e-6 * np.abs(reference).max()  # SLSQP's and Clarabel's tolerance


def test_cagrad_with_c_zero_is_the_sum_of_the_gradients() -> None:
    j = conflicting()
    w = make("cagrad", "weighting.c=0").combine(grads_of(j), torch.ones(3), STEP0).shared
    assert torch.allclose(w, torch.ones(3, dtype=torch.float64), rtol=1e-12)


def imtl_g_libmtl(grads: np.ndarray) -> np.ndarray:
    """The gradient part of LibMTL/weighting/IMTL.py (the paper's closed form α = g₁Uᵀ(DUᵀ)⁻¹, 1 − Σ first)."""
    unit = grads / np.linalg.norm(grads, axis=1, keepdims=True)
    d, u = grads[0] - grads[1:], unit[0] - unit[1:]
    alpha = grads[0] @ u.T @ np.linalg.inv(d @ u.T)
    return np.concatenate(([1 - alpha.sum()], alpha))


@pytest.mark.parametrize("active", [ALL_ON, NO_RECON], ids=["3 tasks", "2 tasks"])
def test_imtl_g_is_the_papers_closed_form_and_projects_equally_on_every_unit_gradient(active) -> None:
    j = conflicting()[: sum(active)]
    w = make("imtl_g", active=active).combine(grads_of(j), torch.ones(3), STEP0).shared.numpy()
    assert np.allclose(w, imtl_g_libmtl(j), rtol=1e-10, atol=1e-12) and math.isclose(w.sum(), 1, rel_tol=1e-12)
    projections = (w @ j) @ (j / np.linalg.norm(j, axis=1, keepdims=True)).T
    assert np.allclose(projections, projections[0], rtol=1e-10)


def aligned_mtl_libmtl(grads: np.ndarray) -> np.ndarray:
    """LibMTL/weighting/Aligned_MTL.py (from the authors' code): α = B.sum(0), B = √λ_min·V·Λ^(−½)·Vᵀ."""
    m = grads @ grads.T
    lam, v = np.linalg.eigh(m)
    rank = int((lam > lam.max() * len(m) * np.finfo(np.float64).eps).sum())
    order = np.argsort(lam)[::-1]
    lam, v = lam[order][:rank], v[:, order][:, :rank]
    b = np.sqrt(lam[-1]) * (v @ np.diag(1 / np.sqrt(lam)) @ v.T)
    return b.sum(0)


@pytest.mark.parametrize("active", [ALL_ON, NO_RECON], ids=["3 tasks", "2 tasks"])
def test_aligned_mtl_sums_gradients_made_orthogonal_and_of_equal_norm(active) -> None:
    j = conflicting()[: sum(active)]
    w = make("aligned_mtl", active=active).combine(grads_of(j), torch.ones(3), STEP0).shared.numpy()
    assert np.allclose(w, aligned_mtl_libmtl(j), rtol=1e-10, atol=1e-12)
    gram = j @ j.T
    lam, v = np.linalg.eigh(gram)
    b = np.sqrt(lam.min()) * v @ np.diag(lam**-0.5) @ v.T
    aligned = b @ j  # the aligned gradients: orthogonal, each of norm √λ_min
    assert np.allclose(aligned @ aligned.T, lam.min() * np.eye(len(j)), atol=1e-10 * lam.max())


def dual_cone_weights(u: np.ndarray, gramian: np.ndarray) -> np.ndarray:
    """argmin vᵀGv subject to v ≥ u, by trying every set of tight constraints (exact for a few tasks)."""
    m, best = len(u), None
    for tight in itertools.chain.from_iterable(itertools.combinations(range(m), r) for r in range(m + 1)):
        free = [i for i in range(m) if i not in tight]
        v = u.copy()
        if free:
            v[free] = -np.linalg.solve(gramian[np.ix_(free, free)], gramian[np.ix_(free, list(tight))] @ u[list(tight)])
        if (v >= u - 1e-12).all() and (best is None or v @ gramian @ v < best @ gramian @ best):
            best = v
    return best


@pytest.mark.parametrize("active", [ALL_ON, NO_RECON], ids=["3 tasks", "2 tasks"])
def test_upgrad_is_the_mean_projection_onto_the_dual_cone_and_conflicts_with_no_task(active) -> None:
    j = conflicting()[: sum(active)]
    m = len(j)
    gram = j @ j.T
    regular = gram / np.trace(gram) + 1e-4 * np.eye(m)  # torchjd's and LibMTL/weighting/UPGrad.py's normalisation
    expected = sum(dual_cone_weights(np.eye(m)[i] / m, regular) for i in range(m))
    w = make("upgrad", active=active).combine(grads_of(j), torch.ones(3), STEP0).shared.numpy()
    assert np.allclose(w, expected, rtol=1e-8, atol=1e-10)
    assert ((w @ j) @ j.T >= -1e-3 * np.abs(gram).max()).all()  # no conflict, up to the 10⁻⁴ regularisation


def nash_fixed_point(grads: np.ndarray) -> np.ndarray:
    """The Nash bargaining solution of Navon et al. (2022): the α > 0 with G·α = 1/α, solved to 1e-14."""
    gram = grads @ grads.T
    return fsolve(lambda a: gram @ a - 1 / a, np.ones(len(gram)), xtol=1e-14)


@pytest.mark.parametrize("active", [ALL_ON, NO_RECON], ids=["3 tasks", "2 tasks"])
def test_nash_mtl_solves_the_bargaining_condition(active) -> None:
    j = conflicting()[: sum(active)]
    w = make("nash_mtl", "weighting.max_norm=0", active=active).combine(grads_of(j), torch.ones(3), STEP0)
    reference = nash_fixed_point(j)
    assert np.allclose(w.shared.numpy(), reference, rtol=1e-6) and torch.equal(w.shared, w.heads)  # CCCP's tolerance
    orthogonal = np.array([[3.0, 0.0, 0.0], [0.0, 0.5, 0.0]])  # α_i = 1/‖g_i‖ in closed form
    w = make("nash_mtl", "weighting.max_norm=0", active=NO_RECON).combine(grads_of(orthogonal), torch.ones(3), STEP0)
    assert np.allclose(w.shared.numpy(), [1 / 3, 2.0], rtol=1e-6)


def test_nash_mtl_clips_the_shared_update_as_clip_grad_norm_does_and_leaves_the_heads_alone() -> None:
    orthogonal = np.array([[3.0, 0.0, 0.0], [0.0, 0.5, 0.0]])  # α = (1/3, 2): ‖α·J‖ = ‖(1, 1, 0)‖ = √2
    w = make("nash_mtl", active=NO_RECON).combine(grads_of(orthogonal), torch.ones(3), STEP0)
    scale = 1.0 / (math.sqrt(2) + 1e-6)
    assert np.allclose(w.shared.numpy(), np.array([1 / 3, 2.0]) * scale, rtol=1e-6)
    assert np.allclose(w.heads.numpy(), [1 / 3, 2.0], rtol=1e-6)


def test_nash_mtl_reuses_its_weights_between_updates_and_keeps_them_in_its_state() -> None:
    first, second = conflicting(seed=0), conflicting(seed=1)
    method = make("nash_mtl", "weighting.update_weights_every=2", "weighting.max_norm=0")
    a = method.combine(grads_of(first), torch.ones(3), STEP0).shared
    assert torch.equal(method.combine(grads_of(second), torch.ones(3), STEP0).shared, a)  # step 2: not solved
    state = {k: v.clone() for k, v in method.state_dict().items()}
    c = method.combine(grads_of(second), torch.ones(3), STEP0).shared  # step 3: solved, from a's warm start
    assert np.allclose(c.numpy(), nash_fixed_point(second), rtol=1e-6)
    resumed = make("nash_mtl", "weighting.update_weights_every=2", "weighting.max_norm=0")
    resumed.load_state_dict(state)
    assert torch.equal(resumed.combine(grads_of(second), torch.ones(3), STEP0).shared, c)


# ----- what the seam writes -------------------------------------------------------------------------


@pytest.mark.parametrize("option", [n for n in GRADIENT if n != "mgda_ub"])
@pytest.mark.parametrize("active", [ALL_ON, NO_RECON], ids=["3 tasks", "2 tasks"])
def test_a_gradient_method_writes_its_weighted_sum_on_the_shared_and_each_tasks_own_gradient_on_its_head(
    option: str, active
) -> None:
    net, method = bound(option, active=active)
    _, losses = net.losses()
    before = recorded(method, losses.detach())["weight"]
    assert all(math.isnan(v) for v, on in zip(before, active) if on)  # nothing known before a step
    total = method.backward(losses, STEP0)
    weight = recorded(method, losses.detach())["weight"]
    assert all(math.isfinite(v) for v in weight) and all(weight[i] == 0 for i in range(3) if not active[i])
    shared = [p for _, p in net.shared_parameters()]
    _, fresh = net.losses()
    expected = [torch.zeros_like(p) for p in shared]
    for i in (i for i in range(3) if active[i]):
        for e, g in zip(expected, torch.autograd.grad(fresh[i], shared, retain_graph=True)):
            e += weight[i] * g
    for p, e in zip(shared, expected):
        assert torch.allclose(p.grad, e, rtol=1e-5, atol=1e-7), option
    heads = method.alpha.float() if option == "nash_mtl" else torch.ones(3)  # Nash-MTL: α_i on head i
    for i, task in enumerate(TASKS):
        params = [p for _, p in net.task_parameters()[task]]
        if not active[i]:
            assert all(p.grad is None for p in params)
            continue
        for p, g in zip(params, torch.autograd.grad(fresh[i], params, retain_graph=True)):
            assert torch.allclose(p.grad, heads[i] * g, rtol=1e-5, atol=1e-7), (option, task)
    assert total.item() == pytest.approx(sum(w * v for w, v in zip(weight, losses.tolist())), rel=1e-6)


# ----- end to end ---------------------------------------------------------------------------------


def trains_records_and_resumes_exactly(
    tmp_path: Path, root: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    """Two epochs straight, and the same run stopped in its second epoch and resumed from its checkpoint."""
    cfg = compose_cfg(*tiny_overrides(root), "train.epochs=2", f"weighting={option}", "seed=1")
    straight = run(cfg, tmp_path / "straight")
    assert not result_schema.problems(straight, **expected_shape(cfg))
    assert all(math.isfinite(v) for series in straight["trajectory"]["values"]["weight"].values() for v in series)
    monkeypatch.setattr(faults, "_SPEC", ["error@6:seed=1"])  # step 6: the second of epoch 2's four steps
    with pytest.raises(faults.InjectedFault):
        run(cfg, tmp_path / "stopped")
    monkeypatch.setattr(faults, "_SPEC", [])
    resumed = run(cfg, tmp_path / "stopped")
    assert resumed["resumed_at_epochs"] == [1]
    assert resumed["final"] == straight["final"] and resumed["trajectory"] == straight["trajectory"]


@pytest.mark.parametrize("option", GRADIENT)
def test_a_gradient_method_on_a_nan_batch_diverges_and_says_where(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    """A NaN reaches the solvers as a NaN Gramian: the run is diverged at that step, not failed in a solver."""
    monkeypatch.setattr(faults, "_SPEC", ["nan@6:seed=0"])  # as MTL_UNCERTAINTY_FAULT=nan@6:seed=0 would
    result = run(compose_cfg(*tiny_overrides(synthetic_root), "train.epochs=2", f"weighting={option}"), tmp_path)
    assert result["status"] == "diverged" and result["divergence"]["step"] == 6


@pytest.mark.parametrize("option", GRADIENT)
def test_each_gradient_method_trains_records_and_resumes_exactly(
    tmp_path: Path, synthetic_root: Path, monkeypatch: pytest.MonkeyPatch, option: str
) -> None:
    trains_records_and_resumes_exactly(tmp_path, synthetic_root, monkeypatch, option)
