"""Interception (截单): stopping an order the warehouse already has, and never shipping it twice.

A refund, a cancellation, an address or memo change, or word that the goods
already left from elsewhere may reach ordercore after the order was released to
the warehouse (``allocated``, ``picking``, ``packed`` and their nodes).
:func:`intercept` then, in one store transaction:

- holds the order at once at ``under_review.recall_requested`` (trigger
  ``request_recall``), recording where it was (``intercepted_from``, also kept as
  the order's custom attribute ``intercepted_from`` while the recall is pending),
  the cause and the latency from the channel event to the hold in force;
- records an ``order.recall_requested`` event for the warehouse, which goes out in
  the same outbox message as the hold.

The warehouse answers with :func:`accept_recall` (the order goes back to
customer-service review) or :func:`refuse_recall` (it resumes where it was, or
is ``shipped`` when it already left; a refund, cancellation or second shipment
then needs an after-sale, recorded as ``data["after_sale_follow_up"]`` and the
tag ``after_sale_follow_up``).

The recall node, its transitions and the guards that keep a pending recall from
being released, cancelled or shipped are :data:`INTERCEPTION_EXTENSION` and
:data:`INTERCEPTION_GUARDS`; :func:`interception_lifecycle` is the default
lifecycle with both. Nothing here imports the engine at run time, so the engine
may import :data:`INTERCEPTION_GUARDS` into its built-in guards.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

import attrs

from ordercore.errors import ConfigurationError, InvalidTransition
from ordercore.lifecycle._holds import Hold, HoldReason, _aware, _json_time, hold_trigger
from ordercore.schema import Actor, Order, OrderEvent, OrderStatus
from ordercore.storage import OrderUpdate

if TYPE_CHECKING:
    from ordercore.lifecycle._engine import Guard, Lifecycle, Transition, TransitionContext
    from ordercore.lifecycle._spec import LifecycleSpec
    from ordercore.storage import OrderStore, TimerPlan

__all__ = [
    "AFTER_SALE_FOLLOW_UP",
    "INTERCEPTED",
    "INTERCEPTION_EXTENSION",
    "INTERCEPTION_GUARDS",
    "RECALL_NODE",
    "RECALL_REQUESTED",
    "InterceptCause",
    "InterceptOutcome",
    "Interception",
    "InterceptionStats",
    "accept_recall",
    "intercept",
    "interception_latencies",
    "interception_lifecycle",
    "interception_spec",
    "interception_stats",
    "refuse_recall",
]

#: The event type of a recall request for the warehouse.
RECALL_REQUESTED: Final = "order.recall_requested"
#: The event type recorded when an order already held is intercepted again.
INTERCEPTED: Final = "order.intercepted"
#: The ``under_review`` node an intercepted order waits at for the warehouse's answer.
RECALL_NODE: Final = "recall_requested"
#: The tag (and event data key) of an order that needs an after-sale after a refused recall.
AFTER_SALE_FOLLOW_UP: Final = "after_sale_follow_up"
#: The custom attribute holding where a pending recall took the order from.
INTERCEPTED_FROM: Final = "intercepted_from"

_WAREHOUSE: Final = frozenset({OrderStatus.ALLOCATED, OrderStatus.PICKING, OrderStatus.PACKED})
_GONE: Final = frozenset(
    {
        OrderStatus.SHIPPED,
        OrderStatus.IN_TRANSIT,
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
        OrderStatus.AFTER_SALE,
    }
)


class InterceptCause(StrEnum):
    """What arrived from the channel that stops the order."""

    REFUND = "refund"
    CANCEL = "cancel"
    ADDRESS_CHANGE = "address_change"
    MEMO_CHANGE = "memo_change"
    SHIPPED_ELSEWHERE = "shipped_elsewhere"

    @property
    def review_reason(self) -> HoldReason:
        """The review an order not yet in the warehouse is held for."""
        return (
            HoldReason.ADDRESS
            if self is InterceptCause.ADDRESS_CHANGE
            else (HoldReason.CUSTOMER_SERVICE)
        )

    @property
    def needs_after_sale(self) -> bool:
        """Whether goods that ship anyway need an after-sale (refund, cancel, a second parcel)."""
        return self in _AFTER_SALE_CAUSES


_AFTER_SALE_CAUSES: Final = frozenset(
    {InterceptCause.REFUND, InterceptCause.CANCEL, InterceptCause.SHIPPED_ELSEWHERE}
)


class InterceptOutcome(StrEnum):
    """What :func:`intercept` did."""

    RECALL_REQUESTED = "recall_requested"
    """Held at ``under_review.recall_requested``; the warehouse is asked to recall it."""
    HELD = "held"
    """Not in the warehouse yet: held for review like any hold."""
    ALREADY_HELD = "already_held"
    """Already under review (or recalled): the interception is recorded, nothing moves."""
    AFTER_SALE = "after_sale"
    """A refund for an order already shipped: nothing written, the after-sale path follows."""


@attrs.frozen(kw_only=True)
class Interception:
    """What :func:`intercept` did to one order.

    Attributes:
        order: The order as stored afterwards (as given, for ``after_sale``).
        cause: What arrived from the channel.
        outcome: What was done.
        latency_ms: Milliseconds from the channel event to the hold in force
            (``None`` for ``after_sale``: no hold).
        intercepted_from: Where the order was when a recall was requested.
        event: The event recorded (the transition, or ``order.intercepted``).
        recall_event: The ``order.recall_requested`` event, for a recall.
    """

    order: Order
    cause: InterceptCause
    outcome: InterceptOutcome
    latency_ms: int | None = None
    intercepted_from: str | None = None
    event: OrderEvent | None = None
    recall_event: OrderEvent | None = None


# -- the lifecycle part ----------------------------------------------------------------------

#: Where a refused recall resumes, by where the order was: the trigger for each.
RESUME_TRIGGERS: Final[Mapping[str, str]] = {
    "allocated": "refuse_recall_allocated",
    "allocated.custom_made": "refuse_recall_custom_made",
    "allocated.engraving": "refuse_recall_engraving",
    "picking": "refuse_recall_picking",
    "packed": "refuse_recall_packed",
    "packed.awaiting_outbound": "refuse_recall_awaiting_outbound",
}
#: The warehouse refused because the parcel had already left.
SHIPPED_ANYWAY: Final = "refuse_recall_shipped"

#: The additions to the default lifecycle for interception (a
#: :meth:`~ordercore.lifecycle.LifecycleSpec.extend` argument, in the default's style).
INTERCEPTION_EXTENSION: Final = """\
# Interception (截单): a channel change for an order the warehouse already has.
states:
  under_review:
    nodes:
      recall_requested:
        description: >-
          Intercepted after release to the warehouse (a refund, cancellation, address or
          memo change, or goods already shipped elsewhere); the warehouse must accept or
          refuse the recall.
        sla:
          limit: 30m
          owner: warehouse_lead
          escalation:
            - {after: 30m, notify: operations_manager, level: 2}

