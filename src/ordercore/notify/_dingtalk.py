"""The DingTalk (钉钉) group-robot notifier, with the robot's HMAC-SHA256 signing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, Literal
from urllib.parse import urlencode

import httpx

from ordercore.errors import ConfigurationError
from ordercore.notify._http import (
    RetryPolicy,
    WebhookNotifier,
    badge,
    markdown_content,
    plain_content,
    split_robot_url,
)
from ordercore.notify._protocol import Notification

#: The address of DingTalk's custom-robot webhook.
DINGTALK_ENDPOINT: Final = "https://oapi.dingtalk.com/robot/send"

_URL_PARAMETERS: Final = ("access_token", "secret", "msgtype")


def dingtalk_signature(secret: str, timestamp_ms: int) -> str:
    """Return DingTalk's robot signature: base64(HMAC-SHA256(secret, f"{ts}\\n{secret}")).

    The caller URL-encodes it as the ``sign`` query parameter, beside
    ``timestamp``; DingTalk refuses timestamps more than an hour from its clock.

    Example:
        >>> dingtalk_signature("SEC-example", 1700000000000)
        'Q7aaP99yyzdhi28n7EfYsanxv8lOWozU7g5iKwLmNuI='
    """
    string_to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode("utf-8"), string_to_sign, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class DingTalkNotifier(WebhookNotifier):
    """Posts notifications to a DingTalk group's custom robot.

    Messages are sent as ``markdown`` (or ``text``) with the mentioned phone
    numbers and user ids in ``at``, and ``@`` written into the text as DingTalk
    needs for the mention to show. With a signing ``secret`` every attempt
    carries a fresh ``timestamp`` and ``sign``. Error code 310000 (the robot's
    security settings refused the message: a signature mismatch, a missing
    keyword, an IP not allowed) and other refusals raise at once; "busy" and
    "too many messages" codes are retried within the :class:`RetryPolicy`.

    Args:
        access_token: The ``access_token`` of the robot's webhook.
        secret: The robot's signing secret (``SEC...``), when signing is on.
        msgtype: ``"markdown"`` (default) or ``"text"``.
        endpoint: The webhook's address without query, for a proxy or a test server.
        retry: The retry policy (3 attempts within 10 s by default).
        transport: An httpx transport to send through (proxies, tests).
        clock: Wall-clock seconds, for the signature's timestamp.

    Raises:
        ConfigurationError: the token is missing or an option is not valid.

    Example:
        >>> notifier = DingTalkNotifier("TOKEN", secret="SEC-example")
        >>> notifier
        DingTalkNotifier(endpoint='https://oapi.dingtalk.com/robot/send', access_token='***', secret='***', msgtype='markdown')
        >>> notifier.close()
    """  # noqa: E501

    name: ClassVar[str] = "dingtalk"
    retry_errcodes: ClassVar[frozenset[int]] = frozenset({-1, 130101, 410100})
    hints: ClassVar[Mapping[int, str]] = {
        -1: "the platform is busy",
        130101: "the robot sends too many messages a minute; retry later",
        410100: "the robot sends too many messages a minute; retry later",
        310000: (
            "the robot's security settings refused it: a signature mismatch (check the "
            "secret), a timestamp more than an hour off, a missing keyword or an IP not "
            "allowed"
        ),
    }

    def __init__(
        self,
        access_token: str,
        *,
        secret: str | None = None,
        msgtype: Literal["markdown", "text"] = "markdown",
        endpoint: str = DINGTALK_ENDPOINT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(access_token, str) or not access_token:
            raise ConfigurationError("the dingtalk notifier needs the robot's access_token")
        if secret is not None and (not isinstance(secret, str) or not secret):
            raise ConfigurationError("the dingtalk secret must be a non-empty string when given")
        if msgtype not in ("markdown", "text"):
            raise ConfigurationError("the dingtalk msgtype must be 'markdown' or 'text'")
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ConfigurationError("the dingtalk endpoint must be an http:// or https:// URL")
        super().__init__(
            endpoint,
            secrets=(access_token, secret),
            retry=retry,
            transport=transport,
            sleep=sleep,
            monotonic=monotonic,
        )
        self._access_token = access_token
        self._secret = secret
        self._msgtype = msgtype
        self._clock = clock

    @classmethod
    def from_url(cls, url: str, **options: Any) -> DingTalkNotifier:
        """Open a notifier from ``dingtalk://?access_token=...&secret=...``.

        ``dingtalk+https://oapi.dingtalk.com/robot/send?access_token=...`` (the
        webhook address as DingTalk shows it, ``+`` after ``dingtalk``) sends to
        that address instead. ``msgtype=text`` sends plain text. Options are
        passed to the constructor and win over the URL's parameters.

        Raises:
            ConfigurationError: the URL is malformed, has an unknown parameter or
                no ``access_token``; the message never repeats the URL.
        """
        endpoint, query = split_robot_url(
            url, scheme="dingtalk", default_endpoint=DINGTALK_ENDPOINT, known=_URL_PARAMETERS
        )
        settings: dict[str, Any] = {"endpoint": endpoint, **query, **options}
        access_token = settings.pop("access_token", None)
        if not access_token:
            raise ConfigurationError(
                "a dingtalk URL needs the robot's token: dingtalk://?access_token=TOKEN"
                "&secret=SECRET"
            )
        return cls(access_token, **settings)

    def request_url(self) -> str:
        """The webhook URL with the token and, when signing, a fresh timestamp and sign."""
        query: dict[str, str] = {"access_token": self._access_token}
        if self._secret is not None:
            timestamp = int(self._clock() * 1000)
            query["timestamp"] = str(timestamp)
            query["sign"] = dingtalk_signature(self._secret, timestamp)
        return f"{self.endpoint}?{urlencode(query)}"

    def body(self, message: Notification) -> dict[str, Any]:
        """The robot message: ``markdown`` or ``text``, with ``at`` for the mentions."""
        phones = [phone.reveal() for phone in message.mentioned_phones]
        user_ids = list(message.mentioned_user_ids)
        tokens = [f"@{mention}" for mention in (*phones, *user_ids)]
        at: dict[str, Any] = {"atMobiles": phones}
        if user_ids:
            at["atUserIds"] = user_ids
        at["isAtAll"] = message.mention_all
        if self._msgtype == "text":
            return {
                "msgtype": "text",
                "text": {"content": plain_content(message, tokens)},
                "at": at,
            }
        return {
            "msgtype": "markdown",
            "markdown": {
                "title": f"{badge(message)}{message.title}",
                "text": markdown_content(message, tokens),
            },
            "at": at,
        }

    def __repr__(self) -> str:
        secret = "'***'" if self._secret is not None else "None"
        return (
            f"DingTalkNotifier(endpoint={self.endpoint!r}, access_token='***', "
            f"secret={secret}, msgtype={self._msgtype!r})"
        )
