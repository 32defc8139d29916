"""Money: exact amounts, fen<->yuan, sums, proportional allocation, floats refused (R12)."""

from __future__ import annotations

import copy
import json
import math
import pickle
from decimal import Decimal
from fractions import Fraction
from typing import Any

import jsonschema
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordercore.errors import (
    AllocationError,
    CurrencyMismatch,
    FloatMoneyError,
    FrozenModelError,
    MoneyError,
    OrderCoreError,
)
from ordercore.money import (
    DEFAULT_CURRENCY,
    Money,
    allocate,
    minor_digits,
    parse_fen,
    parse_yuan,
    sum_money,
)

Weight = Money | Decimal | int

fens = st.integers(min_value=-(10**15), max_value=10**15)
moneys = fens.map(Money.from_fen)
weights: st.SearchStrategy[Weight] = st.one_of(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=10**9).map(lambda n: Decimal(n).scaleb(-2)),
    st.integers(min_value=0, max_value=10**9).map(Money.from_fen),
)


class PricedItem(pydantic.BaseModel):
    price: Money


class TestConstruction:
    def test_amount_is_kept_with_two_decimal_places(self) -> None:
        """A yuan amount is held exactly, padded to the currency's minor digits."""
        money = Money("12.3")
        assert money.amount == Decimal("12.30")
        assert str(money.amount) == "12.30"
        assert money.currency == "CNY"
        assert DEFAULT_CURRENCY == "CNY"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("12.34", "12.34"),
            (" 12.34 ", "12.34"),
            ("12", "12.00"),
            ("12.340", "12.34"),
            ("-0.05", "-0.05"),
            ("+7.5", "7.50"),
            ("1E+2", "100.00"),
            (Decimal("19.99"), "19.99"),
            (Decimal("1.000000"), "1.00"),
            (12, "12.00"),
            (-3, "-3.00"),
        ],
    )
    def test_str_decimal_and_int_are_accepted(self, value: object, expected: str) -> None:
        """Strings, Decimals and ints are read exactly, in yuan."""
        assert str(Money(value).amount) == expected  # type: ignore[arg-type]

    def test_negative_zero_is_plain_zero(self) -> None:
        """Minus zero is the same amount as zero and prints without a sign."""
        money = Money("-0.00")
        assert money == Money.zero()
        assert str(money) == "0.00 CNY"
        assert str(-Money.zero()) == "0.00 CNY"

    def test_repr_and_str(self) -> None:
        """repr rebuilds the value; str reads as amount and currency."""
        money = Money("12.3")
        assert repr(money) == "Money('12.30', 'CNY')"
        assert str(money) == "12.30 CNY"
        assert repr(Money("5", "JPY")) == "Money('5', 'JPY')"

    @pytest.mark.parametrize("value", ["0.001", "12.345", "-0.009", Decimal("1.005"), "1E-3"])
    def test_sub_fen_amounts_are_refused(self, value: object) -> None:
        """An amount with more digits than the currency has is refused, never rounded."""
        with pytest.raises(MoneyError, match="decimal places") as info:
            Money(value)  # type: ignore[arg-type]
        assert not isinstance(info.value, FloatMoneyError)

    @pytest.mark.parametrize(
        "value", ["", "   ", "abc", "12.3.4", "12 34", "1e", "¥12", "12元", "0x10"]
    )
    def test_strings_that_are_not_numbers_are_refused(self, value: str) -> None:
        """A string that is not a decimal number raises MoneyError."""
        with pytest.raises(MoneyError):
            Money(value)

    @pytest.mark.parametrize("value", [None, [], {}, b"12", object(), Money("1")])
    def test_other_types_are_refused(self, value: object) -> None:
        """Only str, Decimal and int make Money."""
        with pytest.raises(MoneyError, match="must be a str, Decimal or int"):
            Money(value)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "value",
        ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "inf", Decimal("NaN"), Decimal("-Inf")],
    )
    def test_nan_and_infinity_are_refused(self, value: object) -> None:
        """Not-a-number and infinite amounts are not money."""
        with pytest.raises(MoneyError, match="finite"):
            Money(value)  # type: ignore[arg-type]

    @pytest.mark.parametrize("value", [True, False])
    def test_bools_are_refused(self, value: bool) -> None:
        """True is an int in Python but never an amount of money."""
        with pytest.raises(MoneyError, match="bool"):
            Money(value)
        with pytest.raises(MoneyError):
            Money.from_fen(value)
        with pytest.raises(MoneyError):
            parse_fen(value)

    def test_amounts_beyond_decimal_precision_are_refused(self) -> None:
        """An amount too large to hold to the fen raises instead of losing digits."""
        with pytest.raises(MoneyError, match="too large"):
            Money("1" * 30)
        with pytest.raises(MoneyError, match="too large"):
            Money.from_fen(10**40)

    @pytest.mark.parametrize("currency", ["US", "USDX", "12A", "", 840, None])
    def test_invalid_currency_codes_are_refused(self, currency: object) -> None:
        """A currency must be a three-letter ISO 4217 code."""
        with pytest.raises(MoneyError, match="ISO 4217"):
            Money("1", currency)  # type: ignore[arg-type]

    def test_currency_codes_are_upper_cased(self) -> None:
        """Lower-case codes are normalised."""
        assert Money("1", "usd").currency == "USD"
        assert Money("1", "usd") == Money("1", "USD")


