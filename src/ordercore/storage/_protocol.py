"""The store protocol every backend implements, and the value types it exchanges."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

import attrs

from ordercore.errors import ConfigurationError
from ordercore.pii import safe_repr
from ordercore.schema import Actor, AnomalyCode, Order, OrderEvent, OrderStatus

if TYPE_CHECKING:
    from ordercore.storage.kit import BatchResult, OnExisting, OutboxEntry

__all__ = [
    "IdempotencyRecord",
    "OrderQuery",
    "OrderStore",
    "OrderUpdate",
    "OutboxMessage",
    "Timer",
    "TimerArm",
    "TimerFinish",
    "TimerPlan",
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


def _anomaly(value: object) -> str | None:
    if value is None:
        return None
    try:
        return AnomalyCode(str(value)).value
    except ValueError:
        known = ", ".join(code.value for code in AnomalyCode)
        raise ConfigurationError(
            f"unknown anomaly in query: {str(value)[:40]!r}; known: {known}"
        ) from None


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
        node: Only orders at this atomic node (lifecycle sub-state).
        tag: Only orders carrying this tag.
        anomaly: Only orders marked with this anomaly (an
            :class:`~ordercore.schema.AnomalyCode`, e.g. ``"amounts_unbalanced"``).
        created_from: Placed at or after this instant (aware).
        created_to: Placed before this instant (aware).
        status_since_from: In their current status since this instant or later (aware).
        status_since_to: In their current status since before this instant (aware): with
            ``status="paid"``, ``status_since_to=now - timedelta(hours=2)`` lists the
            orders paid for more than two hours and still not allocated.
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
    node: str | None = None
    tag: str | None = None
    anomaly: str | None = attrs.field(default=None, converter=_anomaly)
    created_from: datetime | None = attrs.field(default=None, converter=_aware)
    created_to: datetime | None = attrs.field(default=None, converter=_aware)
    status_since_from: datetime | None = attrs.field(default=None, converter=_aware)
    status_since_to: datetime | None = attrs.field(default=None, converter=_aware)
    after: tuple[datetime, str] | None = None
    limit: int = attrs.field(default=1000, converter=_limit)

    def matches(self, order: Order) -> bool:
        """Whether ``order`` passes every filter (used by the memory store and tests)."""
        created = order.created_at.utc
        since = order.status_since
        return (
            (self.channel is None or order.channel == self.channel)
            and (self.shop_id is None or order.shop_id == self.shop_id)
            and (self.status is None or order.status.value in self.status)
            and (self.node is None or order.node == self.node)
            and (self.tag is None or self.tag in order.tags)
            and (self.anomaly is None or order.has_anomaly(self.anomaly))
            and (self.created_from is None or created >= self.created_from)
            and (self.created_to is None or created < self.created_to)
            and (
                self.status_since_from is None
                or (since is not None and since >= self.status_since_from)
            )
            and (
                self.status_since_to is None or (since is not None and since < self.status_since_to)
            )
            and (self.after is None or order.sort_key() > self.after)
        )


@attrs.frozen(kw_only=True)
class OutboxMessage:
    """One change to publish, written in the same transaction as the change.

    Every aggregate publishes through the same outbox: orders under the stream
    ``order``, other parts of ordercore (stock, timers, returns) under their own.
    Delivery is at least once: dedupe on :attr:`event_id`.

    Attributes:
        id: Increasing in write order; acknowledge with it. Where several writers
            commit at once an id may become visible after a larger one, so do not
            rely on gap-free ids.
        stream: The aggregate kind: ``order`` for order changes.
        aggregate_id: Which aggregate changed (the order id for orders).
        aggregate_version: Its version after the change.
        event_id: Stable across redeliveries: the id consumers dedupe on.
        topic: What happened: ``order.created``, ``order.updated``, ``order.events``, ...
        payload: JSON: for orders, the order's key, status and the events of the change.
        created_at: When the change was committed.
        attempts: How many times the message has been claimed.
    """

    id: int
    stream: str
    aggregate_id: str
    aggregate_version: int
    event_id: str
    topic: str
    payload: Mapping[str, Any]
    created_at: datetime
    attempts: int = 0

    @property
    def order_id(self) -> str:
        """The order that changed (:attr:`aggregate_id` of an ``order`` message)."""
        return self.aggregate_id

    @property
    def order_version(self) -> int:
        """The order's version after the change (:attr:`aggregate_version`)."""
        return self.aggregate_version


