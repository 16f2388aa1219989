"""Ctrl-C and SIGTERM: one paragraph on what was kept and how to resume, and exit status 130 or 143, not a traceback.

SIGTERM is what a scheduler sends on preemption (SLURM), and what stops a sweep started in the
background, where the shell has SIGINT ignored: it is raised where the process is, as Ctrl-C's
KeyboardInterrupt is, so both end the same way.
"""

from __future__ import annotations

import shlex
import signal
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

INTERRUPTED_EXIT_CODE = 130
"""128 + SIGINT, the status a shell reports for a command ended by Ctrl-C."""

TERMINATED_EXIT_CODE = 143
"""128 + SIGTERM, the status a shell reports for a command ended by `kill` or a scheduler's preemption."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: unwinds as Ctrl-C does (no `except Exception` records it as a failed run)."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated


def stop_on_sigterm() -> None:
    """Make SIGTERM end the command as Ctrl-C does, with its paragraph (the main thread only)."""
    signal.signal(signal.SIGTERM, _terminate)


def stopped(error: KeyboardInterrupt, argv: Sequence[str]) -> tuple[str, int]:
    """The paragraph and the exit status for a command Ctrl-C or SIGTERM stopped."""
    if isinstance(error, Terminated):
        return interrupted_message(argv, "Stopped by SIGTERM"), TERMINATED_EXIT_CODE
    return interrupted_message(argv), INTERRUPTED_EXIT_CODE


_OUTPUT: dict[str, Path] = {}
"""Where this command writes: `hydra.sweep.dir` or `hydra.run.dir` → the folder (set once Hydra has composed)."""


def note_output(key: str, folder: str | Path) -> None:
    """Remember the command's sweep (or run) folder, which a resumed command must use again."""
    _OUTPUT.clear()
    _OUTPUT[key] = Path(folder).absolute()


def interrupted_message(argv: Sequence[str], cause: str = "Interrupted") -> str:
    """What Ctrl-C kept and the command that resumes it (argv: the command as it was started)."""
    if not _OUTPUT:
        return f"{cause} before any run started: nothing was trained. Run the command again to start."
    ((key, folder),) = _OUTPUT.items()
    given = any(a.startswith(f"{key}=") for a in argv[1:])
    command = shlex.join(["python", *argv, *([] if given else [f"{key}={folder}"])])
    kind = "sweep" if key == "hydra.sweep.dir" else "run"
    return (
        f"{cause}. Kept in {folder}: every run that finished (its result.json), and each unfinished run up to "
        "its last finished epoch (its checkpoint.pt); the epoch in progress is lost. To resume, run the same "
        f"command again with the same {kind} folder: {command} (finished runs are skipped, the others continue "
        "from their checkpoint)."
    )
