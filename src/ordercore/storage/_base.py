"""What every store does the same way: versions, events and outbox messages of a change."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Self

from ordercore.errors import (
    ConfigurationError,
    DuplicateOrder,
    IdempotencyConflict,
    OrderNotFound,
    StoreClosed,
    VersionConflict,
)
from ordercore.ids import new_id
from ordercore.schema import Actor, Order, OrderEvent
from ordercore.storage._protocol import OrderQuery, coerce_query
from ordercore.timestamps import utc_now

CREATED = "order.created"
UPDATED = "order.updated"
EVENTS = "order.events"
_SYSTEM = Actor.system()
_quote = json.encoder.encode_basestring  # a JSON string literal, non-ASCII kept as is


def dumps(value: Any) -> str:
    """Compact JSON for payload columns."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def result_json(result: Any) -> str:
    """The JSON text of an idempotency result; refuses what JSON cannot hold."""
    try:
        return dumps(dict(result))
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"an idempotency result must be a JSON object: {exc}") from None


class Change:
    """One atomic write: the order as it will be stored and its outbox message.

    Attributes:
        order: The order as it will be stored (new version and times set).
        topic: The outbox topic.
        outbox_json: The outbox payload as JSON text: the order's key, version and
            status, and the events of the change stamped with that version. The
            change log keeps it, so it is also the order's event history.
    """

    __slots__ = ("order", "outbox_json", "topic")

    def __init__(self, order: Order, topic: str, outbox_json: str) -> None:
        self.order = order
        self.topic = topic
        self.outbox_json = outbox_json

    @classmethod
    def with_events(cls, order: Order, topic: str, events: list[dict[str, Any]]) -> Change:
        """A change whose outbox payload carries ``events`` (JSON objects)."""
        payload = {
            "order_id": order.id,
            "version": order.version,
            "channel": order.channel,
            "channel_order_id": order.channel_order_id,
            "status": order.status.value,
            "events": events,
        }
        return cls(order, topic, dumps(payload))

    @property
    def outbox_payload(self) -> dict[str, Any]:
        """The outbox payload as a JSON object."""
        payload: dict[str, Any] = json.loads(self.outbox_json)
        return payload

    @property
    def events_json(self) -> list[str]:
        """Each event of the change as JSON text."""
        return [dumps(event) for event in self.outbox_payload["events"]]


def _json_time(moment: datetime) -> str:
    """An aware UTC datetime as pydantic writes it (``...Z``)."""
    return moment.isoformat().replace("+00:00", "Z")


def created_payload(order: Order, at: str, actor: Actor) -> str:
    """The outbox payload of storing a new order with no other events.

    Written as text directly: it is produced once per stored order, every value
    in it is known valid, and it equals ``Change.with_events`` of the same event.
    """
    q = _quote
    status = q(order.status.value)
    key = f'"channel":{q(order.channel)},"channel_order_id":{q(order.channel_order_id)}'
    order_id = q(order.id)
    return (
        f'{{"order_id":{order_id},"version":1,{key},"status":{status},"events":[{{'
        f'"event_id":{q(new_id())},"order_id":{order_id},"type":"{CREATED}","at":"{at}",'
        f'"actor":{{"kind":{q(actor.kind.value)},"id":{q(actor.id)}}},"from_status":null,'
        f'"to_status":{status},"reason":null,"data":{{{key}}},"order_version":1}}]}}'
    )


