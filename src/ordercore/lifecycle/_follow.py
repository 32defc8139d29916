"""Following a channel: the statuses a platform sends drive an order through its lifecycle.

The channel maps (:mod:`ordercore.lifecycle._channel_maps`) say what a native status
means and where it leads without going backwards (:func:`next_status`). This module
makes the lifecycle engine take the order there, one legal transition at a time:

* :func:`follow` is pure. It searches the lifecycle's routes for the shortest path of
  triggers from the order's state to the state the channel now reports, applies each
  with :meth:`Lifecycle.apply <ordercore.lifecycle.Lifecycle.apply>` (actor of kind
  ``connector``), and returns the final order with one ``order.transitioned`` event
  per transition. Every transition but the last is marked ``"implied": true`` in its
  event data: the channel jumped over it (``paid`` -> ``shipped`` implies ``allocate``,
  ``pick``, ``pack``). Every event records the channel, its raw status
  (``channel_status``), the channel map's own node (``channel_node``) and ``main``,
  where fulfilment stood (pass it back with the next update; :func:`follow_channel`
  finds it in the stored events). Repeated, late, out-of-order, closed and unknown
  updates change nothing and say why (:class:`~ordercore.lifecycle._channel_maps.SkipReason`).
* :func:`follow_channel` stores the result as one ``store.update`` (one version, all
  its events, one outbox message carrying them).

The path never claims progress the channel did not report: it passes only through the
order's own status, the statuses :func:`next_status` lists as implied, the target, and
main-line statuses no further than the furthest one known (so a lifecycle whose only
way from ``shipped`` to ``after_sale`` runs through ``delivered`` does not fake a
delivery: the update is *unfollowed* instead); side branches (``under_review``,
``after_sale``) are passed through only when implied, except that a cancellation may
run through the refund that caused it (``refunded_before_shipping``).

Guards apply to channel-driven transitions exactly as to any other: a channel status is
a fact about the platform (the buyer asked for a refund, the platform closed the trade),
not about the warehouse's stock or parcels, so it never stands in for the facts a guard
asks for. Callers pass what they know in ``facts`` (``{"stock_locked": True}``). The
search routes around a guard when the lifecycle offers a legal alternative (``release_pool``
instead of ``allocate`` for a pooled order, ``finish_production`` before ``pick``,
``ship`` before ``start_transit`` of a partial shipment). When every route is blocked the
order does not move: the result names the :class:`~ordercore.errors.GuardFailed`, and
:func:`follow_channel` records the lifecycle's ``order.transition_blocked`` alert where
the blocked transition names one (D9: a refund asked for on the platform while the
warehouse holds the parcel alerts the warehouse lead). So no transition outside the
lifecycle, and none a guard refused, is ever produced.

An after-sale on some lines (an :class:`~ordercore.lifecycle._channel_maps.OrderStatusMapping`,
or an order re-parsed from the channel, which is mapped with :func:`map_order_status`)
keeps the order in its fulfilment state while other lines still need shipping. The
lines are flagged instead, as custom attributes: every line with an after-sale carries
``after_sale_state`` (``open``, ``completed``, ``closed``, ``unknown``) and, when some
of its units must not ship, ``hold_quantity``; the order carries ``do_not_ship``, the
list of line ids the warehouse must hold (absent when none). A change of these flags
alone is recorded as an ``order.lines_held`` event.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from ordercore.errors import ConfigurationError, GuardFailed
from ordercore.lifecycle._channel_maps import (
    MAIN_LINE,
    ChannelStatusMap,
    LineAfterSaleState,
    OrderStatusMapping,
    SkipReason,
    StatusMapping,
    StatusStep,
    channel_maps,
    next_status,
)
from ordercore.lifecycle._engine import BLOCKED, TRANSITIONED, Lifecycle, Transition
from ordercore.lifecycle._spec import LifecycleSpec, expand_transitions, split_ref
from ordercore.pii import safe_repr
from ordercore.schema import (
    Actor,
    ActorKind,
    CustomAttribute,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    attribute,
)
from ordercore.timestamps import utc_now

if TYPE_CHECKING:
    from ordercore.storage import OrderStore

__all__ = [
    "DO_NOT_SHIP",
    "HOLD_QUANTITY",
    "LINES_HELD",
    "LINE_AFTER_SALE",
    "UNFOLLOWED",
    "ChannelFollow",
    "follow",
    "follow_channel",
]

#: The event type recorded when only the lines' after-sale flags changed.
LINES_HELD: Final = "order.lines_held"
#: The event type recorded (without changing the order) when the lifecycle has no legal
#: route to what the channel reports.
UNFOLLOWED: Final = "order.channel_status_unfollowed"
#: The order attribute listing the line ids the warehouse must not ship (JSON list).
DO_NOT_SHIP: Final = "do_not_ship"
#: The line attribute holding the line's after-sale state (a LineAfterSaleState value).
LINE_AFTER_SALE: Final = "after_sale_state"
#: The line attribute holding how many unshipped units of the line must not ship.
HOLD_QUANTITY: Final = "hold_quantity"

_RANK: Final = {status: rank for rank, status in enumerate(MAIN_LINE)}
#: Skips after which the lines' after-sale flags are left alone: the update is stale
#: (late, out of order) or the order is closed.
_STALE: Final = frozenset({SkipReason.BACKWARDS, SkipReason.CLOSED})

Update = StatusMapping | OrderStatusMapping | Order


@attrs.frozen(kw_only=True)
class ChannelFollow:
    """What following one channel update did (or would do) to an order.

    Attributes:
        order: The order after the update (as stored, for :func:`follow_channel`);
            the order as given when nothing changed.
        events: The events to store with it, in order: one ``order.transitioned`` per
            transition, then an ``order.lines_held`` when the lines' flags changed.
        transitions: The transitions applied, in order (the last one is what the
            channel said, the ones before it are implied); their orders are the
            unstored steps in between.
        alerts: Events to record without changing the order: the lifecycle's
            ``order.transition_blocked`` alert, or an ``order.channel_status_unfollowed``.
        mapping: The channel status the update was read as (the effective one for an
            order-level mapping).
        step: What :func:`next_status` made of it.
        ignored: Why the order's state did not move (a repeated, late, closed or
            unknown status), or ``None``.
        blocked: The guard failure that kept the order where it is, or ``None``.
        unfollowed: Why the lifecycle has no legal route to what the channel reports,
            or ``None``.
        do_not_ship: The lines the warehouse must hold after the update.
    """

    order: Order
    events: tuple[OrderEvent, ...] = ()
    transitions: tuple[Transition, ...] = ()
    alerts: tuple[OrderEvent, ...] = ()
    mapping: StatusMapping
    step: StatusStep
    ignored: SkipReason | None = None
    blocked: GuardFailed | None = attrs.field(default=None, eq=False)
    unfollowed: str | None = None
    do_not_ship: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether the order changed (there are events to store with it)."""
        return bool(self.events)

    @property
    def main(self) -> OrderStatus | None:
        """Where fulfilment stands after the update; pass it as ``main=`` next time."""
        return self.step.main

    @property
    def implied(self) -> tuple[str, ...]:
        """The triggers applied without the channel reporting them, in order."""
        return tuple(done.trigger for done in self.transitions[:-1])


