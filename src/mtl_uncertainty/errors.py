"""Errors a user can fix: Hydra prints their message alone (no traceback) and exits with 1."""

from __future__ import annotations

from hydra.errors import CompactHydraException


class InputError(CompactHydraException):
    """Bad input (config, data, output folder); the message names the problem and the fix."""
