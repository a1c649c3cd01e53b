"""How a running sweep shows its progress on stderr: a rich bar, plain lines, or nothing.

A terminal gets a bar with runs done/total, models per second and the time left; anything else
(a log file, CI) gets a plain line at most every ``interval`` seconds and at the end; ``quiet``
shows nothing. Used by the command line only: the library reports through a callback
(:class:`initlab.sweeps.runner.Progress`).
"""

from __future__ import annotations

import sys
import time

from .plan import format_seconds
from .runner import Progress

__all__ = ["ProgressDisplay"]


class ProgressDisplay:
    """A ``progress`` callback for :func:`initlab.sweeps.run_sweep`; use as a context manager."""

    def __init__(self, *, quiet: bool = False, stream=None, interval: float = 5.0, tty: bool | None = None,
                 what: str = "sweep", items: str = "runs"):
        self.what, self.items = what, items  # "study", "units" for `initlab study`
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.interval = interval
        self.tty = self.stream.isatty() if tty is None else tty
        self._bar = None
        self._task = None
        self._last_line = float("-inf")

    @property
    def _rate_unit(self) -> str:
        return "models" if self.items == "runs" else self.items

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
        return False

    def __call__(self, p: Progress) -> None:
        if self.quiet:
            return
        if self.tty:
            self._update_bar(p)
        else:
            self._line(p)

    def _update_bar(self, p: Progress) -> None:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

            self._bar = Bar(TextColumn(self.what), BarColumn(), MofNCompleteColumn(), TextColumn(self.items),
                            TextColumn("{task.fields[rate]}"), TextColumn("ETA {task.fields[eta]}"), TimeElapsedColumn(),
                            console=Console(file=self.stream), transient=False)  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=p.total, completed=p.finished, rate="", eta="?")
        rate = f"{p.models_per_second:.1f} {self._rate_unit}/s" if p.models else ""
        self._bar.update(self._task, completed=p.finished, rate=rate, eta=format_seconds(p.eta) if p.models else "?")

    def _line(self, p: Progress) -> None:
        now = time.monotonic()
        first = self._last_line == float("-inf")
        if not (first or p.finished == p.total or now - self._last_line >= self.interval):
            return
        self._last_line = now
        if first and p.resumed:
            text = f"{self.what}: resuming, {p.resumed}/{p.total} {self.items} already done"
        else:
            text = f"{self.what}: {p.finished}/{p.total} {self.items} ({p.finished / max(1, p.total):.0%})"
            if p.models:
                text += f", {p.models_per_second:.1f} {self._rate_unit}/s, ETA {format_seconds(p.eta)}"
            if p.failed:
                text += f", {p.failed} failed"
        print(text, file=self.stream, flush=True)
