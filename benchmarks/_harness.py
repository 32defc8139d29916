"""Timing for the benchmarks: warm-up, interleaved repetitions, medians and a table.

Every contender of a comparison runs the same work the same way: an untimed
warm-up (a short run over the first items, or a full run), then ``repeat`` timed
runs, interleaved (contender A, B, C, then B, C, A, ...) so that drift of the
machine hits all of them alike. A timed section
starts with ``gc.collect()`` and runs with the cyclic garbage collector off, as
:mod:`timeit` does, so no contender pays for another's garbage.

Importing this module also makes ``ordercore`` importable from this checkout's
``src/`` when it is not installed, so ``python benchmarks/<name>.py`` works from a
fresh clone.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "Rate",
    "Report",
    "Stopwatch",
    "Target",
    "compare",
    "format_rate",
    "format_table",
    "loop",
    "stopwatch",
]

T = TypeVar("T")

if importlib.util.find_spec("ordercore") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


@dataclass
class Stopwatch:
    """The elapsed seconds of one timed section (set when the section ends)."""

    seconds: float = 0.0


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """Time the ``with`` body with :func:`time.perf_counter`, the cyclic GC collected and off."""
    watch = Stopwatch()
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start
        if was_enabled:
            gc.enable()


def loop(function: Callable[[T], object], items: Sequence[T]) -> Callable[[], float]:
    """A run that calls ``function`` on every item; returns its elapsed seconds."""

    def run() -> float:
        with stopwatch() as watch:
            for item in items:
                function(item)
        return watch.seconds

    return run


@dataclass
class Rate:
    """Items per second of one contender, one figure per timed repetition."""

    name: str
    items: int
    per_s: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.per_s)

    @property
    def spread(self) -> float:
        """(max - min) / median of the repetitions: how noisy the figure is."""
        return (max(self.per_s) - min(self.per_s)) / self.median


def compare(
    runs: Mapping[str, Callable[[], float]],
    *,
    items: int,
    repeat: int,
    warmups: Mapping[str, Callable[[], float]] | None = None,
) -> dict[str, Rate]:
    """Time each run ``repeat`` times after one untimed warm-up each, interleaved.

    Args:
        runs: Contender name -> a callable doing one full run over ``items`` items
            and returning the seconds of its timed part (untimed set-up such as a
            fresh database file stays outside its :func:`stopwatch`).
        items: How many items one run processes.
        repeat: Timed runs per contender.
        warmups: Contender name -> a shorter run of the same work, run once untimed
            first; by default the full run is.

    Returns:
        Contender name -> its :class:`Rate`.
    """
    names = list(runs)
    for name in names:
        (warmups or runs)[name]()
    rates = {name: Rate(name, items) for name in names}
    for round_no in range(repeat):
        shift = round_no % len(names)
        for name in names[shift:] + names[:shift]:
            seconds = runs[name]()
            rates[name].per_s.append(items / seconds)
    return rates


def format_rate(per_s: float) -> str:
    """``12,345/s``."""
    return f"{per_s:,.0f}/s"


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table; the first column left-aligned, the others right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


@dataclass
class Target:
    """A measured figure beside its target: at least (``>=``) or at most (``<=``)."""

    key: str
    bound: float
    op: str = ">="
    value: float | None = None
    skipped: str = ""

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.bound if self.op == ">=" else self.value <= self.bound

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "skipped"
        return "met" if self.met else "not met"


class Report:
    """Table rows, targets and JSON figures, built up section by section.

    ``contender`` adds a timed rate (with the ratio of ``ours`` over it when given),
    ``line`` any other figure; ``target`` records a figure beside its bound. The
    last line a benchmark prints is :meth:`json_line`.
    """

    HEADERS = ("benchmark / contender", "median", "spread", "ours/this", "target", "")

    def __init__(self) -> None:
        self.rows: list[tuple[str, ...]] = []
        self.figures: dict[str, Any] = {}
        self.notes: list[str] = []
        self.targets: list[Target] = []

    def section(self, title: str) -> None:
        if self.rows:
            self.rows.append(("",) * len(self.HEADERS))
        self.rows.append((title, "", "", "", "", ""))

    def line(self, label: str, value: str, *, ours: str = "", target: Target | None = None) -> None:
        self.rows.append(
            (
                f"  {label}",
                value,
                "",
                ours,
                "" if target is None else f"{target.op} {target.bound:g}",
                "" if target is None else target.verdict,
            )
        )

    def contender(
        self, label: str, rate: Rate, *, ours: Rate | None = None, target: Target | None = None
    ) -> None:
        versus = f"{ours.median / rate.median:.2f}" if ours is not None else ""
        self.rows.append(
            (
                f"  {label}",
                format_rate(rate.median),
                f"{rate.spread:.0%}",
                versus,
                "" if target is None else f"{target.op} {target.bound:g}",
                "" if target is None else target.verdict,
            )
        )

    def target(self, key: str, bound: float, value: float, op: str = ">=") -> Target:
        target = Target(key, bound, op, value)
        self.targets.append(target)
        self.figures[key] = value
        return target

    def skipped_target(self, key: str, bound: float, reason: str, op: str = ">=") -> Target:
        target = Target(key, bound, op, skipped=reason)
        self.targets.append(target)
        self.figures[key] = None
        return target

    def table(self) -> str:
        return format_table(self.HEADERS, self.rows)

    def targets_table(self) -> str:
        rows = [
            (
                f"  {t.key}",
                "" if t.value is None else f"{t.value:,.3f}",
                f"{t.op} {t.bound:g}",
                t.verdict if not t.skipped else f"skipped: {t.skipped}",
            )
            for t in self.targets
        ]
        return format_table(("target", "measured", "target", ""), rows)

    def json_line(self) -> str:
        figures = dict(self.figures)
        figures["targets"] = {
            t.key: {"bound": t.bound, "op": t.op, "value": t.value, "met": t.met}
            | ({"skipped": t.skipped} if t.skipped else {})
            for t in self.targets
        }
        return json.dumps(figures)
