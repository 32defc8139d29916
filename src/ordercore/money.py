"""Exact money: :class:`Money` is a :class:`~decimal.Decimal` amount plus a currency.

Channels send money three ways: yuan strings (``"12.34"``, Taobao, JD, Youzan),
yuan JSON numbers (``12.34``, Pinduoduo) and integer fen (``1234``, Douyin,
WeChat Channels, Xiaohongshu). Each is parsed once, at the connector, into
``Money``; from there on sums and splits are exact.

Floats are refused everywhere with :class:`~ordercore.errors.FloatMoneyError`:
``0.1 + 0.2 != 0.3`` in binary floating point. To read JSON that carries yuan as
numbers, parse it with ``json.loads(text, parse_float=Decimal)`` so the digits
arrive unchanged.

Example:
    >>> from ordercore.money import Money, allocate
    >>> Money.from_fen(1999) + Money("0.01")
    Money('20.00', 'CNY')
    >>> ", ".join(str(m) for m in allocate(Money("10.00"), [1, 1, 1]))
    '3.34 CNY, 3.33 CNY, 3.33 CNY'
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Final

from ordercore.errors import (
    AllocationError,
    CurrencyMismatch,
    FloatMoneyError,
    FrozenModelError,
    MoneyError,
)
from ordercore.pii import redact, safe_repr

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

__all__ = [
    "DEFAULT_CURRENCY",
    "Money",
    "allocate",
    "minor_digits",
    "parse_fen",
    "parse_yuan",
    "sum_money",
]

DEFAULT_CURRENCY: Final = "CNY"
#: The JSON form of an amount: plain decimal digits, no exponent, sign or separators.
_JSON_AMOUNT: Final = r"^-?\d+(\.\d+)?$"

#: Digits after the decimal point for currencies that are not the common two.
_MINOR_DIGITS: Final[dict[str, int]] = {
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "CLP": 0,
    "ISK": 0,
    "BHD": 3,
    "KWD": 3,
    "JOD": 3,
    "OMR": 3,
    "TND": 3,
}

#: A yuan string with thousands separators: "1,234.56". Commas anywhere else ("12,34",
#: a decimal comma in some locales) are refused rather than silently dropped.
_GROUPED: Final = re.compile(r"[+-]?[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]*)?")
_WHOLE: Final = re.compile(r"[+-]?[0-9]+")


def minor_digits(currency: str) -> int:
    """Return how many decimal places ``currency`` has (2 for CNY, 0 for JPY)."""
    return _MINOR_DIGITS.get(currency, 2) if isinstance(currency, str) else 2


def _check_currency(currency: object) -> str:
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise MoneyError(
            f"currency must be a three-letter ISO 4217 code, got {safe_repr(currency)}"
        )
    return currency.upper()


def _to_decimal(value: object, what: str) -> Decimal:
    """Turn an exact number into a Decimal; refuse floats, bools and junk."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise MoneyError(f"{what} must be a number, got a bool ({safe_repr(value)})")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if "," in text:
            if not _GROUPED.fullmatch(text):
                raise MoneyError(f"{what} has misplaced thousands separators: {safe_repr(value)}")
            text = text.replace(",", "")
        if not text:
            raise MoneyError(f"{what} is an empty string")
        try:
            result = Decimal(text)
        except InvalidOperation:
            raise MoneyError(f"{what} is not a number: {safe_repr(value)}") from None
    elif isinstance(value, float):
        raise FloatMoneyError(
            f"{what} is a float ({safe_repr(value)}); floats cannot hold money exactly. "
            "Pass a str, Decimal or int, or parse JSON with json.loads(text, parse_float=Decimal)"
        )
    else:
        raise MoneyError(f"{what} must be a str, Decimal or int, got {type(value).__name__}")
    if not result.is_finite():
        raise MoneyError(f"{what} must be finite, got {safe_repr(value)}")
    return result


_EXACT_BOUND: Final = Decimal(10) ** 20
#: Zero per currency (Money is immutable, so one instance serves every caller).
_ZEROS: dict[str, Money] = {}


