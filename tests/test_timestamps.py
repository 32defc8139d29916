"""Channel time: every channel's format read into one aware UTC instant, original kept."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pydantic
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ordercore.errors import ConfigurationError, FrozenModelError, SchemaError, TimeParseError
from ordercore.timestamps import DEFAULT_ZONE, ChannelTime, parse_channel_time, utc_now

SHANGHAI = ZoneInfo("Asia/Shanghai")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NEW_YEAR_UTC = datetime(2024, 1, 1, tzinfo=UTC)  # 1704067200
OTHER_ZONES = [
    "UTC",
    "America/New_York",
    "America/St_Johns",
    "Europe/London",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
]


def parse(value: object, **kwargs: Any) -> ChannelTime:
    """Parse a value that is known not to be a sentinel."""
    parsed = parse_channel_time(value, **kwargs)
    assert parsed is not None
    return parsed


def epoch_ms(instant: datetime) -> int:
    return (instant - EPOCH) // timedelta(milliseconds=1)


class TestEpochNumbers:
    def test_seconds_int(self) -> None:
        """An int of epoch seconds is that instant; the original int is kept."""
        parsed = parse(1704067200)
        assert parsed.utc == NEW_YEAR_UTC
        assert parsed.original == 1704067200
        assert type(parsed.original) is int
        assert parsed.zone is None

    def test_seconds_digit_string(self) -> None:
        """A digit string is read as epoch seconds; the original string is kept."""
        parsed = parse("1704067200")
        assert parsed.utc == NEW_YEAR_UTC
        assert parsed.original == "1704067200"
        assert type(parsed.original) is str

    def test_milliseconds_are_detected(self) -> None:
        """A value too large for seconds is read as milliseconds."""
        parsed = parse(1704067200123)
        assert parsed.utc == NEW_YEAR_UTC + timedelta(milliseconds=123)
        assert parse("1704067200123").utc == parsed.utc

    def test_explicit_units(self) -> None:
        """unit= forces seconds or milliseconds."""
        assert parse(1704067200123, unit="ms").utc == NEW_YEAR_UTC + timedelta(milliseconds=123)
        assert parse(1704067200, unit="s").utc == NEW_YEAR_UTC
        assert parse("1704067200000", unit="ms").utc == NEW_YEAR_UTC

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (31_536_000, datetime(1971, 1, 1, tzinfo=UTC)),  # earliest seconds
            (31_536_000_000, datetime(1971, 1, 1, tzinfo=UTC)),  # earliest milliseconds
            (100_000_000_000, datetime(1973, 3, 3, 9, 46, 40, tzinfo=UTC)),
            (7_289_654_399, datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC)),  # latest seconds
            (7_289_654_399_999, datetime(2200, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
        ],
    )
    def test_auto_detection_covers_the_whole_range(self, value: int, expected: datetime) -> None:
        """Seconds and milliseconds are told apart correctly from 1971 to 2200."""
        assert parse(value).utc == expected

    def test_fractional_epoch_numbers(self) -> None:
        """Decimal and float epoch seconds keep their fraction."""
        assert parse(Decimal("1704067200.25")).utc == NEW_YEAR_UTC + timedelta(milliseconds=250)
        parsed = parse(1704067200.5)
        assert parsed.utc == NEW_YEAR_UTC + timedelta(milliseconds=500)
        assert parsed.original == "1704067200.5"
        assert parse(Decimal("1704067200123.5"), unit="ms").utc == NEW_YEAR_UTC + timedelta(
            microseconds=123500
        )

    def test_zone_does_not_shift_epoch_values(self) -> None:
        """Epoch numbers are absolute; the channel's zone does not apply."""
        assert parse(1704067200, zone="America/New_York").utc == NEW_YEAR_UTC


