"""The WeCom robot notifier against a loopback server that answers like WeCom."""

from __future__ import annotations

import re
from typing import Any

import pytest

from notify.robot_server import WECOM_FREQ, WECOM_KEY, WECOM_PATH, Reply, RobotServer
from ordercore.errors import ConfigurationError, NotifyError
from ordercore.notify import Notification, Notifier, RetryPolicy, WeComNotifier, open_notifier

FAST = RetryPolicy(attempts=3, total_seconds=5.0, timeout=2.0, backoff=0.01, max_backoff=0.05)


def _wecom(url: str, **options: Any) -> WeComNotifier:
    notifier = open_notifier(url, **options)
    assert isinstance(notifier, WeComNotifier)
    return notifier


class TestDelivery:
    def test_a_markdown_message_is_delivered_with_the_exact_body(self, robot: RobotServer) -> None:
        """Markdown content with the level tag, orders and <@userid> mentions; key in the query."""
        message = Notification(
            "QC failed",
            text="Scratch on the lid.",
            level="critical",
            order_ids="O-9",
            mentions="qc-lead",
        )
        with _wecom(robot.wecom_url(), retry=FAST) as notifier:
            notifier.notify(message)
        [request] = robot.received
        assert request.path == WECOM_PATH and request.query == {"key": WECOM_KEY}
        assert request.body == {
            "msgtype": "markdown",
            "markdown": {
                "content": "#### [CRITICAL] QC failed\n\nScratch on the lid.\n\n"
                "> Orders: O-9\n\n<@qc-lead>"
            },
        }

    def test_a_mention_by_phone_is_sent_as_text(self, robot: RobotServer) -> None:
        """WeCom markdown cannot @ by phone: the message goes as text with mentioned_mobile_list."""
        message = Notification("Refund requested", mentions=["13800138000", "wangqing"])
        with _wecom(robot.wecom_url(), retry=FAST) as notifier:
            notifier.notify(message)
        assert robot.received[0].body == {
            "msgtype": "text",
            "text": {
                "content": "Refund requested",
                "mentioned_list": ["wangqing"],
                "mentioned_mobile_list": ["13800138000"],
            },
        }

    def test_mention_all_is_at_all_in_a_text_message(self, robot: RobotServer) -> None:
        """mention_all becomes mentioned_list ["@all"]."""
        with _wecom(robot.wecom_url(msgtype="text"), retry=FAST) as notifier:
            notifier.notify(Notification("Warehouse offline", mention_all=True))
        assert robot.received[0].body == {
            "msgtype": "text",
            "text": {"content": "Warehouse offline", "mentioned_list": ["@all"]},
        }

    def test_long_content_is_cut_to_wecoms_limit(self, robot: RobotServer) -> None:
        """Markdown content is cut to 4096 UTF-8 bytes (ending in …) and accepted."""
        message = Notification("长消息", text="订单" * 3000)
        with _wecom(robot.wecom_url(), retry=FAST) as notifier:
            notifier.notify(message)
        content = robot.received[0].body["markdown"]["content"]
        assert len(content.encode()) <= 4096 and content.endswith("…")


class TestRefusals:
    def test_a_rate_limited_robot_fails_with_45009_after_the_attempts(
        self, robot: RobotServer
    ) -> None:
        """45009 (api freq out of limit) is retried within the policy, then reported."""
        robot.always = Reply(body=WECOM_FREQ)
        with (
            _wecom(robot.wecom_url(), retry=FAST) as notifier,
            pytest.raises(NotifyError) as caught,
        ):
            notifier.notify(Notification("hello"))
        assert caught.value.status == "45009" and caught.value.notifier == "wecom"
        assert "at most 20 a minute" in caught.value.message
        assert len(robot.received) == FAST.attempts

    def test_a_rate_limit_that_clears_is_delivered(self, robot: RobotServer) -> None:
        """One 45009, then the platform accepts the resent message."""
        robot.script.append(Reply(body=WECOM_FREQ))
        with _wecom(robot.wecom_url(), retry=FAST) as notifier:
            notifier.notify(Notification("hello"))
        assert len(robot.received) == 2

    def test_a_wrong_key_is_refused_with_93000_and_not_retried(self, robot: RobotServer) -> None:
        """WeCom's invalid-webhook answer is a refusal: one request, status '93000'."""
        with (
            _wecom(robot.wecom_url(key="wrong-key"), retry=FAST) as notifier,
            pytest.raises(NotifyError) as caught,
        ):
            notifier.notify(Notification("hello"))
        assert caught.value.status == "93000"
        assert "key is not valid" in caught.value.message
        assert len(robot.received) == 1


class TestURLs:
    def test_the_plain_scheme_targets_wecom(self) -> None:
        """wecom://?key=... posts to qyapi.weixin.qq.com; wxwork:// is an alias."""
        for url in ("wecom://?key=K", "wxwork://?key=K", "WeCom://?key=K"):
            with _wecom(url) as notifier:
                assert isinstance(notifier, Notifier)
                assert notifier.request_url() == (
                    "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K"
                )

    def test_the_webhook_address_as_wecom_shows_it(self) -> None:
        """wecom+https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=... is accepted as is."""
        url = "wecom+https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=K"
        with _wecom(url) as notifier:
            assert notifier.endpoint == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"

    @pytest.mark.parametrize(
        ("url", "problem"),
        [
            ("wecom://", "needs the robot's key"),
            ("wecom://?key=", "needs the robot's key"),
            ("wecom://?key=k-s3nt1nel&secret=x", "unknown parameter 'secret'"),
            ("wecom://?key=k-s3nt1nel#frag", "no #fragment"),
        ],
    )
    def test_malformed_urls_are_configuration_errors_without_the_key(
        self, url: str, problem: str
    ) -> None:
        """Each problem is named; the key is never repeated."""
        with pytest.raises(ConfigurationError, match=re.escape(problem)) as caught:
            open_notifier(url)
        assert "s3nt1nel" not in str(caught.value)
