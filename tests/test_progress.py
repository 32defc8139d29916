"""Progress: a bar on a terminal, a line per quarter in logs, nothing when disabled."""

from __future__ import annotations

import io

import pytest

from ordercore.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class TestProgress:
    def test_a_log_gets_one_line_per_quarter(self) -> None:
        """Without a terminal each quarter is printed once, even when a step crosses several."""
        out = io.StringIO()
        with Progress(100, "orders", stream=out) as bar:
            bar.advance(10)
            bar.advance(40)  # crosses 25% and 50% at once
            bar.advance(30)
            bar.advance(20)
        lines = out.getvalue().splitlines()
        assert [line.split()[1] for line in lines] == ["50/100", "80/100", "100/100"]
        assert all("orders" in line for line in lines)

    def test_a_terminal_gets_a_redrawn_bar(self) -> None:
        """On a terminal the bar is redrawn in place and finished with a newline."""
        out = _Terminal()
        with Progress(4, "orders", stream=out, width=8) as bar:
            bar.advance(4)
        text = out.getvalue()
        assert text.startswith("\r[########] 4/4 orders 100%")
        assert text.endswith("\n")

    def test_disabled_progress_prints_nothing_but_counts(self) -> None:
        """enabled=False (--quiet) is silent; the count still advances, capped at the total."""
        out = io.StringIO()
        bar = Progress(5, stream=out, enabled=False)
        bar.advance(9)
        bar.close()
        assert out.getvalue() == ""
        assert bar.done == 5

    def test_a_negative_total_is_refused(self) -> None:
        """A total below zero is a programming error."""
        with pytest.raises(ValueError, match="negative"):
            Progress(-1)
