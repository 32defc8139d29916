"""The inventory engine: every business rule, written once over the backend primitives."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Final, Self

from ordercore.errors import (
    AdjustmentError,
    ConfigurationError,
    IdempotencyConflict,
    InsufficientStock,
    InventoryError,
    ReservationNotFound,
    ReservationStateError,
    TransferError,
    UnknownLocation,
)
from ordercore.ids import new_id
from ordercore.inventory._backend import (
    Busy,
    InventoryBackend,
    InventoryTxn,
    LedgerRow,
    StockKey,
    StockRow,
    stock_payload,
)
from ordercore.inventory._model import (
    Adjustment,
    AdjustmentStatus,
    BackorderPolicy,
    Drift,
    EntryKind,
    GiftPolicy,
    LedgerEntry,
    Location,
    LocationKind,
    Reservation,
    ReservationLine,
    ReservationRequest,
    ReservationStatus,
    ReservedLine,
    StockLevel,
    Transfer,
    TransferStatus,
)
from ordercore.inventory._safety import (
    CrossingState,
    SafetyLevel,
    SafetyStockMonitor,
    SafetyStockRule,
    SettingsCrossingStore,
    crossing_key,
    forecast_key,
    level_for,
    rule_key,
)
from ordercore.schema import Actor, ActorKind
from ordercore.storage.kit import OutboxEntry
from ordercore.timestamps import utc_now

__all__ = ["FORECAST_MAX_AGE", "STOCK_STREAM", "STOCK_TOPIC", "Inventory"]

#: The outbox stream of stock messages; the aggregate id is ``"{sku}@{location}"``.
STOCK_STREAM: Final = "stock"
#: The topic of every stock message.
STOCK_TOPIC: Final = "stock.changed"

_SYSTEM: Final = Actor(kind=ActorKind.SYSTEM, id="ordercore.inventory")
_SYSTEM_ACTOR: Final = (_SYSTEM.kind.value, _SYSTEM.id)
_FIELDS: Final = ("on_hand", "reserved", "in_transfer", "damaged")
_HOLDING: Final = frozenset({ReservationStatus.ACTIVE, ReservationStatus.PARTIALLY_COMMITTED})
_OPEN: Final = frozenset({*_HOLDING, ReservationStatus.BACKORDERED})
_RETRY_BATCH: Final = 1000
_LEDGER_PAGE: Final = 1000
#: How long a cached safety-stock forecast is used before it is computed again.
FORECAST_MAX_AGE: Final = timedelta(hours=1)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
#: ``json.dumps(value, separators=(",", ":"))`` without building an encoder per call.
_RECORD_JSON: Final = json.JSONEncoder(separators=(",", ":")).encode


def _micros(value: datetime | None) -> int | None:
    return None if value is None else _to_us(value)


def _to_us(value: datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _from_us(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + timedelta(microseconds=value)


def _text_arg(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > 256:
        raise ConfigurationError(
            f"{name} must be a non-empty string of at most 256 characters, got {str(value)[:60]!r}"
        )
    return value


def _quantity_arg(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{name} must be a whole number > 0, got {value!r}")
    return value


def _actor_arg(value: object) -> Actor:
    if not isinstance(value, Actor):
        raise ConfigurationError(f"actor must be an ordercore.schema.Actor, got {value!r}")
    return value


def _same_actor(a: Actor, b: Actor) -> bool:
    return a.kind == b.kind and a.id == b.id


def _actor_json(actor: Actor | None) -> list[str] | None:
    return None if actor is None else [actor.kind.value, actor.id]


def _actor_from(value: Sequence[str] | None) -> Actor | None:
    return None if value is None else Actor(kind=ActorKind(value[0]), id=value[1])


def _line_json(line: ReservationLine) -> list[Any]:
    return [line.sku, line.quantity, line.location, line.gift, line.bundle]


def _line_from(value: Sequence[Any]) -> ReservationLine:
    return ReservationLine(
        sku=value[0], quantity=value[1], location=value[2], gift=value[3], bundle=value[4]
    )


class _Rec:
    """A reservation record as the engine keeps it (JSON in the backend)."""

    __slots__ = (
        "backorder",
        "channel",
        "created",
        "dropped",
        "expires",
        "fp",
        "gift_policy",
        "id",
        "lines",
        "location",
        "quota",
        "status",
        "ttl",
        "updated",
        "version",
        "waiting",
    )

    def __init__(self, request: ReservationRequest, now: int) -> None:
        self.id = request.reservation_id
        self.status = ReservationStatus.ACTIVE
        #: [sku, location, quantity, committed, gift]
        self.lines: list[list[Any]] = []
        self.channel = request.channel
        self.created = now
        self.updated = now
        ttl = request.ttl
        self.ttl = None if ttl is None else ttl.total_seconds()
        self.expires: int | None = None if ttl is None else now + _ttl_us(ttl)
        self.dropped: list[list[Any]] = []
        self.waiting: list[list[Any]] = []
        self.version = 1
        #: the request's fingerprint, computed only when an idempotency key needs it
        self.fp = ""
        self.gift_policy = request.gift_policy.value
        self.backorder = request.backorder.value
        self.location = request.location
        #: units of each SKU counted against the channel's quota and still held
        self.quota: dict[str, int] = {}

    def encode(self) -> str:
        return _RECORD_JSON(
            [
                self.id,
                self.status.value,
                self.lines,
                self.channel,
                self.created,
                self.updated,
                self.expires,
                self.dropped,
                self.waiting,
                self.version,
                self.ttl,
                self.fp,
                self.gift_policy,
                self.backorder,
                self.location,
                self.quota,
            ]
        )

    @classmethod
    def decode(cls, text: str) -> _Rec:
        rec = cls.__new__(cls)
        (
            rec.id,
            status,
            rec.lines,
            rec.channel,
            rec.created,
            rec.updated,
            rec.expires,
            rec.dropped,
            rec.waiting,
            rec.version,
            rec.ttl,
            rec.fp,
            rec.gift_policy,
            rec.backorder,
            rec.location,
            rec.quota,
        ) = json.loads(text)
        rec.status = ReservationStatus(status)
        return rec

    def add_line(self, sku: str, location: str, quantity: int, gift: bool) -> None:
        for line in self.lines:
            if line[0] == sku and line[1] == location and line[4] == gift:
                line[2] += quantity
                return
        self.lines.append([sku, location, quantity, 0, gift])

    def open_by_key(self) -> dict[StockKey, int]:
        held: dict[StockKey, int] = {}
        for sku, location, quantity, committed, _ in self.lines:
            if quantity > committed:
                key = (sku, location)
                held[key] = held.get(key, 0) + quantity - committed
        return held

    def waiting_skus(self) -> set[str]:
        return {line[0] for line in self.waiting}

    def reservation(self) -> Reservation:
        return Reservation(
            id=self.id,
            status=self.status,
            lines=tuple(
                ReservedLine(sku=s, location=loc, quantity=q, committed=c, gift=g)
                for s, loc, q, c, g in self.lines
            ),
            channel=self.channel,
            created_at=_EPOCH + timedelta(microseconds=self.created),
            updated_at=_EPOCH + timedelta(microseconds=self.updated),
            expires_at=_from_us(self.expires),
            dropped=tuple(_line_from(line) for line in self.dropped),
            waiting=tuple(_line_from(line) for line in self.waiting),
            version=self.version,
        )


def _ttl_us(ttl: timedelta) -> int:
    return (ttl.days * 86_400 + ttl.seconds) * 1_000_000 + ttl.microseconds


class _Op:
    """The pending writes of one operation: ledger rows, touched counters, undo marks."""

    __slots__ = ("actor", "applied", "at", "cause", "ledger", "touched", "txn")

    def __init__(self, txn: InventoryTxn, at: datetime, actor: Actor, cause: str) -> None:
        self.txn = txn
        self.at = at
        self.actor = actor
        self.cause = cause
        self.ledger: list[LedgerRow] = []
        #: key -> [available before the operation, row now]
        self.touched: dict[StockKey, list[Any]] = {}
        #: what can be undone: ("stock", sku, location, deltas) or ("quota", sku, channel, n)
        self.applied: list[tuple[Any, ...]] = []

    def change(
        self,
        sku: str,
        location: str,
        kind: EntryKind,
        on_hand: int = 0,
        reserved: int = 0,
        in_transfer: int = 0,
        damaged: int = 0,
        *,
        reservation_id: str | None = None,
        adjustment_id: str | None = None,
        transfer_id: str | None = None,
        reason: str | None = None,
        actor: Actor | None = None,
    ) -> StockRow | None:
        row = self.txn.change_stock(sku, location, on_hand, reserved, in_transfer, damaged)
        if row is None:
            return None
        who = actor or self.actor
        self.ledger.append(
            LedgerRow(
                0,
                self.at,
                sku,
                location,
                kind.value,
                on_hand,
                reserved,
                in_transfer,
                damaged,
                reservation_id,
                adjustment_id,
                transfer_id,
                who.kind.value,
                who.id,
                reason,
            )
        )
        key = (sku, location)
        seen = self.touched.get(key)
        if seen is None:
            self.touched[key] = [row.available - (on_hand - reserved - in_transfer), row]
        else:
            seen[1] = row
        self.applied.append(("stock", sku, location, (on_hand, reserved, in_transfer, damaged)))
        return row

    def add_quota(self, sku: str, channel: str, units: int) -> bool:
        if not self.txn.add_quota_used(sku, channel, units):
            return False
        self.applied.append(("quota", sku, channel, units))
        return True

    def mark(self) -> tuple[int, int]:
        return len(self.ledger), len(self.applied)

    def undo(self, mark: tuple[int, int]) -> None:
        """Take back what was applied since ``mark`` (within this still-open transaction)."""
        ledger_len, applied_len = mark
        for item in reversed(self.applied[applied_len:]):
            if item[0] == "stock":
                _, sku, location, (oh, r, t, d) = item
                row = self.txn.change_stock(sku, location, -oh, -r, -t, -d)
                if row is None:  # pragma: no cover - restoring is always allowed
                    raise InventoryError(f"could not undo a change of {sku}@{location}")
                self.touched[(sku, location)][1] = row
            else:
                _, sku, channel, units = item
                self.txn.add_quota_used(sku, channel, -units)
        del self.applied[applied_len:]
        del self.ledger[ledger_len:]

    def flush(self) -> None:
        """Append the pending ledger entries (nothing can be undone after this)."""
        if self.ledger:
            self.txn.append_ledger(self.ledger)
            self.ledger = []
            self.applied = []

    def finish(self, extra: Sequence[OutboxEntry] = ()) -> None:
        """Append the ledger; write a stock message per changed availability, then ``extra``."""
        self.flush()
        messages = []
        for (sku, location), (before, row) in self.touched.items():
            if row.available != before:
                messages.append(
                    OutboxEntry(
                        stream=STOCK_STREAM,
                        aggregate_id=f"{sku}@{location}",
                        aggregate_version=row.version,
                        topic=STOCK_TOPIC,
                        payload=stock_payload(sku, location, row, self.cause),
                    )
                )
        messages.extend(extra)
        if messages:
            self.txn.write_outbox(messages)


def _short(
    txn: InventoryTxn, sku: str, location: str | None, requested: int, channel: str | None = None
) -> InsufficientStock:
    if location is None:
        available = sum(max(row.available, 0) for row in txn.stock_rows(sku).values())
    else:
        row = txn.stock_rows(sku, location).get((sku, location))
        available = 0 if row is None else max(row.available, 0)
    return _shortage(sku, location, requested, available, channel)


def _shortage(
    sku: str, location: str | None, requested: int, available: int, channel: str | None = None
) -> InsufficientStock:
    where = "over all locations" if location is None else f"at {location}"
    return InsufficientStock(
        f"{requested} units of {sku} requested {where}, {available} available",
        sku=sku,
        location=location,
        requested=requested,
        available=available,
        channel=channel,
    )


def _total(txn: InventoryTxn, sku: str) -> int:
    """A SKU's available units over all locations (what ``available(sku)`` answers)."""
    return sum(max(row.available, 0) for row in txn.stock_rows(sku).values())


