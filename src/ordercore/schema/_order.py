"""The canonical order: one shape that holds an order from any channel without loss."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Final, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ordercore.errors import ConfigurationError, FieldProblem, LineNotFound, SchemaError
from ordercore.ids import new_id
from ordercore.money import DEFAULT_CURRENCY, Money, sum_money
from ordercore.pii import AddressText, EmailAddress, PersonName, PhoneNumber, redact, safe_repr
from ordercore.schema._attributes import (
    Attributes,
    CustomAttribute,
    attribute,
    check_attribute_name,
)
from ordercore.schema._base import CanonicalModel
from ordercore.timestamps import ChannelTime, utc_now

__all__ = [
    "Address",
    "AfterSaleKind",
    "AnomalyCode",
    "AfterSaleRef",
    "B2BInfo",
    "Buyer",
    "ChannelStatus",
    "Discount",
    "DiscountFunder",
    "LineComponent",
    "Order",
    "OrderAmounts",
    "OrderAnomaly",
    "OrderLine",
    "OrderStatus",
    "OrderType",
    "Package",
    "PackageLine",
    "Payment",
    "Presale",
    "PresalePhase",
    "RawPayload",
    "SCHEMA_VERSION",
    "STRICT_AMOUNTS",
    "Shipment",
    "Source",
    "SourceKind",
]

#: The version of the canonical schema this code writes. Stored orders carry it; older
#: bodies are brought up to it by the upcasters of ``ordercore.schema.load_order_json``.
SCHEMA_VERSION: Final = 2

#: The validation-context key that makes unbalanced amounts an error instead of an anomaly:
#: ``Order.model_validate(data, context={"strict_amounts": True})``.
STRICT_AMOUNTS: Final = "strict_amounts"

#: Problem kinds of a ``schema_version`` other than this code's (see load_order_json).
SCHEMA_VERSION_OLDER: Final = "schema_version_older"
SCHEMA_VERSION_NEWER: Final = "schema_version_newer"

Text = Annotated[str, StringConstraints(max_length=2000)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=128)]
ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
NodeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class OrderStatus(StrEnum):
    """The canonical key states every channel status maps onto (D7)."""

    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    UNDER_REVIEW = "under_review"
    ALLOCATED = "allocated"
    PICKING = "picking"
    PACKED = "packed"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    AFTER_SALE = "after_sale"


class OrderType(StrEnum):
    """What kind of sale the order is."""

    NORMAL = "normal"
    PRESALE = "presale"
    B2B = "b2b"
    EXCHANGE = "exchange"
    VIRTUAL = "virtual"


class SourceKind(StrEnum):
    """How the order reached ordercore (D6)."""

    PULL = "pull"  # scheduled fetch from the platform's API
    PUSH = "push"  # signed webhook / message
    IMPORT = "import"  # CSV / Excel batch
    MANUAL = "manual"  # keyed in by staff or made by code


class DiscountFunder(StrEnum):
    """Who pays for a discount; it decides who is out of pocket in reconciliation."""

    PLATFORM = "platform"
    SELLER = "seller"
    COUPON = "coupon"
    AUTHOR = "author"  # an influencer / live-stream host (Douyin "talent")
    OTHER = "other"


class PresalePhase(StrEnum):
    """Where a presale order is in its two payments (D10)."""

    DEPOSIT_PENDING = "deposit_pending"
    DEPOSIT_PAID = "deposit_paid"
    BALANCE_PAID = "balance_paid"


# -- parts --------------------------------------------------------------------------------


class ChannelStatus(CanonicalModel):
    """The channel's own status, kept as sent (the canonical status is derived from it).

    Attributes:
        value: The main status field as a string (``"WAIT_SELLER_SEND_GOODS"``, ``"105"``).
        details: Other status fields of the channel by name
            (``{"refund_status": "NO_REFUND", "step_trade_status": "..."}``).
    """

    value: Code
    details: dict[str, str] = Field(default_factory=dict)


class Source(CanonicalModel):
    """Where and when an order (version) came from (D6).

    Attributes:
        kind: pull, push, import or manual.
        name: What delivered it: an API method, a webhook topic, a file name.
        received_at: When ordercore received it (aware UTC).
    """

    kind: SourceKind
    name: Text
    received_at: AwareDatetime = Field(default_factory=utc_now)


class Buyer(CanonicalModel):
    """The customer who placed the order. Nick, phone and e-mail are masked in output."""

    channel_buyer_id: Text | None = None
    nick: PersonName | None = None
    phone: PhoneNumber | None = None
    email: EmailAddress | None = None


class Address(CanonicalModel):
    """A delivery address. Name, phone and street are personal data and always masked in output.

    ``open_address_id`` is the platform's privacy id (Taobao ``oaid``, XHS
    ``openAddressId``) that stands for the address when the plaintext is withheld.
    """

    name: PersonName | None = None
    phone: PhoneNumber | None = None
    landline: PhoneNumber | None = None
    company: Text | None = None
    country: Text = "CN"
    province: Text | None = None
    city: Text | None = None
    district: Text | None = None
    town: Text | None = None
    detail: AddressText | None = None
    postal_code: Text | None = None
    province_code: Text | None = None
    city_code: Text | None = None
    district_code: Text | None = None
    town_code: Text | None = None
    open_address_id: Text | None = None

    @property
    def is_encrypted(self) -> bool:
        """Whether any personal part is platform ciphertext."""
        return any(
            part is not None and part.is_ciphertext
            for part in (self.name, self.phone, self.landline, self.detail)
        )

    def region(self) -> tuple[str | None, str | None, str | None]:
        """Return ``(province, city, district)``: what routing and merging look at."""
        return (self.province, self.city, self.district)


class Discount(CanonicalModel):
    """A discount and who funds it. ``amount`` is positive: it is taken off the price."""

    funded_by: DiscountFunder
    amount: Money
    name: Text | None = None
    promotion_id: Text | None = None

    @field_validator("amount")
    @classmethod
    def _not_negative(cls, value: Money) -> Money:
        if value.amount < 0:
            raise ValueError("a discount amount must not be negative; use adjustment for increases")
        return value


def _not_negative(value: Money) -> Money:
    if value.amount < 0:
        raise ValueError(f"must not be negative (got {value})")
    return value


#: An amount that cannot be below zero (goods, shipping, what was paid).
NonNegativeMoney = Annotated[Money, AfterValidator(_not_negative)]


class AnomalyCode(StrEnum):
    """What kind of inconsistency an :class:`OrderAnomaly` records."""

    #: ``goods + shipping + tax + service_fee + adjustment - discounts != paid``.
    AMOUNTS_UNBALANCED = "amounts_unbalanced"


class OrderAnomaly(CanonicalModel):
    """Something in an order's data that does not add up: kept and queryable, not refused.

    Anomalies are computed from the order's own data whenever it is validated;
    an order carries exactly the anomalies its data implies.

    Attributes:
        code: What kind of anomaly it is.
        message: A short explanation a person can read (no personal data).
        field: The field that disagrees with the others (``amounts.paid``).
        expected: What the other fields say the value should be, for money anomalies.
        actual: The value the order has.

    Example:
        >>> from ordercore import Money
        >>> from ordercore.testing import OrderFactory
        >>> order = OrderFactory(seed=1).order()
        >>> more = order.amounts.evolve(paid=order.amounts.paid + Money("1.00"))
        >>> odd = order.evolve(amounts=more)
        >>> [anomaly.code.value for anomaly in odd.anomalies], odd.has_anomaly("amounts_unbalanced")
        (['amounts_unbalanced'], True)
        >>> odd.anomalies[0].actual - odd.anomalies[0].expected
        Money('1.00', 'CNY')
    """

    code: AnomalyCode
    message: Text
    field: Text | None = None
    expected: Money | None = None
    actual: Money | None = None


def _zeros_in(model: CanonicalModel, currency: str, fields: tuple[str, ...]) -> None:
    """Make omitted zero amounts zero in ``currency`` (the defaults are CNY)."""
    if currency != DEFAULT_CURRENCY:
        given = model.model_fields_set
        for name in fields:
            if name not in given:
                # The model is frozen; this runs during its own validation.
                model.__dict__[name] = Money.zero(currency)


class OrderAmounts(CanonicalModel):
    """The money of an order.

    The identity ``goods + shipping + tax + service_fee + adjustment - discounts == paid``
    holds for a consistent order; :attr:`balances` says whether it does.

    Attributes:
        goods: The goods at list price (unit price x quantity, summed), before discounts.
        shipping: Shipping charged to the buyer.
        discounts: Every discount of the order, by who funds it (lines repeat their
            share of them).
        adjustment: Manual price changes by the seller (negative lowers the price).
        tax: Tax charged on top of the price (cross-border).
        service_fee: Other fees the buyer pays (installation, insurance).
        paid: What the buyer paid (or owes, before payment).
    """

    goods: NonNegativeMoney
    shipping: NonNegativeMoney = Money.zero()
    discounts: tuple[Discount, ...] = ()
    adjustment: Money = Money.zero()
    tax: Money = Money.zero()
    service_fee: Money = Money.zero()
    paid: NonNegativeMoney

    # After-validators only: a "before" one would make pydantic-core hand the JSON
    # object to Python as a dict and leave its fast JSON path.
    @model_validator(mode="after")
    def _one_currency(self, info: ValidationInfo) -> OrderAmounts:
        currency = self.goods.currency
        _zeros_in(self, currency, ("shipping", "adjustment", "tax", "service_fee"))
        others = (self.shipping, self.adjustment, self.tax, self.service_fee, self.paid)
        if any(m.currency != currency for m in others) or any(
            d.amount.currency != currency for d in self.discounts
        ):
            raise ValueError(f"all amounts of an order must be in one currency ({currency})")
        if _strict_amounts(info.context):
            unbalanced = _unbalanced(self)
            if unbalanced is not None:
                raise PydanticCustomError(AnomalyCode.AMOUNTS_UNBALANCED.value, unbalanced.message)
        return self

    @property
    def currency(self) -> str:
        """The currency of every amount of the order."""
        return self.goods.currency

    @property
    def discount_total(self) -> Money:
        """All discounts added up."""
        return sum_money((d.amount for d in self.discounts), self.currency)

    def discount_by(self, funder: DiscountFunder | str) -> Money:
        """The discounts funded by ``funder`` (``"platform"``, ``"seller"``, ...).

        Raises:
            ConfigurationError: ``funder`` is not a :class:`DiscountFunder`.
        """
        try:
            funder = DiscountFunder(funder)
        except ValueError:
            known = ", ".join(member.value for member in DiscountFunder)
            raise ConfigurationError(
                f"unknown discount funder {safe_repr(funder)}; one of: {known}"
            ) from None
        return sum_money((d.amount for d in self.discounts if d.funded_by is funder), self.currency)

    @property
    def expected_paid(self) -> Money:
        """What the buyer should pay according to the other amounts."""
        return (
            self.goods
            + self.shipping
            + self.tax
            + self.service_fee
            + self.adjustment
            - self.discount_total
        )

    @property
    def balances(self) -> bool:
        """Whether ``paid`` equals :attr:`expected_paid`."""
        return _unbalanced(self) is None


def _strict_amounts(context: object) -> bool:
    return isinstance(context, Mapping) and bool(context.get(STRICT_AMOUNTS))


def _unbalanced(amounts: OrderAmounts) -> OrderAnomaly | None:
    """The amounts_unbalanced anomaly of ``amounts``, or None when they balance."""
    # Plain Decimal sums: every amount already has the currency's places, so they are
    # exact, and this runs on every validated order.
    expected = (
        amounts.goods.amount
        + amounts.shipping.amount
        + amounts.tax.amount
        + amounts.service_fee.amount
        + amounts.adjustment.amount
    )
    for discount in amounts.discounts:
        expected -= discount.amount.amount
    paid = amounts.paid
    if expected == paid.amount:
        return None
    should = Money(expected, paid.currency)
    return OrderAnomaly(
        code=AnomalyCode.AMOUNTS_UNBALANCED,
        field="amounts.paid",
        message=(
            f"paid is {paid}, but goods + shipping + tax + service fee + adjustment "
            f"- discounts is {should}"
        ),
        expected=should,
        actual=paid,
    )


class LineComponent(CanonicalModel):
    """One SKU inside a bundle line, per unit of the line (3 mugs in a gift box: quantity 3)."""

    sku: Code
    quantity: Annotated[int, Field(gt=0, le=1_000_000)]
    title: Text | None = None
    channel_sku_id: Text | None = None
    barcode: Text | None = None


class OrderLine(CanonicalModel):
    """One line of an order: a SKU, a quantity and its money.

    Attributes:
        line_id: Unique within the order; the channel's line id when it has one.
        sku: The seller's own stock-keeping code that inventory counts by.
        channel_line_id: The channel's sub-order id (Taobao ``oid``, Douyin sku order id).
        channel_item_id: The channel's product id (``num_iid``, ``goods_id``, ``wareId``).
        channel_sku_id: The channel's SKU id.
        merchant_sku: The merchant SKU code as the channel stores it (``outer_sku_id``).
        merchant_item_code: The merchant item code (``outer_iid``, ``outer_goods_id``).
        unit_price: List price of one unit.
        subtotal: The line's goods total when the channel sends one that is not
            exactly unit price x quantity (a unit price with sub-fen digits).
        components: The SKUs a bundle line is made of, for stock.
        discounts: Discounts on this line, including its share of order-level ones.
        adjustment: Manual price change on this line.
        paid: What the buyer paid for this line, after apportioning, when the
            channel says.
    """

    line_id: Code
    sku: Code
    title: Text
    quantity: Annotated[int, Field(gt=0, le=1_000_000)]
    unit_price: Money
    subtotal: Money | None = None
    spec: Text | None = None
    channel_line_id: Text | None = None
    channel_item_id: Text | None = None
    channel_sku_id: Text | None = None
    merchant_sku: Text | None = None
    merchant_item_code: Text | None = None
    discounts: tuple[Discount, ...] = ()
    adjustment: Money = Money.zero()
    paid: Money | None = None
    is_gift: bool = False
    components: tuple[LineComponent, ...] = ()
    channel_status: ChannelStatus | None = None
    attributes: Attributes = Field(default_factory=dict)

    @model_validator(mode="after")
    def _zero_in_the_line_currency(self) -> OrderLine:
        _zeros_in(self, self.unit_price.currency, ("adjustment",))
        return self

    @property
    def goods(self) -> Money:
        """The line at list price: ``subtotal`` when sent, else unit price x quantity."""
        return self.subtotal if self.subtotal is not None else self.unit_price * self.quantity

    def money(self) -> tuple[Money, ...]:
        """Every amount on the line (for currency checks)."""
        amounts = [self.unit_price, self.adjustment, *(d.amount for d in self.discounts)]
        amounts.extend(m for m in (self.subtotal, self.paid) if m is not None)
        return tuple(amounts)

    @property
    def discount_total(self) -> Money:
        """All discounts on the line added up."""
        return sum_money((d.amount for d in self.discounts), self.unit_price.currency)


class PackageLine(CanonicalModel):
    """How many units of one order line a package holds."""

    line_id: Code
    quantity: Annotated[int, Field(gt=0)]


class Package(CanonicalModel):
    """One parcel of a shipment and the lines in it."""

    package_id: Text | None = None
    tracking_no: Text | None = None
    lines: tuple[PackageLine, ...] = ()


class Shipment(CanonicalModel):
    """Goods handed to a carrier: the carrier, the tracking number and the packages.

    ``status`` is the channel's own word for the parcel (``"failure"``, ``"delivered"``).
    A re-sent or exchange parcel may hold more units of a line than were ordered.
    """

    shipment_id: Code = Field(default_factory=new_id)
    status: Text | None = None
    carrier_code: Text | None = None
    carrier_name: Text | None = None
    tracking_no: Text | None = None
    shipped_at: ChannelTime | None = None
    packages: tuple[Package, ...] = ()


class Presale(CanonicalModel):
    """The two payments of a presale order and its promised date (D10)."""

    phase: PresalePhase
    deposit: Money
    balance: Money
    deposit_paid_at: ChannelTime | None = None
    balance_due_from: ChannelTime | None = None
    balance_due_by: ChannelTime | None = None
    balance_paid_at: ChannelTime | None = None
    promised_ship_by: ChannelTime | None = None


class B2BInfo(CanonicalModel):
    """A business customer's purchase order (D12); orders sharing a pool ship together."""

    customer_id: Code
    purchase_order_no: Code
    pool_id: Text | None = None
    invoice_title: Text | None = None


