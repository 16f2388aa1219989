"""Ctrl-C: one paragraph on what was kept and how to resume, and exit status 130, instead of a traceback."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

INTERRUPTED_EXIT_CODE = 130
"""128 + SIGINT, the status a shell reports for a command ended by Ctrl-C."""

_OUTPUT: dict[str, Path] = {}
"""Where this command writes: `hydra.sweep.dir` or `hydra.run.dir` → the folder (set once Hydra has composed)."""


def note_output(key: str, folder: str | Path) -> None:
    """Remember the command's sweep (or run) folder, which a resumed command must use again."""
    _OUTPUT.clear()
    _OUTPUT[key] = Path(folder).absolute()


def interrupted_message(argv: Sequence[str]) -> str:
    """What Ctrl-C kept and the command that resumes it (argv: the command as it was started)."""
    if not _OUTPUT:
        return "Interrupted before any run started: nothing was trained. Run the command again to start."
    ((key, folder),) = _OUTPUT.items()
    given = any(a.startswith(f"{key}=") for a in argv[1:])
    command = shlex.join(["python", *argv, *([] if given else [f"{key}={folder}"])])
    kind = "sweep" if key == "hydra.sweep.dir" else "run"
    return (
        f"Interrupted. Kept in {folder}: every run that finished (its result.json), and each unfinished run up to "
        "its last finished epoch (its checkpoint.pt); the epoch in progress is lost. To resume, run the same "
        f"command again with the same {kind} folder: {command} (finished runs are skipped, the others continue "
        "from their checkpoint)."
    )
