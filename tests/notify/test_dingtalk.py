"""The DingTalk robot notifier against a loopback server that signs like DingTalk."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Any

import httpx
import pytest

from notify.robot_server import (
    DINGTALK_PATH,
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    DINGTALK_TOO_FAST,
    Reply,
    RobotServer,
)
from ordercore.errors import ConfigurationError, NotifyError
from ordercore.notify import (
    DingTalkNotifier,
    Notification,
    Notifier,
    RetryPolicy,
    dingtalk_signature,
    open_notifier,
)

FAST = RetryPolicy(attempts=3, total_seconds=5.0, timeout=2.0, backoff=0.01, max_backoff=0.05)

STUCK = Notification(
    "Order stuck in picking",
    text="No scan for **6 h** at warehouse SH-1.",
    level="warning",
    order_ids=("O-1001", "O-1002"),
    mentions=["13800138000", "manager4220"],
)


def _dingtalk(url: str, **options: Any) -> DingTalkNotifier:
    notifier = open_notifier(url, **options)
    assert isinstance(notifier, DingTalkNotifier)
    return notifier


def _open(robot: RobotServer, **query: str) -> DingTalkNotifier:
    return _dingtalk(robot.dingtalk_url(**query), retry=FAST)


class TestSignature:
    def test_signature_is_base64_of_hmac_sha256_over_timestamp_and_secret(self) -> None:
        """The sign is base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}"))."""
        expected = base64.b64encode(
            hmac.new(b"SEC123", b"1700000000000\nSEC123", hashlib.sha256).digest()
        ).decode()
        assert dingtalk_signature("SEC123", 1700000000000) == expected

    def test_each_attempt_is_signed_with_the_current_time_in_milliseconds(self) -> None:
        """request_url carries access_token, the clock's ms timestamp and the URL-encoded sign."""
        notifier = DingTalkNotifier("T", secret="S+/=", clock=lambda: 1700000000.123)
        try:
            url = notifier.request_url()
        finally:
            notifier.close()
        sign = dingtalk_signature("S+/=", 1700000000123)
        assert url == (
            "https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=1700000000123&sign="
            + sign.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
        )

    def test_without_a_secret_nothing_is_signed(self) -> None:
        """A robot without signing gets only its access_token."""
        with DingTalkNotifier("T") as notifier:
            assert notifier.request_url() == "https://oapi.dingtalk.com/robot/send?access_token=T"


class TestDelivery:
    def test_a_markdown_message_is_delivered_with_the_exact_body(self, robot: RobotServer) -> None:
        """The server checks the signature and receives exactly the documented markdown body."""
        with _open(robot) as notifier:
            notifier.notify(STUCK)
        [request] = robot.received
        assert request.path == DINGTALK_PATH
        assert request.query["access_token"] == DINGTALK_TOKEN
        assert set(request.query) == {"access_token", "timestamp", "sign"}
        assert request.body == {
            "msgtype": "markdown",
            "markdown": {
                "title": "[WARNING] Order stuck in picking",
                "text": "#### [WARNING] Order stuck in picking\n\n"
                "No scan for **6 h** at warehouse SH-1.\n\n"
                "> Orders: O-1001, O-1002\n\n"
                "@13800138000 @manager4220",
            },
            "at": {
                "atMobiles": ["13800138000"],
                "atUserIds": ["manager4220"],
                "isAtAll": False,
            },
        }

    def test_a_text_message_is_delivered_with_the_exact_body(self, robot: RobotServer) -> None:
        """msgtype=text in the URL sends DingTalk's text message, @ all included."""
        message = Notification("Payment timeout", text="closing", mention_all=True)
        with _open(robot, msgtype="text") as notifier:
            notifier.notify(message)
        assert robot.received[0].body == {
            "msgtype": "text",
            "text": {"content": "Payment timeout\nclosing"},
            "at": {"atMobiles": [], "isAtAll": True},
        }

    def test_an_unsigned_robot_is_reached_without_timestamp_or_sign(
        self, robot: RobotServer
    ) -> None:
        """With no secret on either side, the message goes through with the token alone."""
        robot.dingtalk_secret = None
        with _open(robot) as notifier:
            notifier.notify(Notification("hello"))
        assert set(robot.received[0].query) == {"access_token"}

    def test_options_win_over_url_parameters(self, robot: RobotServer) -> None:
        """msgtype passed as an option overrides the URL's."""
        with _dingtalk(robot.dingtalk_url(msgtype="text"), msgtype="markdown") as notifier:
            notifier.notify(Notification("hello"))
        assert robot.received[0].body["msgtype"] == "markdown"


