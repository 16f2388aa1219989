"""Every field of a real result.json changed to every JSON type, one at a time: the runner's resume check,
the sweep's summary, the report and the publisher each use the run or leave it out with a reason, and never
crash."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mtl_uncertainty.analysis.errors import ReportError
from mtl_uncertainty.analysis.publish import TABLES, Reports
from mtl_uncertainty.analysis.report import build_report
from mtl_uncertainty.analysis.runs import Excluded, read_run
from mtl_uncertainty.ops.sweep import summarize
from mtl_uncertainty.run import run
from mtl_uncertainty.runs.resume import prepare
from mtl_uncertainty.storage.result_schema import RESULT_FILE, type_problems
from tests.conftest import compose_cfg, run_cli, tiny_overrides

JSON_VALUES = (None, True, 7, 0.5, "x", [], ["x"], {}, {"x": 1})
"""One value of each JSON type (a list and an object both empty and not)."""


def _paths(node: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every field below `node`, objects and leaves alike (of a list, its first item only)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*path, key)
            yield from _paths(value, (*path, key))
    elif isinstance(node, list) and node:
        yield (*path, 0)
        yield from _paths(node[0], (*path, 0))


def _set(doc: dict[str, Any], path: tuple, value: Any) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    node = new
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = copy.deepcopy(value)
    return new


def mutants(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(a label, the document) for each field of `doc` set to each of JSON_VALUES it does not already hold."""
    for path in _paths(doc):
        node = doc
        for key in path:
            node = node[key]
        for value in JSON_VALUES:
            if json.dumps(value) != json.dumps(node):
                yield f"{'.'.join(map(str, path))}={json.dumps(value)}", _set(doc, path, value)


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> tuple[Any, dict[str, Any]]:
    """A config and the real result.json of its run: learned weights, reconstruction, a validation split."""
    cfg = compose_cfg(
        *tiny_overrides(synthetic_root), "weighting=learnable", "data.val_size=128", "record.trajectory_every=2"
    )
    out = tmp_path_factory.mktemp("whole")
    run(cfg, out)
    return cfg, json.loads((out / RESULT_FILE).read_text())


def _plant(folder: Path, doc: dict[str, Any], original: dict[str, Any] | None = None) -> Path:
    """`doc` as folder/result.json; written there (`job_dir`) unless that is the field changed from `original`."""
    folder.mkdir(parents=True)
    if original is not None and doc.get("job_dir") == original.get("job_dir"):
        doc = {**doc, "job_dir": str(folder.resolve())}
    (folder / RESULT_FILE).write_text(json.dumps(doc))
    return folder


def test_the_runner_uses_or_sets_aside_every_mutant(tmp_path: Path, whole: tuple[Any, dict[str, Any]]) -> None:
    """The resume check (prepare, what `run` calls first) returns the result or sets the file aside."""
    cfg, doc = whole
    for i, (label, mutant) in enumerate(mutants(doc)):
        job = _plant(tmp_path / str(i), mutant)
        _, _, done = prepare(cfg, job)  # never raises
        left = (job / RESULT_FILE).exists()
        aside = [p.name for p in job.iterdir() if p.name.startswith("result.") and p.name != RESULT_FILE]
        if done is not None:
            assert done == mutant and left and not aside, label
        elif mutant.get("status") != "failed":  # a failed run's record is simply overwritten by its retry
            assert not left and len(aside) == 1, label


def test_the_sweep_summary_counts_every_mutant_once(tmp_path: Path, whole: tuple[Any, dict[str, Any]]) -> None:
    """Each job is completed only if its result is whole; any other job makes the sweep's exit status 1."""
    _, doc = whole
    for i, (label, mutant) in enumerate(mutants(doc)):
        sweep = tmp_path / str(i)
        job = _plant(sweep / "job", mutant, doc)
        summary = summarize(sweep, [job])
        summary.line(), summary.details()  # never raise
        assert summary.total == 1, label
        if summary.count("completed") == 0 and summary.count("diverged") == 0:
            assert summary.exit_code() == 1 and summary.details(), label
        if type_problems(mutant):  # named with the reason, not as a run that never finished
            assert summary.invalid == {job: "; ".join(type_problems(mutant))}, label


