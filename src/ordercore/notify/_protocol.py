"""The notifier protocol and the message every notifier sends."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal, Protocol, TypeAlias, runtime_checkable

from ordercore.errors import ConfigurationError
from ordercore.pii import PhoneNumber, redact, safe_repr

Level: TypeAlias = Literal["info", "warning", "critical"]

#: The levels a :class:`Notification` may carry, from least to most urgent.
LEVELS: Final[tuple[Level, ...]] = ("info", "warning", "critical")

#: A mention made only of digits, spaces, ``-`` and an optional leading ``+`` is a
#: phone number; anything else is a platform user id.
_PHONE_MENTION: Final = re.compile(r"\+?[0-9][0-9 \-]{5,22}[0-9]")


def _order_ids(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Iterable):
        raise ConfigurationError(
            f"Notification.order_ids must be an order id or a sequence of them, "
            f"got {type(value).__name__}"
        )
    ids = tuple(value)
    for position, order_id in enumerate(ids):
        if not isinstance(order_id, str) or not order_id:
            raise ConfigurationError(
                f"Notification.order_ids[{position}] must be a non-empty string, "
                f"got {safe_repr(order_id)}"
            )
    return ids


def _mentions(value: object) -> tuple[PhoneNumber | str, ...]:
    if isinstance(value, str | PhoneNumber):
        value = (value,)
    if not isinstance(value, Iterable):
        raise ConfigurationError(
            f"Notification.mentions must be a sequence of phone numbers or user ids, "
            f"got {type(value).__name__}"
        )
    mentions: list[PhoneNumber | str] = []
    for position, mention in enumerate(value):
        if isinstance(mention, PhoneNumber):
            mentions.append(mention)
        elif isinstance(mention, str) and mention.strip():
            mention = mention.strip()
            is_phone = _PHONE_MENTION.fullmatch(mention) is not None
            mentions.append(PhoneNumber(mention) if is_phone else mention)
        else:
            # Never echo the value: a mention is a phone number or a person's id.
            raise ConfigurationError(
                f"Notification.mentions[{position}] must be a non-empty string or a "
                f"PhoneNumber, got {type(mention).__name__}"
            )
    return tuple(mentions)


def _json_data(value: object) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"Notification.data must be a mapping of JSON values, got {type(value).__name__}"
        )
    if any(not isinstance(key, str) for key in value):
        raise ConfigurationError("Notification.data keys must be strings")
    try:
        text = json.dumps(value, allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"Notification.data must hold only JSON values (str, int, float, bool, None, "
            f"lists and mappings with string keys): {redact(str(exc))}"
        ) from None
    copied: dict[str, Any] = json.loads(text)
    return MappingProxyType(copied)


@dataclass(frozen=True, slots=True, repr=False, init=False)
class Notification:
    """One message for people: an alert about orders, sent by a :class:`Notifier`.

    Values are checked and normalised when the notification is made: a single
    order id becomes a one-element tuple, ``data`` is copied into a read-only
    mapping of JSON values, and each mention made only of digits (with spaces,
    ``-`` or a leading ``+``) becomes a :class:`~ordercore.pii.PhoneNumber`, so it
    prints masked (``138****8000``); other mentions are platform user ids.

    Attributes:
        title: A short subject line (required).
        text: The body, in Markdown (DingTalk and WeCom render it; the log
            notifier writes it on one line).
        level: ``"info"``, ``"warning"`` or ``"critical"``.
        order_ids: The orders the message is about.
        data: JSON values for machines (the log notifier writes them; the robot
            notifiers leave them out of the chat message).
        mentions: People to @: phone numbers (as strings or ``PhoneNumber``) or
            platform user ids.
        mention_all: Whether to @ everyone in the group.

    Raises:
        ConfigurationError: a field has the wrong type or value (an empty title,
            an unknown level, data that is not JSON). The message names the field
            and never repeats a mention.

    Example:
        >>> note = Notification(
        ...     "Order stuck in picking",
        ...     text="No scan for **6 h**.",
        ...     level="warning",
        ...     order_ids="O-1001",
        ...     mentions=["13800138000"],
        ... )
        >>> note.order_ids, note.mentions
        (('O-1001',), (PhoneNumber('138****8000'),))
    """

    title: str
    text: str
    level: Level
    order_ids: tuple[str, ...]
    data: Mapping[str, Any] = field(hash=False)
    mentions: tuple[PhoneNumber | str, ...]
    mention_all: bool

    def __init__(
        self,
        title: str,
        text: str = "",
        level: Level = "info",
        order_ids: str | Iterable[str] = (),
        data: Mapping[str, Any] | None = None,
        mentions: str | PhoneNumber | Iterable[str | PhoneNumber] = (),
        mention_all: bool = False,
    ) -> None:
        if not isinstance(title, str) or not title.strip():
            raise ConfigurationError("Notification.title must be a non-empty string")
        if not isinstance(text, str):
            raise ConfigurationError(
                f"Notification.text must be a string, got {type(text).__name__}"
            )
        if level not in LEVELS:
            raise ConfigurationError(
                f"Notification.level must be one of {', '.join(LEVELS)}, got {safe_repr(level)}"
            )
        if not isinstance(mention_all, bool):
            raise ConfigurationError(
                f"Notification.mention_all must be a bool, got {type(mention_all).__name__}"
            )
        object.__setattr__(self, "title", title)
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "order_ids", _order_ids(order_ids))
        object.__setattr__(self, "data", _json_data({} if data is None else data))
        object.__setattr__(self, "mentions", _mentions(mentions))
        object.__setattr__(self, "mention_all", mention_all)

    @property
    def mentioned_phones(self) -> tuple[PhoneNumber, ...]:
        """The mentions that are phone numbers (``reveal()`` gives the number to send)."""
        return tuple(m for m in self.mentions if isinstance(m, PhoneNumber))

    @property
    def mentioned_user_ids(self) -> tuple[str, ...]:
        """The mentions that are platform user ids."""
        return tuple(m for m in self.mentions if isinstance(m, str))

    def __repr__(self) -> str:
        # Title, text and data are free text: phones and e-mail addresses in them are masked.
        parts = [f"title={safe_repr(self.title)}", f"level={self.level!r}"]
        if self.text:
            parts.append(f"text={safe_repr(self.text)}")
        if self.order_ids:
            parts.append(f"order_ids={safe_repr(self.order_ids)}")
        if self.data:
            parts.append(f"data={safe_repr(dict(self.data))}")
        if self.mentions:
            parts.append(f"mentions={self.mentions!r}")
        if self.mention_all:
            parts.append("mention_all=True")
        return f"Notification({', '.join(parts)})"


@runtime_checkable
class Notifier(Protocol):
    """What every notifier provides: ``notify(message)``, delivering or raising.

    Notifiers come from the ``ordercore.notifiers`` plugin group and are opened
    by URL with :func:`~ordercore.notify.open_notifier`; a plugin's class also
    provides ``from_url(url, **options)``. A notifier that holds connections
    should also offer ``close()`` and work as a context manager.

    Example:
        >>> class Printer:
        ...     def notify(self, message: Notification) -> None:
        ...         print(message.title)
        >>> isinstance(Printer(), Notifier)
        True
    """

    def notify(self, message: Notification) -> None:
        """Deliver ``message``.

        Raises:
            NotifyError: the message could not be delivered; ``status`` holds the
                platform's error code or the HTTP status when there was one.
        """
        ...
