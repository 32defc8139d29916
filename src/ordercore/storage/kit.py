"""The backend author's kit: what every order store shares, under public names.

A new backend (``plugins/ordercore-<name>``) subclasses :class:`BaseStore` and
implements the storage itself; everything that must behave the same on every
backend lives here, once:

- the value types a store exchanges (:class:`OrderRow`, :class:`ExistingOrder`,
  :class:`PutOutcome`, :class:`BatchResult`, :class:`OutboxEntry`, :class:`Migration`);
- how a change is prepared (:meth:`BaseStore.new_change`, :meth:`BaseStore.update_change`)
  and how a batch is planned against what is stored (:func:`plan_batch`);
- the SQL ``WHERE`` clause of an :class:`~ordercore.storage.OrderQuery`
  (:func:`query_where`), written for any DB-API placeholder style;
- the migration check (:func:`pending_migrations`) and the integrity rules
  (:func:`change_log_problems`);
- the errors every backend raises, worded the same everywhere.

The conformance suite :class:`ordercore.testing.StoreConformance` checks a backend
against all of it.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Final, Self, overload

import attrs

from ordercore.errors import (
    ConfigurationError,
    DuplicateOrder,
    IdempotencyConflict,
    MigrationError,
    OrderNotFound,
    StoreClosed,
    StoreReadOnly,
    VersionConflict,
)
from ordercore.ids import new_id
from ordercore.schema import Actor, Order, OrderEvent, load_order_json
from ordercore.schema._order import RawPayload
from ordercore.storage._protocol import (
    OrderQuery,
    OrderUpdate,
    Timer,
    TimerFinish,
    TimerPlan,
    coerce_query,
)
from ordercore.timestamps import utc_now

__all__ = [
    "BaseStore",
    "BatchPlan",
    "BatchResult",
    "CREATED",
    "Change",
    "EVENTS",
    "ExistingOrder",
    "Migration",
    "ORDER_STREAM",
    "OnExisting",
    "OrderRow",
    "OutboxEntry",
    "Outcome",
    "PutOutcome",
    "QueryDialect",
    "UPDATED",
    "change_log_problems",
    "dumps",
    "events_from_payloads",
    "events_message",
    "id_taken",
    "key_reused",
    "key_taken",
    "load_stored_order",
    "order_not_found",
    "order_row",
    "pending_migrations",
    "plan_batch",
    "query_where",
    "result_json",
    "stale_version",
]

#: The outbox stream of order changes; other aggregates (stock, timers, returns) use their own.
ORDER_STREAM: Final = "order"
CREATED: Final = "order.created"
UPDATED: Final = "order.updated"
EVENTS: Final = "order.events"
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


# -- rows ---------------------------------------------------------------------------------


@attrs.frozen
class OrderRow:
    """The columns of one stored order, as every backend lays them out.

    The body is the order's JSON without its raw payload; the raw payload is kept
    once, as received, in its own columns (so it is neither escaped into the body
    nor validated again on every read).

    Attributes:
        id, channel, channel_order_id, shop_id, status, node, version: As on the order.
        created_at: When the buyer placed it (UTC).
        updated_at: When the store last wrote it.
        status_since: When it entered its current status.
        channel_updated_at: The channel's own modified time, if known.
        tags: The order's tags.
        anomalies: The codes of the order's anomalies (``amounts_unbalanced``...).
        body: The order as UTF-8 JSON, ``raw`` left out (bytes: pydantic's serializer
            output as is; a backend with a text column decodes it).
        raw: The raw payload's text, or ``None``.
        raw_type: The raw payload's media type, or ``None``.
    """

    id: str
    channel: str
    channel_order_id: str
    shop_id: str | None
    status: str
    node: str | None
    created_at: datetime
    updated_at: datetime
    status_since: datetime
    channel_updated_at: datetime | None
    version: int
    tags: tuple[str, ...]
    anomalies: tuple[str, ...]
    body: bytes
    raw: str | None
    raw_type: str | None


_to_json = Order.__pydantic_serializer__.to_json  # model_dump_json without the str decode
_NO_RAW: Final = {"raw"}


def order_row(order: Order) -> OrderRow:
    """The row of a stored order (its version, ``updated_at`` and ``status_since`` set)."""
    assert order.updated_at is not None and order.status_since is not None
    raw = order.raw
    changed = order.channel_updated_at
    return OrderRow(
        order.id,
        order.channel,
        order.channel_order_id,
        order.shop_id,
        order.status.value,
        order.node,
        order.created_at.utc,
        order.updated_at,
        order.status_since,
        None if changed is None else changed.utc,
        order.version,
        order.tags,
        tuple(sorted({anomaly.code.value for anomaly in order.anomalies}))
        if order.anomalies
        else (),
        _to_json(order, exclude=_NO_RAW) if raw is not None else _to_json(order),
        None if raw is None else raw.text,
        None if raw is None else raw.content_type,
    )


def load_stored_order(
    body: str | bytes, raw: str | None = None, raw_type: str | None = None
) -> Order:
    """Rebuild a stored order from its body and raw-payload columns."""
    order = load_order_json(body)
    if raw is None:
        return order
    # The raw text was validated when the order was first stored and is kept as is;
    # building it unvalidated saves re-checking up to megabytes of text on every read.
    payload = RawPayload.model_construct(text=raw, content_type=raw_type or "application/json")
    return order.model_copy(update={"raw": payload})


# -- changes ------------------------------------------------------------------------------


class Change:
    """One atomic write: the order as it will be stored and its outbox message.

    Attributes:
        order: The order as it will be stored (new version and times set).
        topic: The outbox topic.
        outbox_json: The outbox payload as JSON text: the order's key, version and
            status, and the events of the change stamped with that version. The
            outbox keeps it, so it is also the order's event history.
        event_id: The message's stable id (its first event's id), for consumers to dedupe on.
        expected_version: For an update, the version the change is based on (else 0).
    """

    __slots__ = ("event_id", "expected_version", "order", "outbox_json", "topic")

    def __init__(
        self,
        order: Order,
        topic: str,
        outbox_json: str,
        event_id: str,
        expected_version: int = 0,
    ) -> None:
        self.order = order
        self.topic = topic
        self.outbox_json = outbox_json
        self.event_id = event_id
        self.expected_version = expected_version

    @classmethod
    def with_events(
        cls, order: Order, topic: str, events: list[dict[str, Any]], expected_version: int = 0
    ) -> Change:
        """A change whose outbox payload carries ``events`` (JSON objects, at least one)."""
        payload = _events_payload(
            order.id,
            order.version,
            order.channel,
            order.channel_order_id,
            order.status.value,
            events,
        )
        return cls(order, topic, payload, str(events[0]["event_id"]), expected_version)

    @property
    def stream(self) -> str:
        """The outbox stream: always :data:`ORDER_STREAM` for order changes."""
        return ORDER_STREAM

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


def _created_payload(order: Order, at: str, actor: Actor, event_id: str) -> str:
    """The outbox payload of storing a new order with no other events.

    Written as text directly: it is produced once per stored order, every value in
    it is known valid, and the conformance suite checks it reads back as the same
    events as ``Change.with_events`` would write.
    """
    q = _quote
    status = q(order.status.value)
    key = f'"channel":{q(order.channel)},"channel_order_id":{q(order.channel_order_id)}'
    order_id = q(order.id)
    return (
        f'{{"order_id":{order_id},"version":1,{key},"status":{status},"events":[{{'
        f'"event_id":{q(event_id)},"order_id":{order_id},"type":"{CREATED}","at":"{at}",'
        f'"actor":{{"kind":{q(actor.kind.value)},"id":{q(actor.id)}}},"from_status":null,'
        f'"to_status":{status},"reason":null,"data":{{{key}}},"order_version":1}}]}}'
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


def events_message(
    order_id: str,
    version: int,
    channel: str,
    channel_order_id: str,
    status: str,
    events: Sequence[OrderEvent],
) -> tuple[str, str]:
    """The outbox message of events recorded on an order without changing it.

    What :meth:`BaseStore.events_change` writes, from the order's key columns
    alone, for a backend that records events (an SLA breach) without reading the
    order's body.

    Returns:
        ``(event_id, payload_json)`` of the message, topic :data:`EVENTS`.

    Raises:
        ConfigurationError: no events, or an event of another order.
    """
    if not events:
        raise ConfigurationError("recording events needs at least one event")
    stamped = _stamp(events, order_id, version)
    payload = _events_payload(order_id, version, channel, channel_order_id, status, stamped)
    return str(stamped[0]["event_id"]), payload


def _events_payload(
    order_id: str,
    version: int,
    channel: str,
    channel_order_id: str,
    status: str,
    events: list[dict[str, Any]],
) -> str:
    """The JSON text of an order's outbox message: its key, version, status and events."""
    return dumps(
        {
            "order_id": order_id,
            "version": version,
            "channel": channel,
            "channel_order_id": channel_order_id,
            "status": status,
            "events": events,
        }
    )