def test_the_report_uses_or_leaves_out_every_mutant(tmp_path: Path, whole: tuple[Any, dict[str, Any]]) -> None:
    """The report's reader keeps each mutant or names why not; the report over all the kept ones is made."""
    _, doc = whole
    kept = []
    for i, (label, mutant) in enumerate(mutants(doc)):
        job = _plant(tmp_path / "sweep" / str(i), mutant, doc)
        found = read_run(job)
        if isinstance(found, Excluded):
            assert found.reason, label
        else:
            kept.append(label)
    assert kept  # fields no reader relies on (the GPU's name, the versions) may take any value
    report = build_report([tmp_path / "sweep"], tmp_path / "report")
    assert len(report.runs) + len(report.excluded) == len(list(mutants(doc)))


@pytest.mark.slow
def test_a_report_of_each_mutant_alone_is_made_or_refused_saying_why(
    tmp_path: Path, whole: tuple[Any, dict[str, Any]]
) -> None:
    """A report of one run: whatever field changed, the report is built, or there is no run to report on."""
    _, doc = whole
    for i, (label, mutant) in enumerate(mutants(doc)):
        sweep = tmp_path / str(i)
        if isinstance(read_run(_plant(sweep / "job", mutant, doc)), Excluded):
            continue
        report = build_report([sweep], sweep / "report")
        assert len(report.runs) == 1, label


PLANTED = {
    "0": {"trajectory": "values"},  # a field of the wrong type in a result of the job's own config
    "1": {"data": "x"},
    "2": {"config_hash": "../../x"},  # names that become part of the set-aside file's name
    "3": {"config_hash": "a" * 300},
    "4": {"config_hash": "ab\x00cd"},
}


def _planted(result: dict[str, Any], seed: str) -> dict[str, Any]:
    ((field, value),) = PLANTED[seed].items()
    if field == "trajectory":
        return {**result, "trajectory": {**result["trajectory"], value: "x"}}
    return {**result, field: value}


@pytest.mark.slow
def test_a_sweep_over_planted_results_sets_each_aside_and_trains_it_again(tmp_path: Path, synthetic_root: Path) -> None:
    """Wrong-typed fields and hashes that are no file name: each job's file is set aside in its folder, the job
    trains again, and the sweep ends with every job completed (before: 'completed' over jobs that had crashed)."""
    sweep = tmp_path / "sweep"
    args = ["-m", "seed=" + ",".join(PLANTED), *tiny_overrides(synthetic_root), f"hydra.sweep.dir={sweep}"]
    assert run_cli(*args).returncode == 0
    files = {p.parent.name.removeprefix("seed="): p for p in sweep.rglob(RESULT_FILE) if "report" not in p.parts}
    for seed, path in files.items():
        path.write_text(json.dumps(_planted(json.loads(path.read_text()), seed)))
    again = run_cli(*args)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-3000:]
    assert f"{len(PLANTED)} completed, 0 diverged, 0 failed" in out and "Traceback" not in out
    for seed, path in files.items():
        aside = [p.name for p in path.parent.iterdir() if p.name.startswith("result.") and p.name != RESULT_FILE]
        assert len(aside) == 1 and len(aside[0]) < 80 and "\x00" not in aside[0], (seed, aside)
        assert json.loads(path.read_text())["status"] == "completed"
    assert not list(tmp_path.glob("x*")) and not list(sweep.glob("x*"))  # nothing was set aside outside its folder


def test_publishing_a_study_of_every_mutant_makes_each_table_or_says_why(
    tmp_path: Path, whole: tuple[Any, dict[str, Any]]
) -> None:
    """The publisher over a committed study holding every mutant (and the whole run): each block it can show is
    made, or refused with a ReportError that says why; no field of a result.json makes it crash."""
    _, doc = whole
    study = tmp_path / "results" / "core" / "mnist"
    _plant(study / "whole", doc, doc)
    for i, (_, mutant) in enumerate(mutants(doc)):
        _plant(study / str(i), mutant, doc)
    reports = Reports(tmp_path)
    for table in TABLES:
        try:
            assert reports.table(f"core/{table}").strip(), table
        except ReportError as e:
            assert str(e), table
