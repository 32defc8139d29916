"""The base of every rule action and the registry the loader validates ``then:`` against."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from ordercore.rules._context import RuleContext
    from ordercore.schema import Order

__all__ = ["ACTIONS", "Action", "action_names"]

#: Action name (as written in a rule file) -> its class.
ACTIONS: dict[str, type[Action]] = {}


class Action(BaseModel):
    """One thing a rule asks for, with typed parameters validated when the rule set loads.

    Subclasses set :attr:`name` (the key written under ``then:``) and, for actions
    only one rule may decide (shipping, route, carrier), :attr:`slot`.

    Attributes:
        name: The action's name in rule files (``add_gift``, ``route``).
        slot: The exclusive slot the action sets, or ``None`` for additive actions.
        shortcut: The parameter a scalar value fills (``tag: urgent``), if any.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    name: ClassVar[str] = ""
    slot: ClassVar[str | None] = None
    shortcut: ClassVar[str | None] = None
    #: Fields :meth:`resolve` fills in; a rule file may not set them.
    settled: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            ACTIONS[cls.name] = cls

    def resolve(self, order: Order, context: RuleContext) -> Action:
        """Settle what depends on the context at evaluation time (stock, carrier health).

        The decision keeps the resolved action, so applying it later is pure.
        The default returns the action unchanged.
        """
        return self

    def settle(self, **found: Any) -> Self:
        """A copy with the :attr:`settled` fields ``found`` filled in (for :meth:`resolve`).

        The values are what the context said; they are not validated again.
        """
        settled = object.__new__(type(self))
        object.__setattr__(settled, "__dict__", {**self.__dict__, **found})
        object.__setattr__(
            settled, "__pydantic_fields_set__", self.__pydantic_fields_set__ | found.keys()
        )
        object.__setattr__(settled, "__pydantic_extra__", None)
        object.__setattr__(settled, "__pydantic_private__", None)
        return settled

    def apply(self, order: Order, *, rule: str) -> Order:
        """Return ``order`` changed by this action (the default leaves it unchanged)."""
        return order

    def describe(self) -> str:
        """One line for traces and reports: ``add_gift sku=PIL-001 quantity=1``."""
        params = " ".join(
            f"{key}={value}"
            for key, value in self.model_dump(
                mode="json", exclude_defaults=True, exclude=set(self.settled)
            ).items()
        )
        return f"{self.name} {params}".rstrip()

    def parameters(self) -> dict[str, Any]:
        """The parameters as a rule file would write them (settled fields left out)."""
        return self.model_dump(mode="json", exclude_defaults=True, exclude=set(self.settled))


def action_names() -> list[str]:
    """Every registered action name, sorted."""
    return sorted(ACTIONS)