class TestThousandsSeparators:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("1,234.56", "1234.56"),
            ("-1,234,567.89", "-1234567.89"),
            ("12,345", "12345.00"),
            ("999,999,999.00", "999999999.00"),
        ],
    )
    def test_grouped_yuan_strings_are_read(self, text: str, expected: str) -> None:
        """Yuan strings with thousands separators, as exported spreadsheets have them, parse."""
        assert parse_yuan(text) == Money(expected)

    @pytest.mark.parametrize("text", ["12,34", "1,2,3", "1,23,456.00", ",123", "123,", "1,234,5"])
    def test_misplaced_commas_are_refused(self, text: str) -> None:
        """A comma that is not a thousands separator (e.g. a decimal comma) is refused."""
        with pytest.raises(MoneyError, match="thousands separators"):
            parse_yuan(text)

    @given(moneys)
    def test_grouped_form_round_trips(self, money: Money) -> None:
        """Every amount written with thousands separators reads back unchanged."""
        assert parse_yuan(f"{money.amount:,}") == money


class TestFenAndYuan:
    @given(fens)
    def test_fen_round_trip(self, fen: int) -> None:
        """Money.from_fen(n) holds exactly n fen."""
        money = Money.from_fen(fen)
        assert money.minor == fen
        assert money.fen == fen
        assert money.amount == Fraction(fen, 100)

    @given(moneys)
    def test_yuan_string_round_trip(self, money: Money) -> None:
        """The amount's decimal string parses back to the same Money."""
        assert parse_yuan(str(money.amount)) == money
        assert parse_yuan(money.amount) == money
        assert parse_fen(money.minor) == money
        assert parse_fen(str(money.minor)) == money

    @given(fens)
    def test_fen_string_equals_fen_int(self, fen: int) -> None:
        """Channels that send fen as strings get the same Money as with ints."""
        assert parse_fen(str(fen)) == parse_fen(fen) == Money.from_fen(fen)

    def test_known_values(self) -> None:
        """Integer fen and yuan strings meet at the same amounts."""
        assert Money.from_fen(1999) == Money("19.99")
        assert Money.from_fen(-5) == Money("-0.05")
        assert Money.from_fen(0).is_zero()
        assert parse_fen("1234") == Money("12.34")
        assert parse_fen(" -5 ") == Money("-0.05")
        assert Money("12.34").minor == 1234

    @pytest.mark.parametrize(
        "value", ["12.5", "1e3", "", " ", "+-5", "--5", "5-", "²", "１２", "1_000", "0x1F"]
    )
    def test_fen_strings_must_be_whole_ascii_numbers(self, value: str) -> None:
        """A fen string is an optional sign and ASCII digits, nothing else."""
        with pytest.raises(MoneyError, match="whole number"):
            parse_fen(value)

    @pytest.mark.parametrize("value", [Decimal("12"), None, b"12", [1]])
    def test_fen_must_be_int_or_str(self, value: object) -> None:
        """Integer fen come as int or str; other types are refused."""
        with pytest.raises(MoneyError):
            parse_fen(value)  # type: ignore[arg-type]

    def test_fen_is_a_cny_view(self) -> None:
        """Asking for fen of a non-CNY amount is a currency mismatch."""
        with pytest.raises(CurrencyMismatch):
            _ = Money("1.00", "USD").fen
        assert Money("1.00", "USD").minor == 100


