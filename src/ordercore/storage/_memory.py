"""The memory store: the whole protocol in one process's memory, for tests and experiments."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from ordercore.errors import (
    StoreURLError,
)
from ordercore.ids import new_id
from ordercore.schema import Actor, Order, OrderEvent
from ordercore.storage._protocol import (
    IdempotencyRecord,
    OrderQuery,
    OrderUpdate,
    OutboxMessage,
    Timer,
    TimerFinish,
    TimerPlan,
    order_fingerprint,
)
from ordercore.storage.kit import (
    ORDER_STREAM,
    BaseStore,
    BatchResult,
    Change,
    ExistingOrder,
    OnExisting,
    OutboxEntry,
    Outcome,
    PutOutcome,
    change_log_problems,
    id_taken,
    key_reused,
    key_taken,
    load_stored_order,
    order_not_found,
    order_row,
    plan_batch,
    result_json,
    stale_version,
)
from ordercore.timestamps import utc_now

__all__ = ["MemoryStore"]


class _Row:
    __slots__ = ("body", "order", "raw", "raw_type", "sort_key")

    def __init__(self, order: Order) -> None:
        # Kept as the SQL stores keep it too (body JSON and raw payload apart), so what
        # comes back went through the same round trip and aliases no stored state.
        row = order_row(order)
        self.body, self.raw, self.raw_type = row.body, row.raw, row.raw_type
        self.order = order
        self.sort_key = order.sort_key()

    def load(self) -> Order:
        return load_stored_order(self.body, self.raw, self.raw_type)


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
        self._event_ids: dict[str, int] = {}
        self._timers: dict[tuple[str, str], Timer] = {}

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
        self._append(change)

    def _append(self, change: Change) -> None:
        self._add_message(
            ORDER_STREAM,
            change.order.id,
            change.order.version,
            change.event_id,
            change.topic,
            change.outbox_payload,
        )

    def _add_message(
        self,
        stream: str,
        aggregate_id: str,
        version: int,
        event_id: str,
        topic: str,
        payload: Mapping[str, Any],
    ) -> int:
        message = OutboxMessage(
            id=len(self._outbox) + 1,
            stream=stream,
            aggregate_id=aggregate_id,
            aggregate_version=version,
            event_id=event_id,
            topic=topic,
            payload=payload,
            created_at=utc_now(),
        )
        self._outbox.append(_Outbox(message))
        self._event_ids[event_id] = message.id
        return message.id

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
            change = self.new_change(order, events, actor)
            self._check_new(order, {})
            self._apply(change)
            self._remember_write(idempotency_key, fingerprint, change.order)
            return change.order

    def _put_new(self, changes: Sequence[Change]) -> None:
        with self._lock:
            for change in changes:
                self._check_new(change.order, {})
            for change in changes:
                self._apply(change)

    def _put_planned(
        self, batch: list[Order], actor: Actor | None, policy: OnExisting, now: datetime, at: str
    ) -> BatchResult:
        with self._lock:
            existing: dict[tuple[str, str], ExistingOrder] = {}
            taken: dict[str, tuple[str, str]] = {}
            for order in batch:
                owner = self._keys.get(order.key)
                if owner is not None:
                    stored = self._orders[owner].order
                    changed = stored.channel_updated_at
                    existing[order.key] = ExistingOrder(
                        stored.id,
                        *stored.key,
                        stored.version,
                        None if changed is None else changed.utc,
                    )
                if order.id in self._orders:
                    taken[order.id] = self._orders[order.id].order.key
            plan = plan_batch(
                batch, existing, taken, policy, lambda o: self.new_change(o, (), actor, now, at)
            )
            written: dict[int, PutOutcome] = {}
            for index, change in plan.inserts:
                self._apply(change)
                written[index] = PutOutcome.written(Outcome.CREATED, change.order)
            for index, incoming, ref in plan.replaces:
                change = self.replace_change(incoming, self._orders[ref.id].load(), actor, now)
                self._apply(change)
                written[index] = PutOutcome.written(Outcome.UPDATED, change.order)
        return plan.result(written)

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
            if order.version < 1:
                self.update_change(order, events, actor, "", None)  # raises VersionConflict
            row = self._orders.get(order.id)
            if row is None:
                raise order_not_found(order.id)
            if row.order.version != order.version:
                raise stale_version(order, row.order.version)
            current = row.order
            change = self.update_change(
                order, events, actor, current.status.value, current.status_since
            )
            owner = self._keys.get(order.key)
            if owner is not None and owner != order.id:
                raise key_taken(order, owner)
            self._apply(change)
            self._remember_write(idempotency_key, fingerprint, change.order)
            return change.order

    def update_many(
        self, updates: Iterable[OrderUpdate], *, actor: Actor | None = None
    ) -> list[Order]:
        self._check_open()
        batch = self.check_updates(updates)
        now, _ = self.batch_clock()
        with self._lock:
            changes = []
            claimed: dict[tuple[str, str], str] = {}
            for update in batch:
                order = update.order
                if order.version < 1:
                    self.update_change(order, (), actor, "", None)  # raises VersionConflict
                row = self._orders.get(order.id)
                if row is None:
                    raise order_not_found(order.id)
                if row.order.version != order.version:
                    raise stale_version(order, row.order.version)
                owner = self._keys.get(order.key) or claimed.get(order.key)
                if owner is not None and owner != order.id:
                    raise key_taken(order, owner)
                claimed[order.key] = order.id
                current = row.order
                changes.append(
                    self.update_change(
                        order, update.events, actor, current.status.value, current.status_since, now
                    )
                )
            for change in changes:
                self._apply(change)
            self._write_timers([u.timers for u in batch if u.timers is not None])
            return [change.order for change in changes]

    # -- timers ---------------------------------------------------------------------------------

    def _write_timers(self, plans: Sequence[TimerPlan]) -> None:
        for plan in plans:
            for name in plan.cancel:
                self._timers.pop((plan.order_id, name), None)
            for arm in plan.arm:
                self._timers[(plan.order_id, arm.name)] = Timer(
                    order_id=plan.order_id,
                    name=arm.name,
                    due_at=arm.due_at,
                    level=arm.level,
                    data=arm.data,
                )

    def set_timers(self, plans: Iterable[TimerPlan]) -> None:
        self._check_open()
        batch = self.check_timer_plans(plans)
        with self._lock:
            self._write_timers(batch)

    def timers(self, order_id: str) -> list[Timer]:
        self._check_open()
        with self._lock:
            found = [timer for key, timer in self._timers.items() if key[0] == order_id]
        return sorted(found, key=lambda timer: (timer.due_at, timer.name))

    def timer_count(self, *, due_before: datetime | None = None) -> int:
        self._check_open()
        with self._lock:
            if due_before is None:
                return len(self._timers)
            return sum(1 for timer in self._timers.values() if timer.due_at < due_before)

    def claim_timers(
        self, now: datetime, *, limit: int = 100, lease_seconds: float = 60.0
    ) -> list[Timer]:
        self._check_open()
        until = now + timedelta(seconds=lease_seconds)
        token = new_id()
        with self._lock:
            due = sorted(
                (
                    timer
                    for timer in self._timers.values()
                    if timer.due_at <= now
                    and (timer.claimed_until is None or timer.claimed_until <= now)
                ),
                key=lambda timer: timer.due_at,
            )[:limit]
            claimed = []
            for timer in due:
                taken = attrs.evolve(
                    timer, claim=token, claimed_until=until, attempts=timer.attempts + 1
                )
                self._timers[(timer.order_id, timer.name)] = taken
                row = self._orders.get(timer.order_id)
                state = None if row is None else (row.order.status.value, row.order.node)
                claimed.append(attrs.evolve(taken, order_state=state))
            return claimed

    def _held(self, timer: Timer) -> bool:
        current = self._timers.get((timer.order_id, timer.name))
        return current is not None and current.claim == self.check_claimed(timer)

    def finish_timers(self, finishes: Iterable[TimerFinish]) -> list[bool]:
        self._check_open()
        batch = self.check_finishes(finishes)
        done: list[bool] = []
        with self._lock:
            for finish, token in batch:
                timer = finish.timer
                key = (timer.order_id, timer.name)
                current = self._timers.get(key)
                if current is None or current.claim != token:
                    done.append(False)
                    continue
                if finish.events:
                    row = self._orders.get(timer.order_id)
                    if row is None:
                        del self._timers[key]
                        done.append(False)
                        continue
                    change = self.events_change(row.order, finish.events)
                    self._events[timer.order_id].extend(change.events_json)
                    self._append(change)
                if finish.next_due is None:
                    del self._timers[key]
                else:
                    level = timer.level + 1 if finish.next_level is None else finish.next_level
                    self._timers[key] = Timer(
                        order_id=timer.order_id,
                        name=timer.name,
                        due_at=finish.next_due,
                        level=level,
                        data=current.data,
                    )
                done.append(True)
        return done

    def retry_timer(self, timer: Timer, at: datetime) -> bool:
        self._check_open()
        with self._lock:
            if not self._held(timer):
                return False
            key = (timer.order_id, timer.name)
            self._timers[key] = attrs.evolve(self._timers[key], claim=None, claimed_until=at)
            return True

    def append_events(self, order_id: str, events: Sequence[OrderEvent]) -> None:
        self._check_open()
        with self._lock:
            row = self._orders.get(order_id)
            if row is None:
                raise order_not_found(order_id)
            change = self.events_change(row.order, events)
            self._events[order_id].extend(change.events_json)
            self._append(change)

    def publish(self, entries: Iterable[OutboxEntry]) -> list[int]:
        self._check_open()
        items = list(entries)
        payloads = [json.loads(entry.payload_json) for entry in items]
        with self._lock:
            ids = []
            for entry, payload in zip(items, payloads, strict=True):
                known = self._event_ids.get(entry.event_id)
                ids.append(
                    known
                    if known is not None
                    else self._add_message(
                        entry.stream,
                        entry.aggregate_id,
                        entry.aggregate_version,
                        entry.event_id,
                        entry.topic,
                        payload,
                    )
                )
            return ids

    def integrity_check(self) -> list[str]:
        self._check_open()
        problems: list[str] = []
        with self._lock:
            versions: dict[str, list[int]] = {}
            for entry in self._outbox:
                message = entry.message
                if message.stream != ORDER_STREAM:
                    continue
                if message.aggregate_id not in self._orders:
                    problems.append(f"outbox names missing order {message.aggregate_id}")
                elif message.topic != "order.events":
                    versions.setdefault(message.aggregate_id, []).append(message.aggregate_version)
            for order_id, row in self._orders.items():
                stored = json.loads(row.body)
                if (stored.get("id"), stored.get("version")) != (order_id, row.order.version):
                    problems.append(f"order {order_id}: row and body disagree")
                seen = versions.get(order_id, [])
                problems.extend(
                    change_log_problems(
                        order_id,
                        row.order.version,
                        len(set(seen)),
                        len(seen),
                        min(seen, default=None),
                        max(seen, default=None),
                    )
                )
            if len(self._event_ids) != len(self._outbox):
                problems.append("outbox event ids are not unique")
        return problems

    # -- reads ------------------------------------------------------------------------------

    def get(self, order_id: str) -> Order:
        self._check_open()
        with self._lock:
            row = self._orders.get(order_id)
            if row is None:
                raise order_not_found(order_id)
        return row.load()

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
        return [row.load() for row in self._matching(query)[: query.limit]]

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
        busy: set[tuple[str, str]] = set()  # aggregates with a message out with a worker
        with self._lock:
            for entry in self._outbox:
                if len(claimed) >= limit:
                    break
                if entry.delivered:
                    continue
                aggregate = (entry.message.stream, entry.message.aggregate_id)
                if entry.claimed_until > now:
                    busy.add(aggregate)
                    continue
                if aggregate in busy:
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
