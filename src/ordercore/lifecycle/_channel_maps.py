"""Channel status maps: every platform's native order status -> canonical status and node.

The maps are data (``channel_maps.yaml`` beside this module, or a seller's own file),
validated on load. Three things are built on them:

* :func:`map_channel_status` turns one native status (with the other status fields the
  channel sends, such as Pinduoduo's ``refund_status``) into a :class:`StatusMapping`.
  A native value the map does not know is **not** an error: the mapping comes back with
  ``known=False`` and ``status=None`` and the raw status kept, so one new platform code
  never stops ingestion; :func:`next_status` ignores such an update. Asking for a channel
  that has no map raises :class:`~ordercore.errors.ConfigurationError`.
* :func:`next_status` applies a mapped status to an order's current status without ever
  going backwards, and lists the canonical statuses a channel jumped over
  (``implied``). The rules are in its docstring.
* :func:`map_order_status` reads an order's lines: an after-sale on one line of an order
  whose other lines still need shipping keeps the order in its fulfilment status, gives
  the line its after-sale state and flags it not to be shipped.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final, Literal

# PyYAML ships no type hints; types-PyYAML is not a dependency.
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

from ordercore.errors import ConfigurationError, LifecycleSpecError
from ordercore.pii import redact, safe_repr
from ordercore.schema import ChannelStatus, Order, OrderLine, OrderStatus

__all__ = [
    "DEFAULT_CHANNEL_MAPS",
    "MAIN_LINE",
    "ChannelStatusMap",
    "LineAfterSale",
    "LineAfterSaleState",
    "OrderStatusMapping",
    "SkipReason",
    "StatusMapping",
    "StatusStep",
    "channel_maps",
    "is_forward",
    "load_channel_maps",
    "map_channel_status",
    "map_order_status",
    "next_status",
    "replay_statuses",
]

#: The maps that ship with ordercore.
DEFAULT_CHANNEL_MAPS: Final = Path(__file__).with_name("channel_maps.yaml")

S = OrderStatus

#: The canonical statuses an order passes through in order when nothing goes wrong.
#: ``under_review`` (a hold), ``after_sale`` and ``cancelled`` are side branches.
MAIN_LINE: Final[tuple[OrderStatus, ...]] = (
    S.PENDING_PAYMENT,
    S.PAID,
    S.ALLOCATED,
    S.PICKING,
    S.PACKED,
    S.SHIPPED,
    S.IN_TRANSIT,
    S.DELIVERED,
    S.COMPLETED,
)
_RANK: Final = {status: rank for rank, status in enumerate(MAIN_LINE)}
#: Where a hold (``under_review``) can start: paid and not yet handed to a carrier.
_HOLDABLE: Final = frozenset({S.PAID, S.ALLOCATED, S.PICKING, S.PACKED})


# -- the map file's shape ------------------------------------------------------------------


def _native_code(value: Any) -> Any:
    """Native codes are strings; a YAML or JSON integer (``1:``) is read as its digits."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


NativeCode = Annotated[
    str, BeforeValidator(_native_code), StringConstraints(min_length=1, max_length=128)
]
FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
NodeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Meaning = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class LineAfterSaleState(StrEnum):
    """Where a line's after-sale stands.

    ``open``: asked for and not finished (do not ship the line). ``completed``: done
    (refunded, exchanged). ``closed``: ended without effect (rejected, withdrawn,
    failed); the line ships as usual. ``unknown``: the channel sent a value the map does
    not know; the line is held, but the order is not moved on a guess.
    """

    NONE = "none"
    OPEN = "open"
    COMPLETED = "completed"
    CLOSED = "closed"
    UNKNOWN = "unknown"


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


class _Target(_Spec):
    status: OrderStatus
    node: NodeName | None = None
    partial_shipment: bool = False


class _NativeStatus(_Target):
    meaning: Meaning