class TestLocalStrings:
    def test_naive_string_is_beijing_time_by_default(self) -> None:
        """YYYY-MM-DD HH:MM:SS is read in Asia/Shanghai unless told otherwise."""
        parsed = parse("2024-01-01 08:30:00")
        assert parsed.utc == datetime(2024, 1, 1, 0, 30, tzinfo=UTC)
        assert parsed.original == "2024-01-01 08:30:00"
        assert parsed.zone == DEFAULT_ZONE == "Asia/Shanghai"

    def test_beijing_morning_is_previous_day_in_utc(self) -> None:
        """Just before 08:00 Beijing time it is still yesterday in UTC."""
        assert parse("2024-01-01 07:59:59").utc == datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("text", "zone", "expected"),
        [
            ("2024-01-01 12:00:00", "America/New_York", datetime(2024, 1, 1, 17, tzinfo=UTC)),
            ("2024-07-01 12:00:00", "America/New_York", datetime(2024, 7, 1, 16, tzinfo=UTC)),
            ("2024-01-01 12:00:00", "UTC", datetime(2024, 1, 1, 12, tzinfo=UTC)),
            ("2024-01-01 12:00:00", "Asia/Kolkata", datetime(2024, 1, 1, 6, 30, tzinfo=UTC)),
        ],
    )
    def test_naive_string_in_another_zone(self, text: str, zone: str, expected: datetime) -> None:
        """A connector can name the zone its naive strings are in (DST included)."""
        parsed = parse(text, zone=zone)
        assert parsed.utc == expected
        assert parsed.zone == zone

    def test_slash_separators(self) -> None:
        """2024/01/01 08:30:00 reads like 2024-01-01 08:30:00."""
        parsed = parse("2024/01/01 08:30:00")
        assert parsed.utc == datetime(2024, 1, 1, 0, 30, tzinfo=UTC)
        assert parsed.original == "2024/01/01 08:30:00"

    @pytest.mark.parametrize(
        ("text", "micros"),
        [
            ("2024-01-01 08:00:00.5", 500000),
            ("2024-01-01 08:00:00.123", 123000),
            ("2024-01-01 08:00:00.123456", 123456),
        ],
    )
    def test_fractional_seconds(self, text: str, micros: int) -> None:
        """Fractions of a second are kept to the microsecond."""
        assert parse(text).utc == NEW_YEAR_UTC + timedelta(microseconds=micros)

    def test_date_only_is_local_midnight(self) -> None:
        """A bare date is midnight in the channel's zone."""
        assert parse("2024-01-01").utc == datetime(2023, 12, 31, 16, tzinfo=UTC)

    def test_ambiguous_local_time_reads_as_first_occurrence(self) -> None:
        """In the repeated hour after DST ends, a naive time is the earlier instant."""
        parsed = parse("2024-11-03 01:30:00", zone="America/New_York")
        assert parsed.utc == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)


class TestStringsWithOffsets:
    def test_jd_format(self) -> None:
        """JD's 2024-01-01 12:00:00.000+0800 is read with its own offset."""
        parsed = parse("2024-01-01 12:00:00.000+0800")
        assert parsed.utc == datetime(2024, 1, 1, 4, tzinfo=UTC)
        assert parsed.original == "2024-01-01 12:00:00.000+0800"
        assert parsed.zone is None

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-01-01T12:00:00+08:00", datetime(2024, 1, 1, 4, tzinfo=UTC)),
            ("2024-01-01T12:00:00-05:00", datetime(2024, 1, 1, 17, tzinfo=UTC)),
            ("2024-01-01T12:00:00+05:45", datetime(2024, 1, 1, 6, 15, tzinfo=UTC)),
            ("2024-01-01T12:00:00Z", datetime(2024, 1, 1, 12, tzinfo=UTC)),
            ("2024-01-01T12:00:00.250Z", datetime(2024, 1, 1, 12, 0, 0, 250000, tzinfo=UTC)),
            ("2024-01-01T00:30:00+00:00", datetime(2024, 1, 1, 0, 30, tzinfo=UTC)),
        ],
    )
    def test_iso_8601_with_offset(self, text: str, expected: datetime) -> None:
        """ISO 8601 strings (Shopify) carry their own offset; the zone argument is ignored."""
        assert parse(text).utc == expected
        assert parse(text, zone="America/New_York").utc == expected
        assert parse(text).zone is None


