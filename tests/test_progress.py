"""Progress: a throttled bar on a terminal, occasional lines in logs, nothing when disabled."""

from __future__ import annotations

import io

import pytest

from ordercore.progress import Progress, _format_duration


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class _Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestLog:
    def test_a_log_gets_one_line_per_quarter(self) -> None:
        """Without a terminal each quarter is printed once, even when a step crosses several."""
        out = io.StringIO()
        with Progress(100, "orders", stream=out, clock=_Clock()) as bar:
            bar.advance(10)
            bar.advance(40)  # crosses 25% and 50% at once
            bar.advance(30)
            bar.advance(20)
        lines = out.getvalue().splitlines()
        assert [line.split()[0] for line in lines] == ["50/100", "80/100", "100/100"]
        assert all(line.split()[1] == "orders" for line in lines)

    def test_a_log_never_gets_carriage_returns(self) -> None:
        """Log lines are whole lines: no carriage return, no bar drawn in place."""
        out = io.StringIO()
        with Progress(1000, "orders", stream=out, clock=_Clock()) as bar:
            for _ in range(1000):
                bar.advance()
        assert "\r" not in out.getvalue()
        assert len(out.getvalue().splitlines()) == 4

    def test_a_slow_job_still_logs_every_log_interval(self) -> None:
        """A quarter that takes long gets a line each log_interval seconds in between."""
        clock = _Clock()
        out = io.StringIO()
        bar = Progress(1000, "orders", stream=out, clock=clock, log_interval=10.0)
        bar.advance(1)  # nothing yet: no quarter crossed, nothing printed before
        clock.now += 5
        bar.advance(1)
        assert out.getvalue() == ""
        clock.now += 20
        bar.advance(250)  # crosses 25%
        clock.now += 9
        bar.advance(1)
        clock.now += 2
        bar.advance(1)  # 11 s after the last line
        counts = [line.split()[0] for line in out.getvalue().splitlines()]
        assert counts == ["252/1000", "254/1000"]

    def test_rate_and_time_left_are_shown(self) -> None:
        """A line carries the units per second so far and the time left at that rate."""
        clock = _Clock()
        out = io.StringIO()
        bar = Progress(100, "orders", stream=out, clock=clock)
        clock.now += 2.0
        bar.advance(25)
        assert out.getvalue() == "25/100 orders  25%  12/s  ETA 6.0s\n"
        assert bar.rate == 12.5
        assert bar.eta == 6.0

    def test_the_last_line_says_how_long_it_took(self) -> None:
        """When the work is done the time left becomes the time taken."""
        clock = _Clock()
        out = io.StringIO()
        with Progress(10, "orders", stream=out, clock=clock) as bar:
            clock.now += 75
            bar.advance(10)
        assert out.getvalue() == "10/10 orders 100%  0/s  took 1:15\n"

    def test_unfinished_work_logs_its_final_count_on_close(self) -> None:
        """Work stopped early (an error, Ctrl-C) still shows how far it got."""
        out = io.StringIO()
        with Progress(100, "orders", stream=out, clock=_Clock()) as bar:
            bar.advance(30)
            bar.advance(10)
        assert [line.split()[0] for line in out.getvalue().splitlines()] == ["30/100", "40/100"]


class TestTerminal:
    def test_a_terminal_gets_a_redrawn_bar(self) -> None:
        """On a terminal the bar is redrawn in place and finished with a newline."""
        out = _Terminal()
        with Progress(4, "orders", stream=out, width=8, clock=_Clock()) as bar:
            bar.advance(4)
        text = out.getvalue()
        assert text.startswith("\r[########] 4/4 orders 100%")
        assert text.endswith("\n")

    def test_redraws_are_throttled_to_the_interval(self) -> None:
        """Many quick steps draw once at the start and once at the end, not once per step."""
        out = _Terminal()
        with Progress(500, "orders", stream=out, clock=_Clock()) as bar:
            for _ in range(500):
                bar.advance()
        assert out.getvalue().count("\r") == 2

    def test_the_bar_moves_every_interval(self) -> None:
        """Steps a tenth of a second apart are each drawn, so the bar moves smoothly."""
        clock = _Clock()
        out = _Terminal()
        with Progress(20, "orders", stream=out, clock=clock, interval=0.1) as bar:
            for _ in range(20):
                clock.now += 0.06
                bar.advance()
        drawn = [part.split()[1] for part in out.getvalue().split("\r")[1:]]
        assert drawn == [f"{n}/20" for n in (1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 20)]

    def test_a_shorter_line_covers_the_longer_one_before_it(self) -> None:
        """A redraw pads to the previous width so no stale characters remain."""
        clock = _Clock()
        out = _Terminal()
        bar = Progress(1000, "orders", stream=out, clock=clock, width=4)
        clock.now += 1000
        bar.advance(1)  # ETA 277:30:00
        clock.now += 0.2
        bar.advance(998)  # ETA 1.0s
        first, second = out.getvalue().split("\r")[1:]
        assert first.endswith("ETA 277:30:00")
        assert len(second) == len(first)
        assert second.rstrip().endswith("ETA 1.0s")

    def test_unknown_time_left_is_a_question_mark(self) -> None:
        """Before any time has passed the rate is unknown, and so is the time left."""
        out = _Terminal()
        bar = Progress(10, "orders", stream=out, clock=_Clock())
        bar.advance(1)
        assert out.getvalue().rstrip().endswith("ETA ?")
        assert bar.eta is None


class TestSwitches:
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

    def test_a_zero_interval_is_refused(self) -> None:
        """A redraw interval of zero would redraw on every step."""
        with pytest.raises(ValueError, match="positive"):
            Progress(10, interval=0)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.04, "0.0s"),
        (4.25, "4.2s"),
        (12.4, "12s"),
        (59.6, "1:00"),
        (185, "3:05"),
        (3723, "1:02:03"),
    ],
)
def test_durations_read_naturally(seconds: float, text: str) -> None:
    """Short durations in seconds, longer ones as m:ss and h:mm:ss."""
    assert _format_duration(seconds) == text
