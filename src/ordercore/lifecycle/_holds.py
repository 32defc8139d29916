"""Typed holds (D17): why an order is under review, who held it, release and forced approval.

A hold is data. Holding an order is a transition into one of the ``under_review``
nodes of the lifecycle (``hold_for_risk_review`` leads to
``under_review.risk_review``...), and the transition event's ``data["hold"]``
records the :class:`Hold` as JSON::

    {"reason": "finance", "node": "finance_review", "note": "invoice title differs",
     "held_by": {"kind": "rule", "id": "amount-check"}, "held_at": "2026-11-11T08:00:00Z",
     "source_event": "tb-refund-20261111-0042"}

A release records the hold it lifted in ``data["released_hold"]``; a forced
approval records ``data["forced_approval"]``: ``{"by": actor, "why": reason,
"overrode": hold}``. :func:`holds_of` and :func:`current_hold` read the trail back;
a hold made by a plain ``lifecycle.transition(...)`` (no ``hold`` data) is read
back from the event itself (its node gives the reason, its actor and reason the rest).

Nothing here imports the engine at run time, so the engine may import the guards
of this package's interception module without a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Final

import attrs

from ordercore.errors import ConfigurationError, GuardFailed
from ordercore.schema import Actor, ActorKind, Order, OrderEvent, OrderStatus
from ordercore.timestamps import utc_now

if TYPE_CHECKING:
    from ordercore.lifecycle._engine import Lifecycle, Transition
    from ordercore.storage import OrderStore

__all__ = [
    "Hold",
    "HoldReason",
    "current_hold",
    "force_approve",
    "hold",
    "holds_of",
    "release",
]


class HoldReason(StrEnum):
    """Why an order is held, each reason with its ``under_review`` node in the default lifecycle.

    ``INTERCEPTION`` is the hold :func:`~ordercore.lifecycle.intercept` puts on an
    order already released to the warehouse (``under_review.recall_requested``);
    it is not made with :func:`hold`.
    """

    RISK = "risk"
    CUSTOMER_SERVICE = "customer_service"
    FINANCE = "finance"
    ADDRESS = "address"
    AMOUNT = "amount"
    INTERCEPTION = "interception"

    @property
    def node(self) -> str:
        """The ``under_review`` node the reason holds an order at (``"finance_review"``)."""
        return _NODES[self]

    @property
    def trigger(self) -> str:
        """The default lifecycle's trigger that puts the hold on (``"hold_for_finance_review"``)."""
        return _TRIGGERS[self]

    @classmethod
    def of_node(cls, node: str | None) -> HoldReason | None:
        """The reason an order at ``under_review.<node>`` is held for, or ``None`` if unknown."""
        return _REASONS.get(node or "")


_NODES: Final[Mapping[HoldReason, str]] = {
    HoldReason.RISK: "risk_review",
    HoldReason.CUSTOMER_SERVICE: "cs_review",
    HoldReason.FINANCE: "finance_review",
    HoldReason.ADDRESS: "address_check",
    HoldReason.AMOUNT: "amount_check",
    HoldReason.INTERCEPTION: "recall_requested",
}
_TRIGGERS: Final[Mapping[HoldReason, str]] = {
    HoldReason.RISK: "hold_for_risk_review",
    HoldReason.CUSTOMER_SERVICE: "hold_for_cs_review",
    HoldReason.FINANCE: "hold_for_finance_review",
    HoldReason.ADDRESS: "hold_for_address_check",
    HoldReason.AMOUNT: "hold_for_amount_check",
    HoldReason.INTERCEPTION: "request_recall",
}
_REASONS: Final[Mapping[str, HoldReason]] = {node: reason for reason, node in _NODES.items()}

#: Customer service passes an order on to finance with this trigger, not a new hold.
ESCALATE_TO_FINANCE: Final = "escalate_to_finance"


def _aware(moment: datetime | None, what: str) -> datetime:
    value = utc_now() if moment is None else moment
    if value.tzinfo is None:
        raise ConfigurationError(f"{what} must be a timezone-aware datetime")
    return value


