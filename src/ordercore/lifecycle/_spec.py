"""Lifecycle specs as data: states, atomic nodes, transitions and SLA limits.

A spec is loaded from YAML or JSON (a file or text) or from a dict, validated with
pydantic, then checked as a whole: every state a transition names exists, no
trigger is defined twice from one source, and every state and node can be reached
from an initial one. Every problem is a
:class:`~ordercore.errors.LifecycleSpecError` naming the file, the 1-based line
and the field.

A state reference is a canonical status (``"packed"``) or a status and one of its
nodes (``"packed.awaiting_outbound"``). A transition whose source is a status
applies to the status as a whole, whatever the order's node; a transition from
``status.node`` for the same trigger takes precedence at that node.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Final, Literal, Self

# PyYAML ships no type hints; types-PyYAML is not a dependency.
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from ordercore.errors import LifecycleSpecError
from ordercore.pii import safe_repr
from ordercore.schema import OrderStatus

__all__ = [
    "EscalationStep",
    "LifecycleExtension",
    "LifecycleSpec",
    "NodeSpec",
    "SLA",
    "StateExtension",
    "StateSpec",
    "TransitionSpec",
    "expand_transitions",
    "format_duration",
    "load_lifecycle",
    "parse_duration",
    "split_ref",
]

_NAME = r"[a-z][a-z0-9_]{0,63}"
#: A trigger, guard, effect, node or notification target name (lower snake case).
Name = Annotated[str, StringConstraints(pattern=rf"^{_NAME}$")]
#: ``"status"`` or ``"status.node"``.
StateRef = Annotated[str, StringConstraints(pattern=rf"^{_NAME}(\.{_NAME})?$")]
Text = Annotated[str, StringConstraints(max_length=2000)]

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_DURATION_HELP = 'a duration such as "30m", "2h", "3d" or "1h30m"'
#: The largest duration a spec may hold (a limit beyond a year is a mistake).
_MAX_DURATION: Final = timedelta(days=366)


def parse_duration(value: object) -> timedelta:
    """Read a spec duration: ``"30m"``, ``"2h"``, ``"3d"``, ``"1h30m"``, ``"45s"``.

    Raises:
        ValueError: the value is not such a duration, is zero or is over a year.
    """
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, str) and (found := _DURATION.match(value.strip())) and value.strip():
        days, hours, minutes, seconds = (int(part or 0) for part in found.groups())
        duration = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    else:
        raise ValueError(f"expected {_DURATION_HELP}, got {safe_repr(value, limit=24)}")
    if duration <= timedelta(0) or duration > _MAX_DURATION:
        raise ValueError(f"expected a duration above zero and at most 366d, got {value}")
    return duration


def format_duration(value: timedelta) -> str:
    """Write a duration the way specs spell it (``timedelta(hours=26)`` -> ``"1d2h"``)."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


#: A duration in a spec: text in files, a ``timedelta`` in Python.
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]


def _listed(value: object) -> object:
    """A single string where a list is expected is a list of one (``sources: paid``)."""
    return [value] if isinstance(value, str) else value


def split_ref(ref: str) -> tuple[str, str | None]:
    """Split a state reference: ``"packed.node"`` -> ``("packed", "node")``."""
    status, _, node = ref.partition(".")
    return status, node or None