# -- outbox entries of other aggregates --------------------------------------------------------


def _stream_name(value: str) -> str:
    if not isinstance(value, str) or not value or len(value) > 64 or not value.isidentifier():
        raise ConfigurationError(
            f"an outbox stream is a short identifier such as 'stock' or 'timer', got {value!r}"
        )
    return value


@attrs.frozen(kw_only=True)
class OutboxEntry:
    """A message another aggregate (stock, a timer, a return) publishes through a store's outbox.

    Messages of one aggregate (``stream`` + ``aggregate_id``) are handed out in
    the order they were written, never two at once to different workers.

    Attributes:
        stream: The aggregate kind (``stock``, ``timer``, ``return``); ``order`` is the stores' own.
        aggregate_id: Which aggregate changed.
        aggregate_version: Its version after the change (increasing per aggregate).
        topic: What happened, dotted (``stock.reserved``).
        payload: The message body, a JSON object.
        event_id: A stable id that consumers dedupe on (a new ULID unless given).

    Example:
        >>> entry = OutboxEntry(stream="stock", aggregate_id="SKU-1@WH1", aggregate_version=3,
        ...                     topic="stock.reserved", payload={"available": 7})
        >>> entry.stream, len(entry.event_id)
        ('stock', 26)
    """

    stream: str = attrs.field(converter=_stream_name)
    aggregate_id: str
    aggregate_version: int
    topic: str
    payload: Mapping[str, Any]
    event_id: str = attrs.field(factory=new_id)

    def __attrs_post_init__(self) -> None:
        if self.stream == ORDER_STREAM:
            raise ConfigurationError(
                "the 'order' stream belongs to the order store; publish under another stream"
            )
        if not self.aggregate_id or len(self.aggregate_id) > 256:
            raise ConfigurationError("an outbox entry needs an aggregate_id of 1..256 characters")
        if isinstance(self.aggregate_version, bool) or not isinstance(self.aggregate_version, int):
            raise ConfigurationError("aggregate_version must be an integer")
        if not self.event_id or len(self.event_id) > 64:
            raise ConfigurationError("an outbox entry needs an event_id of 1..64 characters")

    @property
    def payload_json(self) -> str:
        """The payload as JSON text (refuses what JSON cannot hold)."""
        try:
            return dumps(dict(self.payload))
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"an outbox payload must be a JSON object: {exc}") from None