class TestCurrencies:
    @pytest.mark.parametrize(
        ("currency", "digits"), [("CNY", 2), ("USD", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3)]
    )
    def test_minor_digits(self, currency: str, digits: int) -> None:
        """Each currency has its own number of decimal places."""
        assert minor_digits(currency) == digits

    def test_jpy_has_no_minor_unit(self) -> None:
        """Yen amounts are whole; the minor unit is the yen itself."""
        yen = Money("100", "JPY")
        assert str(yen) == "100 JPY"
        assert yen.minor == 100
        assert Money.from_minor(100, "JPY") == yen
        assert parse_fen(100, "JPY") == yen
        assert Money("100.0", "JPY") == yen
        with pytest.raises(MoneyError, match="0 decimal places"):
            Money("1.5", "JPY")

    def test_three_digit_currency(self) -> None:
        """Kuwaiti dinar amounts have three decimal places."""
        assert Money("1.005", "KWD").minor == 1005
        assert str(Money.from_minor(1, "KWD")) == "0.001 KWD"

    @pytest.mark.parametrize(
        "operation",
        [
            lambda a, b: a + b,
            lambda a, b: a - b,
            lambda a, b: a < b,
            lambda a, b: a <= b,
            lambda a, b: a > b,
            lambda a, b: a >= b,
            lambda a, b: sum_money([a, b]),
        ],
    )
    def test_mixing_currencies_raises(self, operation: object) -> None:
        """Adding, subtracting or comparing amounts in two currencies is refused."""
        with pytest.raises(CurrencyMismatch, match=r"USD and CNY|CNY and USD"):
            operation(Money("1"), Money("1", "USD"))  # type: ignore[operator]

    def test_equal_amounts_in_different_currencies_are_unequal(self) -> None:
        """Equality is value and currency; it never raises."""
        assert Money("1") != Money("1", "USD")
        assert Money("1", "USD") == Money("1.00", "USD")


class TestArithmetic:
    def test_binary_float_pitfall_is_avoided(self) -> None:
        """0.1 + 0.2 is exactly 0.3."""
        assert Money("0.1") + Money("0.2") == Money("0.3")
        assert sum_money([Money("0.1")] * 3) == Money("0.30")

    def test_operations(self) -> None:
        """Add, subtract, negate, abs and integer multiply give exact Money."""
        price = Money("19.99")
        assert price + Money("0.01") == Money("20.00")
        assert price - Money("20.00") == Money("-0.01")
        assert -price == Money("-19.99")
        assert abs(Money("-3.50")) == Money("3.50")
        assert price * 3 == Money("59.97")
        assert 3 * price == Money("59.97")
        assert price * -1 == -price
        assert price * 0 == Money.zero()

    def test_builtin_sum_works(self) -> None:
        """sum() can start from 0."""
        assert sum([Money("1.10"), Money("2.20")]) == Money("3.30")
        assert Money("1.00") + 0 == Money("1.00")

    @pytest.mark.parametrize(
        "operation",
        [
            lambda m: m + 1,
            lambda m: m - 1,
            lambda m: m + Decimal("1"),
            lambda m: m * Decimal("1.5"),
            lambda m: m * Money("2"),
            lambda m: m * True,
            lambda m: m + "1",
            lambda m: m < 1,
        ],
    )
    def test_mixing_with_plain_numbers_is_a_type_error(self, operation: object) -> None:
        """Money only combines with Money (and multiplies by int)."""
        with pytest.raises(TypeError):
            operation(Money("1.00"))  # type: ignore[operator]

    def test_ordering(self) -> None:
        """Amounts in one currency order by value."""
        amounts = [Money("3"), Money("-1"), Money("0.5"), Money.zero()]
        assert sorted(amounts) == [Money("-1"), Money.zero(), Money("0.5"), Money("3")]
        assert Money("1") <= Money("1.00") <= Money("1")
        assert max(amounts) == Money("3")

    def test_truthiness(self) -> None:
        """Zero is falsy, anything else truthy."""
        assert not Money.zero()
        assert Money("0.01")
        assert Money("-0.01")


