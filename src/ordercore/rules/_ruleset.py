"""Rule sets: loading and validating files, compiling them once, evaluating them many times."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import attrs
import yaml

from ordercore.errors import RuleConflict, RuleEvaluationError, RuleLimitExceeded, RuleLoadError
from ordercore.pii import Sensitive, redact, safe_repr
from ordercore.rules._action_base import ACTIONS, Action
from ordercore.rules._compiler import (
    BUILTINS,
    RUNTIME,
    Check,
    CompiledExpr,
    ExprCompiler,
    describe_records,
)
from ordercore.rules._context import EMPTY_CONTEXT, RuleContext
from ordercore.rules._decision import (
    ConditionTrace,
    Decision,
    LazyTrace,
    Override,
    PlannedAction,
    RuleOutcome,
    RuleTrace,
)
from ordercore.rules._syntax import LIMITS, ExprSyntaxError, Limits, parse_expression
from ordercore.schema import Order

__all__ = ["Rule", "RuleSet", "load_rules"]

MODES: Final = ("all", "first")
CONFLICTS: Final = ("priority", "error")
ON_ERROR: Final = ("raise", "skip")
_SET_KEYS: Final = (
    "ruleset",
    "version",
    "description",
    "timezone",
    "default_mode",
    "groups",
    "conflicts",
    "on_error",
    "rules",
)
_RULE_KEYS: Final = ("name", "description", "priority", "enabled", "group", "when", "then")
_NAME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_.-")


# -- where things are in the file ---------------------------------------------------------


@attrs.define(slots=True)
class _Located:
    """A plain value plus where it was in the file (YAML marks)."""

    value: Any
    line: int | None = None
    column: int | None = None
    raw: str | None = None  # the scalar's source text, for placing expression offsets
    raw_line: int | None = None
    raw_column: int | None = None


def _plain(node: Any) -> Any:
    if isinstance(node, _Located):
        return _plain(node.value)
    if isinstance(node, dict):
        return {key: _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(value) for value in node]
    return node


def _compose(text: str, source: str) -> Any:
    """Parse YAML or JSON text, keeping each value's line and column."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        column = mark.column + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        raise RuleLoadError(
            f"{_place(source, line, column)}: not valid YAML or JSON: {problem}",
            source=source,
            line=line,
            column=column,
            expected="a YAML or JSON mapping",
        ) from None
    if root is None:
        raise RuleLoadError(
            f"{source}: the file is empty", source=source, expected="a rule set mapping"
        )
    constructor = yaml.SafeLoader("")
    seen: set[int] = set()

    def refuse(node: yaml.Node, problem: str, expected: str) -> RuleLoadError:
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        return RuleLoadError(
            f"{_place(source, line, column)}: {problem}",
            source=source,
            line=line,
            column=column,
            expected=expected,
        )

    def scalar(node: yaml.Node) -> Any:
        if node.tag.startswith("!") and not node.tag.startswith("!!"):
            raise refuse(
                node,
                f"the YAML tag {safe_repr(node.tag, limit=40)} is not allowed",
                "a plain value",
            )
        try:
            return constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as error:
            problem = getattr(error, "problem", None) or str(error)
            raise refuse(
                node, f"not a valid value: {safe_repr(problem, limit=120)}", "a plain value"
            ) from None

    def convert(node: yaml.Node) -> _Located:
        # An alias makes the composer hand out the same node again: refusing any node seen
        # twice keeps a file from expanding (or looping) without bound.
        if id(node) in seen:
            raise refuse(
                node,
                "YAML anchors and aliases (&name / *name) are not allowed in rule sets",
                "each value written out",
            )
        seen.add(id(node))
        line, column = node.start_mark.line + 1, node.start_mark.column + 1
        if isinstance(node, yaml.MappingNode):
            mapping: dict[str, _Located] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise refuse(
                        key_node,
                        "YAML merge keys (<<) are not allowed in rule sets",
                        "each key written out",
                    )
                key = scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if key is None and not isinstance(key_node, yaml.ScalarNode):
                    raise refuse(key_node, "a mapping key must be a plain value", "a name")
                mapping[str(key)] = convert(value_node)
            return _Located(mapping, line, column)
        if isinstance(node, yaml.SequenceNode):
            return _Located([convert(item) for item in node.value], line, column)
        value = scalar(node)
        raw = text[node.start_mark.index : node.end_mark.index]
        return _Located(value, line, column, raw, line, column)

    return convert(root)


def _place(source: str, line: int | None, column: int | None) -> str:
    if line is None:
        return source
    return f"{source}:{line}:{column}" if column is not None else f"{source}:{line}"