def _timer_name(value: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 200:
        raise ConfigurationError(f"a timer name is 1 to 200 characters, got {safe_repr(value)}")
    return value


def _aware_time(value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ConfigurationError(
            f"a timer's due time must be a timezone-aware datetime, got {safe_repr(value)}"
        )
    return value


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def _arms(value: Iterable[TimerArm]) -> tuple[TimerArm, ...]:
    return tuple(value)


def _events(value: Iterable[OrderEvent]) -> tuple[OrderEvent, ...]:
    return tuple(value)


def _timer_data(value: Mapping[str, str] | None) -> Mapping[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) and len(v) <= 200 for k, v in value.items()
    ):
        raise ConfigurationError("a timer's data maps names to strings of at most 200 characters")
    return dict(value)


@attrs.frozen
class TimerArm:
    """A timer to arm: fire ``name`` for an order at ``due_at``.

    Arming a name the order already has replaces that timer (its due time, level and
    attempts start again).

    Attributes:
        name: The timer's name, unique per order (``"sla:packed.awaiting_outbound"``).
        due_at: When it is due (aware).
        level: Its escalation level (1: the first notice at the limit).
        data: A few short strings kept with the timer for whoever handles it (the
            order's channel reference for a notification), so it needs no order read.
    """

    name: str = attrs.field(converter=_timer_name)
    due_at: datetime = attrs.field(converter=_aware_time)
    level: int = 1
    data: Mapping[str, str] | None = attrs.field(default=None, converter=_timer_data)


@attrs.frozen
class TimerPlan:
    """Timers to cancel and to arm for one order, written with an order change or alone.

    Cancelling runs first, so a plan may cancel a name and arm it again.

    Attributes:
        order_id: The order the timers belong to.
        cancel: Names to cancel (a name the order has no timer for is ignored).
        arm: Timers to arm.
    """

    order_id: str
    cancel: tuple[str, ...] = attrs.field(default=(), converter=_names)
    arm: tuple[TimerArm, ...] = attrs.field(default=(), converter=_arms)

    @property
    def empty(self) -> bool:
        """Whether the plan changes nothing."""
        return not self.cancel and not self.arm


def trusted_timer_plan(
    order_id: str, cancel: tuple[str, ...], arm: tuple[tuple[str, datetime, Mapping[str, str]], ...]
) -> TimerPlan:
    """A plan built from values library code has already checked, skipping the converters.

    For the lifecycle's hot path: names from a validated spec, aware times, short data.
    """
    arms = []
    for name, due_at, data in arm:
        made = object.__new__(TimerArm)
        object.__setattr__(made, "name", name)
        object.__setattr__(made, "due_at", due_at)
        object.__setattr__(made, "level", 1)
        object.__setattr__(made, "data", data)
        arms.append(made)
    plan = object.__new__(TimerPlan)
    object.__setattr__(plan, "order_id", order_id)
    object.__setattr__(plan, "cancel", cancel)
    object.__setattr__(plan, "arm", tuple(arms))
    return plan


@attrs.frozen(kw_only=True)
class Timer:
    """A stored timer, as :meth:`OrderStore.timers` and :meth:`OrderStore.claim_timers` return it.

    Attributes:
        order_id: The order it belongs to.
        name: Its name, unique per order.
        due_at: When it is (or was) due.
        level: Its escalation level.
        attempts: How many times it was claimed since it was armed or rescheduled.
        claim: The claim token while a worker holds it (``None``: free).
        claimed_until: When the current claim lapses (``None``: not claimed).
        data: What was armed with it (see :class:`TimerArm`).
        order_state: Where its order is, as ``(status, node)``, read with the claim
            (``None``: the order does not exist; not read by :meth:`OrderStore.timers`).
    """

    order_id: str
    name: str
    due_at: datetime
    level: int
    attempts: int = 0
    claim: str | None = None
    claimed_until: datetime | None = None
    data: Mapping[str, str] | None = None
    order_state: tuple[str, str | None] | None = None


@attrs.frozen
class TimerFinish:
    """One claimed timer to finish in :meth:`OrderStore.finish_timers`.

    Attributes:
        timer: The timer as claimed.
        events: Events to record on its order.
        next_due: When it is due again (the next escalation rung); ``None`` deletes it.
        next_level: Its level then (default: one more).
    """

    timer: Timer
    events: tuple[OrderEvent, ...] = attrs.field(default=(), converter=_events)
    next_due: datetime | None = None
    next_level: int | None = None


@attrs.frozen
class OrderUpdate:
    """One order's part of :meth:`OrderStore.update_many`.

    Attributes:
        order: The changed order; ``order.version`` is the version it is based on.
        events: The events to record (an ``order.updated`` event when empty).
        timers: Timers of the order to cancel and arm in the same transaction.
    """

    order: Order
    events: tuple[OrderEvent, ...] = attrs.field(default=(), converter=_events)
    timers: TimerPlan | None = None


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
    """A digest of what an order says, ignoring ids, versions and the times a store sets.

    Two deliveries of the same channel order content have the same fingerprint,
    even though each was given its own ``id`` and ``source.received_at``.
    """
    data = order.model_dump(
        mode="json",
        exclude={"id", "version", "recorded_at", "updated_at", "status_since", "source"},
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

    def put_many(
        self,
        orders: Iterable[Order],
        *,
        actor: Actor | None = None,
        on_existing: OnExisting | str = "error",
    ) -> BatchResult:
        """Store a batch of orders in one transaction, with an outcome per order.

        ``on_existing`` says what happens to an order whose ``(channel,
        channel_order_id)`` is already stored (an overlapping re-poll of a page):

        - ``"error"`` (default): the whole batch is refused with ``DuplicateOrder``
          and nothing is stored;
        - ``"skip"``: that order is ``skipped``, the others are stored;
        - ``"replace_if_newer"``: it is ``updated`` (stored id kept, version + 1)
          when its ``channel_updated_at`` is newer than the stored one,
          ``unchanged`` when it is the same, else ``skipped``.

        Under ``skip`` and ``replace_if_newer`` an order that cannot be stored (a
        version other than 0, an id used by another channel order) is
        ``rejected`` with the reason, and the rest of the batch goes on.

        Raises:
            DuplicateOrder: under ``"error"``, an order is stored already or repeats.
            VersionConflict: under ``"error"``, an order has a version.
        """
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

    def update_many(
        self, updates: Iterable[OrderUpdate], *, actor: Actor | None = None
    ) -> list[Order]:
        """Apply many updates in one transaction: all of them are written, or none.

        Each update is checked as :meth:`update` checks one (its version, its
        channel reference) and its timer plan is applied with it.

        Returns:
            The orders as stored, in the order given.

        Raises:
            ConfigurationError: an order appears twice in the batch.
            VersionConflict: an order is not at the version its update is based on.
            OrderNotFound: an order is not stored.
            DuplicateOrder: an update would give an order another order's channel reference.
        """
        ...

    def set_timers(self, plans: Iterable[TimerPlan]) -> None:
        """Cancel and arm timers without changing any order, in one transaction.

        The orders are not looked up: a timer of an order that does not exist (or
        no longer does) is dropped when it is finished.
        """
        ...

    def timers(self, order_id: str) -> list[Timer]:
        """The order's timers, by due time."""
        ...

    def timer_count(self, *, due_before: datetime | None = None) -> int:
        """How many timers are armed (due before ``due_before``, when given)."""
        ...

    def claim_timers(
        self, now: datetime, *, limit: int = 100, lease_seconds: float = 60.0
    ) -> list[Timer]:
        """Claim up to ``limit`` timers due at ``now``, earliest first, for ``lease_seconds``.

        A claimed timer is not handed to another caller until its lease lapses, so
        several workers (processes, on a server store) may claim at once and each
        timer is handled by one of them. Each comes with its order's status and node
        (``order_state``), read in the same statement. Finish it with
        :meth:`finish_timer` / :meth:`finish_timers`, or put it back with
        :meth:`retry_timer`.
        """
        ...

    def finish_timers(self, finishes: Iterable[TimerFinish]) -> list[bool]:
        """Finish many claimed timers in one transaction (see :meth:`finish_timer`).

        Returns:
            For each, whether it was finished (``False``: as for :meth:`finish_timer`).
        """
        ...

    def finish_timer(
        self,
        timer: Timer,
        *,
        events: Sequence[OrderEvent] = (),
        next_due: datetime | None = None,
        next_level: int | None = None,
    ) -> bool:
        """Finish a claimed timer: record ``events`` on its order, then reschedule or delete it.

        With ``next_due`` the timer stays, due again then at ``next_level`` (the next
        rung of an escalation ladder); without, it is deleted. All in one transaction.

        Returns:
            ``False`` when nothing was written: the timer was cancelled or re-armed
            since it was claimed, its claim lapsed and another worker took it, or its
            order is gone (the timer is then deleted).
        """
        ...

    def retry_timer(self, timer: Timer, at: datetime) -> bool:
        """Give a claimed timer back, to be claimed again from ``at`` (its handling failed).

        Returns:
            ``False`` when the claim is no longer held (see :meth:`finish_timer`).
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

    def publish(self, entries: Iterable[OutboxEntry]) -> list[int]:
        """Write messages of other aggregates (stock, timers...) to the outbox, atomically.

        Returns the message ids. An entry whose ``event_id`` is already in the
        outbox is not written again (its existing id is returned), so publishing
        is idempotent per event.
        """
        ...

    def integrity_check(self) -> list[str]:
        """Check the store's invariants; return the problems found (none: ``[]``).

        Every backend checks the same things: each order's columns agree with its
        body; its versions 1..N each have exactly one change in the outbox; no
        outbox message of the order stream names a missing order; event ids are unique.
        """
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