class TestSumMoney:
    @given(st.lists(fens, max_size=50))
    def test_sum_equals_integer_fen_sum(self, values: list[int]) -> None:
        """Summing Money gives exactly the sum of the integer fen."""
        total = sum_money(Money.from_fen(v) for v in values)
        assert total.minor == sum(values)
        assert total.currency == "CNY"

    def test_empty_sum_is_zero_in_the_given_currency(self) -> None:
        """An empty iterable gives zero in the currency asked for."""
        assert sum_money([]) == Money.zero()
        assert sum_money([], "USD") == Money.zero("USD")

    def test_sum_keeps_the_currency(self) -> None:
        """A sum of dollars is in dollars."""
        assert sum_money([Money("1", "USD"), Money("2", "USD")], "USD") == Money("3", "USD")


class TestAllocate:
    def test_example_from_the_docs(self) -> None:
        """Ten yuan over three equal weights: the first part gets the odd fen."""
        parts = allocate(Money("10.00"), [1, 1, 1])
        assert [str(p) for p in parts] == ["3.34 CNY", "3.33 CNY", "3.33 CNY"]
        assert Money("10.00").allocate([1, 1, 1]) == parts

    @pytest.mark.parametrize(
        ("total", "weights", "expected"),
        [
            ("0.10", [7, 2], ["0.08", "0.02"]),
            ("0.10", [2, 7], ["0.02", "0.08"]),
            ("0.05", [1, 1, 1], ["0.02", "0.02", "0.01"]),
            ("1.00", [1, 1, 1, 1, 1, 1], ["0.17", "0.17", "0.17", "0.17", "0.16", "0.16"]),
            ("0.01", [1, 1000], ["0.00", "0.01"]),
            ("100.00", [Decimal("30.00"), Decimal("70.00")], ["30.00", "70.00"]),
            ("10.00", [Money("59.90"), Money("0.00"), Money("39.90")], ["6.00", "0.00", "4.00"]),
            ("10.00", [0, 0], ["5.00", "5.00"]),
            ("0.01", [0, 0, 0], ["0.01", "0.00", "0.00"]),
            ("-10.00", [1, 1, 1], ["-3.34", "-3.33", "-3.33"]),
            ("-0.10", [7, 2], ["-0.08", "-0.02"]),
            ("0.00", [3, 4], ["0.00", "0.00"]),
        ],
    )
    def test_largest_remainder_examples(
        self, total: str, weights: list[object], expected: list[str]
    ) -> None:
        """Leftover fen go to the largest dropped fractions, earlier parts winning ties."""
        assert allocate(Money(total), weights) == [Money(e) for e in expected]  # type: ignore[arg-type]

    @settings(max_examples=200, deadline=None)
    @given(
        st.integers(min_value=-(10**12), max_value=10**12),
        st.lists(weights, min_size=1, max_size=20),
    )
    def test_parts_always_sum_to_total(self, total_fen: int, ws: list[Weight]) -> None:
        """Whatever the weights, the parts add up to the total to the fen."""
        total = Money.from_fen(total_fen)
        parts = allocate(total, ws)
        assert len(parts) == len(ws)
        assert sum_money(parts) == total
        assert all(p.currency == "CNY" for p in parts)

    @settings(max_examples=200, deadline=None)
    @given(
        st.integers(min_value=-(10**12), max_value=10**12),
        st.lists(weights, min_size=1, max_size=20),
    )
    def test_each_part_is_within_one_fen_of_its_exact_share(
        self, total_fen: int, ws: list[Weight]
    ) -> None:
        """Every part differs from total * weight / sum(weights) by less than one fen."""
        exact_weights = [Fraction(w.amount if isinstance(w, Money) else w) for w in ws]
        weight_sum = sum(exact_weights)
        if weight_sum == 0:
            exact_weights = [Fraction(1)] * len(ws)
            weight_sum = Fraction(len(ws))
        parts = allocate(Money.from_fen(total_fen), ws)
        for part, weight in zip(parts, exact_weights, strict=True):
            share = total_fen * weight / weight_sum
            assert abs(part.minor - share) < 1
            assert part.minor in {math.floor(share), math.ceil(share)}

    @settings(max_examples=200, deadline=None)
    @given(
        st.integers(min_value=-(10**12), max_value=10**12),
        st.lists(st.integers(min_value=0, max_value=5), min_size=1, max_size=20),
    )
    def test_zero_weight_gets_zero_unless_all_are_zero(self, total_fen: int, ws: list[int]) -> None:
        """A part with weight 0 receives nothing, unless every weight is 0 (then it is even)."""
        parts = allocate(Money.from_fen(total_fen), ws)
        if any(ws):
            assert all(p.is_zero() for p, w in zip(parts, ws, strict=True) if w == 0)
        else:
            minors = [p.minor for p in parts]
            assert max(minors) - min(minors) <= 1

    @settings(max_examples=200, deadline=None)
    @given(
        st.integers(min_value=0, max_value=10**12),
        st.lists(weights, min_size=1, max_size=20),
    )
    def test_negative_total_mirrors_positive(self, total_fen: int, ws: list[Weight]) -> None:
        """Splitting a negative amount gives the negated split of the positive amount."""
        positive = allocate(Money.from_fen(total_fen), ws)
        negative = allocate(Money.from_fen(-total_fen), ws)
        assert negative == [-p for p in positive]

    @settings(max_examples=100, deadline=None)
    @given(
        st.integers(min_value=-(10**12), max_value=10**12),
        st.lists(weights, min_size=1, max_size=20),
    )
    def test_allocation_is_deterministic(self, total_fen: int, ws: list[Weight]) -> None:
        """The same input always gives the same parts."""
        total = Money.from_fen(total_fen)
        assert allocate(total, ws) == allocate(total, list(ws))

    def test_allocation_keeps_the_currency(self) -> None:
        """Yen are split in whole yen."""
        parts = allocate(Money("100", "JPY"), [1, 1, 1])
        assert parts == [Money("34", "JPY"), Money("33", "JPY"), Money("33", "JPY")]

    def test_no_weights_is_an_error(self) -> None:
        """There must be at least one part."""
        with pytest.raises(AllocationError, match="zero parts"):
            allocate(Money("1"), [])

    def test_negative_weight_is_an_error(self) -> None:
        """Weights are non-negative."""
        with pytest.raises(AllocationError, match="weight 1 is negative"):
            allocate(Money("1"), [1, -1])

    def test_weights_in_another_currency_are_an_error(self) -> None:
        """Money weights must be in the total's currency."""
        with pytest.raises(AllocationError, match="USD"):
            allocate(Money("1"), [Money("1"), Money("1", "USD")])

    @pytest.mark.parametrize("bad", [Decimal("NaN"), "abc", True, None])
    def test_non_number_weights_are_refused(self, bad: object) -> None:
        """A weight that is not a finite number raises MoneyError."""
        with pytest.raises(MoneyError):
            allocate(Money("1"), [1, bad])  # type: ignore[list-item]


