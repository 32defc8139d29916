"""Order events: every change to an order, with who, when, what and why (D8)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import AwareDatetime, Field, JsonValue, StringConstraints

from ordercore.ids import new_id
from ordercore.schema._base import CanonicalModel
from ordercore.schema._order import OrderStatus
from ordercore.timestamps import utc_now

__all__ = ["Actor", "ActorKind", "OrderEvent"]


class ActorKind(StrEnum):
    """What made a change."""

    PERSON = "person"
    RULE = "rule"
    CONNECTOR = "connector"
    TIMER = "timer"
    SYSTEM = "system"


class Actor(CanonicalModel):
    """Who made a change: a person (staff id), a rule (its id), a connector, a timer, the system."""

    kind: ActorKind
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]

    @classmethod
    def system(cls, name: str = "ordercore") -> Actor:
        """The library itself (migrations, timers)."""
        return cls(kind=ActorKind.SYSTEM, id=name)


class OrderEvent(CanonicalModel):
    """One recorded change to an order.

    Attributes:
        event_id: A ULID; events sort by it.
        order_id: The order that changed.
        type: What happened, dotted (``order.created``, ``order.status_changed``).
        at: When it happened (aware UTC).
        actor: Who or what did it.
        from_status: The status before, for status changes.
        to_status: The status after, for status changes.
        reason: Why, in words a person can read.
        data: Anything else worth keeping, as JSON.
        order_version: The order version the change produced, once stored.
    """

    event_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default_factory=new_id
    )
    order_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    type: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")]
    at: AwareDatetime = Field(default_factory=utc_now)
    actor: Actor
    from_status: OrderStatus | None = None
    to_status: OrderStatus | None = None
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    data: dict[str, JsonValue] = Field(default_factory=dict)
    order_version: int | None = None
