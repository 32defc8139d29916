"""Channel time, normalised: an aware UTC instant plus the value the channel sent.

Channels send time as epoch seconds (Douyin, WeChat Channels), epoch
milliseconds (Xiaohongshu), ``YYYY-MM-DD HH:MM:SS`` in Beijing time (Taobao, JD,
Pinduoduo, Youzan) or ISO 8601 with an offset (Shopify). :func:`parse_channel_time`
reads all of them into a :class:`ChannelTime`, so orders from different channels
sort correctly, across midnight and across zones. A naive string is read in the
channel's zone, ``Asia/Shanghai`` unless the caller says otherwise.

The empty and sentinel values channels use for "not set" (``""``, ``"null"``,
``0``, ``"0001-01-01 00:00:00"``, ``"0000-00-00 00:00:00"``) become ``None``.

Example:
    >>> t = parse_channel_time("2024-01-01 08:30:00")
    >>> t.utc.isoformat(), t.original
    ('2024-01-01T00:30:00+00:00', '2024-01-01 08:30:00')
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, ValidationError, field_validator

from ordercore.errors import ConfigurationError, FrozenModelError, SchemaError, TimeParseError
from ordercore.pii import safe_repr

__all__ = [
    "ChannelTime",
    "DEFAULT_ZONE",
    "EpochUnit",
    "parse_channel_time",
    "utc_now",
]

DEFAULT_ZONE: Final = "Asia/Shanghai"

EpochUnit = Literal["s", "ms", "auto"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: Integers at or above this are milliseconds when the unit is "auto". 1e10 s is the year
#: 2286 and 1e10 ms is April 1970, both outside 1971..2200, so no valid time is misread.
_MS_THRESHOLD: Final = 10_000_000_000
#: Epoch numbers at or above this are past 2200 in seconds and in milliseconds alike.
_EPOCH_LIMIT: Final = 10**14
_SENTINEL_STRINGS: Final = frozenset({"", "null", "none", "nil", "undefined", "0", "-"})
_SENTINEL_PREFIXES: Final = ("0000-00-00", "0001-01-01")
_MIN_YEAR: Final = 1971
_MAX_YEAR: Final = 2200
#: An epoch number sent as a string; longer ones are junk, not times.
_EPOCH_DIGITS: Final = re.compile(r"-?[0-9]{1,20}")


_UNITS: Final = ("s", "ms", "auto")


def _zone(name: str) -> ZoneInfo:
    if not isinstance(name, str):
        raise ConfigurationError(f"a time zone is a str (an IANA name), got {type(name).__name__}")
    return _zone_named(name)


@functools.lru_cache(maxsize=64)
def _zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigurationError(f"unknown time zone {safe_repr(name)}") from None


def utc_now() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class ChannelTime(BaseModel):
    """A point in time from a channel: the UTC instant and the original value.

    Instances order by their UTC instant, so a list of them from different
    channels sorts correctly. Every way of making one applies the same rules:
    the instant is aware and lies in 1971..2200. Read channel values with
    :func:`parse_channel_time`; validating a dict (a stored ChannelTime) or
    calling the constructor with bad values raises
    :class:`~ordercore.errors.SchemaError`, and assigning to a field raises
    :class:`~ordercore.errors.FrozenModelError`.

    Attributes:
        utc: The instant, an aware datetime in UTC.
        original: Exactly what the channel sent (string or number), or ``None``
            when the time was made here.
        zone: The IANA zone a naive original was read in; ``None`` when the
            original carried its own offset or was an epoch value.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    utc: AwareDatetime
    original: str | int | None = None
    zone: str | None = None

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise SchemaError.from_validation_error(exc, model="ChannelTime") from None

    # This __init__ only translates errors: nested ChannelTimes stay in pydantic-core.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        """Validate a Python object; raises SchemaError instead of pydantic's error."""
        try:
            return super().model_validate(obj, **options)
        except ValidationError as exc:
            raise SchemaError.from_validation_error(exc, model="ChannelTime") from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        """Validate JSON text; raises SchemaError instead of pydantic's error."""
        try:
            return super().model_validate_json(json_data, **options)
        except ValidationError as exc:
            raise SchemaError.from_validation_error(exc, model="ChannelTime") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenModelError(
            "ChannelTime is immutable; parse or build a new one", model="ChannelTime", field=name
        )

    def __delattr__(self, name: str) -> None:
        raise FrozenModelError("ChannelTime is immutable", model="ChannelTime", field=name)

    @field_validator("utc")
    @classmethod
    def _to_utc(cls, value: datetime) -> datetime:
        # The same 1971..2200 rule as parse_channel_time; isoformat() only on failure.
        if value.tzinfo is not UTC:
            try:
                value = value.astimezone(UTC)
            except OverflowError:
                raise _out_of_range(value.isoformat()) from None
        if not _MIN_YEAR <= value.year <= _MAX_YEAR:
            raise _out_of_range(value.isoformat())
        return value

    @classmethod
    def from_datetime(cls, value: datetime, *, zone: str = DEFAULT_ZONE) -> ChannelTime:
        """Wrap a Python datetime; a naive one is read in ``zone``."""
        parsed = parse_channel_time(value, zone=zone)
        if parsed is None:  # pragma: no cover - datetimes are never sentinels
            raise TimeParseError("datetime is not a point in time", value=value)
        return parsed

    def local(self, zone: str = DEFAULT_ZONE) -> datetime:
        """Return the instant in ``zone`` (Beijing time unless given)."""
        return self.utc.astimezone(_zone(zone))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ChannelTime):
            return NotImplemented
        return self.utc < other.utc

    def __le__(self, other: object) -> bool:
        if not isinstance(other, ChannelTime):
            return NotImplemented
        return self.utc <= other.utc

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, ChannelTime):
            return NotImplemented
        return self.utc > other.utc

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, ChannelTime):
            return NotImplemented
        return self.utc >= other.utc

    def __str__(self) -> str:
        return self.utc.isoformat()