class TestDatetimes:
    def test_naive_datetime_is_read_in_zone(self) -> None:
        """A naive datetime is Beijing time unless a zone is given."""
        parsed = parse(datetime(2024, 1, 1, 8, 30))
        assert parsed.utc == datetime(2024, 1, 1, 0, 30, tzinfo=UTC)
        assert parsed.original == "2024-01-01T08:30:00"
        assert parsed.zone == "Asia/Shanghai"
        assert parse(datetime(2024, 1, 1, 8, 30), zone="UTC").utc == datetime(
            2024, 1, 1, 8, 30, tzinfo=UTC
        )

    def test_aware_datetime_keeps_its_instant(self) -> None:
        """An aware datetime is converted to UTC, whatever its zone."""
        tokyo = datetime(2024, 1, 1, 8, 30, tzinfo=ZoneInfo("Asia/Tokyo"))
        parsed = parse(tokyo)
        assert parsed.utc == datetime(2023, 12, 31, 23, 30, tzinfo=UTC)
        assert parsed.utc.tzinfo is UTC
        assert parsed.original == "2024-01-01T08:30:00+09:00"
        assert parsed.zone is None

    def test_from_datetime(self) -> None:
        """ChannelTime.from_datetime wraps a Python datetime."""
        assert ChannelTime.from_datetime(datetime(2024, 1, 1, 8)).utc == NEW_YEAR_UTC
        assert ChannelTime.from_datetime(NEW_YEAR_UTC).utc == NEW_YEAR_UTC

    def test_utc_now_is_aware_utc(self) -> None:
        """utc_now() is an aware datetime in UTC."""
        assert utc_now().tzinfo is UTC


class TestSentinels:
    @pytest.mark.parametrize(
        "value",
        [
            None,
            0,
            Decimal(0),
            0.0,
            "",
            "   ",
            "0",
            "-",
            "null",
            "NULL",
            "None",
            "nil",
            "undefined",
            "0001-01-01 00:00:00",
            "0000-00-00 00:00:00",
            "0000-00-00",
            "0001-01-01T00:00:00Z",
        ],
    )
    def test_not_set_values_become_none(self, value: object) -> None:
        """The empty and sentinel values channels send for "not set" parse to None."""
        assert parse_channel_time(value) is None


class TestOriginal:
    @pytest.mark.parametrize(
        "value",
        [
            " 2024-01-01 08:30:00 ",
            "2024/01/01 08:30:00",
            "2024-01-01T00:30:00Z",
            "1704067200",
            1704067200,
            1704067200123,
        ],
    )
    def test_original_is_kept_exactly(self, value: object) -> None:
        """The value the channel sent is kept as sent, same type, same text."""
        parsed = parse(value)
        assert parsed.original == value
        assert type(parsed.original) is type(value)


