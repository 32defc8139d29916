"""The inventory's value types: locations, stock levels, requests, reservations, the ledger.

Every type is a frozen, keyword-only ``attrs`` class. Quantities are whole
numbers of units, never negative (an adjustment's ``delta`` is signed). Types a
caller builds (:class:`Location`, :class:`ReservationLine`,
:class:`ReservationRequest`) check their fields and raise
:class:`~ordercore.errors.ConfigurationError` naming the field; types the
inventory returns are built from checked data and are not checked again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import attrs

from ordercore.errors import ConfigurationError
from ordercore.schema import Actor

__all__ = [
    "Adjustment",
    "AdjustmentStatus",
    "BackorderPolicy",
    "Drift",
    "EntryKind",
    "GiftPolicy",
    "LedgerEntry",
    "Location",
    "LocationKind",
    "Reservation",
    "ReservationLine",
    "ReservationRequest",
    "ReservationStatus",
    "ReservedLine",
    "StockLevel",
    "Transfer",
    "TransferStatus",
]

_MAX_ID = 256


def _text(owner: str, field: str, value: object, *, optional: bool = False) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or not value or len(value) > _MAX_ID:
        raise ConfigurationError(
            f"{owner}.{field} must be a non-empty string of at most {_MAX_ID} characters, "
            f"got {str(value)[:60]!r}"
        )
    if any(ord(char) < 32 for char in value):
        raise ConfigurationError(f"{owner}.{field} must not contain control characters")


def _count(owner: str, field: str, value: object, *, positive: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(
            f"{owner}.{field} must be a whole number, got {type(value).__name__} {value!r}"
        )
    if value < (1 if positive else 0):
        raise ConfigurationError(
            f"{owner}.{field} must be {'> 0' if positive else '>= 0'}, got {value}"
        )


class LocationKind(StrEnum):
    """What kind of place holds stock."""

    WAREHOUSE = "warehouse"
    STORE = "store"
    DISTRIBUTOR = "distributor"


def _regions(value: Iterable[str]) -> tuple[str, ...]:
    """Regions as a tuple (one string counts as one region, not its characters)."""
    return (value,) if isinstance(value, str) else tuple(value)


@attrs.frozen(kw_only=True)
class Location:
    """A place that holds stock (a warehouse, a store, a distributor).

    Attributes:
        id: The location's id (``WH-HZ``), used in every stock operation.
        kind: Warehouse, store or distributor.
        name: A name people read.
        region: Where it is (``east``), for allocation by region.
        priority: Lower numbers are preferred when several locations could serve.
        regions_served: The regions it ships to.

    Raises:
        ConfigurationError: a field is malformed (the message names it).
    """

    id: str
    kind: LocationKind = LocationKind.WAREHOUSE
    name: str = ""
    region: str | None = None
    priority: int = 100
    regions_served: tuple[str, ...] = attrs.field(default=(), converter=_regions)

    def __attrs_post_init__(self) -> None:
        _text("Location", "id", self.id)
        try:
            object.__setattr__(self, "kind", LocationKind(self.kind))
        except ValueError:
            raise ConfigurationError(
                f"Location.kind must be one of {', '.join(k.value for k in LocationKind)}, "
                f"got {str(self.kind)[:40]!r}"
            ) from None
        if not isinstance(self.name, str):
            raise ConfigurationError("Location.name must be a string")
        _text("Location", "region", self.region, optional=True)
        if isinstance(self.priority, bool) or not isinstance(self.priority, int):
            raise ConfigurationError(f"Location.priority must be an integer, got {self.priority!r}")
        for region in self.regions_served:
            _text("Location", "regions_served", region)


@attrs.frozen(kw_only=True)
class StockLevel:
    """The counters of one SKU at one location.

    Attributes:
        sku: The merchant SKU.
        location: The location id.
        on_hand: Units physically there and sellable (damaged units are not counted).
        reserved: Units held for reservations, not yet shipped.
        in_transfer: Units on their way out to another location.
        damaged: Returned damaged units: counted, never available.
    """

    sku: str
    location: str
    on_hand: int
    reserved: int
    in_transfer: int
    damaged: int = 0

    @property
    def available(self) -> int:
        """Units that can be reserved: ``on_hand - reserved - in_transfer``."""
        return self.on_hand - self.reserved - self.in_transfer


@attrs.frozen(kw_only=True)
class ReservationLine:
    """One line of a reservation request.

    Lines of the same SKU and location are summed before availability is checked (R2).

    Attributes:
        sku: The merchant SKU.
        quantity: Units wanted (> 0).
        location: Where to reserve; ``None`` takes the request's location, else the
            preferred location that covers the line whole.
        gift: A gift or promotion line (see :class:`GiftPolicy`).
        bundle: The bundle the line belongs to, if any.

    Raises:
        ConfigurationError: a field is malformed (the message names it).
    """

    sku: str
    quantity: int
    location: str | None = None
    gift: bool = False
    bundle: str | None = None

    def __attrs_post_init__(self) -> None:
        _text("ReservationLine", "sku", self.sku)
        _count("ReservationLine", "quantity", self.quantity, positive=True)
        _text("ReservationLine", "location", self.location, optional=True)
        if not isinstance(self.gift, bool):
            raise ConfigurationError("ReservationLine.gift must be true or false")
        _text("ReservationLine", "bundle", self.bundle, optional=True)


class GiftPolicy(StrEnum):
    """What happens when a request's gift lines cannot be reserved (D23)."""

    FAIL = "fail"
    DROP = "drop"