class BaseStore(ABC):
    """Shared behaviour of the stores; backends implement the storage itself."""

    url: str = ""
    _closed: bool = False

    # -- lifecycle ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"the store {self.url} is closed")

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__} {self.url}{state}>"

    # -- preparing changes --------------------------------------------------------------

    @staticmethod
    def _new_change(
        order: Order,
        events: Sequence[OrderEvent],
        actor: Actor | None,
        now: datetime | None = None,
        at: str | None = None,
    ) -> Change:
        """The change that stores a new order; ``now``/``at`` let a batch share one clock."""
        if order.version != 0:
            raise VersionConflict(
                f"order {order.id} already has version {order.version}; put() stores new "
                "orders (version 0), use update() to change a stored one",
                order_id=order.id,
                expected=0,
                actual=order.version,
            )
        now = now or utc_now()
        at = at or _json_time(now)
        stored = order.model_copy(update={"version": 1, "recorded_at": now, "updated_at": now})
        payload = created_payload(stored, at, actor or _SYSTEM)
        if not events:
            return Change(stored, CREATED, payload)
        created = json.loads(payload)["events"][0]
        return Change.with_events(stored, CREATED, [created, *_stamp(events, order.id, 1)])

    @staticmethod
    def _update_change(order: Order, events: Sequence[OrderEvent], actor: Actor | None) -> Change:
        if order.version < 1:
            raise VersionConflict(
                f"order {order.id} has version 0: it was never stored; use put()",
                order_id=order.id,
                expected=order.version,
                actual=None,
            )
        now = utc_now()
        stored = order.model_copy(update={"version": order.version + 1, "updated_at": now})
        if not events:
            events = [OrderEvent(order_id=order.id, type=UPDATED, at=now, actor=actor or _SYSTEM)]
        return Change.with_events(stored, UPDATED, _stamp(events, order.id, stored.version))

    @staticmethod
    def _events_change(order: Order, events: Sequence[OrderEvent]) -> Change:
        if not events:
            raise ConfigurationError("append_events() needs at least one event")
        return Change.with_events(order, EVENTS, _stamp(events, order.id, order.version))

    # -- queries --------------------------------------------------------------------------

    def query(self, query: OrderQuery | None = None, /, **filters: Any) -> list[Order]:
        self._check_open()
        return self._query(coerce_query(query, filters))

    def count(self, query: OrderQuery | None = None, /, **filters: Any) -> int:
        self._check_open()
        return self._count(coerce_query(query, filters))

    @abstractmethod
    def _query(self, query: OrderQuery) -> list[Order]:
        """Run a validated query."""

    @abstractmethod
    def _count(self, query: OrderQuery) -> int:
        """Count the orders a validated query matches."""


def events_from_payloads(payloads: Iterable[str]) -> list[OrderEvent]:
    """The events recorded in change-log payloads (``Change.outbox_json``), in order."""
    return [
        OrderEvent.model_validate(event)
        for payload in payloads
        for event in json.loads(payload)["events"]
    ]


# -- the errors every backend raises, worded the same everywhere -------------------------


def order_not_found(order_id: str) -> OrderNotFound:
    """No stored order has ``order_id``."""
    return OrderNotFound(f"no order with id {order_id}", order_id=order_id)


def id_taken(order: Order, *, in_batch: bool = False) -> DuplicateOrder:
    """The order's id is stored already (or repeated within one batch)."""
    where = "appears twice in the batch" if in_batch else "is already stored"
    return DuplicateOrder(f"order id {order.id} {where}", order_id=order.id, existing_id=order.id)


def key_taken(order: Order, existing_id: str | None, *, in_batch: bool = False) -> DuplicateOrder:
    """Another order (``existing_id``) has the same ``(channel, channel_order_id)``."""
    where = "appears twice in the batch" if in_batch else f"is already stored as {existing_id}"
    return DuplicateOrder(
        f"{order.channel} order {order.channel_order_id} {where}",
        order_id=order.id,
        channel=order.channel,
        channel_order_id=order.channel_order_id,
        existing_id=existing_id,
    )


def stale_version(order: Order, actual: int) -> VersionConflict:
    """The stored version moved on since ``order`` was read."""
    return VersionConflict(
        f"order {order.id} is at version {actual}, the change was based on version "
        f"{order.version}; re-read it and try again",
        order_id=order.id,
        expected=order.version,
        actual=actual,
    )


def key_reused(key: str) -> IdempotencyConflict:
    """An idempotency key came back with a different request."""
    return IdempotencyConflict(
        f"idempotency key {key!r} was already used for a different request", key=key
    )


def _stamp(events: Sequence[OrderEvent], order_id: str, version: int) -> list[dict[str, Any]]:
    """The events as JSON objects, each stamped with the order version it produced."""
    stamped = []
    for event in events:
        if not isinstance(event, OrderEvent):
            raise ConfigurationError(f"expected an OrderEvent, got {type(event).__name__}")
        if event.order_id != order_id:
            raise ConfigurationError(
                f"event {event.event_id} is for order {event.order_id}, not {order_id}"
            )
        stamped.append(event.model_copy(update={"order_version": version}).model_dump(mode="json"))
    return stamped
