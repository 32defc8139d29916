"""Progress reporting for long work (batch imports, the demo, backfills).

:class:`Progress` draws a one-line bar on a terminal and prints a line at each
quarter when the output is a file or a CI log, so long jobs never run silent.

Example:
    >>> import io
    >>> out = io.StringIO()
    >>> with Progress(4, "orders", stream=out) as bar:
    ...     bar.advance(4)
    >>> "4/4 orders" in out.getvalue()
    True
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Counts work done toward a total and shows it.

    Args:
        total: How many units the work has.
        unit: What a unit is called (``"orders"``).
        stream: Where to draw; standard error by default.
        enabled: ``False`` draws nothing (``--quiet``).
        width: Width of the bar in characters on a terminal.
    """

    def __init__(
        self,
        total: int,
        unit: str = "items",
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        width: int = 30,
    ) -> None:
        if total < 0:
            raise ValueError("total must not be negative")
        self.total = total
        self.unit = unit
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.width = width
        self._interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._started = time.perf_counter()
        self._last_draw = 0.0
        self._next_quarter = 1

    def advance(self, count: int = 1) -> None:
        """Record ``count`` more units done and redraw when due."""
        self.done = min(self.total, self.done + count)
        if not self.enabled:
            return
        if self._interactive:
            now = time.perf_counter()
            if now - self._last_draw >= 0.1 or self.done == self.total:
                self._last_draw = now
                self.stream.write("\r" + self._line())
                self.stream.flush()
        elif self.total and self.done * 4 >= self._next_quarter * self.total:
            while self.done * 4 >= self._next_quarter * self.total:
                self._next_quarter += 1
            self.stream.write(self._line() + "\n")
            self.stream.flush()

    @property
    def rate(self) -> float:
        """Units per second so far."""
        elapsed = time.perf_counter() - self._started
        return self.done / elapsed if elapsed > 0 else 0.0

    def _line(self) -> str:
        fraction = self.done / self.total if self.total else 1.0
        filled = int(fraction * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        return f"[{bar}] {self.done}/{self.total} {self.unit} {fraction:4.0%} {self.rate:,.0f}/s"

    def close(self) -> None:
        """Finish the line on a terminal."""
        if self.enabled and self._interactive:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