# -- the route table ---------------------------------------------------------------------

_TABLES: weakref.WeakKeyDictionary[
    Lifecycle, tuple[LifecycleSpec, dict[str, tuple[tuple[str, str], ...]]]
] = weakref.WeakKeyDictionary()


def _table(lifecycle: Lifecycle) -> Mapping[str, tuple[tuple[str, str], ...]]:
    """``source -> ((trigger, dest), ...)`` by trigger name: the table the engine runs."""
    cached = _TABLES.get(lifecycle)
    if cached is not None and cached[0] is lifecycle.spec:
        return cached[1]
    table: dict[str, list[tuple[str, str]]] = {}
    for source, trigger, transition in expand_transitions(lifecycle.spec):
        table.setdefault(source, []).append((trigger, transition.dest))
    frozen = {source: tuple(sorted(moves)) for source, moves in table.items()}
    _TABLES[lifecycle] = (lifecycle.spec, frozen)
    return frozen


def _alert_of(lifecycle: Lifecycle, state: str, trigger: str) -> str | None:
    for source, name, transition in expand_transitions(lifecycle.spec):
        if source == state and name == trigger:
            return transition.alert
    return None


def _nodes(lifecycle: Lifecycle, status: OrderStatus) -> frozenset[str]:
    state = lifecycle.spec.states.get(status)
    return frozenset(state.nodes) if state is not None else frozenset()