transitions:
  # -- interception: hold at once, recall from the warehouse, its answer ---------------------
  - trigger: request_recall
    sources: [allocated, picking, packed]
    dest: under_review.recall_requested
    description: A channel change arrived; the order is held and the warehouse asked to recall it.
  - trigger: accept_recall
    sources: under_review.recall_requested
    dest: under_review.cs_review
    guards: parcel_not_picked_up
    description: The warehouse stopped the order; customer service reviews the change.
  - trigger: refuse_recall_allocated
    sources: under_review.recall_requested
    dest: allocated
    guards: resumes_where_intercepted
  - trigger: refuse_recall_custom_made
    sources: under_review.recall_requested
    dest: allocated.custom_made
    guards: resumes_where_intercepted
  - trigger: refuse_recall_engraving
    sources: under_review.recall_requested
    dest: allocated.engraving
    guards: resumes_where_intercepted
  - trigger: refuse_recall_picking
    sources: under_review.recall_requested
    dest: picking
    guards: resumes_where_intercepted
  - trigger: refuse_recall_packed
    sources: under_review.recall_requested
    dest: packed
    guards: resumes_where_intercepted
  - trigger: refuse_recall_awaiting_outbound
    sources: under_review.recall_requested
    dest: packed.awaiting_outbound
    guards: resumes_where_intercepted
    description: The warehouse could not stop the order; it resumes where it was.
  - trigger: refuse_recall_shipped
    sources: under_review.recall_requested
    dest: shipped
    effects: stamp_shipped_at
    description: The parcel had already left; the after-sale follows.

# A pending recall is answered by the warehouse first: nothing releases, cancels,
# refunds or ships the order meanwhile, and a full shipment happens once.
guards:
  release: no_recall_pending
  force_approve: no_recall_pending
  cancel_by_buyer: no_recall_pending
  cancel_by_seller: no_recall_pending
  request_refund_only: no_recall_pending
  ship: [no_recall_pending, not_shipped_twice]
  ship_partially: [no_recall_pending, not_shipped_twice]