class TestErrors:
    @pytest.mark.parametrize(
        ("value", "unit"),
        [
            (1704067200, "ms"),  # seconds given as milliseconds: January 1970
            (1704067200000, "s"),  # milliseconds given as seconds: year 55970
            ("1704067200000", "s"),
            (9_999_999_999, "auto"),  # year 2286
            (-1, "auto"),
            ("-1704067200", "auto"),
            (10**30, "auto"),
            (Decimal("1e999999"), "auto"),
            (Decimal("-1e999999"), "auto"),
            (1e300, "auto"),
            ("1960-06-01 00:00:00", "auto"),
            ("2300-01-01 00:00:00", "auto"),
            ("9999-12-31T23:59:59-23:00", "auto"),
            ("0002-01-01T00:00:00+14:00", "auto"),
            (datetime(1960, 1, 1), "auto"),
            (datetime(9999, 12, 31, 23, tzinfo=ZoneInfo("America/New_York")), "auto"),
        ],
    )
    def test_out_of_range_is_a_time_parse_error(self, value: object, unit: str) -> None:
        """Times outside 1971..2200 (typically a wrong unit) raise TimeParseError."""
        with pytest.raises(TimeParseError, match=r"outside 1971\.\.2200|out of range") as info:
            parse_channel_time(value, unit=unit)  # type: ignore[arg-type]
        assert info.value.value is value
        assert isinstance(info.value, ValueError)

    def test_naive_datetime_near_the_end_of_time(self) -> None:
        """A naive datetime that cannot be converted to UTC is a parse error, not a crash."""
        with pytest.raises(TimeParseError):
            parse_channel_time(datetime(9999, 12, 31, 23), zone="America/New_York")

    @pytest.mark.parametrize(
        "value",
        [
            "yesterday",
            "2024-13-01 00:00:00",
            "2024-02-30 00:00:00",
            "2024-01-01 25:00:00",
            "2024-01-01 08:00:00 CST",
            "12:00:00",
            "1.7e9",
            "+1704067200",
            "--5",
            "17040672OO",
            "²",
            "١٧٠٤٠٦٧٢٠٠",
            "9" * 5000,
            True,
            False,
            [],
            {},
            object(),
            date(2024, 1, 1),
            b"1704067200",
            Decimal("NaN"),
            Decimal("sNaN"),
            Decimal("Infinity"),
            float("nan"),
            float("-inf"),
        ],
    )
    def test_junk_is_a_time_parse_error(self, value: object) -> None:
        """Anything that is not a time raises TimeParseError and nothing else."""
        with pytest.raises(TimeParseError):
            parse_channel_time(value)

    @pytest.mark.parametrize("value", ["2024-01-01 08:00:00", 1704067200, None, ""])
    @pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "", "../etc/passwd", "Asia/"])
    def test_unknown_zone_is_a_configuration_error(self, value: object, zone: str) -> None:
        """A zone that is not an IANA zone is a configuration error, whatever the value."""
        with pytest.raises(ConfigurationError, match="unknown time zone"):
            parse_channel_time(value, zone=zone)

    def test_local_in_unknown_zone(self) -> None:
        """ChannelTime.local() with an unknown zone raises ConfigurationError."""
        with pytest.raises(ConfigurationError):
            parse(1704067200).local("Nowhere/Town")

    @pytest.mark.parametrize("zone", [8, None, ["Asia/Shanghai"]])
    def test_a_zone_that_is_not_a_string_is_a_configuration_error(self, zone: object) -> None:
        """A zone of the wrong type is a configuration error, not a TypeError from the cache."""
        with pytest.raises(ConfigurationError, match="IANA name"):
            parse_channel_time("2024-01-01 08:00:00", zone=zone)  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="IANA name"):
            parse(1704067200).local(zone)  # type: ignore[arg-type]

    @pytest.mark.parametrize("unit", ["us", "seconds", "", None])
    def test_an_unknown_unit_is_a_configuration_error(self, unit: object) -> None:
        """A unit other than s, ms or auto is refused instead of being read as seconds."""
        with pytest.raises(ConfigurationError, match="unit must be"):
            parse_channel_time(1704067200, unit=unit)  # type: ignore[arg-type]

    def test_errors_do_not_echo_huge_or_personal_values(self) -> None:
        """A 1 MB junk string gives a short message; a phone number in it is masked."""
        with pytest.raises(TimeParseError) as caught:
            parse_channel_time("x" * 1_000_000)
        assert len(str(caught.value)) < 300
        assert "…(1000000 chars)" in str(caught.value)
        with pytest.raises(TimeParseError) as caught:
            parse_channel_time("13800138000 at noon")
        assert "13800138000" not in str(caught.value)
        assert "138****8000" in str(caught.value)