class Money:
    """An exact amount of money in one currency.

    ``Money("12.34")`` is twelve yuan thirty-four fen. The amount always has
    exactly the currency's number of decimal places; an amount with more
    (``"0.001"``) is refused rather than rounded. Money is immutable and hashable.

    Args:
        amount: A decimal string, :class:`~decimal.Decimal` or int, in major units (yuan).
        currency: ISO 4217 code; ``"CNY"`` unless given.

    Raises:
        FloatMoneyError: ``amount`` is a float.
        MoneyError: ``amount`` is not a finite number or has sub-minor-unit digits.

    Example:
        >>> Money("12.3")
        Money('12.30', 'CNY')
        >>> Money.from_fen(-5).minor
        -5
    """

    __slots__ = ("amount", "currency")

    amount: Decimal
    currency: str

    def __init__(self, amount: Decimal | int | str, currency: str = DEFAULT_CURRENCY) -> None:
        currency = currency if currency == DEFAULT_CURRENCY else _check_currency(currency)
        value = _to_decimal(amount, "amount")
        exponent = -minor_digits(currency)
        quantum = Decimal(1).scaleb(exponent)
        exp = value.as_tuple().exponent
        try:
            quantized = value.quantize(quantum)
        except InvalidOperation:
            raise MoneyError(f"amount {redact(str(value))} is too large") from None
        if isinstance(exp, int) and exp < exponent and value != quantized:
            raise MoneyError(
                f"amount {redact(str(value))} has more than {-exponent} decimal places "
                f"for {currency}"
            )
        object.__setattr__(self, "amount", quantized + 0)
        object.__setattr__(self, "currency", currency)

    @classmethod
    def _exact(cls, amount: Decimal, currency: str) -> Money:
        """Money from the sum or difference of two amounts of ``currency`` (already exact).

        Decimal addition keeps the smaller exponent, so the places stay the currency's;
        beyond 10^20 (where the context's 28 digits could round) the checked path runs.
        """
        if -_EXACT_BOUND < amount < _EXACT_BOUND:
            made = object.__new__(cls)
            object.__setattr__(made, "amount", amount + 0)
            object.__setattr__(made, "currency", currency)
            return made
        return cls(amount, currency)

    # -- construction -------------------------------------------------------------------

    @classmethod
    def from_minor(cls, minor: int | str, currency: str = DEFAULT_CURRENCY) -> Money:
        """Build Money from an integer count of minor units (fen for CNY)."""
        if isinstance(minor, bool) or not isinstance(minor, int | str):
            if isinstance(minor, float):
                raise FloatMoneyError(
                    f"minor units must be an int, got a float ({safe_repr(minor)})"
                )
            raise MoneyError(f"minor units must be an int, got {type(minor).__name__}")
        if isinstance(minor, str):
            text = minor.strip()
            if not _WHOLE.fullmatch(text) or len(text) > 64:
                raise MoneyError(f"minor units must be a whole number, got {safe_repr(minor)}")
            minor = int(text)
        currency = currency if currency == DEFAULT_CURRENCY else _check_currency(currency)
        return cls(Decimal(minor).scaleb(-minor_digits(currency)), currency)

    @classmethod
    def from_fen(cls, fen: int | str) -> Money:
        """Build CNY Money from integer fen (``1999`` -> ``19.99``)."""
        return cls.from_minor(fen, DEFAULT_CURRENCY)

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        """Return zero in ``currency``."""
        if cls is Money:
            found = _ZEROS.get(currency)
            if found is None:
                found = _ZEROS[currency] = cls(0, currency)  # checks the currency once
            return found
        return cls(0, currency)

    # -- views ----------------------------------------------------------------------------

    @property
    def minor(self) -> int:
        """The amount as an integer count of minor units (fen for CNY)."""
        return int(self.amount.scaleb(minor_digits(self.currency)))

    @property
    def fen(self) -> int:
        """The amount in fen; only for CNY."""
        if self.currency != DEFAULT_CURRENCY:
            raise CurrencyMismatch(f"fen is a CNY unit; this amount is in {self.currency}")
        return self.minor

    def is_zero(self) -> bool:
        """Return whether the amount is zero."""
        return not self.amount

    # -- arithmetic ------------------------------------------------------------------------

    def _same(self, other: Money, op: str) -> None:
        if other.currency != self.currency:
            raise CurrencyMismatch(f"cannot {op} {other.currency} and {self.currency} amounts")

    def __add__(self, other: object) -> Money:
        if isinstance(other, Money):
            self._same(other, "add")
            return Money._exact(self.amount + other.amount, self.currency)
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self  # lets sum() start from 0
        if isinstance(other, float):
            raise FloatMoneyError("cannot add a float to Money")
        return NotImplemented

    __radd__ = __add__

    def __sub__(self, other: object) -> Money:
        if isinstance(other, Money):
            self._same(other, "subtract")
            return Money._exact(self.amount - other.amount, self.currency)
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        if isinstance(other, float):
            raise FloatMoneyError("cannot subtract a float from Money")
        return NotImplemented

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __abs__(self) -> Money:
        return Money(abs(self.amount), self.currency)

    def __mul__(self, factor: object) -> Money:
        if isinstance(factor, int) and not isinstance(factor, bool):
            return Money(self.amount * factor, self.currency)
        if isinstance(factor, float):
            raise FloatMoneyError("cannot multiply Money by a float")
        return NotImplemented

    __rmul__ = __mul__

    def allocate(self, weights: Sequence[Money | Decimal | int]) -> list[Money]:
        """Split this amount over ``weights``; see :func:`allocate`."""
        return allocate(self, weights)

    # -- comparison --------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Money):
            return self.amount == other.amount and self.currency == other.currency
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.amount, self.currency))

    def _cmp(self, other: object) -> Decimal:
        if not isinstance(other, Money):
            raise TypeError(f"cannot compare Money with {type(other).__name__}")
        self._same(other, "compare")
        return self.amount - other.amount

    def __lt__(self, other: object) -> bool:
        return self._cmp(other) < 0

    def __le__(self, other: object) -> bool:
        return self._cmp(other) <= 0

    def __gt__(self, other: object) -> bool:
        return self._cmp(other) > 0

    def __ge__(self, other: object) -> bool:
        return self._cmp(other) >= 0

    def __bool__(self) -> bool:
        return bool(self.amount)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenModelError("Money is immutable; make a new amount", model="Money", field=name)

    def __delattr__(self, name: str) -> None:
        raise FrozenModelError("Money is immutable", model="Money", field=name)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Money, (str(self.amount), self.currency))

    def __repr__(self) -> str:
        return f"Money('{self.amount}', '{self.currency}')"

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def to_json(self) -> dict[str, str]:
        """Return the JSON form: ``{"amount": "12.34", "currency": "CNY"}``."""
        return {"amount": str(self.amount), "currency": self.currency}

    # -- pydantic -------------------------------------------------------------------------

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        from pydantic_core import core_schema as cs

        as_dict = cs.no_info_after_validator_function(
            _money_from_dict,
            cs.typed_dict_schema(
                {
                    "amount": cs.typed_dict_field(
                        cs.str_schema(pattern=_JSON_AMOUNT, max_length=40)
                    ),
                    "currency": cs.typed_dict_field(
                        cs.str_schema(pattern="^[A-Z]{3}$"), required=False
                    ),
                },
                extra_behavior="forbid",
            ),
        )
        return cs.json_or_python_schema(
            json_schema=as_dict,
            python_schema=cs.no_info_plain_validator_function(_money_from_python),
            serialization=cs.plain_serializer_function_ser_schema(_money_to_json, when_used="json"),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "object",
            "title": "Money",
            "description": (
                "An exact amount: a decimal string in major units plus an ISO 4217 code."
            ),
            "properties": {
                "amount": {"type": "string", "pattern": _JSON_AMOUNT, "examples": ["12.34"]},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "default": "CNY"},
            },
            "required": ["amount"],
            "additionalProperties": False,
        }


