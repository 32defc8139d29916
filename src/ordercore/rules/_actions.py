"""The actions a rule can ask for, and applying a decision to its order."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError, field_validator

from ordercore.rules._action_base import ACTIONS, Action

if TYPE_CHECKING:
    from ordercore.rules._decision import Decision
    from ordercore.schema import Order

__all__ = ["Route", "Tag", "apply_decision", "parse_action"]


class Tag(Action):
    """``tag: {tags: [urgent]}`` or ``tag: urgent``: add tags to the order."""

    name = "tag"
    shortcut = "tags"

    tags: tuple[str, ...]

    @field_validator("tags", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @field_validator("tags")
    @classmethod
    def _not_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value or any(not tag or len(tag) > 64 for tag in value):
            raise ValueError("tags must be 1 to 64 characters each, at least one")
        return value

    def apply(self, order: Order, *, rule: str) -> Order:
        return order.with_tags(*self.tags)


class Route(Action):
    """``route: {warehouse: WH-HZ}``: send the order to a warehouse (D16)."""

    name = "route"
    slot = "route"
    shortcut = "warehouse"

    warehouse: str

    def apply(self, order: Order, *, rule: str) -> Order:
        return order.with_attribute("warehouse", self.warehouse)


def parse_action(name: str, params: object) -> Action:
    """Build the action ``name`` from its parameters as written in a rule file.

    Raises:
        ValueError: the action is unknown, or a parameter is unknown, missing or invalid.
    """
    cls = ACTIONS.get(name)
    if cls is None:
        raise ValueError(f"unknown action {name!r}; expected one of: {', '.join(sorted(ACTIONS))}")
    fields = list(cls.model_fields)
    data: Any
    if params is None:
        data = {}
    elif isinstance(params, dict):
        data = params
    elif cls.shortcut is not None:
        data = {cls.shortcut: params}
    else:
        raise ValueError(f"{name}: parameters must be a mapping of: {', '.join(fields)}")
    unknown = [key for key in data if key not in cls.model_fields]
    if unknown:
        raise ValueError(
            f"{name}: unknown parameter {unknown[0]!r}; expected one of: {', '.join(fields)}"
        )
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or name
        raise ValueError(f"{name}: {where}: {problem['msg']}") from None


def apply_decision(order: Order, decision: Decision) -> Order:
    """Return ``order`` with the decision's actions applied in order; ``order`` is unchanged.

    Raises:
        ValueError: the decision was made for another order.
    """
    if decision.order_id != order.id:
        raise ValueError(f"the decision is for order {decision.order_id}, not for order {order.id}")
    for planned in decision.actions:
        order = planned.action.apply(order, rule=planned.rule)
    return order