class BackorderPolicy(StrEnum):
    """What happens when a request cannot be reserved now."""

    NONE = "none"
    WAIT = "wait"
    SHIP_PARTIAL = "ship_partial"


def _lines(value: Any) -> tuple[ReservationLine, ...]:
    if isinstance(value, ReservationLine):
        return (value,)
    try:
        return tuple(value)
    except TypeError:
        raise ConfigurationError(
            "ReservationRequest.lines must be a sequence of ReservationLine"
        ) from None


@attrs.frozen(kw_only=True)
class ReservationRequest:
    """What an order asks the inventory to hold.

    Attributes:
        reservation_id: The reservation's id (usually the order id).
        lines: The lines, at least one.
        channel: The sales channel, for per-channel quotas.
        ttl: How long the reservation holds before :meth:`Inventory.expire_due`
            releases it (payment timeout); ``None`` holds until released.
        gift_policy: What to do when gift lines cannot be reserved.
        backorder: What to do when the request cannot be reserved now.
        location: The location for lines that name none.

    Raises:
        ConfigurationError: a field is malformed (the message names it).
    """

    reservation_id: str
    lines: tuple[ReservationLine, ...] = attrs.field(converter=_lines)
    channel: str | None = None
    ttl: timedelta | None = None
    gift_policy: GiftPolicy = GiftPolicy.FAIL
    backorder: BackorderPolicy = BackorderPolicy.NONE
    location: str | None = None

    def __attrs_post_init__(self) -> None:
        _text("ReservationRequest", "reservation_id", self.reservation_id)
        if not self.lines:
            raise ConfigurationError("ReservationRequest.lines must hold at least one line")
        for line in self.lines:
            if not isinstance(line, ReservationLine):
                raise ConfigurationError(
                    "ReservationRequest.lines must hold ReservationLine items, "
                    f"got {type(line).__name__}"
                )
        _text("ReservationRequest", "channel", self.channel, optional=True)
        _text("ReservationRequest", "location", self.location, optional=True)
        if self.ttl is not None and (
            not isinstance(self.ttl, timedelta) or self.ttl <= timedelta(0)
        ):
            raise ConfigurationError(
                f"ReservationRequest.ttl must be a positive timedelta or None, got {self.ttl!r}"
            )
        for name, enum in (("gift_policy", GiftPolicy), ("backorder", BackorderPolicy)):
            try:
                object.__setattr__(self, name, enum(getattr(self, name)))
            except ValueError:
                raise ConfigurationError(
                    f"ReservationRequest.{name} must be one of "
                    f"{', '.join(item.value for item in enum)}, got {getattr(self, name)!r}"
                ) from None

    def fingerprint(self) -> str:
        """A stable digest of the request (for idempotency keys): same request, same digest.

        Example:
            >>> line = ReservationLine(sku="A", quantity=1)
            >>> a = ReservationRequest(reservation_id="o1", lines=[line])
            >>> b = ReservationRequest(reservation_id="o1", lines=[line])
            >>> a.fingerprint() == b.fingerprint()
            True
        """
        body = {
            "id": self.reservation_id,
            "lines": [
                [line.sku, line.quantity, line.location, line.gift, line.bundle]
                for line in self.lines
            ],
            "channel": self.channel,
            "ttl": None if self.ttl is None else self.ttl.total_seconds(),
            "gift": self.gift_policy.value,
            "backorder": self.backorder.value,
            "location": self.location,
        }
        text = json.dumps(body, separators=(",", ":"), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


class ReservationStatus(StrEnum):
    """Where a reservation is in its life."""

    ACTIVE = "active"
    PARTIALLY_COMMITTED = "partially_committed"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"
    BACKORDERED = "backordered"


@attrs.frozen(kw_only=True)
class ReservedLine:
    """Units of one SKU held at one location for a reservation.

    Attributes:
        sku: The merchant SKU.
        location: Where the units are held.
        quantity: Units reserved (committed ones included).
        committed: Units of ``quantity`` already committed (shipped).
        gift: Whether the units are a gift.
    """

    sku: str
    location: str
    quantity: int
    committed: int = 0
    gift: bool = False

    @property
    def open(self) -> int:
        """Units still held: reserved and not yet committed."""
        return self.quantity - self.committed


@attrs.frozen(kw_only=True)
class Reservation:
    """A reservation as stored.

    Attributes:
        id: The reservation id.
        status: Its status.
        lines: What is held, one line per SKU, location and gift flag.
        channel: The channel of the request.
        created_at: When it was first reserved (or queued).
        updated_at: When it last changed.
        expires_at: When :meth:`Inventory.expire_due` releases it (``None``: never).
        dropped: Gift lines dropped under :attr:`GiftPolicy.DROP`.
        waiting: Lines still backordered, waiting for stock.
        version: Increases by one with every change.
    """

    id: str
    status: ReservationStatus
    lines: tuple[ReservedLine, ...]
    channel: str | None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    dropped: tuple[ReservationLine, ...] = ()
    waiting: tuple[ReservationLine, ...] = ()
    version: int = 1

    def reserved(self, sku: str) -> int:
        """Units of ``sku`` held and not committed, over all locations."""
        return sum(line.open for line in self.lines if line.sku == sku)


class EntryKind(StrEnum):
    """What a ledger entry records."""

    RECEIVE = "receive"
    RESERVE = "reserve"
    RELEASE = "release"
    EXPIRE = "expire"
    COMMIT = "commit"
    RETURN_STOCK = "return_stock"
    RETURN_DAMAGED = "return_damaged"
    ADJUST = "adjust"
    TRANSFER_OUT = "transfer_out"
    TRANSFER_IN = "transfer_in"
    TRANSFER_CANCEL = "transfer_cancel"
    MODIFY = "modify"


@attrs.frozen(kw_only=True)
class LedgerEntry:
    """One append-only ledger entry: the change of one SKU's counters at one location.

    The counters of a SKU and location are the sums of its entries' deltas.

    Attributes:
        seq: The entry's position in the ledger (increasing).
        at: When it was written.
        sku: The merchant SKU.
        location: The location.
        kind: What happened.
        on_hand: Change of on hand.
        reserved: Change of reserved.
        in_transfer: Change of in transfer.
        damaged: Change of damaged.
        reservation_id: The reservation it belongs to.
        adjustment_id: The adjustment it applies.
        transfer_id: The transfer it belongs to.
        actor: Who or what made the change.
        reason: Why, in words.
    """

    seq: int
    at: datetime
    sku: str
    location: str
    kind: EntryKind
    on_hand: int
    reserved: int
    in_transfer: int
    damaged: int
    reservation_id: str | None
    adjustment_id: str | None
    transfer_id: str | None
    actor: Actor
    reason: str | None


class AdjustmentStatus(StrEnum):
    """Where a manual adjustment is in its approval."""

    PROPOSED = "proposed"
    APPROVED = "approved"
    REJECTED = "rejected"


@attrs.frozen(kw_only=True)
class Adjustment:
    """A manual stock adjustment (damage, gift out, count correction), approved by a person (D25).

    Attributes:
        id: The adjustment id.
        sku: The merchant SKU.
        location: The location.
        delta: Units added (> 0) or removed (< 0) from on hand once approved.
        reason: Why (required).
        proposed_by: Who proposed it.
        proposed_at: When.
        status: Proposed, approved or rejected.
        decided_by: The person who approved or rejected it.
        decided_at: When.
        decision_note: What they said.
    """

    id: str
    sku: str
    location: str
    delta: int
    reason: str
    proposed_by: Actor
    proposed_at: datetime
    status: AdjustmentStatus = AdjustmentStatus.PROPOSED
    decided_by: Actor | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None


class TransferStatus(StrEnum):
    """Where a transfer between locations is."""

    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    CANCELLED = "cancelled"


@attrs.frozen(kw_only=True)
class Transfer:
    """Units moving from one location to another.

    While in transit they count as ``in_transfer`` at the source (not available);
    received, they leave the source's on hand and join the destination's.

    Attributes:
        id: The transfer id.
        sku: The merchant SKU.
        from_location: Where the units leave.
        to_location: Where they arrive.
        quantity: Units moved.
        status: In transit, received or cancelled.
        created_at: When it was sent.
        received_at: When it was received or cancelled.
        actor: Who sent it.
    """

    id: str
    sku: str
    from_location: str
    to_location: str
    quantity: int
    status: TransferStatus
    created_at: datetime
    received_at: datetime | None
    actor: Actor


@attrs.frozen(kw_only=True)
class Drift:
    """A counter that does not match the sum of its ledger entries.

    Attributes:
        sku: The merchant SKU.
        location: The location.
        field: ``"on_hand"``, ``"reserved"``, ``"in_transfer"`` or ``"damaged"``.
        counter: The stored counter.
        ledger: The sum of the ledger's deltas (what the counter should be).
    """

    sku: str
    location: str
    field: str
    counter: int
    ledger: int

    @property
    def difference(self) -> int:
        """``counter - ledger``: how far the counter is off."""
        return self.counter - self.ledger