def _offset_position(located: _Located, offset: int) -> tuple[int | None, int | None]:
    """The file line and column of character ``offset`` of a scalar's value."""
    raw, line, column = located.raw, located.raw_line, located.raw_column
    value = located.value
    if raw is None or line is None or column is None or not isinstance(value, str):
        return located.line, located.column
    # Walk the value and the raw text together, skipping what YAML folded or quoted away.
    position = 0
    for char in value[:offset]:
        if char.isspace():
            continue
        found = raw.find(char, position)
        if found < 0:
            return line, column
        position = found + 1
    while position < len(raw) and (raw[position].isspace() or raw[position] in "\"'|>-+"):
        if offset < len(value) and raw[position] == value[offset]:
            break
        position += 1
    before = raw[:position]
    newlines = before.count("\n")
    if newlines:
        return line + newlines, position - before.rfind("\n")
    return line, column + position


# -- rules -------------------------------------------------------------------------------


@attrs.frozen(slots=True)
class Rule:
    """One rule of a rule set, validated.

    Attributes:
        name: Unique within the set.
        when: The condition as written.
        actions: The actions to take when it matches, in order.
        priority: Higher runs first (ties keep file order).
        enabled: A disabled rule is never evaluated and traces say so.
        group: Its group (for ``first`` / ``all`` modes).
        description: Words for people.
    """

    name: str
    when: str
    actions: tuple[Action, ...]
    priority: int = 0
    enabled: bool = True
    group: str = "default"
    description: str | None = None


@attrs.frozen(slots=True)
class _Compiled:
    rule: Rule
    plain: Any  # (order, frame) -> bool
    traced: Any  # (order, frame, records) -> bool
    checks: tuple[Check, ...]
    first: bool  # its group's mode is "first"
    resolves: bool  # some action depends on the context
    position: int
    # Per action: the action; its PlannedAction when it resolves nothing (its type keeps
    # the default Action.resolve, which returns the action), else None; and then its slot
    # and, for an additive action, a number standing for (name, action), equal for equal
    # actions (None: work both out at evaluation).
    steps: tuple[tuple[Action, PlannedAction | None, str | None, int | None], ...] = ()


#: The budget while a traced quantifier replays a test already charged.
_NO_BUDGET: Final = 1 << 62


class _Frame:
    """What generated code reads besides the order: the time and the context's lookups."""

    __slots__ = ("_context", "_today", "_tz", "_visited", "budget", "combined", "now")

    def __init__(self, context: RuleContext, order: Order, tz: ZoneInfo, budget: int) -> None:
        self._context = context
        now = context.now
        self.now = now if now is not None else context.clock()
        self._tz = tz
        self._today: datetime | None = None
        combined = context.combined
        self.combined = (combined if type(combined) is tuple else tuple(combined)) or (order,)
        self._visited = 0
        self.budget = budget

    def restart(self) -> _Frame:
        """The frame for evaluating again from the start: the same time, nothing visited."""
        self._visited = 0
        return self

    @property
    def today(self) -> datetime:
        if self._today is None:
            local = self.now.astimezone(self._tz)
            midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
            self._today = midnight.astimezone(self.now.tzinfo)
        return self._today

    def visit(self, collection: Any) -> Any:
        self._visited += len(collection)
        if self._visited > self.budget:
            raise _BudgetExceeded(self.budget)
        return collection

    def replay(self, thunk: Any) -> Any:
        """Run ``thunk`` without charging the items budget: a traced quantifier replays,
        to record its values, a test the search already paid for."""
        visited, budget = self._visited, self.budget
        self.budget = _NO_BUDGET
        try:
            return thunk()
        finally:
            self._visited, self.budget = visited, budget

    def stock(self, sku: Any, location: Any) -> int | None:
        provider = self._context.stock
        if provider is None or sku is None:
            return None
        return provider.available(str(sku), None if location is None else str(location))

    def history_count(self, counter: str, key: Any, window: timedelta) -> int:
        provider = self._context.history
        if provider is None or key is None:
            return 0
        return provider.count(counter, _key_text(key), window, self.now)

    def history_orders(self, counter: str, key: Any, window: timedelta) -> int:
        provider = self._context.history
        if provider is None or key is None:
            return 0
        return provider.distinct_orders(counter, _key_text(key), window, self.now)

    def carrier_success(self, carrier: Any, window: timedelta) -> Decimal | None:
        provider = self._context.carriers
        if provider is None or carrier is None:
            return None
        return provider.success_rate(str(carrier), window, self.now)


def _key_text(key: Any) -> str:
    return key.reveal() if isinstance(key, Sensitive) else str(key)


class _BudgetExceeded(Exception):
    def __init__(self, budget: int) -> None:
        super().__init__(f"the evaluation visited more than {budget} collection items")


# -- the rule set ---------------------------------------------------------------------------

#: A decision's actions, matched rules, overridden actions and shadowed rules.
_Outcome = tuple[tuple[PlannedAction, ...], tuple[str, ...], tuple[Override, ...], tuple[str, ...]]
#: The rules that win their groups, the shadowed ones (-> who won) and whether a winner
#: resolves an action against the context.
_Winners = tuple[tuple["_Compiled", ...], dict[str, str], bool]
#: How many match sets a rule set keeps the outcome of.
_OUTCOMES_KEPT: Final = 4096


