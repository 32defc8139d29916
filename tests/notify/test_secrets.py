"""R16: no token, key, secret or phone number in any log line, repr or error.

Every scenario runs with sentinel credentials and a sentinel phone number, with
every logger (httpx and httpcore included) captured at DEBUG; the logs, the
reprs and the errors (message, repr and the whole formatted traceback with its
causes) are then searched for the sentinels, raw and URL-encoded.
"""

from __future__ import annotations

import logging
import socket
import traceback
from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest

from notify.robot_server import (
    DINGTALK_PATH,
    DINGTALK_SECRET,
    DINGTALK_TOKEN,
    WECOM_KEY,
    Reply,
    RobotServer,
)
from ordercore.errors import ConfigurationError, NotifyError
from ordercore.notify import (
    DingTalkNotifier,
    Notification,
    RetryPolicy,
    WeComNotifier,
    open_notifier,
)

PHONE = "13912345678"
SENTINELS = (DINGTALK_TOKEN, DINGTALK_SECRET, WECOM_KEY, PHONE)
FAST = RetryPolicy(attempts=2, total_seconds=3.0, timeout=0.3, backoff=0.01, max_backoff=0.02)
MESSAGE = Notification(
    "Rejected delivery",
    text=f"receiver {PHONE} refused the parcel",
    level="critical",
    order_ids="O-5",
    data={"receiver_phone": PHONE},
    mentions=[PHONE],
)


def _forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value)}


def _leaks(texts: list[str]) -> list[tuple[str, str]]:
    return [
        (sentinel, text[:200])
        for text in texts
        for sentinel in SENTINELS
        for form in _forms(sentinel)
        if form in text
    ]


