"""Sample orders of every platform, mapped into the canonical :class:`~ordercore.schema.Order`.

Each ``<platform>_order()`` function reads one payload of ``tests/fixtures/payloads/``
(real captures or the platforms' documented examples; ``docs/schema.md`` says which)
and maps it field by field: money through :func:`~ordercore.money.parse_yuan` or
:func:`~ordercore.money.parse_fen` by the platform's unit, times through
:func:`~ordercore.timestamps.parse_channel_time`, receiver and buyer data into the
masked personal types, the channel status kept beside the canonical one, after-sale
cases the channel names by id into ``after_sales``, facts without a field into typed
custom attributes, and the payload text kept verbatim in ``raw``.

The ``map_<platform>()`` functions take an already parsed payload plus its text, so
tests can feed them altered payloads. Every error they raise names the payload field
(its dotted path) and, once read, the channel order id.

This module is the reference connector authors follow; ``docs/schema.md`` is its
field-by-field table.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar

from ordercore.errors import FieldProblem, MoneyError, SchemaError, TimeParseError
from ordercore.money import (
    DEFAULT_CURRENCY,
    Money,
    allocate,
    minor_digits,
    parse_fen,
    parse_yuan,
    sum_money,
)
from ordercore.pii import AddressText, EmailAddress, PersonName, PhoneNumber, Sensitive
from ordercore.schema import (
    Address,
    AfterSaleKind,
    AfterSaleRef,
    Buyer,
    ChannelStatus,
    CustomAttribute,
    Discount,
    DiscountFunder,
    LineComponent,
    Order,
    OrderAmounts,
    OrderLine,
    OrderStatus,
    OrderType,
    Package,
    PackageLine,
    Payment,
    Presale,
    PresalePhase,
    RawPayload,
    Shipment,
    Source,
    SourceKind,
    attribute,
)
from ordercore.timestamps import DEFAULT_ZONE, ChannelTime, EpochUnit, parse_channel_time

__all__ = [
    "ALL_SAMPLES",
    "FIXTURES",
    "douyin_order",
    "fixture_text",
    "jd_order",
    "jd_search_envelope_order",
    "map_douyin",
    "map_jd",
    "map_jd_search_response",
    "map_pdd",
    "map_shopify",
    "map_taobao",
    "map_wechat_channels",
    "map_woocommerce",
    "map_xiaohongshu",
    "map_youzan",
    "parse_payload",
    "pdd_order",
    "shopify_order",
    "taobao_closed_order",
    "taobao_order",
    "wechat_channels_order",
    "woocommerce_order",
    "xiaohongshu_order",
    "youzan_order",
]

FIXTURES = Path(__file__).parent / "fixtures" / "payloads"

_S = TypeVar("_S", bound=Sensitive)

# -- channel status -> canonical status -----------------------------------------------------

TAOBAO_STATUS: dict[str, OrderStatus] = {
    "TRADE_NO_CREATE_PAY": OrderStatus.PENDING_PAYMENT,
    "WAIT_BUYER_PAY": OrderStatus.PENDING_PAYMENT,
    "PAY_PENDING": OrderStatus.PENDING_PAYMENT,
    "WAIT_PRE_AUTH_CONFIRM": OrderStatus.PENDING_PAYMENT,
    "WAIT_SELLER_SEND_GOODS": OrderStatus.PAID,
    "PAID_FORBID_CONSIGN": OrderStatus.PAID,
    "SELLER_CONSIGNED_PART": OrderStatus.SHIPPED,
    "WAIT_BUYER_CONFIRM_GOODS": OrderStatus.SHIPPED,
    "TRADE_BUYER_SIGNED": OrderStatus.DELIVERED,
    "TRADE_FINISHED": OrderStatus.COMPLETED,
    "TRADE_CLOSED": OrderStatus.CANCELLED,
    "TRADE_CLOSED_BY_TAOBAO": OrderStatus.CANCELLED,
}
#: Sub-order ``refund_status`` values of a refund still being handled.
TAOBAO_REFUND_OPEN = frozenset(
    {
        "WAIT_SELLER_AGREE",
        "WAIT_BUYER_RETURN_GOODS",
        "WAIT_SELLER_CONFIRM_GOODS",
        "SELLER_REFUSE_BUYER",
    }
)
#: Sub-order ``refund_status`` values that show the goods going back: the case is a return.
TAOBAO_REFUND_RETURNING = frozenset({"WAIT_BUYER_RETURN_GOODS", "WAIT_SELLER_CONFIRM_GOODS"})
TAOBAO_STEP_PHASE: dict[str, PresalePhase] = {
    "FRONT_NOPAID_FINAL_NOPAID": PresalePhase.DEPOSIT_PENDING,
    "FRONT_PAID_FINAL_NOPAID": PresalePhase.DEPOSIT_PAID,
    "FRONT_PAID_FINAL_PAID": PresalePhase.BALANCE_PAID,
}

JD_STATUS: dict[str, OrderStatus] = {
    "WAIT_SELLER_STOCK_OUT": OrderStatus.PAID,
    "WAIT_SELLER_DELIVERY": OrderStatus.PAID,
    "SEND_TO_DISTRIBUTION_CENER": OrderStatus.SHIPPED,
    "DISTRIBUTION_CENTER_RECEIVED": OrderStatus.IN_TRANSIT,
    "WAIT_GOODS_RECEIVE_CONFIRM": OrderStatus.SHIPPED,
    "RECEIPTS_CONFIRM": OrderStatus.DELIVERED,
    "FINISHED_L": OrderStatus.COMPLETED,
    "TRADE_CANCELED": OrderStatus.CANCELLED,
    "LOCKED": OrderStatus.AFTER_SALE,
    "PAUSE": OrderStatus.UNDER_REVIEW,
    "POP_ORDER_PAUSE": OrderStatus.UNDER_REVIEW,
}

PDD_STATUS: dict[str, OrderStatus] = {
    "1": OrderStatus.PAID,
    "2": OrderStatus.SHIPPED,
    "3": OrderStatus.COMPLETED,
}
#: ``refund_status``: 2 after-sale in progress, 3 refunding, 4 refunded.
PDD_REFUND_OPEN = frozenset({"2", "3"})
PDD_REFUNDED = "4"

DOUYIN_STATUS: dict[str, OrderStatus] = {
    "1": OrderStatus.PENDING_PAYMENT,
    "105": OrderStatus.PAID,
    "2": OrderStatus.PAID,
    "101": OrderStatus.SHIPPED,
    "3": OrderStatus.SHIPPED,
    "4": OrderStatus.CANCELLED,
    "5": OrderStatus.COMPLETED,
}
#: ``main_status`` values that override ``order_status``: refunded before / after shipping.
DOUYIN_MAIN_STATUS: dict[str, OrderStatus] = {
    "21": OrderStatus.CANCELLED,
    "22": OrderStatus.AFTER_SALE,
    "39": OrderStatus.AFTER_SALE,
}
#: Sku ``after_sale_info.after_sale_status`` of an open case: applied, returning, goods
#: sent back, exchange re-shipped.
DOUYIN_AFTER_SALE_OPEN = frozenset({"6", "7", "11", "13"})

YOUZAN_STATUS: dict[str, OrderStatus] = {
    "WAIT_BUYER_PAY": OrderStatus.PENDING_PAYMENT,
    "TRADE_PAID": OrderStatus.PAID,
    "WAIT_CONFIRM": OrderStatus.PAID,
    "WAIT_SELLER_SEND_GOODS": OrderStatus.PAID,
    "WAIT_BUYER_CONFIRM_GOODS": OrderStatus.SHIPPED,
    "TRADE_SUCCESS": OrderStatus.COMPLETED,
    "TRADE_CLOSED": OrderStatus.CANCELLED,
}
#: ``refund_state``: 1 partial refund in progress, 11 full refund in progress.
YOUZAN_REFUND_OPEN = frozenset({"1", "11"})
#: ``refund_order[].refund_type``: 1 refund only, 2 return and refund.
YOUZAN_REFUND_KIND: dict[str, AfterSaleKind] = {
    "1": AfterSaleKind.REFUND,
    "2": AfterSaleKind.RETURN,
}

WECHAT_STATUS: dict[str, OrderStatus] = {
    "10": OrderStatus.PENDING_PAYMENT,
    "12": OrderStatus.PAID,
    "13": OrderStatus.PAID,
    "17": OrderStatus.PAID,
    "20": OrderStatus.PAID,
    "21": OrderStatus.SHIPPED,
    "30": OrderStatus.SHIPPED,
    "100": OrderStatus.COMPLETED,
    "200": OrderStatus.CANCELLED,
    "250": OrderStatus.CANCELLED,
}

XHS_STATUS: dict[str, OrderStatus] = {
    "1": OrderStatus.PENDING_PAYMENT,
    "2": OrderStatus.PAID,
    "3": OrderStatus.PAID,
    "4": OrderStatus.PAID,
    "5": OrderStatus.SHIPPED,
    "6": OrderStatus.SHIPPED,
    "7": OrderStatus.COMPLETED,
    "8": OrderStatus.CANCELLED,
    "9": OrderStatus.CANCELLED,
    "10": OrderStatus.AFTER_SALE,
}
#: ``orderAfterSalesStatus``: 2 in progress, 6 platform intervening.
XHS_AFTER_SALE_OPEN = frozenset({"2", "6"})

SHOPIFY_FINANCIAL_STATUS: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING_PAYMENT,
    "partially_paid": OrderStatus.PENDING_PAYMENT,
    "authorized": OrderStatus.PAID,
    "paid": OrderStatus.PAID,
    "partially_refunded": OrderStatus.AFTER_SALE,
    "refunded": OrderStatus.CANCELLED,
    "voided": OrderStatus.CANCELLED,
}
SHOPIFY_FULFILLMENT_STATUS: dict[str, OrderStatus] = {
    "partial": OrderStatus.SHIPPED,
    "fulfilled": OrderStatus.SHIPPED,
    "restocked": OrderStatus.CANCELLED,
}
#: Fulfillments that put goods with a carrier (``failure``, ``error``, ``cancelled`` did not):
#: only these have a shipping time.
SHOPIFY_SHIPPED_FULFILLMENTS = frozenset({"pending", "open", "success"})

WOOCOMMERCE_STATUS: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING_PAYMENT,
    "on-hold": OrderStatus.PENDING_PAYMENT,
    "processing": OrderStatus.PAID,
    "completed": OrderStatus.COMPLETED,
    "cancelled": OrderStatus.CANCELLED,
    "refunded": OrderStatus.CANCELLED,
    "failed": OrderStatus.CANCELLED,
    "trash": OrderStatus.CANCELLED,
}


# -- reading payload fields -------------------------------------------------------------------


def fixture_text(name: str) -> str:
    """Return the text of fixture ``name``, byte for byte (decoded as UTF-8)."""
    return (FIXTURES / name).read_bytes().decode("utf-8")


def parse_payload(text: str) -> Any:
    """Parse payload JSON the way connectors must: decimals exact, big integers exact."""
    return json.loads(text, parse_float=Decimal)


@dataclass
class _Context:
    """The order being read, so that every error can name it."""

    channel: str
    channel_order_id: str | None = None
    #: Youzan writes the string "null" for absent values.
    null_strings: bool = False

    def where(self, path: str) -> str:
        order = f" {self.channel_order_id}" if self.channel_order_id else ""
        return f"{self.channel} order{order}, field {path}"

    @contextmanager
    def naming_errors(self) -> Iterator[None]:
        """Give errors of the canonical models built here (``OrderLine``...) the channel order."""
        try:
            yield
        except SchemaError as exc:
            if exc.channel is not None or self.channel_order_id is None:
                raise
            raise SchemaError(
                exc.problems,
                model=exc.model,
                channel=self.channel,
                channel_order_id=self.channel_order_id,
            ) from exc

    def error(self, path: str, problem: str, kind: str = "invalid") -> SchemaError:
        return SchemaError(
            [FieldProblem(path, problem, kind)],
            model="Order",
            channel=self.channel,
            channel_order_id=self.channel_order_id,
        )


class _Node:
    """One JSON object of a payload and its dotted path inside the payload."""

    __slots__ = ("context", "data", "path")

    def __init__(self, data: Mapping[str, Any], path: str, context: _Context) -> None:
        self.data = data
        self.path = path
        self.context = context

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def raw(self, key: str) -> Any:
        value = self.data.get(key)
        if self.context.null_strings and value == "null":
            return None
        return value

    def has(self, key: str) -> bool:
        return self.raw(key) not in (None, "")

    def obj(self, key: str) -> _Node:
        """The object under ``key``; an empty one when it is absent or null."""
        value = self.raw(key)
        if value is None:
            return _Node({}, self.at(key), self.context)
        if not isinstance(value, Mapping):
            raise self.context.error(self.at(key), "must be a JSON object")
        return _Node(value, self.at(key), self.context)

    def objs(self, key: str) -> list[_Node]:
        """The objects of the list under ``key`` (a lone object counts as a list of one)."""
        value = self.raw(key)
        if value is None:
            return []
        if isinstance(value, Mapping):  # old TOP XML-to-JSON clients drop one-element lists
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise self.context.error(self.at(key), "must be a list of JSON objects")
        return [_Node(v, f"{self.at(key)}[{i}]", self.context) for i, v in enumerate(value)]

    def values(self, key: str) -> list[Any]:
        value = self.raw(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.context.error(self.at(key), "must be a list")
        return value

    def identify(self, *keys: str) -> str:
        """Read the channel order id from the first of ``keys`` present; remember it."""
        for key in keys:
            found = self.id(key)
            if found is not None:
                self.context.channel_order_id = found
                return found
        raise self.context.error(self.at(keys[0]), "is required: the channel order id", "missing")

    def id(self, key: str) -> str | None:
        """A channel id as a string; JSON integers (even above 2^53) keep every digit."""
        value = self.raw(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        raise self.context.error(
            self.at(key), f"an id must be a JSON string or integer, got {type(value).__name__}"
        )

    def required_id(self, key: str) -> str:
        found = self.id(key)
        if found is None:
            raise self.context.error(self.at(key), "is required", "missing")
        return found

    def nonzero_id(self, key: str) -> str | None:
        """An id where the channel writes 0 for "none" (Youzan ``sku_id``, PDD ``logistics_id``)."""
        found = self.id(key)
        return None if found == "0" else found

    def text(self, key: str) -> str | None:
        value = self.raw(key)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, int | Decimal) and not isinstance(value, bool):
            return str(value)
        raise self.context.error(self.at(key), f"must be text, got {type(value).__name__}")

    def int(self, key: str) -> int | None:
        value = self.raw(key)
        if value is None or value == "":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
        raise self.context.error(
            self.at(key), f"must be a whole number, got {type(value).__name__}"
        )

    def flag(self, key: str) -> bool | None:
        """A yes/no the channel sends as a bool or as 0/1."""
        value = self.raw(key)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        if value in (0, 1, "0", "1"):
            return value in (1, "1")
        raise self.context.error(self.at(key), f"must be a bool or 0/1, got {value!r}")

    def yuan(self, key: str, currency: str = DEFAULT_CURRENCY) -> Money | None:
        """Money in major units: ``"12.34"`` or a JSON number read as Decimal."""
        value = self.raw(key)
        if value is None or value == "":
            return None
        try:
            return parse_yuan(value, currency)
        except MoneyError as exc:
            raise type(exc)(f"{self.context.where(self.at(key))}: {exc.message}") from exc

    def fen(self, key: str, currency: str = DEFAULT_CURRENCY) -> Money | None:
        """Money in integer minor units (fen)."""
        value = self.raw(key)
        if value is None or value == "":
            return None
        try:
            return parse_fen(value, currency)
        except MoneyError as exc:
            raise type(exc)(f"{self.context.where(self.at(key))}: {exc.message}") from exc

    def time(
        self, key: str, *, unit: EpochUnit = "auto", zone: str = DEFAULT_ZONE
    ) -> ChannelTime | None:
        value = self.raw(key)
        try:
            return parse_channel_time(value, unit=unit, zone=zone)
        except TimeParseError as exc:
            raise TimeParseError(
                f"{self.context.where(self.at(key))}: {exc.message}", value=exc.value
            ) from exc

    def json(self, key: str) -> Any:
        """A nested value kept as JSON (decimals as strings)."""
        return _plain_json(self.raw(key), self.context.null_strings)

    def json_text(self, key: str) -> Any:
        """JSON sent inside a string (JD ``itemExt``, Youzan ``sku_properties_name``)."""
        text = self.text(key)
        if text is None:
            return None
        try:
            return _plain_json(parse_payload(text), self.context.null_strings)
        except ValueError:
            raise self.context.error(self.at(key), "must be a string holding JSON") from None

    def json_all(self) -> Any:
        """This whole object kept as JSON (decimals as strings)."""
        return _plain_json(self.data, self.context.null_strings)

    def __contains__(self, key: str) -> bool:
        return key in self.data


def _plain_json(value: Any, null_strings: bool = False) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if null_strings and value == "null":
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain_json(v, null_strings) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v, null_strings) for v in value]
    return value


# -- small builders -----------------------------------------------------------------------------


def _attrs(**values: Any) -> dict[str, CustomAttribute]:
    """Typed custom attributes from plain values; ``None`` means "not sent" and is skipped."""
    return {name: attribute(value) for name, value in values.items() if value is not None}


def _details(**values: Any) -> dict[str, str]:
    """Channel status details: every status field the channel sent, as strings."""
    return {name: str(value) for name, value in values.items() if value not in (None, "")}


def _status(
    context: _Context, path: str, value: str, table: Mapping[str, OrderStatus]
) -> OrderStatus:
    try:
        return table[value]
    except KeyError:
        problem = f"unknown {context.channel} status {value!r}"
        raise context.error(path, problem, "status-unknown") from None


def _spec(pairs: Iterable[tuple[Any, Any]]) -> str | None:
    """A line's variant as ``name:value;name:value`` (Taobao's own notation)."""
    text = ";".join(f"{name}:{value}" for name, value in pairs)
    return text or None


def _sku(channel: str, merchant_sku: str | None, *channel_ids: str | None) -> str:
    """The inventory SKU: the merchant's code, else the channel's id prefixed by the channel."""
    if merchant_sku:
        return merchant_sku
    for channel_id in channel_ids:
        if channel_id:
            return f"{channel}:{channel_id}"
    return f"{channel}:unknown"


def _discount(
    funder: DiscountFunder,
    amount: Money | None,
    name: str | None = None,
    promotion_id: str | None = None,
) -> list[Discount]:
    """A one-element list with the discount, or nothing when the channel sent no amount or zero."""
    if amount is None or amount.is_zero():
        return []
    return [Discount(funded_by=funder, amount=amount, name=name, promotion_id=promotion_id)]


def _remainder(
    total: Money | None,
    named: list[Discount],
    name: str,
    funder: DiscountFunder = DiscountFunder.SELLER,
) -> list[Discount]:
    """The part of a channel's discount total that its named promotions do not explain."""
    if total is None:
        return []
    rest = total - sum_money((d.amount for d in named), total.currency)
    if rest <= Money.zero(total.currency):
        return []
    return _discount(funder, rest, name)


