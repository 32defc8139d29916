"""The actions a rule can ask for, and applying a decision to its order.

Each action is a small frozen model: its parameters are validated when the rule set
loads, :meth:`~ordercore.rules.Action.resolve` settles what depends on the context
(stock, carrier health, the time) when the rule set is evaluated, and
:meth:`~ordercore.rules.Action.apply` returns the changed order. Applying never looks
at the context again, so a decision applied later gives the same order.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from ordercore.money import Money
from ordercore.rules._action_base import ACTIONS, Action
from ordercore.rules._syntax import DURATION_UNITS
from ordercore.schema import OrderLine, attribute

if TYPE_CHECKING:
    from ordercore.rules._context import RuleContext
    from ordercore.rules._decision import Decision
    from ordercore.schema import Order

__all__ = [
    "AddGift",
    "Backorder",
    "ChooseCarrier",
    "FreeShipping",
    "Freeze",
    "Hold",
    "Notify",
    "ProductionLine",
    "Route",
    "SetCarrier",
    "ShippingFee",
    "Split",
    "Tag",
    "apply_decision",
    "parse_action",
]

_Name = Annotated[str, Field(min_length=1, max_length=64)]
_Words = Annotated[str, Field(min_length=1, max_length=500)]
_DURATION = re.compile(r"^\s*(\d{1,9})\s*([smhd])\s*$")

#: Tags the actions add, for conditions and dashboards.
TAG_SPLIT = "split"
TAG_REVIEW = "review"
TAG_FROZEN = "frozen"
TAG_BLOCKED = "blocked"


def _duration(value: object) -> object:
    """``"24h"``, ``"30m"``, ``"7d"``, ``"90s"`` or whole seconds, as a timedelta."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("a duration is written like 24h, 30m, 7d or 90s")
    if isinstance(value, int):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return timedelta(seconds=int(match.group(1)) * DURATION_UNITS[match.group(2)])
    raise ValueError("a duration is written like 24h, 30m, 7d or 90s")


def _with_line_attributes(line: OrderLine, **values: Any) -> OrderLine:
    attributes = dict(line.attributes)
    for key, value in values.items():
        attributes[key] = attribute(value)
    return line.evolve(attributes=attributes)


def _backordered(line: OrderLine) -> bool:
    found = line.attributes.get("backorder")
    return found is not None and found.value is True


def _ship_later(order: Order, line_ids: set[str], *, rule: str) -> Order:
    """Mark ``line_ids`` as backordered, the order as shipping the rest now, tag ``split``."""
    if not line_ids:
        return order
    lines = tuple(
        _with_line_attributes(line, backorder=True, backorder_rule=rule)
        if line.line_id in line_ids and not _backordered(line)
        else line
        for line in order.lines
    )
    changed = order.evolve(lines=lines).with_attribute("ship_later", True)
    return changed.with_tags(TAG_SPLIT)


# -- tags and routing (D16) -----------------------------------------------------------------


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

    warehouse: _Name

    def apply(self, order: Order, *, rule: str) -> Order:
        return order.with_attribute("warehouse", self.warehouse)


class ProductionLine(Action):
    """``production_line: {line: C}``: make the order on a production line (D16, engraving)."""

    name = "production_line"
    slot = "production_line"
    shortcut = "line"

    line: _Name

    def apply(self, order: Order, *, rule: str) -> Order:
        return order.with_attribute("production_line", self.line)


# -- gifts (D13, D15, D5) -------------------------------------------------------------------


