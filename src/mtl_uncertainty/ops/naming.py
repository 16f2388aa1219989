"""Job folder names inside a sweep, from the job's overrides (no torch: the report uses them too)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from .. import CONF_DIR  # the conf/ beside src/, which src/train.py composes
from ..storage.labels import MAX_DIGITS, SHORT_DIGITS, short_number

_DIR_ORDER = ("dataset", "weighting", "recon", "sigma_init")


def _items(overrides: list[str], exclude: list[str]) -> list[tuple[str, str]]:
    """(key, value as written) of each override that names the folder, in the folder's order."""
    items = []
    for text in overrides:
        key, _, value = text.lstrip("+~").partition("=")
        if any(key == e or key.startswith(f"{e}.") for e in (*exclude, "hydra")):
            continue
        items.append((key, {"True": "true", "False": "false"}.get(value, value)))  # Hydra writes swept bools so

    def rank(item: tuple[str, str]) -> tuple[int, str]:
        head = item[0].split(".")[0]
        if head in _DIR_ORDER:
            return _DIR_ORDER.index(head), item[0]
        return (len(_DIR_ORDER) + 1 if item[0] == "seed" else len(_DIR_ORDER)), item[0]

    return sorted(items, key=rank)


def _name(items: list[tuple[str, str]], digits: int) -> str:
    return "/".join(f"{k}={short_number(v, digits).replace('/', '_')}" for k, v in items)


def _free_or_same(folder: Path, items: list[tuple[str, str]], exclude: list[str]) -> bool:
    """Whether `folder` is unused, or holds the job of these exact values (its .hydra record says which)."""
    record = folder / ".hydra" / "overrides.yaml"
    if not record.is_file():
        return True  # no folder yet, or one whose job cannot be told: used as before
    try:
        recorded = [str(o) for o in OmegaConf.load(record)]
    except Exception:
        return True
    return _items(recorded, exclude) == items


def job_dirname(overrides: list[str], exclude: list[str], sweep_dir: str | None = None) -> str:
    """A job's folder inside its sweep, from its overrides: weighting=learnable/recon=true/seed=0.

    Keys in `exclude`, or in a section it names, are left out.

    The main axes come first, then the others alphabetically, seed last, so a sweep started
    again lands in the same folders whatever order its values were given in. Long floats (an
    Optuna trial's) are cut to 4 significant digits, or more where a folder of `sweep_dir`
    already holds a job with other values under the shorter name.
    """
    items = _items(overrides, exclude)
    for digits in range(SHORT_DIGITS, MAX_DIGITS):
        name = _name(items, digits)
        if sweep_dir is None or _free_or_same(Path(sweep_dir) / name, items, exclude):
            return name
    return _name(items, MAX_DIGITS)


def config_groups(conf: Path) -> str:
    """The user's config groups under `conf` and their options, one `group: a, b` line each, as Hydra lists them.

    `--help` shows these instead of Hydra's `$APP_CONFIG_GROUPS`, which also lists the typed schemas
    the suite registers (`schema/weighting`, ...): those are not options a user picks.
    """
    lines = []
    for group in sorted(p for p in conf.iterdir() if p.is_dir() and p.name != "hydra"):
        options = sorted(f.stem for f in group.glob("*.yaml"))
        lines.append(f"{group.name}: {', '.join(options)}")
    return "\n".join(lines)


def register_resolvers() -> None:
    """Make `${job_dirname:...}` (output-folder settings) and `${config_groups:}` (--help) available."""
    if not OmegaConf.has_resolver("config_groups"):
        OmegaConf.register_new_resolver("config_groups", lambda: config_groups(CONF_DIR))
    if not OmegaConf.has_resolver("job_dirname"):
        OmegaConf.register_new_resolver(
            "job_dirname",
            lambda overrides, exclude, sweep_dir=None: job_dirname(list(overrides), list(exclude), sweep_dir),
        )