"""


def _ref(status: OrderStatus, node: str | None) -> str:
    return status.value if node is None else f"{status.value}.{node}"


def no_recall_pending(order: Order, context: TransitionContext) -> bool:
    """The order is not waiting for the warehouse's answer to a recall (``recall_requested``)."""
    return not (
        context.from_status is OrderStatus.UNDER_REVIEW and context.from_node == RECALL_NODE
    )


def not_shipped_twice(order: Order, context: TransitionContext) -> bool:
    """The order has not been shipped before, unless this ships the rest of a partial shipment.

    An order with ``shipped_at`` set (stamped by its first shipment, by a refused
    recall whose parcel had left, or by the channel when it was shipped elsewhere)
    is shipped; only ``shipped.partially_shipped`` ships again. A transition that
    records the channel's own status (its data carries ``channel_status``, as
    :func:`~ordercore.lifecycle.follow` writes) is exempt: it reports a shipment
    the platform already made, whose ``shipped_at`` came from the channel.
    """
    return (
        context.from_node == "partially_shipped"
        or order.shipped_at is None
        or "channel_status" in context.data
    )


def resumes_where_intercepted(order: Order, context: TransitionContext) -> bool:
    """A refused recall resumes the order where it was intercepted (its ``intercepted_from``)."""
    origin = order.attribute(INTERCEPTED_FROM)
    return isinstance(origin, str) and origin == _ref(context.to_status, context.to_node)


#: The interception guards, to add to the built-in guards (or pass to ``Lifecycle``).
INTERCEPTION_GUARDS: Final[Mapping[str, Guard]] = {
    "no_recall_pending": no_recall_pending,
    "not_shipped_twice": not_shipped_twice,
    "resumes_where_intercepted": resumes_where_intercepted,
}


def interception_spec(base: LifecycleSpec | None = None) -> LifecycleSpec:
    """``base`` (default: the default spec) extended with :data:`INTERCEPTION_EXTENSION`.

    Extending a spec that already has the extension changes nothing.
    """
    if base is None:
        from ordercore.lifecycle._engine import default_spec

        base = default_spec()
    return base.extend(INTERCEPTION_EXTENSION)


def interception_lifecycle(
    base: LifecycleSpec | None = None,
    *,
    guards: Mapping[str, Guard] | None = None,
    effects: Mapping[str, Any] | None = None,
) -> Lifecycle:
    """A lifecycle of :func:`interception_spec` with :data:`INTERCEPTION_GUARDS` registered.

    Args:
        base: The spec to extend (default: the default spec).
        guards: More guards, added to the built-in and interception ones.
        effects: More effects, added to the built-in ones.
    """
    from ordercore.lifecycle._engine import Lifecycle

    return Lifecycle(
        interception_spec(base), guards={**INTERCEPTION_GUARDS, **(guards or {})}, effects=effects
    )


# -- intercepting ----------------------------------------------------------------------------


def _cause(value: InterceptCause | str) -> InterceptCause:
    try:
        return InterceptCause(value)
    except ValueError:
        known = ", ".join(cause.value for cause in InterceptCause)
        raise ConfigurationError(
            f"unknown interception cause {str(value)[:40]!r}; known: {known}"
        ) from None


def _latency_ms(received_at: datetime, held_at: datetime) -> int:
    # A channel clock ahead of ours would give a negative latency: count it as none.
    return max(0, math.floor((held_at - received_at).total_seconds() * 1000))


def _write(
    store: OrderStore,
    order: Order,
    events: list[OrderEvent],
    timers: TimerPlan | None,
    actor: Actor,
) -> Order:
    """One transaction: the order, its events, its outbox message and its SLA timers."""
    if timers is None or timers.empty:
        return store.update(order, events=events, actor=actor)
    (stored,) = store.update_many([OrderUpdate(order, events=events, timers=timers)], actor=actor)
    return stored


def _stamped(events: list[OrderEvent], version: int) -> list[OrderEvent]:
    return [event.model_copy(update={"order_version": version}) for event in events]