class AddGift(Action):
    """``add_gift: {sku: PIL-001, quantity: 1, title: Pillow}``: a zero-price gift line (D13).

    The line goes to the order the rule matched and to no other, even when that order
    ships together with others (D5): the decision names its order and the line carries
    ``gift_for_order`` and ``gift_rule`` attributes a merge can keep it by.

    ``if_out_of_stock`` says what happens when the context's stock has fewer than
    ``quantity`` units of the gift (D15); unknown stock counts as enough:

    - ``ship_later`` (default): add the line, marked ``backorder``; the rest ships now and
      the order is tagged ``split``;
    - ``drop``: leave the gift out;
    - ``block``: add the line and tag the order ``blocked`` so it waits for the gift.
    """

    name = "add_gift"
    shortcut = "sku"
    settled = frozenset({"available"})

    sku: _Name
    quantity: Annotated[int, Field(ge=1, le=1000)] = 1
    title: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    if_out_of_stock: Literal["ship_later", "drop", "block"] = "ship_later"
    #: Units of the gift the context had when the rule matched (None: unknown).
    available: int | None = None

    def resolve(self, order: Order, context: RuleContext) -> Action:
        stock = context.stock
        if stock is None:
            return self
        return self.settle(available=stock.available(self.sku, None))

    @property
    def short(self) -> bool:
        """Whether the context had fewer units of the gift than the rule gives."""
        return self.available is not None and self.available < self.quantity

    def line_id(self, rule: str) -> str:
        """The gift line's id on the order: stable, so applying twice adds one line."""
        return f"gift:{rule}:{self.sku}"[:128]

    def apply(self, order: Order, *, rule: str) -> Order:
        if self.short and self.if_out_of_stock == "drop":
            return order
        line_id = self.line_id(rule)
        if any(line.line_id == line_id for line in order.lines):
            return order
        zero = Money.zero(order.currency)
        gift = OrderLine(
            line_id=line_id,
            sku=self.sku,
            title=self.title or self.sku,
            quantity=self.quantity,
            unit_price=zero,
            paid=zero,
            adjustment=zero,
            is_gift=True,
            attributes={
                "gift_rule": attribute(rule),
                "gift_for_order": attribute(order.id),
            },
        )
        changed = order.evolve(lines=(*order.lines, gift))
        if not self.short:
            return changed
        if self.if_out_of_stock == "block":
            return changed.with_attribute("blocked_by", rule).with_tags(TAG_BLOCKED)
        return _ship_later(changed, {line_id}, rule=rule)

    def describe(self) -> str:
        text = super().describe()
        if self.short:
            outcome = {
                "ship_later": "ships later",
                "drop": "dropped",
                "block": "order blocked",
            }[self.if_out_of_stock]
            text += f" (out of stock: {self.available} available, {outcome})"
        return text


# -- shipping (D14) -------------------------------------------------------------------------


def _set_shipping(order: Order, shipping: Money, *, rule: str) -> Order:
    amounts = order.amounts
    difference = shipping - amounts.shipping
    paid = amounts.paid + difference
    if paid.amount < 0:
        paid = Money.zero(order.currency)
    changed = order.evolve(amounts=amounts.evolve(shipping=shipping, paid=paid))
    return changed.with_attribute("shipping_rule", rule)


class FreeShipping(Action):
    """``free_shipping:``: shipping becomes zero and ``paid`` drops by the old shipping (D14).

    The threshold belongs in the condition, which can count coupons
    (``order.amounts.goods - order.amounts.discount_total``) and the orders shipping
    together (``sum(o in combined, ...)``).
    """

    name = "free_shipping"
    slot = "shipping"

    def apply(self, order: Order, *, rule: str) -> Order:
        return _set_shipping(order, Money.zero(order.currency), rule=rule)


class ShippingFee(Action):
    """``shipping_fee: {amount: 8.00}``: charge this shipping; ``paid`` moves by the difference."""

    name = "shipping_fee"
    slot = "shipping"
    shortcut = "amount"

    amount: Annotated[Decimal, Field(ge=0, le=100_000, max_digits=12, decimal_places=2)]

    @field_validator("amount", mode="before")
    @classmethod
    def _no_float(cls, value: object) -> object:
        # YAML reads 8.00 as a float; its text is what the author wrote.
        return str(value) if isinstance(value, float) else value

    def apply(self, order: Order, *, rule: str) -> Order:
        return _set_shipping(order, Money(self.amount, order.currency), rule=rule)


# -- splitting and backorders (D15) ---------------------------------------------------------