class RuleSet:
    """A validated, compiled rule set. Build one with :func:`load_rules` or the ``from_*``
    class methods; evaluate it with :meth:`evaluate`.

    Attributes:
        name: The rule set's name (``ruleset:`` in the file).
        version: Its version.
        rules: Every rule, in evaluation order (priority, then file order).
        source: The file it came from.
        conflicts: ``priority`` or ``error``.
        on_error: ``raise`` (a failing rule raises RuleEvaluationError) or ``skip``
            (it counts as not matched and is listed in ``Decision.errors``).

    Example:
        >>> rules = RuleSet.from_text('''
        ... ruleset: demo
        ... version: 1
        ... rules:
        ...   - name: big
        ...     when: order.amounts.paid >= 299
        ...     then: [{tag: big}]
        ... ''')
        >>> rules.names()
        ['big']
    """

    def __init__(
        self,
        *,
        name: str,
        version: int,
        rules: Sequence[Rule],
        compiled: Sequence[_Compiled],
        source: str,
        description: str | None,
        timezone: str,
        conflicts: str,
        on_error: str,
        groups: Mapping[str, str],
        default_mode: str,
        generated: str,
        limits: Limits,
        fused: Any = None,
    ) -> None:
        self.name = name
        self.version = version
        self.rules = tuple(rules)
        self.source = source
        self.description = description
        self.timezone = timezone
        self.conflicts = conflicts
        self.on_error = on_error
        self.groups = dict(groups)
        self.default_mode = default_mode
        self.generated_source = generated
        self.limits = limits
        self._tz = ZoneInfo(timezone)
        self._compiled = tuple(compiled)
        self._active = tuple(item for item in compiled if item.rule.enabled)
        self._simple = not any(item.first or item.resolves for item in self._active)
        # One function testing every enabled rule's condition, returning a bit per match
        # (bit i: the i-th enabled rule); any exception in it means evaluating rule by
        # rule, which keeps on_error exact. Built by _build; None means rule by rule.
        self._fused = fused
        self._bits = tuple((1 << index, item) for index, item in enumerate(self._active))
        # Matched bits -> the decision's actions, matched, overridden and shadowed, for
        # the match sets whose winners resolve nothing against the context.
        self._outcomes: dict[int, _Outcome] = {}
        # Matched bits -> the winners, the shadowed rules and whether a winner resolves.
        self._winners: dict[int, _Winners] = {}
        self._tokens: dict[tuple[str, Action], int] = {
            (action.name, action): key
            for item in self._compiled
            for action, _, _, key in item.steps
            if key is not None
        }

    def __repr__(self) -> str:
        return f"<RuleSet {self.name} v{self.version}: {len(self.rules)} rules from {self.source}>"

    # -- building ----------------------------------------------------------------------

    @classmethod
    def from_text(cls, text: str, *, source: str = "<text>", limits: Limits = LIMITS) -> RuleSet:
        """Load a rule set from YAML or JSON text.

        Raises:
            RuleLoadError: anything in it is invalid (every problem is listed).
            RuleLimitExceeded: an expression exceeds a cap of the language.
        """
        return _build(_compose(text, source), source, limits)

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, source: str = "<dict>", limits: Limits = LIMITS
    ) -> RuleSet:
        """Load a rule set from a mapping shaped like the file (places are not known)."""

        def wrap(value: Any) -> _Located:
            if isinstance(value, Mapping):
                return _Located({str(k): wrap(v) for k, v in value.items()})
            if isinstance(value, list | tuple):
                return _Located([wrap(v) for v in value])
            return _Located(value)

        return _build(wrap(data), source, limits)

    @classmethod
    def from_file(cls, path: str | Path, *, limits: Limits = LIMITS) -> RuleSet:
        """Load a rule set from a ``.yaml``, ``.yml`` or ``.json`` file."""
        return load_rules(path, limits=limits)

    def to_dict(self) -> dict[str, Any]:
        """The rule set as a mapping in the file's shape (round-trips through from_dict)."""
        return {
            "ruleset": self.name,
            "version": self.version,
            **({"description": self.description} if self.description else {}),
            "timezone": self.timezone,
            "default_mode": self.default_mode,
            "groups": {name: {"mode": mode} for name, mode in sorted(self.groups.items())},
            "conflicts": self.conflicts,
            "on_error": self.on_error,
            "rules": [
                {
                    "name": rule.name,
                    **({"description": rule.description} if rule.description else {}),
                    "priority": rule.priority,
                    "enabled": rule.enabled,
                    "group": rule.group,
                    "when": rule.when,
                    "then": [
                        {action.name: action.model_dump(mode="json", exclude_defaults=True)}
                        for action in rule.actions
                    ],
                }
                for rule in self.rules
            ],
        }

    def names(self) -> list[str]:
        """The rules' names in evaluation order."""
        return [rule.name for rule in self.rules]

    def rule(self, name: str) -> Rule:
        """The rule called ``name``.

        Raises:
            KeyError: there is none.
        """
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise KeyError(name)

    def mode_of(self, group: str) -> str:
        """``first`` or ``all`` for ``group``."""
        return self.groups.get(group, self.default_mode)

    # -- evaluating --------------------------------------------------------------------

    def evaluate(
        self,
        order: Order,
        context: RuleContext | None = None,
        *,
        explain: bool = False,
    ) -> Decision:
        """Evaluate every enabled rule on ``order``; the order is not changed.

        Args:
            order: The order.
            context: Stock, history, carriers, the time, combined orders.
            explain: Also record why each rule matched or not (``Decision.trace``).

        Returns:
            The decision: the actions to apply, in order.

        Raises:
            RuleEvaluationError: a rule failed (with ``on_error: raise``).
            RuleConflict: two rules set one slot (with ``conflicts: error``).
        """
        if context is None:
            context = EMPTY_CONTEXT
        frame = _Frame(context, order, self._tz, self.limits.items)
        if explain:
            return self._evaluate_traced(order, context, frame)
        fused = self._fused
        if fused is None:
            return self._evaluate_each(order, context, frame)
        try:
            mask = fused(order, frame)
        except Exception:
            return self._evaluate_each(order, context, frame.restart())
        found = self._outcomes.get(mask)
        if found is not None:
            return Decision(self.name, self.version, order.id, frame.now, *found)
        matched = [item for bit, item in self._bits if mask & bit]
        return self._decide(order, context, frame, matched, None, None, mask)

    def _evaluate_each(self, order: Order, context: RuleContext, frame: _Frame) -> Decision:
        """Evaluate rule by rule, each failure caught on its own (on_error)."""
        matched: list[_Compiled] = []
        errors: list[tuple[str, str]] | None = None
        for item in self._active:
            try:
                if item.plain(order, frame):
                    matched.append(item)
            except Exception as error:
                errors = self._failed(item, error, errors)
        if self._simple and not matched:
            return Decision(
                self.name, self.version, order.id, frame.now, errors=tuple(errors or ())
            )
        return self._decide(order, context, frame, matched, errors, None)

    def _failed(
        self, item: _Compiled, error: Exception, errors: list[tuple[str, str]] | None
    ) -> list[tuple[str, str]]:
        message = _error_text(error)
        if self.on_error == "raise":
            raise RuleEvaluationError(
                f"rule {item.rule.name!r} of {self.name} v{self.version} failed: {message}",
                ruleset=self.name,
                rule=item.rule.name,
            ) from error
        found = errors if errors is not None else []
        found.append((item.rule.name, message))
        return found

    def _evaluate_traced(self, order: Order, context: RuleContext, frame: _Frame) -> Decision:
        matched: list[_Compiled] = []
        errors: list[tuple[str, str]] | None = None
        raw: list[tuple[_Compiled, bool | None, list[tuple[Any, ...]], str | None]] = []
        for item in self._compiled:
            if not item.rule.enabled:
                raw.append((item, None, [], None))
                continue
            records: list[tuple[Any, ...]] = []
            try:
                result = bool(item.traced(order, frame, records))
            except Exception as error:
                errors = self._failed(item, error, errors)
                raw.append((item, None, records, _error_text(error)))
                continue
            if result:
                matched.append(item)
            raw.append((item, result, records, None))
        return self._decide(order, context, frame, matched, errors, raw)

    def _decide(
        self,
        order: Order,
        context: RuleContext,
        frame: _Frame,
        matched: list[_Compiled],
        errors: list[tuple[str, str]] | None,
        raw: list[tuple[_Compiled, bool | None, list[tuple[Any, ...]], str | None]] | None,
        mask: int | None = None,
    ) -> Decision:
        known = None if mask is None else self._winners.get(mask)
        if known is None:
            known = _winners_of(matched)
            if mask is not None and len(self._winners) < _OUTCOMES_KEPT:
                self._winners[mask] = known
        winners, shadowed, resolves = known
        actions: list[PlannedAction] = []
        overridden: list[Override] = []
        slots: dict[str, PlannedAction] = {}
        seen: set[Any] = set()
        if resolves and context.now is None:
            # Actions settled against the context see the same time as the conditions.
            context = context.at(frame.now)
        for item in winners:
            rule = item.rule
            for action, fixed, slot, key in item.steps:
                if fixed is None:
                    action = action.resolve(order, context)
                    planned = PlannedAction(rule.name, action, rule.priority, rule.group)
                    slot = action.slot
                else:
                    planned = fixed
                if slot is not None:
                    kept = slots.get(slot)
                    if kept is not None:
                        if self.conflicts == "error" and kept.rule != rule.name:
                            raise RuleConflict(
                                f"rules {kept.rule!r} and {rule.name!r} of {self.name} both "
                                f"set the {slot} ({kept.action.describe()} / "
                                f"{action.describe()})",
                                slot=slot,
                                rules=(kept.rule, rule.name),
                            )
                        overridden.append(Override(slot, kept, planned))
                        continue
                    slots[slot] = planned
                else:
                    if fixed is None or key is None:
                        pair = (action.name, action)
                        # a resolved action equal to one that resolves nothing: its number
                        found = self._tokens.get(pair, pair)
                    else:
                        found = key
                    if found in seen:
                        continue
                    seen.add(found)
                actions.append(planned)
        outcome: _Outcome = (
            tuple(actions),
            tuple(item.rule.name for item in winners),
            tuple(overridden),
            tuple(shadowed),
        )
        if mask is not None and not resolves and len(self._outcomes) < _OUTCOMES_KEPT:
            self._outcomes[mask] = outcome
        return Decision(
            self.name,
            self.version,
            order.id,
            frame.now,
            *outcome,
            errors=tuple(errors or ()),
            trace=None if raw is None else LazyTrace(_Explanation(raw, shadowed).rules),
        )

    def evaluate_many(
        self, orders: Iterable[Order], context: RuleContext | None = None
    ) -> list[Decision]:
        """Evaluate each of ``orders`` with the same context."""
        return [self.evaluate(order, context) for order in orders]


