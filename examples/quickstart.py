"""Quickstart: build a canonical order by hand, store it, change it, relay its outbox.

Run: python examples/quickstart.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ordercore import (
    Money,
    Order,
    OrderAmounts,
    OrderLine,
    VersionConflict,
    open_store,
    parse_channel_time,
    parse_fen,
)
from ordercore.schema import Discount, DiscountFunder


def build_order() -> Order:
    """A Douyin order as a connector would build it: fen amounts, epoch-second times."""
    unit = parse_fen(299900)  # Douyin sends money in fen
    platform_coupon = parse_fen(2000)
    return Order(
        channel="douyin",
        channel_order_id="6919254847512345678",
        status="paid",
        channel_status={"value": "105", "details": {"main_status": "105"}},
        source={"kind": "push", "name": "doudian trade push 101"},
        created_at=parse_channel_time(1763780400),
        paid_at=parse_channel_time(1763780460),
        receiver={
            "name": "王小明",
            "phone": "13800138000",
            "province": "浙江省",
            "city": "杭州市",
            "district": "西湖区",
            "detail": "文三路 100 号",
        },
        lines=[
            OrderLine(
                line_id="1",
                sku="SOF-2026-GREY",
                title="三人布艺沙发",
                quantity=1,
                unit_price=unit,
                discounts=[Discount(funded_by=DiscountFunder.PLATFORM, amount=platform_coupon)],
            )
        ],
        amounts=OrderAmounts(
            goods=unit,
            discounts=[Discount(funded_by=DiscountFunder.PLATFORM, amount=platform_coupon)],
            paid=unit - platform_coupon,
        ),
        tags=["live-stream"],
    )


def main() -> None:
    order = build_order()
    print(repr(order))
    print("receiver:", order.receiver)  # personal data is masked
    amounts = order.amounts
    print("balances:", amounts.balances, "platform paid", amounts.discount_by("platform"))

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'orders.db'}"
        with open_store(url) as store:
            stored = store.put(order)
            allocated = store.update(stored.evolve(status="allocated"))
            try:
                store.update(stored.evolve(status="cancelled"))  # based on version 1: too late
            except VersionConflict as conflict:
                print("conflict:", conflict.expected, "->", conflict.actual)
            print("now:", allocated.status.value, "version", store.get(order.id).version)
            print("history:", [(e.type, e.order_version) for e in store.events(order.id)])
            for message in store.claim_outbox(10):
                print("publish:", message.topic, message.order_id, message.order_version)
                store.ack_outbox([message.id])
            assert Money("2979.00") == store.get(order.id).amounts.paid


if __name__ == "__main__":
    main()