class TestChannelTime:
    def test_local(self) -> None:
        """local() shows the instant in Beijing time, or in the zone given."""
        parsed = parse("2024-01-01 08:30:00")
        assert parsed.local() == datetime(2024, 1, 1, 8, 30, tzinfo=SHANGHAI)
        assert parsed.local().utcoffset() == timedelta(hours=8)
        assert parsed.local("UTC").hour == 0

    def test_str_is_utc_iso(self) -> None:
        """str() is the UTC instant in ISO 8601."""
        assert str(parse("2024-01-01 08:30:00")) == "2024-01-01T00:30:00+00:00"

    def test_ordering_is_by_instant(self) -> None:
        """Comparisons look only at the UTC instant, not the original text."""
        beijing = parse("2024-01-01 08:00:00")
        utc = parse("2024-01-01T00:00:00Z")
        later = parse(1704067201)
        assert beijing <= utc
        assert utc >= beijing
        assert beijing < later
        assert later > utc
        assert not beijing < utc

    def test_comparing_with_other_types_is_a_type_error(self) -> None:
        """A ChannelTime does not order against a bare datetime."""
        with pytest.raises(TypeError):
            _ = parse(1704067200) < NEW_YEAR_UTC

    def test_frozen(self) -> None:
        """ChannelTime is immutable."""
        parsed = parse(1704067200)
        with pytest.raises(FrozenModelError, match="immutable") as caught:
            parsed.utc = NEW_YEAR_UTC  # type: ignore[misc]
        assert (caught.value.model, caught.value.field) == ("ChannelTime", "utc")
        with pytest.raises(FrozenModelError):
            del parsed.original
        assert parsed.utc == NEW_YEAR_UTC

    def test_json_form(self) -> None:
        """The JSON form has the UTC instant, the original and the zone."""
        parsed = parse("2024-01-01 08:30:00")
        assert json.loads(parsed.model_dump_json()) == {
            "utc": "2024-01-01T00:30:00Z",
            "original": "2024-01-01 08:30:00",
            "zone": "Asia/Shanghai",
        }

    @pytest.mark.parametrize(
        "value",
        [
            "2024-01-01 08:30:00",
            "1704067200",
            1704067200,
            1704067200123,
            "2024-01-01T12:00:00.000+0800",
            datetime(2024, 1, 1, 8, 30),
            Decimal("1704067200.5"),
        ],
    )
    def test_json_round_trip(self, value: object) -> None:
        """Dumping to JSON and validating back gives an equal ChannelTime, original type kept."""
        parsed = parse(value)
        again = ChannelTime.model_validate_json(parsed.model_dump_json())
        assert again == parsed
        assert type(again.original) is type(parsed.original)
        assert again.utc.tzinfo is UTC

    def test_json_round_trip_as_a_field(self) -> None:
        """A ChannelTime field of another model round-trips through JSON."""

        class Shipped(pydantic.BaseModel):
            at: ChannelTime | None = None

        shipped = Shipped(at=parse("2024-01-01 08:30:00"))
        assert Shipped.model_validate_json(shipped.model_dump_json()) == shipped
        assert Shipped.model_validate_json('{"at": null}').at is None

    def test_validation_normalises_to_utc(self) -> None:
        """A validated ChannelTime holds its instant in UTC whatever offset it was given."""
        parsed = ChannelTime.model_validate_json('{"utc": "2024-01-01T08:30:00+08:00"}')
        assert parsed.utc == datetime(2024, 1, 1, 0, 30, tzinfo=UTC)
        assert parsed.utc.tzinfo is UTC
        assert parsed.utc.hour == 0

    @pytest.mark.parametrize(
        "data",
        [
            {"utc": "2024-01-01T08:30:00"},
            {"utc": "2024-01-01T08:30:00Z", "extra": 1},
            {"original": "x"},
        ],
    )
    def test_validation_rejects_naive_or_unknown_fields(self, data: dict[str, object]) -> None:
        """The instant must be aware; unknown fields are refused, as SchemaError."""
        with pytest.raises(SchemaError) as caught:
            ChannelTime.model_validate_json(json.dumps(data))
        assert caught.value.model == "ChannelTime"
        assert caught.value.field in {"utc", "extra"}
        with pytest.raises(SchemaError):
            ChannelTime.model_validate(data)

    def test_the_constructor_raises_schema_error_for_a_naive_instant(self) -> None:
        """ChannelTime(utc=naive) is a SchemaError naming utc, not pydantic's error."""
        with pytest.raises(SchemaError) as caught:
            ChannelTime(utc=datetime(2024, 1, 1, 8, 30))
        (problem,) = caught.value.problems
        assert (problem.field, problem.kind) == ("utc", "timezone_aware")

    @pytest.mark.parametrize(
        "utc", ["1960-01-01T00:00:00Z", "2300-01-01T00:00:00Z", "9999-12-31T23:00:00-05:00"]
    )
    def test_validation_applies_the_same_range_as_parsing(self, utc: str) -> None:
        """A ChannelTime validated from a dict or JSON must lie in 1971..2200 too."""
        for validate in (
            lambda: ChannelTime.model_validate({"utc": utc, "original": utc}),
            lambda: ChannelTime.model_validate_json(json.dumps({"utc": utc})),
            lambda: ChannelTime(utc=datetime.fromisoformat(utc)),
        ):
            with pytest.raises(SchemaError) as caught:
                validate()
            (problem,) = caught.value.problems
            assert (problem.field, problem.kind) == ("utc", "time-invalid")
            assert "outside 1971..2200" in problem.problem

    @pytest.mark.parametrize("value", ["2024-01-01 08:00:00", 1704067200])
    def test_a_plain_value_points_to_parse_channel_time(self, value: object) -> None:
        """Validating a raw channel value says to use parse_channel_time()."""
        with pytest.raises(SchemaError, match=r"parse_channel_time\(\)"):
            ChannelTime.model_validate(value)


