"""Why a report cannot be made: each message says what is wrong and what to do."""

from __future__ import annotations


class ReportError(RuntimeError):
    """The report cannot be made; the message says why and what to do."""


class NoRunsError(ReportError):
    """There is nothing to report on."""


class BaselineError(ReportError):
    """The `--baseline` selector cannot pick one baseline row per group."""


def stopped_paragraph(out: object, cause: str) -> str:
    """What Ctrl-C or SIGTERM (`cause`) left of a report or publish that was writing into `out`."""
    return (
        f"{cause} while writing into {out}: no run was changed (a report only reads them), and every file written "
        "is whole, the old one or the new one, so the folder may hold a mix of both. Run the same command again "
        "to write all of it."
    )


def write_failure(error: OSError, out: object) -> str | None:
    """The one paragraph for a report or publish that could not write into `out` (None: not a writing error)."""
    import errno

    if error.errno == errno.ENOSPC:
        return (
            f"No space left on the device while writing into {out}: no run was changed, and every file written is "
            "whole (the old one or the new one). Free some space, or write elsewhere (the report's --out DIR), and "
            "run the command again."
        )
    if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "the file system is read-only" if error.errno == errno.EROFS else "permission denied"
        return (
            f"Cannot write into {out} ({why}: {error.filename or out}): the runs were only read and are unchanged. "
            "Write into a folder you can write (the report's --out DIR, e.g. --out /tmp/report), or make this one "
            "writable, and run the command again."
        )
    return None
