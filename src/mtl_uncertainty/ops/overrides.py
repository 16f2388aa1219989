"""Command-line keys given without their group (`epochs=1`), named with the keys they may mean.

Hydra's own answer to such a key is to add it (`+epochs=1`), which the config checks then refuse;
the schema knows the key the user meant (`train.epochs`).
"""

from __future__ import annotations

import dataclasses
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
