"""The memory store: the whole protocol in one process's memory, for tests and experiments."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from ordercore.errors import (
    StoreURLError,
)
from ordercore.schema import Actor, Order, OrderEvent
from ordercore.storage._base import (
    BaseStore,
    Change,
    id_taken,
    key_reused,
    key_taken,
    order_not_found,
    result_json,
    stale_version,
)
from ordercore.storage._protocol import (
    IdempotencyRecord,
    OrderQuery,
    OutboxMessage,
    order_fingerprint,
)
from ordercore.timestamps import utc_now

__all__ = ["MemoryStore"]


class _Row:
    __slots__ = ("json", "order", "sort_key")

    def __init__(self, order: Order) -> None:
        # Kept as JSON too, so what comes back went through the same round trip as
        # in a real store and nothing a caller holds aliases stored state.
        self.json = order.model_dump_json()
        self.order = order
        self.sort_key = order.sort_key()


class _Outbox:
    __slots__ = ("attempts", "claimed_until", "delivered", "message")

    def __init__(self, message: OutboxMessage) -> None:
        self.message = message
        self.claimed_until = 0.0
        self.attempts = 0
        self.delivered = False


class MemoryStore(BaseStore):
    """An :class:`~ordercore.storage.OrderStore` in memory, safe across threads.

    Nothing survives the process. Each ``open_store("memory://")`` is a new,
    empty store. Use it in tests and to try things out; use SQLite for anything
    you want to keep.

    Example:
        >>> store = MemoryStore()
        >>> store.count()
        0
    """

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.RLock()
        self._orders: dict[str, _Row] = {}
        self._keys: dict[tuple[str, str], str] = {}
        self._events: dict[str, list[str]] = {}
        self._outbox: list[_Outbox] = []
        self._idempotency: dict[str, IdempotencyRecord] = {}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryStore:
        """Open from ``memory://`` (the URL takes no path or options)."""
        if options:
            raise StoreURLError(
                f"the memory store takes no options, got {sorted(options)}", url=url
            )
        rest = url.partition("://")[2]
        if rest not in ("", "/"):
            raise StoreURLError("a memory store URL is just 'memory://'", url=url)
        return cls(url)

    # -- writes ---------------------------------------------------------------------------

    def _check_new(self, order: Order, pending: Mapping[tuple[str, str], str]) -> None:
        if order.id in self._orders:
            raise id_taken(order)
        existing = self._keys.get(order.key) or pending.get(order.key)
        if existing is not None:
            raise key_taken(order, existing)

    def _apply(self, change: Change) -> None:
        order = change.order
        previous = self._orders.get(order.id)
        if previous is not None and previous.order.key != order.key:
            del self._keys[previous.order.key]
        self._orders[order.id] = _Row(order)
        self._keys[order.key] = order.id
        self._events.setdefault(order.id, []).extend(change.events_json)
        message = OutboxMessage(
            id=len(self._outbox) + 1,
            topic=change.topic,
            order_id=order.id,
            order_version=order.version,
            payload=change.outbox_payload,
            created_at=utc_now(),
        )
        self._outbox.append(_Outbox(message))

    def _replay(self, key: str | None, fingerprint: str) -> Order | None:
        if key is None:
            return None
        record = self._idempotency.get(key)
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise key_reused(key)
        return self.get(str(record.result["order_id"]))

    def _remember_write(self, key: str | None, fingerprint: str, order: Order) -> None:
        if key is not None:
            self._idempotency[key] = IdempotencyRecord(
                key=key,
                fingerprint=fingerprint,
                result={"order_id": order.id, "version": order.version},
                created_at=utc_now(),
            )

    def put(
        self,
        order: Order,
        *,
        events: Sequence[OrderEvent] = (),
        actor: Actor | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        self._check_open()
        fingerprint = order_fingerprint(order) if idempotency_key else ""
        with self._lock:
            replayed = self._replay(idempotency_key, fingerprint)
            if replayed is not None:
                return replayed
            change = self._new_change(order, events, actor)
            self._check_new(order, {})
            self._apply(change)
            self._remember_write(idempotency_key, fingerprint, change.order)
            return change.order

    def put_many(self, orders: Iterable[Order], *, actor: Actor | None = None) -> list[Order]:
        self._check_open()
        changes = [self._new_change(order, (), actor) for order in orders]
        with self._lock:
            pending: dict[tuple[str, str], str] = {}
            ids: set[str] = set()
            for change in changes:
                order = change.order
                if order.id in ids:
                    raise id_taken(order, in_batch=True)
                self._check_new(order, pending)
                pending[order.key] = order.id
                ids.add(order.id)
            for change in changes:
                self._apply(change)
        return [change.order for change in changes]

    def update(
        self,
        order: Order,
        *,
        events: Sequence[OrderEvent] = (),
        actor: Actor | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        self._check_open()
        fingerprint = order_fingerprint(order) if idempotency_key else ""
        with self._lock:
            replayed = self._replay(idempotency_key, fingerprint)
            if replayed is not None:
                return replayed
            change = self._update_change(order, events, actor)
            row = self._orders.get(order.id)
            if row is None:
                raise order_not_found(order.id)
            if row.order.version != order.version:
                raise stale_version(order, row.order.version)
            owner = self._keys.get(order.key)
            if owner is not None and owner != order.id:
                raise key_taken(order, owner)
            self._apply(change)
            self._remember_write(idempotency_key, fingerprint, change.order)
            return change.order

    def append_events(self, order_id: str, events: Sequence[OrderEvent]) -> None:
        self._check_open()
        with self._lock:
            row = self._orders.get(order_id)
            if row is None:
                raise order_not_found(order_id)
            change = self._events_change(row.order, events)
            self._events[order_id].extend(change.events_json)
            message = OutboxMessage(
                id=len(self._outbox) + 1,
                topic=change.topic,
                order_id=order_id,
                order_version=row.order.version,
                payload=change.outbox_payload,
                created_at=utc_now(),
            )
            self._outbox.append(_Outbox(message))

    # -- reads ------------------------------------------------------------------------------

    def get(self, order_id: str) -> Order:
        self._check_open()
        with self._lock:
            row = self._orders.get(order_id)
            if row is None:
                raise order_not_found(order_id)
            text = row.json
        return Order.model_validate_json(text)

    def find(self, channel: str, channel_order_id: str) -> Order | None:
        self._check_open()
        with self._lock:
            order_id = self._keys.get((channel, channel_order_id))
        return None if order_id is None else self.get(order_id)

    def _matching(self, query: OrderQuery) -> list[_Row]:
        with self._lock:
            rows = [row for row in self._orders.values() if query.matches(row.order)]
        rows.sort(key=lambda row: row.sort_key)
        return rows

    def _query(self, query: OrderQuery) -> list[Order]:
        return [Order.model_validate_json(row.json) for row in self._matching(query)[: query.limit]]

    def _count(self, query: OrderQuery) -> int:
        return len(self._matching(attrs.evolve(query, after=None)))

    def events(self, order_id: str) -> list[OrderEvent]:
        self._check_open()
        with self._lock:
            texts = list(self._events.get(order_id, ()))
        return [OrderEvent.model_validate_json(text) for text in texts]

    # -- outbox -------------------------------------------------------------------------------

    def claim_outbox(self, limit: int = 100, *, lease_seconds: float = 30.0) -> list[OutboxMessage]:
        self._check_open()
        now = time.monotonic()
        claimed: list[OutboxMessage] = []
        with self._lock:
            for entry in self._outbox:
                if len(claimed) >= limit:
                    break
                if entry.delivered or entry.claimed_until > now:
                    continue
                entry.claimed_until = now + lease_seconds
                entry.attempts += 1
                claimed.append(_with_attempts(entry.message, entry.attempts))
        return claimed

    def ack_outbox(self, ids: Iterable[int]) -> None:
        self._check_open()
        with self._lock:
            for message_id in ids:
                if 1 <= message_id <= len(self._outbox):
                    self._outbox[message_id - 1].delivered = True

    def outbox_pending(self) -> int:
        self._check_open()
        with self._lock:
            return sum(1 for entry in self._outbox if not entry.delivered)

    # -- idempotency ----------------------------------------------------------------------------

    def remember(self, key: str, fingerprint: str, result: Mapping[str, Any]) -> IdempotencyRecord:
        self._check_open()
        text = result_json(result)
        with self._lock:
            record = self._idempotency.get(key)
            if record is None:
                record = IdempotencyRecord(
                    key=key, fingerprint=fingerprint, result=json.loads(text), created_at=utc_now()
                )
                self._idempotency[key] = record
            elif record.fingerprint != fingerprint:
                raise key_reused(key)
            return record

    def recall(self, key: str) -> IdempotencyRecord | None:
        self._check_open()
        with self._lock:
            return self._idempotency.get(key)


def _with_attempts(message: OutboxMessage, attempts: int) -> OutboxMessage:
    return attrs.evolve(message, attempts=attempts)