# -- batches ------------------------------------------------------------------------------------


class OnExisting(StrEnum):
    """What :meth:`~ordercore.storage.OrderStore.put_many` does with an order already stored.

    An order is "already stored" when its ``(channel, channel_order_id)`` is.
    """

    #: Refuse the whole batch with :class:`~ordercore.errors.DuplicateOrder` (the default).
    ERROR = "error"
    #: Leave the stored order as it is; the outcome is ``skipped``.
    SKIP = "skip"
    #: Replace the stored order when the channel's own modified time
    #: (``channel_updated_at``) is newer; ``unchanged`` when it is the same, else ``skipped``.
    REPLACE_IF_NEWER = "replace_if_newer"


class Outcome(StrEnum):
    """What happened to one order of a batch."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    REJECTED = "rejected"


@attrs.frozen
class PutOutcome:
    """The outcome of one order of :meth:`~ordercore.storage.OrderStore.put_many`.

    Attributes:
        outcome: created, updated, unchanged, skipped or rejected.
        order: The order as stored by this batch (created, updated), else as given:
            a skipped or unchanged order is not read back, so a re-polled page costs
            no reads of stored bodies.
        reason: Why it was skipped, unchanged or rejected, in words.
        stored_id: The id the order is stored under (the stored one for an order
            already stored); ``None`` when nothing is stored for it.
        stored_version: Its stored version after the batch; ``None`` likewise (also for
            a repeat within the batch, whose first occurrence carries them).
    """

    outcome: Outcome
    order: Order
    reason: str | None = None
    stored_id: str | None = None
    stored_version: int | None = None

    @classmethod
    def written(cls, outcome: Outcome, order: Order) -> PutOutcome:
        """The outcome of an order this batch wrote."""
        return cls(outcome, order, None, order.id, order.version)

    @property
    def wrote(self) -> bool:
        """Whether this batch wrote the order (created or updated)."""
        return self.outcome in (Outcome.CREATED, Outcome.UPDATED)


class BatchResult(Sequence[PutOutcome]):
    """The outcomes of :meth:`~ordercore.storage.OrderStore.put_many`: one per order, in order.

    Example:
        >>> from ordercore import open_store
        >>> from ordercore.testing import OrderFactory
        >>> orders = list(OrderFactory(seed=1).orders(3))
        >>> with open_store("memory://") as store:
        ...     first = store.put_many(orders)
        ...     again = store.put_many(orders, on_existing="skip")
        >>> first.counts(), again.counts()
        ({'created': 3}, {'skipped': 3})
    """

    __slots__ = ("_created", "_made")

    def __init__(self, outcomes: Iterable[PutOutcome]) -> None:
        self._made: tuple[PutOutcome, ...] | None = tuple(outcomes)
        self._created: Sequence[Order] = ()

    @classmethod
    def all_created(cls, orders: Sequence[Order]) -> BatchResult:
        """The result of a batch that stored every order new (the ``error`` policy).

        Its outcomes are made when first looked at: ingest loops that only need
        :attr:`orders` or :meth:`counts` do not pay for one object per order.
        """
        result = cls(())
        result._made, result._created = None, orders
        return result

    @property
    def _outcomes(self) -> tuple[PutOutcome, ...]:
        if self._made is None:
            self._made = tuple(PutOutcome.written(Outcome.CREATED, o) for o in self._created)
        return self._made

    @overload
    def __getitem__(self, index: int) -> PutOutcome: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PutOutcome]: ...

    def __getitem__(self, index: int | slice) -> PutOutcome | Sequence[PutOutcome]:
        return self._outcomes[index]

    def __len__(self) -> int:
        return len(self._created) if self._made is None else len(self._made)

    def __iter__(self) -> Iterator[PutOutcome]:
        return iter(self._outcomes)

    @property
    def orders(self) -> list[Order]:
        """The orders this batch wrote (created or updated), as stored, in input order."""
        if self._made is None:
            return list(self._created)
        return [o.order for o in self._made if o.wrote]

    def of(self, outcome: Outcome | str) -> list[PutOutcome]:
        """The outcomes of one kind."""
        kind = Outcome(outcome)
        return [o for o in self._outcomes if o.outcome is kind]

    def counts(self) -> dict[str, int]:
        """How many orders had each outcome (only the outcomes that occurred)."""
        if self._made is None:
            return {Outcome.CREATED.value: len(self._created)} if self._created else {}
        found: dict[str, int] = {}
        for item in self._outcomes:
            found[item.outcome.value] = found.get(item.outcome.value, 0) + 1
        return found

    def __repr__(self) -> str:
        return f"<BatchResult {self.counts()}>"


@attrs.frozen
class ExistingOrder:
    """What a backend tells :func:`plan_batch` about a stored order that a batch touches.

    Attributes:
        id: Its ordercore id.
        channel: Its channel.
        channel_order_id: Its channel order id.
        version: Its stored version.
        channel_updated_at: Its channel modified time, if known.
    """

    id: str
    channel: str
    channel_order_id: str
    version: int
    channel_updated_at: datetime | None


@attrs.frozen
class BatchPlan:
    """What a batch will write, decided before touching the store.

    Attributes:
        inserts: Changes storing new orders, with their position in the batch.
        replaces: Stored orders a newer delivery replaces, with their position in
            the batch; :meth:`BaseStore.replace_change` makes their changes.
        outcomes: One per input order; written ones are filled in by :meth:`result`.
    """

    inserts: list[tuple[int, Change]]
    replaces: list[tuple[int, Order, ExistingOrder]]
    outcomes: list[PutOutcome | None]

    def result(self, written: Mapping[int, PutOutcome]) -> BatchResult:
        """The batch's result, given the outcomes of the written positions."""
        merged = [
            outcome if outcome is not None else written[index]
            for index, outcome in enumerate(self.outcomes)
        ]
        return BatchResult(merged)


