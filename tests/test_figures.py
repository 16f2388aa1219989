"""The report's figures fit a paper: panels tall enough, no two texts overlapping, legends beside the data.

The runs are synthetic result.json files written by hand (no training): 1, 2, 4 and 12 rows, runs
that record s, σ, s_eq and the weights, 1-epoch and multi-epoch histories, and a report over two
datasets. Each figure is checked from the Figure that `save` wrote, drawn again.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.text import Text
from matplotlib.transforms import Bbox

import mtl_uncertainty.analysis.figures as figures_module
import mtl_uncertainty.analysis.metric_figures as metric_figures_module
from mtl_uncertainty.analysis import Report, make_report
from mtl_uncertainty.analysis.plotting import DPI
from mtl_uncertainty.floors import floors_json
from mtl_uncertainty.storage.floors_file import FLOORS_FILE

MIN_ASPECT = 0.35
"""Every panel's height is at least this fraction of its width."""
MAX_TITLE = 60
"""Characters at most in a figure's one-line title (what it shows in full is said in report.md)."""
MAX_BAND = 0.35
"""Inches at most between the figure's title and the panels under it."""
MIN_GAP = 2.0
"""Points at least between a marker's edge and its axes' frame."""
STEPS_PER_EPOCH = 40
EVERY = 5
COARSE = {
    "mnist": ([2, 2, 0, 2, 2, 2, 1, 2, 2, 2], ["digit 2", "digit 6", "other digits"]),
    "fashion_mnist": ([0, 1, 0, 1, 0, 2, 0, 2, 1, 2], ["tops", "bottoms", "shoes"]),
}
LEARNED = {
    "learnable": {"s": "s = log σ²", "sigma": "σ = exp(s/2)", "s_eq": "s* = log(2cL), where s would settle"},
    "liebel": {"sigma": "σ (the trained parameter)", "s": "s = log σ²", "s_eq": "log σ*², where σ² would settle"},
    "imtl_l": {"s": "s (scale e^s on the loss)", "s_eq": "s* = −log L, where s would settle"},
}
"""The methods that record more than the weights, with the labels of what they record."""


def _tasks(recon: bool) -> list[str]:
    return ["cls3", "cls10", "recon"] if recon else ["cls3", "cls10"]


def _trajectory(method: str, tasks: list[str], epochs: int, rng: np.random.Generator) -> dict[str, Any]:
    steps = np.arange(EVERY, epochs * STEPS_PER_EPOCH + 1, EVERY)
    start = {"cls3": 1.1, "cls10": 2.3, "recon": 0.9}
    loss = {t: start[t] * np.exp(-steps / 60) + 0.2 + 0.05 * rng.standard_normal(len(steps)) for t in tasks}
    values: dict[str, dict[str, np.ndarray]] = {"weight": {}}
    for t in tasks:
        s_eq = np.log(np.abs(loss[t]))
        s = s_eq + (rng.uniform(0.2, 1.0) - s_eq[0]) * np.exp(-steps / 80)
        if method in LEARNED:
            values.setdefault("s", {})[t], values.setdefault("s_eq", {})[t] = s, s_eq
            values["weight"][t] = np.exp(s) if method == "imtl_l" else 0.5 * np.exp(-s)
            if "sigma" in LEARNED[method]:
                values.setdefault("sigma", {})[t] = np.exp(s / 2)
        else:
            values["weight"][t] = np.ones(len(steps)) if method == "fixed" else rng.uniform(0.5, 1.5, len(steps))
    labels = {"weight": "effective weight on L_i", **LEARNED.get(method, {})}
    return {
        "every": EVERY,
        "tasks": tasks,
        "step": steps.tolist(),
        "loss": {t: v.round(5).tolist() for t, v in loss.items()},
        "values": {name: {t: v.round(5).tolist() for t, v in per.items()} for name, per in values.items()},
        "labels": {name: labels[name] for name in values},
        "initial": {name: {t: float(v[0]) for t, v in per.items()} for name, per in values.items()},
    }