def _snake(name: str) -> str:
    """A free-text key as an attribute name: ``"Custom Engraving"`` -> ``custom_engraving``."""
    return re.sub(r"[^a-z0-9]+", "_", name.strip().lower()).strip("_")


def _name_value_attributes(items: Iterable[_Node], name_key: str, value_key: str) -> dict[str, Any]:
    """Attributes from ``[{name, value}]`` lists (Shopify properties, WooCommerce meta_data)."""
    found: dict[str, Any] = {}
    for item in items:
        name = item.text(name_key) or ""
        if name.startswith("_"):  # private keys of the shop software, not order facts
            continue
        key = _snake(name)
        if key and key[0].isalpha():
            found[key] = item.json(value_key)
    return found


def _personal(kind: type[_S], value: str | None) -> _S | None:
    """A receiver's name, phone or street, masked in every repr; ciphertext is kept as sent."""
    return kind(value) if value else None


def _address_detail(*parts: str | None) -> str | None:
    text = " ".join(part for part in parts if part)
    return text or None


def _full_name(first: str | None, last: str | None) -> str | None:
    return _address_detail(first, last)


def _mapped(
    channel: str,
    build: Callable[[_Node, str], Order],
    data: Mapping[str, Any],
    path: str,
    raw_text: str,
    *,
    null_strings: bool = False,
) -> Order:
    """Run ``build`` on one order object of a payload, with errors that name the order."""
    context = _Context(channel, null_strings=null_strings)
    with context.naming_errors():
        return build(_Node(data, path, context), raw_text)


def _source(name: str) -> Source:
    return Source(kind=SourceKind.PULL, name=name)


def _raw(text: str) -> RawPayload:
    return RawPayload(text=text)


def _whole_lines(
    line_ids: Iterable[str], lines: Mapping[str, OrderLine]
) -> tuple[PackageLine, ...]:
    """Package contents when the channel lists line ids only: each line ships whole."""
    return tuple(
        PackageLine(line_id=line_id, quantity=lines[line_id].quantity)
        for line_id in line_ids
        if line_id in lines
    )


# -- Taobao / Tmall ---------------------------------------------------------------------------


def taobao_order(text: str | None = None) -> Order:
    """The real 2014 ``taobao.trade.fullinfo.get`` response: finished, shipped by SF Express."""
    text = fixture_text("taobao_order.json") if text is None else text
    return map_taobao(parse_payload(text), raw_text=text)


def taobao_closed_order(text: str | None = None) -> Order:
    """The real 2013 JDP row: closed before payment, with two named promotions."""
    text = fixture_text("taobao_order_closed_with_promotions.json") if text is None else text
    return map_taobao(parse_payload(text), raw_text=text)


def map_taobao(payload: Mapping[str, Any], *, raw_text: str) -> Order:
    """Map a ``trade_fullinfo_get_response`` (also the JST ``jdp_response``) to an Order."""
    return _mapped("taobao", _map_taobao, payload, "", raw_text)


