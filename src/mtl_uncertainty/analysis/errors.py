"""Why a report cannot be made: each message says what is wrong and what to do."""

from __future__ import annotations


class ReportError(RuntimeError):
    """The report cannot be made; the message says why and what to do."""


class NoRunsError(ReportError):
    """There is nothing to report on."""


class BaselineError(ReportError):
    """The `--baseline` selector cannot pick one baseline row per group."""
