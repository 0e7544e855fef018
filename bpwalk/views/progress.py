"""The progress bar of a long training run, and Ctrl-C that stops it with what it has.

The engine calls a Watch about ten times a second with the updates made and the latest
loss (see engine.run); this one shows them as rich's progress bar on stderr once the run has
taken DELAY seconds, when stderr is a terminal and the user did not ask for quiet. While it
watches, the first Ctrl-C asks the engine to stop after the update it is making, so the
command can still print the loss table so far; a second Ctrl-C interrupts at once.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from types import TracebackType
from typing import Any

DELAY = 1.0  # seconds: a shorter run finishes before a bar would be worth reading


class Watch:
    def __init__(self, total: int, bar: bool = True):
        self.total = total
        self.bar = bar and sys.stderr is not None and sys.stderr.isatty()
        self.stopped = False  # Ctrl-C was pressed
        self._began = time.perf_counter()
        self._progress: Any = None  # rich.progress.Progress, once shown
        self._task: Any = None
        self._old_handler: Any = None

    def __enter__(self) -> None:
        # Only the main thread may set a handler, and a handler someone else set stays.
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._old_handler = signal.signal(signal.SIGINT, self._interrupt)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._old_handler is not None:
            signal.signal(signal.SIGINT, self._old_handler)
        if self._progress is not None:
            self._progress.stop()

    def _interrupt(self, signum: int, frame: object) -> None:
        if self.stopped:  # the second Ctrl-C: stop now, whatever the engine is doing
            raise KeyboardInterrupt
        self.stopped = True

    def __call__(self, done: int, loss: float) -> bool:
        """The engine's Watch: show how far training is; False once Ctrl-C was pressed."""
        if self.bar and not self.stopped:
            elapsed = time.perf_counter() - self._began
            if self._progress is None and elapsed >= DELAY:
                self._start()
            if self._progress is not None:
                self._progress.update(self._task, completed=done,
                                      rate=f"{done / elapsed:,.0f} updates/s",
                                      loss=f"loss {loss:.6g}")
        return not self.stopped

    def _start(self) -> None:
        # rich.progress only now: most runs end before DELAY and never pay for importing it
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        # about 65 columns: the bar fits an 80-column terminal beside a long run's figures
        self._progress = Progress(
            BarColumn(bar_width=16), TaskProgressColumn(), TextColumn("{task.fields[rate]}"),
            TextColumn("{task.fields[loss]}"), TimeRemainingColumn(),
            console=Console(file=sys.stderr), transient=True)
        self._task = self._progress.add_task("training", total=self.total, rate="", loss="")
        self._progress.start()