class TestFloatsRefused:
    @pytest.mark.parametrize(
        "operation",
        [
            pytest.param(lambda: Money(0.1), id="Money(0.1)"),  # type: ignore[arg-type]
            pytest.param(lambda: Money(1.0, "USD"), id="Money(1.0, USD)"),  # type: ignore[arg-type]
            pytest.param(lambda: parse_yuan(1.5), id="parse_yuan(1.5)"),  # type: ignore[arg-type]
            pytest.param(lambda: parse_fen(1.0), id="parse_fen(1.0)"),  # type: ignore[arg-type]
            pytest.param(lambda: Money.from_fen(100.0), id="from_fen(100.0)"),  # type: ignore[arg-type]
            pytest.param(lambda: Money.from_minor(1.0, "JPY"), id="from_minor"),  # type: ignore[arg-type]
            pytest.param(lambda: Money("1") * 1.5, id="Money*1.5"),
            pytest.param(lambda: 1.5 * Money("1"), id="1.5*Money"),
            pytest.param(lambda: Money("1") + 0.5, id="Money+0.5"),
            pytest.param(lambda: 0.5 + Money("1"), id="0.5+Money"),
            pytest.param(lambda: Money("1") - 0.5, id="Money-0.5"),
            pytest.param(lambda: Money("1") + 0.0, id="Money+0.0"),
            pytest.param(lambda: allocate(Money("1"), [1.0, 2.0]), id="allocate floats"),  # type: ignore[list-item]
            pytest.param(lambda: allocate(Money("1"), [1, 0.5]), id="allocate one float"),  # type: ignore[list-item]
            pytest.param(lambda: Money("1").allocate([0.5]), id="Money.allocate"),  # type: ignore[list-item]
        ],
    )
    def test_float_raises_float_money_error(self, operation: object) -> None:
        """Every entry point refuses a float with FloatMoneyError."""
        with pytest.raises(FloatMoneyError) as info:
            operation()  # type: ignore[operator]
        error = info.value
        assert isinstance(error, TypeError)
        assert isinstance(error, MoneyError)
        assert isinstance(error, OrderCoreError)
        assert error.code == "money-float"

    @given(st.floats(allow_nan=True, allow_infinity=True))
    def test_any_float_is_refused(self, value: float) -> None:
        """No float, however round, becomes Money."""
        with pytest.raises(FloatMoneyError):
            Money(value)  # type: ignore[arg-type]

    def test_message_says_what_to_do(self) -> None:
        """The error names the way to read JSON numbers exactly."""
        with pytest.raises(FloatMoneyError, match="parse_float=Decimal"):
            parse_yuan(12.34)  # type: ignore[arg-type]

    def test_json_numbers_parsed_as_decimal_are_exact(self) -> None:
        """Yuan JSON numbers read with parse_float=Decimal keep their digits."""
        payload = json.loads('{"price": 12.34, "fen": 1234}', parse_float=Decimal)
        assert parse_yuan(payload["price"]) == parse_fen(payload["fen"]) == Money("12.34")