# -- property tests ------------------------------------------------------------------------

MIN_MS = epoch_ms(datetime(1971, 1, 1, tzinfo=UTC))
MAX_MS = epoch_ms(datetime(2200, 12, 31, 23, 59, 59, 999000, tzinfo=UTC))


@dataclass
class Rendering:
    """One instant written the way one channel writes it."""

    value: object
    expected: datetime
    kwargs: dict[str, Any] = field(default_factory=dict)
    zone: str | None = None


def naive_text(local: datetime, fmt: str) -> str:
    """Format a local time, refusing instants whose local time occurs twice (DST fall-back)."""
    naive = local.replace(tzinfo=None)
    zone = local.tzinfo
    first = naive.replace(tzinfo=zone, fold=0).utcoffset()
    second = naive.replace(tzinfo=zone, fold=1).utcoffset()
    assume(first == second)
    return naive.strftime(fmt)


def render(data: st.DataObject, instant: datetime) -> Rendering:
    """Write ``instant`` (whole milliseconds, UTC) in a randomly chosen channel format."""
    ms = epoch_ms(instant)
    second = instant.replace(microsecond=0)
    kind = data.draw(
        st.sampled_from(
            [
                "epoch_s",
                "epoch_s_str",
                "epoch_s_explicit",
                "epoch_s_decimal",
                "epoch_ms",
                "epoch_ms_str",
                "epoch_ms_explicit",
                "beijing",
                "beijing_slash",
                "beijing_fraction",
                "jd",
                "iso_offset",
                "iso_z",
                "naive_in_zone",
                "naive_datetime",
                "aware_datetime",
            ]
        ),
        label="format",
    )
    if kind == "epoch_s":
        return Rendering(ms // 1000, second)
    if kind == "epoch_s_str":
        return Rendering(str(ms // 1000), second)
    if kind == "epoch_s_explicit":
        return Rendering(ms // 1000, second, {"unit": "s"})
    if kind == "epoch_s_decimal":
        return Rendering(Decimal(ms).scaleb(-3), instant)
    if kind == "epoch_ms":
        return Rendering(ms, instant)
    if kind == "epoch_ms_str":
        return Rendering(str(ms), instant)
    if kind == "epoch_ms_explicit":
        return Rendering(ms, instant, {"unit": "ms"})
    beijing = instant.astimezone(SHANGHAI)
    if kind == "beijing":
        return Rendering(naive_text(beijing, "%Y-%m-%d %H:%M:%S"), second, zone=DEFAULT_ZONE)
    if kind == "beijing_slash":
        return Rendering(naive_text(beijing, "%Y/%m/%d %H:%M:%S"), second, zone=DEFAULT_ZONE)
    if kind == "beijing_fraction":
        text = naive_text(beijing, "%Y-%m-%d %H:%M:%S.%f")[:-3]
        return Rendering(text, instant, zone=DEFAULT_ZONE)
    if kind == "jd":
        plus8 = instant.astimezone(timezone(timedelta(hours=8)))
        return Rendering(plus8.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "+0800", instant)
    if kind == "iso_offset":
        minutes = data.draw(st.integers(min_value=-12 * 60, max_value=14 * 60), label="offset")
        shifted = instant.astimezone(timezone(timedelta(minutes=minutes)))
        return Rendering(shifted.isoformat(timespec="milliseconds"), instant)
    if kind == "iso_z":
        return Rendering(instant.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", instant)
    zone_name = data.draw(st.sampled_from(OTHER_ZONES), label="zone")
    local = instant.astimezone(ZoneInfo(zone_name))
    if kind == "naive_in_zone":
        text = naive_text(local, "%Y-%m-%d %H:%M:%S")
        return Rendering(text, second, {"zone": zone_name}, zone=zone_name)
    if kind == "naive_datetime":
        # A naive datetime keeps its fold, so even the repeated DST hour is exact.
        naive = local.replace(tzinfo=None)
        return Rendering(naive, instant, {"zone": zone_name}, zone=zone_name)
    assert kind == "aware_datetime"
    return Rendering(local, instant)


class TestProperties:
    @settings(max_examples=300, deadline=None)
    @given(st.integers(min_value=MIN_MS, max_value=MAX_MS), st.data())
    def test_every_channel_format_gives_back_the_instant(
        self, ms: int, data: st.DataObject
    ) -> None:
        """Any instant 1971..2200 written in any channel's format parses to that instant."""
        instant = EPOCH + timedelta(milliseconds=ms)
        rendering = render(data, instant)
        parsed = parse(rendering.value, **rendering.kwargs)
        assert parsed.utc == rendering.expected
        assert parsed.utc.utcoffset() == timedelta(0)
        assert parsed.zone == rendering.zone
        if isinstance(rendering.value, str | int):
            assert parsed.original == rendering.value
        again = ChannelTime.model_validate_json(parsed.model_dump_json())
        assert again == parsed

    @settings(max_examples=200, deadline=None)
    @given(
        st.dates(min_value=date(1971, 1, 2), max_value=date(2200, 12, 30)),
        st.sampled_from([SHANGHAI, UTC]),
        st.lists(st.integers(min_value=-180, max_value=180), min_size=2, max_size=10, unique=True),
        st.data(),
    )
    def test_orders_across_midnight_sort_in_true_order(
        self,
        day: date,
        midnight_zone: Any,
        offsets: list[int],
        data: st.DataObject,
    ) -> None:
        """Orders placed around midnight on channels in different zones sort by real time."""
        midnight = datetime(day.year, day.month, day.day, tzinfo=midnight_zone).astimezone(UTC)
        instants = [midnight + timedelta(seconds=s) for s in offsets]
        parsed = []
        for instant in instants:
            rendering = render(data, instant)
            parsed.append(parse(rendering.value, **rendering.kwargs))
        by_parsed = sorted(range(len(instants)), key=lambda i: parsed[i])
        by_truth = sorted(range(len(instants)), key=lambda i: instants[i])
        assert by_parsed == by_truth
        assert [p.utc for p in sorted(parsed)] == sorted(instants)