def _metrics(acc3: float, recon: bool) -> dict[str, float | None]:
    return {
        "acc_cls3": acc3,
        "acc_cls10": acc3 - 0.1,
        "loss_cls3": 0.3,
        "loss_cls10": 0.9,
        "loss_recon": 0.2 + (1 - acc3) if recon else None,
    }


def _epoch(epoch: int, acc3: float, recon: bool, traj: dict[str, Any]) -> dict[str, Any]:
    at = epoch * STEPS_PER_EPOCH // EVERY - 1  # the epoch's last recorded step
    return {
        "epoch": epoch,
        "step": epoch * STEPS_PER_EPOCH,
        "train": _metrics(acc3 - 0.01, recon),
        "test": _metrics(acc3, recon),
        "val": _metrics(acc3 + 0.005, recon),
        "values": {name: {t: v[at] for t, v in per.items()} for name, per in traj["values"].items()},
    }


def fake_result(
    method: str,
    seed: int,
    *,
    recon: bool = True,
    epochs: int = 3,
    dataset: str = "mnist",
    settings: dict[str, Any] | None = None,
    quality: float = 0.0,
) -> dict[str, Any]:
    """A completed run's result.json content with plausible numbers, as `run()` would write it."""
    rng = np.random.default_rng([seed, len(method), int(recon), epochs])
    tasks = _tasks(recon)
    traj = _trajectory(method, tasks, epochs, rng)
    accs = [0.95 + quality - 0.25 * 0.5**e + 0.01 * rng.standard_normal() for e in range(1, epochs + 1)]
    history = [_epoch(e, acc, recon, traj) for e, acc in enumerate(accs, start=1)]
    coarse_labels, coarse_names = COARSE[dataset]
    weighting = {"name": method, **(settings or {})}
    if method == "fixed":
        weighting["weights"] = {"cls3": 1.0, "cls10": 1.0, "recon": 1.0}
    config = {
        "dataset": {"name": dataset, "coarse_labels": coarse_labels, "coarse_names": coarse_names},
        "weighting": weighting,
        "recon": recon,
        "seed": seed,
        "train": {"epochs": epochs, "batch_size": 256, "lr": 1e-4},
    }
    return {
        "schema": 2,
        "config": config,
        "config_hash": f"{method}-{seed}-{recon}-{dataset}-{sorted((settings or {}).items())}",
        "data": {"dataset": dataset, "verified": True, "files": {}, "hash": f"{dataset}-files"},
        "seed": seed,
        "tasks": {"active": tasks, "trained": tasks},
        "status": "completed",
        "final": {"test": history[-1]["test"], "val": history[-1]["val"], "train": history[-1]["train"]},
        "history": history,
        "trajectory": traj,
        "device": "cpu",
        "gpu": None,
    }


def write_runs(root: Path, runs: list[dict[str, Any]]) -> Path:
    """Write each result.json into a job folder of its own under `root`."""
    for i, content in enumerate(runs):
        job = root / f"job{i:03d}"
        job.mkdir(parents=True)
        (job / "result.json").write_text(json.dumps({**content, "job_dir": str(job)}))
    return root


FLOORS = {"mnist": (0.26, 0.8, 0.11), "fashion_mnist": (0.3, 0.35, 0.1)}
"""Each fake dataset's test floors: mean-image MSE (within the axis), majority 3- and 10-class accuracy."""


def write_floors(sweep: Path, datasets: list[str]) -> None:
    """A floors.json beside fake runs of `datasets` (their data.hash is `<dataset>-files`, no validation split)."""
    entries = []
    for dataset in datasets:
        mse, acc3, acc10 = FLOORS[dataset]
        split = {
            "images": 100,
            "loss_recon_mean_image": mse,
            "loss_recon_constant": 0.5,
            "acc_cls3_majority": acc3,
            "acc_cls10_majority": acc10,
        }
        entries.append(
            {
                "dataset": dataset,
                "data_hash": f"{dataset}-files",
                "val_size": 0,
                "coarse_labels": COARSE[dataset][0],
                "splits": {"train": split, "test": split},
            }
        )
    (sweep / FLOORS_FILE).write_bytes(floors_json(entries))