class TestValueSemantics:
    def test_immutable(self) -> None:
        """Attributes cannot be set, added or deleted."""
        money = Money("1.00")
        with pytest.raises(FrozenModelError):
            money.amount = Decimal("2.00")
        with pytest.raises(FrozenModelError):
            money.currency = "USD"
        with pytest.raises(FrozenModelError) as caught:
            money.note = "x"
        assert (caught.value.model, caught.value.field) == ("Money", "note")
        assert isinstance(caught.value, AttributeError)
        with pytest.raises(FrozenModelError):
            del money.amount
        assert money == Money("1.00")

    @pytest.mark.parametrize(
        ("make", "error"),
        [
            (lambda: Money("x" * 1_000_000), MoneyError),
            (lambda: Money("1" * 500_000 + ".001"), MoneyError),
            (lambda: Money.from_minor("9" * 1_000_000), MoneyError),
            (lambda: Money("1.00", "C" * 1_000_000), MoneyError),
            (lambda: Money("13800138000.001"), MoneyError),
        ],
    )
    def test_messages_do_not_echo_huge_or_personal_values(
        self, make: Any, error: type[Exception]
    ) -> None:
        """A megabyte of junk gives a short message; a phone-like amount is masked."""
        with pytest.raises(error) as caught:
            make()
        assert len(str(caught.value)) < 400
        assert "13800138000" not in str(caught.value)

    @pytest.mark.parametrize("currency", [None, ["CNY"], 3])
    def test_minor_digits_of_a_non_code(self, currency: object) -> None:
        """minor_digits of something that is not a code is the common 2, not a TypeError."""
        assert minor_digits(currency) == 2  # type: ignore[arg-type]

    def test_operations_do_not_change_operands(self) -> None:
        """Arithmetic returns new values."""
        a, b = Money("1.00"), Money("2.00")
        _ = a + b, a - b, a * 3, -a
        assert (a, b) == (Money("1.00"), Money("2.00"))

    def test_equal_values_hash_alike(self) -> None:
        """Equal Money are interchangeable as dict keys and set members."""
        values = {Money("1"), Money("1.0"), Money("1.00"), Money.from_fen(100), Money(1)}
        assert values == {Money("1.00")}
        assert len({Money("1"), Money("1", "USD")}) == 2
        assert {Money("2.50"): "x"}[parse_fen(250)] == "x"

    def test_not_equal_to_plain_numbers(self) -> None:
        """Money is not equal to a bare number, even one of the same value."""
        assert Money("1.00") != 1
        assert Money("1.00") != Decimal("1.00")
        assert Money("1.00") != "1.00"

    @given(moneys, st.sampled_from(["CNY", "USD", "JPY", "KWD"]))
    def test_pickle_round_trip(self, money: Money, currency: str) -> None:
        """Pickling and copying keep amount and currency."""
        value = Money.from_minor(money.minor, currency)
        for clone in (pickle.loads(pickle.dumps(value)), copy.copy(value), copy.deepcopy(value)):
            assert type(clone) is Money
            assert clone == value
            assert clone.currency == currency
            assert hash(clone) == hash(value)

    def test_to_json(self) -> None:
        """to_json gives the amount as a string and the currency."""
        assert Money("12.3").to_json() == {"amount": "12.30", "currency": "CNY"}