class AfterSaleKind(StrEnum):
    """What a buyer asked for after the sale."""

    REFUND = "refund"  # money back, goods kept or never shipped
    RETURN = "return"  # goods back, then money back
    EXCHANGE = "exchange"
    REPAIR = "repair"
    OTHER = "other"


class AfterSaleRef(CanonicalModel):
    """A channel's after-sale case on this order (refund, return, exchange), as last seen.

    Attributes:
        channel_after_sale_id: The channel's id of the case (refund id).
        kind: What was asked for.
        status: The channel's own status of the case.
        amount: The money involved, when the channel says.
        line_ids: The order lines the case is about (empty: the whole order).
        reason: The buyer's reason as the channel sends it.
    """

    channel_after_sale_id: Code
    kind: AfterSaleKind = AfterSaleKind.OTHER
    status: Text | None = None
    amount: Money | None = None
    line_ids: tuple[Code, ...] = ()
    reason: Text | None = None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The buyer's reason is free text that may name people or phones: not in reprs.
        for name, value in super().__repr_args__():
            if name != "reason":
                yield name, value


class Payment(CanonicalModel):
    """How the order was paid.

    Attributes:
        method: The payment method as the channel names it.
        transaction_id: The payment provider's transaction number.
        platform_transaction_id: The marketplace's own payment record, for reconciliation.
    """

    method: Text | None = None
    transaction_id: Text | None = None
    platform_transaction_id: Text | None = None