def intercept(
    lifecycle: Lifecycle,
    store: OrderStore,
    order: Order,
    cause: InterceptCause | str,
    *,
    received_at: datetime,
    actor: Actor,
    now: datetime | None = None,
    detail: str | None = None,
    source_event: str | None = None,
) -> Interception:
    """Stop an order because of a channel change, at once; ask the warehouse to recall it.

    By the order's state:

    - ``allocated``, ``picking``, ``packed`` (and their nodes): ``request_recall``
      to ``under_review.recall_requested``, plus an ``order.recall_requested``
      event, in one store transaction (one outbox message, the SLA timers moved);
    - ``paid``: an ordinary hold (``address_change``: address check; any other
      cause: customer-service review). Cancelling or refunding it is then the
      caller's ordinary ``cancel_by_buyer`` / ``request_refund_only``;
    - ``under_review`` (a recall pending included): already held; an
      ``order.intercepted`` event records the interception;
    - shipped or later: for a refund, nothing is written and the outcome is
      ``after_sale`` (the refund becomes an after-sale); for any other cause,
      ``InvalidTransition``.

    The interception record (``data["interception"]`` of the event written):
    ``cause``, ``received_at``, ``held_at``, ``latency_ms``, ``intercepted_from``,
    ``detail`` and ``source_event``. The recall's hold is also a :class:`Hold`
    (reason ``interception``) in ``data["hold"]``.

    Args:
        lifecycle: A lifecycle with the interception transitions
            (:func:`interception_lifecycle`).
        store: Where the order is stored.
        order: The order as read.
        cause: What arrived.
        received_at: When ordercore received the channel event (aware).
        actor: Who intercepts (usually the connector that received the event).
        now: When the hold comes into force (aware; default now).
        detail: What changed, in words (the event's reason).
        source_event: The channel event's id, if any.

    Returns:
        What was done, with the order as stored.

    Raises:
        ConfigurationError: an unknown cause or a naive time.
        InvalidTransition: the order is unpaid, cancelled, or shipped (and the
            cause is not a refund): there is nothing to intercept, or the
            after-sale path applies.
        VersionConflict: the order changed since it was read: nothing is written,
            neither the hold nor the recall.
    """
    typed = _cause(cause)
    received = _aware(received_at, "an interception's received_at")
    moment = _aware(now, "an interception's time")
    state = lifecycle.state_of(order)
    latency = _latency_ms(received, moment)
    record: dict[str, Any] = {
        "cause": typed.value,
        "received_at": _json_time(received),
        "held_at": _json_time(moment),
        "latency_ms": latency,
        "intercepted_from": None,
        "detail": detail,
        "source_event": source_event,
    }
    status = order.status
    if status in _WAREHOUSE:
        return _recall(lifecycle, store, order, typed, state, record, actor, moment)
    if status is OrderStatus.PAID:
        reason = typed.review_reason
        held = Hold(
            reason=reason,
            node=reason.node,
            held_by=actor,
            held_at=moment,
            note=detail,
            source_event=source_event,
        )
        done = lifecycle.transition(
            store,
            order,
            hold_trigger(lifecycle, order, reason),
            actor=actor,
            reason=detail,
            data={"hold": held.to_json(), "interception": record},
            now=moment,
        )
        return Interception(
            order=done.order,
            cause=typed,
            outcome=InterceptOutcome.HELD,
            latency_ms=latency,
            event=done.event,
        )
    if status is OrderStatus.UNDER_REVIEW:
        note = OrderEvent(
            order_id=order.id,
            type=INTERCEPTED,
            at=moment,
            actor=actor,
            reason=detail,
            data={"interception": record, "node": order.node},
        )
        stored = store.update(order, events=[note], actor=actor)
        (event,) = _stamped([note], stored.version)
        return Interception(
            order=stored,
            cause=typed,
            outcome=InterceptOutcome.ALREADY_HELD,
            latency_ms=latency,
            event=event,
        )
    if status in _GONE and typed is InterceptCause.REFUND:
        return Interception(order=order, cause=typed, outcome=InterceptOutcome.AFTER_SALE)
    if status in _GONE:
        why = "it has left the warehouse: the after-sale path applies"
    else:
        why = "it is not paid or is closed: there is nothing to intercept"
    raise InvalidTransition(
        f"order {order.id} in state {state!r} cannot be intercepted for {typed.value}: {why}",
        order_id=order.id,
        state=state,
        trigger="request_recall",
    )