class _RowBusy(Exception):
    """A row the backorder serving phase needs is held by another transaction."""


def _locked_quota(txn: InventoryTxn, sku: str, channel: str) -> tuple[int, int] | None:
    """A quota row, locked (waiting for it when another transaction holds it)."""
    quota = txn.get_quota(sku, channel, lock=True)
    if isinstance(quota, Busy):  # pragma: no cover - only skip_locked reads answer busy
        raise InventoryError(
            f"the backend answered busy for the quota of {sku} through {channel} "
            "without skip_locked"
        )
    return quota


def _lock_candidates(
    txn: InventoryTxn,
    requests: Iterable[ReservationRequest],
    also: Iterable[StockKey] = (),
) -> frozenset[StockKey]:
    """Lock every stock row ``requests`` may change, sorted, in one call; return the keys.

    The candidates are the keys of located lines (and ``also``) and every stock
    row of each SKU that has a line without a location; unlocated lines are
    then placed only on those rows (see the lock order in ``_backend``).
    """
    keys: set[StockKey] = set(also)
    unlocated: set[str] = set()
    for request in requests:
        for line in request.lines:
            location = line.location or request.location
            if location is None:
                unlocated.add(line.sku)
            else:
                keys.add((line.sku, location))
    for sku in sorted(unlocated):
        keys.update(txn.stock_rows(sku))
    ordered = sorted(keys)
    if len(ordered) > 1:
        txn.lock_stock(ordered)
    return frozenset(ordered)


def _ledger_rows(txn: InventoryTxn, sku: str) -> Iterator[LedgerRow]:
    """A SKU's ledger rows in this transaction, page by page."""
    after = 0
    while True:
        rows = txn.ledger(sku, None, after, _LEDGER_PAGE)
        yield from rows
        if len(rows) < _LEDGER_PAGE:
            return
        after = rows[-1].seq


def _level(sku: str, location: str, row: StockRow) -> StockLevel:
    return StockLevel(
        sku=sku,
        location=location,
        on_hand=row.on_hand,
        reserved=row.reserved,
        in_transfer=row.in_transfer,
        damaged=row.damaged,
    )