TWELVE = [
    *(("learnable", {"form": form, "lr": lr}) for form in ("seed", "kendall") for lr in (0.01, 0.001)),
    *((m, {}) for m in ("liebel", "imtl_l", "fixed", "rlw", "dwa", "gls", "gradnorm", "uw_so")),
]


def sweep(rows: int, root: Path) -> Path:
    """A sweep with `rows` rows: 1 (one seed, one epoch), 2 (one epoch), 4 (2×2: method × recon), 12 (methods)."""
    if rows == 1:
        runs = [fake_result("learnable", 0, epochs=1)]
    elif rows == 2:
        runs = [fake_result(m, s, epochs=1, quality=q) for m, q in (("learnable", 0.01), ("fixed", 0)) for s in (0, 1)]
    elif rows == 4:
        runs = [
            fake_result(m, s, recon=recon, epochs=4, quality=0.01 * (m == "learnable"))
            for m in ("learnable", "fixed")
            for recon in (False, True)
            for s in range(3)
        ]
    else:
        runs = [
            fake_result(m, s, settings=c, epochs=10, quality=0.002 * i)
            for i, (m, c) in enumerate(TWELVE)
            for s in (0, 1, 2)
        ]
    return write_runs(root, runs)


def two_datasets(root: Path) -> Path:
    """learnable and fixed on MNIST and Fashion-MNIST, two seeds each."""
    runs = [fake_result(m, s, dataset=d, epochs=2) for d in COARSE for m in ("learnable", "fixed") for s in range(2)]
    return write_runs(root, runs)


# Reading a figure's layout back.


def _visible(artist: Any) -> bool:
    return artist.get_visible() and (not isinstance(artist, Text) or bool(artist.get_text().strip()))


def tick_labels(axis: Any) -> Iterator[Text]:
    """The visible tick labels of an axis that are drawn (their tick lies within the view)."""
    lo, hi = sorted(axis.get_view_interval())
    slack = 1e-9 * (hi - lo)
    for tick in [*axis.get_major_ticks(), *axis.get_minor_ticks()]:
        if lo - slack <= tick.get_loc() <= hi + slack:
            yield from (t for t in (tick.label1, tick.label2) if _visible(t))


def texts(fig: Figure) -> list[tuple[str, Text]]:
    """Every visible text of the figure, each with where it sits (for the failure message)."""
    found = [("figure", t) for t in fig.texts if _visible(t)]  # the suptitle among them
    for i, ax in enumerate(a for a in fig.axes if a.get_visible()):
        own = [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        own += [ax.xaxis.offsetText, ax.yaxis.offsetText, *tick_labels(ax.xaxis), *tick_labels(ax.yaxis)]
        found += [(f"axes {i}", t) for t in own if _visible(t)]
    for legend in legends(fig):
        found += [("legend", t) for t in [legend.get_title(), *legend.get_texts()] if _visible(t)]
    return found


def legends(fig: Figure) -> list[Any]:
    """The figure's legends and its axes' legends."""
    return [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_visible() and ax.get_legend())]


def _overlap(a: Bbox, b: Bbox, slack: float = 0.5) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > slack and min(a.y1, b.y1) - max(a.y0, b.y0) > slack


def draw(fig: Figure) -> Any:
    """Draw the figure again as it was saved (`save` closed it, which took its canvas); return the renderer."""
    fig.set_layout_engine("none")  # keep the positions the layout gave the saved file
    fig.set_dpi(DPI)  # and its resolution: text sizes round differently at another one
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    return canvas.get_renderer()