def _winners_of(matched: Sequence[_Compiled]) -> _Winners:
    """Drop the rules a higher-priority rule of their ``first`` group shadows."""
    winners: list[_Compiled] = []
    shadowed: dict[str, str] = {}
    taken_groups: dict[str, str] = {}
    for item in matched:
        rule = item.rule
        if item.first:
            holder = taken_groups.get(rule.group)
            if holder is not None:
                shadowed[rule.name] = holder
                continue
            taken_groups[rule.group] = rule.name
        winners.append(item)
    return tuple(winners), shadowed, any(item.resolves for item in winners)


def _steps(
    rule: Rule, tokens: dict[tuple[str, Action], int]
) -> tuple[tuple[Action, PlannedAction | None, str | None, int | None], ...]:
    steps: list[tuple[Action, PlannedAction | None, str | None, int | None]] = []
    for action in rule.actions:
        if type(action).resolve is not Action.resolve:
            steps.append((action, None, None, None))
            continue
        planned = PlannedAction(rule.name, action, rule.priority, rule.group)
        key: int | None = None
        if action.slot is None:
            try:
                key = tokens.setdefault((action.name, action), len(tokens))
            except TypeError:  # an unhashable parameter: fails as (name, action) would
                key = None
        steps.append((action, planned, action.slot, key))
    return tuple(steps)