def _map_taobao(root: _Node, raw_text: str) -> Order:
    context = root.context
    trade = root.obj("trade_fullinfo_get_response").obj("trade")
    tid = trade.identify("tid_str", "tid")
    status_value = trade.text("status") or ""
    status = _status(context, trade.at("status"), status_value, TAOBAO_STATUS)

    promotions = trade.obj("promotion_details").objs("promotion_detail")
    line_oids: set[str] = set()
    lines: list[OrderLine] = []
    after_sales: list[AfterSaleRef] = []
    for sub in trade.obj("orders").objs("order"):
        oid = sub.required_id("oid")
        line_oids.add(oid)
        after_sales += _taobao_refund(sub, oid)
        named = [_taobao_promotion(p) for p in promotions if p.id("id") == oid]
        line_discounts = named + _remainder(sub.yuan("discount_fee"), named, "discount_fee")
        merchant_sku = sub.text("outer_sku_id")
        lines.append(
            OrderLine(
                line_id=oid,
                sku=_sku("taobao", merchant_sku, sub.id("sku_id"), sub.id("num_iid")),
                title=sub.text("title") or "",
                quantity=sub.int("num"),
                unit_price=sub.yuan("price"),
                spec=sub.text("sku_properties_name"),
                channel_line_id=oid,
                channel_item_id=sub.id("num_iid"),
                channel_sku_id=sub.id("sku_id"),
                merchant_sku=merchant_sku,
                merchant_item_code=sub.text("outer_iid"),
                discounts=tuple(line_discounts),
                adjustment=sub.yuan("adjust_fee") or Money.zero(),
                paid=sub.yuan("divide_order_fee") or sub.yuan("payment"),
                channel_status=ChannelStatus(
                    value=sub.text("status") or status_value,
                    details=_details(refund_status=sub.text("refund_status")),
                ),
                attributes=_attrs(
                    is_oversold=sub.flag("is_oversold"), order_from=sub.text("order_from")
                ),
            )
        )

    order_level = [_taobao_promotion(p) for p in promotions if p.id("id") not in line_oids]
    order_level += _remainder(trade.yuan("discount_fee"), order_level, "discount_fee")
    discounts = [d for line in lines for d in line.discounts] + order_level

    if any(
        line.channel_status is not None
        and line.channel_status.details.get("refund_status") in TAOBAO_REFUND_OPEN
        for line in lines
    ):
        status = OrderStatus.AFTER_SALE

    presale = None
    step_status = trade.text("step_trade_status")
    if trade.text("type") == "step" and step_status in TAOBAO_STEP_PHASE:
        payment = trade.yuan("payment") or Money.zero()
        deposit = trade.yuan("step_paid_fee") or Money.zero()
        presale = Presale(
            phase=TAOBAO_STEP_PHASE[step_status], deposit=deposit, balance=payment - deposit
        )

    end_time = trade.time("end_time")
    service_orders = [s.json_all() for s in trade.obj("service_orders").objs("service_order")]
    return Order(
        channel="taobao",
        channel_order_id=tid,
        shop_id=trade.text("seller_nick"),
        order_type=OrderType.PRESALE if presale is not None else OrderType.NORMAL,
        status=status,
        channel_status=ChannelStatus(
            value=status_value,
            details=_details(step_trade_status=step_status, cod_status=trade.text("cod_status")),
        ),
        source=_source("taobao.trade.fullinfo.get"),
        # The nick is personal (masked), so it is not copied into the plain buyer id.
        buyer=Buyer(
            channel_buyer_id=trade.text("buyer_open_uid"),
            nick=_personal(PersonName, trade.text("buyer_nick")),
            email=_personal(EmailAddress, trade.text("buyer_email")),
        ),
        receiver=Address(
            name=_personal(PersonName, trade.text("receiver_name")),
            phone=_personal(PhoneNumber, trade.text("receiver_mobile")),
            landline=_personal(PhoneNumber, trade.text("receiver_phone")),
            province=trade.text("receiver_state"),
            # Municipalities: TOP may leave the city empty and put it in receiver_district.
            city=trade.text("receiver_city") or trade.text("receiver_district"),
            district=trade.text("receiver_district") if trade.has("receiver_city") else None,
            town=trade.text("receiver_town"),
            detail=_personal(AddressText, trade.text("receiver_address")),
            postal_code=trade.text("receiver_zip"),
            open_address_id=trade.text("oaid"),
        ),
        lines=tuple(lines),
        amounts=OrderAmounts(
            goods=sum_money(line.goods for line in lines),
            shipping=trade.yuan("post_fee") or Money.zero(),
            discounts=tuple(discounts),
            adjustment=trade.yuan("adjust_fee") or Money.zero(),
            tax=trade.yuan("order_tax_fee") or Money.zero(),
            service_fee=trade.yuan("buyer_cod_fee") or Money.zero(),
            paid=trade.yuan("payment"),
        ),
        payment=Payment(method="alipay", transaction_id=trade.text("alipay_no")),
        presale=presale,
        shipments=_taobao_shipments(trade, lines),
        after_sales=tuple(after_sales),
        buyer_note=trade.text("buyer_message"),
        seller_note=trade.text("seller_memo"),
        seller_flag=trade.int("seller_flag"),
        attributes=_attrs(
            trade_type=trade.text("type"),
            trade_from=trade.text("trade_from"),
            shipping_type=trade.text("shipping_type"),
            commission=trade.yuan("commission_fee"),
            received_payment=trade.yuan("received_payment"),
            point_fee=trade.int("point_fee"),
            return_shipping_insurance=trade.yuan("yfx_fee"),
            service_package=service_orders or None,
        ),
        created_at=trade.time("created"),
        paid_at=trade.time("pay_time"),
        channel_updated_at=trade.time("modified"),
        shipped_at=trade.time("consign_time"),
        completed_at=end_time if status_value == "TRADE_FINISHED" else None,
        cancelled_at=end_time if status_value.startswith("TRADE_CLOSED") else None,
        raw=_raw(raw_text),
    )


def _taobao_promotion(promotion: _Node) -> Discount:
    """A ``promotion_detail``: a shop promotion, so the seller funds it.

    Zero ones are kept: a named promotion that took nothing off (``满就送`` gives a gift)
    is still a fact of the order.
    """
    return Discount(
        funded_by=DiscountFunder.SELLER,
        amount=promotion.yuan("discount_fee") or Money.zero(),
        name=promotion.text("promotion_name"),
        promotion_id=promotion.text("promotion_id"),
    )


def _taobao_refund(sub: _Node, oid: str) -> list[AfterSaleRef]:
    """A sub-order's refund case (``refund_id``); goods on their way back make it a return."""
    refund_id = sub.id("refund_id")
    if refund_id is None:
        return []
    refund_status = sub.text("refund_status")
    return [
        AfterSaleRef(
            channel_after_sale_id=refund_id,
            kind=(
                AfterSaleKind.RETURN
                if refund_status in TAOBAO_REFUND_RETURNING
                else AfterSaleKind.REFUND
            ),
            status=refund_status,
            line_ids=(oid,),
        )
    ]


def _taobao_shipments(trade: _Node, lines: list[OrderLine]) -> tuple[Shipment, ...]:
    """One shipment per tracking number (``invoice_no``) found on the sub-orders."""
    by_line = {line.line_id: line for line in lines}
    shipments: dict[str, list[_Node]] = {}
    for sub in trade.obj("orders").objs("order"):
        tracking = sub.text("invoice_no")
        if tracking:
            shipments.setdefault(tracking, []).append(sub)
    return tuple(
        Shipment(
            shipment_id=tracking,
            carrier_name=subs[0].text("logistics_company"),
            tracking_no=tracking,
            shipped_at=subs[0].time("consign_time"),
            packages=(
                Package(
                    tracking_no=tracking,
                    lines=_whole_lines((s.id("oid") or "" for s in subs), by_line),
                ),
            ),
        )
        for tracking, subs in shipments.items()
    )


# -- JD POP -------------------------------------------------------------------------------------


def jd_order(text: str | None = None) -> Order:
    """A real 2022 ``orderInfoList[]`` element: paid, awaiting stock-out, consignee encrypted."""
    text = fixture_text("jd_order.json") if text is None else text
    return map_jd(parse_payload(text), raw_text=text)


def jd_search_envelope_order(text: str | None = None) -> Order:
    """The same JD order inside a ``jingdong_pop_order_search_responce`` envelope."""
    text = fixture_text("jd_order_search_envelope_reconstructed.json") if text is None else text
    (order,) = map_jd_search_response(parse_payload(text), raw_text=text)
    return order


def map_jd_search_response(payload: Mapping[str, Any], *, raw_text: str) -> list[Order]:
    """Map every order of a ``jingdong.pop.order.search`` response.

    JD spells the top-level key ``_responce``; the correct spelling is accepted too. A
    response whose ``apiResult.success`` is false raises SchemaError with JD's message.
    """
    root = _Node(payload, "", _Context("jd"))
    key = "jingdong_pop_order_search_responce"
    if key not in root:
        key = "jingdong_pop_order_search_response"
    result = root.obj(key).obj("searchorderinfo_result")
    api = result.obj("apiResult")
    if api.raw("success") is False:
        raise root.context.error(
            api.at("success"),
            f"JD reported an error: {api.text('chineseErrCode') or api.text('englishErrCode')}",
            "channel-error",
        )
    return [
        _mapped("jd", _map_jd_order, node.data, node.path, raw_text)
        for node in result.objs("orderInfoList")
    ]


def map_jd(payload: Mapping[str, Any], *, raw_text: str) -> Order:
    """Map one ``OrderSearchInfo`` object (an ``orderInfoList[]`` element)."""
    return _mapped("jd", _map_jd_order, payload, "", raw_text)


def _map_jd_order(order: _Node, raw_text: str) -> Order:
    context = order.context
    order_id = order.identify("orderId")
    state = order.text("orderState") or ""
    status = _status(context, order.at("orderState"), state, JD_STATUS)

    lines = []
    for item in order.objs("itemInfoList"):
        sku_id = item.required_id("skuId")
        merchant_sku = item.text("outerSkuId")
        lines.append(
            OrderLine(
                line_id=sku_id,
                sku=_sku("jd", merchant_sku, sku_id),
                title=item.text("skuName") or "",
                quantity=item.int("itemTotal"),  # JD sends the quantity as a string
                unit_price=item.yuan("jdPrice"),
                channel_line_id=item.id("id"),
                channel_item_id=item.id("wareId"),
                channel_sku_id=sku_id,
                merchant_sku=merchant_sku,
                merchant_item_code=item.text("productNo"),
                discounts=tuple(
                    d
                    for coupon in order.objs("couponDetailList")
                    if coupon.id("skuId") == sku_id
                    for d in _jd_coupon(coupon)
                ),
                attributes=_attrs(
                    item_ext=item.json_text("itemExt"), service_name=item.text("serviceName")
                ),
            )
        )

    coupons = [d for coupon in order.objs("couponDetailList") for d in _jd_coupon(coupon)]
    invoice = order.obj("invoiceEasyInfo")
    end_time = order.time("orderEndTime")
    commission = order.obj("commission")
    return Order(
        channel="jd",
        channel_order_id=order_id,
        shop_id=order.id("venderId"),
        status=status,
        channel_status=ChannelStatus(
            value=state, details=_details(orderStateRemark=order.text("orderStateRemark"))
        ),
        source=_source("jingdong.pop.order.search"),
        buyer=Buyer(channel_buyer_id=order.text("open_id_buyer") or order.text("pin")),
        receiver=_jd_receiver(order.obj("consigneeInfo")),
        lines=tuple(lines),
        amounts=OrderAmounts(
            goods=sum_money(line.goods for line in lines),
            shipping=order.yuan("freightPrice") or Money.zero(),
            discounts=(
                *_discount(DiscountFunder.SELLER, order.yuan("sellerDiscount"), "sellerDiscount"),
                *coupons,
            ),
            tax=order.yuan("taxFee") or Money.zero(),
            service_fee=order.yuan("serviceFee") or Money.zero(),
            paid=order.yuan("orderPayment"),
        ),
        payment=Payment(method=order.text("payType")),
        shipments=_jd_shipments(order),
        buyer_note=order.text("orderRemark"),
        seller_note=order.text("venderRemark"),
        attributes=_attrs(
            parent_order_id=order.id("parentOrderId"),
            order_type_code=order.text("orderType"),
            order_source=order.text("orderSource"),
            delivery_type=order.text("deliveryType"),
            invoice_info=order.text("invoiceInfo"),
            invoice_type=invoice.text("invoiceType"),
            invoice_state=invoice.text("invoiceState"),
            invoice_content_id=invoice.text("invoiceContentId"),
            balance_used=order.yuan("balanceUsed"),
            commission=(
                commission.fen("cent", commission.text("currencyCode") or DEFAULT_CURRENCY)
                if commission.has("cent")
                else None
            ),
        ),
        created_at=order.time("orderStartTime"),
        paid_at=order.time("paymentConfirmTime"),
        channel_updated_at=order.time("modified"),
        shipped_at=order.time("outBoundDate"),  # "0001-01-01 00:00:00" means not yet
        completed_at=end_time if state == "FINISHED_L" else None,
        cancelled_at=end_time if state == "TRADE_CANCELED" else None,
        raw=_raw(raw_text),
    )


