"""What a rule can look up besides the order: stock, history counters, carrier health, time.

Each lookup sits behind a small protocol, so a rule set runs with plain dicts in a
test and with a store, an inventory and shipment history in production.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from ordercore.timestamps import utc_now

if TYPE_CHECKING:
    from ordercore.schema import Order

__all__ = [
    "CarrierStats",
    "HistoryCounters",
    "RuleContext",
    "StockLevels",
]


@runtime_checkable
class StockLevels(Protocol):
    """Available units of a SKU, for ``stock(sku)`` and ``stock(sku, location)``."""

    def available(self, sku: str, location: str | None = None) -> int | None:
        """Units available to sell (``None`` when the SKU is unknown).

        ``location=None`` means all locations together.
        """
        ...


@runtime_checkable
class HistoryCounters(Protocol):
    """Counts over past orders, for ``history_count`` and ``history_orders``.

    ``key`` is the plain value the rule names (a phone number's digits, an address
    text, a buyer id); a provider that keeps counts must store only a keyed hash of it.
    """

    def count(self, counter: str, key: str, window: timedelta, now: datetime) -> int:
        """How many ``counter`` events (``"returns"``, ``"orders"``) ``key`` had in the window."""
        ...

    def distinct_orders(self, counter: str, key: str, window: timedelta, now: datetime) -> int:
        """How many different orders those events belong to."""
        ...


@runtime_checkable
class CarrierStats(Protocol):
    """Delivery health per carrier, for ``carrier_success``."""

    def success_rate(self, carrier: str, window: timedelta, now: datetime) -> Decimal | None:
        """The share (0 to 1) of the carrier's parcels delivered in the window, or ``None``."""
        ...


class _DictStock:
    __slots__ = ("_levels",)

    def __init__(self, levels: Mapping[str, int] | Mapping[tuple[str, str], int]) -> None:
        self._levels = dict(levels)

    def available(self, sku: str, location: str | None = None) -> int | None:
        if location is not None:
            return self._levels.get((sku, location))  # type: ignore[call-overload]
        found = self._levels.get(sku)  # type: ignore[call-overload]
        if found is not None:
            return int(found)
        per_location = [
            units for key, units in self._levels.items() if isinstance(key, tuple) and key[0] == sku
        ]
        return sum(per_location) if per_location else None


class _DictHistory:
    """``{"returns": {"13800138000": 6}}``, or ``(count, orders)`` pairs as values."""

    __slots__ = ("_counts",)

    def __init__(self, counts: Mapping[str, Mapping[str, int | tuple[int, int]]]) -> None:
        self._counts = {name: dict(values) for name, values in counts.items()}

    def _pair(self, counter: str, key: str) -> tuple[int, int]:
        found = self._counts.get(counter, {}).get(key, 0)
        if isinstance(found, tuple):
            return int(found[0]), int(found[1])
        return int(found), int(found)

    def count(self, counter: str, key: str, window: timedelta, now: datetime) -> int:
        return self._pair(counter, key)[0]

    def distinct_orders(self, counter: str, key: str, window: timedelta, now: datetime) -> int:
        return self._pair(counter, key)[1]


class _DictCarriers:
    __slots__ = ("_rates",)

    def __init__(self, rates: Mapping[str, Decimal | str | int]) -> None:
        self._rates = {name: Decimal(str(rate)) for name, rate in rates.items()}

    def success_rate(self, carrier: str, window: timedelta, now: datetime) -> Decimal | None:
        return self._rates.get(carrier)


def _stock_of(value: object) -> StockLevels | None:
    if value is None or isinstance(value, StockLevels):
        return value
    if isinstance(value, Mapping):
        return _DictStock(value)
    raise TypeError(f"stock must be a StockLevels or a mapping, not {type(value).__name__}")


def _history_of(value: object) -> HistoryCounters | None:
    if value is None or isinstance(value, HistoryCounters):
        return value
    if isinstance(value, Mapping):
        return _DictHistory(value)
    raise TypeError(f"history must be a HistoryCounters or a mapping, not {type(value).__name__}")


def _carriers_of(value: object) -> CarrierStats | None:
    if value is None or isinstance(value, CarrierStats):
        return value
    if isinstance(value, Mapping):
        return _DictCarriers(value)
    raise TypeError(f"carriers must be a CarrierStats or a mapping, not {type(value).__name__}")


@attrs.frozen(slots=True)
class RuleContext:
    """Everything a rule may look up besides the order itself.

    Plain mappings work in place of providers: ``stock={"PIL-001": 3}`` (or
    ``{("PIL-001", "hangzhou"): 3}``), ``history={"returns": {"13800138000": 6}}``,
    ``carriers={"SF": "0.92"}``.

    Attributes:
        now: The current time (aware UTC); ``None`` means the clock at evaluation.
        stock: Available units per SKU, for ``stock(...)``.
        history: Counters over past orders, for ``history_count`` / ``history_orders``.
        carriers: Delivery success rates, for ``carrier_success``.
        combined: The orders shipping together with this one (D5), for ``combined``;
            empty means just the order itself.

    Example:
        >>> ctx = RuleContext(stock={"PIL-001": 0})
        >>> ctx.stock.available("PIL-001")
        0
    """

    now: datetime | None = None
    stock: StockLevels | None = attrs.field(default=None, converter=_stock_of)
    history: HistoryCounters | None = attrs.field(default=None, converter=_history_of)
    carriers: CarrierStats | None = attrs.field(default=None, converter=_carriers_of)
    combined: Sequence[Order] = attrs.field(default=(), converter=tuple)

    def clock(self) -> datetime:
        """The evaluation time: :attr:`now`, or the current UTC time."""
        return self.now if self.now is not None else utc_now()

    def at(self, now: datetime) -> RuleContext:
        """The same context with :attr:`now` set (its providers are not converted again)."""
        pinned = object.__new__(RuleContext)
        for name in _FIELDS:
            object.__setattr__(pinned, name, getattr(self, name))
        object.__setattr__(pinned, "now", now)
        return pinned


_FIELDS = tuple(field.name for field in attrs.fields(RuleContext))
EMPTY_CONTEXT = RuleContext()