def _recall(
    lifecycle: Lifecycle,
    store: OrderStore,
    order: Order,
    cause: InterceptCause,
    state: str,
    record: dict[str, Any],
    actor: Actor,
    moment: datetime,
) -> Interception:
    record = {**record, "intercepted_from": state}
    held = Hold(
        reason=HoldReason.INTERCEPTION,
        node=RECALL_NODE,
        held_by=actor,
        held_at=moment,
        note=record["detail"],
        source_event=record["source_event"],
    )
    marked = order.with_attribute(INTERCEPTED_FROM, state)
    done = lifecycle.apply(
        marked,
        HoldReason.INTERCEPTION.trigger,
        actor=actor,
        reason=record["detail"],
        data={"hold": held.to_json(), "interception": record},
        now=moment,
    )
    request = OrderEvent(
        order_id=order.id,
        type=RECALL_REQUESTED,
        at=moment,
        actor=actor,
        from_status=order.status,
        reason=record["detail"],
        data={
            "cause": cause.value,
            "intercepted_from": state,
            "received_at": record["received_at"],
            "latency_ms": record["latency_ms"],
            "source_event": record["source_event"],
        },
    )
    stored = _write(store, done.order, [done.event, request], done.timers, actor)
    event, recall_event = _stamped([done.event, request], stored.version)
    return Interception(
        order=stored,
        cause=cause,
        outcome=InterceptOutcome.RECALL_REQUESTED,
        latency_ms=record["latency_ms"],
        intercepted_from=state,
        event=event,
        recall_event=recall_event,
    )


# -- the warehouse's answer ------------------------------------------------------------------


@attrs.frozen
class _Pending:
    intercepted_from: str | None
    causes: tuple[InterceptCause, ...]
    recall_event_id: str | None


def _pending(order: Order, events: Iterable[OrderEvent]) -> _Pending:
    """The pending recall: where from, and every cause since it was requested."""
    origin: str | None = None
    causes: list[InterceptCause] = []
    event_id: str | None = None
    for event in events:
        if event.type == RECALL_REQUESTED:
            origin = str(event.data.get("intercepted_from") or "") or None
            causes = []
            event_id = event.event_id
            named = event.data.get("cause")
        elif event_id is not None and event.type == INTERCEPTED:
            record = event.data.get("interception")
            named = record.get("cause") if isinstance(record, Mapping) else None
        else:
            continue
        try:
            cause = InterceptCause(str(named))
        except ValueError:
            continue
        if cause not in causes:
            causes.append(cause)
    found = order.attribute(INTERCEPTED_FROM)
    return _Pending(found if isinstance(found, str) else origin, tuple(causes), event_id)


def _answer(pending: _Pending, answer: str) -> dict[str, Any]:
    return {
        "answer": answer,
        "intercepted_from": pending.intercepted_from,
        "causes": [cause.value for cause in pending.causes],
        "recall_event_id": pending.recall_event_id,
    }


def _cleared(order: Order) -> Order:
    if INTERCEPTED_FROM not in order.attributes:
        return order
    kept = {name: value for name, value in order.attributes.items() if name != INTERCEPTED_FROM}
    return order.model_copy(update={"attributes": kept})


def _store(store: OrderStore, done: Transition, order: Order, actor: Actor) -> Transition:
    stored = _write(store, order, [done.event], done.timers, actor)
    event = done.event.model_copy(update={"order_version": stored.version})
    return attrs.evolve(done, order=stored, event=event)


def accept_recall(
    lifecycle: Lifecycle,
    store: OrderStore,
    order: Order,
    *,
    actor: Actor,
    note: str | None = None,
    now: datetime | None = None,
    facts: Mapping[str, Any] | None = None,
) -> Transition:
    """The warehouse stopped the order: it returns to customer-service review (``accept_recall``).

    The event's ``data["recall"]`` is ``{"answer": "accepted", "intercepted_from",
    "causes", "recall_event_id"}`` and ``data["hold"]`` the customer-service hold.
    The guard ``parcel_not_picked_up`` refuses when the parcel was collected
    (pass ``facts={"parcel_picked_up": ...}`` when the warehouse says so).

    Raises:
        InvalidTransition: no recall is pending for the order.
        GuardFailed: the parcel was picked up (``parcel_not_picked_up``).
        VersionConflict: the order changed since it was read (nothing written).
    """
    moment = _aware(now, "a recall answer's time")
    pending = _pending(order, store.events(order.id))
    review = HoldReason.CUSTOMER_SERVICE
    held = Hold(reason=review, node=review.node, held_by=actor, held_at=moment, note=note)
    done = lifecycle.apply(
        order,
        "accept_recall",
        actor=actor,
        reason=note,
        data={"recall": _answer(pending, "accepted"), "hold": held.to_json()},
        now=moment,
        facts=facts,
    )
    return _store(store, done, _cleared(done.order), actor)