# -- following -----------------------------------------------------------------------------


def _read_update(
    order: Order, update: Update, maps: ChannelStatusMap
) -> tuple[StatusMapping, OrderStatusMapping | None, Order | None]:
    if isinstance(update, Order):
        if update.key != order.key:
            raise ConfigurationError(
                f"cannot follow order {update.channel}/{safe_repr(update.channel_order_id)} "
                f"with the status of another order ({order.channel}/"
                f"{safe_repr(order.channel_order_id)})"
            )
        read = maps.map_order(update)
        return read.mapping, read, update
    lines: OrderStatusMapping | None = None
    if isinstance(update, OrderStatusMapping):
        mapping, lines = update.mapping, update
    elif isinstance(update, StatusMapping):
        mapping = update
    else:
        raise ConfigurationError(
            "a channel update is a StatusMapping, an OrderStatusMapping or the Order as "
            f"re-read from the channel, not {type(update).__name__}"
        )
    if maps.channel_name(order.channel) != mapping.channel:
        raise ConfigurationError(
            f"order {order.id} is a {order.channel!r} order; the update is a status of "
            f"channel {mapping.channel!r}"
        )
    return mapping, lines, None


def _words(name: str | None) -> frozenset[str]:
    """Rough word stems of a snake_case name (``refunded_after_receipt`` -> refun, after...)."""
    if not name:
        return frozenset()
    return frozenset(part[:5] for part in name.split("_") if len(part) >= 4)


def _preferred(found: Sequence[list[Transition]], hint: frozenset[str]) -> list[Transition]:
    """Among shortest paths: the status itself, then one whose words match the channel's."""

    def score(path: list[Transition]) -> tuple[int, int]:
        last = path[-1]
        plain = 0 if last.to_node is None else 1
        words = _words(last.to_node) | _words(last.trigger)
        return (plain, 0 if hint & words else 1)

    return min(found, key=score)


def _search(
    lifecycle: Lifecycle,
    order: Order,
    goal: Callable[[str], bool],
    allowed: frozenset[OrderStatus],
    hint: frozenset[str],
    apply: Callable[[Order, str], Transition],
) -> tuple[list[Transition] | None, GuardFailed | None]:
    """Breadth-first over the lifecycle's routes, asking the guards on every step."""
    table = _table(lifecycle)
    seen = {lifecycle.state_of(order)}
    frontier: list[tuple[Order, list[Transition]]] = [(order, [])]
    blocked: GuardFailed | None = None
    while frontier:
        found: list[list[Transition]] = []
        following: list[tuple[Order, list[Transition]]] = []
        for current, path in frontier:
            for trigger, dest in table.get(lifecycle.state_of(current), ()):
                if dest in seen or OrderStatus(split_ref(dest)[0]) not in allowed:
                    continue
                try:
                    done = apply(current, trigger)
                except GuardFailed as failure:
                    blocked = blocked or failure
                    continue
                longer = [*path, done]
                if goal(dest):
                    found.append(longer)
                else:
                    seen.add(dest)
                    following.append((done.order, longer))
        if found:
            return _preferred(found, hint), None
        frontier = following
    return None, blocked


def _waypoint(step: StatusStep, current: OrderStatus) -> OrderStatus | None:
    """The furthest main-line status a step into a side branch implies beyond ``current``."""
    if step.status in _RANK or current not in _RANK:
        return None
    further = [s for s in step.implied if s in _RANK and _RANK[s] > _RANK[current]]
    return max(further, key=_RANK.__getitem__) if further else None


def _allowed(step: StatusStep, current: OrderStatus) -> frozenset[OrderStatus]:
    """The statuses a path may pass through without claiming what the channel did not say."""
    known = [current, step.status, *step.implied]
    if step.main is not None:
        known.append(step.main)
    ceiling = max((_RANK[status] for status in known if status in _RANK), default=-1)
    allowed = {current, step.status, *step.implied}
    allowed.update(status for status in MAIN_LINE if _RANK[status] <= ceiling)
    if step.status is OrderStatus.CANCELLED:
        allowed.add(OrderStatus.AFTER_SALE)  # a cancellation may come from its refund
    return frozenset(allowed)