def _out_of_range(original: object) -> TimeParseError:
    return TimeParseError(
        f"time {safe_repr(original)} is outside {_MIN_YEAR}..{_MAX_YEAR}; wrong unit?",
        value=original,
    )


def _to_utc(instant: datetime, original: object) -> datetime:
    """Convert an aware datetime to UTC; datetimes near year 1 or 9999 cannot be."""
    try:
        return instant.astimezone(UTC)
    except OverflowError:
        raise _out_of_range(original) from None


def _checked(instant: datetime, original: object) -> datetime:
    if not _MIN_YEAR <= instant.year <= _MAX_YEAR:
        raise _out_of_range(original)
    return instant


def _from_epoch(number: int | Decimal | float, unit: EpochUnit, original: object) -> datetime:
    magnitude = -number if number < 0 else number
    if not magnitude < _EPOCH_LIMIT:
        raise _out_of_range(original)
    if unit == "auto":
        unit = "ms" if magnitude >= _MS_THRESHOLD else "s"
    try:
        if isinstance(number, int):
            if unit == "ms":
                seconds, millis = divmod(number, 1000)
                instant = _EPOCH + timedelta(seconds=seconds, milliseconds=millis)
            else:
                instant = _EPOCH + timedelta(seconds=number)
        else:
            scale = Decimal(1000) if unit == "ms" else Decimal(1)
            micros = int(Decimal(str(number)) * Decimal(1_000_000) / scale)
            instant = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise TimeParseError(
            f"epoch value {safe_repr(original)} is out of range", value=original
        ) from None
    return _checked(instant, original)


def parse_channel_time(
    value: object,
    *,
    zone: str = DEFAULT_ZONE,
    unit: EpochUnit = "auto",
) -> ChannelTime | None:
    """Read a channel's timestamp into a :class:`ChannelTime`.

    Args:
        value: Epoch seconds or milliseconds (int, digit string, Decimal),
            ``YYYY-MM-DD HH:MM:SS`` (``/`` separators and fractions allowed),
            ISO 8601 with or without an offset, or a :class:`~datetime.datetime`.
        zone: The zone naive values are in; the channel's own (Beijing by default).
        unit: ``"s"`` or ``"ms"`` for epoch numbers, or ``"auto"`` to tell them
            apart by size.

    Returns:
        The parsed time, or ``None`` for the empty and sentinel values channels
        send for "not set" (``""``, ``"null"``, ``0``, ``"0001-01-01 00:00:00"``).

    Raises:
        TimeParseError: ``value`` is not a time, or lies outside 1971..2200
            (typically seconds read as milliseconds or the reverse).
        ConfigurationError: ``zone`` is not a known IANA zone, or ``unit`` is not
            one of ``"s"``, ``"ms"``, ``"auto"``.
    """
    _zone(zone)  # a bad zone is a configuration error whatever the value
    if unit not in _UNITS:
        raise ConfigurationError(f"unit must be 's', 'ms' or 'auto', got {safe_repr(unit)}")
    if value is None:
        return None
    original: str | int
    if isinstance(value, bool):
        raise TimeParseError(f"a bool is not a time: {safe_repr(value)}", value=value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            instant = value.replace(tzinfo=_zone(zone))
            return ChannelTime.model_construct(
                utc=_checked(_to_utc(instant, value), value),
                original=value.isoformat(),
                zone=zone,
            )
        return ChannelTime.model_construct(
            utc=_checked(_to_utc(value, value), value), original=value.isoformat(), zone=None
        )
    if isinstance(value, int):
        if value == 0:
            return None
        return ChannelTime.model_construct(
            utc=_from_epoch(value, unit, value), original=value, zone=None
        )
    if isinstance(value, Decimal | float):
        if not Decimal(str(value)).is_finite():
            raise TimeParseError(f"not a time: {safe_repr(value)}", value=value)
        if value == 0:
            return None
        return ChannelTime.model_construct(
            utc=_from_epoch(value, unit, value), original=str(value), zone=None
        )
    if not isinstance(value, str):
        raise TimeParseError(
            f"expected a string, number or datetime for a time, got {type(value).__name__}",
            value=value,
        )
    text = value.strip()
    if text.lower() in _SENTINEL_STRINGS or text.startswith(_SENTINEL_PREFIXES):
        return None
    original = value
    if _EPOCH_DIGITS.fullmatch(text):
        return ChannelTime.model_construct(
            utc=_from_epoch(int(text), unit, value), original=original, zone=None
        )
    candidate = text.replace("/", "-") if "/" in text[:10] else text
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        raise TimeParseError(
            f"not a recognised time format: {safe_repr(value)}", value=value
        ) from None
    if parsed.tzinfo is None:
        instant = _to_utc(parsed.replace(tzinfo=_zone(zone)), value)
        return ChannelTime.model_construct(
            utc=_checked(instant, value), original=original, zone=zone
        )
    return ChannelTime.model_construct(
        utc=_checked(_to_utc(parsed, value), value), original=original, zone=None
    )