def _error_text(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error) or type(error).__name__
    return redact(str(text), limit=200)


@attrs.define(slots=True)
class _Explanation:
    raw: list[tuple[_Compiled, bool | None, list[tuple[Any, ...]], str | None]]
    shadowed: dict[str, str]

    def rules(self) -> tuple[RuleTrace, ...]:
        traces: list[RuleTrace] = []
        for item, result, records, error in self.raw:
            rule = item.rule
            note: str | None = None
            if not rule.enabled:
                outcome = RuleOutcome.DISABLED
            elif error is not None:
                outcome, note = RuleOutcome.ERROR, error
            elif result and rule.name in self.shadowed:
                outcome = RuleOutcome.SHADOWED
                note = f"rule {self.shadowed[rule.name]} won group {rule.group}"
            elif result:
                outcome = RuleOutcome.MATCHED
            else:
                outcome = RuleOutcome.NOT_MATCHED
            conditions = tuple(
                ConditionTrace(check.text, value, detail)
                for check, value, detail in describe_records(item.checks, records)
            )
            traces.append(
                RuleTrace(rule.name, outcome, rule.priority, rule.group, conditions, note)
            )
        return tuple(traces)


# -- loading -------------------------------------------------------------------------------


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[tuple[str, dict[str, Any]]] = []
        self.limit: str | None = None

    def add(
        self,
        message: str,
        where: _Located | None = None,
        *,
        rule: str | None = None,
        expected: str | None = None,
        line: int | None = None,
        column: int | None = None,
    ) -> None:
        if where is not None and line is None:
            line, column = where.line, where.column
        prefix = _place(self.source, line, column)
        if rule is not None:
            prefix += f": rule {rule!r}"
        text = f"{prefix}: {message}"
        if expected:
            text += f"; expected {expected}"
        self.items.append(
            (text, {"rule": rule, "line": line, "column": column, "expected": expected})
        )

    def raise_if_any(self) -> None:
        if not self.items:
            return
        first = self.items[0][1]
        count = len(self.items)
        head = self.items[0][0] if count == 1 else f"{count} problems in {self.source}"
        message = head if count == 1 else head + ":\n" + "\n".join(t for t, _ in self.items)
        texts = [text for text, _ in self.items]
        if self.limit is not None:
            raise RuleLimitExceeded(
                message, limit=self.limit, source=self.source, problems=texts, **first
            )
        raise RuleLoadError(message, source=self.source, problems=texts, **first)