class Split(Action):
    """``split: {by: stock}``: lines whose stock is short ship later, the rest now (D15).

    Lines of one SKU are summed before the check, so two lines of 1 unit with 1 in
    stock leave the SKU short. With no stock in the context nothing is short.
    Applying marks the short lines ``backorder``, sets the order's ``ship_later``
    attribute and tags it ``split``; the lifecycle or the warehouse makes the parcels.
    """

    name = "split"
    shortcut = "by"
    settled = frozenset({"later"})

    by: Literal["stock"] = "stock"
    #: The line ids short of stock when the rule matched.
    later: tuple[str, ...] = ()

    def resolve(self, order: Order, context: RuleContext) -> Action:
        stock = context.stock
        if stock is None:
            return self
        wanted: dict[str, int] = {}
        for line in order.lines:
            wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
        short = set()
        for sku, quantity in wanted.items():
            available = stock.available(sku, None)
            if available is not None and available < quantity:
                short.add(sku)
        later = tuple(line.line_id for line in order.lines if line.sku in short)
        return self.settle(later=later)

    def apply(self, order: Order, *, rule: str) -> Order:
        present = {line.line_id for line in order.lines}
        return _ship_later(order, {i for i in self.later if i in present}, rule=rule)

    def describe(self) -> str:
        later = ", ".join(self.later) if self.later else "nothing short"
        return f"split by={self.by} (ships later: {later})"


class Backorder(Action):
    """``backorder: {sku: PIL-001}``: the SKU's lines ship later, the rest now (D15)."""

    name = "backorder"
    shortcut = "sku"

    sku: _Name

    def apply(self, order: Order, *, rule: str) -> Order:
        ids = {line.line_id for line in order.lines if line.sku == self.sku}
        return _ship_later(order, ids, rule=rule)


# -- review and risk (D17, D18) -------------------------------------------------------------

HoldReasonName = Literal["risk", "customer_service", "finance", "address", "amount"]


class Hold(Action):
    """``hold: {reason: address, note: vague address}``: hold the order for review (D17).

    Applying tags the order ``review`` and records ``hold_reason`` (one of the
    lifecycle's :class:`~ordercore.lifecycle.HoldReason` values) and ``hold_note``;
    the caller puts the lifecycle hold on with ``ordercore.lifecycle.hold``.
    """

    name = "hold"
    shortcut = "reason"

    reason: HoldReasonName
    note: _Words | None = None

    def apply(self, order: Order, *, rule: str) -> Order:
        changed = order.with_attribute("hold_reason", self.reason).with_attribute("hold_rule", rule)
        if self.note is not None:
            changed = changed.with_attribute("hold_note", self.note)
        return changed.with_tags(TAG_REVIEW)


class Freeze(Action):
    """``freeze: {subject: phone, alert: "...", hours: 24}``: freeze a buyer or phone (D18).

    Applying tags the order ``frozen`` and records what is frozen, the alert and
    ``frozen_until`` (the evaluation time plus ``hours``). The caller keeps the
    freeze list and sends the alert (see :class:`Notify`).
    """

    name = "freeze"
    shortcut = "subject"
    settled = frozenset({"until"})

    subject: Literal["buyer", "phone"]
    alert: _Words | None = None
    hours: Annotated[int, Field(ge=1, le=24 * 365)] = 24
    #: When the freeze ends, settled from the evaluation time.
    until: datetime | None = None

    def resolve(self, order: Order, context: RuleContext) -> Action:
        until = context.clock() + timedelta(hours=self.hours)
        return self.settle(until=until)

    def apply(self, order: Order, *, rule: str) -> Order:
        changed = order.with_attribute("frozen_subject", self.subject).with_attribute(
            "freeze_rule", rule
        )
        if self.alert is not None:
            changed = changed.with_attribute("freeze_alert", self.alert)
        if self.until is not None:
            changed = changed.with_attribute("frozen_until", self.until)
        return changed.with_tags(TAG_FROZEN)


# -- carriers (D19) -------------------------------------------------------------------------


class SetCarrier(Action):
    """``set_carrier: {carrier: SF}``: ship with this carrier."""

    name = "set_carrier"
    slot = "carrier"
    shortcut = "carrier"

    carrier: _Name

    def apply(self, order: Order, *, rule: str) -> Order:
        return order.with_attribute("carrier", self.carrier)