def _error_texts(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


def _dingtalk(robot: RobotServer, **query: str) -> DingTalkNotifier:
    notifier = open_notifier(robot.dingtalk_url(**query), retry=FAST)
    assert isinstance(notifier, DingTalkNotifier)
    return notifier


def _wecom(robot: RobotServer, **query: str) -> WeComNotifier:
    notifier = open_notifier(robot.wecom_url(**query), retry=FAST)
    assert isinstance(notifier, WeComNotifier)
    return notifier


def _delivered(robot: RobotServer) -> None:
    with _dingtalk(robot) as notifier:
        notifier.notify(MESSAGE)


def _retried_then_delivered(robot: RobotServer) -> None:
    robot.script.append(Reply(status=500))
    with _dingtalk(robot) as notifier:
        notifier.notify(MESSAGE)


def _wrong_secret(robot: RobotServer) -> None:
    with _dingtalk(robot) as notifier:
        robot.dingtalk_secret = DINGTALK_SECRET + "-rotated"  # the server's copy changed
        notifier.notify(MESSAGE)


def _errmsg_echoes_the_token(robot: RobotServer) -> None:
    robot.always = Reply(
        body={"errcode": 300001, "errmsg": f"token {DINGTALK_TOKEN} is not exist, {PHONE}"}
    )
    with _dingtalk(robot) as notifier:
        notifier.notify(MESSAGE)


def _endless_500(robot: RobotServer) -> None:
    robot.always = Reply(status=500, body=f"upstream {DINGTALK_TOKEN}".encode())
    with _dingtalk(robot) as notifier:
        notifier.notify(MESSAGE)


def _timeouts(robot: RobotServer) -> None:
    robot.always = Reply(delay=0.6)
    with _dingtalk(robot) as notifier:
        notifier.notify(MESSAGE)


def _refused_connection(robot: RobotServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notifier = DingTalkNotifier(
        DINGTALK_TOKEN,
        secret=DINGTALK_SECRET,
        endpoint=f"http://127.0.0.1:{port}{DINGTALK_PATH}",
        retry=FAST,
    )
    with notifier:
        notifier.notify(MESSAGE)


def _wecom_delivered(robot: RobotServer) -> None:
    with _wecom(robot) as notifier:
        notifier.notify(MESSAGE)


def _wecom_errmsg_echoes_the_key(robot: RobotServer) -> None:
    robot.always = Reply(
        body={"errcode": 93000, "errmsg": f"invalid webhook url, key={quote_plus(WECOM_KEY)}"}
    )
    with _wecom(robot) as notifier:
        notifier.notify(MESSAGE)


def _wecom_rate_limited(robot: RobotServer) -> None:
    robot.always = Reply(body={"errcode": 45009, "errmsg": f"api freq out of limit {WECOM_KEY}"})
    with _wecom(robot) as notifier:
        notifier.notify(MESSAGE)


def _malformed_dingtalk_url(robot: RobotServer) -> None:
    open_notifier(robot.dingtalk_url(extra=DINGTALK_TOKEN))


def _malformed_wecom_url(robot: RobotServer) -> None:
    open_notifier(f"wecom://host?key={WECOM_KEY}")


def _url_without_scheme(robot: RobotServer) -> None:
    open_notifier(f"oapi.dingtalk.com/robot/send?access_token={DINGTALK_TOKEN}")


SCENARIOS: dict[str, tuple[Callable[[RobotServer], None], type[Exception] | None]] = {
    "delivered": (_delivered, None),
    "retried then delivered": (_retried_then_delivered, None),
    "wrong secret": (_wrong_secret, NotifyError),
    "errmsg echoes the token": (_errmsg_echoes_the_token, NotifyError),
    "endless 500": (_endless_500, NotifyError),
    "timeouts": (_timeouts, NotifyError),
    "refused connection": (_refused_connection, NotifyError),
    "wecom delivered": (_wecom_delivered, None),
    "wecom errmsg echoes the key": (_wecom_errmsg_echoes_the_key, NotifyError),
    "wecom rate limited": (_wecom_rate_limited, NotifyError),
    "malformed dingtalk url": (_malformed_dingtalk_url, ConfigurationError),
    "malformed wecom url": (_malformed_wecom_url, ConfigurationError),
    "url without scheme": (_url_without_scheme, ConfigurationError),
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_no_sentinel_in_logs_reprs_or_errors(
    name: str, robot: RobotServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The scenario's logs, reprs and errors hold no credential and no whole phone number."""
    caplog.set_level(logging.DEBUG)
    scenario, expected = SCENARIOS[name]
    texts: list[str] = [repr(MESSAGE)]
    if expected is None:
        scenario(robot)
    else:
        with pytest.raises(expected) as caught:
            scenario(robot)
        texts += _error_texts(caught.value)
    texts += [record.getMessage() for record in caplog.records]
    texts.append(caplog.text)
    assert _leaks(texts) == []


def test_the_sentinels_did_reach_the_server(robot: RobotServer) -> None:
    """The checks above are not vacuous: the token and the phone were really sent."""
    _delivered(robot)
    _wecom_delivered(robot)
    dingtalk, wecom = robot.received
    assert dingtalk.query["access_token"] == DINGTALK_TOKEN
    assert dingtalk.body["at"]["atMobiles"] == [PHONE]
    assert wecom.query["key"] == WECOM_KEY
    assert wecom.body["text"]["mentioned_mobile_list"] == [PHONE]


def test_httpx_debug_logging_was_captured(
    robot: RobotServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The captured logs include httpcore's own debug records, so they were searched too."""
    caplog.set_level(logging.DEBUG)
    _delivered(robot)
    assert any(record.name.startswith("httpcore") for record in caplog.records)


def test_notifier_reprs_hide_credentials() -> None:
    """repr() and str() of the robot notifiers show '***' for the token, secret and key."""
    dingtalk = DingTalkNotifier(DINGTALK_TOKEN, secret=DINGTALK_SECRET)
    wecom = WeComNotifier(WECOM_KEY)
    try:
        texts = [repr(dingtalk), str(dingtalk), repr(wecom), str(wecom)]
    finally:
        dingtalk.close()
        wecom.close()
    assert _leaks(texts) == []
    assert "access_token='***'" in texts[0] and "key='***'" in texts[2]