_CANONICAL_DIGITS: Final = frozenset("0123456789")
#: Parsed JSON amounts by (text, currency). Money is immutable, so one instance can
#: stand for every occurrence of an amount; orders repeat amounts a lot (0.00, prices).
_PARSED: dict[tuple[str, str], Money] = {}
_PARSED_LIMIT: Final = 8192


def _money_from_dict(value: dict[str, str]) -> Money:
    text = value["amount"]
    currency = value.get("currency", DEFAULT_CURRENCY)
    key = (text, currency)
    cached = _PARSED.get(key)
    if cached is not None:
        return cached
    money = _parse_json_amount(text, currency)
    if len(_PARSED) >= _PARSED_LIMIT:
        _PARSED.clear()
    _PARSED[key] = money
    return money


def _parse_json_amount(text: str, currency: str) -> Money:
    # Fast path for the canonical form this module writes: "-?digits.dd" in CNY.
    if (
        currency == DEFAULT_CURRENCY
        and len(text) > 3
        and text[-3] == "."
        and _CANONICAL_DIGITS.issuperset(text[-2:])
        and _CANONICAL_DIGITS.issuperset(text[1:-3])
        and (text[0] in _CANONICAL_DIGITS or (text[0] == "-" and len(text) > 4))
    ):
        amount = Decimal(text) + 0
        # More digits than the context holds get rounded by "+ 0"; Money() refuses those.
        if amount.as_tuple().exponent == -2:
            money = object.__new__(Money)
            object.__setattr__(money, "amount", amount)
            object.__setattr__(money, "currency", currency)
            return money
    return Money(text, currency)