def _text_field(
    problems: _Problems,
    node: _Located | None,
    what: str,
    *,
    rule: str | None = None,
    required: bool = False,
    name_like: bool = False,
) -> str | None:
    if node is None:
        if required:
            problems.add(f"{what} is missing", rule=rule, expected=f"{what}: <text>")
        return None
    value = node.value
    if not isinstance(value, str) or not value.strip():
        problems.add(f"{what} must be text, not {safe_repr(_plain(value))}", node, rule=rule)
        return None
    if name_like and (len(value) > 64 or not set(value) <= _NAME_CHARS):
        problems.add(
            f"{what} {safe_repr(value)} is not a valid name",
            node,
            rule=rule,
            expected="1-64 of a-z, 0-9, '_', '.', '-'",
        )
        return None
    return value


def _int_field(
    problems: _Problems,
    node: _Located | None,
    what: str,
    default: int,
    *,
    rule: str | None = None,
    minimum: int | None = None,
) -> int:
    if node is None:
        return default
    value = node.value
    if isinstance(value, bool) or not isinstance(value, int):
        problems.add(
            f"{what} must be a whole number, not {safe_repr(_plain(value))}", node, rule=rule
        )
        return default
    if minimum is not None and value < minimum:
        problems.add(f"{what} must be at least {minimum}", node, rule=rule)
        return default
    if abs(value) > 10**9:
        problems.add(f"{what} is out of range", node, rule=rule, expected="up to 10^9")
        return default
    return value


def _choice(
    problems: _Problems, node: _Located | None, what: str, choices: Sequence[str], default: str
) -> str:
    if node is None:
        return default
    if node.value not in choices:
        problems.add(
            f"{what} {safe_repr(_plain(node.value))} is not known",
            node,
            expected="one of: " + ", ".join(choices),
        )
        return default
    return str(node.value)


def _mapping(
    problems: _Problems, node: _Located, what: str, keys: Sequence[str], rule: str | None = None
) -> dict[str, _Located] | None:
    if not isinstance(node.value, dict):
        problems.add(
            f"{what} must be a mapping, not {safe_repr(_plain(node.value))}", node, rule=rule
        )
        return None
    for key in node.value:
        if key not in keys:
            problems.add(
                f"unknown key {key!r} in {what}",
                node.value[key],
                rule=rule,
                expected="one of: " + ", ".join(keys),
            )
    return dict(node.value)


def _build(root: _Located, source: str, limits: Limits) -> RuleSet:
    problems = _Problems(source)
    top = _mapping(problems, root, "the rule set", _SET_KEYS)
    if top is None:
        problems.raise_if_any()
        raise AssertionError  # pragma: no cover
    name = _text_field(problems, top.get("ruleset"), "ruleset", required=True, name_like=True)
    version = _int_field(problems, top.get("version"), "version", 0, minimum=1)
    if "version" not in top:
        problems.add("version is missing", root, expected="version: 1")
    description = _text_field(problems, top.get("description"), "description")
    timezone = _text_field(problems, top.get("timezone"), "timezone") or "Asia/Shanghai"
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.add(
            f"unknown time zone {safe_repr(timezone)}",
            top.get("timezone"),
            expected="an IANA name such as Asia/Shanghai",
        )
        timezone = "Asia/Shanghai"
    default_mode = _choice(problems, top.get("default_mode"), "default_mode", MODES, "all")
    conflicts = _choice(problems, top.get("conflicts"), "conflicts", CONFLICTS, "priority")
    on_error = _choice(problems, top.get("on_error"), "on_error", ON_ERROR, "raise")
    groups: dict[str, str] = {}
    groups_node = top.get("groups")
    if groups_node is not None:
        if not isinstance(groups_node.value, dict):
            problems.add("groups must be a mapping of group name to {mode: ...}", groups_node)
        else:
            for group, spec in groups_node.value.items():
                fields = _mapping(problems, spec, f"group {group!r}", ("mode",))
                if fields is not None:
                    groups[group] = _choice(problems, fields.get("mode"), "mode", MODES, "all")
    rules_node = top.get("rules")
    rules: list[Rule] = []
    compiled_exprs: list[CompiledExpr] = []
    compiler = ExprCompiler(limits)
    if rules_node is None:
        problems.add("rules is missing", root, expected="rules: [ ... ]")
    elif not isinstance(rules_node.value, list):
        problems.add("rules must be a list", rules_node)
    else:
        if len(rules_node.value) > limits.rules:
            problems.limit = "rules"
            problems.add(f"more than {limits.rules} rules", rules_node)
        names: set[str] = set()
        for index, rule_node in enumerate(rules_node.value[: limits.rules]):
            built = _build_rule(problems, rule_node, index, names, compiler, limits)
            if built is not None:
                rules.append(built[0])
                compiled_exprs.append(built[1])
    problems.raise_if_any()
    assert name is not None
    order = sorted(range(len(rules)), key=lambda i: (-rules[i].priority, i))
    rules = [rules[i] for i in order]
    compiled_exprs = [compiled_exprs[i] for i in order]
    active = [p for p, rule in enumerate(rules) if rule.enabled]
    try:
        generated, namespace = _generate(name, compiled_exprs, compiler, active)
    except (SyntaxError, RecursionError, MemoryError) as error:
        raise _too_deep(source, name, rules, compiled_exprs, limits) from error
    compiled: list[_Compiled] = []
    tokens: dict[tuple[str, Action], int] = {}
    for position, (rule, expr) in enumerate(zip(rules, compiled_exprs, strict=True)):
        compiled.append(
            _Compiled(
                rule=rule,
                plain=namespace[f"rule_{position}"],
                traced=namespace[f"traced_{position}"],
                checks=tuple(expr.checks),
                first=groups.get(rule.group, default_mode) == "first",
                resolves=any(type(action).resolve is not Action.resolve for action in rule.actions),
                position=position,
                steps=_steps(rule, tokens),
            )
        )
    return RuleSet(
        name=name,
        version=version,
        rules=rules,
        compiled=compiled,
        source=source,
        description=description,
        timezone=timezone,
        conflicts=conflicts,
        on_error=on_error,
        groups=groups,
        default_mode=default_mode,
        generated=generated,
        limits=limits,
        fused=namespace["fused"],
    )