def plan_batch(
    orders: Sequence[Order],
    existing: Mapping[tuple[str, str], ExistingOrder],
    taken_ids: Mapping[str, tuple[str, str]],
    on_existing: OnExisting,
    new_change: Callable[[Order], Change],
) -> BatchPlan:
    """Decide each order's outcome in a batch (``skip`` or ``replace_if_newer``).

    Args:
        orders: The batch, in order.
        existing: Stored orders whose ``(channel, channel_order_id)`` the batch names.
        taken_ids: Stored ids the batch names, with the key each is stored under.
        on_existing: The policy (``error`` batches are not planned: they insert and
            let the unique constraints speak).
        new_change: Makes the insert change of a new order.
    """
    inserts: list[tuple[int, Change]] = []
    replaces: list[tuple[int, Order, ExistingOrder]] = []
    outcomes: list[PutOutcome | None] = []
    seen: dict[tuple[str, str], int] = {}
    seen_ids: set[str] = set()
    for index, order in enumerate(orders):
        if order.version != 0:
            outcomes.append(
                PutOutcome(
                    Outcome.REJECTED,
                    order,
                    f"it has version {order.version}; put_many() stores new orders (version 0)",
                )
            )
            continue
        if order.key in seen:
            outcomes.append(
                PutOutcome(
                    Outcome.SKIPPED,
                    order,
                    f"{order.channel} order {order.channel_order_id} appears earlier in the batch",
                )
            )
            continue
        stored = existing.get(order.key)
        if stored is None:
            owner = taken_ids.get(order.id)
            if owner is not None or order.id in seen_ids:
                outcomes.append(
                    PutOutcome(
                        Outcome.REJECTED,
                        order,
                        f"order id {order.id} is already used by another channel order",
                    )
                )
                continue
            seen[order.key] = index
            seen_ids.add(order.id)
            inserts.append((index, new_change(order)))
            outcomes.append(None)
            continue
        seen[order.key] = index
        if on_existing is OnExisting.SKIP:
            outcomes.append(
                PutOutcome(
                    Outcome.SKIPPED,
                    order,
                    f"already stored as {stored.id} (version {stored.version})",
                    stored.id,
                    stored.version,
                )
            )
            continue
        incoming = None if order.channel_updated_at is None else order.channel_updated_at.utc
        if incoming is None:
            outcomes.append(
                PutOutcome(
                    Outcome.SKIPPED,
                    order,
                    f"already stored as {stored.id}; the order has no channel modified time "
                    "to compare",
                    stored.id,
                    stored.version,
                )
            )
        elif stored.channel_updated_at is not None and incoming == stored.channel_updated_at:
            outcomes.append(
                PutOutcome(
                    Outcome.UNCHANGED,
                    order,
                    "the channel modified time is the stored one",
                    stored.id,
                    stored.version,
                )
            )
        elif stored.channel_updated_at is not None and incoming < stored.channel_updated_at:
            outcomes.append(
                PutOutcome(
                    Outcome.SKIPPED,
                    order,
                    f"older than the stored version {stored.version} by its channel modified time",
                    stored.id,
                    stored.version,
                )
            )
        else:
            replaces.append((index, order, stored))
            outcomes.append(None)
    return BatchPlan(inserts, replaces, outcomes)