def _jd_coupon(coupon: _Node) -> list[Discount]:
    """A ``couponDetailList`` entry; JD's ``couponType`` text names the kind, not the funder."""
    return _discount(DiscountFunder.COUPON, coupon.yuan("couponPrice"), coupon.text("couponType"))


def _jd_receiver(consignee: _Node) -> Address:
    """``fullname`` and ``fullAddress`` arrive as TDE ciphertext (kept opaque), the phones masked.

    ``fullAddress`` is the whole address, region included; the ids are JD's region codes.
    """
    return Address(
        name=_personal(PersonName, consignee.text("fullname")),
        phone=_personal(PhoneNumber, consignee.text("mobile")),
        landline=_personal(PhoneNumber, consignee.text("telephone")),
        province=consignee.text("province"),
        city=consignee.text("city"),
        district=consignee.text("county"),
        town=consignee.text("town"),
        detail=_personal(AddressText, consignee.text("fullAddress")),
        province_code=consignee.nonzero_id("provinceId"),
        city_code=consignee.nonzero_id("cityId"),
        district_code=consignee.nonzero_id("countyId"),
        town_code=consignee.nonzero_id("townId"),
    )


def _jd_shipments(order: _Node) -> tuple[Shipment, ...]:
    """``waybill`` may hold several tracking numbers separated by commas."""
    waybill = order.text("waybill") or ""
    return tuple(
        Shipment(
            shipment_id=tracking,
            carrier_code=order.nonzero_id("logisticsId"),
            tracking_no=tracking,
            shipped_at=order.time("outBoundDate"),
        )
        for tracking in (part.strip() for part in waybill.split(","))
        if tracking
    )


# -- Pinduoduo ----------------------------------------------------------------------------------


def pdd_order(text: str | None = None) -> Order:
    """PDD's official ``pdd.order.information.get`` example: awaiting shipment."""
    text = fixture_text("pdd_order.json") if text is None else text
    return map_pdd(parse_payload(text), raw_text=text)


def map_pdd(payload: Mapping[str, Any], *, raw_text: str) -> Order:
    """Map an ``order_info_get_response``. PDD money is yuan as JSON numbers."""
    return _mapped("pdd", _map_pdd, payload, "", raw_text)


def _map_pdd(root: _Node, raw_text: str) -> Order:
    context = root.context
    info = root.obj("order_info_get_response").obj("order_info")
    order_sn = info.identify("order_sn")
    order_status = info.text("order_status") or ""
    status = _status(context, info.at("order_status"), order_status, PDD_STATUS)
    refund_status = info.text("refund_status")
    if refund_status in PDD_REFUND_OPEN:
        status = OrderStatus.AFTER_SALE
    elif refund_status == PDD_REFUNDED:
        status = OrderStatus.CANCELLED if order_status == "1" else OrderStatus.AFTER_SALE

    lines = [_pdd_line(item, is_gift=False) for item in info.objs("item_list")]
    lines += [_pdd_line(item, is_gift=True) for item in info.objs("gift_list")]

    discounts = [
        *_discount(DiscountFunder.PLATFORM, info.yuan("platform_discount"), "platform_discount"),
        *_discount(DiscountFunder.SELLER, info.yuan("seller_discount"), "seller_discount"),
        *_discount(
            DiscountFunder.OTHER, info.yuan("capital_free_discount"), "capital_free_discount"
        ),
    ]
    discounts += _remainder(
        info.yuan("discount_amount"), discounts, "discount_amount", DiscountFunder.OTHER
    )
    service_fees = info.objs("service_fee_detail")
    change = info.yuan("order_change_amount")
    is_presale = info.flag("is_pre_sale")
    return Order(
        channel="pdd",
        channel_order_id=order_sn,
        order_type=OrderType.PRESALE if is_presale else OrderType.NORMAL,
        status=status,
        channel_status=ChannelStatus(
            value=order_status,
            details=_details(
                refund_status=refund_status,
                after_sales_status=info.text("after_sales_status"),
                confirm_status=info.text("confirm_status"),
                group_status=info.text("group_status"),
                risk_control_status=info.text("risk_control_status"),
                stock_out_handle_status=info.text("stock_out_handle_status"),
            ),
        ),
        source=_source("pdd.order.information.get"),
        receiver=Address(
            name=_personal(PersonName, info.text("receiver_name")),
            phone=_personal(PhoneNumber, info.text("receiver_phone")),
            province=info.text("province"),
            city=info.text("city"),
            district=info.text("town"),  # PDD's "town" is the district
            # receiver_address is the street part; the older "address" repeats the region.
            detail=_personal(AddressText, info.text("receiver_address") or info.text("address")),
            province_code=info.nonzero_id("province_id"),
            city_code=info.nonzero_id("city_id"),
            district_code=info.nonzero_id("town_id"),
        ),
        lines=tuple(lines),
        amounts=OrderAmounts(
            goods=sum_money(line.goods for line in lines),
            shipping=info.yuan("postage") or Money.zero(),
            discounts=tuple(discounts),
            adjustment=-change if change is not None else Money.zero(),
            service_fee=sum_money(fee.yuan("service_fee") or Money.zero() for fee in service_fees),
            paid=info.yuan("pay_amount"),
        ),
        payment=Payment(
            method=info.text("pay_type"),
            transaction_id=info.text("pay_no"),
            platform_transaction_id=info.text("inner_transaction_id"),
        ),
        shipments=_pdd_shipments(info),
        buyer_note=info.text("buyer_memo"),
        seller_note=info.text("remark"),
        seller_flag=info.int("remark_tag"),
        attributes=_attrs(
            free_sf=info.flag("free_sf"),
            invoice_status=info.int("invoice_status"),
            is_lucky_flag=info.int("is_lucky_flag"),
            home_delivery_type=info.int("home_delivery_type"),
            service_fee_detail=info.json("service_fee_detail"),
            trade_type=info.int("trade_type"),
            order_tag_list=info.json("order_tag_list"),
            order_depot_info=info.json("order_depot_info"),
        ),
        created_at=info.time("created_time"),
        # pay_time is missing from older payloads; confirm_time (成交) is when payment completed.
        paid_at=info.time("pay_time") or info.time("confirm_time"),
        channel_updated_at=info.time("updated_at"),
        shipped_at=info.time("shipping_time"),
        completed_at=info.time("receive_time"),
        promised_ship_by=info.time("pre_sale_time") if is_presale else info.time("last_ship_time"),
        raw=_raw(raw_text),
    )


def _pdd_line(item: _Node, *, is_gift: bool) -> OrderLine:
    sku_id = item.required_id("sku_id")
    merchant_sku = item.text("outer_id")
    return OrderLine(
        line_id=f"gift:{sku_id}" if is_gift else sku_id,
        sku=_sku("pdd", merchant_sku, sku_id),
        title=item.text("goods_name") or "",
        quantity=item.int("goods_count"),
        unit_price=item.yuan("goods_price"),
        spec=item.text("goods_spec"),
        channel_item_id=item.id("goods_id"),
        channel_sku_id=sku_id,
        merchant_sku=merchant_sku,
        merchant_item_code=item.text("outer_goods_id"),
        is_gift=is_gift,
    )


def _pdd_shipments(info: _Node) -> tuple[Shipment, ...]:
    """The main waybill plus the extra, re-sent and gift waybills."""
    deliveries = [info]
    for key in ("extra_delivery_list", "resend_delivery_list", "gift_delivery_list"):
        deliveries += info.objs(key)
    return tuple(
        Shipment(
            shipment_id=tracking,
            carrier_code=delivery.nonzero_id("logistics_id"),
            tracking_no=tracking,
            shipped_at=info.time("shipping_time") if delivery is info else None,
        )
        for delivery in deliveries
        if (tracking := delivery.text("tracking_number"))
    )


# -- Douyin shop --------------------------------------------------------------------------------


def douyin_order(text: str | None = None) -> Order:
    """The official ``order.searchList`` example (placeholder values, see docs/schema.md)."""
    text = fixture_text("douyin_order.json") if text is None else text
    (order,) = map_douyin(parse_payload(text), raw_text=text)
    return order


def map_douyin(payload: Mapping[str, Any], *, raw_text: str) -> list[Order]:
    """Map every shop order of an ``order.searchList`` response (money in fen, times epoch s)."""
    root = _Node(payload, "", _Context("douyin"))
    code = root.int("code")
    if (code is not None and code != 10000) or root.int("err_no") not in (None, 0):
        raise root.context.error(
            "code" if code is not None else "err_no",
            f"Douyin reported an error: {root.text('msg') or root.text('message')}",
            "channel-error",
        )
    return [
        _mapped("douyin", _map_douyin_order, node.data, node.path, raw_text)
        for node in root.obj("data").objs("shop_order_list")
    ]


def _douyin_promotions(node: _Node) -> list[Discount]:
    return [
        *_discount(
            DiscountFunder.SELLER, node.fen("promotion_shop_amount"), "promotion_shop_amount"
        ),
        *_discount(
            DiscountFunder.PLATFORM,
            node.fen("promotion_platform_amount"),
            "promotion_platform_amount",
        ),
        *_discount(
            DiscountFunder.AUTHOR, node.fen("promotion_talent_amount"), "promotion_talent_amount"
        ),
        *_discount(DiscountFunder.OTHER, node.fen("promotion_pay_amount"), "promotion_pay_amount"),
    ]


def _douyin_status(node: _Node) -> ChannelStatus:
    after_sale = node.obj("after_sale_info")
    return ChannelStatus(
        value=node.text("order_status") or "",
        details=_details(
            order_status_desc=node.text("order_status_desc"),
            main_status=node.text("main_status"),
            main_status_desc=node.text("main_status_desc"),
            after_sale_status=after_sale.text("after_sale_status"),
            after_sale_type=after_sale.text("after_sale_type"),
            refund_status=after_sale.text("refund_status"),
        ),
    )