class TestRefusals:
    def test_a_wrong_secret_is_refused_with_310000_and_not_retried(
        self, robot: RobotServer
    ) -> None:
        """The server's HMAC does not match: NotifyError status '310000' after one request."""
        with _open(robot, secret="SEC-wrong") as notifier, pytest.raises(NotifyError) as caught:
            notifier.notify(STUCK)
        assert caught.value.status == "310000"
        assert caught.value.notifier == "dingtalk"
        assert "signature mismatch" in caught.value.message
        assert "sign not match" in caught.value.message
        assert len(robot.received) == 1

    def test_a_missing_signature_is_refused_with_310000(self, robot: RobotServer) -> None:
        """A robot with signing on refuses a message sent without a secret."""
        url = robot.dingtalk_url().split("&secret=")[0]
        with _dingtalk(url, retry=FAST) as notifier, pytest.raises(NotifyError) as caught:
            notifier.notify(STUCK)
        assert caught.value.status == "310000"
        assert len(robot.received) == 1

    def test_a_timestamp_more_than_an_hour_old_is_refused(self, robot: RobotServer) -> None:
        """A clock two hours behind makes a stale signature: 310000, not retried."""
        notifier = DingTalkNotifier(
            DINGTALK_TOKEN,
            secret=DINGTALK_SECRET,
            endpoint=f"{robot.base}{DINGTALK_PATH}",
            retry=FAST,
            clock=lambda: time.time() - 7200,
        )
        with notifier, pytest.raises(NotifyError) as caught:
            notifier.notify(STUCK)
        assert caught.value.status == "310000"
        assert "invalid timestamp" in caught.value.message
        assert len(robot.received) == 1

    def test_a_wrong_token_is_refused_with_the_platform_code(self, robot: RobotServer) -> None:
        """An unknown access_token gets DingTalk's errcode as the status."""
        with _open(robot, access_token="nope") as notifier, pytest.raises(NotifyError) as caught:
            notifier.notify(STUCK)
        assert caught.value.status == "300001"
        assert len(robot.received) == 1


class TestRateLimit:
    def test_too_many_messages_is_retried_then_delivered(self, robot: RobotServer) -> None:
        """errcode 130101 (20 a minute exceeded) is retried; the next attempt gets through."""
        robot.script.append(Reply(body=DINGTALK_TOO_FAST))
        with _open(robot) as notifier:
            notifier.notify(STUCK)
        assert len(robot.received) == 2
        first, second = robot.received
        assert first.body == second.body

    def test_a_robot_that_stays_rate_limited_fails_with_130101(self, robot: RobotServer) -> None:
        """After the bounded attempts, NotifyError carries 130101 and says to retry later."""
        robot.always = Reply(body=DINGTALK_TOO_FAST)
        with _open(robot) as notifier, pytest.raises(NotifyError) as caught:
            notifier.notify(STUCK)
        assert caught.value.status == "130101"
        assert "retry later" in caught.value.message
        assert len(robot.received) == FAST.attempts


class TestLifetime:
    def test_a_closed_notifier_refuses_to_send(self, robot: RobotServer) -> None:
        """After close(), notify() raises NotifyError and sends nothing."""
        notifier = _open(robot)
        notifier.close()
        notifier.close()  # closing twice is harmless
        with pytest.raises(NotifyError, match="closed"):
            notifier.notify(STUCK)
        assert robot.received == []

    def test_a_transport_passed_in_is_not_closed(self, robot: RobotServer) -> None:
        """Closing the notifier leaves the caller's transport open for another one."""
        transport = httpx.HTTPTransport()
        try:
            with _dingtalk(robot.dingtalk_url(), transport=transport) as first:
                first.notify(STUCK)
            with _dingtalk(robot.dingtalk_url(), transport=transport) as second:
                second.notify(STUCK)
        finally:
            transport.close()
        assert len(robot.received) == 2


class TestURLs:
    def test_the_plain_scheme_targets_dingtalk(self) -> None:
        """dingtalk://?access_token=... posts to oapi.dingtalk.com/robot/send."""
        notifier = open_notifier("dingtalk://?access_token=T&secret=S")
        assert isinstance(notifier, DingTalkNotifier) and isinstance(notifier, Notifier)
        with notifier:
            assert notifier.endpoint == "https://oapi.dingtalk.com/robot/send"

    def test_the_webhook_address_as_dingtalk_shows_it(self) -> None:
        """dingtalk+https://oapi.dingtalk.com/robot/send?access_token=... is accepted as is."""
        url = "dingtalk+https://oapi.dingtalk.com/robot/send?access_token=T"
        with _dingtalk(url) as notifier:
            assert notifier.request_url() == "https://oapi.dingtalk.com/robot/send?access_token=T"

    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("dingtalk://", "needs the robot's token"),
            ("dingtalk://?secret=S-s3nt1nel", "needs the robot's token"),
            ("dingtalk://?access_token=T-s3nt1nel&colour=red", "unknown parameter 'colour'"),
            ("dingtalk://?access_token=T-s3nt1nel&access_token=U", "access_token twice"),
            ("dingtalk://host/path?access_token=T-s3nt1nel", "dingtalk+https://host/path"),
            ("dingtalk+ftp://host/robot/send?access_token=T-s3nt1nel", "http or https"),
            ("dingtalk://?access_token=T-s3nt1nel&msgtype=card", "'markdown' or 'text'"),
            ("dingtalk://?access_token=T-s3nt1nel&secret=", "secret must be a non-empty"),
        ],
    )
    def test_malformed_urls_are_configuration_errors_without_the_token(
        self, url: str, problem: str
    ) -> None:
        """Each problem is named; the token and secret in the URL are never repeated."""
        with pytest.raises(ConfigurationError, match=re.escape(problem)) as caught:
            open_notifier(url)
        assert "s3nt1nel" not in str(caught.value)
