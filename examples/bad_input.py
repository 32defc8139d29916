"""Bad channel data stops at the door: what a SchemaError tells a connector.

Run: python examples/bad_input.py

Pinduoduo sends yuan amounts as JSON numbers. Read with plain ``json.loads`` they
become floats, which cannot hold money exactly, so ordercore refuses the order: one
SchemaError names every offending field and never repeats the buyer's name, phone or
address. Read the same text with ``parse_float=Decimal`` and the order builds.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from ordercore import Order, SchemaError, parse_channel_time

PAYLOAD = """{
  "order_sn": "261121-691171878068122",
  "order_status": 1,
  "created_time": "2026-11-21 10:00:00",
  "receiver_name": "王小明",
  "receiver_phone": "13800138000",
  "province": "浙江省", "city": "杭州市", "town": "西湖区", "address": "文三路 100 号",
  "goods_amount": 598.00,
  "pay_amount": 598.00,
  "item_list": [
    {"outer_id": "MUG-350-WHITE", "goods_name": "陶瓷马克杯",
     "goods_count": 2, "goods_price": 299.00}
  ]
}"""

#: Pinduoduo's order_status codes this connector maps (1: waiting to ship).
STATUSES = {1: "paid", 2: "shipped", 3: "completed"}


def to_order(payload: dict[str, Any]) -> Order:
    """Map a Pinduoduo order payload onto the canonical order, leaving checks to ordercore."""
    return Order(
        channel="pdd",
        channel_order_id=payload["order_sn"],
        status=STATUSES[payload["order_status"]],
        channel_status={"value": str(payload["order_status"])},
        source={"kind": "pull", "name": "pdd.order.information.get"},
        created_at=parse_channel_time(payload["created_time"]),
        receiver={
            "name": payload["receiver_name"],
            "phone": payload["receiver_phone"],
            "province": payload["province"],
            "city": payload["city"],
            "district": payload["town"],
            "detail": payload["address"],
        },
        lines=[
            {
                "line_id": str(number),
                "sku": item["outer_id"],
                "title": item["goods_name"],
                "quantity": item["goods_count"],
                "unit_price": item["goods_price"],
            }
            for number, item in enumerate(payload["item_list"], start=1)
        ],
        amounts={"goods": payload["goods_amount"], "paid": payload["pay_amount"]},
    )


def main() -> None:
    try:
        to_order(json.loads(PAYLOAD))
    except SchemaError as error:
        print("rejected:", str(error).splitlines()[0])
        for problem in error.problems:
            print(f"  {problem.field}: {problem.kind}")
        leaked = [text for text in ("王小明", "13800138000", "文三路") if text in str(error)]
        print("personal data in the message:", leaked)

    order = to_order(json.loads(PAYLOAD, parse_float=Decimal))
    print("accepted:", order.channel, order.channel_order_id, order.status.value)
    print("paid:", order.amounts.paid, "placed:", order.created_at.utc.isoformat())
    print("receiver phone:", order.receiver.phone if order.receiver else None)


if __name__ == "__main__":
    main()
