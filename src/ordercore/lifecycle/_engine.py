"""The lifecycle engine: one ``transitions`` machine per spec, shared by every order.

The pattern (why orders are never given to the machine): a ``transitions.Machine``
is built once per spec with no models at all. Its states are the spec's states and
nodes (``"packed"``, ``"packed.awaiting_outbound"``), its events the spec's
triggers, expanded so that a status-level transition appears at every node that
does not override it. At construction the engine reads the machine's event table
into a dict ``(state, trigger) -> route``; applying a trigger to an order is a
lookup in it, the guards, and a copy of the order. No model is added per order,
nothing is locked, and memory does not grow with the number of orders (a
``Machine`` per order costs tens of kilobytes; ``add_model`` on a shared machine
slows down as its model list grows).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias

import attrs
from transitions import Machine, MachineError

from ordercore.errors import (
    ConfigurationError,
    GuardFailed,
    InvalidTransition,
    OrderCoreError,
)
from ordercore.ids import new_id
from ordercore.lifecycle._intercept import INTERCEPTION_GUARDS
from ordercore.lifecycle._spec import (
    SLA,
    LifecycleSpec,
    TransitionSpec,
    expand_transitions,
    load_lifecycle,
    split_ref,
)
from ordercore.pii import redact, safe_repr
from ordercore.schema import (
    Actor,
    ActorKind,
    Order,
    OrderEvent,
    OrderStatus,
    PresalePhase,
)
from ordercore.storage._protocol import OrderUpdate, TimerArm, TimerPlan, trusted_timer_plan
from ordercore.timestamps import ChannelTime, utc_now

if TYPE_CHECKING:
    from ordercore.storage import OrderStore

__all__ = [
    "BLOCKED",
    "BUILTIN_EFFECTS",
    "BUILTIN_GUARDS",
    "DEFAULT_LIFECYCLE",
    "SLA_TIMER_PREFIX",
    "TRANSITIONED",
    "Effect",
    "Guard",
    "Lifecycle",
    "Transition",
    "TransitionContext",
    "default_lifecycle",
    "default_spec",
]

#: The event type of every transition.
TRANSITIONED: Final = "order.transitioned"
#: The event type recorded when a guard blocks a transition that names an ``alert``.
BLOCKED: Final = "order.transition_blocked"
#: The default lifecycle's file, shipped in the package.
DEFAULT_LIFECYCLE: Final = Path(__file__).with_name("default.yaml")

#: The prefix of the names of SLA timers (``"sla:packed.awaiting_outbound"``).
SLA_TIMER_PREFIX: Final = "sla:"

#: Keys of a transition event's ``data`` that the engine writes itself.
_OWN_DATA: Final = frozenset({"trigger", "from_node", "to_node"})


@attrs.frozen(kw_only=True)
class TransitionContext:
    """What a guard or an effect is told about the transition being made.

    Attributes:
        trigger: The trigger.
        from_status: The order's status before.
        from_node: Its node before (``None``: none).
        to_status: The status the transition leads to.
        to_node: The node it leads to.
        actor: Who makes the change.
        reason: Why, as given by the caller.
        data: The caller's data, recorded in the event.
        facts: What the caller knows about the world outside the order (stock,
            carrier tracking), for guards to read; not recorded.
        now: The time of the change (aware UTC).
    """

    trigger: str
    from_status: OrderStatus
    from_node: str | None
    to_status: OrderStatus
    to_node: str | None
    actor: Actor
    reason: str | None
    data: Mapping[str, Any]
    facts: Mapping[str, Any]
    now: datetime


#: A guard: ``True`` lets the transition happen; ``False`` (or raising an
#: ordercore error, whose message is kept) blocks it with GuardFailed.
Guard: TypeAlias = Callable[[Order, TransitionContext], bool]
#: An effect: returns the order changed (or ``None`` for no change) after the
#: status and node are set; it may not change status, node, id or version.
Effect: TypeAlias = Callable[[Order, TransitionContext], "Order | None"]


@attrs.frozen(kw_only=True)
class Transition:
    """One transition of one order: the changed order and the event that records it.

    :meth:`Lifecycle.apply` returns it unstored; :meth:`Lifecycle.transition`
    returns it with the order as stored (version + 1) and the event stamped with
    that version.

    Attributes:
        order: The order after the transition.
        event: The ``order.transitioned`` event to record with it.
        trigger: The trigger applied.
        from_status: The status before.
        from_node: The node before.
        to_status: The status after.
        to_node: The node after.
        timers: The SLA timers the transition cancels and arms (``None``: none
            change), written in the same store transaction as the order.
    """

    order: Order
    event: OrderEvent
    trigger: str
    from_status: OrderStatus
    from_node: str | None
    to_status: OrderStatus
    to_node: str | None
    timers: TimerPlan | None = None

    @property
    def state(self) -> str:
        """Where the order is now, as a reference (``"packed.awaiting_outbound"``)."""
        return _ref(self.to_status.value, self.to_node)


@attrs.frozen
class _Route:
    spec: TransitionSpec
    to_status: OrderStatus
    to_node: str | None
    guards: tuple[tuple[str, Guard], ...]
    effects: tuple[tuple[str, Effect], ...]
    #: Whether taking the route cancels or arms an SLA timer (decided once, per route).
    touches_timers: bool = False


def _ref(status: str, node: str | None) -> str:
    return status if node is None else f"{status}.{node}"


class Lifecycle:
    """A lifecycle spec made executable: guards, effects, and transitions of orders.

    One instance serves every order (see the module docstring for the pattern);
    it is safe to share between threads.

    Args:
        spec: The spec (see :func:`~ordercore.lifecycle.load_lifecycle`), or a path,
            YAML/JSON text or dict to load one from.
        guards: Guards by name, added to (and overriding) :data:`BUILTIN_GUARDS`.
        effects: Effects by name, added to (and overriding) :data:`BUILTIN_EFFECTS`.

    Raises:
        LifecycleSpecError: the spec is not valid, or names a guard or effect that
            is not registered.

    Example:
        >>> from ordercore.lifecycle import default_lifecycle
        >>> from ordercore.schema import Actor
        >>> from ordercore.testing import OrderFactory
        >>> lifecycle = default_lifecycle()
        >>> order = OrderFactory(seed=1).order(status="paid")
        >>> lifecycle.can(order, "allocate"), lifecycle.can(order, "deliver")
        (True, False)
        >>> done = lifecycle.apply(order, "allocate", actor=Actor(kind="rule", id="route-1"))
        >>> done.order.status.value, done.event.type, done.event.data["trigger"]
        ('allocated', 'order.transitioned', 'allocate')
    """

    def __init__(
        self,
        spec: LifecycleSpec | Mapping[str, Any] | str | Path,
        *,
        guards: Mapping[str, Guard] | None = None,
        effects: Mapping[str, Effect] | None = None,
    ) -> None:
        if not isinstance(spec, LifecycleSpec):
            spec = load_lifecycle(spec)
        self.spec = spec
        self.guards: Mapping[str, Guard] = {**BUILTIN_GUARDS, **(guards or {})}
        self.effects: Mapping[str, Effect] = {**BUILTIN_EFFECTS, **(effects or {})}
        spec.check_names(guards=self.guards, effects=self.effects)
        table = list(expand_transitions(spec))
        try:
            self.machine = Machine(
                model=None,
                states=spec.state_refs(),
                transitions=[
                    {"trigger": trigger, "source": source, "dest": transition.dest}
                    for source, trigger, transition in table
                ],
                initial=None,
                auto_transitions=False,
                send_event=True,
            )
        except (MachineError, ValueError) as exc:  # the spec's checks should prevent this
            raise spec.error(f"the state machine cannot be built: {exc}", field=None) from None
        chosen = {(source, trigger): transition for source, trigger, transition in table}
        self._routes: dict[tuple[str, str], _Route] = {}
        for trigger, event in self.machine.events.items():
            for source, moves in event.transitions.items():
                to_status, to_node = split_ref(moves[0].dest or source)
                transition = chosen[(source, trigger)]
                self._routes[(source, trigger)] = _Route(
                    transition,
                    OrderStatus(to_status),
                    to_node,
                    tuple((name, self.guards[name]) for name in transition.guards),
                    tuple((name, self.effects[name]) for name in transition.effects),
                )
        self._nodes = {status.value: set(state.nodes) for status, state in spec.states.items()}
        self._slas: dict[str, tuple[str, SLA]] = {}
        for status, state in spec.states.items():
            if state.sla is not None:
                self._slas[status.value] = (SLA_TIMER_PREFIX + status.value, state.sla)
            for node_name, node in state.nodes.items():
                ref = f"{status.value}.{node_name}"
                if node.sla is not None:
                    self._slas[ref] = (SLA_TIMER_PREFIX + ref, node.sla)
                elif state.sla is not None:  # a node without its own SLA runs its state's
                    self._slas[ref] = self._slas[status.value]
        self._sla_names = dict(self._slas.values())
        for key, route in self._routes.items():
            source = key[0]
            dest = _ref(route.to_status.value, route.to_node)
            old_sla, new_sla = self._slas.get(source), self._slas.get(dest)
            old_name = None if old_sla is None else old_sla[0]
            new_name = None if new_sla is None else new_sla[0]
            leaves_status = split_ref(source)[0] != route.to_status.value
            touches = (old_name or new_name) is not None and (leaves_status or old_name != new_name)
            self._routes[key] = attrs.evolve(route, touches_timers=touches)

    def __repr__(self) -> str:
        return f"<Lifecycle {self.spec.name} v{self.spec.version}>"

    # -- reading ------------------------------------------------------------------------

    def state_of(self, order: Order) -> str:
        """The order's state as this lifecycle sees it (``"packed.awaiting_outbound"``).

        A node the lifecycle does not know counts as the status alone.
        """
        status = order.status.value
        node = order.node
        if node is not None and node in self._nodes.get(status, ()):
            return f"{status}.{node}"
        return status

    def triggers(self, order: Order) -> list[str]:
        """The triggers the lifecycle has from the order's state, sorted (guards not asked)."""
        state = self.state_of(order)
        return sorted(trigger for source, trigger in self._routes if source == state)

    def can(
        self,
        order: Order,
        trigger: str,
        *,
        actor: Actor | None = None,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> bool:
        """Whether ``trigger`` applies to the order now and every guard passes.

        Guards see ``actor`` (the system when not given), ``reason``, ``data`` and ``facts``.
        """
        try:
            self.apply(
                order,
                trigger,
                actor=actor or Actor.system(),
                reason=reason,
                data=data,
                facts=facts,
                run_effects=False,
            )
        except InvalidTransition:
            return False
        return True

    # -- SLAs ---------------------------------------------------------------------------

    def sla_of(self, state: str) -> tuple[str, SLA] | None:
        """The SLA that runs in a state or node, and the name of its timer.

        A node without an SLA of its own runs its state's, under the state's timer
        name, so moving between such nodes keeps the clock running.

        Example:
            >>> name, sla = default_lifecycle().sla_of("under_review.cs_review")
            >>> name, sla.owner
            ('sla:under_review', 'review_supervisor')
        """
        return self._slas.get(state)

    def sla_named(self, timer: str) -> SLA | None:
        """The SLA whose timer has this name (``None``: the lifecycle has no such SLA)."""
        return self._sla_names.get(timer)

    def sla_due(self, order: Order, state: str, entered: datetime) -> datetime | None:
        """When the order breaches the SLA of ``state`` if it entered it at ``entered``.

        ``None`` when the state has no SLA, or its SLA counts to an order field
        (``pay_by``, ``promised_ship_by``) that the order does not have.
        """
        found = self._slas.get(state)
        if found is None:
            return None
        sla = found[1]
        if sla.limit is not None:
            return entered + sla.limit
        deadline = getattr(order, sla.deadline or "", None)
        return None if deadline is None else deadline.utc

    def timer_plan(self, before: Order | None, after: Order, now: datetime) -> TimerPlan | None:
        """The SLA timers to cancel and arm when an order moves from ``before`` to ``after``.

        Leaving a state cancels its SLA timer; entering one arms the new state's
        (due ``now`` plus the limit, or at the order's deadline field). Moving
        between nodes that share their state's SLA keeps its timer running. With
        ``before=None`` the order is taken as entering its state at ``now``.

        Returns:
            The plan, or ``None`` when no timer changes.
        """
        old = None if before is None else self._slas.get(self.state_of(before))
        state = self.state_of(after)
        new = self._slas.get(state)
        old_name = None if old is None else old[0]
        new_name = None if new is None else new[0]
        status_changed = before is None or before.status is not after.status
        if old_name == new_name and not status_changed:
            return None
        cancel = () if old_name is None else (old_name,)
        arm: tuple[tuple[str, datetime, Mapping[str, str]], ...] = ()
        if new_name is not None:
            due = self.sla_due(after, state, now)
            if due is not None:
                arm = ((new_name, due, _timer_data(after)),)
        if not cancel and not arm:
            return None
        # Names from the validated spec, an aware time and short strings: no re-checks.
        return trusted_timer_plan(after.id, cancel, arm)

    def arm_timers(
        self, store: OrderStore, orders: Iterable[Order], *, now: datetime | None = None
    ) -> int:
        """Arm the SLA timers of stored orders as they stand (after an import, say).

        Each order counts as having entered its state at its ``status_since`` (or
        ``now``). Timers already armed under the same name are replaced.

        Returns:
            How many timers were armed.
        """
        moment = now or utc_now()
        plans = []
        for order in orders:
            state = self.state_of(order)
            found = self._slas.get(state)
            if found is None:
                continue
            due = self.sla_due(order, state, order.status_since or moment)
            if due is not None:
                arm = TimerArm(found[0], due, data=_timer_data(order))
                plans.append(TimerPlan(order.id, arm=(arm,)))
        if plans:
            store.set_timers(plans)
        return len(plans)

    @staticmethod
    def escalation_after(sla: SLA, level: int) -> tuple[str, timedelta, int | None]:
        """Who is told at ``level`` of an SLA's ladder, how long after the limit, the next level.

        Level 1 is the owner at the limit; level *n* the escalation step with that
        level. The next level is ``None`` at the last rung.

        Raises:
            ConfigurationError: the SLA has no such level.
        """
        rungs = [(1, sla.owner, timedelta(0))] + [
            (step.level, step.notify, step.after) for step in sla.escalation
        ]
        for index, (rung, notify, after) in enumerate(rungs):
            if rung == level:
                following = rungs[index + 1][0] if index + 1 < len(rungs) else None
                return notify, after, following
        raise ConfigurationError(f"the SLA owned by {sla.owner!r} has no escalation level {level}")

    # -- applying -----------------------------------------------------------------------

    def _route(self, order: Order, trigger: str) -> tuple[str, _Route]:
        state = self.state_of(order)
        route = self._routes.get((state, trigger))
        if route is not None:
            return state, route
        if order.status not in self.spec.states:
            message = (
                f"order {order.id} is {order.status.value!r}, a state lifecycle "
                f"{self.spec.name!r} does not have"
            )
        elif trigger not in self.machine.events:
            message = f"unknown trigger {safe_repr(trigger)} in lifecycle {self.spec.name!r}"
        else:
            available = ", ".join(self.triggers(order)) or "none"
            message = (
                f"order {order.id} in state {state!r} has no transition {trigger!r} "
                f"(available: {available})"
            )
        shown = trigger if trigger in self.machine.events else redact(str(trigger))
        raise InvalidTransition(message, order_id=order.id, state=state, trigger=shown)

    def apply(
        self,
        order: Order,
        trigger: str,
        *,
        actor: Actor,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        facts: Mapping[str, Any] | None = None,
        run_effects: bool = True,
    ) -> Transition:
        """Apply ``trigger`` to ``order``, without storing anything.

        Args:
            order: The order as read.
            trigger: The trigger.
            actor: Who makes the change (a person, a rule, a connector, the system).
            reason: Why, recorded in the event.
            data: More to record in the event's data (JSON values; not the keys
                ``trigger``, ``from_node``, ``to_node``, which the engine writes).
            now: The time of the change (aware; default now).
            facts: What guards may read beyond the order (``{"stock_locked": True}``).
            run_effects: ``False`` checks routes and guards only (as :meth:`can` does).

        Returns:
            The changed order (same version: a store bumps it) and its event.

        Raises:
            InvalidTransition: the trigger is unknown, or has no transition from the
                order's state.
            GuardFailed: a guard refused; ``guard`` names it.
            ConfigurationError: ``now`` is naive, ``data`` uses an engine key, or an
                effect changed what it may not.
        """
        state, route = self._route(order, trigger)
        moment = now or utc_now()
        if moment.tzinfo is None:
            raise ConfigurationError("a transition's time must be a timezone-aware datetime")
        extra = dict(data or {})
        clash = _OWN_DATA.intersection(extra)
        if clash:
            raise ConfigurationError(
                f"transition data may not set {', '.join(sorted(clash))}: the engine records them"
            )
        context = TransitionContext(
            trigger=trigger,
            from_status=order.status,
            from_node=order.node,
            to_status=route.to_status,
            to_node=route.to_node,
            actor=actor,
            reason=reason,
            data=extra,
            facts=facts or {},
            now=moment,
        )
        for name, guard in route.guards:
            try:
                passed = guard(order, context)
            except GuardFailed:
                raise
            except OrderCoreError as exc:
                raise self._guard_failed(order, state, trigger, name, exc.message) from exc
            if not passed:
                raise self._guard_failed(order, state, trigger, name, None)
        changed = order._trusted_copy({"status": route.to_status, "node": route.to_node})
        if run_effects:
            for name, effect in route.effects:
                result = effect(changed, context)
                if result is not None:
                    _check_effect(name, changed, result)
                    changed = result
        fields: dict[str, Any] = {
            "order_id": order.id,
            "type": TRANSITIONED,
            "at": moment,
            "actor": actor,
            "from_status": order.status,
            "to_status": route.to_status,
            "reason": reason,
            "data": {
                **extra,
                "trigger": trigger,
                "from_node": order.node,
                "to_node": route.to_node,
            },
        }
        if not extra and isinstance(actor, Actor) and (reason is None or len(reason) <= 2000):
            # Every value is known valid (the spec's names, a validated order and actor,
            # an aware time): build the event without validating it again.
            fields["event_id"] = new_id()
            fields["order_version"] = None
            event = OrderEvent._trusted_new(fields)
        else:
            event = OrderEvent(**fields)
        return Transition(
            order=changed,
            event=event,
            trigger=trigger,
            from_status=order.status,
            from_node=order.node,
            to_status=route.to_status,
            to_node=route.to_node,
            timers=(
                self.timer_plan(order, changed, moment)
                if run_effects and route.touches_timers
                else None
            ),
        )

    def _guard_failed(
        self, order: Order, state: str, trigger: str, guard: str, detail: str | None
    ) -> GuardFailed:
        why = f": {detail}" if detail else ""
        return GuardFailed(
            f"guard {guard!r} blocked {trigger!r} for order {order.id} in state {state!r}{why}",
            order_id=order.id,
            state=state,
            trigger=trigger,
            guard=guard,
        )

    def _alert(self, store: OrderStore, order: Order, failure: GuardFailed, actor: Actor) -> None:
        state, route = self._route(order, failure.trigger)
        if route.spec.alert is None:
            return
        status, node = split_ref(state)
        event = OrderEvent(
            order_id=order.id,
            type=BLOCKED,
            actor=actor,
            from_status=OrderStatus(status),
            reason=failure.message,
            data={
                "trigger": failure.trigger,
                "guard": failure.guard,
                "node": node,
                "notify": route.spec.alert,
            },
        )
        store.append_events(order.id, [event])

    def _applied(
        self,
        store: OrderStore,
        order: Order,
        trigger: str,
        actor: Actor,
        reason: str | None,
        data: Mapping[str, Any] | None,
        now: datetime | None,
        facts: Mapping[str, Any] | None,
    ) -> Transition:
        try:
            return self.apply(
                order, trigger, actor=actor, reason=reason, data=data, now=now, facts=facts
            )
        except GuardFailed as failure:
            self._alert(store, order, failure, actor)
            raise

    @staticmethod
    def _write(store: OrderStore, done: list[Transition], actor: Actor) -> list[Transition]:
        stored = store.update_many(
            [OrderUpdate(t.order, events=(t.event,), timers=t.timers) for t in done], actor=actor
        )
        return [
            attrs.evolve(
                t, order=order, event=t.event._trusted_copy({"order_version": order.version})
            )
            for t, order in zip(done, stored, strict=True)
        ]

    def transition(
        self,
        store: OrderStore,
        order: Order,
        trigger: str,
        *,
        actor: Actor,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> Transition:
        """Apply ``trigger`` and store the result: the order, its event and one outbox message.

        The write is one store transaction based on ``order.version``, holding
        the order, its event, its outbox message and its SLA timers (the old
        state's cancelled, the new state's armed): if someone changed the order
        since it was read, nothing is written. When a guard blocks a transition
        that names an ``alert``, an ``order.transition_blocked`` event naming who
        to alert is recorded first (the order itself is unchanged).

        Returns:
            The transition, with the order as stored and the event stamped with its version.

        Raises:
            InvalidTransition: as for :meth:`apply`.
            GuardFailed: as for :meth:`apply`.
            VersionConflict: the stored order is not at ``order.version``.
            OrderNotFound: the order is not stored.
        """
        done = self._applied(store, order, trigger, actor, reason, data, now, facts)
        return self._write(store, [done], actor)[0]

    def transition_many(
        self,
        store: OrderStore,
        items: Iterable[tuple[Order, str]],
        *,
        actor: Actor,
        reason: str | None = None,
        data: Mapping[str, Any] | None = None,
        now: datetime | None = None,
        facts: Mapping[str, Any] | None = None,
    ) -> list[Transition]:
        """Apply a trigger to each of many orders (a B2B pool released together) and store them.

        Every transition is applied (routes, guards, effects) before anything is
        written, so an invalid transition or a failed guard anywhere writes
        nothing. The batch is then written in one store transaction
        (``store.update_many``): every order with its event, outbox message and
        SLA timers, or, when one order was changed since it was read
        (``VersionConflict``), none of them.

        Args:
            store: Where the orders are stored.
            items: ``(order, trigger)`` pairs; an order may appear once.
            actor: Who makes the changes.
            reason: Why, recorded in every event.
            data: More to record in every event.
            now: The time of the changes (aware; default now).
            facts: What guards may read beyond the orders.

        Returns:
            The transitions, in the order given, as stored.

        Raises:
            ConfigurationError: an order appears twice.
            InvalidTransition: a trigger does not apply to its order (nothing written).
            GuardFailed: a guard refused (nothing written).
            VersionConflict: an order was changed since it was read (nothing written).
        """
        batch = list(items)
        seen: set[str] = set()
        for order, _ in batch:
            if order.id in seen:
                raise ConfigurationError(
                    f"order {order.id} appears twice in one transition_many() batch"
                )
            seen.add(order.id)
        moment = now or utc_now()
        applied = [
            self._applied(store, order, trigger, actor, reason, data, moment, facts)
            for order, trigger in batch
        ]
        return self._write(store, applied, actor) if applied else []

    # -- drawing ---------------------------------------------------------------------------

    def to_mermaid(self) -> str:
        """The lifecycle as a Mermaid ``stateDiagram-v2`` (see :func:`spec_to_mermaid`)."""
        from ordercore.lifecycle._diagram import spec_to_mermaid

        return spec_to_mermaid(self.spec)


def _timer_data(order: Order) -> dict[str, str]:
    """What an SLA timer keeps for its notification: the order's channel reference."""
    return {"channel": order.channel, "ref": order.channel_order_id[:200]}


def _check_effect(name: str, before: Order, after: Order) -> None:
    if not isinstance(after, Order):
        raise ConfigurationError(
            f"effect {name!r} returned {type(after).__name__}, not an Order or None"
        )
    for field in ("id", "version", "status", "node"):
        if getattr(after, field) != getattr(before, field):
            raise ConfigurationError(
                f"effect {name!r} changed the order's {field}; only transitions may do that"
            )


# -- built-in guards (D9 and the default lifecycle) -----------------------------------------

#: Channel words for a parcel the carrier has already collected (``Shipment.status``).
PICKED_UP_WORDS: Final = frozenset(
    {"picked_up", "collected", "in_transit", "delivering", "delivered", "signed"}
)


def _fact(context: TransitionContext, name: str) -> bool | None:
    value = context.facts.get(name)
    return None if value is None else bool(value)


def stock_locked(order: Order, context: TransitionContext) -> bool:
    """Stock for the order is locked: the fact ``stock_locked``, else the order attribute."""
    fact = _fact(context, "stock_locked")
    return fact if fact is not None else order.attribute("stock_locked") is True


def parcel_not_picked_up(order: Order, context: TransitionContext) -> bool:
    """No parcel has been collected by the carrier yet.

    The fact ``parcel_picked_up`` decides when given; otherwise a shipment with a
    ``shipped_at`` time or a status in :data:`PICKED_UP_WORDS` counts as picked up.
    """
    fact = _fact(context, "parcel_picked_up")
    if fact is not None:
        return not fact
    return not any(
        shipment.shipped_at is not None
        or (shipment.status or "").strip().lower() in PICKED_UP_WORDS
        for shipment in order.shipments
    )


#: Nodes at which an order is being made to order.
CUSTOM_NODES: Final = frozenset({"custom_made", "engraving"})


def not_custom_made(order: Order, context: TransitionContext) -> bool:
    """No line is made to order.

    A line is when its attribute ``custom_made`` is true or it has an ``engraving``
    attribute; the order is when it is at a ``custom_made`` or ``engraving`` node
    (or the fact ``custom_made`` says so).
    """
    fact = _fact(context, "custom_made")
    if fact is not None:
        return not fact
    if context.from_node in CUSTOM_NODES:
        return False
    for line in order.lines:
        made = line.attributes.get("custom_made")
        if (made is not None and made.value is True) or "engraving" in line.attributes:
            return False
    return True


def no_line_held(order: Order, context: TransitionContext) -> bool:
    """No line is held back from shipping (the order's ``do_not_ship`` list is empty).

    :func:`~ordercore.lifecycle.follow` flags lines whose after-sale covers units
    not yet shipped; those may leave only with a partial shipment of the rest. A
    transition recording the channel's own status (data with ``channel_status``) is
    exempt: the platform already shipped.
    """
    if "channel_status" in context.data:
        return True
    held = order.attribute("do_not_ship")
    return not held


def person_actor(order: Order, context: TransitionContext) -> bool:
    """The change is made by a person (a forced approval must name who)."""
    return context.actor.kind is ActorKind.PERSON


def reason_given(order: Order, context: TransitionContext) -> bool:
    """The caller gave a reason."""
    return bool(context.reason and context.reason.strip())


def presale_order(order: Order, context: TransitionContext) -> bool:
    """The order is a presale order (it has ``presale`` data)."""
    return order.presale is not None


def b2b_pooled(order: Order, context: TransitionContext) -> bool:
    """The order is a B2B purchase order that belongs to a pool."""
    return order.b2b is not None and bool(order.b2b.pool_id)


def pool_released(order: Order, context: TransitionContext) -> bool:
    """The order is not waiting for its pool (``awaiting_pool``): release the pool instead."""
    return context.from_node != "awaiting_pool"


def production_done(order: Order, context: TransitionContext) -> bool:
    """The order is not being made to order or engraved any more."""
    return context.from_node not in CUSTOM_NODES


def fully_shipped(order: Order, context: TransitionContext) -> bool:
    """Nothing of the order is still waiting to be shipped (not ``partially_shipped``)."""
    return context.from_node != "partially_shipped"


#: The guards every lifecycle knows by name.
BUILTIN_GUARDS: Final[Mapping[str, Guard]] = {
    "b2b_pooled": b2b_pooled,
    "fully_shipped": fully_shipped,
    "no_line_held": no_line_held,
    "not_custom_made": not_custom_made,
    "parcel_not_picked_up": parcel_not_picked_up,
    "person_actor": person_actor,
    "pool_released": pool_released,
    "presale_order": presale_order,
    "production_done": production_done,
    "reason_given": reason_given,
    "stock_locked": stock_locked,
    # Interception: no_recall_pending, not_shipped_twice, resumes_where_intercepted.
    **INTERCEPTION_GUARDS,
}


# -- built-in effects ------------------------------------------------------------------------


def _stamp(field: str) -> Effect:
    def effect(order: Order, context: TransitionContext) -> Order | None:
        if getattr(order, field) is not None:
            return None
        moment = ChannelTime.from_datetime(context.now, zone="UTC")
        return order.model_copy(update={field: moment})

    effect.__name__ = f"stamp_{field}"
    effect.__doc__ = f"Set ``{field}`` to the transition's time unless the channel set it."
    return effect


def mark_deposit_paid(order: Order, context: TransitionContext) -> Order | None:
    """Move a presale order's phase to ``deposit_paid`` and stamp ``deposit_paid_at``."""
    if order.presale is None:
        return None
    presale = order.presale.model_copy(
        update={
            "phase": PresalePhase.DEPOSIT_PAID,
            "deposit_paid_at": order.presale.deposit_paid_at
            or ChannelTime.from_datetime(context.now, zone="UTC"),
        }
    )
    return order.model_copy(update={"presale": presale})


def mark_balance_paid(order: Order, context: TransitionContext) -> Order | None:
    """Move a presale order's phase to ``balance_paid`` and stamp ``balance_paid_at``.

    The order's ``promised_ship_by`` is taken from the presale's when not set, so
    the ``balance_paid`` node's SLA can track it (D10).
    """
    if order.presale is None:
        return None
    presale = order.presale.model_copy(
        update={
            "phase": PresalePhase.BALANCE_PAID,
            "balance_paid_at": order.presale.balance_paid_at
            or ChannelTime.from_datetime(context.now, zone="UTC"),
        }
    )
    promised = order.promised_ship_by or presale.promised_ship_by
    return order.model_copy(update={"presale": presale, "promised_ship_by": promised})


#: The effects every lifecycle knows by name.
BUILTIN_EFFECTS: Final[Mapping[str, Effect]] = {
    "mark_balance_paid": mark_balance_paid,
    "mark_deposit_paid": mark_deposit_paid,
    "stamp_cancelled_at": _stamp("cancelled_at"),
    "stamp_completed_at": _stamp("completed_at"),
    "stamp_delivered_at": _stamp("delivered_at"),
    "stamp_paid_at": _stamp("paid_at"),
    "stamp_shipped_at": _stamp("shipped_at"),
}


@functools.cache
def default_spec() -> LifecycleSpec:
    """The default lifecycle spec (``default.yaml`` in the package), loaded once.

    Raises:
        LifecycleSpecError: the packaged file is damaged.
    """
    return load_lifecycle(DEFAULT_LIFECYCLE, guards=BUILTIN_GUARDS, effects=BUILTIN_EFFECTS)


@functools.cache
def default_lifecycle() -> Lifecycle:
    """The default lifecycle (D7-D12) with the built-in guards and effects, built once."""
    return Lifecycle(default_spec())