# -- queries ---------------------------------------------------------------------------------------


@attrs.frozen
class QueryDialect:
    """How a SQL backend writes the pieces of an order query.

    Attributes:
        placeholder: The parameter marker (``?`` or ``%s``).
        time: Turns an aware datetime into the column's value.
        tag_clause: The condition "the row's tags hold the parameter", with one placeholder.
        anomaly_clause: The same for the row's anomaly codes.
    """

    placeholder: str
    time: Callable[[datetime], Any]
    tag_clause: str
    anomaly_clause: str


def query_where(query: OrderQuery, dialect: QueryDialect, *, paged: bool) -> tuple[str, list[Any]]:
    """The ``WHERE`` clause (with its leading space, or empty) and parameters of a query.

    The columns are the kit's order layout: ``channel``, ``shop_id``, ``status``,
    ``node``, ``tags``, ``anomalies``, ``created_at``, ``status_since``, ``id``.
    """
    p = dialect.placeholder
    clauses: list[str] = []
    params: list[Any] = []
    if query.channel is not None:
        clauses.append(f"channel = {p}")
        params.append(query.channel)
    if query.shop_id is not None:
        clauses.append(f"shop_id = {p}")
        params.append(query.shop_id)
    if query.status is not None:
        clauses.append(f"status IN ({', '.join([p] * len(query.status))})")
        params.extend(query.status)
    if query.node is not None:
        clauses.append(f"node = {p}")
        params.append(query.node)
    if query.tag is not None:
        clauses.append(dialect.tag_clause)
        params.append(query.tag)
    if query.anomaly is not None:
        clauses.append(dialect.anomaly_clause)
        params.append(query.anomaly)
    for column, bound, op in (
        ("created_at", query.created_from, ">="),
        ("created_at", query.created_to, "<"),
        ("status_since", query.status_since_from, ">="),
        ("status_since", query.status_since_to, "<"),
    ):
        if bound is not None:
            clauses.append(f"{column} {op} {p}")
            params.append(dialect.time(bound))
    if paged and query.after is not None:
        clauses.append(f"(created_at, id) > ({p}, {p})")
        params.extend([dialect.time(query.after[0]), query.after[1]])
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


