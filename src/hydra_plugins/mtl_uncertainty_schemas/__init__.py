"""Registers the suite's config schemas (`schema/...` in Hydra's ConfigStore) whenever Hydra starts.

Hydra imports every module under `hydra_plugins` when it first looks for plugins, which `hydra.compose`
and `initialize_config_dir` do too. Importing the suite's config module stores the schemas, so
Hydra's own Compose API works on `conf/` with no suite import first (a notebook, another app).
"""

import mtl_uncertainty.config  # noqa: F401  (registers the schemas on import)
