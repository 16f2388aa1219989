"""The libraries' own logging: warnings and above only, in the suite's plain format (no colour codes).

Optuna logs every trial at INFO with its own colour handler, and alembic (imported by Optuna)
announces each plugin it sets up; between them they bury the suite's lines, and the colour codes
land raw in a log file or a pipe.
"""

from __future__ import annotations

import logging

LIBRARIES = ("alembic", "optuna", "sqlalchemy", "matplotlib", "PIL")


def quiet_libraries(tuning: bool = False) -> None:
    """Warnings and above from the libraries; for a search (`tuning`) Optuna's go through the suite's handlers."""
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    if tuning:
        import optuna  # here, after alembic's level is set: importing optuna imports alembic

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        optuna.logging.disable_default_handler()  # its colour handler
        optuna.logging.enable_propagation()
