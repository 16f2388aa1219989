"""Task weighting methods: each turns one step's per-task losses into the scalar to minimise.

One method = one module here (a `Weighting` subclass with its config dataclass, registered
with `@register`) + one YAML file in `conf/weighting/`. Every module of this package is imported
here, so a new module is found without being listed. See `base.py` for what a method declares.
"""

import importlib
import pkgutil

from .base import WEIGHTINGS, RunContext, Weighting, build_weighting
from .initial import SIGMA_INITS, initial_log_vars

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["SIGMA_INITS", "WEIGHTINGS", "RunContext", "Weighting", "build_weighting", "initial_log_vars"]