def _line_flags(line: OrderLine, state: LineAfterSaleState, hold: int) -> OrderLine:
    attributes: dict[str, CustomAttribute] = dict(line.attributes)
    attributes.pop(LINE_AFTER_SALE, None)
    attributes.pop(HOLD_QUANTITY, None)
    if state is not LineAfterSaleState.NONE:
        attributes[LINE_AFTER_SALE] = attribute(state.value)
    if hold > 0:
        attributes[HOLD_QUANTITY] = attribute(hold)
    if attributes == line.attributes:
        return line
    return line.evolve(attributes=attributes)


def _with_flags(order: Order, lines: OrderStatusMapping) -> Order:
    """The order with its lines' after-sale flags and its do-not-ship list set."""
    states = {line.line_id: line for line in lines.lines}
    new_lines = []
    for line in order.lines:
        found = states.get(line.line_id)
        if found is None:
            new_lines.append(line)
        else:
            new_lines.append(_line_flags(line, found.state, found.hold_quantity))
    held = [line_id for line_id in lines.do_not_ship if line_id in states]
    attributes: dict[str, CustomAttribute] = dict(order.attributes)
    attributes.pop(DO_NOT_SHIP, None)
    if held:
        attributes[DO_NOT_SHIP] = attribute(held)
    if tuple(new_lines) == order.lines and attributes == order.attributes:
        return order
    return order.evolve(lines=tuple(new_lines), attributes=attributes)


def _held_of(order: Order) -> tuple[str, ...]:
    value = order.attribute(DO_NOT_SHIP)
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _status_data(mapping: StatusMapping, step: StatusStep) -> dict[str, Any]:
    return {
        "channel": mapping.channel,
        "channel_status": mapping.native.model_dump(mode="json"),
        "channel_node": step.node,
        "main": None if step.main is None else step.main.value,
    }


def follow(
    lifecycle: Lifecycle,
    order: Order,
    update: Update,
    *,
    actor: Actor,
    now: datetime | None = None,
    main: OrderStatus | None = None,
    facts: Mapping[str, Any] | None = None,
    maps: ChannelStatusMap | None = None,
) -> ChannelFollow:
    """Drive ``order`` through ``lifecycle`` to what its channel now reports; store nothing.

    Args:
        lifecycle: The lifecycle whose routes, guards and effects apply.
        order: The order as read.
        update: What the channel says: a :class:`StatusMapping` (one native status), an
            :class:`OrderStatusMapping` (with the lines' after-sale states), or the
            order as re-parsed from the channel (mapped with :func:`map_order_status`;
            its ``channel_updated_at``, when older than the order's, makes the update late).
        actor: The connector the update came from (kind ``connector``).
        now: The time of the transitions (aware; default now).
        main: Where fulfilment stood when the order went on hold or into after-sale
            (the previous result's :attr:`ChannelFollow.main`).
        facts: What guards may read beyond the order, passed to every transition.
        maps: The channel maps; the packaged ones by default.

    Returns:
        The final order and its events, or why nothing changed (see :class:`ChannelFollow`).

    Raises:
        ConfigurationError: ``actor`` is not a connector, ``now`` is naive, the update is
            of another channel or order, or there is no map for the order's channel.
    """
    if actor.kind is not ActorKind.CONNECTOR:
        raise ConfigurationError(
            f"channel statuses are followed on behalf of a connector, not a {actor.kind.value}"
        )
    moment = now or utc_now()
    if moment.tzinfo is None:
        raise ConfigurationError("a transition's time must be a timezone-aware datetime")
    maps = maps or channel_maps()
    mapping, lines, fresh = _read_update(order, update, maps)
    step = next_status(order.status, mapping, node=order.node, main=main)
    late = (
        fresh is not None
        and fresh.channel_updated_at is not None
        and order.channel_updated_at is not None
        and fresh.channel_updated_at.utc < order.channel_updated_at.utc
    )
    if late:  # the channel sent this before what the order already holds
        stay = next_status(order.status, order.status, node=order.node, main=main)
        step = dataclasses.replace(stay, ignored=SkipReason.BACKWARDS)
    result = ChannelFollow(
        order=order, mapping=mapping, step=step, ignored=step.ignored, do_not_ship=_held_of(order)
    )
    transitions: list[Transition] = []
    if step.ignored is None:
        outcome = _transitions(lifecycle, order, mapping, step, actor, moment, facts)
        if isinstance(outcome, ChannelFollow):
            result = outcome
        else:
            transitions = outcome
            if not transitions:
                result = attrs.evolve(result, ignored=SkipReason.REPEATED)
    final = transitions[-1].order if transitions else order
    if transitions:
        final = final.model_copy(update={"channel_status": mapping.native})
        if fresh is not None and fresh.channel_updated_at is not None:
            final = final.model_copy(update={"channel_updated_at": fresh.channel_updated_at})
    events = [done.event for done in transitions]
    if lines is not None and step.ignored not in _STALE:
        flagged = _with_flags(final, lines)
        if flagged is not final:
            events.append(
                OrderEvent(
                    order_id=order.id,
                    type=LINES_HELD,
                    at=moment,
                    actor=actor,
                    reason="the channel's after-sale on some lines: hold them, ship the rest",
                    data={
                        **_status_data(mapping, step),
                        "do_not_ship": list(_held_of(flagged)),
                        "lines": {
                            line.line_id: line.state.value
                            for line in lines.lines
                            if line.state is not LineAfterSaleState.NONE
                        },
                    },
                )
            )
            final = flagged
    if not events:
        return result
    return attrs.evolve(
        result,
        order=final,
        events=tuple(events),
        transitions=tuple(transitions),
        ignored=result.ignored if not transitions else None,
        do_not_ship=_held_of(final),
    )