class _SpecModel(BaseModel):
    """Base of the spec models: frozen, no unknown fields, errors as LifecycleSpecError."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _from_validation(exc, type(self).__name__, "<dict>", {}) from None

    # This __init__ only translates errors: nested models stay validated by pydantic-core.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        """Validate a dict; raises LifecycleSpecError instead of pydantic's error.

        A validation ``context`` with ``source`` and ``lines`` (field -> line) makes
        the error name the file and line.
        """
        context = options.get("context") or {}
        source = context.get("source", "<dict>")
        lines = context.get("lines", {})
        try:
            return super().model_validate(obj, **options)
        except ValidationError as exc:
            raise _from_validation(exc, cls.__name__, source, lines) from None


class EscalationStep(_SpecModel):
    """One rung of an SLA's escalation ladder.

    Attributes:
        after: How long after the limit was breached this step fires.
        notify: Who is told: a role or notification target name (``warehouse_lead``).
        level: The escalation level (the owner's notice at the limit is level 1).
    """

    after: Duration
    notify: Name
    level: Annotated[int, Field(ge=2, le=99)]


class SLA(_SpecModel):
    """A time limit on a state or node, its owner, and what happens when it is breached (D11).

    Exactly one of ``limit`` and ``deadline`` is given: ``limit`` counts from the
    moment the order entered the state or node; ``deadline`` names the order field
    that holds the due time (``pay_by`` for unpaid orders, ``promised_ship_by`` for
    presale orders).

    Attributes:
        limit: How long an order may stay.
        deadline: The order field holding the due time instead.
        owner: Who is notified at the limit (level 1).
        escalation: Later steps, by increasing ``after`` and ``level``.
    """

    limit: Duration | None = None
    deadline: Literal["pay_by", "promised_ship_by"] | None = None
    owner: Name
    escalation: tuple[EscalationStep, ...] = ()

    @model_validator(mode="after")
    def _one_limit(self) -> SLA:
        if (self.limit is None) == (self.deadline is None):
            raise ValueError("an SLA needs exactly one of 'limit' (a duration) and 'deadline'")
        steps = self.escalation
        for before, step in itertools.pairwise(steps):
            if step.after <= before.after or step.level <= before.level:
                raise ValueError(
                    "escalation steps must come in increasing 'after' and 'level' order"
                )
        return self


class NodeSpec(_SpecModel):
    """An atomic node: a named sub-state of a canonical state (``awaiting_outbound``)."""

    description: Text = ""
    sla: SLA | None = None


class StateSpec(_SpecModel):
    """A canonical state of the lifecycle and its atomic nodes.

    Attributes:
        description: What the state means.
        sla: The time limit on the state as a whole.
        nodes: The state's atomic nodes by name.
    """

    description: Text = ""
    sla: SLA | None = None
    nodes: dict[Name, NodeSpec] = Field(default_factory=dict)


class TransitionSpec(_SpecModel):
    """A transition: a trigger that moves an order from one of its sources to ``dest``.

    Attributes:
        trigger: The trigger's name (``ship``, ``close_unpaid``).
        sources: The states (``"paid"``) or nodes (``"packed.awaiting_outbound"``) it
            starts from; a single string is a list of one.
        dest: Where it leads: a state, or a state and node.
        guards: Names of the guards that must all pass, in order.
        effects: Names of the effects run after the change, in order.
        description: What the transition means.
        alert: Who is alerted (an ``order.transition_blocked`` event naming them)
            when a guard blocks the transition.
    """

    trigger: Name
    sources: Annotated[tuple[StateRef, ...], BeforeValidator(_listed), Field(min_length=1)]
    dest: StateRef
    guards: Annotated[tuple[Name, ...], BeforeValidator(_listed)] = ()
    effects: Annotated[tuple[Name, ...], BeforeValidator(_listed)] = ()
    description: Text = ""
    alert: Name | None = None


_STATUSES: Final = tuple(status.value for status in OrderStatus)


def _check_state_keys(value: object) -> object:
    if isinstance(value, Mapping):
        for key in value:
            if not isinstance(key, str) or key not in _STATUSES:
                raise LifecycleSpecError(
                    f"unknown state {safe_repr(key, limit=40)}: a state is one of the "
                    f"canonical statuses ({', '.join(_STATUSES)})",
                    field=f"states.{key}",
                )
    return value


def _sources_from(spec: _SpecModel) -> tuple[str, dict[str, int]]:
    return spec._source, spec._lines  # type: ignore[attr-defined]


class LifecycleSpec(_SpecModel):
    """A whole lifecycle as data. Load one with :func:`load_lifecycle`.

    Attributes:
        name: The lifecycle's name.
        version: Its version (raise it on every change).
        description: What it is for.
        initial: The states and nodes an order may start in.
        states: The canonical states it uses, by status, with their nodes.
        transitions: Every transition.

    Example:
        >>> spec = load_lifecycle({
        ...     "name": "tiny", "version": 1, "initial": ["pending_payment"],
        ...     "states": {"pending_payment": {}, "paid": {}, "cancelled": {}},
        ...     "transitions": [
        ...         {"trigger": "pay", "sources": "pending_payment", "dest": "paid"},
        ...         {"trigger": "cancel", "sources": ["pending_payment", "paid"],
        ...          "dest": "cancelled"},
        ...     ],
        ... })
        >>> spec.triggers
        ('cancel', 'pay')
    """

    name: Name
    version: Annotated[int, Field(ge=1)] = 1
    description: Text = ""
    initial: Annotated[tuple[StateRef, ...], BeforeValidator(_listed), Field(min_length=1)]
    states: dict[OrderStatus, StateSpec]
    transitions: tuple[TransitionSpec, ...] = ()

    _source: str = PrivateAttr(default="<dict>")
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    _known_states = field_validator("states", mode="before")(_check_state_keys)

    @model_validator(mode="after")
    def _consistent(self) -> LifecycleSpec:
        self._check_refs()
        self._check_duplicates()
        self._check_reachable()
        return self

    # -- the checks ------------------------------------------------------------------

    def _ref_problem(self, ref: str) -> str | None:
        status, node = split_ref(ref)
        if status not in _STATUSES:
            return f"{ref!r} names no canonical status ({', '.join(_STATUSES)})"
        state = self.states.get(OrderStatus(status))
        if state is None:
            declared = ", ".join(s.value for s in self.states)
            return (
                f"{ref!r} names state {status!r}, which this lifecycle does not declare "
                f"({declared})"
            )
        if node is not None and node not in state.nodes:
            nodes = ", ".join(state.nodes) or "none"
            return (
                f"{ref!r} names node {node!r}, which state {status!r} does not have "
                f"(its nodes: {nodes})"
            )
        return None

    def _check_refs(self) -> None:
        for index, ref in enumerate(self.initial):
            problem = self._ref_problem(ref)
            if problem:
                raise LifecycleSpecError(f"initial state {problem}", field=f"initial.{index}")
        for index, transition in enumerate(self.transitions):
            where = f"transitions.{index}"
            for position, ref in enumerate(transition.sources):
                problem = self._ref_problem(ref)
                if problem:
                    raise LifecycleSpecError(
                        f"transition {transition.trigger!r} starts from a missing state: {problem}",
                        field=f"{where}.sources.{position}",
                    )
            problem = self._ref_problem(transition.dest)
            if problem:
                raise LifecycleSpecError(
                    f"transition {transition.trigger!r} leads to a missing state: {problem}",
                    field=f"{where}.dest",
                )

    def _check_duplicates(self) -> None:
        seen: dict[tuple[str, str], int] = {}
        for index, transition in enumerate(self.transitions):
            for position, ref in enumerate(transition.sources):
                first = seen.setdefault((transition.trigger, ref), index)
                if first != index or ref in transition.sources[:position]:
                    raise LifecycleSpecError(
                        f"duplicate trigger {transition.trigger!r} from {ref!r}: already "
                        f"defined by transitions.{first}",
                        field=f"transitions.{index}.sources.{position}",
                    )

    def _check_reachable(self) -> None:
        graph: dict[str, set[str]] = {ref: set() for ref in self.state_refs()}
        for source, _, transition in expand_transitions(self):
            graph[source].add(transition.dest)
        reached = set(self.initial)
        pending = deque(self.initial)
        while pending:
            for dest in graph[pending.popleft()]:
                if dest not in reached:
                    reached.add(dest)
                    pending.append(dest)
        starts = ", ".join(self.initial)
        for status, state in self.states.items():
            if status.value not in reached and not any(
                f"{status.value}.{node}" in reached for node in state.nodes
            ):
                raise LifecycleSpecError(
                    f"state {status.value!r} is unreachable: no transition leads to it "
                    f"from the initial states ({starts})",
                    field=f"states.{status.value}",
                )
            for node in state.nodes:
                if f"{status.value}.{node}" not in reached:
                    raise LifecycleSpecError(
                        f"node '{status.value}.{node}' is unreachable: no transition leads "
                        f"to it from the initial states ({starts})",
                        field=f"states.{status.value}.nodes.{node}",
                    )

    def __eq__(self, other: object) -> bool:
        # Equal content is an equal spec, wherever it was loaded from.
        if not isinstance(other, LifecycleSpec):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((self.name, self.version, len(self.transitions)))

    # -- reading -----------------------------------------------------------------------

    @property
    def source(self) -> str:
        """The file (``"<text>"``, ``"<dict>"``) the spec was loaded from."""
        return self._source

    @property
    def triggers(self) -> tuple[str, ...]:
        """Every trigger of the spec, sorted."""
        return tuple(sorted({t.trigger for t in self.transitions}))

    def state_refs(self) -> list[str]:
        """Every state and node as a reference (``"packed"``, ``"packed.awaiting_outbound"``)."""
        refs = []
        for status, state in self.states.items():
            refs.append(status.value)
            refs.extend(f"{status.value}.{node}" for node in state.nodes)
        return refs

    def line_of(self, field: str) -> int | None:
        """The 1-based line of ``field`` (``"transitions.3.dest"``) in the spec's file, if known."""
        return _line_of(self._lines, field)

    def sla_of(self, status: OrderStatus | str, node: str | None = None) -> SLA | None:
        """The SLA an order at ``status`` and ``node`` is held to: the node's, else the state's."""
        state = self.states.get(OrderStatus(status))
        if state is None:
            return None
        found = state.nodes.get(node) if node is not None else None
        if found is not None and found.sla is not None:
            return found.sla
        return state.sla

    def check_names(
        self, *, guards: Iterable[str] | None = None, effects: Iterable[str] | None = None
    ) -> None:
        """Check that every guard and effect the spec names is registered.

        Args:
            guards: The registered guard names (``None``: not checked).
            effects: The registered effect names (``None``: not checked).

        Raises:
            LifecycleSpecError: a transition names a guard or effect not registered.
        """
        for kind, registered in (("guard", guards), ("effect", effects)):
            if registered is None:
                continue
            known = set(registered)
            for index, transition in enumerate(self.transitions):
                names = transition.guards if kind == "guard" else transition.effects
                for position, name in enumerate(names):
                    if name not in known:
                        listed = ", ".join(sorted(known)) or "none"
                        raise self.error(
                            f"transition {transition.trigger!r} names {kind} {name!r}, which "
                            f"is not registered (registered: {listed})",
                            field=f"transitions.{index}.{kind}s.{position}",
                        )

    def error(self, message: str, *, field: str | None) -> LifecycleSpecError:
        """A LifecycleSpecError about ``field`` of this spec, with its file and line."""
        source, lines = _sources_from(self)
        return _spec_error(message, source, lines, field)

    def to_dict(self) -> dict[str, Any]:
        """The spec as plain JSON data (durations as text), loadable again."""
        return self.model_dump(mode="json", exclude_defaults=True)

    # -- extending ------------------------------------------------------------------------

    def extend(
        self, other: LifecycleSpec | LifecycleExtension | Mapping[str, Any] | str | os.PathLike[str]
    ) -> LifecycleSpec:
        """Return a new spec with ``other`` added: nodes, states, transitions, guards, SLAs.

        ``other`` is a :class:`LifecycleExtension` (or a spec, a dict, YAML/JSON text
        or a file of one). Its ``name``, ``version`` and ``description`` replace
        this spec's when given; ``initial`` entries are added; each state's
        ``description`` and ``sla`` replace this spec's when given, and its nodes are
        added (a node of the same name is replaced). Each of its transitions is
        added and takes over the ``(trigger, source)`` pairs it defines from this
        spec's transitions. ``guards`` and ``effects`` (``{trigger: [names]}``) are
        appended to every transition of that trigger.

        Raises:
            LifecycleSpecError: ``other`` is not valid, or the result is not.
        """
        extension = _extension_from(other)
        data = self.model_dump(mode="python")
        for field in ("name", "version", "description"):
            value = getattr(extension, field)
            if value is not None:
                data[field] = value
        data["initial"] = list(dict.fromkeys([*data["initial"], *extension.initial]))
        states: dict[OrderStatus, dict[str, Any]] = data["states"]
        for status, added in extension.states.items():
            state = states.setdefault(status, {"description": "", "sla": None, "nodes": {}})
            if added.description is not None:
                state["description"] = added.description
            if added.sla is not None:
                state["sla"] = added.sla.model_dump(mode="python")
            for name, node in added.nodes.items():
                state["nodes"][name] = node.model_dump(mode="python")
        # A transition of the extension naming a state neither spec has is the
        # extension's mistake: name its own file and line, before merging.
        refs = {
            ref
            for status, state in states.items()
            for ref in (status.value, *(f"{status.value}.{node}" for node in state["nodes"]))
        }
        ext_source, ext_lines = _sources_from(extension)
        for index, added_transition in enumerate(extension.transitions):
            named = [(f"sources.{i}", ref) for i, ref in enumerate(added_transition.sources)]
            named.append(("dest", added_transition.dest))
            for where, ref in named:
                if ref not in refs:
                    raise _spec_error(
                        f"transition {added_transition.trigger!r} names {ref!r}, a state "
                        "neither the spec nor the extension has",
                        ext_source,
                        ext_lines,
                        f"transitions.{index}.{where}",
                    )
        taken = {(t.trigger, ref) for t in extension.transitions for ref in t.sources}
        transitions = []
        for transition in data["transitions"]:
            kept = [
                ref for ref in transition["sources"] if (transition["trigger"], ref) not in taken
            ]
            if kept:
                transitions.append({**transition, "sources": kept})
        transitions.extend(t.model_dump(mode="python") for t in extension.transitions)
        data["transitions"] = transitions
        for kind, extra in (("guards", extension.guards), ("effects", extension.effects)):
            for trigger, names in extra.items():
                matching = [t for t in transitions if t["trigger"] == trigger]
                if not matching:
                    raise _spec_error(
                        f"cannot add {kind} to trigger {trigger!r}: no transition has it",
                        *_sources_from(extension),
                        f"{kind}.{trigger}",
                    )
                for transition in matching:
                    transition[kind] = tuple(dict.fromkeys([*transition[kind], *names]))
        source = f"{self._source} extended by {extension._source}"
        return _validated(data, source, {})


class StateExtension(_SpecModel):
    """What a :class:`LifecycleExtension` adds to or changes in one state."""

    description: Text | None = None
    sla: SLA | None = None
    nodes: dict[Name, NodeSpec] = Field(default_factory=dict)


class LifecycleExtension(_SpecModel):
    """Additions to a lifecycle, for :meth:`LifecycleSpec.extend` (every field optional).

    Attributes:
        guards: Guard names to append to every transition of a trigger.
        effects: Effect names to append to every transition of a trigger.

    Example:
        >>> from ordercore.lifecycle import default_spec
        >>> spec = default_spec().extend({
        ...     "states": {"packed": {"nodes": {"gift_wrapping": {}}}},
        ...     "transitions": [{"trigger": "wrap_gift", "sources": "packed",
        ...                      "dest": "packed.gift_wrapping"}],
        ... })
        >>> "packed.gift_wrapping" in spec.state_refs()
        True
    """

    name: Name | None = None
    version: Annotated[int, Field(ge=1)] | None = None
    description: Text | None = None
    initial: Annotated[tuple[StateRef, ...], BeforeValidator(_listed)] = ()
    states: dict[OrderStatus, StateExtension] = Field(default_factory=dict)
    transitions: tuple[TransitionSpec, ...] = ()
    guards: dict[Name, Annotated[tuple[Name, ...], BeforeValidator(_listed)]] = Field(
        default_factory=dict
    )
    effects: dict[Name, Annotated[tuple[Name, ...], BeforeValidator(_listed)]] = Field(
        default_factory=dict
    )

    _source: str = PrivateAttr(default="<dict>")
    _lines: dict[str, int] = PrivateAttr(default_factory=dict)

    _known_states = field_validator("states", mode="before")(_check_state_keys)


def expand_transitions(spec: LifecycleSpec) -> Iterator[tuple[str, str, TransitionSpec]]:
    """Yield ``(source, trigger, transition)`` for every state and node of the spec.

    A transition from a status applies at each of its nodes unless a transition
    from that node has the same trigger; the result is the flat table the engine's
    machine is built from.
    """
    exact: dict[tuple[str, str], TransitionSpec] = {}
    for transition in spec.transitions:
        for ref in transition.sources:
            exact[(ref, transition.trigger)] = transition
    triggers = spec.triggers
    for ref in spec.state_refs():
        status, node = split_ref(ref)
        for trigger in triggers:
            found = exact.get((ref, trigger))
            if found is None and node is not None:
                found = exact.get((status, trigger))
            if found is not None:
                yield ref, trigger, found


# -- loading ------------------------------------------------------------------------------


def _line_of(lines: Mapping[str, int], field: str | None) -> int | None:
    if field is None:
        return None
    parts = field.split(".")
    while parts:
        line = lines.get(".".join(parts))
        if line is not None:
            return line
        parts.pop()
    return lines.get("")


def _spec_error(
    message: str, source: str, lines: Mapping[str, int], field: str | None
) -> LifecycleSpecError:
    line = _line_of(lines, field)
    where = source if line is None else f"{source}, line {line}"
    if field:
        where += f", {field}"
    return LifecycleSpecError(
        f"lifecycle spec {where}: {message}", source=source, line=line, field=field
    )


def _from_validation(
    exc: ValidationError, model: str, source: str, lines: Mapping[str, int]
) -> LifecycleSpecError:
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=True):
        cause = (error.get("ctx") or {}).get("error")
        loc = [str(part) for part in error["loc"] if part != "[key]"]
        if isinstance(cause, LifecycleSpecError):
            problems.append((cause.field or ".".join(loc), cause.message))
            continue
        field = ".".join(loc)
        kind = error["type"]
        if kind == "missing":
            message = "is required"
        elif kind == "extra_forbidden":
            message = f"is not a field of {_model_at(model, loc)}"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
            if kind == "string_pattern_mismatch":
                message = _pattern_help(loc)
        problems.append((field, message))
    # A misspelt key shows as the key it should be missing plus the unknown one: name
    # the unknown key first, it is what the author typed.
    problems.sort(key=lambda problem: not problem[1].startswith("is not a field"))
    field, message = problems[0]
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return _spec_error(message, source, lines, field or None)


