"""Retry discipline (R10): bounded in attempts and time, only for failures worth retrying."""

from __future__ import annotations

import itertools
import socket
import time
from typing import Any

import pytest

from notify.robot_server import DINGTALK_PATH, Reply, RobotServer
from ordercore.errors import ConfigurationError, NotifyError
from ordercore.notify import DingTalkNotifier, Notification, RetryPolicy, open_notifier
from ordercore.notify._http import parse_retry_after

MESSAGE = Notification("Logistics stuck", order_ids="O-7")


def _notifier(robot: RobotServer, policy: RetryPolicy, **options: Any) -> DingTalkNotifier:
    notifier = open_notifier(robot.dingtalk_url(), retry=policy, **options)
    assert isinstance(notifier, DingTalkNotifier)
    return notifier


def _gaps(robot: RobotServer) -> list[float]:
    times = [request.at for request in robot.received]
    return [later - earlier for earlier, later in itertools.pairwise(times)]


class TestRetried:
    def test_a_500_then_a_200_is_delivered_after_one_retry(self, robot: RobotServer) -> None:
        """HTTP 500 is retried; the second attempt, freshly signed, is accepted."""
        robot.script.append(Reply(status=500, body=b"Internal Server Error"))
        policy = RetryPolicy(backoff=0.05, max_backoff=0.05)
        with _notifier(robot, policy) as notifier:
            notifier.notify(MESSAGE)
        assert len(robot.received) == 2
        assert robot.received[0].body == robot.received[1].body
        assert _gaps(robot)[0] >= 0.025  # equal jitter: at least half the backoff

    def test_a_429_waits_as_long_as_retry_after_asks(self, robot: RobotServer) -> None:
        """Retry-After: 1 under a cap of 5 s: the retry comes a second later and is delivered."""
        robot.script.append(Reply(status=429, headers={"Retry-After": "1"}))
        policy = RetryPolicy(retry_after_cap=5.0, backoff=0.01)
        with _notifier(robot, policy) as notifier:
            notifier.notify(MESSAGE)
        assert len(robot.received) == 2
        assert 1.0 <= _gaps(robot)[0] < 2.0

    def test_a_429_wait_is_capped(self, robot: RobotServer) -> None:
        """Retry-After: 30 with a cap of 0.2 s: the retry comes after the cap, not 30 s."""
        robot.script.append(Reply(status=429, headers={"Retry-After": "30"}))
        policy = RetryPolicy(retry_after_cap=0.2, backoff=0.01)
        started = time.monotonic()
        with _notifier(robot, policy) as notifier:
            notifier.notify(MESSAGE)
        assert len(robot.received) == 2
        assert 0.2 <= _gaps(robot)[0] < 1.0
        assert time.monotonic() - started < 2.0

    def test_a_wait_that_does_not_fit_the_budget_gives_up_at_once(self, robot: RobotServer) -> None:
        """Retry-After beyond what is left of the time budget: no sleep, NotifyError '429'."""
        robot.always = Reply(status=429, headers={"Retry-After": "30"})
        policy = RetryPolicy(total_seconds=2.0, retry_after_cap=60.0)
        started = time.monotonic()
        with _notifier(robot, policy) as notifier, pytest.raises(NotifyError) as caught:
            notifier.notify(MESSAGE)
        assert time.monotonic() - started < 1.0
        assert caught.value.status == "429"
        assert len(robot.received) == 1

    def test_endless_500s_stop_after_the_attempts(self, robot: RobotServer) -> None:
        """A server that always fails gets exactly `attempts` requests, then NotifyError '500'."""
        robot.always = Reply(status=500, body=b"oops")
        policy = RetryPolicy(attempts=3, total_seconds=5.0, backoff=0.05, max_backoff=0.1)
        started = time.monotonic()
        with _notifier(robot, policy) as notifier, pytest.raises(NotifyError) as caught:
            notifier.notify(MESSAGE)
        elapsed = time.monotonic() - started
        assert len(robot.received) == 3
        assert caught.value.status == "500"
        assert "gave up after 3 attempts" in caught.value.message
        assert elapsed < 5.0

    def test_endless_500s_stop_within_the_time_budget(self, robot: RobotServer) -> None:
        """With many attempts allowed, the time budget ends the retries instead."""
        robot.always = Reply(status=503)
        policy = RetryPolicy(attempts=1000, total_seconds=0.8, backoff=0.1, max_backoff=0.1)
        started = time.monotonic()
        with _notifier(robot, policy) as notifier, pytest.raises(NotifyError) as caught:
            notifier.notify(MESSAGE)
        elapsed = time.monotonic() - started
        assert elapsed <= 0.8 + 0.3
        assert 3 <= len(robot.received) < 20
        assert caught.value.status == "503"

    def test_a_slow_reply_times_out_within_the_budget(self, robot: RobotServer) -> None:
        """Each request's timeout is cut to what is left: a 3 s reply cannot overrun 1 s."""
        robot.always = Reply(delay=3.0)
        policy = RetryPolicy(attempts=2, total_seconds=1.0, timeout=5.0, backoff=0.01)
        started = time.monotonic()
        with _notifier(robot, policy) as notifier, pytest.raises(NotifyError) as caught:
            notifier.notify(MESSAGE)
        assert time.monotonic() - started < 1.5
        assert "timed out" in caught.value.message

    def test_a_timeout_is_resent_by_default(self, robot: RobotServer) -> None:
        """A reply that does not come in time is retried; the next attempt is delivered."""
        robot.script.append(Reply(delay=1.0))
        policy = RetryPolicy(timeout=0.2, backoff=0.01)
        with _notifier(robot, policy) as notifier:
            notifier.notify(MESSAGE)
        assert len(robot.received) == 2

    def test_a_refused_connection_is_retried_then_reported(self) -> None:
        """Nothing listening: every attempt fails to connect; NotifyError has no status."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        policy = RetryPolicy(attempts=3, backoff=0.01)
        notifier = DingTalkNotifier(
            "T", endpoint=f"http://127.0.0.1:{port}{DINGTALK_PATH}", retry=policy
        )
        with notifier, pytest.raises(NotifyError) as caught:
            notifier.notify(MESSAGE)
        assert caught.value.status is None
        assert "could not connect (ConnectError)" in caught.value.message
        assert "gave up after 3 attempts" in caught.value.message


class TestNotRetried:
    @pytest.mark.parametrize("status", [400, 403, 404, 413])
    def test_a_4xx_is_not_retried(self, robot: RobotServer, status: int) -> None:
        """Any 4xx but 429 is a definite refusal: one request, NotifyError with the status."""
        robot.always = Reply(status=status, body=b"no")
        with (
            _notifier(robot, RetryPolicy(backoff=0.01)) as notifier,
            pytest.raises(NotifyError) as caught,
        ):
            notifier.notify(MESSAGE)
        assert caught.value.status == str(status)
        assert len(robot.received) == 1

    def test_a_200_without_the_json_reply_is_not_retried(self, robot: RobotServer) -> None:
        """An HTML page at the webhook address is not the robot: one request, status '200'."""
        robot.always = Reply(body=b"<html>portal login</html>")
        with (
            _notifier(robot, RetryPolicy(backoff=0.01)) as notifier,
            pytest.raises(NotifyError, match="without its JSON reply") as caught,
        ):
            notifier.notify(MESSAGE)
        assert caught.value.status == "200"
        assert len(robot.received) == 1

    def test_a_timeout_is_not_resent_when_unsure_resends_are_off(self, robot: RobotServer) -> None:
        """With resend_when_unsure=False a read timeout is reported, not resent."""
        robot.always = Reply(delay=1.0)
        policy = RetryPolicy(timeout=0.2, backoff=0.01, resend_when_unsure=False)
        with _notifier(robot, policy) as notifier, pytest.raises(NotifyError) as caught:
            notifier.notify(MESSAGE)
        assert "may not have received" in caught.value.message
        assert len(robot.received) == 1

    def test_a_500_is_still_retried_when_unsure_resends_are_off(self, robot: RobotServer) -> None:
        """A 5xx answer is retried whatever resend_when_unsure says."""
        robot.script.append(Reply(status=502))
        policy = RetryPolicy(backoff=0.01, resend_when_unsure=False)
        with _notifier(robot, policy) as notifier:
            notifier.notify(MESSAGE)
        assert len(robot.received) == 2

    def test_one_attempt_means_no_retry(self, robot: RobotServer) -> None:
        """attempts=1 sends once even for a retryable failure."""
        robot.always = Reply(status=500)
        with (
            _notifier(robot, RetryPolicy(attempts=1)) as notifier,
            pytest.raises(NotifyError, match="gave up after 1 attempt in") as caught,
        ):
            notifier.notify(MESSAGE)
        assert caught.value.status == "500"
        assert len(robot.received) == 1


class TestPolicy:
    def test_the_default_is_three_attempts_within_ten_seconds(self) -> None:
        """The defaults bound every notify() to 3 requests and about 10 s."""
        policy = RetryPolicy()
        assert (policy.attempts, policy.total_seconds, policy.timeout) == (3, 10.0, 5.0)
        assert policy.retry_after_cap == 5.0 and policy.resend_when_unsure is True

    @pytest.mark.parametrize(
        ("options", "field"),
        [
            ({"attempts": 0}, "attempts"),
            ({"attempts": 2.5}, "attempts"),
            ({"attempts": True}, "attempts"),
            ({"total_seconds": 0}, "total_seconds"),
            ({"total_seconds": float("inf")}, "total_seconds"),
            ({"timeout": -1}, "timeout"),
            ({"backoff": float("nan")}, "backoff"),
            ({"retry_after_cap": -0.1}, "retry_after_cap"),
            ({"resend_when_unsure": "yes"}, "resend_when_unsure"),
        ],
    )
    def test_unbounded_or_invalid_values_are_refused(
        self, options: dict[str, Any], field: str
    ) -> None:
        """No policy can retry forever or wait forever: bad values are ConfigurationErrors."""
        with pytest.raises(ConfigurationError, match=f"RetryPolicy.{field}"):
            RetryPolicy(**options)

    def test_a_notifier_refuses_something_else_as_its_policy(self) -> None:
        """retry= must be a RetryPolicy."""
        with pytest.raises(ConfigurationError, match="retry must be a RetryPolicy"):
            DingTalkNotifier("T", retry={"attempts": 3})  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("header", "seconds"),
        [("3", 3.0), (" 0 ", 0.0), ("-5", 0.0), ("soon", None), (None, None), ("nan", None)],
    )
    def test_retry_after_in_seconds(self, header: str | None, seconds: float | None) -> None:
        """Delta-seconds are read; a negative one means now; junk is ignored."""
        assert parse_retry_after(header) == seconds

    def test_retry_after_as_an_http_date(self) -> None:
        """An HTTP date is turned into the seconds from now."""
        assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