class RawPayload(CanonicalModel):
    """The order exactly as the channel sent it; nothing from a channel is lost.

    Attributes:
        text: The payload, byte for byte as received (decoded as UTF-8).
        content_type: Its media type (``application/json``, ``text/csv``).
    """

    text: str
    content_type: Text = "application/json"

    @classmethod
    def from_json(cls, value: Any) -> RawPayload:
        """Keep an already-parsed JSON value (for payloads not received as text).

        Raises:
            SchemaError: ``value`` cannot be written as JSON (it refers to itself).
        """
        try:
            text = json.dumps(value, ensure_ascii=False, default=str)
        except (ValueError, TypeError, RecursionError) as exc:
            problem = f"cannot be written as JSON ({type(exc).__name__})"
            raise SchemaError([FieldProblem("text", problem)], model="RawPayload") from None
        return cls(text=text)

    def parse_json(self) -> Any:
        """Parse the payload as JSON, decimals and big integers exact.

        Raises:
            SchemaError: the payload is not JSON (kind ``json_invalid``).
        """
        try:
            return json.loads(self.text, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            problem = f"is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            raise SchemaError(
                [FieldProblem("text", problem, "json_invalid")], model="RawPayload"
            ) from None
        except (ValueError, RecursionError) as exc:  # digits over Python's limit, deep nesting
            problem = f"cannot be read as JSON ({type(exc).__name__})"
            raise SchemaError(
                [FieldProblem("text", problem, "json_invalid")], model="RawPayload"
            ) from None

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # The payload holds receivers, phones and notes in plaintext: show only its size.
        yield "length", len(self.text)
        yield "content_type", self.content_type