class Inventory:
    """Stock per SKU and location over a backend: reserve, commit, release, move, adjust, verify.

    Every method is one backend transaction: counters, ledger entries, records,
    idempotency keys and outbox messages commit together or not at all. A
    method that raises changed nothing.

    Safety stock (D24) is checked by every operation that changes stock, in its
    own transaction: see :meth:`set_safety_stock`.

    Args:
        backend: Where the stock lives (see :func:`~ordercore.inventory.open_inventory`).
        clock: Returns the current aware UTC time.
        forecast_max_age: How long a cached safety-stock forecast is used before
            an operation computes it again from the ledger (an hour by default;
            also :attr:`forecast_max_age`).

    Example:
        >>> from ordercore.inventory import open_inventory, Location, ReservationRequest
        >>> from ordercore.inventory import ReservationLine
        >>> from ordercore.schema import Actor
        >>> inv = open_inventory("memory://")
        >>> inv.add_location(Location(id="WH1"))
        >>> staff = Actor(kind="person", id="li")
        >>> inv.receive("SKU-1", "WH1", 5, actor=staff).available
        5
        >>> line = ReservationLine(sku="SKU-1", quantity=2, location="WH1")
        >>> r = inv.reserve(ReservationRequest(reservation_id="o1", lines=[line]))
        >>> r.status.value, inv.available("SKU-1")
        ('active', 3)
    """

    def __init__(
        self,
        backend: InventoryBackend,
        *,
        clock: Callable[[], datetime] = utc_now,
        forecast_max_age: timedelta = FORECAST_MAX_AGE,
    ) -> None:
        if not isinstance(forecast_max_age, timedelta) or forecast_max_age <= timedelta(0):
            raise ConfigurationError(
                f"forecast_max_age must be a positive timedelta, got {forecast_max_age!r}"
            )
        self.backend = backend
        self._clock = clock
        self._locations: dict[str, Location] = {}
        #: The backend's one-line reservation, when it has one (see ``_backend``).
        self._reserve_one: Callable[..., StockRow | int | None] | None = getattr(
            backend, "reserve_one", None
        )
        #: How long a cached forecast is used before it is computed again.
        self.forecast_max_age = forecast_max_age

    # -- plumbing -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The backend's URL."""
        return self.backend.url

    def close(self) -> None:
        """Close the backend."""
        self.backend.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Inventory {self.backend!r}>"

    def _now(self, now: datetime | None) -> datetime:
        if now is None:
            return self._clock()
        if not isinstance(now, datetime) or now.tzinfo is None:
            raise ConfigurationError(f"now must be an aware datetime, got {now!r}")
        return now

    def _known(self, txn: InventoryTxn, location: str) -> None:
        if location in self._locations:
            return
        self._load_locations(txn)
        if location not in self._locations:
            raise UnknownLocation(
                f"unknown location {location!r}; add it with add_location() first",
                location=location,
            )

    def _load_locations(self, txn: InventoryTxn) -> None:
        for data in txn.locations():
            location = _location_from(data)
            self._locations[location.id] = location

    # -- locations and quotas ---------------------------------------------------------------

    def add_location(self, location: Location) -> None:
        """Add a location (or replace its description).

        Raises:
            ConfigurationError: ``location`` is not a :class:`Location`.
        """
        if not isinstance(location, Location):
            raise ConfigurationError(f"add_location() takes a Location, got {location!r}")
        with self.backend.transaction() as txn:
            txn.put_location(location.id, _location_json(location))
        self._locations[location.id] = location

    def locations(self) -> list[Location]:
        """Every location, by priority then id."""
        with self.backend.reading() as txn:
            found = [_location_from(data) for data in txn.locations()]
        for location in found:
            self._locations[location.id] = location
        return sorted(found, key=lambda loc: (loc.priority, loc.id))

    def set_quota(self, sku: str, channel: str, quantity: int | None) -> None:
        """Limit what ``channel`` may hold of ``sku`` (reserved plus committed), or lift it.

        A channel then sees ``min(available, quota - used)``. Units reserved
        through the channel count as used until released; committed units stay
        used. ``None`` removes the quota. Raising or removing a quota serves the
        SKU's waiting requests.

        Raises:
            ConfigurationError: a bad SKU, channel or quantity.
        """
        _text_arg("sku", sku)
        _text_arg("channel", channel)
        if quantity is not None and (
            isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0
        ):
            raise ConfigurationError(
                f"quantity must be a whole number >= 0 or None, got {quantity!r}"
            )
        with self.backend.transaction() as txn:
            txn.set_quota(sku, channel, quantity)
            op = _Op(txn, self._clock(), _SYSTEM, "quota")
            self._retry_backorders(op, {sku})
            self._finish(op)

    def quotas(self, sku: str | None = None) -> dict[tuple[str, str], tuple[int, int]]:
        """Quotas as ``{(sku, channel): (quota, used)}``."""
        with self.backend.reading() as txn:
            return txn.quotas(sku)

    # -- safety stock ------------------------------------------------------------------------

    def set_safety_stock(
        self, rule: SafetyStockRule, *, now: datetime | None = None
    ) -> SafetyLevel:
        """Set (or replace) a SKU's safety stock; alert at once if it is below it already.

        The rule is kept in the backend (setting ``safety:<sku>``), so every
        process using the inventory applies it. From then on, every operation
        that changes the SKU's stock (reserve, reserve_many, modify, commit,
        release, expire_due, receive, return_stock, approved adjustments,
        transfers, backorder serving) checks the SKU's availability over all
        locations against the floor in its own transaction and publishes a
        ``stock.below_safety`` outbox message once per crossing. A replaced rule
        keeps the SKU's crossing state: a SKU already alerted is not alerted
        again unless it was seen at or above the floor in between.

        Returns:
            The floor in force now (a forecast rule's is computed from the ledger).

        Raises:
            ConfigurationError: ``rule`` is not a :class:`SafetyStockRule`, or a bad SKU.
        """
        if not isinstance(rule, SafetyStockRule):
            raise ConfigurationError(f"set_safety_stock() takes a SafetyStockRule, got {rule!r}")
        _text_arg("rule.sku", rule.sku)
        at = self._now(now)
        with self.backend.transaction() as txn:
            txn.put_setting(rule_key(rule.sku), rule.to_json())
            txn.put_setting(forecast_key(rule.sku), None)
            if txn.get_setting(crossing_key(rule.sku), lock=True) is None:
                # A row to lock: concurrent checks of the SKU then take turns on it.
                txn.put_setting(crossing_key(rule.sku), CrossingState().to_json())
            alerts, levels = self._check_rules(txn, {rule.sku: rule}, at, refresh=True)
            if alerts:
                txn.write_outbox(alerts)
        return levels[rule.sku]

    def safety_stock(self, sku: str) -> SafetyStockRule | None:
        """The safety stock rule of ``sku``, or ``None``."""
        _text_arg("sku", sku)
        with self.backend.reading() as txn:
            raw = txn.get_setting(rule_key(sku))
        return None if raw is None else SafetyStockRule.from_json(raw)

    def safety_rules(self) -> list[SafetyStockRule]:
        """Every safety stock rule, by SKU."""
        with self.backend.reading() as txn:
            found = txn.settings(rule_key(""))
        return sorted((SafetyStockRule.from_json(raw) for raw in found.values()), key=_by_sku)

    def remove_safety_stock(self, sku: str) -> bool:
        """Remove a SKU's safety stock, its crossing state and its cached forecast.

        Returns:
            Whether the SKU had a rule.
        """
        _text_arg("sku", sku)
        with self.backend.transaction() as txn:
            had = txn.get_setting(crossing_key(sku), lock=True) is not None
            had = txn.get_setting(rule_key(sku)) is not None or had
            for key in (rule_key(sku), crossing_key(sku), forecast_key(sku)):
                txn.put_setting(key, None)
        return had

    def safety_level(self, sku: str, *, now: datetime | None = None) -> SafetyLevel | None:
        """The floor in force for ``sku`` (a cached forecast while fresh), or ``None``.

        Reads only: a forecast computed here is not cached.
        """
        _text_arg("sku", sku)
        at = self._now(now)
        with self.backend.reading() as txn:
            raw = txn.get_setting(rule_key(sku))
            if raw is None:
                return None
            return self._floor(txn, SafetyStockRule.from_json(raw), at, write=False)

    def safety_crossing(self, sku: str) -> CrossingState | None:
        """Whether ``sku`` is below its safety stock as last checked, and its alert count."""
        _text_arg("sku", sku)
        with self.backend.reading() as txn:
            raw = txn.get_setting(crossing_key(sku))
        return None if raw is None else CrossingState.from_json(raw)

    def refresh_safety_forecasts(
        self, skus: Iterable[str] | None = None, *, now: datetime | None = None
    ) -> list[SafetyLevel]:
        """Compute forecast floors again from the ledger, cache them, and check each SKU.

        Operations compute a forecast when its cache is older than
        :attr:`forecast_max_age`; running this from a timer keeps them from
        ever doing so, and alerts for SKUs whose floor rose while their stock
        did not move. One transaction.

        Args:
            skus: The SKUs (those with a forecast rule); every forecast rule by default.
            now: The time of the forecasts; the clock by default.

        Returns:
            The new floors, by SKU.
        """
        at = self._now(now)
        with self.backend.transaction() as txn:
            if skus is None:
                found = [
                    SafetyStockRule.from_json(raw) for raw in txn.settings(rule_key("")).values()
                ]
            else:
                found = []
                for sku in sorted(set(skus)):
                    raw = txn.get_setting(rule_key(_text_arg("sku", sku)))
                    if raw is not None:
                        found.append(SafetyStockRule.from_json(raw))
            rules = {rule.sku: rule for rule in found if rule.forecast_days is not None}
            alerts, levels = self._check_rules(txn, rules, at, refresh=True)
            if alerts:
                txn.write_outbox(alerts)
        return [levels[sku] for sku in sorted(levels)]

    def _finish(self, op: _Op) -> None:
        """End an operation: its ledger, then safety stock checks, then its outbox messages."""
        op.flush()
        skus = sorted({sku for sku, _ in op.touched})
        rules: dict[str, SafetyStockRule] = {}
        for sku in skus:
            raw = op.txn.get_setting(rule_key(sku))
            if raw is not None:
                rules[sku] = SafetyStockRule.from_json(raw)
        alerts = self._check_rules(op.txn, rules, op.at)[0] if rules else []
        op.finish(alerts)

    def _check_rules(
        self,
        txn: InventoryTxn,
        rules: Mapping[str, SafetyStockRule],
        at: datetime,
        *,
        refresh: bool = False,
    ) -> tuple[list[OutboxEntry], dict[str, SafetyLevel]]:
        """Check SKUs against their rules in ``txn``; return the alerts and the floors.

        Per SKU, in SKU order: lock its crossing state first, then read its stock
        (so a transaction that waited for the lock sees the stock of the one it
        waited for), find the floor (a cached forecast while fresh) and compare.
        """
        store = SettingsCrossingStore(txn)
        monitor = SafetyStockMonitor(rules.values(), state=store, clock=lambda: at)
        alerts: list[OutboxEntry] = []
        levels: dict[str, SafetyLevel] = {}
        for sku in sorted(rules):
            store.get(sku)
            available = _total(txn, sku)
            level = levels[sku] = self._floor(txn, rules[sku], at, refresh=refresh)
            alert = monitor.check(sku, available, now=at, level=level)
            if alert is not None:
                alerts.append(alert)
        return alerts, levels

    def _floor(
        self,
        txn: InventoryTxn,
        rule: SafetyStockRule,
        at: datetime,
        *,
        refresh: bool = False,
        write: bool = True,
    ) -> SafetyLevel:
        """A rule's floor at ``at``: its threshold, or its forecast (cached while fresh)."""
        if rule.forecast_days is None:
            return level_for(rule, now=at)
        key = forecast_key(rule.sku)
        if not refresh:
            raw = txn.get_setting(key)
            if raw is not None:
                cached = SafetyLevel.from_json(raw)
                basis = cached.basis
                if (
                    basis.get("days") == rule.forecast_days
                    and basis.get("window_days") == rule.window_days
                    and abs(at - datetime.fromisoformat(basis["window_end"]))
                    < self.forecast_max_age
                ):
                    return cached
        level = level_for(rule, now=at, entries=_ledger_rows(txn, rule.sku))
        if write:
            txn.put_setting(key, level.to_json())
        return level

    # -- reading ---------------------------------------------------------------------------

    def stock(self, sku: str, location: str | None = None) -> list[StockLevel]:
        """The counters of ``sku``: one level per location that has it, by location id."""
        _text_arg("sku", sku)
        with self.backend.reading() as txn:
            rows = txn.stock_rows(sku, location)
        return [_level(s, loc, row) for (s, loc), row in sorted(rows.items())]

    def stock_levels(self, *, location: str | None = None) -> list[StockLevel]:
        """Every SKU's counters (at ``location``, or everywhere), by SKU then location."""
        if location is not None:
            _text_arg("location", location)
        with self.backend.reading() as txn:
            rows = txn.stock_rows(None, location)
        return [_level(s, loc, row) for (s, loc), row in sorted(rows.items())]

    def available(
        self, sku: str, *, location: str | None = None, channel: str | None = None
    ) -> int:
        """Units of ``sku`` that can be reserved (at one location or all) as ``channel`` sees it."""
        _text_arg("sku", sku)
        with self.backend.reading() as txn:
            rows = txn.stock_rows(sku, location)
            total = sum(max(row.available, 0) for row in rows.values())
            if channel is not None:
                quota = txn.get_quota(sku, channel)
                if isinstance(quota, tuple):
                    total = min(total, max(quota[0] - quota[1], 0))
        return total

    def reservation(self, reservation_id: str) -> Reservation:
        """The reservation with that id.

        Raises:
            ReservationNotFound: there is none.
        """
        with self.backend.reading() as txn:
            data = txn.get_reservation(reservation_id)
        if data is None:
            raise _not_found(reservation_id)
        return _Rec.decode(data).reservation()

    def backorders(self, sku: str | None = None) -> list[Reservation]:
        """Reservations waiting for stock (of ``sku``), first in first out."""
        with self.backend.reading() as txn:
            seen: dict[str, Reservation] = {}
            for _, rid in txn.backorder_queue(sku, 100_000):
                if rid not in seen:
                    data = txn.get_reservation(rid)
                    if data is not None:
                        seen[rid] = _Rec.decode(data).reservation()
        return list(seen.values())

    def retry_backorders(self, sku: str | None = None) -> list[Reservation]:
        """Serve waiting requests (of ``sku``) with the stock there now, first in first out.

        Stock arrivals retry the queue by themselves; this sweep serves what a
        busy row made an arrival skip (on backends with row locks), and can run
        from a timer.

        Returns:
            The waiting reservations that changed (got stock), in queue order.
        """
        at = self._clock()
        with self.backend.transaction() as txn:
            skus = sorted({s for s, _ in txn.backorder_queue(sku, 100_000)})
            op = _Op(txn, at, _SYSTEM, "backorder")
            changed = self._retry_backorders(op, skus)
            self._finish(op)
            found = [txn.get_reservation(rid) for rid in changed]
        return [_Rec.decode(data).reservation() for data in found if data is not None]

    def ledger(
        self,
        *,
        sku: str | None = None,
        location: str | None = None,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[LedgerEntry]:
        """Ledger entries after ``after_seq``, oldest first (page on with the last ``seq``)."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigurationError(f"limit must be a whole number >= 1, got {limit!r}")
        with self.backend.reading() as txn:
            rows = txn.ledger(sku, location, after_seq, limit)
        actors: dict[tuple[str, str], Actor] = {}
        entries = []
        for row in rows:
            actor = actors.get((row.actor_kind, row.actor_id))
            if actor is None:
                actor = Actor(kind=ActorKind(row.actor_kind), id=row.actor_id)
                actors[(row.actor_kind, row.actor_id)] = actor
            entries.append(
                LedgerEntry(
                    seq=row.seq,
                    at=row.at,
                    sku=row.sku,
                    location=row.location,
                    kind=EntryKind(row.kind),
                    on_hand=row.on_hand,
                    reserved=row.reserved,
                    in_transfer=row.in_transfer,
                    damaged=row.damaged,
                    reservation_id=row.reservation_id,
                    adjustment_id=row.adjustment_id,
                    transfer_id=row.transfer_id,
                    actor=actor,
                    reason=row.reason,
                )
            )
        return entries

    def verify(self) -> list[Drift]:
        """Recompute every counter from the ledger; report each one that differs.

        Returns:
            One :class:`Drift` per SKU, location and counter that does not match
            the sum of its ledger entries (empty when all is well), sorted.
        """
        with self.backend.reading() as txn:
            return _drifts(txn.stock_rows(), txn.ledger_totals())

    def repair(self, *, dry_run: bool = True) -> list[Drift]:
        """Rebuild drifted counters from the ledger (only report them with ``dry_run``).

        Returns:
            The drifts found (and, unless ``dry_run``, fixed: the counters are
            set to the ledger's sums and a stock message is published for every
            availability that changed).
        """
        with self.backend.transaction() as txn:
            rows = txn.stock_rows()
            totals = txn.ledger_totals()
            drifts = _drifts(rows, totals)
            if dry_run or not drifts:
                return drifts
            op = _Op(txn, self._clock(), _SYSTEM, "repair")
            for key in sorted({(d.sku, d.location) for d in drifts}):
                old = rows.get(key, StockRow(0, 0, 0, 0, 0))
                new = StockRow(*totals.get(key, (0, 0, 0, 0)), old.version + 1)
                txn.set_stock(key[0], key[1], new)
                op.touched[key] = [old.available, new]
            self._finish(op)
        return drifts

    # -- receiving and returns --------------------------------------------------------------

    def receive(
        self,
        sku: str,
        location: str,
        quantity: int,
        *,
        actor: Actor,
        reason: str | None = None,
        ref: str | None = None,
    ) -> StockLevel:
        """Add received units to on hand; waiting backorders of ``sku`` are retried.

        ``ref`` (a purchase order, an inbound note) is kept as the ledger entry's
        ``reservation_id``.

        Raises:
            UnknownLocation: the location was never added.
            ConfigurationError: a bad SKU, quantity or actor.
        """
        return self._add_stock(
            EntryKind.RECEIVE, sku, location, quantity, actor, reason, ref, damaged=False
        )

    def return_stock(
        self,
        sku: str,
        location: str,
        quantity: int,
        *,
        damaged: bool = False,
        actor: Actor,
        reason: str | None = None,
        ref: str | None = None,
    ) -> StockLevel:
        """Put returned units back (D28): on hand, or when ``damaged`` counted but not available.

        ``ref`` (the return or order) is kept as the ledger entry's ``reservation_id``.

        Raises:
            UnknownLocation: the location was never added.
            ConfigurationError: a bad SKU, quantity or actor.
        """
        kind = EntryKind.RETURN_DAMAGED if damaged else EntryKind.RETURN_STOCK
        return self._add_stock(kind, sku, location, quantity, actor, reason, ref, damaged=damaged)

    def _add_stock(
        self,
        kind: EntryKind,
        sku: str,
        location: str,
        quantity: int,
        actor: Actor,
        reason: str | None,
        ref: str | None,
        *,
        damaged: bool,
    ) -> StockLevel:
        _text_arg("sku", sku)
        _text_arg("location", location)
        _quantity_arg("quantity", quantity)
        _actor_arg(actor)
        with self.backend.transaction() as txn:
            self._known(txn, location)
            op = _Op(txn, self._clock(), actor, kind.value)
            if damaged:
                row = op.change(
                    sku, location, kind, damaged=quantity, reservation_id=ref, reason=reason
                )
            else:
                row = op.change(
                    sku, location, kind, on_hand=quantity, reservation_id=ref, reason=reason
                )
            if row is None:  # pragma: no cover - adding never lowers a counter
                raise InventoryError(f"could not add {quantity} units of {sku} at {location}")
            if not damaged:
                self._retry_backorders(op, {sku})
                row = op.touched[(sku, location)][1]
            self._finish(op)
        return _level(sku, location, row)

    # -- reservations ------------------------------------------------------------------------

    def reserve(
        self,
        request: ReservationRequest,
        *,
        idempotency_key: str | None = None,
        now: datetime | None = None,
    ) -> Reservation:
        """Hold stock for a request, all or nothing.

        Lines of one SKU and location are summed before the check (R2). A line
        without a location (and no request location) goes to the preferred
        location (lowest priority number, then id) that covers that SKU's
        unlocated demand whole. Gift lines that cannot be held are dropped
        under :attr:`GiftPolicy.DROP` (all of them; the rest is reserved) or fail
        the request under :attr:`GiftPolicy.FAIL`; then the request's
        :class:`BackorderPolicy` decides what a shortage does.

        With an ``idempotency_key``, a repeat of the same request returns the
        first result (even if the reservation changed since) and changes nothing.

        Raises:
            InsufficientStock: not enough stock (or quota) under
                :attr:`BackorderPolicy.NONE`, naming the SKU, location and quantities.
            IdempotencyConflict: the key was used for a different request.
            ReservationStateError: a reservation with that id exists already.
            UnknownLocation: a line names a location never added.
        """
        if not isinstance(request, ReservationRequest):
            raise ConfigurationError(f"reserve() takes a ReservationRequest, got {request!r}")
        if idempotency_key is not None:
            _text_arg("idempotency_key", idempotency_key)
        at = self._now(now)
        if (
            idempotency_key is None
            and self._reserve_one is not None
            and len(request.lines) == 1
            and request.channel is None
            and request.backorder is BackorderPolicy.NONE
        ):
            done = self._reserve_simple(request, at)
            if done is not None:
                return done
        with self.backend.transaction() as txn:
            if idempotency_key is not None:
                stored = txn.get_idempotency(idempotency_key)
                if stored is not None:
                    if stored[0] != request.fingerprint():
                        raise IdempotencyConflict(
                            f"idempotency key {idempotency_key!r} was used for a different "
                            "reservation request",
                            key=idempotency_key,
                        )
                    return _Rec.decode(stored[1]).reservation()
            op = _Op(txn, at, _SYSTEM, "reserve")
            within = None
            if request.backorder is not BackorderPolicy.NONE or (
                request.gift_policy is GiftPolicy.DROP and any(ln.gift for ln in request.lines)
            ):
                # A second pass may follow a refused first one: lock its rows up front.
                within = _lock_candidates(txn, [request])
            rec = self._reserve(op, request, within)
            self._finish(op)
            if idempotency_key is not None:
                rec.fp = request.fingerprint()
                txn.put_idempotency(idempotency_key, rec.fp, rec.encode(), at)
        return rec.reservation()

    def _reserve_simple(self, request: ReservationRequest, at: datetime) -> Reservation | None:
        """A request of one located line (not a gift line that may be dropped), no
        channel, no backorder, in the backend's ``reserve_one``; ``None`` when it is
        not one (or the backend left it to the general path: a safety stock rule, a
        taken id)."""
        line = request.lines[0]
        location = line.location or request.location
        if (
            location is None
            or location not in self._locations
            or (line.gift and request.gift_policy is GiftPolicy.DROP)
        ):
            return None
        reserve_one = self._reserve_one
        assert reserve_one is not None
        rec = _Rec(request, _to_us(at))
        rec.lines.append([line.sku, location, line.quantity, 0, line.gift])
        outcome = reserve_one(
            line.sku,
            location,
            line.quantity,
            rec.id,
            _from_us(rec.expires),
            rec.encode(),
            at,
            _SYSTEM_ACTOR,
            new_id(),
            "reserve",
        )
        if outcome is None:
            return None
        if isinstance(outcome, int):
            raise _shortage(line.sku, location, line.quantity, max(outcome, 0))
        return rec.reservation()

    def reserve_many(
        self, requests: Iterable[ReservationRequest], *, now: datetime | None = None
    ) -> list[Reservation | InsufficientStock]:
        """Reserve many requests in one transaction, each all or nothing.

        Before any change, the batch locks (sorted, in one call) every stock row
        it may change: the keys of located lines and every stock row of the SKUs
        that have lines without a location. Unlocated lines are placed only on
        those rows, so no request locks a stock row after an earlier one locked
        a quota row (the lock order of ``ordercore.inventory._backend``).

        Returns:
            For each request, in order, its reservation or the
            :class:`~ordercore.errors.InsufficientStock` that refused it (nothing
            of a refused request is held).

        Raises:
            ReservationStateError: an id is taken (nothing of the batch is written).
            UnknownLocation: a line names a location never added (nothing written).
        """
        batch = list(requests)
        for request in batch:
            if not isinstance(request, ReservationRequest):
                raise ConfigurationError(
                    f"reserve_many() takes ReservationRequest items, got {request!r}"
                )
        at = self._now(now)
        results: list[Reservation | InsufficientStock] = []
        with self.backend.transaction() as txn:
            within = _lock_candidates(txn, batch)
            op = _Op(txn, at, _SYSTEM, "reserve")
            for request in batch:
                try:
                    results.append(self._reserve(op, request, within).reservation())
                except InsufficientStock as exc:
                    results.append(exc)
            self._finish(op)
        return results

    def _reserve(
        self, op: _Op, request: ReservationRequest, within: frozenset[StockKey] | None = None
    ) -> _Rec:
        """Reserve one request in ``op``; on InsufficientStock nothing of it is left applied.

        With ``within`` (rows locked up front), lines without a location are
        placed only on those rows.
        """
        txn = op.txn
        rec = _Rec(request, _to_us(op.at))
        lines = list(request.lines)
        plain = [line for line in lines if not line.gift]
        try:
            placed = self._place(txn, lines, request.location, within)
            self._take(op, rec, placed, EntryKind.RESERVE)
        except InsufficientStock as first:
            shortage: InsufficientStock | None = first
            if request.gift_policy is GiftPolicy.DROP and len(plain) < len(lines):
                rec.dropped = [_line_json(line) for line in lines if line.gift]
                lines = plain
                try:
                    placed = self._place(txn, lines, request.location, within)
                    self._take(op, rec, placed, EntryKind.RESERVE)
                    shortage = None
                except InsufficientStock as second:
                    shortage = second
            if shortage is not None:
                if request.backorder is BackorderPolicy.NONE:
                    raise shortage from None
                self._queue(op, rec, lines, request, within)
        if not txn.insert_reservation(
            rec.id, rec.status.value, _from_us(rec.expires), rec.encode()
        ):
            raise self._taken(txn, rec.id)
        for sku in sorted(rec.waiting_skus()):
            txn.enqueue_backorder(sku, rec.id, op.at)
        return rec

    def _taken(self, txn: InventoryTxn, reservation_id: str) -> ReservationStateError:
        data = txn.get_reservation(reservation_id)
        status = _Rec.decode(data).status.value if data is not None else "unknown"
        return ReservationStateError(
            f"reservation {reservation_id} exists already ({status}); use modify() to change it",
            reservation_id=reservation_id,
            status=status,
            operation="reserve",
        )

    def _place(
        self,
        txn: InventoryTxn,
        lines: Sequence[ReservationLine],
        default: str | None,
        within: frozenset[StockKey] | None = None,
    ) -> dict[tuple[str, str, bool], int]:
        """Resolve each line's location (unlocated ones among ``within``, when given);
        sum units per (sku, location, gift).

        Raises:
            InsufficientStock: no single location covers a SKU's unplaced units.
        """
        placed: dict[tuple[str, str, bool], int] = {}
        unplaced: dict[str, list[ReservationLine]] = {}
        for line in lines:
            location = line.location or default
            if location is None:
                unplaced.setdefault(line.sku, []).append(line)
                continue
            self._known(txn, location)
            key = (line.sku, location, line.gift)
            placed[key] = placed.get(key, 0) + line.quantity
        for sku, group in unplaced.items():
            need = sum(line.quantity for line in group)
            location = self._choose(txn, sku, need, placed, within=within)
            if location is None:
                raise _short(txn, sku, None, need)
            for line in group:
                key = (sku, location, line.gift)
                placed[key] = placed.get(key, 0) + line.quantity
        return placed

    def _choose(
        self,
        txn: InventoryTxn,
        sku: str,
        need: int,
        placed: Mapping[tuple[str, str, bool], int],
        *,
        partial: bool = False,
        within: frozenset[StockKey] | None = None,
    ) -> str | None:
        """The preferred location covering ``need`` more units of ``sku`` (or, with
        ``partial``, the one with the most available), among ``within`` when given."""
        rows = txn.stock_rows(sku)
        if within is not None:
            rows = {key: row for key, row in rows.items() if key in within}
        if any(loc not in self._locations for _, loc in rows):
            self._load_locations(txn)
        candidates = []
        for (_, location), row in rows.items():
            already = sum(q for (s, loc, _), q in placed.items() if s == sku and loc == location)
            free = row.available - already
            info = self._locations.get(location)
            priority = info.priority if info is not None else 100
            candidates.append((priority, location, free))
        covering = sorted((p, loc) for p, loc, free in candidates if free >= need)
        if covering:
            return covering[0][1]
        if partial:
            best = sorted(((-free, p, loc) for p, loc, free in candidates if free > 0))
            return best[0][2] if best else None
        return None

    def _take(
        self,
        op: _Op,
        rec: _Rec,
        placed: Mapping[tuple[str, str, bool], int],
        kind: EntryKind,
        *,
        skip_locked: bool = False,
    ) -> None:
        """Reserve ``placed`` for ``rec`` (conditional updates in key order, then quotas).

        With ``skip_locked`` (serving backorders), a quota row another
        transaction holds is not waited for.

        Raises:
            InsufficientStock: after undoing everything this call applied.
            _RowBusy: with ``skip_locked``, a quota row is busy (after undoing
                everything this call applied).
        """
        demand: dict[StockKey, int] = {}
        for (sku, location, _), quantity in placed.items():
            demand[(sku, location)] = demand.get((sku, location), 0) + quantity
        mark = op.mark()
        counted: dict[str, int] = {}
        try:
            for key in sorted(demand):
                if (
                    op.change(key[0], key[1], kind, reserved=demand[key], reservation_id=rec.id)
                    is None
                ):
                    raise _short(op.txn, key[0], key[1], demand[key])
            if rec.channel is not None:
                per_sku: dict[str, int] = {}
                for (sku, _), quantity in demand.items():
                    per_sku[sku] = per_sku.get(sku, 0) + quantity
                for sku in sorted(per_sku):
                    quota = op.txn.get_quota(sku, rec.channel, lock=True, skip_locked=skip_locked)
                    if isinstance(quota, Busy):
                        raise _RowBusy(f"the quota of {sku} through {rec.channel} is busy")
                    if quota is None:
                        continue
                    if not op.add_quota(sku, rec.channel, per_sku[sku]):
                        raise InsufficientStock(
                            f"{per_sku[sku]} units of {sku} requested through {rec.channel}, "
                            f"whose quota leaves {max(quota[0] - quota[1], 0)}",
                            sku=sku,
                            location=None,
                            requested=per_sku[sku],
                            available=max(quota[0] - quota[1], 0),
                            channel=rec.channel,
                        )
                    counted[sku] = per_sku[sku]
        except (InsufficientStock, _RowBusy):
            op.undo(mark)
            raise
        for (sku, location, gift), quantity in placed.items():
            rec.add_line(sku, location, quantity, gift)
        for sku, units in counted.items():
            rec.quota[sku] = rec.quota.get(sku, 0) + units

    def _queue(
        self,
        op: _Op,
        rec: _Rec,
        lines: Sequence[ReservationLine],
        request: ReservationRequest,
        within: frozenset[StockKey] | None = None,
    ) -> None:
        """Queue a request that could not be reserved (``wait``), or what is missing of it."""
        if request.backorder is BackorderPolicy.WAIT:
            rec.status = ReservationStatus.BACKORDERED
            rec.expires = None
            rec.waiting = [_line_json(attrs_evolve(line, request.location)) for line in lines]
            return
        waiting = [attrs_evolve(line, request.location) for line in lines]
        self._fill_partial(op, rec, waiting, within=within)
        if not rec.lines:
            rec.status = ReservationStatus.BACKORDERED
            rec.expires = None

    def _fill_partial(
        self,
        op: _Op,
        rec: _Rec,
        waiting: list[ReservationLine],
        *,
        retry: bool = False,
        within: frozenset[StockKey] | None = None,
    ) -> bool:
        """Reserve what can be reserved of ``waiting`` line by line; keep the rest waiting.

        With ``retry`` (serving the queue), rows other transactions hold (stock
        or quota) are skipped: their lines keep waiting. With ``within``, lines
        without a location are placed only on those (already locked) rows.

        Returns:
            Whether everything was reserved.
        """
        left: list[ReservationLine] = []
        for line in waiting:
            need = line.quantity
            location = line.location
            if location is None:
                location = self._choose(op.txn, line.sku, need, {}, partial=True, within=within)
            if location is not None:
                self._known(op.txn, location)
                key = (line.sku, location)
                row = op.txn.lock_stock([key], skip_locked=retry).get(key)
                free = 0 if row is None else max(row.available, 0)
                take = min(need, free)
                if rec.channel is not None and take:
                    quota = op.txn.get_quota(line.sku, rec.channel, lock=True, skip_locked=retry)
                    if isinstance(quota, Busy):
                        take = 0  # the quota row is busy: the line keeps waiting
                    elif quota is not None:
                        take = min(take, max(quota[0] - quota[1], 0))
                if take:
                    try:
                        self._take(
                            op,
                            rec,
                            {(line.sku, location, line.gift): take},
                            EntryKind.RESERVE,
                            skip_locked=retry,
                        )
                    except _RowBusy:  # pragma: no cover - the quota row is held already
                        take = 0
                    need -= take
            if need:
                left.append(
                    ReservationLine(
                        sku=line.sku,
                        quantity=need,
                        location=line.location,
                        gift=line.gift,
                        bundle=line.bundle,
                    )
                )
        rec.waiting = [_line_json(line) for line in left]
        return not left

    def _retry_backorders(self, op: _Op, skus: Iterable[str]) -> list[str]:
        """Reserve waiting requests of ``skus``, first in first out, with the stock there now.

        A SKU's queue stops at the first request this SKU's stock cannot satisfy
        (later ones do not overtake it); a request blocked by another SKU is passed.
        Nothing here waits for a lock: a request whose record, stock row or quota
        row another transaction holds is passed over and stays queued, for the
        next arrival or :meth:`retry_backorders`.

        Returns:
            The ids of the reservations that got stock, in the order served.
        """
        txn = op.txn
        served: list[str] = []
        for sku in sorted(set(skus)):
            for _, rid in txn.backorder_queue(sku, _RETRY_BATCH):
                data = txn.get_reservation(rid, lock=True, skip_locked=True)
                if data is None:
                    continue
                rec = _Rec.decode(data)
                if rec.status not in _OPEN or not rec.waiting:
                    for waiting_sku in rec.waiting_skus() | {sku}:
                        txn.dequeue_backorder(waiting_sku, rid)
                    continue
                before = rec.waiting_skus()
                mark = op.mark()
                blocked = self._fill_waiting(op, rec, sku)
                if op.mark() != mark:
                    for done in sorted(before - rec.waiting_skus()):
                        txn.dequeue_backorder(done, rid)
                    self._save(txn, rec, _to_us(op.at))
                    if rid not in served:
                        served.append(rid)
                if blocked:
                    break
        return served

    def _fill_waiting(self, op: _Op, rec: _Rec, sku: str) -> bool:
        """Try to reserve ``rec``'s waiting lines; return whether ``sku``'s stock blocked it."""
        waiting = [_line_from(line) for line in rec.waiting]
        now = _to_us(op.at)
        if rec.backorder == BackorderPolicy.WAIT.value:
            try:
                placed = self._place(op.txn, waiting, rec.location)
                keys = sorted({(s, loc) for s, loc, _ in placed})
                if len(op.txn.lock_stock(keys, skip_locked=True)) < len(keys):
                    return False  # a row is busy (or missing): retried at the next arrival
                self._take(op, rec, placed, EntryKind.RESERVE, skip_locked=True)
            except _RowBusy:
                return False  # a quota row is busy: retried at the next arrival
            except InsufficientStock as exc:
                return exc.sku == sku and exc.channel is None
            rec.waiting = []
        else:
            mine = [line for line in waiting if line.sku == sku]
            others = [line for line in waiting if line.sku != sku]
            complete = self._fill_partial(op, rec, mine, retry=True)
            rec.waiting = [*rec.waiting, *(_line_json(line) for line in others)]
            if rec.lines and rec.status is ReservationStatus.BACKORDERED:
                self._activate(rec, now)
            return not complete
        if rec.status is ReservationStatus.BACKORDERED:
            self._activate(rec, now)
        return False

    @staticmethod
    def _activate(rec: _Rec, now: int) -> None:
        rec.status = ReservationStatus.ACTIVE
        if rec.ttl is not None:
            rec.expires = now + int(rec.ttl * 1_000_000)

    def _load(self, txn: InventoryTxn, reservation_id: str, operation: str) -> _Rec:
        _text_arg("reservation_id", reservation_id)
        data = txn.get_reservation(reservation_id, lock=True)
        if data is None:
            raise _not_found(reservation_id)
        return _Rec.decode(data)

    def _save(self, txn: InventoryTxn, rec: _Rec, now: int) -> None:
        rec.updated = now
        rec.version += 1
        txn.update_reservation(rec.id, rec.status.value, _from_us(rec.expires), rec.encode())

    def commit(
        self,
        reservation_id: str,
        lines: Mapping[str, int] | None = None,
        *,
        now: datetime | None = None,
    ) -> Reservation:
        """Ship held units: on hand and reserved both go down (partially with ``lines``).

        Args:
            reservation_id: The reservation.
            lines: Units to commit per SKU (spread over the SKU's held lines in
                order); ``None`` commits everything held.

        The first commit ends the reservation's time to live (``expires_at``
        becomes ``None``): a shipment means the order is paid, so a partially
        committed reservation never expires. Release it to give back what it
        still holds.

        Raises:
            ReservationNotFound: no such reservation.
            ReservationStateError: it is not active or partially committed.
            InsufficientStock: ``lines`` asks for more of a SKU than is held
                (``available`` is the units held).
        """
        at = self._now(now)
        with self.backend.transaction() as txn:
            rec = self._load(txn, reservation_id, "commit")
            if rec.status not in _HOLDING:
                raise _state(rec, "commit")
            wanted: dict[StockKey, int] = {}
            if lines is None:
                for line in rec.lines:
                    if line[2] > line[3]:
                        key = (line[0], line[1])
                        wanted[key] = wanted.get(key, 0) + line[2] - line[3]
                        line[3] = line[2]
            else:
                for sku, quantity in sorted(dict(lines).items()):
                    _text_arg("sku", sku)
                    _quantity_arg(f"lines[{sku!r}]", quantity)
                    held = sum(line[2] - line[3] for line in rec.lines if line[0] == sku)
                    if quantity > held:
                        raise InsufficientStock(
                            f"commit of {quantity} units of {sku} for {rec.id}, which holds {held}",
                            sku=sku,
                            location=None,
                            requested=quantity,
                            available=held,
                        )
                    left = quantity
                    for line in rec.lines:
                        if line[0] == sku and left:
                            take = min(left, line[2] - line[3])
                            line[3] += take
                            left -= take
                            if take:
                                key = (sku, line[1])
                                wanted[key] = wanted.get(key, 0) + take
            op = _Op(txn, at, _SYSTEM, "commit")
            keys = sorted(wanted)
            if len(keys) > 1:
                txn.lock_stock(keys)
            for key in keys:
                quantity = wanted[key]
                if (
                    op.change(
                        key[0],
                        key[1],
                        EntryKind.COMMIT,
                        on_hand=-quantity,
                        reserved=-quantity,
                        reservation_id=rec.id,
                    )
                    is None
                ):
                    raise InventoryError(
                        f"the counters of {key[0]}@{key[1]} cannot take a commit of {quantity} "
                        "units; run verify()"
                    )
                sku = key[0]
                if sku in rec.quota:
                    rec.quota[sku] = max(rec.quota[sku] - quantity, 0)
            done = all(line[3] >= line[2] for line in rec.lines) and not rec.waiting
            rec.status = (
                ReservationStatus.COMMITTED if done else ReservationStatus.PARTIALLY_COMMITTED
            )
            rec.expires = None
            if done:
                rec.quota = {}
            self._save(txn, rec, _to_us(at))
            self._finish(op)
        return rec.reservation()

    def release(
        self, reservation_id: str, *, reason: str | None = None, now: datetime | None = None
    ) -> Reservation:
        """Give back everything a reservation holds (on cancel); backorders are retried.

        Raises:
            ReservationNotFound: no such reservation.
            ReservationStateError: it is committed, released or expired already.
        """
        at = self._now(now)
        with self.backend.transaction() as txn:
            rec = self._load(txn, reservation_id, "release")
            if rec.status not in _OPEN:
                raise _state(rec, "release")
            op = _Op(txn, at, _SYSTEM, "release")
            held = rec.open_by_key()
            if len(held) > 1:
                txn.lock_stock(sorted(held))
            self._give_back(op, rec, held, EntryKind.RELEASE, ReservationStatus.RELEASED, reason)
            self._retry_backorders(op, {sku for sku, _ in held})
            self._finish(op)
        return rec.reservation()

    def _give_back(
        self,
        op: _Op,
        rec: _Rec,
        held: Mapping[StockKey, int],
        kind: EntryKind,
        status: ReservationStatus,
        reason: str | None,
    ) -> None:
        for key in sorted(held):
            if (
                op.change(
                    key[0], key[1], kind, reserved=-held[key], reservation_id=rec.id, reason=reason
                )
                is None
            ):
                raise InventoryError(
                    f"the counters of {key[0]}@{key[1]} cannot give back {held[key]} reserved "
                    "units; run verify()"
                )
        if rec.channel is not None:
            for sku in sorted(rec.quota):
                if rec.quota[sku]:
                    op.txn.add_quota_used(sku, rec.channel, -rec.quota[sku])
        rec.quota = {}
        for sku in sorted(rec.waiting_skus()):
            op.txn.dequeue_backorder(sku, rec.id)
        for line in rec.lines:
            line[2] = line[3]
        rec.lines = [line for line in rec.lines if line[2] > 0]
        rec.waiting = []
        rec.status = status
        rec.expires = None
        self._save(op.txn, rec, _to_us(op.at))

    def expire_due(self, now: datetime | None = None, *, limit: int = 1000) -> list[Reservation]:
        """Release reservations whose TTL has passed (payment timeouts, D21).

        Only active reservations have a TTL: a commit, even a partial one, clears
        it (see :meth:`commit`), and a backordered request's TTL starts when its
        stock is held.

        Returns:
            The reservations expired now, earliest deadline first.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigurationError(f"limit must be a whole number >= 1, got {limit!r}")
        at = self._now(now)
        expired = []
        with self.backend.transaction() as txn:
            recs = []
            for rid in txn.due_reservations(at, limit):
                data = txn.get_reservation(rid, lock=True)
                if data is not None:
                    rec = _Rec.decode(data)
                    if rec.status in _HOLDING and rec.expires is not None:
                        recs.append(rec)
            if not recs:
                return []
            keys = sorted({key for rec in recs for key in rec.open_by_key()})
            if keys:
                txn.lock_stock(keys)
            op = _Op(txn, at, _SYSTEM, "expire")
            skus: set[str] = set()
            for rec in recs:
                held = rec.open_by_key()
                skus.update(sku for sku, _ in held)
                self._give_back(
                    op,
                    rec,
                    held,
                    EntryKind.EXPIRE,
                    ReservationStatus.EXPIRED,
                    "the reservation's time to live ran out",
                )
                expired.append(rec.reservation())
            self._retry_backorders(op, skus)
            self._finish(op)
        return expired

    def modify(
        self, reservation_id: str, request: ReservationRequest, *, now: datetime | None = None
    ) -> Reservation:
        """Change a reservation to a new request (an order edit), atomically.

        Only the difference moves: per SKU and location, units added are reserved
        (all or nothing) and units removed are released; units already committed
        stay. The TTL restarts from now when the new request has one, unless units
        are committed already: a partially committed reservation never expires.

        Raises:
            ReservationNotFound: no such reservation.
            ReservationStateError: it is not active or partially committed.
            InsufficientStock: the increase cannot be reserved (nothing changed).
            ConfigurationError: the request names another reservation or channel,
                or holds less of a SKU than is committed already.
        """
        if not isinstance(request, ReservationRequest):
            raise ConfigurationError(f"modify() takes a ReservationRequest, got {request!r}")
        if request.reservation_id != reservation_id:
            raise ConfigurationError(
                f"modify({reservation_id!r}) got a request for {request.reservation_id!r}"
            )
        at = self._now(now)
        with self.backend.transaction() as txn:
            rec = self._load(txn, reservation_id, "modify")
            if rec.status not in _HOLDING or rec.waiting:
                raise _state(rec, "modify")
            if request.channel != rec.channel:
                raise ConfigurationError(
                    f"modify() cannot move reservation {rec.id} from channel {rec.channel!r} "
                    f"to {request.channel!r}"
                )
            op = _Op(txn, at, _SYSTEM, "modify")
            lines = list(request.lines)
            within = None
            if request.gift_policy is GiftPolicy.DROP and any(line.gift for line in lines):
                # A second pass may follow a refused first one: lock its rows up front.
                held = [(line[0], line[1]) for line in rec.lines]
                within = _lock_candidates(txn, [request], held)
            dropped: list[list[Any]] = []
            try:
                self._modify(op, rec, self._place(txn, lines, request.location, within))
            except InsufficientStock:
                gifts = [line for line in lines if line.gift]
                if request.gift_policy is not GiftPolicy.DROP or not gifts:
                    raise
                dropped = [_line_json(line) for line in gifts]
                plain = [line for line in lines if not line.gift]
                self._modify(op, rec, self._place(txn, plain, request.location, within))
            rec.dropped = dropped
            rec.fp = request.fingerprint()
            rec.gift_policy = request.gift_policy.value
            rec.backorder = request.backorder.value
            rec.location = request.location
            rec.ttl = None if request.ttl is None else request.ttl.total_seconds()
            now_us = _to_us(at)
            committed = any(line[3] for line in rec.lines)
            rec.expires = (
                None if request.ttl is None or committed else now_us + _ttl_us(request.ttl)
            )
            self._save(txn, rec, now_us)
            released = {sku for (sku, _), _ in op.touched.items()}
            self._retry_backorders(op, released)
            self._finish(op)
        return rec.reservation()

    def _modify(self, op: _Op, rec: _Rec, placed: Mapping[tuple[str, str, bool], int]) -> None:
        """Move ``rec`` to ``placed``: reserve increases and release decreases per key.

        Raises:
            InsufficientStock: an increase is refused (after undoing this call).
        """
        current: dict[tuple[str, str, bool], list[int]] = {}
        for sku, location, quantity, committed, gift in rec.lines:
            current[(sku, location, gift)] = [quantity, committed]
        for key, (_, committed) in current.items():
            if placed.get(key, 0) < committed:
                raise ConfigurationError(
                    f"reservation {rec.id} has {committed} units of {key[0]} at {key[1]} "
                    f"committed; the new request holds {placed.get(key, 0)}"
                )
        deltas: dict[StockKey, int] = {}
        for key in {*current, *placed}:
            delta = placed.get(key, 0) - current.get(key, [0, 0])[0]
            stock_key = (key[0], key[1])
            deltas[stock_key] = deltas.get(stock_key, 0) + delta
        mark = op.mark()
        quota_before = dict(rec.quota)
        try:
            keys = sorted(k for k, d in deltas.items() if d)
            if len(keys) > 1:
                op.txn.lock_stock(keys)
            for stock_key in keys:
                delta = deltas[stock_key]
                sku, location = stock_key
                row = op.change(
                    sku, location, EntryKind.MODIFY, reserved=delta, reservation_id=rec.id
                )
                if row is None:
                    if delta > 0:
                        raise _short(op.txn, sku, location, delta)
                    raise InventoryError(  # pragma: no cover - corruption only
                        f"the counters of {sku}@{location} cannot give back {-delta} units"
                    )
            if rec.channel is not None:
                per_sku: dict[str, int] = {}
                for (sku, _), delta in deltas.items():
                    per_sku[sku] = per_sku.get(sku, 0) + delta
                for sku in sorted(per_sku):
                    delta = per_sku[sku]
                    if delta > 0:
                        quota = _locked_quota(op.txn, sku, rec.channel)
                        if quota is None:
                            continue
                        if not op.add_quota(sku, rec.channel, delta):
                            raise InsufficientStock(
                                f"{delta} more units of {sku} through {rec.channel} exceed "
                                "its quota",
                                sku=sku,
                                location=None,
                                requested=delta,
                                available=max(quota[0] - quota[1], 0),
                                channel=rec.channel,
                            )
                        rec.quota[sku] = rec.quota.get(sku, 0) + delta
                    elif delta < 0 and rec.quota.get(sku):
                        units = min(-delta, rec.quota[sku])
                        op.add_quota(sku, rec.channel, -units)
                        rec.quota[sku] -= units
        except InsufficientStock:
            op.undo(mark)
            rec.quota = quota_before
            raise
        lines = []
        for key in sorted({*current, *placed}, key=lambda k: (k[0], k[1], k[2])):
            quantity = placed.get(key, 0)
            committed = current.get(key, [0, 0])[1]
            if quantity:
                lines.append([key[0], key[1], quantity, committed, key[2]])
        rec.lines = lines
        rec.status = (
            ReservationStatus.PARTIALLY_COMMITTED
            if any(line[3] for line in lines)
            else ReservationStatus.ACTIVE
        )

    # -- adjustments ---------------------------------------------------------------------

    def propose_adjustment(
        self, sku: str, location: str, delta: int, *, reason: str, actor: Actor
    ) -> Adjustment:
        """Propose a manual change of on hand (D25); nothing changes until a person approves it.

        Raises:
            ConfigurationError: ``delta`` is 0 or not a whole number, ``reason`` is
                empty, or a bad SKU or actor.
            UnknownLocation: the location was never added.
        """
        _text_arg("sku", sku)
        _text_arg("location", location)
        if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0:
            raise ConfigurationError(f"delta must be a non-zero whole number, got {delta!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigurationError("an adjustment needs a reason (a non-empty string)")
        _actor_arg(actor)
        adjustment = Adjustment(
            id=new_id(),
            sku=sku,
            location=location,
            delta=delta,
            reason=reason,
            proposed_by=actor,
            proposed_at=self._clock(),
        )
        with self.backend.transaction() as txn:
            self._known(txn, location)
            txn.put_adjustment(adjustment.id, adjustment.status.value, _adjustment_json(adjustment))
        return adjustment

    def approve_adjustment(
        self, adjustment_id: str, *, actor: Actor, note: str | None = None
    ) -> Adjustment:
        """Approve a proposed adjustment and apply it to on hand.

        Raises:
            AdjustmentError: it is not proposed, or the approver is not a person or
                is the proposer.
            InsufficientStock: a decrease larger than what is available.
            ConfigurationError: no such adjustment id, or a bad actor.
        """
        return self._decide(adjustment_id, actor, note, approve=True)

    def reject_adjustment(
        self, adjustment_id: str, *, actor: Actor, note: str | None = None
    ) -> Adjustment:
        """Reject a proposed adjustment; stock does not change.

        Raises:
            AdjustmentError: it is not proposed, or the actor is not a person or is
                the proposer.
        """
        return self._decide(adjustment_id, actor, note, approve=False)

    def adjustment(self, adjustment_id: str) -> Adjustment:
        """The adjustment with that id.

        Raises:
            ConfigurationError: there is none.
        """
        with self.backend.reading() as txn:
            data = txn.get_adjustment(adjustment_id)
        if data is None:
            raise ConfigurationError(f"there is no adjustment {adjustment_id!r}")
        return _adjustment_from(data)

    def _decide(
        self, adjustment_id: str, actor: Actor, note: str | None, *, approve: bool
    ) -> Adjustment:
        _text_arg("adjustment_id", adjustment_id)
        _actor_arg(actor)
        at = self._clock()
        with self.backend.transaction() as txn:
            data = txn.get_adjustment(adjustment_id, lock=True)
            if data is None:
                raise ConfigurationError(f"there is no adjustment {adjustment_id!r}")
            adjustment = _adjustment_from(data)
            verb = "approve" if approve else "reject"
            if adjustment.status is not AdjustmentStatus.PROPOSED:
                raise AdjustmentError(
                    f"adjustment {adjustment_id} is {adjustment.status.value}; only a proposed "
                    f"adjustment can be {verb}d",
                    adjustment_id=adjustment_id,
                    status=adjustment.status.value,
                )
            if actor.kind is not ActorKind.PERSON:
                raise AdjustmentError(
                    f"adjustment {adjustment_id} must be {verb}d by a person, not a "
                    f"{actor.kind.value}",
                    adjustment_id=adjustment_id,
                    status=adjustment.status.value,
                )
            if _same_actor(actor, adjustment.proposed_by):
                raise AdjustmentError(
                    f"adjustment {adjustment_id} was proposed by {actor.id}; another person "
                    f"must {verb} it",
                    adjustment_id=adjustment_id,
                    status=adjustment.status.value,
                )
            decided = Adjustment(
                id=adjustment.id,
                sku=adjustment.sku,
                location=adjustment.location,
                delta=adjustment.delta,
                reason=adjustment.reason,
                proposed_by=adjustment.proposed_by,
                proposed_at=adjustment.proposed_at,
                status=AdjustmentStatus.APPROVED if approve else AdjustmentStatus.REJECTED,
                decided_by=actor,
                decided_at=at,
                decision_note=note,
            )
            if approve:
                op = _Op(txn, at, actor, "adjust")
                sku, location, delta = adjustment.sku, adjustment.location, adjustment.delta
                if (
                    op.change(
                        sku,
                        location,
                        EntryKind.ADJUST,
                        on_hand=delta,
                        adjustment_id=adjustment.id,
                        reason=adjustment.reason,
                    )
                    is None
                ):
                    raise _short(txn, sku, location, -delta)
                if delta > 0:
                    self._retry_backorders(op, {sku})
                self._finish(op)
            txn.put_adjustment(decided.id, decided.status.value, _adjustment_json(decided))
        return decided

    # -- transfers -----------------------------------------------------------------------

    def transfer(
        self, sku: str, from_location: str, to_location: str, quantity: int, *, actor: Actor
    ) -> Transfer:
        """Send units to another location: they become in transfer at the source.

        Raises:
            InsufficientStock: the source has fewer units available.
            UnknownLocation: a location was never added.
            ConfigurationError: both locations are the same, or a bad argument.
        """
        _text_arg("sku", sku)
        _text_arg("from_location", from_location)
        _text_arg("to_location", to_location)
        _quantity_arg("quantity", quantity)
        _actor_arg(actor)
        if from_location == to_location:
            raise ConfigurationError(f"a transfer needs two locations, got {from_location!r} twice")
        at = self._clock()
        transfer = Transfer(
            id=new_id(),
            sku=sku,
            from_location=from_location,
            to_location=to_location,
            quantity=quantity,
            status=TransferStatus.IN_TRANSIT,
            created_at=at,
            received_at=None,
            actor=actor,
        )
        with self.backend.transaction() as txn:
            self._known(txn, from_location)
            self._known(txn, to_location)
            op = _Op(txn, at, actor, "transfer_out")
            if (
                op.change(
                    sku,
                    from_location,
                    EntryKind.TRANSFER_OUT,
                    in_transfer=quantity,
                    transfer_id=transfer.id,
                )
                is None
            ):
                raise _short(txn, sku, from_location, quantity)
            txn.put_transfer(transfer.id, transfer.status.value, _transfer_json(transfer))
            self._finish(op)
        return transfer

    def receive_transfer(self, transfer_id: str, *, actor: Actor) -> Transfer:
        """Receive a transfer: the units leave the source and join the destination's on hand.

        Raises:
            TransferError: it is not in transit.
            ConfigurationError: no such transfer, or a bad actor.
        """
        return self._finish_transfer(transfer_id, actor, receive=True)

    def cancel_transfer(self, transfer_id: str, *, actor: Actor) -> Transfer:
        """Cancel a transfer in transit: the units are available at the source again.

        Raises:
            TransferError: it is not in transit.
            ConfigurationError: no such transfer, or a bad actor.
        """
        return self._finish_transfer(transfer_id, actor, receive=False)

    def transfer_record(self, transfer_id: str) -> Transfer:
        """The transfer with that id.

        Raises:
            ConfigurationError: there is none.
        """
        with self.backend.reading() as txn:
            data = txn.get_transfer(transfer_id)
        if data is None:
            raise ConfigurationError(f"there is no transfer {transfer_id!r}")
        return _transfer_from(data)

    def _finish_transfer(self, transfer_id: str, actor: Actor, *, receive: bool) -> Transfer:
        _text_arg("transfer_id", transfer_id)
        _actor_arg(actor)
        at = self._clock()
        with self.backend.transaction() as txn:
            data = txn.get_transfer(transfer_id, lock=True)
            if data is None:
                raise ConfigurationError(f"there is no transfer {transfer_id!r}")
            transfer = _transfer_from(data)
            if transfer.status is not TransferStatus.IN_TRANSIT:
                raise TransferError(
                    f"transfer {transfer_id} is {transfer.status.value}; only a transfer in "
                    f"transit can be {'received' if receive else 'cancelled'}",
                    transfer_id=transfer_id,
                    status=transfer.status.value,
                )
            sku, source, target, q = (
                transfer.sku,
                transfer.from_location,
                transfer.to_location,
                transfer.quantity,
            )
            op = _Op(txn, at, actor, "transfer_in" if receive else "transfer_cancel")
            if receive:
                txn.lock_stock(sorted([(sku, source), (sku, target)]))
                changes = sorted([(source, -q, -q), (target, q, 0)], key=lambda change: change[0])
                for location, on_hand, in_transfer in changes:
                    if (
                        op.change(
                            sku,
                            location,
                            EntryKind.TRANSFER_IN,
                            on_hand=on_hand,
                            in_transfer=in_transfer,
                            transfer_id=transfer_id,
                        )
                        is None
                    ):
                        raise InventoryError(
                            f"the counters of {sku}@{location} cannot take transfer "
                            f"{transfer_id}; run verify()"
                        )
            elif (
                op.change(
                    sku, source, EntryKind.TRANSFER_CANCEL, in_transfer=-q, transfer_id=transfer_id
                )
                is None
            ):
                raise InventoryError(
                    f"the counters of {sku}@{source} cannot take back transfer {transfer_id}; "
                    "run verify()"
                )
            self._retry_backorders(op, {sku})
            done = Transfer(
                id=transfer.id,
                sku=sku,
                from_location=source,
                to_location=target,
                quantity=q,
                status=TransferStatus.RECEIVED if receive else TransferStatus.CANCELLED,
                created_at=transfer.created_at,
                received_at=at,
                actor=transfer.actor,
            )
            txn.put_transfer(done.id, done.status.value, _transfer_json(done))
            self._finish(op)
        return done


def _by_sku(rule: SafetyStockRule) -> str:
    return rule.sku


def attrs_evolve(line: ReservationLine, default: str | None) -> ReservationLine:
    """``line`` with the request's default location filled in."""
    if line.location is not None or default is None:
        return line
    return ReservationLine(
        sku=line.sku, quantity=line.quantity, location=default, gift=line.gift, bundle=line.bundle
    )


def _not_found(reservation_id: str) -> ReservationNotFound:
    return ReservationNotFound(
        f"there is no reservation {reservation_id!r}", reservation_id=reservation_id
    )


def _state(rec: _Rec, operation: str) -> ReservationStateError:
    extra = " with lines still waiting for stock" if rec.waiting and operation == "modify" else ""
    return ReservationStateError(
        f"cannot {operation} reservation {rec.id}: it is {rec.status.value}{extra}",
        reservation_id=rec.id,
        status=rec.status.value,
        operation=operation,
    )


def _drifts(
    rows: Mapping[StockKey, StockRow], totals: Mapping[StockKey, tuple[int, int, int, int]]
) -> list[Drift]:
    drifts = []
    for key in sorted({*rows, *totals}):
        row = rows.get(key)
        counters = (0, 0, 0, 0) if row is None else row[:4]
        sums = totals.get(key, (0, 0, 0, 0))
        for name, counter, ledger in zip(_FIELDS, counters, sums, strict=True):
            if counter != ledger:
                drifts.append(
                    Drift(sku=key[0], location=key[1], field=name, counter=counter, ledger=ledger)
                )
    return drifts


def _location_json(location: Location) -> str:
    return json.dumps(
        {
            "id": location.id,
            "kind": location.kind.value,
            "name": location.name,
            "region": location.region,
            "priority": location.priority,
            "regions_served": list(location.regions_served),
        }
    )


def _location_from(data: str) -> Location:
    body = json.loads(data)
    return Location(
        id=body["id"],
        kind=LocationKind(body["kind"]),
        name=body["name"],
        region=body["region"],
        priority=body["priority"],
        regions_served=tuple(body["regions_served"]),
    )


def _adjustment_json(adjustment: Adjustment) -> str:
    return json.dumps(
        {
            "id": adjustment.id,
            "sku": adjustment.sku,
            "location": adjustment.location,
            "delta": adjustment.delta,
            "reason": adjustment.reason,
            "proposed_by": _actor_json(adjustment.proposed_by),
            "proposed_at": _to_us(adjustment.proposed_at),
            "status": adjustment.status.value,
            "decided_by": _actor_json(adjustment.decided_by),
            "decided_at": _micros(adjustment.decided_at),
            "decision_note": adjustment.decision_note,
        }
    )


def _adjustment_from(data: str) -> Adjustment:
    body = json.loads(data)
    proposed_by = _actor_from(body["proposed_by"])
    assert proposed_by is not None
    return Adjustment(
        id=body["id"],
        sku=body["sku"],
        location=body["location"],
        delta=body["delta"],
        reason=body["reason"],
        proposed_by=proposed_by,
        proposed_at=_EPOCH + timedelta(microseconds=body["proposed_at"]),
        status=AdjustmentStatus(body["status"]),
        decided_by=_actor_from(body["decided_by"]),
        decided_at=_from_us(body["decided_at"]),
        decision_note=body["decision_note"],
    )


def _transfer_json(transfer: Transfer) -> str:
    return json.dumps(
        {
            "id": transfer.id,
            "sku": transfer.sku,
            "from": transfer.from_location,
            "to": transfer.to_location,
            "quantity": transfer.quantity,
            "status": transfer.status.value,
            "created_at": _to_us(transfer.created_at),
            "received_at": _micros(transfer.received_at),
            "actor": _actor_json(transfer.actor),
        }
    )


def _transfer_from(data: str) -> Transfer:
    body = json.loads(data)
    actor = _actor_from(body["actor"])
    assert actor is not None
    return Transfer(
        id=body["id"],
        sku=body["sku"],
        from_location=body["from"],
        to_location=body["to"],
        quantity=body["quantity"],
        status=TransferStatus(body["status"]),
        created_at=_EPOCH + timedelta(microseconds=body["created_at"]),
        received_at=_from_us(body["received_at"]),
        actor=actor,
    )