def layout_problems(fig: Figure, renderer: Any) -> list[str]:
    """What keeps a drawn figure from a paper: squashed panels, overlapping texts, legends over the data, an
    empty band under the title, texts past the figure's edges."""
    panels = [ax for ax in fig.axes if ax.get_visible()]
    shown = [(where, t, t.get_window_extent(renderer)) for where, t in texts(fig)]
    return [
        *_squashed(panels, renderer),
        *_labels_past_their_axes(panels, renderer),
        *_overlapping(shown),
        *_legends_over_data(fig, panels, renderer),
        *_empty_band(fig, renderer, panels),
        *_outside(fig, [t for _, t, _ in shown], renderer),
    ]


def _squashed(panels: list[Any], renderer: Any) -> list[str]:
    boxes = [(ax, ax.get_window_extent(renderer)) for ax in panels]
    return [
        f"axes {i} ({ax.get_title()!r}) is {box.height:.0f} px tall, {box.width:.0f} px wide"
        for i, (ax, box) in enumerate(boxes)
        if box.height < MIN_ASPECT * box.width
    ]


def _labels_past_their_axes(panels: list[Any], renderer: Any) -> list[str]:
    """Axis labels longer than their axes' side (a y label taller than its panel)."""
    found = []
    for i, ax in enumerate(panels):
        box = ax.get_window_extent(renderer)
        if _visible(ax.yaxis.label) and ax.yaxis.label.get_window_extent(renderer).height > box.height:
            found.append(f"axes {i}: the y label {ax.yaxis.label.get_text()!r} is taller than the axes")
        if _visible(ax.xaxis.label) and ax.xaxis.label.get_window_extent(renderer).width > box.width:
            found.append(f"axes {i}: the x label {ax.xaxis.label.get_text()!r} is wider than the axes")
    return found


def _overlapping(shown: list[tuple[str, Text, Bbox]]) -> list[str]:
    return [
        f"{wa} {a.get_text()!r} overlaps {wb} {b.get_text()!r}"
        for (wa, a, ba), (wb, b, bb) in itertools.combinations(shown, 2)
        if _overlap(ba, bb)
    ]


def _legends_over_data(fig: Figure, panels: list[Any], renderer: Any) -> list[str]:
    return [
        f"a legend ({[t.get_text() for t in legend.get_texts()][:3]}) lies over axes {i}"
        for legend in legends(fig)
        for i, ax in enumerate(panels)
        if _overlap(legend.get_window_extent(renderer), ax.get_window_extent(renderer))
    ]


def _outside(fig: Figure, shown: list[Text], renderer: Any) -> list[str]:
    """Texts that reach past the figure's edges: only a tight bounding box would keep them in the file."""
    edge = fig.bbox.padded(2)
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in shown]
    boxes += [(f"legend {i}", legend.get_window_extent(renderer)) for i, legend in enumerate(legends(fig))]
    return [
        f"{name!r} reaches past the figure's edge"
        for name, box in boxes
        if not edge.contains(box.x0, box.y0) or not edge.contains(box.x1, box.y1)
    ]


def _empty_band(fig: Figure, renderer: Any, panels: list[Any]) -> list[str]:
    """A band of nothing between the figure's title and the top of its panels (titles included)."""
    titles = [t for t in fig.texts if _visible(t)]
    if not titles or not panels:
        return []
    gap = min(t.get_window_extent(renderer).y0 for t in titles) - max(ax.get_tightbbox(renderer).y1 for ax in panels)
    return [f"an empty band {gap / fig.dpi:.2f} in tall under the title"] if gap > MAX_BAND * fig.dpi else []


def _marker_points(ax: Any) -> Iterator[tuple[Line2D, np.ndarray]]:
    """Each line's points that carry a marker."""
    for line in ax.lines:
        if line.get_visible() and has_marker(line):
            xy = np.column_stack([line.get_xdata(orig=False), line.get_ydata(orig=False)]).astype(float)
            every = line.get_markevery()
            xy = xy[every] if isinstance(every, slice) else xy
            yield line, xy[np.isfinite(xy).all(axis=1)]