class TestPydantic:
    @pytest.mark.parametrize(
        "value",
        [
            Money("12.34"),
            "12.34",
            Decimal("12.34"),
            {"amount": "12.34"},
            {"amount": "12.34", "currency": "CNY"},
            {"amount": Decimal("12.34"), "currency": "CNY"},
        ],
    )
    def test_validates_from_python(self, value: object) -> None:
        """A Money field accepts Money, yuan strings, Decimals and amount dicts."""
        assert PricedItem(price=value).price == Money("12.34")

    def test_money_instance_is_kept_as_is(self) -> None:
        """Validating a Money instance does not copy it."""
        price = Money("1.00")
        assert PricedItem(price=price).price is price

    def test_validates_from_json(self) -> None:
        """JSON money is an object with a string amount; the currency defaults to CNY."""
        item = PricedItem.model_validate_json('{"price": {"amount": "12.34", "currency": "CNY"}}')
        assert item.price == Money("12.34")
        usd = PricedItem.model_validate_json('{"price": {"amount": "5", "currency": "USD"}}')
        assert usd.price == Money("5.00", "USD")
        bare = PricedItem.model_validate_json('{"price": {"amount": "-0.50"}}')
        assert bare.price == Money("-0.50")

    def test_serialises_to_the_json_form(self) -> None:
        """JSON output carries the amount as a string; Python output keeps Money."""
        item = PricedItem(price=Money("12.3"))
        assert item.model_dump_json() == '{"price":{"amount":"12.30","currency":"CNY"}}'
        assert item.model_dump(mode="json") == {"price": {"amount": "12.30", "currency": "CNY"}}
        assert item.model_dump() == {"price": Money("12.30")}

    @pytest.mark.parametrize(
        "text",
        [
            '{"price": {"amount": 12.34, "currency": "CNY"}}',
            '{"price": {"amount": 1234}}',
            '{"price": 12.34}',
            '{"price": "12.34"}',
            '{"price": {"currency": "CNY"}}',
            '{"price": {"amount": "0.001"}}',
            '{"price": {"amount": "NaN"}}',
            '{"price": {"amount": "12.34", "currency": "YUAN"}}',
        ],
    )
    def test_json_rejects_numbers_and_bad_amounts(self, text: str) -> None:
        """JSON numbers, sub-fen amounts and malformed objects are validation errors."""
        with pytest.raises(pydantic.ValidationError):
            PricedItem.model_validate_json(text)

    def test_json_refuses_amounts_too_long_to_hold_exactly(self) -> None:
        """An amount with more digits than Decimal holds is refused, not rounded."""
        text = json.dumps({"price": {"amount": "9" * 29 + ".00"}})
        with pytest.raises(pydantic.ValidationError, match="too large"):
            PricedItem.model_validate_json(text)
        text = json.dumps({"price": {"amount": "9" * 40 + ".00"}})
        with pytest.raises(pydantic.ValidationError, match="at most 40 characters"):
            PricedItem.model_validate_json(text)

    def test_python_float_is_refused_with_float_money_error(self) -> None:
        """A float in Python input fails validation, caused by FloatMoneyError."""
        with pytest.raises(pydantic.ValidationError) as info:
            PricedItem(price=12.34)
        (error,) = info.value.errors()
        assert isinstance(error["ctx"]["error"], FloatMoneyError)

    @settings(max_examples=200, deadline=None)
    @given(st.integers(min_value=-(10**26) + 1, max_value=10**26 - 1))
    def test_json_round_trip(self, fen: int) -> None:
        """Any amount survives dump to JSON and validation back."""
        item = PricedItem(price=Money.from_fen(fen))
        text = item.model_dump_json()
        again = PricedItem.model_validate_json(text)
        assert again == item
        assert again.price.amount.as_tuple() == item.price.amount.as_tuple()
        assert json.loads(text)["price"] == {"amount": str(item.price.amount), "currency": "CNY"}

    @pytest.mark.parametrize("amount", ["12.3", "12", "0012.30", "-0.50"])
    def test_json_accepts_plain_decimal_amount_strings(self, amount: str) -> None:
        """Plain decimal strings that are not in canonical form still read as Money() reads them."""
        item = PricedItem.model_validate_json(json.dumps({"price": {"amount": amount}}))
        assert item.price == Money(amount)

    @pytest.mark.parametrize("amount", ["-.50", "1,234.50", "+5", "1E+2", "12.", " 12"])
    def test_json_refuses_amounts_the_schema_does_not_allow(self, amount: str) -> None:
        """The JSON form is plain digits, as the published JSON Schema says; nothing looser."""
        with pytest.raises(pydantic.ValidationError, match="pattern"):
            PricedItem.model_validate_json(json.dumps({"price": {"amount": amount}}))
        schema = PricedItem.model_json_schema()
        assert not jsonschema.Draft202012Validator(schema).is_valid({"price": {"amount": amount}})

    @given(moneys)
    def test_dumped_json_matches_the_json_schema(self, money: Money) -> None:
        """What a model writes validates against the JSON Schema it publishes."""
        schema = PricedItem.model_json_schema()
        jsonschema.validate(json.loads(PricedItem(price=money).model_dump_json()), schema)