def _rate_of(pair: tuple[str, Decimal | None]) -> Decimal:
    return pair[1] if pair[1] is not None else Decimal(0)


class ChooseCarrier(Action):
    """``choose_carrier: {candidates: [SF, JD, YTO], min_success_rate: 0.65, window: 24h}``.

    Picks the first candidate whose delivery success rate in ``window`` (from the
    context's carrier statistics) is at least ``min_success_rate``; a carrier with no
    figure counts as healthy. When none is healthy, the one with the best rate (D19).
    """

    name = "choose_carrier"
    slot = "carrier"
    shortcut = "candidates"
    settled = frozenset({"chosen", "rates"})

    candidates: Annotated[tuple[_Name, ...], Field(min_length=1, max_length=20)]
    min_success_rate: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.65")
    window: timedelta = timedelta(hours=24)
    #: The carrier picked when the rule matched.
    chosen: str | None = None
    #: The rates seen, ``(carrier, rate or None)`` per candidate.
    rates: tuple[tuple[str, Decimal | None], ...] = ()

    @field_validator("min_success_rate", mode="before")
    @classmethod
    def _no_float(cls, value: object) -> object:
        return str(value) if isinstance(value, float) else value

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: object) -> object:
        return _duration(value)

    @field_validator("candidates", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (value,) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _distinct(self) -> ChooseCarrier:
        if len(set(self.candidates)) != len(self.candidates):
            raise ValueError("candidates must be distinct")
        return self

    def resolve(self, order: Order, context: RuleContext) -> Action:
        stats = context.carriers
        now = context.clock()
        rates = tuple(
            (carrier, None if stats is None else stats.success_rate(carrier, self.window, now))
            for carrier in self.candidates
        )
        healthy = [c for c, rate in rates if rate is None or rate >= self.min_success_rate]
        chosen = healthy[0] if healthy else max(rates, key=_rate_of)[0]
        return self.settle(chosen=chosen, rates=rates)

    def apply(self, order: Order, *, rule: str) -> Order:
        return order.with_attribute("carrier", self.chosen or self.candidates[0])

    def describe(self) -> str:
        text = super().describe()
        if self.chosen is not None:
            seen = ", ".join(
                f"{carrier} {'?' if rate is None else rate}" for carrier, rate in self.rates
            )
            text += f" -> {self.chosen} ({seen})"
        return text


# -- notifications --------------------------------------------------------------------------


class Notify(Action):
    """``notify: {notifier: warehouse_lead, message: "...", level: warning}``.

    Changes nothing on the order: the caller sends it with a notifier from
    :mod:`ordercore.notify` (``decision.actions_named("notify")``).
    """

    name = "notify"
    shortcut = "message"

    message: _Words
    notifier: _Name = "default"
    level: Literal["info", "warning", "critical"] = "warning"


# -- parsing and applying -------------------------------------------------------------------


def parse_action(name: str, params: object) -> Action:
    """Build the action ``name`` from its parameters as written in a rule file.

    Raises:
        ValueError: the action is unknown, or a parameter is unknown, missing or invalid.
    """
    cls = ACTIONS.get(name)
    if cls is None:
        raise ValueError(f"unknown action {name!r}; expected one of: {', '.join(sorted(ACTIONS))}")
    fields = [field for field in cls.model_fields if field not in cls.settled]
    data: Any
    if params is None:
        data = {}
    elif isinstance(params, dict):
        data = params
    elif cls.shortcut is not None:
        data = {cls.shortcut: params}
    else:
        raise ValueError(f"{name}: parameters must be a mapping of: {', '.join(fields)}")
    unknown = [key for key in data if key not in fields]
    if unknown:
        expected = ", ".join(fields) if fields else "no parameters"
        raise ValueError(f"{name}: unknown parameter {unknown[0]!r}; expected {expected}")
    try:
        return cls.model_validate(data)
    except ValidationError as error:
        problem = error.errors()[0]
        where = ".".join(str(part) for part in problem["loc"]) or name
        message = str(problem["msg"]).removeprefix("Value error, ")
        raise ValueError(f"{name}: {where}: {message}") from None


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
