"""Progress of a run: a tqdm bar over its steps on a terminal, nothing extra otherwise.

Updating the bar is host-side bookkeeping only; losses and accuracies on it are the last
epoch's, so showing progress never waits on the device.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any


class Progress:
    """A progress bar (mode 'bar', or 'auto' when stderr is a terminal) or a no-op ('log')."""

    def __init__(self, mode: str, label: str, total_steps: int, done_steps: int = 0) -> None:
        self.bar = None
        if mode == "bar" or (mode == "auto" and sys.stderr.isatty()):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total_steps, initial=done_steps, desc=label or "training", unit="step", leave=False)

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update()

    def epoch(self, epoch: int, metrics: dict[str, Any]) -> None:
        if self.bar is not None:
            self.bar.set_postfix(
                epoch=epoch, **{k: f"{v:.4f}" if isinstance(v, float) else v for k, v in metrics.items()}
            )

    def logging(self) -> AbstractContextManager[Any]:
        """Route log lines around the bar while it is shown."""
        if self.bar is None:
            return nullcontext()
        from tqdm.contrib.logging import logging_redirect_tqdm

        return logging_redirect_tqdm()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
