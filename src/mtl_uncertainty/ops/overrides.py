"""Command-line mistakes Hydra answers unhelpfully, named with what the user may mean.

A key given without its group (`epochs=1`): Hydra's own answer is to add it (`+epochs=1`), which
the config checks then refuse; the schema knows the key the user meant (`train.epochs`). A
mistyped option of a group (`weighting=learnabel`): Hydra prints its search path and every
option; the close matches among conf/<group>/ are the answer.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import typing
from collections.abc import Iterator, Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.errors import HydraException

from ..config import Config
from ..weighting import SIGMA_INITS, WEIGHTINGS


def _keys(schema: type, prefix: str = "") -> Iterator[str]:
    for name, kind in typing.get_type_hints(schema).items():
        if dataclasses.is_dataclass(kind):
            yield from _keys(kind, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}"


def schema_keys() -> list[str]:
    """Every key a run's config may have, with its group: `train.epochs`, `weighting.weights.cls10`, ..."""
    keys = set(_keys(Config))
    keys |= {k for method in WEIGHTINGS.values() for k in _keys(method.config_class, "weighting.")}
    keys |= {k for init in SIGMA_INITS.values() for k in _keys(init, "sigma_init.")}
    return sorted(keys)


def _advice(override: Override, keys: Sequence[str]) -> str:
    line = override.input_line or override.key_or_group
    key, value = override.key_or_group, line.partition("=")[2]
    meant = [k for k in keys if k.endswith(f".{key}")]
    if not meant:
        return f"{line}: no setting of this suite is called {key}"
    if len(meant) == 1:
        return f"{line} is {meant[0]}={value}"
    return f"{line} is one of {', '.join(f'{k}={value}' for k in meant)}"


def ungrouped_keys(overrides: Sequence[str], conf_dir: Path) -> str | None:
    """One paragraph naming each key given without its group and the keys it may mean; None if there is none."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException:
        return None  # malformed: Hydra's own message says what is wrong with it
    placed = {f.name for f in dataclasses.fields(Config)} | {p.name for p in conf_dir.iterdir() if p.is_dir()}
    placed.add("hydra")
    lost = [
        o
        for o in parsed
        if o.type == OverrideType.CHANGE and o.package is None and re.split(r"[./]", o.key_or_group)[0] not in placed
    ]
    if not lost:
        return None
    keys = schema_keys()
    return (
        "; ".join(_advice(o, keys) for o in lost) + ". A key needs its group on the command line; nothing was run or "
        "written (python src/train.py --cfg job prints every key of a run)."
    )


def _given_options(override: Override) -> list[str]:
    """The option names an override of a group picks: one, each of a list (`[a,b]`) or of a choice sweep (`a,b`)."""
    if not override.is_sweep_override():
        value = override.value()
        return [str(v) for v in value] if isinstance(value, list) else [override.get_value_element_as_str()]
    try:
        return list(override.sweep_string_iterator())
    except HydraException:  # a glob or a range: Hydra expands and checks it itself
        return []


def unknown_options(overrides: Sequence[str], conf_dir: Path) -> str | None:
    """One paragraph naming each option of a config group that conf/ does not have, with its close matches."""
    try:
        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except HydraException:
        return None  # malformed: Hydra's own message says what is wrong with it
    problems = []
    for o in parsed:
        group = conf_dir / o.key_or_group
        if o.key_or_group.startswith("hydra") or o.package is not None or o.is_delete() or not group.is_dir():
            continue
        options = sorted(p.stem for p in group.glob("*.yaml"))
        if missing := [given for given in _given_options(o) if given not in options]:
            problems.append(_unknown(o, missing, options))
    if not problems:
        return None
    return " ".join(problems) + " Nothing was run or written (python src/train.py --help lists every group's options)."


_PREFIX = {OverrideType.ADD: "+", OverrideType.FORCE_ADD: "++"}


def _unknown(override: Override, missing: Sequence[str], options: Sequence[str]) -> str:
    group, prefix = override.key_or_group, _PREFIX.get(override.type, "")
    named = []
    for given in missing:
        close = difflib.get_close_matches(given, options, n=2)
        meant = f" (did you mean {' or '.join(f'`{prefix}{group}={c}`' for c in close)}?)" if close else ""
        named.append(f"'{group}/{given}'{meant}")
    return f"Could not find {' or '.join(named)}: the options of {group} (conf/{group}/) are {', '.join(options)}."