def points_on_the_frame(fig: Figure) -> list[str]:
    """Markers of a drawn figure that touch or cross their axes' frame (less than MIN_GAP from it)."""
    problems = []
    for i, ax in enumerate(a for a in fig.axes if a.get_visible()):
        box = ax.get_window_extent()
        for line, xy in _marker_points(ax):
            if not len(xy):
                continue
            px = ax.transData.transform(xy)
            keep = (line.get_markersize() / 2 + MIN_GAP) * fig.dpi / 72
            inside = (px[:, 0] >= box.x0 + keep) & (px[:, 0] <= box.x1 - keep)
            inside &= (px[:, 1] >= box.y0 + keep) & (px[:, 1] <= box.y1 - keep)
            if not inside.all():
                problems.append(f"axes {i} ({ax.get_title()!r}): {int((~inside).sum())} marker(s) on or past the frame")
    return problems


def has_marker(line: Line2D) -> bool:
    return line.get_marker() not in (None, "None", "", " ")


def lone_points_without_markers(fig: Figure) -> list[str]:
    """Lines with one finite point and no marker: drawn, they are invisible."""
    out = []
    for ax in (a for a in fig.axes if a.get_visible()):
        for line in ax.lines:
            y = np.asarray(line.get_ydata(orig=False), dtype=float)
            if np.isfinite(y).sum() == 1 and not has_marker(line):
                out.append(f"{ax.get_title()!r}: line {line.get_label()!r} has one point and no marker")
    return out


def unlisted_labels(fig: Figure) -> list[str]:
    """Labelled lines of any panel that no legend of the figure names."""
    listed = {t.get_text() for legend in legends(fig) for t in legend.get_texts()}
    drawn = {
        line.get_label()
        for ax in fig.axes
        if ax.get_visible()
        for line in ax.lines
        if not line.get_label().startswith("_")
    }
    return sorted(drawn - listed)


# The reports, each made once, with the figures their `save` wrote.

ALL_FIGURES = {"final_accuracy", "differences", "test_accuracy", "weights", "sigma_trajectories", "equilibrium"}
CASES = ("1", "2", "4", "12", "datasets")


@dataclass
class Made:
    report: Report
    out: Path
    figures: dict[str, tuple[Figure, str]]  # name → (the Figure that `save` wrote, its title)


def _keeping(real: Callable[..., list[Path]], kept: dict[str, tuple[Figure, str]]) -> Callable[..., list[Path]]:
    def keep(fig: Figure, title: str, stem: Path, formats: Any) -> list[Path]:
        kept[stem.name] = (fig, title)
        return real(fig, title, stem, formats)

    return keep


def _make(case: str, root: Path) -> Made:
    kept: dict[str, tuple[Figure, str]] = {}
    with pytest.MonkeyPatch.context() as patch:
        for module in (figures_module, metric_figures_module):
            patch.setattr(module, "save", _keeping(module.save, kept))
        runs = two_datasets(root / "sweep") if case == "datasets" else sweep(int(case), root / "sweep")
        if case != "1":  # the floors beside the runs (case 1: none, so the figures are drawn without them)
            write_floors(runs, ["mnist", "fashion_mnist"] if case == "datasets" else ["mnist"])
        report = make_report([runs], root / "out")
    return Made(report, root / "out", kept)


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Made]:
    """case → its report, made on first use."""
    cache: dict[str, Made] = {}

    def get(case: str) -> Made:
        if case not in cache:
            cache[case] = _make(case, tmp_path_factory.mktemp(f"case-{case}"))
        return cache[case]

    return get


def paper_problems(fig: Figure, title: str) -> list[str]:
    """Everything that keeps one figure from a paper."""
    found = layout_problems(fig, draw(fig)) + points_on_the_frame(fig) + lone_points_without_markers(fig)
    found += [f"{label!r} is drawn but in no legend" for label in unlisted_labels(fig)]
    if "\n" in title or len(title) > MAX_TITLE:
        found.append(f"the title is long: {title!r}")
    return found