def _transitions(
    lifecycle: Lifecycle,
    order: Order,
    mapping: StatusMapping,
    step: StatusStep,
    actor: Actor,
    moment: datetime,
    facts: Mapping[str, Any] | None,
) -> list[Transition] | ChannelFollow:
    """The transitions taking the order where ``step`` says, or why there are none."""
    target = step.status
    current = lifecycle.state_of(order)
    known_node = step.node is not None and step.node in _nodes(lifecycle, target)
    cleared = step.node is None and target is order.status and order.node is not None
    exact = f"{target.value}.{step.node}" if known_node else (target.value if cleared else None)

    def goal(ref: str) -> bool:
        return ref == exact if exact is not None else split_ref(ref)[0] == target.value

    if goal(current):
        return []
    data = _status_data(mapping, step)
    shown = safe_repr(mapping.native.value, limit=40)

    def apply(at: Order, trigger: str) -> Transition:
        return lifecycle.apply(
            at,
            trigger,
            actor=actor,
            reason=f"channel {mapping.channel} status {shown}",
            data={**data, "implied": True},
            now=moment,
            facts=facts,
        )

    allowed = _allowed(step, order.status)
    path: list[Transition] | None = None
    blocked: GuardFailed | None = None
    waypoint = _waypoint(step, order.status)
    if waypoint is not None:
        # Into a side branch after a jump (shipped, then a refund): walk the main line
        # to where the channel says fulfilment got first, so the shipment is recorded.
        def reached(ref: str) -> bool:
            return split_ref(ref)[0] == waypoint.value

        first, blocked = _search(lifecycle, order, reached, allowed, frozenset(), apply)
        if first:
            rest, blocked = _search(
                lifecycle, first[-1].order, goal, allowed, _words(step.node), apply
            )
            if rest is not None:
                path = first + rest
    if path is None:
        path, direct_blocked = _search(lifecycle, order, goal, allowed, _words(step.node), apply)
        blocked = direct_blocked or blocked
    base = ChannelFollow(order=order, mapping=mapping, step=step, do_not_ship=_held_of(order))
    if path is None:
        where = exact or target.value
        if blocked is not None:
            return attrs.evolve(
                base,
                blocked=blocked,
                alerts=_blocked_alert(lifecycle, order, blocked, actor, moment, data),
            )
        why = (
            f"lifecycle {lifecycle.spec.name!r} has no legal route from {current!r} to "
            f"{where!r} that passes only through what the channel reported"
        )
        alert = OrderEvent(
            order_id=order.id,
            type=UNFOLLOWED,
            at=moment,
            actor=actor,
            from_status=order.status,
            to_status=target,
            reason=why,
            data={**data, "state": current, "target": where},
        )
        return attrs.evolve(base, unfollowed=why, alerts=(alert,))
    last = path[-1]
    event = last.event.model_copy(update={"data": {**last.event.data, "implied": False}})
    path[-1] = attrs.evolve(last, event=event)
    return path


