"""Job folder names inside a sweep, from the job's overrides (no torch: the report uses them too)."""

from __future__ import annotations

from omegaconf import OmegaConf

_DIR_ORDER = ("dataset", "weighting", "recon", "sigma_init")


def job_dirname(overrides: list[str], exclude: list[str]) -> str:
    """A job's folder inside its sweep, from its overrides: weighting=learnable/recon=true/seed=0.

    Keys in `exclude`, or in a section it names, are left out.

    The main axes come first, then the others alphabetically, seed last, so a sweep started
    again lands in the same folders whatever order its values were given in.
    """
    items = []
    for text in overrides:
        key, _, value = text.lstrip("+~").partition("=")
        if any(key == e or key.startswith(f"{e}.") for e in (*exclude, "hydra")):
            continue
        value = {"True": "true", "False": "false"}.get(value, value)  # Hydra writes swept bools so
        items.append((key, value.replace("/", "_")))

    def rank(item: tuple[str, str]) -> tuple[int, str]:
        head = item[0].split(".")[0]
        if head in _DIR_ORDER:
            return _DIR_ORDER.index(head), item[0]
        return (len(_DIR_ORDER) + 1 if item[0] == "seed" else len(_DIR_ORDER)), item[0]

    return "/".join(f"{k}={v}" for k, v in sorted(items, key=rank))


def register_resolvers() -> None:
    """Make `${job_dirname:...}` available to Hydra's output-folder settings."""
    if not OmegaConf.has_resolver("job_dirname"):
        OmegaConf.register_new_resolver(
            "job_dirname", lambda overrides, exclude: job_dirname(list(overrides), list(exclude))
        )