@pytest.mark.parametrize("case", CASES)
def test_every_figure_fits_a_paper(case: str, made: Callable[[str], Made]) -> None:
    m = made(case)
    assert len(m.report.summary) == {"datasets": 4}.get(case, int(case) if case.isdigit() else 0)
    assert set(m.figures) == ALL_FIGURES - ({"differences"} if case == "1" else set())
    problems = {name: found for name, (fig, title) in m.figures.items() if (found := paper_problems(fig, title))}
    assert not problems, json.dumps(problems, indent=1, ensure_ascii=False)


def test_groups_of_two_datasets_are_named_by_the_dataset_alone(made: Callable[[str], Made]) -> None:
    """coarse_labels and coarse_names follow from dataset.name: they are no axes of the report."""
    m = made("datasets")
    assert [a.removeprefix("config.") for a in m.report.axes] == ["weighting.name", "dataset.name"]
    assert set(m.report.summary["group"]) == {"dataset=mnist", "dataset=fashion_mnist"}
    assert "coarse" not in (m.out / "report.md").read_text()
    titles = [ax.get_title() for fig, _ in m.figures.values() for ax in fig.axes if ax.get_visible()]
    assert not [t for t in titles if "coarse" in t]


def test_one_epoch_accuracy_is_a_marked_point_on_an_axis_around_epoch_1(made: Callable[[str], Made]) -> None:
    fig, _ = made("2").figures["test_accuracy"]
    draw(fig)
    for ax in (a for a in fig.axes if a.get_visible()):
        lo, hi = ax.get_xlim()
        assert lo <= 0.6 and hi >= 1.4, (lo, hi)
        assert [t.get_text() for t in tick_labels(ax.xaxis)] == ["1"]
        assert all(has_marker(line) for line in ax.lines if not line.get_label().startswith("_"))


def test_equal_weights_stay_distinguishable_and_every_task_is_in_the_legend(made: Callable[[str], Made]) -> None:
    figures = made("4").figures
    fig, _ = figures["weights"]
    fixed = next(ax for ax in fig.axes if ax.get_visible() and ax.get_title().startswith("fixed, recon=true"))
    lines = [line for line in fixed.lines if not line.get_label().startswith("_")]
    assert [line.get_label() for line in lines] == ["3-class", "10-class", "reconstruction"]
    assert all(np.allclose(line.get_ydata(), 1.0) for line in lines)
    assert len({(line.get_linestyle(), line.get_marker(), line.get_color()) for line in lines}) == 3
    assert len({str(line.get_markevery()) for line in lines}) == 3  # the markers of equal lines do not coincide
    handles = {h.get_label(): h for legend in legends(fig) for h in legend.legend_handles}
    for line in lines:
        shown = handles[line.get_label()]
        assert (shown.get_linestyle(), shown.get_marker()) == (line.get_linestyle(), line.get_marker())
    for name in ("weights", "sigma_trajectories", "equilibrium"):  # the first panel is a row without recon
        listed = {t.get_text() for legend in legends(figures[name][0]) for t in legend.get_texts()}
        assert {"3-class", "10-class", "reconstruction"} <= listed, name


def test_every_row_that_records_a_value_has_its_titled_panel(made: Callable[[str], Made]) -> None:
    """imtl_l records s but no σ: its σ panel is hidden, and its title moves to its s panel."""
    m = made("12")
    rows = list(m.report.summary["row"])
    learned = [r for r in rows if r.startswith(("learnable", "liebel", "imtl_l"))]
    expected = {"weights": rows, "sigma_trajectories": learned, "equilibrium": learned}
    for name, shown in expected.items():
        fig, _ = m.figures[name]
        titles = [ax.get_title().replace("\n", " ") for ax in fig.axes if ax.get_visible() and ax.get_title()]
        assert sorted(titles) == sorted(shown), name


