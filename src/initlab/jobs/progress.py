"""How far a running job (a sweep, a study) is, and how that shows on stderr.

The library reports through a callback: the driver of a job calls ``progress(Progress(...))`` at
the start and after every committed piece (:class:`Progress`). The command line passes a
:class:`ProgressDisplay`: a terminal gets a rich bar with pieces done/total, the rate and the time
left; anything else (a log file, CI) plain lines, when :class:`LineClock` says one is due (the
start, every ``interval`` seconds or every 10 % of the work, the end); ``quiet`` shows nothing.
``initlab train`` uses the same clock for its plain lines.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass

__all__ = ["LineClock", "Progress", "ProgressDisplay", "format_seconds"]


@dataclass(frozen=True)
class Progress:
    """Where a running job is; passed to the ``progress`` callback after every committed piece.

    The counts are of a sweep's runs or a study's units ("items" below).

    Attributes
    ----------
    finished : items done or failed so far (including those done before this call)
    total : items in the job
    resumed : items already done when this call started
    failed : items failed so far in this call
    models : items trained (measured) in this call
    elapsed : seconds since this call started training
    """

    finished: int
    total: int
    resumed: int
    failed: int
    models: int
    elapsed: float

    @property
    def models_per_second(self) -> float:
        return self.models / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float:
        """Seconds left at the current rate (nan before the first piece)."""
        rate = self.models_per_second
        return (self.total - self.finished) / rate if rate > 0 else float("nan")


def format_seconds(s: float) -> str:
    """``75.2`` -> ``"1 min 15 s"``."""
    if not math.isfinite(s):
        return "?"
    if s < 60:
        return f"{s:.1f} s"
    minutes, seconds = divmod(round(s), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class LineClock:
    """When a plain progress line is due, for output that is not a terminal (a log file, CI).

    :meth:`due` is True on its first call, when the work is finished, and otherwise when ``interval``
    seconds have passed since the last line or the work has crossed into a new ``1/parts`` of the total
    (every 10 % by default), whichever comes first: a long job shows it is alive without flooding a log.
    """

    def __init__(self, interval: float = 10.0, parts: int = 10, clock=time.monotonic):
        self.interval, self.parts, self.clock = interval, parts, clock
        self._last = None  # (time, part index) of the last line

    def due(self, done: int, total: int) -> bool:
        now = self.clock()
        index = done * self.parts // total if total > 0 else 0  # the part reached (integers: no rounding)
        if not (self._last is None or done >= total or now - self._last[0] >= self.interval or index > self._last[1]):
            return False
        self._last = (now, index)
        return True


class ProgressDisplay:
    """A ``progress`` callback for :func:`initlab.sweeps.run_sweep` and :func:`initlab.studies.execute`; use as a context manager."""

    def __init__(
        self,
        *,
        quiet: bool = False,
        stream=None,
        interval: float = 5.0,
        tty: bool | None = None,
        what: str = "sweep",
        items: str = "runs",
    ):
        self.what, self.items = what, items  # "study", "units" for `initlab study`
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.interval = interval
        self.tty = self.stream.isatty() if tty is None else tty
        self._bar = None
        self._task = None
        self._clock = LineClock(interval)
        self._first = True

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
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(TextColumn(self.what), BarColumn(), MofNCompleteColumn(), TextColumn(self.items),
                            TextColumn("{task.fields[rate]}"), TextColumn("ETA {task.fields[eta]}"), TimeElapsedColumn(),
                            console=Console(file=self.stream), transient=False)  # fmt: skip
            self._bar.start()
            self._task = self._bar.add_task(self.what, total=p.total, completed=p.finished, rate="", eta="?")
        rate = f"{p.models_per_second:.1f} {self._rate_unit}/s" if p.models else ""
        self._bar.update(self._task, completed=p.finished, rate=rate, eta=format_seconds(p.eta) if p.models else "?")

    def _line(self, p: Progress) -> None:
        if not self._clock.due(p.finished, p.total):
            return
        first, self._first = self._first, False
        if first and p.resumed:
            text = f"{self.what}: resuming, {p.resumed}/{p.total} {self.items} already done"
        else:
            text = f"{self.what}: {p.finished}/{p.total} {self.items} ({p.finished / max(1, p.total):.0%})"
            if p.models:
                text += f", {p.models_per_second:.1f} {self._rate_unit}/s, ETA {format_seconds(p.eta)}"
            if p.failed:
                text += f", {p.failed} failed"
        print(text, file=self.stream, flush=True)