def refuse_recall(
    lifecycle: Lifecycle,
    store: OrderStore,
    order: Order,
    *,
    actor: Actor,
    shipped: bool = False,
    note: str | None = None,
    now: datetime | None = None,
    facts: Mapping[str, Any] | None = None,
) -> Transition:
    """The warehouse could not stop the order: it resumes where it was, or is shipped.

    ``shipped=True`` (the parcel had already left) moves it to ``shipped``
    (``refuse_recall_shipped``); otherwise the ``refuse_recall_*`` trigger of the
    state it was intercepted from resumes it there. When any cause since the recall
    was a refund, a cancellation or goods shipped elsewhere, the goods reach the
    buyer anyway: ``data["after_sale_follow_up"]`` is ``{"causes": [...]}`` and the
    order gets the tag ``after_sale_follow_up`` (``store.query(tag=...)`` lists them).

    Raises:
        InvalidTransition: no recall is pending, or where it came from is not known.
        VersionConflict: the order changed since it was read (nothing written).
    """
    moment = _aware(now, "a recall answer's time")
    pending = _pending(order, store.events(order.id))
    state = lifecycle.state_of(order)
    if shipped:
        trigger = SHIPPED_ANYWAY
    else:
        found = RESUME_TRIGGERS.get(pending.intercepted_from or "")
        if found is None:
            raise InvalidTransition(
                f"order {order.id} in state {state!r} has no pending recall to refuse "
                f"(intercepted from {pending.intercepted_from!r})",
                order_id=order.id,
                state=state,
                trigger="refuse_recall",
            )
        trigger = found
    data: dict[str, Any] = {"recall": _answer(pending, "refused_shipped" if shipped else "refused")}
    follow_up = [cause.value for cause in pending.causes if cause.needs_after_sale]
    if follow_up:
        data[AFTER_SALE_FOLLOW_UP] = {"causes": follow_up}
    done = lifecycle.apply(
        order, trigger, actor=actor, reason=note, data=data, now=moment, facts=facts
    )
    resumed = _cleared(done.order)
    if follow_up and AFTER_SALE_FOLLOW_UP not in resumed.tags:
        resumed = resumed.model_copy(
            update={"tags": tuple(sorted({*resumed.tags, AFTER_SALE_FOLLOW_UP}))}
        )
    return _store(store, done, resumed, actor)


# -- measuring (D30: exception interception latency) -------------------------------------------


def interception_latencies(events: Iterable[OrderEvent]) -> list[int]:
    """The latency (ms) of every interception recorded in ``events``, in their order."""
    found = []
    for event in events:
        record = event.data.get("interception")
        if isinstance(record, Mapping):
            latency = record.get("latency_ms")
            if isinstance(latency, int) and not isinstance(latency, bool):
                found.append(latency)
    return found


def _rank(ordered: list[int], share: float) -> int:
    # Nearest rank: the smallest value with at least ``share`` of the values at or below it.
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@attrs.frozen(kw_only=True)
class InterceptionStats:
    """Interception latency over a set of orders (D30's "exception interception latency").

    Attributes:
        count: How many interceptions.
        p50_ms: The median latency (nearest rank), ``None`` when there are none.
        p99_ms: The 99th percentile (nearest rank).
        max_ms: The slowest.
    """

    count: int
    p50_ms: int | None
    p99_ms: int | None
    max_ms: int | None

    @classmethod
    def of(cls, latencies: Iterable[int]) -> InterceptionStats:
        """Summarise latencies in milliseconds."""
        ordered = sorted(latencies)
        if not ordered:
            return cls(count=0, p50_ms=None, p99_ms=None, max_ms=None)
        return cls(
            count=len(ordered),
            p50_ms=_rank(ordered, 0.5),
            p99_ms=_rank(ordered, 0.99),
            max_ms=ordered[-1],
        )


def interception_stats(events: Iterable[OrderEvent]) -> InterceptionStats:
    """The interception latency of the orders whose events are given (any number of orders).

    Example:
        >>> from ordercore.schema import Actor, OrderEvent
        >>> bot = Actor(kind="connector", id="taobao")
        >>> events = [OrderEvent(order_id=str(n), type="order.intercepted", actor=bot,
        ...                      data={"interception": {"latency_ms": n * 100}})
        ...           for n in range(1, 11)]
        >>> interception_stats(events)
        InterceptionStats(count=10, p50_ms=500, p99_ms=1000, max_ms=1000)
    """
    return InterceptionStats.of(interception_latencies(events))