@pytest.mark.parametrize("case", ["4", "12"])
def test_long_explanations_are_in_report_md_beside_each_figure(case: str, made: Callable[[str], Made]) -> None:
    md = (made(case).out / "report.md").read_text()
    for name in ALL_FIGURES:
        before = md.split(f"]({name}.png)")[0].split("\n\n")[:-1]
        prose = [p for p in before if not p.startswith("- ")][-1]  # what it shows, above a list of definitions
        assert len(prose) > 80 and not prose.startswith(("#", "|", "!")), (name, prose)
    assert "- learnable: s = log σ²; s* = log(2cL)" in md and "running mean" in md and "grey dots are" in md
    if case == "12":
        assert "- imtl_l: s (scale e^s on the loss); s* = −log L" in md


def test_a_symlink_at_a_figure_path_is_replaced_and_its_target_left_alone(tmp_path: Path) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(b"not a figure")
    out = tmp_path / "report"
    out.mkdir()
    (out / "weights.png").symlink_to(outside)
    make_report([sweep(2, tmp_path / "sweep")], out)
    assert outside.read_bytes() == b"not a figure"
    assert not (out / "weights.png").is_symlink()
    assert (out / "weights.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.glob(".*.tmp"))


def test_figure_layout_checks_catch_what_they_claim_to() -> None:
    """The checks themselves: each fault they look for is found in a figure made to have it."""
    fig = Figure(figsize=(8, 2))
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], "o", label="points")
    ax.plot([0.5], [0.5], "-", label="one point")
    ax.set_title("one title")
    ax.text(0.5, 1.02, "another title", transform=ax.transAxes)
    ax.legend(handles=ax.lines[:1], loc="center")
    problems = layout_problems(fig, draw(fig))
    assert any("px tall" in p for p in problems)
    assert any("overlaps" in p and "another title" in p for p in problems)
    assert any("a legend" in p for p in problems)
    assert lone_points_without_markers(fig) == ["'one title': line 'one point' has one point and no marker"]
    assert unlisted_labels(fig) == ["one point"]
    assert points_on_the_frame(fig) == []
    ax.set_xlim(0, 1)
    draw(fig)
    assert points_on_the_frame(fig) == ["axes 0 ('one title'): 2 marker(s) on or past the frame"]
    low = Figure(figsize=(4, 4))
    low.add_axes((0.1, 0.1, 0.8, 0.4))
    low.suptitle("a title high above its panel")
    assert layout_problems(low, draw(low)) == ["an empty band 1.70 in tall under the title"]


def test_the_floors_are_dashed_lines_named_in_the_legend_or_said_to_lie_off_the_axis(
    made: Callable[[str], Made],
) -> None:
    fig, _ = made("4").figures["final_accuracy"]
    draw(fig)
    listed = {t.get_text() for legend in legends(fig) for t in legend.get_texts()}
    assert listed == {"floor: mean training image (MSE), most frequent class (accuracy)"}  # the constant: off the axis
    acc3, _, mse = (ax for ax in fig.axes if ax.get_visible())
    dashed = [line for line in mse.lines if line.get_linestyle() == "--"]
    assert dashed and all(np.allclose(line.get_xdata(), 0.26) for line in dashed)
    assert "floor 0.5: off the axis" in mse.get_xlabel() and "floor 0.8: off the axis" in acc3.get_xlabel()
    fig, _ = made("4").figures["test_accuracy"]
    panels = [ax for ax in fig.axes if ax.get_visible()]
    chance = [
        sorted({float(line.get_ydata()[0]) for line in ax.lines if line.get_linestyle() == "--"}) for ax in panels
    ]
    assert chance == [[0.8], [0.11]] * 2  # each group's 3-class and 10-class panel
    assert all(ax.get_ylim()[0] < c[0] for ax, c in zip(panels, chance))  # within the scale
    assert "floor: always the most frequent class" in {t.get_text() for lg in legends(fig) for t in lg.get_texts()}
    assert not made("1").report.floors or all(f.entry is None for f in made("1").report.floors.values())