def _blocked_alert(
    lifecycle: Lifecycle,
    order: Order,
    failure: GuardFailed,
    actor: Actor,
    moment: datetime,
    data: Mapping[str, Any],
) -> tuple[OrderEvent, ...]:
    """The lifecycle's ``order.transition_blocked`` alert, if the blocked transition names one.

    It has the shape the engine records for a blocked :meth:`Lifecycle.transition`, plus
    the channel's status.
    """
    state = failure.state or lifecycle.state_of(order)
    notify = _alert_of(lifecycle, state, failure.trigger or "")
    if notify is None:
        return ()
    status, node = split_ref(state)
    return (
        OrderEvent(
            order_id=order.id,
            type=BLOCKED,
            at=moment,
            actor=actor,
            from_status=OrderStatus(status),
            reason=failure.message,
            data={
                **data,
                "trigger": failure.trigger,
                "guard": failure.guard,
                "node": node,
                "notify": notify,
            },
        ),
    )


def _main_from_events(order: Order, events: Sequence[OrderEvent]) -> OrderStatus | None:
    """Where fulfilment stood, from the order's history, newest first.

    The ``main`` a channel-driven transition recorded, else the main-line status the
    order left to enter its current one.
    """
    for event in reversed(events):
        if event.type != TRANSITIONED:
            continue
        if "main" in event.data and "channel" in event.data:
            recorded = event.data["main"]
            return OrderStatus(recorded) if isinstance(recorded, str) else None
        if event.to_status is order.status and event.from_status in _RANK:
            return event.from_status
    return None


def follow_channel(
    lifecycle: Lifecycle,
    store: OrderStore,
    order: Order,
    update: Update,
    *,
    actor: Actor,
    now: datetime | None = None,
    main: OrderStatus | None = None,
    facts: Mapping[str, Any] | None = None,
    maps: ChannelStatusMap | None = None,
) -> ChannelFollow:
    """Follow a channel update (see :func:`follow`) and store the result.

    Everything the update changed is one ``store.update(final_order, events=[...])``
    based on ``order.version``: one version bump, every event of the update (implied
    transitions first), and the one outbox message that carries them. An ignored update
    writes nothing. A blocked or unfollowed one writes only its alert, with
    ``store.append_events`` (the order and its version are unchanged).

    Args:
        lifecycle: The lifecycle.
        store: Where the order is stored.
        order: The order as read from ``store``.
        update: What the channel says (as for :func:`follow`).
        actor: The connector (kind ``connector``).
        now: The time of the change (aware; default now).
        main: Where fulfilment stood; read from the order's stored events when not given.
        facts: What guards may read beyond the order.
        maps: The channel maps; the packaged ones by default.

    Returns:
        The result, with the order as stored and its events stamped with its version.

    Raises:
        ConfigurationError: as for :func:`follow`.
        VersionConflict: the stored order is not at ``order.version`` (nothing written).
        OrderNotFound: the order is not stored.
    """
    if main is None and order.status not in _RANK:
        main = _main_from_events(order, store.events(order.id))
    result = follow(
        lifecycle, order, update, actor=actor, now=now, main=main, facts=facts, maps=maps
    )
    if result.events:
        stored = store.update(result.order, events=list(result.events), actor=actor)
        stamped = tuple(
            event.model_copy(update={"order_version": stored.version}) for event in result.events
        )
        transitions = tuple(
            attrs.evolve(done, event=event)
            for done, event in zip(result.transitions, stamped, strict=False)
        )
        result = attrs.evolve(result, order=stored, events=stamped, transitions=transitions)
    if result.alerts:
        store.append_events(order.id, list(result.alerts))
    return result
