"""Progress reporting for long work (batch imports, the demo, backfills).

:class:`Progress` redraws a one-line bar on a terminal (at most every tenth of a
second, with the rate and the time left) and prints occasional plain lines when
the output is a file or a CI log: one per quarter of the work, and one at least
every ``log_interval`` seconds, so long jobs never run silent and logs never fill
with carriage returns.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress(4, "orders", stream=out) as bar:
    ...     bar.advance(4)
    >>> out.getvalue().startswith("4/4 orders 100%")
    True
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress"]


def _format_duration(seconds: float) -> str:
    """Render a duration for people: ``0.4s``, ``12s``, ``3:05``, ``1:02:03``."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes}:{secs:02}"


class Progress:
    """Counts work done toward a total and shows it, with the rate and the time left.

    On a terminal the bar is redrawn in place at most every ``interval`` seconds
    (and once more when the work is done); elsewhere a plain line is printed when
    a quarter of the work is crossed and at least every ``log_interval`` seconds.

    Args:
        total: How many units the work has.
        unit: What a unit is called (``"orders stored"``).
        stream: Where to draw; standard error by default.
        enabled: ``False`` draws nothing (``--quiet``).
        width: Width of the bar in characters on a terminal.
        interval: Least time between two redraws on a terminal, in seconds.
        log_interval: Most time between two plain lines when not on a terminal.
        clock: The monotonic clock to measure with (tests pass a fake one).

    Raises:
        ValueError: ``total`` is negative or an interval is not positive.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> bar = Progress(200, "orders", stream=out)
        >>> bar.advance(50)
        >>> out.getvalue().split()[:3]
        ['50/200', 'orders', '25%']
    """

    def __init__(
        self,
        total: int,
        unit: str = "items",
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        width: int = 30,
        interval: float = 0.1,
        log_interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if total < 0:
            raise ValueError("total must not be negative")
        if interval <= 0 or log_interval <= 0:
            raise ValueError("interval and log_interval must be positive")
        self.total = total
        self.unit = unit
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.width = width
        self.interval = interval
        self.log_interval = log_interval
        self._clock = clock
        self._interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._started = clock()
        self._last_draw: float | None = None
        self._drawn_done = -1
        self._drawn_width = 0
        self._next_quarter = 1

    def advance(self, count: int = 1) -> None:
        """Record ``count`` more units done and redraw when due."""
        self.done = min(self.total, self.done + count)
        if not self.enabled:
            return
        now = self._clock()
        finished = self.done == self.total
        if self._interactive:
            if finished or self._last_draw is None or now - self._last_draw >= self.interval:
                self._draw(now)
            return
        crossed = self.total > 0 and self.done * 4 >= self._next_quarter * self.total
        overdue = self._last_draw is not None and now - self._last_draw >= self.log_interval
        if crossed or overdue or (finished and self._drawn_done != self.done):
            while self.total and self.done * 4 >= self._next_quarter * self.total:
                self._next_quarter += 1
            self._draw(now)

    @property
    def elapsed(self) -> float:
        """Seconds since the work started."""
        return max(0.0, self._clock() - self._started)

    @property
    def rate(self) -> float:
        """Units per second so far."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate so far (``None`` before anything is done)."""
        rate = self.rate
        if self.done >= self.total:
            return 0.0
        return (self.total - self.done) / rate if rate > 0 else None

    def line(self) -> str:
        """The progress as text: counts, percentage, rate, and time left (or taken)."""
        fraction = self.done / self.total if self.total else 1.0
        text = f"{self.done}/{self.total} {self.unit} {fraction:4.0%}  {self.rate:,.0f}/s"
        if self.done >= self.total:
            return f"{text}  took {_format_duration(self.elapsed)}"
        eta = self.eta
        return f"{text}  ETA {_format_duration(eta) if eta is not None else '?'}"

    def _draw(self, now: float) -> None:
        self._last_draw = now
        self._drawn_done = self.done
        text = self.line()
        if self._interactive:
            fraction = self.done / self.total if self.total else 1.0
            filled = int(fraction * self.width)
            text = f"[{'#' * filled}{'.' * (self.width - filled)}] {text}"
            # Pad over the tail of a longer previous line instead of clearing it.
            padded = text.ljust(self._drawn_width)
            self._drawn_width = len(text)
            self.stream.write("\r" + padded)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Show the final count (if not shown yet) and finish the line on a terminal."""
        if not self.enabled:
            return
        if self._drawn_done != self.done:
            self._draw(self._clock())
        if self._interactive:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