def _one_or_many(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


class _Combination(_Target):
    when: Annotated[
        dict[FieldName, Annotated[list[NativeCode], BeforeValidator(_one_or_many)]],
        Field(min_length=1),
    ]


def _bare_state(value: Any) -> Any:
    return {"state": value} if isinstance(value, str) else value


class _LineState(_Spec):
    state: LineAfterSaleState
    node: NodeName | None = None


class _LineStates(_Spec):
    source: Literal["line_detail", "line_attribute", "order_detail", "line_counts"]
    field: FieldName | None = None
    states: dict[NativeCode, Annotated[_LineState, BeforeValidator(_bare_state)]] = Field(
        default_factory=dict
    )
    open_field: FieldName | None = None
    completed_field: FieldName | None = None
    open_node: NodeName | None = None


class _ChannelSpec(_Spec):
    title: Meaning
    aliases: tuple[ChannelName, ...] = ()
    value_field: FieldName
    statuses: Annotated[dict[NativeCode, _NativeStatus], Field(min_length=1)]
    details: dict[FieldName, dict[NativeCode, Meaning]] = Field(default_factory=dict)
    combinations: tuple[_Combination, ...] = ()
    lines: _LineStates | None = None


class _MapsFile(_Spec):
    format: Literal[1]
    channels: Annotated[dict[ChannelName, _ChannelSpec], Field(min_length=1)]


# -- results -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class StatusMapping:
    """What one native channel status means in ordercore's vocabulary.

    Attributes:
        status: The canonical status; ``None`` when the map does not know the value.
        node: The atomic node within ``status``, if the status names one.
        implied_from: The detail field(s) that decided the status instead of the main
            value (``"refund_status"``; several are joined with ``+``), or ``None``.
        native: The channel status exactly as given (kept as sent).
        channel: The channel whose map was used (an alias resolved: ``tmall`` -> ``taobao``).
        known: Whether the map knows the main value.
        base_status: What the main value alone maps to (before any detail field).
        partial_shipment: Only some lines have shipped.
        unknown_details: Declared detail fields whose value the map does not know.
        replaces_nodes: The channel's other nodes under ``status``; one of them is
            cleared when this status arrives without a node.

    Examples:
        >>> m = map_channel_status("pdd", {"order_status": 1, "refund_status": 4})
        >>> m.status.value, m.node, m.implied_from
        ('cancelled', 'refunded_before_shipping', 'refund_status')
    """

    status: OrderStatus | None
    node: str | None
    implied_from: str | None = None
    native: ChannelStatus
    channel: str
    known: bool = True
    base_status: OrderStatus | None = None
    partial_shipment: bool = False
    unknown_details: tuple[str, ...] = ()
    replaces_nodes: frozenset[str] = frozenset()


class SkipReason(StrEnum):
    """Why an update left the order as it was."""

    REPEATED = "repeated"  # the same status and node again
    BACKWARDS = "backwards"  # late or out of order: the order is already further on
    CLOSED = "closed"  # the order is cancelled: nothing follows
    AFTER_SALE_OPEN = "after_sale_open"  # in after-sale, where fulfilment stood is unknown
    UNKNOWN = "unknown"  # the map does not know the native status


@dataclass(frozen=True, kw_only=True)
class StatusStep:
    """The outcome of applying one channel status to an order (:func:`next_status`).

    Attributes:
        previous: The status before.
        previous_node: The node before.
        status: The status after (``previous`` when the update was ignored).
        node: The node after.
        implied: Canonical statuses passed through without being seen, in order
            (``paid`` -> ``shipped`` implies ``allocated, picking, packed``).
        ignored: Why nothing changed, or ``None``.
        main: The furthest main-line status the order holds after the step; pass it
            back as ``main=`` with the next update (it says where fulfilment stood
            when the order went on hold or into after-sale).
    """

    previous: OrderStatus
    previous_node: str | None
    status: OrderStatus
    node: str | None
    implied: tuple[OrderStatus, ...] = ()
    ignored: SkipReason | None = None
    main: OrderStatus | None = None

    @property
    def moved(self) -> bool:
        """Whether the status changed."""
        return self.status != self.previous

    @property
    def changed(self) -> bool:
        """Whether the status or the node changed."""
        return self.moved or self.node != self.previous_node


@dataclass(frozen=True, kw_only=True)
class LineAfterSale:
    """One order line's after-sale state and what of it is still to ship.

    Attributes:
        line_id: The line (``OrderLine.line_id``).
        state: Its after-sale state.
        node: The after-sale node the channel's value names (``refund_requested``).
        native: The channel's own after-sale value for the line, when it has one.
        quantity: Units on the line.
        shipped_quantity: Units already handed to a carrier.
        after_sale_quantity: Units an open or completed after-sale covers.
        cancelled: The line's own channel status says the sub-order is closed.
    """

    line_id: str
    state: LineAfterSaleState
    node: str | None
    native: str | None
    quantity: int
    shipped_quantity: int
    after_sale_quantity: int
    cancelled: bool = False

    @property
    def unshipped_quantity(self) -> int:
        """Units not yet handed to a carrier."""
        return self.quantity - self.shipped_quantity

    @property
    def hold_quantity(self) -> int:
        """Unshipped units that must not be shipped (after-sale, closed or unknown)."""
        if self.cancelled or self.state is LineAfterSaleState.UNKNOWN:
            return self.unshipped_quantity
        return min(self.unshipped_quantity, self.after_sale_quantity)

    @property
    def to_ship_quantity(self) -> int:
        """Units still to ship once the after-sale is taken out."""
        if self.cancelled:
            return 0
        return self.unshipped_quantity - min(self.unshipped_quantity, self.after_sale_quantity)

    @property
    def do_not_ship(self) -> bool:
        """Whether the warehouse must hold (some of) this line."""
        return self.hold_quantity > 0


@dataclass(frozen=True, kw_only=True)
class OrderStatusMapping:
    """An order's canonical status read from its channel status and its lines.

    Attributes:
        mapping: The effective mapping: the order-level one, changed where the lines
            show the after-sale covers everything left to ship (``after_sale``), or
            that the channel's order-level after-sale covers only some lines (then the
            fulfilment status is kept). Pass it to :func:`next_status`.
        channel_mapping: The mapping of ``Order.channel_status`` alone.
        lines: Every line's after-sale state, in the order's line order.
        after_sale_covers_order: Some line has an open after-sale and no line has
            anything left to ship.
        do_not_ship: Lines the warehouse must hold (their after-sale is open or done,
            their sub-order is closed, or their after-sale value is unknown).
    """

    mapping: StatusMapping
    channel_mapping: StatusMapping
    lines: tuple[LineAfterSale, ...]
    after_sale_covers_order: bool
    do_not_ship: tuple[str, ...]

    @property
    def status(self) -> OrderStatus | None:
        """The effective canonical status (``None``: the native status is unknown)."""
        return self.mapping.status

    @property
    def node(self) -> str | None:
        """The effective node."""
        return self.mapping.node


# -- loading -----------------------------------------------------------------------------


def _compose(text: str, source: str) -> tuple[Any, dict[tuple[Any, ...], int]]:
    """Parse YAML into plain data plus the 1-based line of every mapping key and item."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise LifecycleSpecError(
            f"{_where(source, line)}: not valid YAML: {problem}", source=source, line=line
        ) from None
    lines: dict[tuple[Any, ...], int] = {}
    constructor = yaml.constructor.SafeConstructor()

    def build(node: yaml.Node, path: tuple[Any, ...]) -> Any:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    raise _spec_error(source, path, "a key must be a plain value", line)
                key = constructor.construct_object(key_node)
                if key in out:
                    raise _spec_error(source, (*path, key), "is given twice", line)
                lines[(*path, key)] = line
                out[key] = build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [build(item, (*path, index)) for index, item in enumerate(node.value)]
        return constructor.construct_object(node)

    if root is None:
        return None, lines
    try:
        return build(root, ()), lines
    except RecursionError:
        raise LifecycleSpecError(f"{source}: nested too deeply", source=source, line=None) from None
    except yaml.YAMLError as exc:  # a scalar that cannot be built (a bad !!timestamp...)
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise LifecycleSpecError(
            f"{_where(source, line)}: not valid YAML: {getattr(exc, 'problem', None)}",
            source=source,
            line=line,
        ) from None


def _where(source: str, line: int | None) -> str:
    return f"{source}, line {line}" if line is not None else source


def _entry_text(path: tuple[Any, ...]) -> tuple[str | None, str]:
    """``("channels", "pdd", "statuses", "1", "status")`` -> ``("pdd", "statuses.1.status")``."""
    parts = [redact(str(part), limit=64) for part in path]
    if len(parts) >= 2 and parts[0] == "channels":
        return parts[1], ".".join(parts[2:])
    return None, ".".join(parts)


def _spec_error(
    source: str, path: tuple[Any, ...], problem: str, line: int | None
) -> LifecycleSpecError:
    channel, entry = _entry_text(path)
    where = _where(source, line)
    if channel is not None:
        what = f"channel {channel!r}" + (f", entry {entry}" if entry else "")
    else:
        what = f"entry {entry}" if entry else "the file"
    return LifecycleSpecError(
        f"{where}: {what}: {problem}",
        source=source,
        line=line,
        field=".".join(str(part) for part in path) or None,
    )


def _line_of(path: tuple[Any, ...], lines: Mapping[tuple[Any, ...], int]) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


def _from_validation(
    exc: ValidationError, source: str, lines: Mapping[tuple[Any, ...], int]
) -> LifecycleSpecError:
    errors = exc.errors(include_input=False, include_url=False)
    first = errors[0]
    path = tuple(part for part in first["loc"] if part != "[key]")
    problem = first["msg"]
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return _spec_error(source, path, f"{problem}{more}", _line_of(path, lines))


def _cross_check(maps: _MapsFile, source: str, lines: Mapping[tuple[Any, ...], int]) -> None:
    """What the models alone cannot see: names that must refer to declared entries."""
    problems: list[tuple[tuple[Any, ...], str]] = []
    owners: dict[str, str] = {name: name for name in maps.channels}
    for name, spec in maps.channels.items():
        base: tuple[Any, ...] = ("channels", name)
        for index, alias in enumerate(spec.aliases):
            if alias in owners and owners[alias] != name:
                problems.append(
                    ((*base, "aliases", index), f"alias {alias!r} is already {owners[alias]!r}")
                )
            owners.setdefault(alias, name)
        for index, combination in enumerate(spec.combinations):
            at = (*base, "combinations", index, "when")
            for field, values in combination.when.items():
                if field == spec.value_field:
                    known: Iterable[str] = spec.statuses
                elif field in spec.details:
                    known = spec.details[field]
                else:
                    problems.append(
                        (
                            (*at, field),
                            f"names {field!r}, which is neither the value_field "
                            f"{spec.value_field!r} nor a declared detail field",
                        )
                    )
                    continue
                for value in values:
                    if value not in set(known):
                        problems.append(
                            ((*at, field), f"value {value!r} of {field!r} is not declared")
                        )
        if spec.lines is not None:
            at = (*base, "lines")
            if spec.lines.source == "line_counts":
                if spec.lines.open_field is None:
                    problems.append((at, "source line_counts needs open_field"))
                if spec.lines.field is not None or spec.lines.states:
                    problems.append(
                        (
                            at,
                            "source line_counts takes open_field and "
                            "completed_field, not field and states",
                        )
                    )
            else:
                if spec.lines.field is None:
                    problems.append((at, f"source {spec.lines.source} needs field"))
                if not spec.lines.states:
                    problems.append((at, f"source {spec.lines.source} needs states"))
    if problems:
        path, problem = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise _spec_error(source, path, problem + more, _line_of(path, lines))


# -- the map -------------------------------------------------------------------------------


class ChannelStatusMap:
    """Every channel's status map, validated; maps native statuses and whole orders.

    Load one with :meth:`from_file`, :meth:`from_yaml` or :meth:`from_dict`; the maps that
    ship with ordercore are :func:`channel_maps`. Every load error is a
    :class:`~ordercore.errors.LifecycleSpecError` naming the file, the line, the channel
    and the entry.

    Examples:
        >>> maps = channel_maps()
        >>> maps.map("tmall", "WAIT_SELLER_SEND_GOODS").status.value
        'paid'
        >>> "SELLER_CONSIGNED_PART" in maps.native_statuses("taobao")
        True
    """

    def __init__(self, spec: _MapsFile, *, source: str = "<dict>") -> None:
        self._spec = spec
        self.source = source
        self._names: dict[str, str] = {}
        for name, channel in spec.channels.items():
            self._names[name] = name
            for alias in channel.aliases:
                self._names.setdefault(alias, name)
        self._nodes: dict[tuple[str, OrderStatus], frozenset[str]] = {}
        for name, channel in spec.channels.items():
            found: dict[OrderStatus, set[str]] = {}
            for target in (*channel.statuses.values(), *channel.combinations):
                if target.node is not None:
                    found.setdefault(target.status, set()).add(target.node)
            for status, nodes in found.items():
                self._nodes[(name, status)] = frozenset(nodes)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "<dict>") -> ChannelStatusMap:
        """Validate maps given as plain data (parsed YAML or JSON).

        Raises:
            LifecycleSpecError: the data is not a valid map; names channel and entry.
        """
        return cls._validated(data, source, {})

    @classmethod
    def from_yaml(cls, text: str, *, source: str = "<string>") -> ChannelStatusMap:
        """Validate maps written as YAML text.

        Raises:
            LifecycleSpecError: not YAML, or not a valid map; names line, channel and entry.
        """
        data, lines = _compose(text, source)
        return cls._validated(data, source, lines)

    @classmethod
    def from_file(cls, path: str | Path) -> ChannelStatusMap:
        """Read and validate a map file (YAML; JSON is YAML too).

        Raises:
            LifecycleSpecError: the file cannot be read, or is not a valid map.
        """
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise LifecycleSpecError(
                f"{source}: cannot read the channel map file: {reason}", source=source
            ) from None
        return cls.from_yaml(text, source=source)

    @classmethod
    def _validated(
        cls, data: Any, source: str, lines: Mapping[tuple[Any, ...], int]
    ) -> ChannelStatusMap:
        try:
            spec = _MapsFile.model_validate(data)
        except ValidationError as exc:
            raise _from_validation(exc, source, lines) from None
        _cross_check(spec, source, lines)
        return cls(spec, source=source)

    # -- what the maps hold

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels that have a map (aliases not included)."""
        return tuple(self._spec.channels)

    def channel_name(self, channel: str) -> str:
        """The channel a name or alias stands for (``tmall`` -> ``taobao``).

        Raises:
            ConfigurationError: no map has that channel.
        """
        try:
            return self._names[channel]
        except (KeyError, TypeError):
            known = ", ".join(sorted(self._names))
            raise ConfigurationError(
                f"no channel status map for channel {safe_repr(channel)} in "
                f"{self.source} (maps exist for: {known})"
            ) from None

    def native_statuses(self, channel: str) -> tuple[str, ...]:
        """Every native value of the channel's main status field, as the map lists them."""
        return tuple(self._channel(channel).statuses)

    def detail_values(self, channel: str, field: str) -> tuple[str, ...]:
        """The declared values of one of the channel's other status fields."""
        return tuple(self._channel(channel).details.get(field, {}))

    def value_field(self, channel: str) -> str:
        """The native field ``ChannelStatus.value`` holds for the channel (``order_status``)."""
        return self._channel(channel).value_field

    def _channel(self, channel: str) -> _ChannelSpec:
        return self._spec.channels[self.channel_name(channel)]

    # -- mapping

    def map(
        self,
        channel: str,
        channel_status: ChannelStatus | Mapping[str, Any] | str,
        *,
        details: Mapping[str, Any] | None = None,
    ) -> StatusMapping:
        """Map one native status; see :func:`map_channel_status`."""
        name = self.channel_name(channel)
        spec = self._spec.channels[name]
        native = _native(name, spec, channel_status, details)
        unknown = tuple(
            field
            for field, values in spec.details.items()
            if field in native.details and native.details[field] not in values
        )
        entry = spec.statuses.get(native.value)
        if entry is None:
            return StatusMapping(
                status=None,
                node=None,
                native=native,
                channel=name,
                known=False,
                unknown_details=unknown,
            )
        fields = {**native.details, spec.value_field: native.value}
        target: _Target = entry
        implied_from = None
        for combination in spec.combinations:
            if all(fields.get(field) in values for field, values in combination.when.items()):
                target = combination
                implied_from = "+".join(f for f in combination.when if f != spec.value_field)
                break
        return StatusMapping(
            status=target.status,
            node=target.node,
            implied_from=implied_from or None,
            native=native,
            channel=name,
            base_status=entry.status,
            partial_shipment=target.partial_shipment,
            unknown_details=unknown,
            replaces_nodes=self._replaces(name, target.status, target.node),
        )

    def _replaces(self, channel: str, status: OrderStatus, node: str | None) -> frozenset[str]:
        return self._nodes.get((channel, status), frozenset()) - {node}

    def map_order(self, order: Order) -> OrderStatusMapping:
        """Map an order from its channel status and its lines; see :func:`map_order_status`."""
        name = self.channel_name(order.channel)
        spec = self._spec.channels[name]
        order_level = self.map(name, order.channel_status)
        entry = spec.statuses.get(order.channel_status.value)
        # Where shipping stands: the mapping's own status when it is on the main line
        # (Shopify's fulfillment_status), else its main value's (under an after-sale).
        shipping: _Target | StatusMapping | None = (
            order_level if order_level.status in _RANK else entry
        )
        fully_shipped = (
            shipping is not None
            and shipping.status in _RANK
            and _RANK[shipping.status] >= _RANK[S.SHIPPED]
            and not shipping.partial_shipment
        )
        packed: dict[str, int] = {}
        for shipment in order.shipments:
            for package in shipment.packages:
                for item in package.lines:
                    packed[item.line_id] = packed.get(item.line_id, 0) + item.quantity
        named = {line_id for case in order.after_sales for line_id in case.line_ids}
        lines = tuple(
            _line_after_sale(order, line, spec, fully_shipped, packed, named)
            for line in order.lines
        )
        open_lines = [line for line in lines if line.state is LineAfterSaleState.OPEN]
        remaining = any(line.to_ship_quantity > 0 for line in lines)
        covers = bool(open_lines) and not remaining
        effective = order_level
        status = order_level.status
        if status is not None and status is not S.CANCELLED:
            if covers and status is not S.AFTER_SALE:
                effective = self._with(order_level, S.AFTER_SALE, open_lines[0].node)
            elif (
                status is S.AFTER_SALE
                and order_level.implied_from is not None
                and entry is not None
                and remaining
                and any(
                    line.state in (LineAfterSaleState.OPEN, LineAfterSaleState.COMPLETED)
                    for line in lines
                )
            ):
                # The channel's order-level after-sale covers only some lines: the
                # order keeps its fulfilment status and the lines carry the after-sale.
                effective = self._with(order_level, entry.status, entry.node)
        return OrderStatusMapping(
            mapping=effective,
            channel_mapping=order_level,
            lines=lines,
            after_sale_covers_order=covers,
            do_not_ship=tuple(line.line_id for line in lines if line.do_not_ship),
        )

    def _with(self, mapping: StatusMapping, status: OrderStatus, node: str | None) -> StatusMapping:
        return dataclasses.replace(
            mapping,
            status=status,
            node=node,
            replaces_nodes=self._replaces(mapping.channel, status, node),
        )


def _native(
    channel: str,
    spec: _ChannelSpec,
    channel_status: ChannelStatus | Mapping[str, Any] | str,
    details: Mapping[str, Any] | None,
) -> ChannelStatus:
    """The native status as a ChannelStatus, whichever of the accepted forms it came in."""
    extra = {str(k): _detail_text(channel, str(k), v) for k, v in (details or {}).items()}
    extra = {k: v for k, v in extra.items() if v is not None}
    if isinstance(channel_status, ChannelStatus):
        if not extra:
            return channel_status
        return ChannelStatus(
            value=channel_status.value, details={**channel_status.details, **extra}
        )
    if isinstance(channel_status, str):
        return ChannelStatus(value=channel_status, details=extra)
    if isinstance(channel_status, Mapping):
        if "value" in channel_status and spec.value_field not in channel_status:
            given = ChannelStatus.model_validate(dict(channel_status))
            return ChannelStatus(value=given.value, details={**given.details, **extra})
        if spec.value_field not in channel_status:
            raise ConfigurationError(
                f"a native status of channel {channel!r} needs its {spec.value_field!r} "
                "field (or a ChannelStatus shape with 'value')"
            )
        fields = {str(k): _detail_text(channel, str(k), v) for k, v in channel_status.items()}
        value = fields.pop(spec.value_field)
        if value is None:
            raise ConfigurationError(
                f"the {spec.value_field!r} of a channel {channel!r} status is empty"
            )
        kept = {k: v for k, v in fields.items() if v is not None}
        return ChannelStatus(value=value, details={**kept, **extra})
    raise ConfigurationError(
        f"a channel status must be a ChannelStatus, a mapping or a string, "
        f"not {type(channel_status).__name__}"
    )


def _detail_text(channel: str, field: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise ConfigurationError(
        f"status field {safe_repr(field)} of channel {channel!r} must be a string or a whole "
        f"number, not {type(value).__name__}"
    )


def _line_after_sale(
    order: Order,
    line: OrderLine,
    spec: _ChannelSpec,
    fully_shipped: bool,
    packed: Mapping[str, int],
    named: set[str],
) -> LineAfterSale:
    own = spec.statuses.get(line.channel_status.value) if line.channel_status else None
    cancelled = own is not None and own.status is S.CANCELLED
    own_shipped = (
        own is not None
        and own.status in _RANK
        and _RANK[own.status] >= _RANK[S.SHIPPED]
        and not own.partial_shipment
    )
    if fully_shipped or own_shipped:
        shipped = line.quantity
    else:
        shipped = min(line.quantity, packed.get(line.line_id, 0))

    state, node, native, covered = LineAfterSaleState.NONE, None, None, 0
    states = spec.lines
    if states is not None and states.source == "line_counts":
        open_units = _int_attribute(line, states.open_field)
        done_units = _int_attribute(line, states.completed_field)
        if open_units > 0:
            state, node = LineAfterSaleState.OPEN, states.open_node
        elif done_units > 0:
            state = LineAfterSaleState.COMPLETED
        covered = min(line.quantity, open_units + done_units)
    elif states is not None and states.field is not None:
        if states.source == "line_detail":
            native = line.channel_status.details.get(states.field) if line.channel_status else None
        elif states.source == "line_attribute":
            found = line.attributes.get(states.field)
            value = getattr(found, "value", None)
            native = _native_code(value) if isinstance(value, str | int) else None
            native = native if isinstance(native, str) else None
        elif not named or line.line_id in named:  # order_detail
            native = order.channel_status.details.get(states.field)
        if native is not None:
            known = states.states.get(native)
            if known is None:
                state = LineAfterSaleState.UNKNOWN
            else:
                state, node = known.state, known.node
            if state in (LineAfterSaleState.OPEN, LineAfterSaleState.COMPLETED):
                covered = line.quantity
    return LineAfterSale(
        line_id=line.line_id,
        state=state,
        node=node,
        native=native,
        quantity=line.quantity,
        shipped_quantity=shipped,
        after_sale_quantity=covered,
        cancelled=cancelled,
    )


def _int_attribute(line: OrderLine, name: str | None) -> int:
    if name is None:
        return 0
    value = getattr(line.attributes.get(name), "value", None)
    if isinstance(value, int) and not isinstance(value, bool):
        return max(0, value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


@functools.cache
def channel_maps() -> ChannelStatusMap:
    """The channel status maps that ship with ordercore (read once, then cached).

    Raises:
        LifecycleSpecError: the packaged file is damaged.
    """
    return ChannelStatusMap.from_file(DEFAULT_CHANNEL_MAPS)


def load_channel_maps(path: str | Path) -> ChannelStatusMap:
    """Read a seller's own channel map file in place of the packaged one.

    Raises:
        LifecycleSpecError: the file cannot be read or is not a valid map.
    """
    return ChannelStatusMap.from_file(path)


def map_channel_status(
    channel: str,
    channel_status: ChannelStatus | Mapping[str, Any] | str,
    *,
    details: Mapping[str, Any] | None = None,
    maps: ChannelStatusMap | None = None,
) -> StatusMapping:
    """Map one native channel status to a canonical status and node.

    ``channel_status`` is a :class:`~ordercore.schema.ChannelStatus`, a string (the main
    value), a ``{"value": ..., "details": {...}}`` mapping, or the channel's own fields
    (``{"order_status": 1, "refund_status": 2}``; integers are read as their digits).
    ``details`` adds or overrides detail fields. Combinations of the main value with
    detail fields are checked first, in the map's order.

    Args:
        channel: The channel (``Order.channel``) or an alias (``tmall``).
        channel_status: The native status.
        details: More native status fields.
        maps: The maps to use; the packaged ones by default.

    Returns:
        The mapping; ``known=False`` and ``status=None`` when the main value is not in
        the map (nothing is raised: the raw status is kept in ``native``).

    Raises:
        ConfigurationError: no map for ``channel``, or ``channel_status`` lacks the
            channel's main field or has a value that is neither text nor a whole number.
    """
    return (maps or channel_maps()).map(channel, channel_status, details=details)


def map_order_status(order: Order, *, maps: ChannelStatusMap | None = None) -> OrderStatusMapping:
    """Map an order from its channel status and its lines' after-sale states.

    A line's after-sale state comes from where the map's ``lines`` section says
    (a line's channel status detail, a line attribute, the order's status detail for
    the lines its after-sale cases name, or per-line unit counts). Then:

    * the order enters ``after_sale`` only when some line has an open after-sale and
      no line has units left to ship (shipped units and units under after-sale do not
      count as left);
    * when the channel's order-level status says after-sale through a detail field
      (Pinduoduo ``refund_status``, Xiaohongshu ``orderAfterSalesStatus``) but the
      lines show other units still to ship, the order keeps the status of its main value;
    * a cancelled order stays cancelled; lines whose after-sale is open or completed,
      whose sub-order is closed, or whose after-sale value is unknown are listed in
      ``do_not_ship``.

    Raises:
        ConfigurationError: no map for ``order.channel``.
    """
    return (maps or channel_maps()).map_order(order)


# -- never backwards ---------------------------------------------------------------------


def _between(low: OrderStatus, high: OrderStatus) -> tuple[OrderStatus, ...]:
    return MAIN_LINE[_RANK[low] + 1 : _RANK[high]]


def next_status(
    current: OrderStatus,
    mapped: StatusMapping | OrderStatusMapping | OrderStatus,
    *,
    node: str | None = None,
    main: OrderStatus | None = None,
) -> StatusStep:
    """Apply a channel status to an order's current status, never going backwards.

    Rules:

    * Main line: ``pending_payment < paid < allocated < picking < packed < shipped <
      in_transit < delivered < completed``. A status further on is taken and the
      statuses jumped over are ``implied`` (``paid`` -> ``shipped``: ``allocated,
      picking, packed``); an earlier one (a late ``paid`` after ``shipped``) is ignored
      as ``backwards``; the same one again as ``repeated``.
    * ``cancelled`` is reached from any status and is final: nothing after it is taken.
      From ``shipped`` on it implies ``after_sale`` (goods went out, so a refund closed it).
    * ``after_sale`` is reached from any status but ``cancelled`` (from
      ``pending_payment`` it implies ``paid``; when the channel's main value alone
      is further on the main line, as PDD ``order_status`` 2 with a
      ``refund_status``, the statuses up to it are implied, so the shipment is kept).
      It is left for ``completed`` or ``cancelled``, or for a main-line status at or
      beyond ``main`` (the after-sale
      ended and fulfilment goes on); with ``main`` unknown only for the first two.
    * ``under_review`` (a hold) is reached from ``paid`` up to ``packed`` (from
      ``pending_payment`` it implies ``paid``), never once goods left. It is released
      to a main-line status at or beyond ``main`` (``paid`` when unknown).
    * Within one status, an update naming a node sets it; one naming none clears only
      a node of the channel's own map (``replaces_nodes``), so nodes ordercore set
      itself (``logistics_stuck``) stay.
    * An unknown native status (``known=False``) changes nothing.

    Args:
        current: The order's status.
        mapped: What the channel now says.
        node: The order's current node.
        main: Where fulfilment stood when the order entered its hold or after-sale
            (the previous step's ``main``); ignored on the main line.

    Returns:
        The step: the status and node after it, what it implied, or why it was ignored.

    Raises:
        ConfigurationError: ``current``, ``mapped`` or ``main`` is not an OrderStatus.

    Examples:
        >>> step = next_status(OrderStatus.PAID, OrderStatus.SHIPPED)
        >>> [s.value for s in step.implied]
        ['allocated', 'picking', 'packed']
        >>> next_status(OrderStatus.SHIPPED, OrderStatus.PAID).ignored.value
        'backwards'
    """
    current = _status_of(current)
    if isinstance(mapped, OrderStatusMapping):
        mapped = mapped.mapping
    base: OrderStatus | None = None
    if isinstance(mapped, StatusMapping):
        if mapped.status is None:
            return _stay(current, node, main, SkipReason.UNKNOWN)
        new, new_node, replaces = mapped.status, mapped.node, mapped.replaces_nodes
        base = mapped.base_status
    else:
        new, new_node, replaces = _status_of(mapped), None, frozenset()
    if main is not None:
        main = _status_of(main)

    if current in _RANK:
        main = current
    elif current is S.UNDER_REVIEW and main is None:
        main = S.PAID

    if new is current:
        if new_node is not None and new_node != node:
            return _go(current, node, new, new_node, (), main)
        if new_node is None and node is not None and node in replaces:
            return _go(current, node, new, None, (), main)
        return _stay(current, node, main, SkipReason.REPEATED)
    if current is S.CANCELLED:
        return _stay(current, node, main, SkipReason.CLOSED)

    if new is S.CANCELLED:
        gone = current in _RANK and _RANK[current] >= _RANK[S.SHIPPED]
        return _go(current, node, new, new_node, (S.AFTER_SALE,) if gone else (), main)
    if new is S.AFTER_SALE:
        if base in _RANK and current in _RANK and _RANK[base] > _RANK[current]:
            # The main value says how far fulfilment got (PDD order_status 2 with a
            # refund_status): those statuses are implied on the way into after-sale.
            return _go(current, node, new, new_node, (*_between(current, base), base), base)
        paid_first: tuple[OrderStatus, ...] = (S.PAID,) if current is S.PENDING_PAYMENT else ()
        return _go(current, node, new, new_node, paid_first, S.PAID if paid_first else main)
    if new is S.UNDER_REVIEW:
        if current is S.PENDING_PAYMENT:
            return _go(current, node, new, new_node, (S.PAID,), S.PAID)
        if current in _HOLDABLE:
            return _go(current, node, new, new_node, (), main)
        return _stay(current, node, main, SkipReason.BACKWARDS)
    if new not in _RANK:  # a status added to OrderStatus that these rules do not place
        return _stay(current, node, main, SkipReason.UNKNOWN)

    # new is on the main line
    if current in _RANK:
        if _RANK[new] > _RANK[current]:
            return _go(current, node, new, new_node, _between(current, new), new)
        return _stay(current, node, main, SkipReason.BACKWARDS)
    if current is S.AFTER_SALE and main is None:
        if new is S.COMPLETED:
            return _go(current, node, new, new_node, (), new)
        return _stay(current, node, main, SkipReason.AFTER_SALE_OPEN)
    if main is not None and _RANK[new] >= _RANK[main]:
        implied = _between(main, new) if _RANK[new] > _RANK[main] else ()
        return _go(current, node, new, new_node, implied, new)
    return _stay(current, node, main, SkipReason.BACKWARDS)


def _status_of(value: Any) -> OrderStatus:
    try:
        return OrderStatus(value)
    except ValueError:
        raise ConfigurationError(
            f"{safe_repr(value)} is not a canonical order status "
            f"({', '.join(s.value for s in OrderStatus)})"
        ) from None


def _go(
    current: OrderStatus,
    node: str | None,
    new: OrderStatus,
    new_node: str | None,
    implied: tuple[OrderStatus, ...],
    main: OrderStatus | None,
) -> StatusStep:
    return StatusStep(
        previous=current,
        previous_node=node,
        status=new,
        node=new_node,
        implied=implied,
        main=main,
    )


def _stay(
    current: OrderStatus, node: str | None, main: OrderStatus | None, reason: SkipReason
) -> StatusStep:
    return StatusStep(
        previous=current,
        previous_node=node,
        status=current,
        node=node,
        ignored=reason,
        main=main,
    )


def is_forward(
    current: OrderStatus,
    new: StatusMapping | OrderStatus,
    *,
    main: OrderStatus | None = None,
) -> bool:
    """Whether moving from ``current`` to ``new`` is a step forward (see :func:`next_status`).

    Examples:
        >>> is_forward(OrderStatus.PAID, OrderStatus.SHIPPED)
        True
        >>> is_forward(OrderStatus.SHIPPED, OrderStatus.PAID)
        False
    """
    return next_status(current, new, main=main).moved


def replay_statuses(
    current: OrderStatus,
    updates: Iterable[StatusMapping | OrderStatusMapping | OrderStatus],
    *,
    node: str | None = None,
    main: OrderStatus | None = None,
) -> tuple[StatusStep, ...]:
    """Apply channel statuses one after another (status, node and ``main`` carried on).

    Examples:
        >>> steps = replay_statuses(OrderStatus.PENDING_PAYMENT, [
        ...     OrderStatus.SHIPPED, OrderStatus.PAID, OrderStatus.COMPLETED])
        >>> [(s.status.value, s.ignored) for s in steps][1]
        ('shipped', <SkipReason.BACKWARDS: 'backwards'>)
    """
    steps = []
    for update in updates:
        step = next_status(current, update, node=node, main=main)
        steps.append(step)
        current, node, main = step.status, step.node, step.main
    return tuple(steps)
