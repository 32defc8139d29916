"""The logging notifier: one log line per notification, personal data masked."""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl, urlsplit

from ordercore.errors import ConfigurationError
from ordercore.notify._protocol import Notification
from ordercore.pii import redact

#: The logger the log notifier writes to unless told otherwise.
DEFAULT_LOGGER: Final = "ordercore.notify"

_LEVELS: Final = {"info": logging.INFO, "warning": logging.WARNING, "critical": logging.CRITICAL}
#: Free text is cut to this many characters in a log line.
_TEXT_LIMIT: Final = 500


def _one_line(text: str) -> str:
    return " ".join(text.split())


class LogNotifier:
    """Writes each notification as one line to a logger (``ordercore.notify`` by default).

    The line holds the level, title, text (on one line), orders, mentions and
    data; phone numbers are masked (``138****8000``), as are mobile numbers and
    e-mail addresses inside the text and data, and long text is cut. The
    notification's level picks the record's level (``info`` -> INFO,
    ``warning`` -> WARNING, ``critical`` -> CRITICAL). Opened by ``log://``, the
    default notifier URL; ``log://?logger=myapp.alerts`` writes elsewhere.

    Args:
        logger: The logger, or its name.

    Example:
        >>> LogNotifier()
        LogNotifier(logger='ordercore.notify')
    """

    name: ClassVar[str] = "log"

    def __init__(self, logger: str | logging.Logger = DEFAULT_LOGGER) -> None:
        if isinstance(logger, str) and logger:
            logger = logging.getLogger(logger)
        if not isinstance(logger, logging.Logger):
            raise ConfigurationError("the log notifier's logger must be a Logger or its name")
        self._logger = logger

    @classmethod
    def from_url(cls, url: str, **options: Any) -> LogNotifier:
        """Open a log notifier from ``log://`` or ``log://?logger=NAME``.

        Raises:
            ConfigurationError: the URL has a host, a path or another parameter.
        """
        parts = urlsplit(url) if isinstance(url, str) else None
        if (
            parts is None
            or "+" in parts.scheme
            or parts.netloc
            or parts.path not in {"", "/"}
            or parts.fragment
        ):
            raise ConfigurationError("a log notifier URL is log:// or log://?logger=NAME")
        settings: dict[str, Any] = {}
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key != "logger" or key in settings:
                raise ConfigurationError(
                    "a log notifier URL takes one parameter, logger (log://?logger=NAME)"
                )
            settings[key] = value
        return cls(**{**settings, **options})

    @property
    def logger(self) -> logging.Logger:
        """The logger written to."""
        return self._logger

    def notify(self, message: Notification) -> None:
        """Log ``message`` as one line.

        Raises:
            ConfigurationError: ``message`` is not a :class:`Notification`.
        """
        if not isinstance(message, Notification):
            raise ConfigurationError(
                f"log.notify() takes a Notification, got {type(message).__name__}"
            )
        parts = [f"[{message.level}] {_one_line(redact(message.title, limit=200))}"]
        if message.text:
            parts.append(_one_line(redact(message.text, limit=_TEXT_LIMIT)))
        if message.order_ids:
            parts.append(f"orders={','.join(message.order_ids)}")
        if message.mentions or message.mention_all:
            shown = [str(mention) for mention in message.mentions]
            if message.mention_all:
                shown.append("@all")
            parts.append(f"mentions={','.join(shown)}")
        if message.data:
            data = json.dumps(dict(message.data), ensure_ascii=False, sort_keys=True)
            parts.append(f"data={redact(data, limit=_TEXT_LIMIT)}")
        self._logger.log(
            _LEVELS[message.level],
            "notification %s",
            " | ".join(parts),
            extra={"ordercore_order_ids": message.order_ids},
        )

    def __repr__(self) -> str:
        return f"LogNotifier(logger={self._logger.name!r})"
