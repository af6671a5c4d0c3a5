"""A progress bar on a terminal, or a progress line every few seconds in a log."""

from __future__ import annotations

import time
from collections.abc import Callable

from loadgen.runner import Progress

BAR_WIDTH = 30
# Redraw a terminal at most this often; write a line to a log at most this often.
TERMINAL_PERIOD = 0.2
LOG_PERIOD = 5.0


class ProgressBar:
    def __init__(self, write: Callable[[str], object], terminal: bool) -> None:
        self._write = write
        self._terminal = terminal
        self._last = 0.0
        self._drawn = False

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self._last < (TERMINAL_PERIOD if self._terminal else LOG_PERIOD):
            return
        self._last = now
        line = describe(progress)
        if self._terminal:
            self._write(f"\r{line}\x1b[K")
            self._drawn = True
        else:
            self._write(line + "\n")

    def finish(self) -> None:
        if self._drawn:
            self._write("\n")
            self._drawn = False


def describe(progress: Progress) -> str:
    done = progress.completed / progress.planned if progress.planned else 1.0
    filled = round(done * BAR_WIDTH)
    rate = progress.completed / progress.elapsed if progress.elapsed > 0 else 0.0
    counted = "-" if progress.new_votes_counted is None else f"{progress.new_votes_counted:,}"
    phase = "counting" if progress.counting else "sending "
    outcomes = progress.outcomes
    return (
        f"{phase} [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
        f"{progress.completed:,}/{progress.planned:,} {rate:,.0f}/s  "
        f"accepted {outcomes.get('accepted', 0):,} duplicate {outcomes.get('duplicate', 0):,} "
        f"changed {outcomes.get('changed', 0):,} rejected {outcomes.get('rejected', 0):,} "
        f"errors {outcomes.get('error', 0):,}  counted {counted}"
    )
