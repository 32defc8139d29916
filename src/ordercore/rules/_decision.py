"""What evaluating a rule set returns: the actions to apply, in order, and why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ordercore.rules._action_base import Action
    from ordercore.schema import Order

__all__ = [
    "ConditionTrace",
    "Decision",
    "LazyTrace",
    "Override",
    "PlannedAction",
    "RuleOutcome",
    "RuleTrace",
]


class RuleOutcome(StrEnum):
    """What became of one rule in one evaluation."""

    MATCHED = "matched"
    NOT_MATCHED = "not_matched"
    SHADOWED = "shadowed"  # matched, but a higher-priority rule of its `first` group won
    DISABLED = "disabled"
    ERROR = "error"


@attrs.frozen(slots=True)
class PlannedAction:
    """An action a matched rule asks for.

    Attributes:
        rule: The rule's name.
        action: The action, resolved against the context.
        priority: The rule's priority.
        group: The rule's group.
    """

    rule: str
    action: Action
    priority: int = 0
    group: str = "default"

    def describe(self) -> str:
        """``add_gift sku=PIL-001 (rule sofa-gift)``."""
        return f"{self.action.describe()} (rule {self.rule})"


@attrs.frozen(slots=True)
class Override:
    """An action left out because a higher-priority rule set the same slot.

    Attributes:
        slot: ``shipping``, ``route``, ``production_line`` or ``carrier``.
        kept: The action applied.
        dropped: The action left out.
    """

    slot: str
    kept: PlannedAction
    dropped: PlannedAction


@attrs.frozen(slots=True)
class ConditionTrace:
    """One test inside a rule's condition and the values that decided it.

    Attributes:
        text: The test as written (``order.amounts.paid >= 299``).
        result: Its value (``True``, ``False``; ``None`` when it was not reached).
        detail: The values behind it (``order.amounts.paid = 312.00 >= 299``),
            personal data masked.
    """

    text: str
    result: bool | None
    detail: str


@attrs.frozen(slots=True)
class RuleTrace:
    """Why one rule matched or not.

    Attributes:
        rule: The rule's name.
        outcome: Matched, not matched, shadowed, disabled or error.
        priority: The rule's priority.
        group: The rule's group.
        conditions: The tests of its condition in evaluation order (only when traced).
        note: Extra words: who shadowed it, what failed.
    """

    rule: str
    outcome: RuleOutcome
    priority: int = 0
    group: str = "default"
    conditions: tuple[ConditionTrace, ...] = ()
    note: str | None = None

    def explain(self) -> str:
        """A few lines: the outcome, then one line per test."""
        head = f"{self.rule}: {self.outcome.value}"
        if self.note:
            head += f" ({self.note})"
        lines = [head]
        for condition in self.conditions:
            mark = {True: "true ", False: "false", None: "-    "}[condition.result]
            lines.append(f"  {mark} {condition.detail}")
        return "\n".join(lines)


class LazyTrace:
    """A decision's rule traces, put into words the first time they are read.

    Evaluating with ``explain=True`` records the values behind each test; turning them
    into :class:`RuleTrace` lines (formatting values, masking personal data) waits
    until :attr:`Decision.trace` is read, and happens once. It compares, hashes and
    prints as the traces themselves.
    """

    __slots__ = ("_build", "_traces")

    def __init__(self, build: Callable[[], tuple[RuleTrace, ...]]) -> None:
        self._build: Callable[[], tuple[RuleTrace, ...]] | None = build
        self._traces: tuple[RuleTrace, ...] = ()

    def get(self) -> tuple[RuleTrace, ...]:
        """The traces (built on the first call)."""
        build = self._build
        if build is not None:
            self._traces = build()
            self._build = None
        return self._traces

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyTrace):
            return self.get() == other.get()
        if isinstance(other, tuple):
            return self.get() == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.get())

    def __repr__(self) -> str:
        return repr(self.get())


@attrs.frozen(slots=True, repr=False)
class Decision:
    """The result of evaluating a rule set on one order; the order itself is untouched.

    Attributes:
        ruleset: The rule set's name.
        version: Its version.
        order_id: The order evaluated.
        evaluated_at: The time the rules saw as ``now``.
        actions: The actions to apply, in order (priority, then file order).
        matched: The names of the rules whose actions apply.
        overridden: Actions left out for a higher-priority rule's action on the same slot.
        shadowed: Rules that matched but lost to a higher-priority rule of a ``first`` group.
        errors: ``(rule, message)`` for rules that could not be evaluated (treated as not
            matched).
        trace: One :class:`RuleTrace` per rule when evaluated with ``explain=True``.
    """

    ruleset: str
    version: int
    order_id: str
    evaluated_at: datetime
    actions: tuple[PlannedAction, ...] = ()
    matched: tuple[str, ...] = ()
    overridden: tuple[Override, ...] = ()
    shadowed: tuple[str, ...] = ()
    errors: tuple[tuple[str, str], ...] = ()
    _trace: tuple[RuleTrace, ...] | LazyTrace | None = attrs.field(default=None, alias="trace")

    @property
    def trace(self) -> tuple[RuleTrace, ...] | None:
        """One :class:`RuleTrace` per rule when evaluated with ``explain=True``, else ``None``."""
        found = self._trace
        return found.get() if isinstance(found, LazyTrace) else found

    def __repr__(self) -> str:
        fields = (
            f"ruleset={self.ruleset!r}, version={self.version!r}, order_id={self.order_id!r}, "
            f"evaluated_at={self.evaluated_at!r}, actions={self.actions!r}, "
            f"matched={self.matched!r}, overridden={self.overridden!r}, "
            f"shadowed={self.shadowed!r}, errors={self.errors!r}, trace={self.trace!r}"
        )
        return f"Decision({fields})"

    def actions_named(self, name: str) -> tuple[Action, ...]:
        """The actions called ``name`` (``"add_gift"``), in order."""
        return tuple(planned.action for planned in self.actions if planned.action.name == name)

    def apply(self, order: Order) -> Order:
        """Return ``order`` with the actions applied (see :func:`apply_decision`)."""
        from ordercore.rules._actions import apply_decision

        return apply_decision(order, self)

    def explain(self) -> str:
        """The decision in words: the actions, then each rule's trace when there is one."""
        lines = [f"rule set {self.ruleset} v{self.version} on order {self.order_id}:"]
        if self.actions:
            lines.extend(f"  -> {planned.describe()}" for planned in self.actions)
        else:
            lines.append("  -> no action")
        for override in self.overridden:
            lines.append(
                f"  overridden: {override.dropped.describe()} by rule {override.kept.rule}"
            )
        for rule, message in self.errors:
            lines.append(f"  error in rule {rule}: {message}")
        if self.trace is not None:
            lines.extend(trace.explain() for trace in self.trace)
        return "\n".join(lines)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready digest: matched rules and described actions (for diffs and reports)."""
        return {
            "ruleset": self.ruleset,
            "version": self.version,
            "order_id": self.order_id,
            "matched": list(self.matched),
            "actions": [planned.describe() for planned in self.actions],
            "errors": [list(error) for error in self.errors],
        }