def _build_rule(
    problems: _Problems,
    node: _Located,
    index: int,
    names: set[str],
    compiler: ExprCompiler,
    limits: Limits,
) -> tuple[Rule, CompiledExpr] | None:
    fields = _mapping(problems, node, f"rule {index + 1}", _RULE_KEYS)
    if fields is None:
        return None
    before = len(problems.items)
    label = f"#{index + 1}"
    name_node = fields.get("name")
    name = _text_field(problems, name_node, "name", rule=label, required=True, name_like=True)
    if name is not None:
        if name in names:
            problems.add(f"rule name {name!r} is used twice", name_node, rule=name)
        names.add(name)
        label = name
    priority = _int_field(problems, fields.get("priority"), "priority", 0, rule=label)
    enabled_node = fields.get("enabled")
    enabled = True
    if enabled_node is not None:
        if not isinstance(enabled_node.value, bool):
            problems.add("enabled must be true or false", enabled_node, rule=label)
        else:
            enabled = enabled_node.value
    group = _text_field(problems, fields.get("group"), "group", rule=label, name_like=True)
    description = _text_field(problems, fields.get("description"), "description", rule=label)
    when_node = fields.get("when")
    expr: CompiledExpr | None = None
    when_text = ""
    if when_node is None:
        problems.add("when is missing", node, rule=label, expected="when: <condition>")
    elif isinstance(when_node.value, bool):
        when_text = "true" if when_node.value else "false"
        expr = _compile_when(problems, compiler, when_text, when_node, label, limits)
    elif not isinstance(when_node.value, str):
        problems.add(
            f"when must be a condition in text, not {safe_repr(_plain(when_node.value))}",
            when_node,
            rule=label,
        )
    else:
        when_text = when_node.value.strip()
        expr = _compile_when(problems, compiler, when_node.value, when_node, label, limits)
    actions = _build_actions(problems, fields.get("then"), node, label, limits)
    if len(problems.items) > before or expr is None or name is None:
        return None
    rule = Rule(
        name=name,
        when=when_text,
        actions=tuple(actions),
        priority=priority,
        enabled=enabled,
        group=group or "default",
        description=description,
    )
    return rule, expr


def _compile_when(
    problems: _Problems,
    compiler: ExprCompiler,
    text: str,
    node: _Located,
    rule: str,
    limits: Limits,
) -> CompiledExpr | None:
    try:
        tree = parse_expression(text, limits)
        return compiler.compile(text, tree)
    except ExprSyntaxError as error:
        line, column = _offset_position(node, error.offset)
        if error.limit is not None:
            problems.limit = error.limit
        problems.add(error.message, rule=rule, expected=error.expected, line=line, column=column)
        return None
    except RecursionError:
        problems.limit = "depth"
        problems.add("expression nests too deeply", node, rule=rule)
        return None