# -- migrations ------------------------------------------------------------------------------------


@attrs.frozen
class Migration:
    """One numbered schema step of one component (``orders``, ``inventory``, ``timers``...).

    Each component keeps its own sequence, so components sharing a database
    migrate independently.

    Attributes:
        component: Which part of ordercore the step belongs to.
        version: The step's number within the component (1, 2, ...).
        description: What the step does, in words.
        statements: The SQL statements, run in order in one transaction.
    """

    component: str
    version: int
    description: str
    statements: tuple[str, ...]


def pending_migrations(
    component: str, applied: Iterable[int], migrations: Sequence[Migration], where: str
) -> list[Migration]:
    """The steps of ``component`` still to apply, in order.

    Raises:
        MigrationError: the database has a step of the component this code does not
            know (written by a newer ordercore), or ``migrations`` mix components.
    """
    done = set(applied)
    steps = sorted(migrations, key=lambda step: step.version)
    if any(step.component != component for step in steps):
        raise MigrationError(f"migrations of several components given for {component!r}")
    known = {step.version for step in steps}
    newer = sorted(done - known)
    if newer:
        raise MigrationError(
            f"{where} has {component} schema version {newer[-1]}, newer than this ordercore "
            f"knows ({max(known, default=0)}); upgrade ordercore"
        )
    return [step for step in steps if step.version not in done]


# -- integrity ----------------------------------------------------------------------------------


def change_log_problems(
    order_id: str, version: int, versions: int, changes: int, low: int | None, high: int | None
) -> list[str]:
    """The problems of one order's change log, from its summary.

    Every order at version N has exactly one non-``order.events`` change for each
    of its versions 1..N (one outbox message per committed change).

    Args:
        versions: Distinct versions in the order's change log.
        changes: Its changes other than ``order.events`` messages.
        low: The lowest version in it (``None`` when empty).
        high: The highest.
    """
    if (versions, changes, low, high) == (version, version, 1, version):
        return []
    return [
        f"order {order_id}: version {version} but change log has versions "
        f"{low}..{high} ({changes} changes)"
    ]


# -- the errors every backend raises, worded the same everywhere -------------------------------


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


def events_from_payloads(payloads: Iterable[str | bytes]) -> list[OrderEvent]:
    """The events recorded in outbox payloads of order changes, in order."""
    return [
        OrderEvent.model_validate(event)
        for payload in payloads
        for event in json.loads(payload)["events"]
    ]


# -- the base class -------------------------------------------------------------------------------