def _map_douyin_order(shop_order: _Node, raw_text: str) -> Order:
    context = shop_order.context
    order_id = shop_order.identify("order_id")
    channel_status = _douyin_status(shop_order)
    status = _status(context, shop_order.at("order_status"), channel_status.value, DOUYIN_STATUS)
    status = DOUYIN_MAIN_STATUS.get(channel_status.details.get("main_status", ""), status)

    lines = []
    for sku in shop_order.objs("sku_order_list"):
        sku_order_id = sku.required_id("order_id")
        merchant_sku = sku.text("code")
        line_status = _douyin_status(sku)
        if line_status.details.get("after_sale_status") in DOUYIN_AFTER_SALE_OPEN:
            status = OrderStatus.AFTER_SALE
        lines.append(
            OrderLine(
                line_id=sku_order_id,
                sku=_sku("douyin", merchant_sku, sku.id("sku_id")),
                title=sku.text("product_name") or "",
                quantity=sku.int("item_num"),
                unit_price=sku.fen("origin_amount"),
                spec=_spec((s.text("name"), s.text("value")) for s in sku.objs("spec")),
                channel_line_id=sku_order_id,
                channel_item_id=sku.id("product_id_str") or sku.id("product_id"),
                channel_sku_id=sku.id("sku_id"),
                merchant_sku=merchant_sku,
                merchant_item_code=sku.text("out_product_id"),
                discounts=tuple(_douyin_promotions(sku)),
                adjustment=sku.fen("modify_amount") or Money.zero(),
                paid=sku.fen("pay_amount"),
                is_gift=bool(sku.flag("is_gift")),
                components=tuple(_douyin_component(part) for part in sku.objs("bundle_sku_info")),
                channel_status=line_status,
                attributes=_attrs(
                    author_id=sku.id("author_id"),
                    author_name=sku.text("author_name"),
                    room_id=sku.id("room_id_str") or sku.id("room_id"),
                    theme_type=sku.text("theme_type"),
                    out_sku_id=sku.text("out_sku_id"),
                    pre_sale_type=sku.int("pre_sale_type"),
                    inventory_list=sku.json("inventory_list"),
                ),
            )
        )

    presale = _douyin_presale(shop_order)
    finish_time = shop_order.time("finish_time")
    receiver = shop_order.obj("post_addr")
    created_at = shop_order.time("create_time", unit="s")
    expire_seconds = shop_order.int("order_expire_time")
    # order_expire_time is a duration, so the deadline is computed: it has no original value.
    pay_by = (
        ChannelTime(utc=created_at.utc + timedelta(seconds=expire_seconds))
        if created_at is not None and expire_seconds
        else None
    )
    # Carrier sign-off per sku order; the order is delivered when its last line is.
    receipts = [
        sku.time("logistics_receipt_time", unit="s") for sku in shop_order.objs("sku_order_list")
    ]
    signed = [r for r in receipts if r is not None]
    delivered_at = max(signed) if signed and len(signed) == len(receipts) else None
    modify = [
        m for m in (shop_order.fen("modify_amount"), shop_order.fen("modify_post_amount")) if m
    ]
    return Order(
        channel="douyin",
        channel_order_id=order_id,
        shop_id=shop_order.id("shop_id"),
        order_type=OrderType.PRESALE if presale is not None else OrderType.NORMAL,
        status=status,
        channel_status=channel_status,
        source=_source("order.searchList"),
        buyer=Buyer(channel_buyer_id=shop_order.text("doudian_open_id")),
        receiver=Address(
            name=_personal(
                PersonName,
                shop_order.text("encrypt_post_receiver") or shop_order.text("post_receiver"),
            ),
            phone=_personal(
                PhoneNumber, shop_order.text("encrypt_post_tel") or shop_order.text("post_tel")
            ),
            province=receiver.obj("province").text("name"),
            city=receiver.obj("city").text("name"),
            district=receiver.obj("town").text("name"),  # Douyin's "town" is the district
            town=receiver.obj("street").text("name"),
            detail=_personal(
                AddressText, receiver.text("encrypt_detail") or receiver.text("detail")
            ),
            province_code=receiver.obj("province").id("id"),
            city_code=receiver.obj("city").id("id"),
            district_code=receiver.obj("town").id("id"),
            town_code=receiver.obj("street").id("id"),
            open_address_id=shop_order.text("open_address_id"),
        ),
        lines=tuple(lines),
        amounts=OrderAmounts(
            goods=sum_money(line.goods for line in lines),
            shipping=shop_order.fen("post_amount") or Money.zero(),
            discounts=tuple(_douyin_promotions(shop_order)),
            adjustment=sum_money(modify),
            tax=shop_order.fen("tax_amount") or Money.zero(),
            service_fee=shop_order.fen("post_insurance_amount") or Money.zero(),
            paid=shop_order.fen("pay_amount"),
        ),
        payment=Payment(
            method=shop_order.text("pay_type"),
            transaction_id=shop_order.text("channel_payment_no"),
        ),
        presale=presale,
        shipments=_douyin_shipments(shop_order, lines),
        buyer_note=shop_order.text("buyer_words"),
        seller_note=shop_order.text("seller_words"),
        seller_flag=shop_order.int("seller_remark_stars"),
        attributes=_attrs(
            b_type=shop_order.int("b_type"),
            b_type_desc=shop_order.text("b_type_desc"),
            sub_b_type=shop_order.int("sub_b_type"),
            sub_b_type_desc=shop_order.text("sub_b_type_desc"),
            biz=shop_order.int("biz"),
            biz_desc=shop_order.text("biz_desc"),
            trade_type=shop_order.int("trade_type"),
            trade_type_desc=shop_order.text("trade_type_desc"),
            order_type_code=shop_order.int("order_type"),
            cancel_reason=shop_order.text("cancel_reason"),
            shop_cost_amount=shop_order.fen("shop_cost_amount"),
            platform_cost_amount=shop_order.fen("platform_cost_amount"),
            author_cost_amount=shop_order.fen("author_cost_amount"),
            promotion_redpack_amount=shop_order.fen("promotion_redpack_amount"),
            promotion_redpack_platform_amount=shop_order.fen("promotion_redpack_platform_amount"),
            promotion_redpack_talent_amount=shop_order.fen("promotion_redpack_talent_amount"),
            serial_numbers=shop_order.json("serial_number_list"),
        ),
        created_at=created_at,
        pay_by=pay_by,
        paid_at=shop_order.time("pay_time", unit="s"),
        channel_updated_at=shop_order.time("update_time", unit="s"),
        shipped_at=shop_order.time("ship_time", unit="s"),
        delivered_at=delivered_at,
        completed_at=finish_time if channel_status.value != "4" else None,
        cancelled_at=finish_time if channel_status.value == "4" else None,
        promised_ship_by=shop_order.time("exp_ship_time", unit="s"),
        raw=_raw(raw_text),
    )


def _douyin_component(part: _Node) -> LineComponent:
    """A ``bundle_sku_info`` entry: one sub-product of a bundle and how many a bundle holds."""
    sku_id = part.id("sku_id")
    merchant_sku = part.text("code")
    return LineComponent(
        sku=_sku("douyin", merchant_sku, sku_id, part.id("product_id")),
        quantity=part.int("item_num"),
        title=part.text("product_name"),
        channel_sku_id=sku_id,
    )


def _douyin_presale(shop_order: _Node) -> Presale | None:
    """Deposit presale: ``order_phase_list`` has one entry per payment phase.

    When only the deposit phase is listed, the balance is what remains of ``pay_amount``.
    """
    phases = shop_order.objs("order_phase_list")
    if not phases or max(p.int("total_phase") or 0 for p in phases) < 2:
        return None
    by_phase = {p.int("current_phase"): p for p in phases}
    deposit_phase = by_phase.get(1, phases[0])
    balance_phase = by_phase.get(2)
    deposit = deposit_phase.fen("phase_pay_amount") or deposit_phase.fen("phase_payable_price")
    deposit = deposit or Money.zero()
    if balance_phase is not None:
        balance = balance_phase.fen("phase_payable_price") or Money.zero()
    else:
        balance = (shop_order.fen("pay_amount") or Money.zero()) - deposit
    if balance_phase is not None and balance_phase.flag("pay_success"):
        phase = PresalePhase.BALANCE_PAID
    elif deposit_phase.flag("pay_success"):
        phase = PresalePhase.DEPOSIT_PAID
    else:
        phase = PresalePhase.DEPOSIT_PENDING
    return Presale(
        phase=phase,
        deposit=deposit,
        balance=balance,
        deposit_paid_at=deposit_phase.time("phase_pay_time", unit="s"),
        balance_due_from=balance_phase.time("phase_open_time", unit="s") if balance_phase else None,
        balance_due_by=balance_phase.time("phase_close_time", unit="s") if balance_phase else None,
        balance_paid_at=balance_phase.time("phase_pay_time", unit="s") if balance_phase else None,
        promised_ship_by=shop_order.time("exp_ship_time", unit="s"),
    )


def _douyin_shipments(shop_order: _Node, lines: list[OrderLine]) -> tuple[Shipment, ...]:
    line_ids = {line.line_id for line in lines}
    return tuple(
        Shipment(
            shipment_id=info.text("delivery_id") or info.text("tracking_no") or "",
            carrier_code=info.text("company"),
            carrier_name=info.text("company_name"),
            tracking_no=info.text("tracking_no"),
            shipped_at=info.time("ship_time", unit="s"),
            packages=(
                Package(
                    tracking_no=info.text("tracking_no"),
                    lines=tuple(
                        PackageLine(
                            line_id=product.id("sku_order_id"),
                            quantity=product.int("product_count"),
                        )
                        for product in info.objs("product_info")
                        if product.id("sku_order_id") in line_ids
                    ),
                ),
            ),
        )
        for info in shop_order.objs("logistics_info")
    )


# -- Youzan -------------------------------------------------------------------------------------


def youzan_order(text: str | None = None) -> Order:
    """A real 2019 ``youzan.trade.get`` response: closed after two refunds, one promotion."""
    text = fixture_text("youzan_order.json") if text is None else text
    return map_youzan(parse_payload(text), raw_text=text)


def map_youzan(payload: Mapping[str, Any], *, raw_text: str) -> Order:
    """Map a ``youzan.trade.get`` response (yuan strings, ``""``/``"null"`` for absent values)."""
    return _mapped("youzan", _map_youzan, payload, "", raw_text, null_strings=True)


