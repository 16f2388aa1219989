"""Progress of a run: a tqdm bar over its steps on a terminal, log lines otherwise.

Without a bar (output to a file, a cluster log), a line says when each run starts and, every
`heartbeat_s` seconds, how far it is, so a slow run is never silent for minutes. Updating either
is host-side bookkeeping only; losses and accuracies shown are the last epoch's, so showing
progress never waits on the device.
"""

from __future__ import annotations

import logging
import sys
import time
from contextlib import AbstractContextManager, nullcontext
from typing import Any

log = logging.getLogger(__name__)


class Progress:
    """A progress bar (mode 'bar', or 'auto' when stderr is a terminal), or log lines ('log')."""

    def __init__(self, mode: str, label: str, total_steps: int, done_steps: int = 0, heartbeat_s: float = 60.0) -> None:
        self.bar = None
        self.label, self.total, self.done = label or "run", total_steps, done_steps
        self.heartbeat_s = heartbeat_s
        self._start = self._last = time.monotonic()
        self._start_done = done_steps
        if mode == "bar" or (mode == "auto" and sys.stderr.isatty()):
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total_steps, initial=done_steps, desc=label or "training", unit="step", leave=False)
        else:
            resumed = f", resuming at step {done_steps}" if done_steps else ""
            log.info("%s: starting, %d steps%s", self.label, total_steps, resumed)

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update()
            return
        self.done += 1
        if self.heartbeat_s > 0 and (now := time.monotonic()) - self._last >= self.heartbeat_s:
            self._last = now
            rate = (self.done - self._start_done) / (now - self._start)
            left = (self.total - self.done) / rate if rate > 0 else float("inf")
            log.info(
                "%s: step %d/%d (%.0f%%), %.1f steps/s, about %.0f s left",
                self.label,
                self.done,
                self.total,
                100 * self.done / self.total,
                rate,
                left,
            )

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
