"""The store protocol every backend implements, and the value types it exchanges."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, Self, runtime_checkable

import attrs

from ordercore.errors import ConfigurationError
from ordercore.schema import Actor, Order, OrderEvent, OrderStatus

__all__ = [
    "IdempotencyRecord",
    "OrderQuery",
    "OrderStore",
    "OutboxMessage",
    "order_fingerprint",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
MAX_QUERY_LIMIT = 100_000


def to_micros(value: datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (sortable column value)."""
    return (value - _EPOCH) // _MICRO


def from_micros(value: int) -> datetime:
    """The inverse of :func:`to_micros`."""
    return _EPOCH + timedelta(microseconds=value)


def _statuses(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = (value,) if isinstance(value, str) else tuple(value)  # type: ignore[arg-type]
    try:
        return tuple(sorted({OrderStatus(item).value for item in items}))
    except ValueError as exc:
        raise ConfigurationError(f"unknown order status in query: {exc}") from None


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ConfigurationError("query times must be timezone-aware datetimes")
    return value


def _limit(value: int) -> int:
    if not 1 <= value <= MAX_QUERY_LIMIT:
        raise ConfigurationError(f"query limit must be within 1..{MAX_QUERY_LIMIT}, got {value}")
    return value


@attrs.frozen(kw_only=True)
class OrderQuery:
    """Which orders to list. Every filter is optional; results sort by placement time, then id.

    Attributes:
        channel: Only this channel.
        shop_id: Only this shop.
        status: Only these canonical statuses (one or several).
        tag: Only orders carrying this tag.
        created_from: Placed at or after this instant (aware).
        created_to: Placed before this instant (aware).
        after: Keyset cursor: only orders sorting after this ``(created_at, id)``;
            pass the :meth:`~ordercore.schema.Order.sort_key` of the last order of a page.
        limit: At most this many orders (1..100,000).

    Example:
        >>> OrderQuery(channel="douyin", status=["paid", "allocated"], limit=50).status
        ('allocated', 'paid')
    """

    channel: str | None = None
    shop_id: str | None = None
    status: tuple[str, ...] | None = attrs.field(default=None, converter=_statuses)
    tag: str | None = None
    created_from: datetime | None = attrs.field(default=None, converter=_aware)
    created_to: datetime | None = attrs.field(default=None, converter=_aware)
    after: tuple[datetime, str] | None = None
    limit: int = attrs.field(default=1000, converter=_limit)

    def matches(self, order: Order) -> bool:
        """Whether ``order`` passes every filter (used by the memory store and tests)."""
        created = order.created_at.utc
        return (
            (self.channel is None or order.channel == self.channel)
            and (self.shop_id is None or order.shop_id == self.shop_id)
            and (self.status is None or order.status.value in self.status)
            and (self.tag is None or self.tag in order.tags)
            and (self.created_from is None or created >= self.created_from)
            and (self.created_to is None or created < self.created_to)
            and (self.after is None or order.sort_key() > self.after)
        )


@attrs.frozen(kw_only=True)
class OutboxMessage:
    """One change to publish, written in the same transaction as the change.

    Attributes:
        id: Increasing in write order; for one order it follows the versions.
            Where several writers commit at once an id may become visible after a
            larger one, so do not rely on gap-free ids across orders.
        topic: ``order.created``, ``order.updated`` or ``order.events``.
        order_id: The order that changed.
        order_version: The order's version after the change.
        payload: JSON: the order's key, status and the events of the change.
        created_at: When the change was committed.
        attempts: How many times the message has been claimed.
    """

    id: int
    topic: str
    order_id: str
    order_version: int
    payload: Mapping[str, Any]
    created_at: datetime
    attempts: int = 0


@attrs.frozen(kw_only=True)
class IdempotencyRecord:
    """What a store remembers about an idempotency key.

    Attributes:
        key: The caller's key (a webhook message id, a request id...).
        fingerprint: A digest of the request the key was first used with.
        result: The JSON result recorded for it.
        created_at: When the key was first used.
    """

    key: str
    fingerprint: str
    result: Mapping[str, Any]
    created_at: datetime


def order_fingerprint(order: Order) -> str:
    """A digest of what an order says, ignoring ids, versions and receipt times.

    Two deliveries of the same channel order content have the same fingerprint,
    even though each was given its own ``id`` and ``source.received_at``.
    """
    data = order.model_dump(
        mode="json", exclude={"id", "version", "recorded_at", "updated_at", "source"}
    )
    data["source"] = {"kind": order.source.kind.value, "name": order.source.name}
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@runtime_checkable
class OrderStore(Protocol):
    """What every order store does. Open one with :func:`ordercore.open_store`.

    Writes are atomic: an order, its events and its one outbox message are
    committed together or not at all. A failed write changes nothing and does
    not bump the version.
    """

    url: str

    def put(
        self,
        order: Order,
        *,
        events: Sequence[OrderEvent] = (),
        actor: Actor | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        """Store a new order (its version must be 0) and return it as stored, version 1.

        An ``order.created`` event is recorded, plus any ``events`` given.

        Raises:
            DuplicateOrder: the id or ``(channel, channel_order_id)`` is already stored.
            VersionConflict: ``order.version`` is not 0.
            IdempotencyConflict: ``idempotency_key`` was used for a different order.
        """
        ...

    def put_many(self, orders: Iterable[Order], *, actor: Actor | None = None) -> list[Order]:
        """Store new orders in one transaction: all of them, or none when one fails."""
        ...

    def get(self, order_id: str) -> Order:
        """Return the stored order.

        Raises:
            OrderNotFound: no order has that id.
        """
        ...

    def find(self, channel: str, channel_order_id: str) -> Order | None:
        """Return the order with that channel reference, or ``None``."""
        ...

    def update(
        self,
        order: Order,
        *,
        events: Sequence[OrderEvent] = (),
        actor: Actor | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        """Replace a stored order if nobody changed it since it was read.

        ``order.version`` is the version the change is based on; the stored
        result has that version + 1. Records ``events`` (or an ``order.updated``
        event when none are given).

        Raises:
            VersionConflict: the stored version is not ``order.version``.
            OrderNotFound: no order has that id.
            DuplicateOrder: the change would give it another order's channel reference.
            IdempotencyConflict: ``idempotency_key`` was used for a different change.
        """
        ...

    def query(self, query: OrderQuery | None = None, /, **filters: Any) -> list[Order]:
        """List orders matching ``query`` (or the :class:`OrderQuery` fields given as keywords)."""
        ...

    def count(self, query: OrderQuery | None = None, /, **filters: Any) -> int:
        """Count orders matching the query (``limit`` and ``after`` are ignored)."""
        ...

    def append_events(self, order_id: str, events: Sequence[OrderEvent]) -> None:
        """Record events that changed no order field (a note, an alert), with one outbox message.

        Raises:
            OrderNotFound: no order has that id.
        """
        ...

    def events(self, order_id: str) -> list[OrderEvent]:
        """Return the order's events, oldest first."""
        ...

    def claim_outbox(self, limit: int = 100, *, lease_seconds: float = 30.0) -> list[OutboxMessage]:
        """Hand out up to ``limit`` undelivered messages, oldest first.

        A claimed message is not handed out again for ``lease_seconds``; if it is
        not acknowledged by then it becomes claimable again (at-least-once).
        Several workers, in any number of processes, may claim at once: each
        message is handed to one of them.
        """
        ...

    def ack_outbox(self, ids: Iterable[int]) -> None:
        """Mark messages as delivered; they are never handed out again."""
        ...

    def outbox_pending(self) -> int:
        """How many messages are not yet delivered."""
        ...

    def remember(self, key: str, fingerprint: str, result: Mapping[str, Any]) -> IdempotencyRecord:
        """Record ``result`` under ``key`` unless the key is known; return what is recorded.

        Raises:
            IdempotencyConflict: the key is known with a different fingerprint.
        """
        ...

    def recall(self, key: str) -> IdempotencyRecord | None:
        """Return what is recorded under ``key``, or ``None``."""
        ...

    def close(self) -> None:
        """Release connections; the store cannot be used afterwards."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc_info: object) -> None: ...


def coerce_query(query: OrderQuery | None, filters: Mapping[str, Any]) -> OrderQuery:
    """Combine a positional OrderQuery and keyword filters into one query."""
    if query is None:
        try:
            return OrderQuery(**filters)
        except TypeError as exc:
            raise ConfigurationError(f"bad query filter: {exc}") from None
    if filters:
        return attrs.evolve(query, **filters)
    return query