def _map_youzan(root: _Node, raw_text: str) -> Order:
    context = root.context
    data = root.obj("data")
    full = data.obj("full_order_info")
    info = full.obj("order_info")
    tid = info.identify("tid")
    state = info.text("status") or ""
    status = _status(context, info.at("status"), state, YOUZAN_STATUS)
    if info.text("refund_state") in YOUZAN_REFUND_OPEN:
        status = OrderStatus.AFTER_SALE

    promotion = data.obj("order_promotion")
    order_promotions = [
        Discount(
            funded_by=DiscountFunder.SELLER,
            amount=p.yuan("discount_fee") or Money.zero(),
            name=p.text("promotion_title"),
            promotion_id=p.id("promotion_id") or p.text("coupon_id"),
        )
        for p in promotion.objs("order")
    ]
    order_promotions += _remainder(
        promotion.yuan("order_discount_fee"), order_promotions, "order_discount_fee"
    )

    lines = []
    for item in full.objs("orders"):
        oid = item.required_id("oid")
        merchant_sku = item.text("outer_sku_id")
        quantity = item.int("num") or 0
        price = item.yuan("price") or Money.zero()
        line_discounts = _discount(
            DiscountFunder.SELLER,
            (price - (item.yuan("discount_price") or price)) * quantity,
            "discount_price",
        )
        # The line's share of the order-level promotions: total_fee - payment, split by promotion.
        share = (item.yuan("total_fee") or Money.zero()) - (item.yuan("payment") or Money.zero())
        if share > Money.zero() and order_promotions:
            parts = allocate(share, [p.amount for p in order_promotions])
            line_discounts += [
                Discount(
                    funded_by=p.funded_by, amount=part, name=p.name, promotion_id=p.promotion_id
                )
                for p, part in zip(order_promotions, parts, strict=True)
                if not part.is_zero()
            ]
        properties = item.json_text("sku_properties_name") or []
        lines.append(
            OrderLine(
                line_id=oid,
                sku=_sku("youzan", merchant_sku, item.nonzero_id("sku_id"), item.id("item_id")),
                title=item.text("title") or "",
                quantity=quantity,
                unit_price=price,
                spec=_spec((p.get("k"), p.get("v")) for p in properties if isinstance(p, dict)),
                channel_line_id=oid,
                channel_item_id=item.id("item_id"),
                channel_sku_id=item.nonzero_id("sku_id"),
                merchant_sku=merchant_sku,
                merchant_item_code=item.text("outer_item_id"),
                discounts=tuple(line_discounts),
                paid=item.yuan("payment"),
                is_gift=bool(item.flag("is_present")),
                attributes=_attrs(buyer_messages=item.text("buyer_messages")),
            )
        )

    item_discounts = [d for line in lines for d in line.discounts if d.name == "discount_price"]
    pay = full.obj("pay_info")
    address = full.obj("address_info")
    buyer = full.obj("buyer_info")
    remark = full.obj("remark_info")
    outer_transactions = pay.values("outer_transactions")
    transactions = pay.values("transaction")
    address_extra = address.json_text("address_extra")
    area_code = address_extra.get("areaCode") if isinstance(address_extra, dict) else None
    express_type = info.int("express_type")
    is_presale = any(item.flag("is_pre_sale") for item in full.objs("orders"))
    return Order(
        channel="youzan",
        channel_order_id=tid,
        order_type=(
            OrderType.PRESALE
            if is_presale
            else OrderType.VIRTUAL
            if express_type == 9
            else OrderType.NORMAL
        ),
        status=status,
        channel_status=ChannelStatus(
            value=state,
            details=_details(
                status_str=info.text("status_str"),
                refund_state=info.text("refund_state"),
                close_type=info.text("close_type"),
            ),
        ),
        source=_source("youzan.trade.get"),
        buyer=Buyer(
            channel_buyer_id=buyer.id("buyer_id") or buyer.text("yz_open_id"),
            nick=_personal(PersonName, buyer.text("fans_nickname")),
            phone=_personal(PhoneNumber, buyer.text("buyer_phone")),
        ),
        receiver=Address(
            name=_personal(PersonName, address.text("receiver_name")),
            phone=_personal(PhoneNumber, address.text("receiver_tel")),
            province=address.text("delivery_province"),
            city=address.text("delivery_city"),
            district=address.text("delivery_district"),
            detail=_personal(AddressText, address.text("delivery_address")),
            postal_code=address.text("delivery_postal_code"),
            district_code=str(area_code) if area_code else None,
        ),
        lines=tuple(lines),
        amounts=OrderAmounts(
            goods=sum_money(line.goods for line in lines),
            shipping=pay.yuan("post_fee") or Money.zero(),
            discounts=(*item_discounts, *order_promotions),
            adjustment=promotion.yuan("adjust_fee") or Money.zero(),
            paid=pay.yuan("payment"),
        ),
        payment=Payment(
            method=info.text("pay_type_str"),
            transaction_id=str(outer_transactions[0]) if outer_transactions else None,
            platform_transaction_id=str(transactions[0]) if transactions else None,
        ),
        shipments=_youzan_shipments(data, lines),
        after_sales=tuple(_youzan_refund(refund) for refund in data.objs("refund_order")),
        buyer_note=remark.text("buyer_message"),
        seller_note=remark.text("trade_memo"),
        seller_flag=remark.int("star"),
        attributes=_attrs(
            wechat_openid=buyer.text("outer_user_id"),
            store_id=info.nonzero_id("offline_id"),
            express_type=express_type,
            order_tags=info.json("order_tags"),
            source_info=full.json("source_info"),
        ),
        created_at=info.time("created"),
        pay_by=info.time("expired_time"),
        paid_at=info.time("pay_time"),
        channel_updated_at=info.time("update_time"),
        shipped_at=info.time("consign_time"),
        completed_at=info.time("success_time"),
        raw=_raw(raw_text),
    )


def _youzan_refund(refund: _Node) -> AfterSaleRef:
    """A ``refund_order`` entry: the refund, its amount and the lines (``oids``) it covers."""
    return AfterSaleRef(
        channel_after_sale_id=refund.required_id("refund_id"),
        kind=YOUZAN_REFUND_KIND.get(refund.text("refund_type") or "", AfterSaleKind.OTHER),
        status=refund.text("refund_state"),
        amount=refund.yuan("refund_fee"),
        line_ids=tuple(oid.required_id("oid") for oid in refund.objs("oids")),
    )


def _youzan_shipments(data: _Node, lines: list[OrderLine]) -> tuple[Shipment, ...]:
    """A ``delivery_order`` is a shipment and each of its ``dists`` a parcel.

    The lines (``oids``) are listed per delivery, not per parcel, so a parcel holds them only
    when the delivery has a single parcel.
    """
    by_line = {line.line_id: line for line in lines}
    shipments = []
    for delivery in data.objs("delivery_order"):
        line_ids = [oid.id("oid") or "" for oid in delivery.objs("oids")]
        dists = delivery.objs("dists")
        packages = tuple(
            Package(
                package_id=dist.id("dist_id"),
                tracking_no=dist.obj("express_info").text("express_no"),
                lines=_whole_lines(line_ids, by_line) if len(dists) == 1 else (),
            )
            for dist in dists
        )
        express = dists[0].obj("express_info") if len(dists) == 1 else None
        shipments.append(
            Shipment(
                shipment_id=delivery.id("pk_id") or (dists[0].id("dist_id") if dists else "") or "",
                status=delivery.text("express_state"),
                carrier_code=express.nonzero_id("express_id") if express else None,
                tracking_no=express.text("express_no") if express else None,
                shipped_at=dists[0].time("create_time") if dists else None,
                packages=packages,
            )
        )
    return tuple(shipments)


# -- WeChat Channels shop -----------------------------------------------------------------------


def wechat_channels_order(text: str | None = None) -> Order:
    """The official ``/channels/ec/order/get`` example: awaiting shipment, an after-sale open."""
    text = fixture_text("wechat_channels_order.json") if text is None else text
    return map_wechat_channels(parse_payload(text), raw_text=text)


def map_wechat_channels(payload: Mapping[str, Any], *, raw_text: str) -> Order:
    """Map a ``/channels/ec/order/get`` response (money in fen, times epoch s)."""
    return _mapped("wechat_channels", _map_wechat_channels, payload, "", raw_text)


def _map_wechat_channels(root: _Node, raw_text: str) -> Order:
    context = root.context
    if root.int("errcode") not in (None, 0):
        raise context.error(
            "errcode", f"WeChat reported an error: {root.text('errmsg')}", "channel-error"
        )
    order = root.obj("order")
    order_id = order.identify("order_id")
    state = order.text("status") or ""
    status = _status(context, order.at("status"), state, WECHAT_STATUS)
    aftersale = order.obj("aftersale_detail")
    if (aftersale.int("on_aftersale_order_cnt") or 0) > 0:
        status = OrderStatus.AFTER_SALE

    detail = order.obj("order_detail")
    sharers = {s.id("sku_id"): s.json_all() for s in detail.objs("sku_sharer_infos")}
    lines = []
    for product in detail.objs("product_infos"):
        sku_id = product.required_id("sku_id")
        merchant_sku = product.text("sku_code") or product.text("out_sku_id")
        lines.append(
            OrderLine(
                line_id=sku_id,
                sku=_sku("wechat_channels", merchant_sku, sku_id),
                title=product.text("title") or "",
                quantity=product.int("sku_cnt"),
                unit_price=product.fen("sale_price"),
                spec=_spec(
                    (a.text("attr_key"), a.text("attr_value")) for a in product.objs("sku_attrs")
                ),
                channel_item_id=product.id("product_id"),
                channel_sku_id=sku_id,
                merchant_sku=merchant_sku,
                merchant_item_code=product.text("out_product_id"),
                discounts=(
                    *_discount(
                        DiscountFunder.SELLER,
                        product.fen("merchant_discounted_price"),
                        "merchant_discounted_price",
                    ),
                    *_discount(
                        DiscountFunder.AUTHOR,
                        product.fen("finder_discounted_price"),
                        "finder_discounted_price",
                    ),
                ),
                paid=product.fen("real_price"),
                is_gift=bool(product.flag("is_free_gift")),
                attributes=_attrs(
                    on_aftersale_sku_cnt=product.int("on_aftersale_sku_cnt"),
                    finish_aftersale_sku_cnt=product.int("finish_aftersale_sku_cnt"),
                    sharer=sharers.get(sku_id),
                ),
            )
        )

    price = detail.obj("price_info")
    pay = detail.obj("pay_info")
    delivery = detail.obj("delivery_info")
    address = delivery.obj("address_info")
    ext = detail.obj("ext_info")
    change_down = price.fen("change_down_price")
    return Order(
        channel="wechat_channels",
        channel_order_id=order_id,
        order_type=(
            OrderType.VIRTUAL if delivery.int("deliver_method") in (1, 3) else OrderType.NORMAL
        ),
        status=status,
        channel_status=ChannelStatus(
            value=state,
            details=_details(on_aftersale_order_cnt=aftersale.text("on_aftersale_order_cnt")),
        ),
        source=_source("/channels/ec/order/get"),
        buyer=Buyer(channel_buyer_id=order.text("openid")),
        receiver=Address(
            name=_personal(PersonName, address.text("user_name")),
            phone=_personal(PhoneNumber, address.text("tel_number")),
            province=address.text("province_name"),
            city=address.text("city_name"),
            district=address.text("county_name"),
            detail=_personal(
                AddressText,
                _address_detail(address.text("detail_info"), address.text("house_number")),
            ),
            postal_code=address.text("postal_code"),
        ),
        lines=tuple(lines),
        amounts=OrderAmounts(
            goods=sum_money(line.goods for line in lines),
            shipping=price.fen("freight") or Money.zero(),
            discounts=(
                # merchant_discounted_price means the same as discounted_price: not added twice.
                *_discount(
                    DiscountFunder.SELLER, price.fen("discounted_price"), "discounted_price"
                ),
                *_discount(
                    DiscountFunder.AUTHOR,
                    price.fen("finder_discounted_price"),
                    "finder_discounted_price",
                ),
                *_discount(
                    DiscountFunder.SELLER, price.fen("vip_discounted_price"), "vip_discounted_price"
                ),
                *_discount(
                    DiscountFunder.PLATFORM,
                    price.fen("cash_coupon_discounted_price"),
                    "cash_coupon_discounted_price",
                ),
                *_discount(
                    DiscountFunder.OTHER,
                    price.fen("national_subsidy_discounted_price"),
                    "national_subsidy_discounted_price",
                ),
                *_discount(DiscountFunder.OTHER, price.fen("deduction_price"), "deduction_price"),
            ),
            adjustment=-change_down if change_down is not None else Money.zero(),
            paid=price.fen("order_price"),
        ),
        payment=Payment(
            method=pay.text("payment_method"), transaction_id=pay.text("transaction_id")
        ),
        shipments=_wechat_shipments(delivery, lines),
        # The list names no lines: per-line counts are in on_aftersale_sku_cnt.
        after_sales=tuple(
            AfterSaleRef(
                channel_after_sale_id=case.required_id("aftersale_order_id"),
                status=case.text("status"),
            )
            for case in aftersale.objs("aftersale_order_list")
        ),
        buyer_note=ext.text("customer_notes"),
        seller_note=ext.text("merchant_notes"),
        attributes=_attrs(
            commission=detail.obj("settle_info").fen("commission_fee"),
            finder_id=ext.text("finder_id"),
            live_id=ext.text("live_id"),
            order_scene=ext.int("order_scene"),
            sharer=detail.obj("sharer_info").json_all() or None,
            user_coupon_id=detail.obj("coupon_info").id("user_coupon_id"),
        ),
        created_at=order.time("create_time", unit="s"),
        paid_at=pay.time("pay_time", unit="s"),
        channel_updated_at=order.time("update_time", unit="s"),
        shipped_at=delivery.time("ship_done_time", unit="s"),
        completed_at=ext.time("confirm_receipt_time", unit="s"),
        raw=_raw(raw_text),
    )