def _model_at(model: str, loc: list[str]) -> str:
    for part in reversed(loc[:-1]):
        if part == "sla":
            return "an SLA"
        if part == "escalation":
            return "an escalation step"
        if part == "nodes":
            return "a node"
        if part in ("transitions",) or part.isdigit():
            return "a transition" if "transitions" in loc else "this entry"
        if part == "states" or part in _STATUSES:
            return "a state"
    return "a lifecycle spec" if model in ("LifecycleSpec", "LifecycleExtension") else model


def _pattern_help(loc: list[str]) -> str:
    last = loc[-2] if loc and loc[-1].isdigit() else (loc[-1] if loc else "")
    if last in ("sources", "dest", "initial"):
        return (
            "expected a state ('packed') or a state and node ('packed.awaiting_outbound'), "
            "in lower snake case"
        )
    return "expected a name in lower snake case (a letter, then letters, digits or '_')"


def _walk(node: Any, path: str, lines: dict[str, int], source: str) -> None:
    """Record the line of every mapping key and sequence item under ``node``."""
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key == "<<":
                continue
            child = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in seen:
                raise _spec_error(f"key {key!r} is given twice", source, {child: line}, child)
            seen.add(key)
            lines[child] = line
            _walk(value_node, child, lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = f"{path}.{index}" if path else str(index)
            lines[child] = item.start_mark.line + 1
            _walk(item, child, lines, source)


def _parse_yaml(text: str, source: str) -> tuple[Any, dict[str, int]]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = None if root is None else loader.construct_document(root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        what = exc.problem or exc.context or "not valid YAML"
        started = exc.context_mark
        if exc.context and started is not None and started.line + 1 != line:
            what += f" ({exc.context} started at line {started.line + 1})"
        where = source if line is None else f"{source}, line {line}"
        raise LifecycleSpecError(
            f"lifecycle spec {where}: YAML syntax error: {what}", source=source, line=line
        ) from None
    except yaml.YAMLError as exc:
        raise LifecycleSpecError(
            f"lifecycle spec {source}: YAML syntax error: {type(exc).__name__}", source=source
        ) from None
    finally:
        loader.dispose()
    lines: dict[str, int] = {"": 1}
    if root is not None:
        lines[""] = root.start_mark.line + 1
        _walk(root, "", lines, source)
    return data, lines


def _parse_json(text: str, source: str) -> tuple[Any, dict[str, int]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LifecycleSpecError(
            f"lifecycle spec {source}, line {exc.lineno}: JSON syntax error: {exc.msg} "
            f"at column {exc.colno}",
            source=source,
            line=exc.lineno,
        ) from None
    except (ValueError, RecursionError) as exc:
        raise LifecycleSpecError(
            f"lifecycle spec {source}: cannot be read as JSON ({type(exc).__name__})",
            source=source,
        ) from None
    try:  # JSON is YAML: its node tree gives the lines
        _, lines = _parse_yaml(text, source)
    except LifecycleSpecError:
        lines = {"": 1}
    return data, lines


def _read(
    source: Mapping[str, Any] | str | os.PathLike[str], kind: str
) -> tuple[Any, str, dict[str, int]]:
    """The raw data, its source name and its line table."""
    if isinstance(source, Mapping):
        return dict(source), "<dict>", {}
    if isinstance(source, str) and ("\n" in source or source.lstrip()[:1] in ("{", "[")):
        text, name, suffix = source, "<text>", ""
    elif isinstance(source, str | os.PathLike):
        path = Path(source)
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise LifecycleSpecError(f"{kind} file {name} does not exist", source=name) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise LifecycleSpecError(
                f"{kind} file {name} cannot be read ({type(exc).__name__})", source=name
            ) from None
        suffix = path.suffix.lower()
    else:
        raise LifecycleSpecError(
            f"a {kind} is a file path, YAML/JSON text or a dict, not {type(source).__name__}"
        )
    if suffix == ".json" or (not suffix and text.lstrip()[:1] == "{"):
        data, lines = _parse_json(text, name)
    else:
        data, lines = _parse_yaml(text, name)
    return data, name, lines


def _validated(data: Any, source: str, lines: dict[str, int]) -> LifecycleSpec:
    if not isinstance(data, Mapping):
        raise _spec_error(
            f"expected a mapping with name, initial, states and transitions, got "
            f"{type(data).__name__}",
            source,
            lines,
            None,
        )
    spec = LifecycleSpec.model_validate(data, context={"source": source, "lines": lines})
    spec._source = source
    spec._lines = lines
    return spec


def _extension_from(
    other: LifecycleSpec | LifecycleExtension | Mapping[str, Any] | str | os.PathLike[str],
) -> LifecycleExtension:
    if isinstance(other, LifecycleExtension):
        return other
    if isinstance(other, LifecycleSpec):
        data: Any = other.model_dump(mode="python")
        source, lines = other._source, other._lines
    else:
        data, source, lines = _read(other, "lifecycle extension")
    if not isinstance(data, Mapping):
        raise _spec_error(
            f"expected a mapping of additions, got {type(data).__name__}", source, lines, None
        )
    extension = LifecycleExtension.model_validate(data, context={"source": source, "lines": lines})
    extension._source = source
    extension._lines = lines
    return extension


def load_lifecycle(
    source: Mapping[str, Any] | str | os.PathLike[str],
    *,
    guards: Iterable[str] | None = None,
    effects: Iterable[str] | None = None,
) -> LifecycleSpec:
    """Load and check a lifecycle spec.

    Args:
        source: A YAML (``.yaml``/``.yml``) or JSON (``.json``) file path, YAML or
            JSON text (anything with a line break, or starting with ``{``), or a dict.
        guards: When given, the guard names that are registered: a transition naming
            another one is an error.
        effects: The same for effect names.

    Returns:
        The spec, remembering its file and the line of each field.

    Raises:
        LifecycleSpecError: the file is missing or not valid YAML/JSON, a field is
            invalid, a transition names a missing state or node, a trigger is
            defined twice from one source, a state or node cannot be reached, or a
            guard or effect is not registered. ``source``, ``line`` (1-based) and
            ``field`` (``transitions.3.dest``) say where.
    """
    data, name, lines = _read(source, "lifecycle spec")
    spec = _validated(data, name, lines)
    spec.check_names(guards=guards, effects=effects)
    return spec