# -- the order -----------------------------------------------------------------------------


class Order(CanonicalModel):
    """One order from any channel, in ordercore's canonical shape.

    Orders are immutable; :meth:`evolve` returns a changed, validated copy. A
    store assigns :attr:`version` (1 on first write, +1 per update) and refuses
    an update based on an old version.

    Attributes:
        id: ordercore's own id, a ULID (sortable by creation).
        channel: ``taobao``, ``jd``, ``pdd``, ``douyin``, ``youzan``,
            ``wechat_channels``, ``xiaohongshu``, ``csv``, ``pos``... (lower snake case).
        channel_order_id: The channel's order id, always a string; with ``channel``
            it is unique.
        shop_id: The shop on the channel, when a seller has several.
        status: The canonical status (D7).
        channel_status: The channel's own status, kept as sent.
        created_at: When the buyer placed the order, per the channel.
        pay_by: When an unpaid order closes (the channel's payment timeout).
        delivered_at: When the carrier delivered it, per the channel.
        after_sales: The channel's refund / return / exchange cases on the order.
        billing: The billing address, where the channel has one.
        status_since: When the order entered its current status (set by the store,
            like ``recorded_at`` and ``updated_at``).
        node: The order's current atomic node within its status (a lifecycle
            sub-state such as ``awaiting_outbound``; lower snake case).
        anomalies: What in the order's data does not add up (:class:`OrderAnomaly`),
            computed at validation from the data itself; whatever is given for it
            is replaced.
        raw: The payload as received.
        schema_version: The canonical schema version the order was written with
            (:data:`SCHEMA_VERSION`; read older stored bodies with
            :func:`~ordercore.schema.load_order_json`).
        version: Optimistic-concurrency version; 0 until first stored.

    Unbalanced amounts are accepted and recorded as an ``amounts_unbalanced``
    anomaly; :meth:`strict` (or the validation context ``{"strict_amounts": True}``)
    refuses them with :class:`~ordercore.errors.SchemaError` instead.

    Example:
        >>> from ordercore import Money, Order, OrderLine, OrderAmounts
        >>> from ordercore.timestamps import parse_channel_time
        >>> order = Order(
        ...     channel="douyin", channel_order_id="4781320682406083640",
        ...     status="paid", channel_status={"value": "105"},
        ...     created_at=parse_channel_time(1617355413),
        ...     source={"kind": "pull", "name": "order.searchList"},
        ...     lines=[OrderLine(line_id="1", sku="SOF-2026-GREY", title="Sofa",
        ...                      quantity=1, unit_price=Money("2999.00"))],
        ...     amounts=OrderAmounts(goods=Money("2999.00"), paid=Money("2999.00")),
        ... )
        >>> order.amounts.balances, order.anomalies
        (True, ())
    """

    #: Fields the anomalies are computed from (an update to them is validated).
    _derived_from: ClassVar[frozenset[str]] = frozenset({"amounts", "anomalies"})

    schema_version: Annotated[int, Field(json_schema_extra={"const": SCHEMA_VERSION})] = (
        SCHEMA_VERSION
    )
    id: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default_factory=new_id
    )
    version: Annotated[int, Field(ge=0)] = 0
    channel: ChannelName
    channel_order_id: Code
    shop_id: Text | None = None
    order_type: OrderType = OrderType.NORMAL
    status: OrderStatus
    channel_status: ChannelStatus
    source: Source
    buyer: Buyer = Field(default_factory=Buyer)
    receiver: Address | None = None
    billing: Address | None = None
    # At least one line: checked in _consistent (a length error here would also fire
    # when a single line is invalid, which misleads); the schema still says minItems 1.
    lines: Annotated[
        tuple[OrderLine, ...], Field(max_length=10_000, json_schema_extra={"minItems": 1})
    ]
    amounts: OrderAmounts
    payment: Payment | None = None
    presale: Presale | None = None
    b2b: B2BInfo | None = None
    shipments: tuple[Shipment, ...] = ()
    after_sales: tuple[AfterSaleRef, ...] = ()
    buyer_note: Text | None = None
    seller_note: Text | None = None
    seller_flag: int | None = None
    tags: tuple[Annotated[str, StringConstraints(min_length=1, max_length=64)], ...] = ()
    attributes: Attributes = Field(default_factory=dict)
    created_at: ChannelTime
    pay_by: ChannelTime | None = None
    paid_at: ChannelTime | None = None
    channel_updated_at: ChannelTime | None = None
    shipped_at: ChannelTime | None = None
    delivered_at: ChannelTime | None = None
    completed_at: ChannelTime | None = None
    cancelled_at: ChannelTime | None = None
    promised_ship_by: ChannelTime | None = None
    recorded_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    status_since: AwareDatetime | None = None
    node: NodeName | None = None
    anomalies: tuple[OrderAnomaly, ...] = ()
    raw: RawPayload | None = None

    @field_validator("schema_version")
    @classmethod
    def _current_schema(cls, value: int) -> int:
        if value == SCHEMA_VERSION:
            return value
        if value > SCHEMA_VERSION:
            raise PydanticCustomError(
                SCHEMA_VERSION_NEWER,
                f"schema version {safe_repr(value)} is newer than this ordercore's "
                f"({SCHEMA_VERSION}): upgrade ordercore to read it",
            )
        raise PydanticCustomError(
            SCHEMA_VERSION_OLDER,
            f"schema version {safe_repr(value)} is older than this ordercore's "
            f"({SCHEMA_VERSION}): read stored bodies with ordercore.schema.load_order_json()",
        )

    @field_validator("tags")
    @classmethod
    def _tags_sorted_unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return value if len(value) < 2 else tuple(sorted(set(value)))

    @model_validator(mode="after")
    def _consistent(self) -> Order:
        lines = self.lines
        if not lines:
            raise ValueError("an order needs at least one line")
        ids = {line.line_id for line in lines}
        if len(ids) != len(lines):
            counts = Counter(line.line_id for line in lines)
            repeated = sorted(line_id for line_id, count in counts.items() if count > 1)
            shown = ", ".join(safe_repr(line_id, limit=24) for line_id in repeated[:3])
            more = f" and {len(repeated) - 3} more" if len(repeated) > 3 else ""
            raise ValueError(f"line ids must be unique within an order; repeated: {shown}{more}")
        currency = self.amounts.currency
        for line in lines:
            if (
                line.unit_price.currency != currency
                or line.adjustment.currency != currency
                or (line.paid is not None and line.paid.currency != currency)
                or (line.subtotal is not None and line.subtotal.currency != currency)
                or any(d.amount.currency != currency for d in line.discounts)
            ):
                other = next(m.currency for m in line.money() if m.currency != currency)
                raise ValueError(
                    f"line {line.line_id} has amounts in {other}, the order in {currency}"
                )
        for shipment in self.shipments:
            for package in shipment.packages:
                for held in package.lines:
                    if held.line_id not in ids:
                        raise ValueError(
                            f"shipment {shipment.shipment_id} holds unknown line {held.line_id}"
                        )
        for case in self.after_sales:
            unknown = [line_id for line_id in case.line_ids if line_id not in ids]
            if unknown:
                raise ValueError(
                    f"after-sale case {case.channel_after_sale_id} names unknown lines {unknown}"
                )
        found = _anomalies_of(self)
        if (found or self.anomalies) and found != self.anomalies:
            # Anomalies follow from the data, never from the input; the model is frozen
            # and this runs during its own validation, like _zeros_in.
            self.__dict__["anomalies"] = found
        return self

    @classmethod
    def strict(cls, **fields: Any) -> Self:
        """Build an order that must balance: unbalanced amounts raise instead of being recorded.

        The same as ``Order.model_validate(fields, context={"strict_amounts": True})``.

        Raises:
            SchemaError: a field is invalid, or the amounts do not balance (problem
                field ``amounts``, kind ``amounts_unbalanced``).
        """
        return cls.model_validate(fields, context={STRICT_AMOUNTS: True})

    # -- conveniences ------------------------------------------------------------------

    @property
    def key(self) -> tuple[str, str]:
        """The dedup key ``(channel, channel_order_id)`` (D4)."""
        return (self.channel, self.channel_order_id)

    @property
    def currency(self) -> str:
        """The currency of the order's amounts."""
        return self.amounts.currency

    @property
    def quantity(self) -> int:
        """Units ordered over all lines."""
        return sum(line.quantity for line in self.lines)

    def line(self, line_id: str) -> OrderLine:
        """Return the line with ``line_id``.

        Raises:
            LineNotFound: the order has no such line (a ``KeyError`` too).
        """
        for candidate in self.lines:
            if candidate.line_id == line_id:
                return candidate
        shown = redact(line_id) if isinstance(line_id, str) else safe_repr(line_id)
        raise LineNotFound(
            f"order {self.id} has no line {shown!r}", order_id=self.id, line_id=shown
        )

    def has_anomaly(self, code: AnomalyCode | str) -> bool:
        """Whether the order carries an anomaly with ``code`` (``"amounts_unbalanced"``)."""
        return any(anomaly.code == code for anomaly in self.anomalies)

    def attribute(self, name: str, default: Any = None) -> Any:
        """Return the plain value of custom attribute ``name``, or ``default``."""
        found: CustomAttribute | None = self.attributes.get(name)
        return default if found is None else found.value

    def with_attribute(self, name: str, value: Any) -> Order:
        """Return a copy with custom attribute ``name`` set to ``value`` (typed by its value)."""
        check_attribute_name(name)
        return self.evolve(attributes={**self.attributes, name: attribute(value)})

    def with_tags(self, *tags: str) -> Order:
        """Return a copy with ``tags`` added."""
        return self.evolve(tags=(*self.tags, *tags))

    def sort_key(self) -> tuple[datetime, str]:
        """Order by placement time, then id: stable across channels and zones."""
        return (self.created_at.utc, self.id)

    def __repr_args__(self) -> Any:
        # Keep reprs short and free of the raw payload (which may hold personal data).
        for name in ("id", "version", "channel", "channel_order_id", "status"):
            yield name, getattr(self, name)
        yield "lines", len(self.lines)
        yield "paid", self.amounts.paid
        if self.anomalies:
            yield "anomalies", tuple(anomaly.code.value for anomaly in self.anomalies)


def _anomalies_of(order: Order) -> tuple[OrderAnomaly, ...]:
    """Every anomaly the order's data implies, in a fixed order."""
    unbalanced = _unbalanced(order.amounts)
    return () if unbalanced is None else (unbalanced,)