def _money_from_python(value: object) -> Money:
    if type(value) is Money:
        return value
    if isinstance(value, dict):
        if "amount" not in value:
            raise MoneyError("money object needs an 'amount'")
        return Money(value["amount"], value.get("currency", DEFAULT_CURRENCY))
    if isinstance(value, Decimal | int | str | float):
        return Money(value)  # type: ignore[arg-type]  # a float raises FloatMoneyError
    raise MoneyError(f"expected Money, got {type(value).__name__}")


def _money_to_json(value: Money) -> dict[str, str]:
    return {"amount": str(value.amount), "currency": value.currency}


# -- parsing channel values ----------------------------------------------------------------


def parse_yuan(value: Decimal | int | str, currency: str = DEFAULT_CURRENCY) -> Money:
    """Parse a major-unit amount as channels send it: ``"12.34"``, ``Decimal("12.34")``, ``12``.

    A JSON number must reach this function as a :class:`~decimal.Decimal`
    (``json.loads(text, parse_float=Decimal)``); a float is refused.

    Raises:
        FloatMoneyError: ``value`` is a float.
        MoneyError: ``value`` is not a number or has sub-fen digits.
    """
    return Money(value, currency)


def parse_fen(value: int | str, currency: str = DEFAULT_CURRENCY) -> Money:
    """Parse an integer minor-unit amount as channels send it: ``1234`` or ``"1234"`` fen.

    Raises:
        FloatMoneyError: ``value`` is a float.
        MoneyError: ``value`` is not a whole number.
    """
    return Money.from_minor(value, currency)


def sum_money(amounts: Iterable[Money], currency: str = DEFAULT_CURRENCY) -> Money:
    """Add amounts exactly; an empty iterable gives zero in ``currency``.

    Raises:
        CurrencyMismatch: the amounts are in different currencies, or not in ``currency``.
    """
    total = Money.zero(currency)
    for amount in amounts:
        total += amount
    return total


def allocate(total: Money, weights: Sequence[Money | Decimal | int]) -> list[Money]:
    """Split ``total`` in proportion to ``weights``; the parts always sum to ``total`` exactly.

    Uses the largest-remainder method on minor units: each part is its exact
    share rounded toward zero, and the fen left over go one each to the parts
    with the largest dropped fractions (the earlier part wins a tie). A typical
    use is spreading an order-level discount over the lines by their goods value.

    Args:
        total: The amount to split (may be negative, e.g. a discount).
        weights: Non-negative weights, one per part. When all are zero the
            amount is split evenly.

    Returns:
        One Money per weight, in the same order.

    Raises:
        AllocationError: no weights, a negative weight, or weights in another currency.
        FloatMoneyError: a weight is a float.
    """
    if not weights:
        raise AllocationError("cannot allocate over zero parts")
    exact: list[Fraction] = []
    for index, weight in enumerate(weights):
        if isinstance(weight, Money):
            if weight.currency != total.currency:
                raise AllocationError(
                    f"weight {index} is in {weight.currency}, the total in {total.currency}"
                )
            fraction = Fraction(weight.amount)
        else:
            fraction = Fraction(_to_decimal(weight, f"weight {index}"))
        if fraction < 0:
            raise AllocationError(f"weight {index} is negative ({redact(str(weight))})")
        exact.append(fraction)
    weight_sum = sum(exact, Fraction(0))
    if weight_sum == 0:
        exact = [Fraction(1)] * len(exact)
        weight_sum = Fraction(len(exact))
    minor = total.minor
    sign = -1 if minor < 0 else 1
    units = abs(minor)
    shares = [units * w / weight_sum for w in exact]
    floors = [s.numerator // s.denominator for s in shares]
    left = units - sum(floors)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [Money.from_minor(sign * f, total.currency) for f in floors]