def _wechat_shipments(delivery: _Node, lines: list[OrderLine]) -> tuple[Shipment, ...]:
    line_ids = {line.line_id for line in lines}
    return tuple(
        Shipment(
            shipment_id=parcel.text("waybill_id") or "",
            carrier_code=parcel.text("delivery_id"),
            carrier_name=parcel.text("delivery_name"),
            tracking_no=parcel.text("waybill_id"),
            shipped_at=parcel.time("delivery_time", unit="s"),
            packages=(
                Package(
                    tracking_no=parcel.text("waybill_id"),
                    lines=tuple(
                        PackageLine(line_id=p.id("sku_id"), quantity=p.int("product_cnt"))
                        for p in parcel.objs("product_infos")
                        if p.id("sku_id") in line_ids
                    ),
                ),
            ),
        )
        for parcel in delivery.objs("delivery_product_info")
    )


# -- Xiaohongshu --------------------------------------------------------------------------------


def xiaohongshu_order(text: str | None = None) -> Order:
    """An ``order.getOrderDetail`` response built from the official spec's example values."""
    text = fixture_text("xiaohongshu_order.json") if text is None else text
    return map_xiaohongshu(parse_payload(text), raw_text=text)


def map_xiaohongshu(payload: Mapping[str, Any], *, raw_text: str) -> Order:
    """Map an ``order.getOrderDetail`` response (money in fen, times epoch **ms**)."""
    return _mapped("xiaohongshu", _map_xiaohongshu, payload, "", raw_text)


def _map_xiaohongshu(root: _Node, raw_text: str) -> Order:
    context = root.context
    if root.int("error_code") not in (None, 0) or root.raw("success") is False:
        raise context.error(
            "error_code",
            f"Xiaohongshu reported an error: {root.text('error_msg')}",
            "channel-error",
        )
    data = root.obj("data")
    order_id = data.identify("orderId")
    state = data.text("orderStatus") or ""
    status = _status(context, data.at("orderStatus"), state, XHS_STATUS)
    if data.text("orderAfterSalesStatus") in XHS_AFTER_SALE_OPEN:
        status = OrderStatus.AFTER_SALE

    lines = [_xhs_line(sku) for sku in data.objs("skuList")]
    amounts = OrderAmounts(
        goods=sum_money(line.goods for line in lines),
        shipping=data.fen("totalShippingFree") or Money.zero(),  # sic: "Free" means fee
        discounts=(
            *_discount(
                DiscountFunder.SELLER,
                data.fen("totalMerchantDiscount"),
                "totalMerchantDiscount",
            ),
            *_discount(DiscountFunder.PLATFORM, data.fen("totalRedDiscount"), "totalRedDiscount"),
            *_discount(DiscountFunder.OTHER, data.fen("outPromotionAmount"), "outPromotionAmount"),
        ),
        tax=sum_money(sku.fen("totalTaxAmount") or Money.zero() for sku in data.objs("skuList")),
        paid=data.fen("totalPayAmount"),
    )
    order_type_code = data.int("orderType")
    presale = None
    if order_type_code == 2:  # deposit presale; totalPayAmount includes the deposit
        deposit = data.fen("totalDepositAmount") or Money.zero()
        if state == "1":
            phase = PresalePhase.DEPOSIT_PENDING
        elif amounts.paid > deposit:
            phase = PresalePhase.BALANCE_PAID
        else:
            phase = PresalePhase.DEPOSIT_PAID
        presale = Presale(
            phase=phase,
            deposit=deposit,
            balance=amounts.expected_paid - deposit,
            promised_ship_by=data.time("presaleDeliveryEndTime", unit="ms"),
        )
    if order_type_code in (2, 3, 4):
        order_type = OrderType.PRESALE
        promised = data.time("presaleDeliveryEndTime", unit="ms")
    else:
        order_type = (
            OrderType.EXCHANGE
            if order_type_code == 5 or data.has("originalOrderId")
            else OrderType.NORMAL
        )
        promised = data.time("promiseLastDeliveryTime", unit="ms")
    return Order(
        channel="xiaohongshu",
        channel_order_id=order_id,
        shop_id=data.text("shopId"),
        order_type=order_type,
        status=status,
        channel_status=ChannelStatus(
            value=state,
            details=_details(
                orderAfterSalesStatus=data.text("orderAfterSalesStatus"),
                cancelStatus=data.text("cancelStatus"),
            ),
        ),
        source=_source("order.getOrderDetail"),
        buyer=Buyer(channel_buyer_id=data.text("userId")),
        receiver=Address(
            # Not returned by getOrderDetail ("暂不返回"); getOrderReceiverInfo has them encrypted.
            name=_personal(PersonName, data.text("receiverName")),
            phone=_personal(PhoneNumber, data.text("receiverPhone")),
            province=data.text("receiverProvinceName"),
            city=data.text("receiverCityName"),
            district=data.text("receiverDistrictName"),
            detail=_personal(AddressText, data.text("receiverAddress")),
            province_code=data.id("receiverProvinceId"),
            city_code=data.id("receiverCityId"),
            district_code=data.id("receiverDistrictId"),
            open_address_id=data.text("openAddressId"),
        ),
        lines=tuple(lines),
        amounts=amounts,
        payment=Payment(method=data.text("paymentType"), transaction_id=data.text("outTradeNo")),
        presale=presale,
        shipments=_xhs_shipments(data, lines),
        buyer_note=data.text("customerRemark"),
        seller_note=data.text("sellerRemark"),
        seller_flag=data.int("sellerRemarkFlag"),
        attributes=_attrs(
            order_tag_list=data.json("orderTagList"),
            original_order_id=data.text("originalOrderId"),
            warehouse_code=data.text("whcode"),
            logistics=data.text("logistics"),
            logistics_mode=data.int("logisticsMode"),
            customs_code=data.text("customsCode"),
            merchant_receivable=data.fen("merchantActualReceiveAmount"),
            # 改价总金额: unsigned in the spec, so kept as sent rather than guessed into adjustment.
            change_price_amount=data.fen("totalChangePriceAmount"),
        ),
        created_at=data.time("createdTime", unit="ms"),
        paid_at=data.time("paidTime", unit="ms"),
        channel_updated_at=data.time("updateTime", unit="ms"),
        shipped_at=data.time("deliveryTime", unit="ms"),
        completed_at=data.time("finishTime", unit="ms"),
        cancelled_at=data.time("cancelTime", unit="ms"),
        promised_ship_by=promised,
        raw=_raw(raw_text),
    )


def _xhs_line(sku: _Node) -> OrderLine:
    """A ``skuList`` entry: the same SKU aggregated, its amounts summed over the quantity."""
    sku_id = sku.required_id("skuId")
    quantity = sku.int("skuQuantity") or 0
    details = sku.objs("skuDetailList")
    if len(details) == 1:
        unit_price = details[0].fen("rawPricePerSku")
    else:  # a bundle: the components' list prices make up one unit
        total = sum_money(
            (d.fen("rawPricePerSku") or Money.zero()) * (d.int("quantity") or 0) for d in details
        )
        units = allocate(total, [1] * quantity) if quantity else [total]
        if len(set(units)) != 1:
            raise sku.context.error(
                sku.at("skuDetailList"), "the bundle price does not split into equal units"
            )
        unit_price = units[0]
    merchant_sku = sku.text("erpcode")
    components = tuple(
        _xhs_component(detail, quantity)
        for detail in details
        if quantity > 0 and detail.id("skuId") != sku_id  # a plain item lists itself
    )
    return OrderLine(
        line_id=sku_id,
        sku=_sku("xiaohongshu", merchant_sku, sku_id),
        title=sku.text("skuName") or "",
        quantity=quantity,
        unit_price=unit_price,
        spec=sku.text("skuSpec"),
        channel_item_id=sku.text("itemId"),
        channel_sku_id=sku_id,
        merchant_sku=merchant_sku,
        discounts=(
            *_discount(
                DiscountFunder.SELLER, sku.fen("totalMerchantDiscount"), "totalMerchantDiscount"
            ),
            *_discount(DiscountFunder.PLATFORM, sku.fen("totalRedDiscount"), "totalRedDiscount"),
        ),
        paid=sku.fen("totalPaidAmount"),
        is_gift=sku.int("skuTag") == 1,
        components=components,
        attributes=_attrs(
            author_id=sku.text("kolId"),
            author_name=sku.text("kolName"),
            after_sale_status=sku.int("skuAfterSaleStatus"),
            tax=sku.fen("totalTaxAmount"),
            identify_codes=sku.json("skuIdentifyCodeInfo"),
        ),
    )


def _xhs_component(detail: _Node, line_quantity: int) -> LineComponent:
    """A ``skuDetailList`` entry (bundle part, multi-pack or channel product's base item).

    Its ``quantity`` is what was bought over the whole aggregated line; a component counts
    per unit of the line, so it must divide evenly by the line's quantity.
    """
    bought = detail.int("quantity") or 0
    if bought % line_quantity:
        raise detail.context.error(
            detail.at("quantity"), "does not split into equal units of the line"
        )
    sku_id = detail.id("skuId")
    merchant_sku = detail.text("erpCode")
    return LineComponent(
        sku=_sku("xiaohongshu", merchant_sku, sku_id),
        quantity=bought // line_quantity,
        title=detail.text("skuName"),
        channel_sku_id=sku_id,
        barcode=detail.text("barcode"),
    )


def _xhs_shipments(data: _Node, lines: list[OrderLine]) -> tuple[Shipment, ...]:
    """Split parcels (``simpleDeliveryOrderList`` entries with waybills), else the order's."""
    by_line = {line.line_id: line for line in lines}
    parcels = [p for p in data.objs("simpleDeliveryOrderList") if p.has("expressTrackingNo")]
    if parcels:
        return tuple(
            Shipment(
                shipment_id=parcel.text("expressTrackingNo") or "",
                status=parcel.text("status"),
                carrier_code=parcel.text("expressCompanyCode"),
                tracking_no=parcel.text("expressTrackingNo"),
                packages=(
                    Package(
                        package_id=parcel.text("deliveryOrderIndex"),
                        tracking_no=parcel.text("expressTrackingNo"),
                        lines=_whole_lines(map(str, parcel.values("skuIdList")), by_line),
                    ),
                ),
            )
            for parcel in parcels
        )
    tracking = data.text("expressTrackingNo")
    if tracking is None:
        return ()
    return (
        Shipment(
            shipment_id=tracking,
            carrier_code=data.text("expressCompanyCode"),
            tracking_no=tracking,
            shipped_at=data.time("deliveryTime", unit="ms"),
        ),
    )


# -- Shopify ------------------------------------------------------------------------------------


def shopify_order(text: str | None = None) -> Order:
    """The ``order.json`` fixture of Shopify's Python SDK (REST ``order`` resource)."""
    text = fixture_text("shopify_order.json") if text is None else text
    return map_shopify(parse_payload(text), raw_text=text)


def map_shopify(payload: Mapping[str, Any], *, raw_text: str) -> Order:
    """Map a REST ``{"order": {...}}`` (decimal strings in the shop currency, ISO 8601 times)."""
    return _mapped("shopify", _map_shopify, payload, "", raw_text)


