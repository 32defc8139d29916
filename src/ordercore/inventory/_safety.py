"""Safety stock (D24): a per-SKU floor, and one alert each time availability falls below it.

A :class:`SafetyStockRule` gives a SKU's floor either as a fixed ``threshold``
or as a forecast: the next ``forecast_days`` days of expected sales, taken as the
moving average of the units committed (shipped) per day over the last
``window_days`` days of the ledger, times ``forecast_days``. A window counts
calendar days, days without sales included: 42 units shipped in a 14-day window
is 3 a day, and a 3-day forecast of 9 units.

A :class:`SafetyStockMonitor` is told a SKU's availability after each change
(:meth:`~SafetyStockMonitor.check`) and publishes an alert, an
:class:`~ordercore.storage.kit.OutboxEntry` with topic ``stock.below_safety``,
**once per crossing**:

- a SKU is *armed* until its availability is seen below the floor
  (``available < threshold``); that check alerts and *trips* it;
- while tripped, further checks below the floor (more reservations, a deeper
  fall) publish nothing;
- a check at or above the floor (``available >= threshold``: a receipt, a
  release) *re-arms* it, silently; the next fall below alerts again.

A forecast floor moves with sales, so a SKU can also cross because its floor
rose while its stock stayed put; that is a crossing like any other. A SKU
without a rule is never checked. The armed / tripped state lives in a
:class:`CrossingStore` (a dict in :class:`MemoryCrossingStore`; an inventory
backend keeps it in its database, in the transaction of the change), so a restart
does not alert again for a crossing already reported.

An :class:`~ordercore.inventory.Inventory` runs this itself: rules set with
``Inventory.set_safety_stock`` are kept as settings (``safety:<sku>``), and every
operation that changes a SKU's stock checks it in its own transaction, over a
:class:`SettingsCrossingStore` (``crossing:<sku>``), with forecasts cached in
``forecast:<sku>``. A standalone monitor is for stock kept elsewhere.

Example:
    >>> from ordercore.inventory._safety import SafetyStockMonitor, SafetyStockRule
    >>> alerts = []
    >>> monitor = SafetyStockMonitor([SafetyStockRule(sku="MUG-1", threshold=10)],
    ...                              sink=alerts.append)
    >>> [monitor.check("MUG-1", n) is not None for n in (12, 9, 7, 10, 3)]
    [False, True, False, False, True]
    >>> alerts[0].topic, alerts[0].payload["available"], alerts[0].payload["threshold"]
    ('stock.below_safety', 9, 10)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from ordercore.errors import ConfigurationError
from ordercore.inventory._backend import LedgerRow
from ordercore.inventory._model import EntryKind, LedgerEntry
from ordercore.storage.kit import OutboxEntry
from ordercore.timestamps import utc_now

__all__ = [
    "BELOW_SAFETY",
    "CrossingState",
    "CrossingStore",
    "Forecast",
    "MemoryCrossingStore",
    "SafetyLevel",
    "SafetyStockMonitor",
    "SafetyStockRule",
    "SettingsCrossingStore",
    "crossing_key",
    "forecast",
    "forecast_key",
    "ledger_reader",
    "level_for",
    "rule_key",
]

#: The topic of a safety-stock alert (stream ``stock``).
BELOW_SAFETY: Final = "stock.below_safety"

_STREAM: Final = "stock"


def _whole(owner: str, field: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(
            f"{owner}.{field} must be a whole number >= {minimum}, got {value!r}"
        )


@attrs.frozen(kw_only=True)
class SafetyStockRule:
    """A SKU's safety stock: a fixed threshold, or a forecast of the next days' sales.

    Attributes:
        sku: The merchant SKU (its availability over all locations is checked).
        threshold: Alert when fewer units than this are available.
        forecast_days: Alert when fewer units are available than the forecast
            sales of this many days.
        window_days: The days of ledger history the forecast averages over.

    Raises:
        ConfigurationError: not exactly one of ``threshold`` and ``forecast_days``,
            or a number out of range (the message names the field).
    """

    sku: str
    threshold: int | None = None
    forecast_days: int | None = None
    window_days: int = 14

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.sku, str) or not self.sku:
            raise ConfigurationError(
                f"SafetyStockRule.sku must be a non-empty string: {self.sku!r}"
            )
        if (self.threshold is None) == (self.forecast_days is None):
            raise ConfigurationError(
                f"SafetyStockRule for {self.sku!r} needs exactly one of threshold and forecast_days"
            )
        if self.threshold is not None:
            _whole("SafetyStockRule", "threshold", self.threshold, minimum=0)
        if self.forecast_days is not None:
            _whole("SafetyStockRule", "forecast_days", self.forecast_days, minimum=1)
        _whole("SafetyStockRule", "window_days", self.window_days, minimum=1)

    def to_json(self) -> str:
        """The rule as JSON text (how an inventory keeps it, in the setting ``safety:<sku>``)."""
        return json.dumps(
            {
                "sku": self.sku,
                "threshold": self.threshold,
                "forecast_days": self.forecast_days,
                "window_days": self.window_days,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> SafetyStockRule:
        """Read a rule written by :meth:`to_json` (validated again).

        Raises:
            ConfigurationError: the text is not a valid rule.
        """
        try:
            body = json.loads(text)
            return cls(
                sku=body["sku"],
                threshold=body["threshold"],
                forecast_days=body["forecast_days"],
                window_days=body["window_days"],
            )
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigurationError(f"not a stored safety stock rule: {exc}") from None


@attrs.frozen(kw_only=True)
class Forecast:
    """Expected sales of a SKU, from the units committed in a window of the ledger.

    Attributes:
        sku: The merchant SKU.
        days: How many days ahead.
        window_days: How many days the average is taken over.
        committed_units: Units committed (shipped) in the window, all locations.
        start: The window's start (exclusive).
        end: The window's end (inclusive): the time of the forecast.
    """

    sku: str
    days: int
    window_days: int
    committed_units: int
    start: datetime
    end: datetime

    @property
    def daily_average(self) -> Fraction:
        """Units committed per day over the window, exactly."""
        return Fraction(self.committed_units, self.window_days)

    @property
    def expected(self) -> Fraction:
        """Units expected to sell in the next :attr:`days` days, exactly."""
        return self.daily_average * self.days

    @property
    def threshold(self) -> int:
        """The smallest whole number of units not below :attr:`expected`.

        ``available < threshold`` exactly when ``available < expected``.
        """
        return math.ceil(self.expected)


def forecast(
    ledger_entries: Iterable[LedgerEntry | LedgerRow],
    sku: str,
    *,
    days: int,
    window_days: int,
    now: datetime,
) -> Forecast:
    """Forecast a SKU's sales of the next ``days`` days from its recent commits.

    The forecast is the moving average of daily committed units over the
    ``window_days`` days up to ``now`` (entries with ``now - window_days < at <= now``;
    ``EntryKind.COMMIT`` entries of ``sku`` at any location, each counting
    ``-on_hand`` units), times ``days``. Entries of other SKUs and kinds are ignored,
    so the whole ledger may be passed (as :class:`LedgerEntry` values, or as a
    backend's rows).

    Raises:
        ConfigurationError: ``days`` or ``window_days`` below 1, or ``now`` naive.

    Example:
        >>> from datetime import UTC, datetime
        >>> now = datetime(2026, 11, 11, tzinfo=UTC)
        >>> f = forecast([], "MUG-1", days=3, window_days=14, now=now)
        >>> f.committed_units, f.expected, f.threshold
        (0, Fraction(0, 1), 0)
    """
    _whole("forecast", "days", days, minimum=1)
    _whole("forecast", "window_days", window_days, minimum=1)
    if now.tzinfo is None:
        raise ConfigurationError("forecast: now must be timezone-aware")
    start = now - timedelta(days=window_days)
    units = 0
    for entry in ledger_entries:
        if (
            entry.kind == EntryKind.COMMIT
            and entry.sku == sku
            and start < entry.at <= now
            and entry.on_hand < 0
        ):
            units -= entry.on_hand
    return Forecast(
        sku=sku, days=days, window_days=window_days, committed_units=units, start=start, end=now
    )


@attrs.frozen(kw_only=True)
class SafetyLevel:
    """The floor in force for a SKU at one moment, and what it is based on.

    Attributes:
        sku: The merchant SKU.
        threshold: Alert when fewer units than this are available.
        basis: How it was found, as JSON: ``{"kind": "threshold"}`` or
            ``{"kind": "forecast", "days", "window_days", "committed_units",
            "daily_average", "expected", "window_start", "window_end"}``
            (averages as exact fractions in text, ``"7/2"``).
    """

    sku: str
    threshold: int
    basis: Mapping[str, Any]

    def to_json(self) -> str:
        """The level as JSON text (an inventory caches forecasts as ``forecast:<sku>``)."""
        return json.dumps(
            {"sku": self.sku, "threshold": self.threshold, "basis": dict(self.basis)},
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> SafetyLevel:
        """Read a level written by :meth:`to_json`.

        Raises:
            ConfigurationError: the text is not a stored level.
        """
        try:
            body = json.loads(text)
            return cls(sku=body["sku"], threshold=int(body["threshold"]), basis=body["basis"])
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigurationError(f"not a stored safety level: {exc}") from None


def level_for(
    rule: SafetyStockRule,
    *,
    now: datetime,
    entries: Iterable[LedgerEntry | LedgerRow] | None = None,
) -> SafetyLevel:
    """The floor a rule sets at ``now``: its threshold, or its forecast over ``entries``.

    Raises:
        ConfigurationError: a forecast rule without ``entries``, or ``now`` naive.
    """
    if rule.threshold is not None:
        return SafetyLevel(sku=rule.sku, threshold=rule.threshold, basis={"kind": "threshold"})
    assert rule.forecast_days is not None
    if entries is None:
        raise ConfigurationError(
            f"the safety stock of {rule.sku!r} is a forecast: it needs the SKU's ledger entries"
        )
    found = forecast(
        entries, rule.sku, days=rule.forecast_days, window_days=rule.window_days, now=now
    )
    return SafetyLevel(
        sku=rule.sku,
        threshold=found.threshold,
        basis={
            "kind": "forecast",
            "days": found.days,
            "window_days": found.window_days,
            "committed_units": found.committed_units,
            "daily_average": str(found.daily_average),
            "expected": str(found.expected),
            "window_start": found.start.isoformat(),
            "window_end": found.end.isoformat(),
        },
    )


@attrs.frozen(kw_only=True)
class CrossingState:
    """Whether a SKU is below its safety stock, as the monitor last saw it.

    Attributes:
        below: Tripped (an alert was published and availability has not been
            seen at or above the floor since).
        alerts: How many alerts the SKU has had (the alert's aggregate version).
        since: When it last went below.
    """

    below: bool = False
    alerts: int = 0
    since: datetime | None = None

    def to_json(self) -> str:
        """The state as JSON text (the setting ``crossing:<sku>``)."""
        since = None if self.since is None else self.since.isoformat()
        return json.dumps(
            {"below": self.below, "alerts": self.alerts, "since": since}, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, text: str) -> CrossingState:
        """Read a state written by :meth:`to_json`.

        Raises:
            ConfigurationError: the text is not a stored crossing state.
        """
        try:
            body = json.loads(text)
            since = body["since"]
            return cls(
                below=bool(body["below"]),
                alerts=int(body["alerts"]),
                since=None if since is None else datetime.fromisoformat(since),
            )
        except (TypeError, ValueError, KeyError) as exc:
            raise ConfigurationError(f"not a stored crossing state: {exc}") from None


@runtime_checkable
class CrossingStore(Protocol):
    """Where the monitor keeps each SKU's :class:`CrossingState`."""

    def get(self, sku: str) -> CrossingState | None:
        """The SKU's state, or ``None`` if it was never checked (armed)."""
        ...

    def put(self, sku: str, state: CrossingState) -> None:
        """Store the SKU's state."""
        ...


class MemoryCrossingStore:
    """A :class:`CrossingStore` in a dict (state is lost with the process)."""

    def __init__(self) -> None:
        self._states: dict[str, CrossingState] = {}

    def get(self, sku: str) -> CrossingState | None:
        """The SKU's state, or ``None``."""
        return self._states.get(sku)

    def put(self, sku: str, state: CrossingState) -> None:
        """Store the SKU's state."""
        self._states[sku] = state


class _Settings(Protocol):
    def get_setting(self, key: str, *, lock: bool = False) -> str | None: ...

    def put_setting(self, key: str, value: str | None) -> None: ...


def rule_key(sku: str) -> str:
    """The setting that keeps a SKU's :class:`SafetyStockRule`: ``safety:<sku>``."""
    return f"safety:{sku}"


def crossing_key(sku: str) -> str:
    """The setting that keeps a SKU's :class:`CrossingState`: ``crossing:<sku>``."""
    return f"crossing:{sku}"


def forecast_key(sku: str) -> str:
    """The setting that caches a SKU's forecast :class:`SafetyLevel`: ``forecast:<sku>``."""
    return f"forecast:{sku}"


class SettingsCrossingStore:
    """A :class:`CrossingStore` in an inventory transaction's settings (``crossing:<sku>``).

    Reads lock the setting's row (``get_setting(..., lock=True)``) until the
    transaction ends, so two transactions checking one SKU take turns, and the
    second sees what the first wrote; a rolled-back transaction leaves the state
    as it was. Each SKU is read once per store (then served from the store).

    Args:
        txn: An open :class:`~ordercore.inventory.InventoryTxn` (anything with
            ``get_setting`` and ``put_setting``).
        lock: Lock what is read (``False`` in read-only transactions).
    """

    def __init__(self, txn: _Settings, *, lock: bool = True) -> None:
        self._txn = txn
        self._lock = lock
        self._seen: dict[str, CrossingState | None] = {}

    def get(self, sku: str) -> CrossingState | None:
        """The SKU's state, or ``None`` (armed, never checked)."""
        if sku not in self._seen:
            raw = self._txn.get_setting(crossing_key(sku), lock=self._lock)
            self._seen[sku] = None if raw is None else CrossingState.from_json(raw)
        return self._seen[sku]

    def put(self, sku: str, state: CrossingState) -> None:
        """Write the SKU's state in the transaction."""
        self._txn.put_setting(crossing_key(sku), state.to_json())
        self._seen[sku] = state


class _Ledger(Protocol):
    def ledger(
        self,
        *,
        sku: str | None = None,
        location: str | None = None,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[LedgerEntry]: ...


class _Stock(_Ledger, Protocol):
    def available(
        self, sku: str, *, location: str | None = None, channel: str | None = None
    ) -> int: ...


def ledger_reader(
    inventory: _Ledger, *, page: int = 1000
) -> Callable[[str], Iterator[LedgerEntry]]:
    """Return ``read(sku)``, which yields the SKU's ledger from an inventory, page by page."""

    def read(sku: str) -> Iterator[LedgerEntry]:
        after = 0
        while True:
            entries = inventory.ledger(sku=sku, after_seq=after, limit=page)
            yield from entries
            if len(entries) < page:
                return
            after = entries[-1].seq

    return read


class SafetyStockMonitor:
    """Checks availability against safety stock and alerts once per crossing.

    Args:
        rules: One rule per SKU.
        sink: Called with each alert (an outbox writer, a list's ``append``); it
            is called before the crossing is recorded, so an alert whose sink
            raised is published again by the next check below the floor.
        state: Where crossings are kept; a new :class:`MemoryCrossingStore` by default.
        ledger: ``read(sku)`` yielding the SKU's ledger entries, for forecast
            rules (see :func:`ledger_reader`); or pass ``entries`` to each check.
        clock: The time of checks made without ``now``.

    Raises:
        ConfigurationError: two rules for one SKU.
    """

    def __init__(
        self,
        rules: Iterable[SafetyStockRule],
        *,
        sink: Callable[[OutboxEntry], object] | None = None,
        state: CrossingStore | None = None,
        ledger: Callable[[str], Iterable[LedgerEntry]] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._rules: dict[str, SafetyStockRule] = {}
        for rule in rules:
            if rule.sku in self._rules:
                raise ConfigurationError(f"two safety stock rules for SKU {rule.sku!r}")
            self._rules[rule.sku] = rule
        self.sink = sink
        self.state: CrossingStore = state if state is not None else MemoryCrossingStore()
        self.ledger = ledger
        self.clock = clock

    @property
    def rules(self) -> Mapping[str, SafetyStockRule]:
        """The rules by SKU."""
        return dict(self._rules)

    def level(
        self,
        sku: str,
        *,
        now: datetime | None = None,
        entries: Iterable[LedgerEntry | LedgerRow] | None = None,
    ) -> SafetyLevel | None:
        """The floor in force for ``sku`` now, or ``None`` when it has no rule.

        Raises:
            ConfigurationError: a forecast rule, and neither ``entries`` nor a
                ``ledger`` to read them from.
        """
        rule = self._rules.get(sku)
        if rule is None:
            return None
        if rule.forecast_days is not None and entries is None:
            if self.ledger is None:
                raise ConfigurationError(
                    f"the safety stock of {sku!r} is a forecast: give the monitor a ledger "
                    "(ledger_reader(inventory)) or pass entries"
                )
            entries = self.ledger(sku)
        return level_for(rule, now=now if now is not None else self.clock(), entries=entries)

    def check(
        self,
        sku: str,
        available: int,
        *,
        now: datetime | None = None,
        entries: Iterable[LedgerEntry | LedgerRow] | None = None,
        level: SafetyLevel | None = None,
    ) -> OutboxEntry | None:
        """Check ``sku`` after a change; return the alert when this check crossed below.

        Args:
            sku: The merchant SKU.
            available: Its available units now (all locations).
            now: When; the monitor's clock by default.
            entries: Ledger entries for a forecast rule (else the monitor's ledger).
            level: The floor in force, found already (a cached forecast); then
                neither ``entries`` nor the ledger is read.

        Returns:
            The ``stock.below_safety`` outbox entry (already handed to the sink),
            or ``None``: no rule, not below, or below and already alerted.
        """
        if sku not in self._rules:
            return None
        if level is None:
            level = self.level(sku, now=now, entries=entries)
            assert level is not None
        state = self.state.get(sku) or CrossingState()
        below = available < level.threshold
        if below == state.below:
            return None
        if not below:
            self.state.put(sku, CrossingState(below=False, alerts=state.alerts))
            return None
        when = now if now is not None else self.clock()
        alert = OutboxEntry(
            stream=_STREAM,
            aggregate_id=f"safety:{sku}",
            aggregate_version=state.alerts + 1,
            topic=BELOW_SAFETY,
            payload={
                "sku": sku,
                "available": available,
                "threshold": level.threshold,
                "basis": dict(level.basis),
                "crossing": state.alerts + 1,
                "at": when.isoformat(),
            },
        )
        if self.sink is not None:
            self.sink(alert)
        self.state.put(sku, CrossingState(below=True, alerts=state.alerts + 1, since=when))
        return alert

    def check_inventory(
        self,
        inventory: _Stock,
        skus: Iterable[str] | None = None,
        *,
        now: datetime | None = None,
    ) -> list[OutboxEntry]:
        """Check SKUs (every SKU with a rule by default) against an inventory's stock.

        Availability is ``inventory.available(sku)`` over all locations; forecast
        rules read the inventory's ledger when the monitor has no ledger of its own.
        """
        read = self.ledger or ledger_reader(inventory)
        alerts = []
        for sku in sorted(self._rules) if skus is None else skus:
            rule = self._rules.get(sku)
            if rule is None:
                continue
            entries = read(sku) if rule.forecast_days is not None else None
            alert = self.check(sku, inventory.available(sku), now=now, entries=entries)
            if alert is not None:
                alerts.append(alert)
        return alerts