def _json_time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@attrs.frozen(kw_only=True)
class Hold:
    """One hold on an order: why, where, by whom and when.

    Attributes:
        reason: Why the order is held.
        node: The ``under_review`` node it is held at (``"cs_review"``).
        held_by: Who put the hold on (a person, a rule, a connector).
        held_at: When it came into force (aware).
        note: What the holder wrote (recorded as the event's reason too).
        source_event: The channel event that caused it (a refund or message id), if any.
        event_id: The id of the event that recorded it (``None`` until stored).
    """

    reason: HoldReason
    node: str
    held_by: Actor
    held_at: datetime
    note: str | None = None
    source_event: str | None = None
    event_id: str | None = None

    @property
    def state(self) -> str:
        """The state the hold keeps the order in (``"under_review.cs_review"``)."""
        return f"{OrderStatus.UNDER_REVIEW.value}.{self.node}"

    def to_json(self) -> dict[str, Any]:
        """The hold as it is kept in an event's data (``event_id`` included once known)."""
        data: dict[str, Any] = {
            "reason": self.reason.value,
            "node": self.node,
            "note": self.note,
            "held_by": self.held_by.model_dump(mode="json"),
            "held_at": _json_time(self.held_at),
            "source_event": self.source_event,
        }
        if self.event_id is not None:
            data["event_id"] = self.event_id
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, event_id: str | None = None) -> Hold:
        """Read a hold written by :meth:`to_json`.

        Raises:
            ConfigurationError: the data is not a hold record.
        """
        try:
            return cls(
                reason=HoldReason(data["reason"]),
                node=str(data["node"]),
                held_by=Actor.model_validate(data["held_by"]),
                held_at=datetime.fromisoformat(str(data["held_at"])),
                note=data.get("note"),
                source_event=data.get("source_event"),
                event_id=event_id or data.get("event_id"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigurationError(
                f"event data is not a hold record ({type(exc).__name__})"
            ) from None

    @classmethod
    def from_event(cls, event: OrderEvent) -> Hold | None:
        """The hold an event put on, or ``None`` if it put none on (or at an untyped node)."""
        if event.to_status is not OrderStatus.UNDER_REVIEW or "to_node" not in event.data:
            return None
        recorded = event.data.get("hold")
        if isinstance(recorded, Mapping):
            return cls.from_json(recorded, event_id=event.event_id)
        node = event.data.get("to_node")
        reason = HoldReason.of_node(node if isinstance(node, str) else None)
        if reason is None:
            return None
        return cls(
            reason=reason,
            node=reason.node,
            held_by=event.actor,
            held_at=event.at,
            note=event.reason,
            event_id=event.event_id,
        )


def holds_of(events: Iterable[OrderEvent]) -> list[Hold]:
    """Every hold the events put on, oldest first (transitions into a typed review node).

    Args:
        events: An order's events, oldest first (``store.events(order_id)``).
    """
    return [found for event in events if (found := Hold.from_event(event)) is not None]


def current_hold(order: Order, events: Iterable[OrderEvent]) -> Hold | None:
    """The hold the order is under now, or ``None`` when it is not held.

    The last transition decides: one into a typed review node is the hold; any
    other one lifted it. ``None`` also when the events do not lead to the order's
    node (they are from before its last change).
    """
    if order.status is not OrderStatus.UNDER_REVIEW:
        return None
    current: Hold | None = None
    for event in events:
        if event.to_status is not None and "to_node" in event.data:
            current = Hold.from_event(event)
    if current is None or current.node != order.node:
        return None
    return current


def _reason(value: HoldReason | str) -> HoldReason:
    try:
        return HoldReason(value)
    except ValueError:
        known = ", ".join(reason.value for reason in HoldReason)
        raise ConfigurationError(
            f"unknown hold reason {str(value)[:40]!r}; known: {known}"
        ) from None


def hold_trigger(lifecycle: Lifecycle, order: Order, reason: HoldReason) -> str:
    """The trigger that puts ``reason``'s hold on ``order`` (cs review escalates to finance)."""
    if reason is HoldReason.FINANCE and lifecycle.state_of(order) == "under_review.cs_review":
        return ESCALATE_TO_FINANCE
    return reason.trigger


def hold(
    lifecycle: Lifecycle,
    store: OrderStore,
    order: Order,
    reason: HoldReason | str,
    *,
    actor: Actor,
    note: str | None = None,
    source_event: str | None = None,
    now: datetime | None = None,
    facts: Mapping[str, Any] | None = None,
) -> Transition:
    """Hold an order for review and record the hold in the transition event.

    The trigger is the reason's (``hold_for_risk_review``...); a finance hold on an
    order in customer-service review is ``escalate_to_finance``. The write is the
    lifecycle's one ``store.update`` (order, event, outbox message).

    Args:
        lifecycle: Any lifecycle with the default's hold triggers.
        store: Where the order is stored.
        order: The order as read.
        reason: Why (a :class:`HoldReason` or its value).
        actor: Who holds it.
        note: What the holder says (also the event's reason).
        source_event: The channel event that caused the hold, if any.
        now: When the hold comes into force (aware; default now).
        facts: What guards may read beyond the order.

    Returns:
        The stored transition; ``event.data["hold"]`` is the hold.

    Raises:
        ConfigurationError: the reason is unknown, is ``interception`` (use
            ``intercept()``), or ``now`` is naive.
        InvalidTransition: the order cannot be held from its state.
        VersionConflict: the order changed since it was read (nothing written).
    """
    typed = _reason(reason)
    if typed is HoldReason.INTERCEPTION:
        raise ConfigurationError(
            "an interception hold is put on with intercept(), which also asks the "
            "warehouse to recall the order"
        )
    moment = _aware(now, "a hold's time")
    record = Hold(
        reason=typed,
        node=typed.node,
        held_by=actor,
        held_at=moment,
        note=note,
        source_event=source_event,
    )
    return lifecycle.transition(
        store,
        order,
        hold_trigger(lifecycle, order, typed),
        actor=actor,
        reason=note,
        data={"hold": record.to_json()},
        now=moment,
        facts=facts,
    )


def _lifted(store: OrderStore, order: Order) -> dict[str, Any] | None:
    found = current_hold(order, store.events(order.id))
    return None if found is None else found.to_json()


def release(
    lifecycle: Lifecycle,
    store: OrderStore,
    order: Order,
    *,
    actor: Actor,
    note: str | None = None,
    now: datetime | None = None,
    facts: Mapping[str, Any] | None = None,
) -> Transition:
    """Release a held order (the review found nothing): trigger ``release``.

    ``event.data["released_hold"]`` is the hold lifted (``None`` if the trail has none).

    Raises:
        InvalidTransition: the order is not under review.
        GuardFailed: a guard refused (a recall is still pending: ``no_recall_pending``).
        VersionConflict: the order changed since it was read (nothing written).
    """
    return lifecycle.transition(
        store,
        order,
        "release",
        actor=actor,
        reason=note,
        data={"released_hold": _lifted(store, order)},
        now=_aware(now, "a release's time"),
        facts=facts,
    )


def _refused(lifecycle: Lifecycle, order: Order, guard: str, why: str) -> GuardFailed:
    state = lifecycle.state_of(order)
    return GuardFailed(
        f"guard {guard!r} blocked 'force_approve' for order {order.id} in state {state!r}: {why}",
        order_id=order.id,
        state=state,
        trigger="force_approve",
        guard=guard,
    )


def force_approve(
    lifecycle: Lifecycle,
    store: OrderStore,
    order: Order,
    *,
    actor: Actor,
    reason: str | None,
    now: datetime | None = None,
    facts: Mapping[str, Any] | None = None,
) -> Transition:
    """Approve a held order despite its hold, audited: who, why and which hold it overrode.

    A person must do it and give a reason, whatever the lifecycle's own guards
    on ``force_approve`` (the default's are the same two). The event's
    ``data["forced_approval"]`` is ``{"by": actor, "why": reason, "overrode": hold}``.

    Raises:
        InvalidTransition: the order is not under review.
        GuardFailed: ``guard`` is ``person_actor`` (the actor is not a person) or
            ``reason_given`` (no reason), or a guard of the lifecycle refused.
        VersionConflict: the order changed since it was read (nothing written).
    """
    if "force_approve" in lifecycle.triggers(order):
        if actor.kind is not ActorKind.PERSON:
            raise _refused(
                lifecycle, order, "person_actor", f"a {actor.kind.value} may not force an approval"
            )
        if not (reason and reason.strip()):
            raise _refused(lifecycle, order, "reason_given", "a forced approval needs a reason")
    return lifecycle.transition(
        store,
        order,
        "force_approve",
        actor=actor,
        reason=reason,
        data={
            "forced_approval": {
                "by": actor.model_dump(mode="json"),
                "why": reason,
                "overrode": _lifted(store, order),
            }
        },
        now=_aware(now, "a forced approval's time"),
        facts=facts,
    )
