"""The WeCom (企业微信) group-robot notifier."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final, Literal
from urllib.parse import urlencode

import httpx

from ordercore.errors import ConfigurationError
from ordercore.notify._http import (
    RetryPolicy,
    WebhookNotifier,
    cut_utf8,
    markdown_content,
    plain_content,
    split_robot_url,
)
from ordercore.notify._protocol import Notification

#: The address of WeCom's group-robot webhook.
WECOM_ENDPOINT: Final = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"

#: WeCom's limits on a message's content, in UTF-8 bytes.
_MARKDOWN_BYTES: Final = 4096
_TEXT_BYTES: Final = 2048
_URL_PARAMETERS: Final = ("key", "msgtype")


class WeComNotifier(WebhookNotifier):
    """Posts notifications to a WeCom group robot.

    Messages are sent as ``markdown`` (user-id mentions written as
    ``<@userid>``) or ``text``. WeCom's markdown cannot @ anyone by phone
    number, nor everyone, so a message that mentions a phone number or sets
    ``mention_all`` is sent as ``text`` with ``mentioned_mobile_list`` and
    ``mentioned_list``. Content is cut to WeCom's limits (4096 bytes of
    markdown, 2048 of text). Error code 45009 (too many messages: a robot may
    send 20 a minute) and -1 (busy) are retried within the
    :class:`RetryPolicy`; other codes, e.g. 93000 (the key is not valid), raise
    at once.

    Args:
        key: The ``key`` of the robot's webhook.
        msgtype: ``"markdown"`` (default) or ``"text"``.
        endpoint: The webhook's address without query, for a proxy or a test server.
        retry: The retry policy (3 attempts within 10 s by default).
        transport: An httpx transport to send through (proxies, tests).

    Raises:
        ConfigurationError: the key is missing or an option is not valid.

    Example:
        >>> notifier = WeComNotifier("KEY")
        >>> notifier
        WeComNotifier(endpoint='https://qyapi.weixin.qq.com/cgi-bin/webhook/send', key='***', msgtype='markdown')
        >>> notifier.close()
    """  # noqa: E501

    name: ClassVar[str] = "wecom"
    retry_errcodes: ClassVar[frozenset[int]] = frozenset({-1, 45009})
    hints: ClassVar[Mapping[int, str]] = {
        -1: "the platform is busy",
        45009: "the robot sends too many messages (at most 20 a minute); retry later",
        93000: "the webhook key is not valid; copy the robot's webhook address again",
    }

    def __init__(
        self,
        key: str,
        *,
        msgtype: Literal["markdown", "text"] = "markdown",
        endpoint: str = WECOM_ENDPOINT,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ConfigurationError("the wecom notifier needs the robot's webhook key")
        if msgtype not in ("markdown", "text"):
            raise ConfigurationError("the wecom msgtype must be 'markdown' or 'text'")
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise ConfigurationError("the wecom endpoint must be an http:// or https:// URL")
        super().__init__(
            endpoint,
            secrets=(key,),
            retry=retry,
            transport=transport,
            sleep=sleep,
            monotonic=monotonic,
        )
        self._key = key
        self._msgtype = msgtype

    @classmethod
    def from_url(cls, url: str, **options: Any) -> WeComNotifier:
        """Open a notifier from ``wecom://?key=KEY``.

        ``wecom+https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`` (the
        webhook address as WeCom shows it, ``+`` after ``wecom``) sends to that
        address instead. ``msgtype=text`` sends plain text. Options are passed
        to the constructor and win over the URL's parameters.

        Raises:
            ConfigurationError: the URL is malformed, has an unknown parameter or
                no ``key``; the message never repeats the URL.
        """
        endpoint, query = split_robot_url(
            url, scheme="wecom", default_endpoint=WECOM_ENDPOINT, known=_URL_PARAMETERS
        )
        settings: dict[str, Any] = {"endpoint": endpoint, **query, **options}
        key = settings.pop("key", None)
        if not key:
            raise ConfigurationError("a wecom URL needs the robot's key: wecom://?key=KEY")
        return cls(key, **settings)

    def request_url(self) -> str:
        """The webhook URL with the key."""
        return f"{self.endpoint}?{urlencode({'key': self._key})}"

    def body(self, message: Notification) -> dict[str, Any]:
        """The robot message: ``markdown``, or ``text`` when it must @ by phone or @ all."""
        phones = [phone.reveal() for phone in message.mentioned_phones]
        user_ids = list(message.mentioned_user_ids)
        if self._msgtype == "markdown" and not phones and not message.mention_all:
            tokens = [f"<@{user_id}>" for user_id in user_ids]
            content = cut_utf8(markdown_content(message, tokens), _MARKDOWN_BYTES)
            return {"msgtype": "markdown", "markdown": {"content": content}}
        text: dict[str, Any] = {"content": cut_utf8(plain_content(message), _TEXT_BYTES)}
        everyone = ["@all"] if message.mention_all else []
        if user_ids or everyone:
            text["mentioned_list"] = [*user_ids, *everyone]
        if phones:
            text["mentioned_mobile_list"] = phones
        return {"msgtype": "text", "text": text}

    def __repr__(self) -> str:
        return f"WeComNotifier(endpoint={self.endpoint!r}, key='***', msgtype={self._msgtype!r})"