def _map_shopify(root: _Node, raw_text: str) -> Order:
    context = root.context
    order = root.obj("order")
    order_id = order.identify("id")
    currency = order.text("currency") or "USD"
    zero = Money.zero(currency)
    financial = order.text("financial_status") or ""
    fulfillment = order.text("fulfillment_status")
    status = _status(context, order.at("financial_status"), financial, SHOPIFY_FINANCIAL_STATUS)
    if fulfillment is not None:
        status = _status(
            context, order.at("fulfillment_status"), fulfillment, SHOPIFY_FULFILLMENT_STATUS
        )
    if order.has("cancelled_at"):
        status = OrderStatus.CANCELLED

    lines = []
    for item in order.objs("line_items"):
        line_id = item.required_id("id")
        merchant_sku = item.text("sku")
        lines.append(
            OrderLine(
                line_id=line_id,
                sku=_sku("shopify", merchant_sku, item.id("variant_id"), item.id("product_id")),
                title=item.text("title") or item.text("name") or "",
                quantity=item.int("quantity"),
                unit_price=item.yuan("price", currency),
                spec=item.text("variant_title"),
                channel_line_id=line_id,
                channel_item_id=item.id("product_id"),
                channel_sku_id=item.id("variant_id"),
                merchant_sku=merchant_sku,
                attributes=_attrs(
                    **_name_value_attributes(item.objs("properties"), "name", "value")
                ),
            )
        )

    codes = [
        Discount(
            funded_by=DiscountFunder.SELLER,
            amount=code.yuan("amount", currency) or zero,
            name=code.text("code"),
        )
        for code in order.objs("discount_codes")
    ]
    codes += _remainder(order.yuan("total_discounts", currency), codes, "total_discounts")
    customer = order.obj("customer")
    return Order(
        channel="shopify",
        channel_order_id=order_id,
        status=status,
        channel_status=ChannelStatus(
            value=financial, details=_details(fulfillment_status=fulfillment)
        ),
        source=_source("GET /admin/api/orders/{id}.json"),
        buyer=Buyer(
            channel_buyer_id=customer.id("id"),
            email=_personal(EmailAddress, order.text("email") or customer.text("email")),
            phone=_personal(PhoneNumber, order.text("phone")),
        ),
        receiver=_shopify_address(order.obj("shipping_address")),
        billing=_shopify_address(order.obj("billing_address")),
        lines=tuple(lines),
        amounts=OrderAmounts(
            goods=sum_money((line.goods for line in lines), currency),
            shipping=sum_money(
                (s.yuan("price", currency) or zero for s in order.objs("shipping_lines")), currency
            ),
            discounts=tuple(codes),
            # With taxes_included the tax is inside the prices, not charged on top.
            tax=zero if order.flag("taxes_included") else order.yuan("total_tax", currency) or zero,
            paid=order.yuan("total_price", currency),
        ),
        payment=Payment(method=order.text("gateway")),
        shipments=_shopify_shipments(order, lines),
        buyer_note=order.text("note"),
        attributes=_attrs(
            order_name=order.text("name"),
            source_name=order.text("source_name"),
            **_name_value_attributes(order.objs("note_attributes"), "name", "value"),
        ),
        created_at=order.time("created_at"),
        channel_updated_at=order.time("updated_at"),
        cancelled_at=order.time("cancelled_at"),
        raw=_raw(raw_text),
    )


def _shopify_address(address: _Node) -> Address:
    """A ``shipping_address``; ``name`` wins over first and last name joined.

    ``billing_address`` has the same shape.
    """
    return Address(
        name=_personal(
            PersonName,
            address.text("name")
            or _full_name(address.text("first_name"), address.text("last_name")),
        ),
        phone=_personal(PhoneNumber, address.text("phone")),
        company=address.text("company"),
        country=address.text("country_code") or "US",
        province=address.text("province"),
        city=address.text("city"),
        detail=_personal(
            AddressText, _address_detail(address.text("address1"), address.text("address2"))
        ),
        postal_code=address.text("zip"),
        province_code=address.text("province_code"),
    )


def _shopify_shipments(order: _Node, lines: list[OrderLine]) -> tuple[Shipment, ...]:
    """Every fulfillment, its status kept: a ``failure`` one records what was attempted.

    Only fulfillments that reached a carrier have a shipping time.
    """
    line_ids = {line.line_id for line in lines}
    shipments = []
    for fulfillment in order.objs("fulfillments"):
        status = fulfillment.text("status")
        numbers = [str(n) for n in fulfillment.values("tracking_numbers")] or [
            n for n in [fulfillment.text("tracking_number")] if n
        ]
        shipments.append(
            Shipment(
                shipment_id=fulfillment.id("id") or "",
                status=status,
                carrier_name=fulfillment.text("tracking_company"),
                tracking_no=numbers[0] if numbers else None,
                shipped_at=(
                    fulfillment.time("created_at")
                    if status in SHOPIFY_SHIPPED_FULFILLMENTS
                    else None
                ),
                packages=(
                    Package(
                        tracking_no=numbers[0] if numbers else None,
                        lines=tuple(
                            PackageLine(line_id=item.id("id"), quantity=item.int("quantity"))
                            for item in fulfillment.objs("line_items")
                            if item.id("id") in line_ids
                        ),
                    ),
                ),
            )
        )
    return tuple(shipments)


# -- WooCommerce --------------------------------------------------------------------------------


def woocommerce_order(text: str | None = None) -> Order:
    """The "Retrieve an order" example of the WooCommerce REST v3 docs."""
    text = fixture_text("woocommerce_order.json") if text is None else text
    return map_woocommerce(parse_payload(text), raw_text=text)


def map_woocommerce(payload: Mapping[str, Any], *, raw_text: str) -> Order:
    """Map a REST v3 order; times come from the ``*_gmt`` twins (the others are site-local)."""
    return _mapped("woocommerce", _map_woocommerce, payload, "", raw_text)


def _map_woocommerce(order: _Node, raw_text: str) -> Order:
    context = order.context
    order_id = order.identify("id")
    currency = order.text("currency") or "USD"
    zero = Money.zero(currency)
    state = order.text("status") or ""
    status = _status(context, order.at("status"), state, WOOCOMMERCE_STATUS)

    lines = []
    for item in order.objs("line_items"):
        line_id = item.required_id("id")
        merchant_sku = item.text("sku")
        meta = [m for m in item.objs("meta_data") if not (m.text("key") or "").startswith("_")]
        quantity = item.int("quantity")
        unit_price = _woocommerce_unit_price(item, currency)
        subtotal = item.yuan("subtotal", currency) or zero
        total = item.yuan("total", currency) or zero
        line_tax = item.yuan("total_tax", currency) or zero
        exact = (
            unit_price is not None and quantity is not None and unit_price * quantity == subtotal
        )
        lines.append(
            OrderLine(
                line_id=line_id,
                sku=_sku(
                    "woocommerce",
                    merchant_sku,
                    item.nonzero_id("variation_id"),
                    item.id("product_id"),
                ),
                title=html.unescape(item.text("name") or ""),  # names arrive HTML-escaped
                quantity=quantity,
                unit_price=unit_price,
                subtotal=None if exact else subtotal,
                spec=_spec((m.text("key"), m.text("value")) for m in meta),
                channel_line_id=line_id,
                channel_item_id=item.id("product_id"),
                channel_sku_id=item.nonzero_id("variation_id"),
                merchant_sku=merchant_sku,
                discounts=tuple(_discount(DiscountFunder.SELLER, subtotal - total, "coupon")),
                paid=total + line_tax,
                attributes=_attrs(**_name_value_attributes(meta, "key", "value")),
            )
        )

    coupons = [
        Discount(
            funded_by=DiscountFunder.SELLER,
            amount=c.yuan("discount", currency) or zero,
            name=c.text("code"),
        )
        for c in order.objs("coupon_lines")
    ]
    coupons += _remainder(order.yuan("discount_total", currency), coupons, "discount_total")
    shipping = order.obj("shipping")
    billing = order.obj("billing")
    include_tax = order.flag("prices_include_tax")
    return Order(
        channel="woocommerce",
        channel_order_id=order_id,
        status=status,
        channel_status=ChannelStatus(value=state),
        source=_source("GET /wp-json/wc/v3/orders/{id}"),
        buyer=Buyer(
            channel_buyer_id=order.nonzero_id("customer_id"),  # 0 = guest checkout
            email=_personal(EmailAddress, billing.text("email")),
            phone=_personal(PhoneNumber, billing.text("phone")),
        ),
        receiver=_woocommerce_address(shipping),
        billing=_woocommerce_address(billing),
        lines=tuple(lines),
        amounts=OrderAmounts(
            goods=sum_money((line.goods for line in lines), currency),
            shipping=order.yuan("shipping_total", currency) or zero,
            discounts=tuple(coupons),
            tax=zero if include_tax else order.yuan("total_tax", currency) or zero,
            service_fee=sum_money(
                (f.yuan("total", currency) or zero for f in order.objs("fee_lines")), currency
            ),
            paid=order.yuan("total", currency),
        ),
        payment=Payment(
            method=order.text("payment_method"), transaction_id=order.text("transaction_id")
        ),
        after_sales=tuple(_woocommerce_refund(r, currency) for r in order.objs("refunds")),
        buyer_note=order.text("customer_note"),
        attributes=_attrs(
            **_name_value_attributes(order.objs("meta_data"), "key", "value"),
        ),
        created_at=order.time("date_created_gmt", zone="UTC"),
        paid_at=order.time("date_paid_gmt", zone="UTC"),
        channel_updated_at=order.time("date_modified_gmt", zone="UTC"),
        completed_at=order.time("date_completed_gmt", zone="UTC"),
        raw=_raw(raw_text),
    )


def _woocommerce_unit_price(item: _Node, currency: str) -> Money | None:
    """The line ``price``: a JSON number, ``subtotal / quantity`` as the shop computed it.

    It can carry more decimals than the currency has (10.00 for 3 units: 3.3333333333);
    ``Money`` refuses those, so such a price is rounded half up to the currency's digits
    and the line keeps the exact ``subtotal`` beside it.
    """
    value = item.raw("price")
    digits = minor_digits(currency)
    if isinstance(value, Decimal) and value.is_finite() and value != round(value, digits):
        return Money(value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP), currency)
    return item.yuan("price", currency)


def _woocommerce_refund(refund: _Node, currency: str) -> AfterSaleRef:
    """A ``refunds`` entry; the order lists refunds with negative totals, kept as positive."""
    total = refund.yuan("total", currency)
    return AfterSaleRef(
        channel_after_sale_id=refund.required_id("id"),
        kind=AfterSaleKind.REFUND,
        amount=abs(total) if total is not None else None,
        reason=refund.text("reason"),
    )


def _woocommerce_address(address: _Node) -> Address:
    """A ``shipping`` object (``billing`` has the same fields plus ``email`` and ``phone``)."""
    return Address(
        name=_personal(
            PersonName, _full_name(address.text("first_name"), address.text("last_name"))
        ),
        phone=_personal(PhoneNumber, address.text("phone")),
        company=address.text("company"),
        country=address.text("country") or "US",
        province=address.text("state"),
        city=address.text("city"),
        detail=_personal(
            AddressText, _address_detail(address.text("address_1"), address.text("address_2"))
        ),
        postal_code=address.text("postcode"),
    )


#: Every sample order by name.
ALL_SAMPLES: dict[str, Callable[[], Order]] = {
    "taobao": taobao_order,
    "taobao_closed": taobao_closed_order,
    "jd": jd_order,
    "pdd": pdd_order,
    "douyin": douyin_order,
    "youzan": youzan_order,
    "wechat_channels": wechat_channels_order,
    "xiaohongshu": xiaohongshu_order,
    "shopify": shopify_order,
    "woocommerce": woocommerce_order,
}
