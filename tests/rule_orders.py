"""Builders of realistic orders for the rule tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from ordercore import Money
from ordercore.schema import Discount, Order, OrderAmounts, OrderLine
from ordercore.testing import OrderFactory

PLACED = datetime(2026, 11, 11, 2, 30, tzinfo=UTC)

LineSpec = tuple[str, int, str]  # sku, quantity, unit price


def build_order(
    lines: Sequence[LineSpec] = (("SOF-2026-GREY", 1, "2999.00"),),
    *,
    channel: str = "douyin",
    shipping: str = "0.00",
    coupon: str = "0.00",
    province: str = "浙江省",
    phone: str = "13800138000",
    seed: int = 11,
    **fields: Any,
) -> Order:
    """A consistent order with exactly these lines, a coupon, shipping and a receiver."""
    base = OrderFactory(seed=seed, start=PLACED, span=timedelta(hours=1)).order(
        channel=channel, status="paid", lines=1
    )
    order_lines = tuple(
        OrderLine(
            line_id=str(number),
            sku=sku,
            title=sku,
            quantity=quantity,
            unit_price=Money(price),
        )
        for number, (sku, quantity, price) in enumerate(lines, start=1)
    )
    goods = Money(sum((Decimal(p) * q for _, q, p in lines), Decimal("0")))
    discounts = (
        (Discount(funded_by="seller", amount=Money(coupon), name="coupon"),)
        if Decimal(coupon)
        else ()
    )
    amounts = OrderAmounts(
        goods=goods,
        shipping=Money(shipping),
        discounts=discounts,
        paid=goods + Money(shipping) - Money(coupon),
    )
    receiver = base.receiver.evolve(province=province, phone=phone)  # type: ignore[union-attr]
    data: dict[str, Any] = {
        "lines": order_lines,
        "amounts": amounts,
        "receiver": receiver,
        "tags": (),
        "attributes": {},
        "shipments": (),
        "buyer_note": None,
        "presale": None,
        "order_type": "normal",
    }
    data.update(fields)
    return base.evolve(**data)