class BaseStore(ABC):
    """Shared behaviour of the stores; backends implement the storage itself.

    Attributes:
        url: The store's URL, passwords masked.
        read_only: Whether the store refuses writes (:class:`~ordercore.errors.StoreReadOnly`).
    """

    url: str = ""
    read_only: bool = False
    _closed: bool = False

    # -- lifecycle ----------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"the store {self.url} is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise StoreReadOnly(f"the store {self.url} is open read-only; it allows queries only")

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else (" read-only" if self.read_only else "")
        return f"<{type(self).__name__} {self.url}{state}>"

    # -- preparing changes --------------------------------------------------------------

    @staticmethod
    def new_change(
        order: Order,
        events: Sequence[OrderEvent] = (),
        actor: Actor | None = None,
        now: datetime | None = None,
        at: str | None = None,
    ) -> Change:
        """The change that stores a new order; ``now``/``at`` let a batch share one clock.

        Raises:
            VersionConflict: the order has a version (it was stored already).
        """
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
        stored = order.model_copy(
            update={"version": 1, "recorded_at": now, "updated_at": now, "status_since": now}
        )
        event_id = new_id()
        payload = _created_payload(stored, at, actor or _SYSTEM, event_id)
        if not events:
            return Change(stored, CREATED, payload, event_id)
        created = json.loads(payload)["events"][0]
        return Change.with_events(stored, CREATED, [created, *_stamp(events, order.id, 1)])

    @staticmethod
    def update_change(
        order: Order,
        events: Sequence[OrderEvent],
        actor: Actor | None,
        stored_status: str,
        stored_since: datetime | None,
        now: datetime | None = None,
    ) -> Change:
        """The change that replaces a stored order, given the stored status and its start.

        ``status_since`` moves to now when the status changes, and stays otherwise.

        Raises:
            VersionConflict: the order was never stored (version 0).
        """
        if order.version < 1:
            raise VersionConflict(
                f"order {order.id} has version 0: it was never stored; use put()",
                order_id=order.id,
                expected=order.version,
                actual=None,
            )
        now = now or utc_now()
        since = stored_since if order.status.value == stored_status and stored_since else now
        stored = order.model_copy(
            update={"version": order.version + 1, "updated_at": now, "status_since": since}
        )
        if not events:
            events = [OrderEvent(order_id=order.id, type=UPDATED, at=now, actor=actor or _SYSTEM)]
        return Change.with_events(
            stored, UPDATED, _stamp(events, order.id, stored.version), order.version
        )

    @staticmethod
    def replace_change(
        incoming: Order, stored: Order, actor: Actor | None, now: datetime | None = None
    ) -> Change:
        """The change of ``put_many(..., on_existing="replace_if_newer")`` for a newer delivery.

        The stored order keeps its id, ``recorded_at`` and (when the status is the
        same) ``status_since``; everything the channel says comes from ``incoming``.
        """
        now = now or utc_now()
        since = stored.status_since if incoming.status is stored.status else now
        replaced = incoming.model_copy(
            update={
                "id": stored.id,
                "version": stored.version + 1,
                "recorded_at": stored.recorded_at,
                "updated_at": now,
                "status_since": since or now,
            }
        )
        changed = incoming.channel_updated_at
        event = OrderEvent(
            order_id=stored.id,
            type=UPDATED,
            at=now,
            actor=actor or _SYSTEM,
            from_status=stored.status,
            to_status=incoming.status,
            reason="a newer delivery from the channel replaced the order",
            data={"channel_updated_at": None if changed is None else _json_time(changed.utc)},
        )
        return Change.with_events(
            replaced, UPDATED, _stamp([event], stored.id, replaced.version), stored.version
        )

    @staticmethod
    def events_change(order: Order, events: Sequence[OrderEvent]) -> Change:
        """The change of :meth:`append_events`: the stored order, its version unchanged."""
        if not events:
            raise ConfigurationError("append_events() needs at least one event")
        return Change.with_events(order, EVENTS, _stamp(events, order.id, order.version))

    @staticmethod
    def batch_clock() -> tuple[datetime, str]:
        """One clock reading for a whole batch: the time and its JSON text."""
        now = utc_now()
        return now, _json_time(now)

    @staticmethod
    def check_updates(updates: Iterable[OrderUpdate]) -> list[OrderUpdate]:
        """The updates of :meth:`update_many` as a list, checked before any is written.

        Raises:
            ConfigurationError: an order appears twice, an item is not an
                :class:`~ordercore.storage.OrderUpdate`, or a timer plan names
                another order than its update.
        """
        batch = list(updates)
        seen: set[str] = set()
        for update in batch:
            if not isinstance(update, OrderUpdate):
                raise ConfigurationError(
                    f"update_many() takes OrderUpdate items, got {type(update).__name__}"
                )
            order_id = update.order.id
            if order_id in seen:
                raise ConfigurationError(f"order {order_id} appears twice in one update_many()")
            seen.add(order_id)
            if update.timers is not None and update.timers.order_id != order_id:
                raise ConfigurationError(
                    f"the timer plan for order {update.timers.order_id} came with an "
                    f"update of order {order_id}"
                )
        return batch

    @staticmethod
    def check_timer_plans(plans: Iterable[TimerPlan]) -> list[TimerPlan]:
        """Timer plans as a list, each checked to be a :class:`~ordercore.storage.TimerPlan`.

        Raises:
            ConfigurationError: an item is not a TimerPlan.
        """
        batch = list(plans)
        for plan in batch:
            if not isinstance(plan, TimerPlan):
                raise ConfigurationError(
                    f"set_timers() takes TimerPlan items, got {type(plan).__name__}"
                )
        return batch

    def finish_timer(
        self,
        timer: Timer,
        *,
        events: Sequence[OrderEvent] = (),
        next_due: datetime | None = None,
        next_level: int | None = None,
    ) -> bool:
        """Finish one claimed timer: :meth:`finish_timers` of one."""
        finish = TimerFinish(timer, events=events, next_due=next_due, next_level=next_level)
        return self.finish_timers([finish])[0]

    @abstractmethod
    def finish_timers(self, finishes: Iterable[TimerFinish]) -> list[bool]:
        """Finish claimed timers in one transaction (see the store protocol)."""

    @staticmethod
    def check_finishes(finishes: Iterable[TimerFinish]) -> list[tuple[TimerFinish, str]]:
        """The finishes as a list with their claim tokens, checked before any is written.

        Raises:
            ConfigurationError: an item is not a TimerFinish, or its timer was not claimed.
        """
        batch = []
        for finish in finishes:
            if not isinstance(finish, TimerFinish):
                raise ConfigurationError(
                    f"finish_timers() takes TimerFinish items, got {type(finish).__name__}"
                )
            batch.append((finish, BaseStore.check_claimed(finish.timer)))
        return batch

    @staticmethod
    def check_claimed(timer: Timer) -> str:
        """The claim token of a timer given back to the store.

        Raises:
            ConfigurationError: the timer was not claimed (it came from :meth:`timers`).
        """
        if not isinstance(timer, Timer) or timer.claim is None:
            raise ConfigurationError(
                "finish_timer() and retry_timer() take a timer returned by claim_timers()"
            )
        return timer.claim

    @staticmethod
    def check_batch_ids(changes: Sequence[Change]) -> None:
        """Refuse a batch naming one order id or channel order twice.

        Raises:
            DuplicateOrder: an id or ``(channel, channel_order_id)`` repeats.
        """
        ids: set[str] = set()
        keys: dict[tuple[str, str], str] = {}
        for change in changes:
            order = change.order
            if order.id in ids:
                raise id_taken(order, in_batch=True)
            if order.key in keys:
                raise key_taken(order, keys[order.key], in_batch=True)
            ids.add(order.id)
            keys[order.key] = order.id

    # -- batches ----------------------------------------------------------------------------

    def put_many(
        self,
        orders: Iterable[Order],
        *,
        actor: Actor | None = None,
        on_existing: OnExisting | str = "error",
    ) -> BatchResult:
        self._check_writable()
        try:
            policy = OnExisting(on_existing)
        except ValueError:
            raise ConfigurationError(
                "on_existing must be one of "
                f"{', '.join(repr(p.value) for p in OnExisting)}; got {str(on_existing)[:40]!r}"
            ) from None
        batch = list(orders)
        if not batch:
            return BatchResult(())
        now, at = self.batch_clock()
        if policy is not OnExisting.ERROR:
            return self._put_planned(batch, actor, policy, now, at)
        changes = [self.new_change(order, (), actor, now, at) for order in batch]
        self.check_batch_ids(changes)
        self._put_new(changes)
        return BatchResult.all_created([change.order for change in changes])

    @abstractmethod
    def _put_new(self, changes: Sequence[Change]) -> None:
        """Insert new orders all or nothing (``on_existing="error"``).

        Raises:
            DuplicateOrder: one of them is stored already; nothing was written.
        """

    @abstractmethod
    def _put_planned(
        self,
        batch: list[Order],
        actor: Actor | None,
        policy: OnExisting,
        now: datetime,
        at: str,
    ) -> BatchResult:
        """Write a batch under ``skip`` or ``replace_if_newer``: look up what is stored,
        :func:`plan_batch`, then insert and replace in one transaction."""

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