def _build_actions(
    problems: _Problems, node: _Located | None, rule_node: _Located, rule: str, limits: Limits
) -> list[Action]:
    from ordercore.rules._actions import parse_action

    if node is None:
        problems.add("then is missing", rule_node, rule=rule, expected="then: [ actions ]")
        return []
    items = node.value if isinstance(node.value, list) else None
    if items is None:
        problems.add("then must be a list of actions", node, rule=rule, expected="- tag: urgent")
        return []
    if len(items) > limits.actions:
        problems.limit = "actions"
        problems.add(f"more than {limits.actions} actions", node, rule=rule)
        return []
    actions: list[Action] = []
    for item in items:
        if isinstance(item.value, str):
            entry = {item.value: _Located(None, item.line, item.column)}
        elif isinstance(item.value, dict) and len(item.value) == 1:
            entry = item.value
        else:
            problems.add(
                "an action is one name with its parameters",
                item,
                rule=rule,
                expected="- add_gift: {sku: PIL-001}",
            )
            continue
        ((action_name, params),) = entry.items()
        if action_name not in ACTIONS:
            problems.add(
                f"unknown action {action_name!r}",
                item,
                rule=rule,
                expected="one of: " + ", ".join(sorted(ACTIONS)),
            )
            continue
        try:
            actions.append(parse_action(action_name, _plain(params)))
        except (ValueError, TypeError) as error:
            problems.add(_error_text(error), params if params.line else item, rule=rule)
    return actions


def _too_deep(
    source: str,
    name: str,
    rules: Sequence[Rule],
    exprs: Sequence[CompiledExpr],
    limits: Limits,
) -> RuleLimitExceeded:
    """The error for conditions the caps allow but Python cannot compile (caps raised far
    above the defaults): names the rules whose code nests too deeply."""
    culprits = []
    for rule, expr in zip(rules, exprs, strict=True):
        try:
            compile(f"def f(o, e, T):\n    return {expr.traced}\n", "<check>", "exec")
        except (SyntaxError, RecursionError, MemoryError):
            culprits.append(rule.name)
    shown = ", ".join(repr(rule) for rule in culprits[:5]) or "its rules"
    message = (
        f"{source}: rule set {name}: the condition of {shown} nests too deeply to compile "
        f"(depth cap {limits.depth}; lower it toward the default {LIMITS.depth})"
    )
    return RuleLimitExceeded(
        message,
        limit="depth",
        source=source,
        rule=culprits[0] if culprits else None,
        expected=f"a condition nesting at most about {LIMITS.depth} deep",
    )


def _generate(
    name: str, exprs: Sequence[CompiledExpr], compiler: ExprCompiler, active: Sequence[int]
) -> tuple[str, dict[str, Any]]:
    """Write every rule's two functions, and one testing every rule in ``active``, as one
    module and compile it.

    ``fused(o, e)`` returns an int with bit ``i`` set when the ``i``-th rule of
    ``active`` matches; it tests them in that order, each exactly as its ``rule_<n>``.
    """
    lines = [f"# rule set {name}: generated by ordercore.rules from its own syntax tree"]
    for position, expr in enumerate(exprs):
        lines.append(f"def rule_{position}(o, e):\n    return {expr.plain}\n")
        lines.append(f"def traced_{position}(o, e, T):\n    return {expr.traced}\n")
    body = ["def fused(o, e):", "    m = 0"]
    for bit, position in enumerate(active):
        body.append(f"    if {exprs[position].plain}:\n        m |= {1 << bit}")
    body.append("    return m\n")
    fused = "\n".join(body)
    generated = "\n".join(lines)
    namespace: dict[str, Any] = {"__builtins__": dict(BUILTINS), **RUNTIME, **compiler.constants}
    code = compile(generated, f"<ordercore.rules {name}>", "exec")
    exec(code, namespace)
    try:
        exec(compile(fused, f"<ordercore.rules {name}, fused>", "exec"), namespace)
    except (SyntaxError, RecursionError, MemoryError, ValueError):  # pragma: no cover
        namespace["fused"] = None  # too big for one function: rule by rule
    else:
        generated += "\n" + fused
    return generated, namespace


def load_rules(path: str | Path, *, limits: Limits = LIMITS) -> RuleSet:
    """Load a rule set from a YAML or JSON file.

    Raises:
        RuleLoadError: the file cannot be read or anything in it is invalid; the
            message names the file, rule, line and column of every problem.
        RuleLimitExceeded: an expression exceeds a cap of the language.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RuleLoadError(
            f"{path}: cannot read the rule set: {error}", source=str(path)
        ) from None
    return rules_from_bytes(path, data, limits)


def rules_from_bytes(path: Path, data: bytes, limits: Limits = LIMITS) -> RuleSet:
    """Load a rule set from a file's bytes (``.json`` files are checked as strict JSON)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RuleLoadError(
            f"{path}: cannot read the rule set: {error}", source=str(path)
        ) from None
    if path.suffix == ".json":
        try:
            json.loads(text)
        except json.JSONDecodeError as error:
            raise RuleLoadError(
                f"{path}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}",
                source=str(path),
                line=error.lineno,
                column=error.colno,
                expected="a JSON object",
            ) from None
    return RuleSet.from_text(text, source=str(path), limits=limits)
