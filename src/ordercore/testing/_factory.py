"""Realistic canonical orders from every channel, reproducible from a seed."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ordercore.ids import new_id
from ordercore.money import Money, allocate, sum_money
from ordercore.schema import (
    Address,
    B2BInfo,
    Buyer,
    ChannelStatus,
    Discount,
    DiscountFunder,
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
from ordercore.timestamps import ChannelTime, parse_channel_time

__all__ = ["CATALOGUE", "CHANNELS", "OrderFactory"]


@dataclass(frozen=True)
class _Product:
    sku: str
    title: str
    price: str
    spec: str | None = None


CATALOGUE: Final = (
    _Product("SOF-2026-GREY", "三人布艺沙发 2026 款", "2999.00", "颜色:灰色"),
    _Product("SOF-2026-BEIGE", "三人布艺沙发 2026 款", "2999.00", "颜色:米色"),
    _Product("PIL-001", "抱枕 45x45", "39.90", "颜色:灰色"),
    _Product("TEA-LJ-250", "明前龙井 250g", "268.00"),
    _Product("TEA-PE-357", "普洱饼茶 357g", "158.00"),
    _Product("MUG-ENG-01", "刻字马克杯", "59.00", "刻字:定制"),
    _Product("LMP-DESK-W", "护眼台灯", "199.00", "颜色:白色"),
    _Product("TWL-BATH-2", "纯棉浴巾两条装", "89.90"),
    _Product("KNF-SET-5", "不锈钢刀具五件套", "399.00"),
    _Product("RCK-CHAIR", "实木摇椅", "1280.00", "材质:橡木"),
)

#: channel -> (weight, how it sends time, who sources it)
CHANNELS: Final[dict[str, tuple[int, str, SourceKind, str]]] = {
    "douyin": (25, "epoch_s", SourceKind.PUSH, "order.orderDetail"),
    "taobao": (24, "beijing", SourceKind.PULL, "taobao.trades.sold.get"),
    "pdd": (15, "beijing", SourceKind.PULL, "pdd.order.list.get"),
    "jd": (10, "beijing", SourceKind.PULL, "jingdong.pop.order.search"),
    "wechat_channels": (8, "epoch_s", SourceKind.PUSH, "channels_ec_order_new"),
    "xiaohongshu": (7, "epoch_ms", SourceKind.PULL, "order.getOrderDetail"),
    "youzan": (5, "beijing", SourceKind.PUSH, "trade_TradePaid"),
    "pos": (6, "iso", SourceKind.IMPORT, "pos-export.csv"),
}

#: The channel's own status for each canonical one (value, extra status fields).
_CHANNEL_STATUS: Final[dict[str, dict[OrderStatus, tuple[str, dict[str, str]]]]] = {
    "taobao": {
        OrderStatus.PENDING_PAYMENT: ("WAIT_BUYER_PAY", {}),
        OrderStatus.PAID: ("WAIT_SELLER_SEND_GOODS", {}),
        OrderStatus.SHIPPED: ("WAIT_BUYER_CONFIRM_GOODS", {}),
        OrderStatus.COMPLETED: ("TRADE_FINISHED", {}),
        OrderStatus.CANCELLED: ("TRADE_CLOSED_BY_TAOBAO", {}),
        OrderStatus.AFTER_SALE: (
            "WAIT_BUYER_CONFIRM_GOODS",
            {"refund_status": "WAIT_SELLER_AGREE"},
        ),
    },
    "jd": {
        OrderStatus.PAID: ("WAIT_SELLER_STOCK_OUT", {}),
        OrderStatus.SHIPPED: ("WAIT_GOODS_RECEIVE_CONFIRM", {}),
        OrderStatus.COMPLETED: ("FINISHED_L", {}),
        OrderStatus.CANCELLED: ("TRADE_CANCELED", {}),
        OrderStatus.AFTER_SALE: ("LOCKED", {}),
    },
    "pdd": {
        OrderStatus.PAID: ("1", {"refund_status": "1"}),
        OrderStatus.SHIPPED: ("2", {"refund_status": "1"}),
        OrderStatus.COMPLETED: ("3", {"refund_status": "1"}),
        OrderStatus.CANCELLED: ("1", {"refund_status": "4", "confirm_status": "2"}),
        OrderStatus.AFTER_SALE: ("2", {"refund_status": "2"}),
    },
    "douyin": {
        OrderStatus.PENDING_PAYMENT: ("1", {"main_status": "1"}),
        OrderStatus.PAID: ("105", {"main_status": "105"}),
        OrderStatus.SHIPPED: ("3", {"main_status": "3"}),
        OrderStatus.COMPLETED: ("5", {"main_status": "5"}),
        OrderStatus.CANCELLED: ("4", {"main_status": "4"}),
        OrderStatus.AFTER_SALE: ("3", {"main_status": "3", "after_sale_status": "6"}),
    },
    "youzan": {
        OrderStatus.PENDING_PAYMENT: ("WAIT_BUYER_PAY", {}),
        OrderStatus.PAID: ("WAIT_SELLER_SEND_GOODS", {}),
        OrderStatus.SHIPPED: ("WAIT_BUYER_CONFIRM_GOODS", {}),
        OrderStatus.COMPLETED: ("TRADE_SUCCESS", {}),
        OrderStatus.CANCELLED: ("TRADE_CLOSED", {"close_type": "4"}),
        OrderStatus.AFTER_SALE: ("WAIT_BUYER_CONFIRM_GOODS", {"refund_state": "11"}),
    },
    "wechat_channels": {
        OrderStatus.PENDING_PAYMENT: ("10", {}),
        OrderStatus.PAID: ("20", {}),
        OrderStatus.SHIPPED: ("30", {}),
        OrderStatus.COMPLETED: ("100", {}),
        OrderStatus.CANCELLED: ("250", {}),
        OrderStatus.AFTER_SALE: ("30", {"on_aftersale_order_cnt": "1"}),
    },
    "xiaohongshu": {
        OrderStatus.PENDING_PAYMENT: ("1", {}),
        OrderStatus.PAID: ("4", {"orderAfterSalesStatus": "1"}),
        OrderStatus.SHIPPED: ("6", {"orderAfterSalesStatus": "1"}),
        OrderStatus.COMPLETED: ("7", {"orderAfterSalesStatus": "1"}),
        OrderStatus.CANCELLED: ("9", {}),
        OrderStatus.AFTER_SALE: ("6", {"orderAfterSalesStatus": "2"}),
    },
    "pos": {OrderStatus.COMPLETED: ("completed", {})},
}

#: Canonical statuses a channel status does not tell apart fall back to these.
_STATUS_FALLBACK: Final = {
    OrderStatus.UNDER_REVIEW: OrderStatus.PAID,
    OrderStatus.ALLOCATED: OrderStatus.PAID,
    OrderStatus.PICKING: OrderStatus.PAID,
    OrderStatus.PACKED: OrderStatus.PAID,
    OrderStatus.IN_TRANSIT: OrderStatus.SHIPPED,
    OrderStatus.DELIVERED: OrderStatus.SHIPPED,
}

_STATUS_WEIGHTS: Final = (
    (OrderStatus.PENDING_PAYMENT, 6),
    (OrderStatus.PAID, 14),
    (OrderStatus.UNDER_REVIEW, 2),
    (OrderStatus.ALLOCATED, 8),
    (OrderStatus.PICKING, 5),
    (OrderStatus.PACKED, 5),
    (OrderStatus.SHIPPED, 12),
    (OrderStatus.IN_TRANSIT, 10),
    (OrderStatus.DELIVERED, 8),
    (OrderStatus.COMPLETED, 20),
    (OrderStatus.CANCELLED, 6),
    (OrderStatus.AFTER_SALE, 4),
)
_SHIPPED: Final = frozenset(
    {
        OrderStatus.SHIPPED,
        OrderStatus.IN_TRANSIT,
        OrderStatus.DELIVERED,
        OrderStatus.COMPLETED,
        OrderStatus.AFTER_SALE,
    }
)
_REGIONS: Final = (
    ("浙江省", "杭州市", "西湖区"),
    ("上海市", "上海市", "浦东新区"),
    ("江苏省", "南京市", "鼓楼区"),
    ("广东省", "深圳市", "南山区"),
    ("北京市", "北京市", "朝阳区"),
    ("四川省", "成都市", "武侯区"),
    ("湖北省", "武汉市", "洪山区"),
    ("山东省", "青岛市", "市南区"),
)
_SURNAMES: Final = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
_GIVEN: Final = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
_STREETS: Final = ("文三路", "南京西路", "中山路", "科技园南路", "建国路", "人民南路", "珞喻路")
_CARRIERS: Final = (
    ("shunfeng", "顺丰速运"),
    ("zhongtong", "中通快递"),
    ("yuantong", "圆通速递"),
    ("jd", "京东物流"),
    ("yunda", "韵达快递"),
)


def _channel_status(channel: str, status: OrderStatus) -> ChannelStatus:
    table = _CHANNEL_STATUS[channel]
    value, details = table.get(status) or table.get(
        _STATUS_FALLBACK.get(status, status), next(iter(table.values()))
    )
    return ChannelStatus(value=value, details=dict(details))


class OrderFactory:
    """Builds realistic canonical orders from every channel, reproducibly.

    Orders carry channel-native ids, statuses, times and a raw payload in the
    channel's own units; money always balances
    (``goods + shipping - discounts == paid``), lines get their share of
    order-level discounts by largest remainder, shipped orders have shipments
    whose packages hold the lines. Personal data is fake.

    Args:
        seed: Same seed, same orders (ids apart, which are always fresh ULIDs).
        start: Orders are placed from this instant on (aware); default 2026-11-01 00:00 UTC.
        span: Over how long a period orders are spread.

    Example:
        >>> factory = OrderFactory(seed=7)
        >>> order = factory.order(channel="douyin", status="paid")
        >>> order.channel, order.status.value, order.amounts.balances
        ('douyin', 'paid', True)
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        start: datetime | None = None,
        span: timedelta = timedelta(days=30),
    ) -> None:
        self.random = random.Random(seed)
        self.start = start or datetime(2026, 11, 1, tzinfo=UTC)
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.span = span
        self._serial = 0

    # -- public ---------------------------------------------------------------------------

    def orders(self, count: int, **overrides: Any) -> Iterator[Order]:
        """Yield ``count`` orders (see :meth:`order` for ``overrides``)."""
        for _ in range(count):
            yield self.order(**overrides)

    def order(
        self,
        *,
        channel: str | None = None,
        status: OrderStatus | str | None = None,
        lines: int | None = None,
        placed_at: datetime | None = None,
        **fields: Any,
    ) -> Order:
        """Build one order.

        Args:
            channel: One of :data:`CHANNELS`; random by weight if not given.
            status: The canonical status; random by a realistic mix if not given.
            lines: How many lines (1..4 at random if not given).
            placed_at: When it was placed (aware); random within the span if not given.
            **fields: Any :class:`~ordercore.schema.Order` field to set as given.
        """
        rnd = self.random
        self._serial += 1
        if channel is None:
            channel = rnd.choices(list(CHANNELS), [w for w, *_ in CHANNELS.values()])[0]
        if channel not in CHANNELS:
            raise ValueError(f"unknown channel {channel!r}; known: {sorted(CHANNELS)}")
        _, time_format, source_kind, source_name = CHANNELS[channel]
        if status is None:
            status = rnd.choices([s for s, _ in _STATUS_WEIGHTS], [w for _, w in _STATUS_WEIGHTS])[
                0
            ]
        status = OrderStatus(status)
        if channel == "pos":
            status = OrderStatus.COMPLETED
        if channel in ("jd", "pdd") and status is OrderStatus.PENDING_PAYMENT:
            status = OrderStatus.PAID  # these channels only list paid orders
        placed = placed_at or self.start + timedelta(
            seconds=rnd.randrange(int(self.span.total_seconds()))
        )
        created_at = self._channel_time(placed, time_format)
        channel_order_id = self._channel_order_id(channel, placed)

        order_lines = self._lines(
            channel, channel_order_id, lines or rnd.choice((1, 1, 1, 2, 2, 3, 4))
        )
        goods = sum_money(line.goods for line in order_lines)
        shipping = (
            Money("0.00")
            if goods >= Money("99.00")
            else Money(rnd.choice(("8.00", "10.00", "12.00")))
        )
        discounts = self._discounts(goods)
        discount_total = sum_money(d.amount for d in discounts)
        shares = allocate(discount_total, [line.goods for line in order_lines])
        order_lines = [
            line.evolve(
                discounts=(
                    Discount(
                        funded_by=DiscountFunder.SELLER, amount=share, name="order discount share"
                    ),
                )
                if share
                else (),
                paid=line.goods - share,
            )
            for line, share in zip(order_lines, shares, strict=True)
        ]
        paid = goods + shipping - discount_total
        amounts = OrderAmounts(
            goods=goods, shipping=shipping, discounts=tuple(discounts), paid=paid
        )

        paid_at = None
        if status is not OrderStatus.PENDING_PAYMENT and not (
            status is OrderStatus.CANCELLED and rnd.random() < 0.5
        ):
            paid_at = self._channel_time(
                placed + timedelta(seconds=rnd.randrange(5, 900)), time_format
            )
        shipments: tuple[Shipment, ...] = ()
        shipped_at = None
        if status in _SHIPPED:
            shipped = placed + timedelta(hours=rnd.randrange(2, 48))
            shipped_at = self._channel_time(shipped, time_format)
            shipments = (self._shipment(order_lines, shipped_at),)
        completed_at = (
            self._channel_time(placed + timedelta(days=rnd.randrange(3, 10)), time_format)
            if status is OrderStatus.COMPLETED
            else None
        )
        cancelled_at = (
            self._channel_time(placed + timedelta(minutes=rnd.randrange(10, 1440)), time_format)
            if status is OrderStatus.CANCELLED
            else None
        )

        order_type = OrderType.NORMAL
        presale = None
        b2b = None
        if channel in ("taobao", "douyin") and rnd.random() < 0.05:
            order_type = OrderType.PRESALE
            deposit = Money.from_fen(max(1, paid.minor // 5))
            presale = Presale(
                phase=PresalePhase.BALANCE_PAID if paid_at else PresalePhase.DEPOSIT_PAID,
                deposit=deposit,
                balance=paid - deposit,
                deposit_paid_at=created_at,
                balance_paid_at=paid_at,
                promised_ship_by=self._channel_time(placed + timedelta(days=15), time_format),
            )
        elif channel == "pos" and rnd.random() < 0.3:
            order_type = OrderType.B2B
            b2b = B2BInfo(
                customer_id=f"C{rnd.randrange(100, 999)}",
                purchase_order_no=f"PO-{placed:%Y%m%d}-{rnd.randrange(1000, 9999)}",
                pool_id=f"POOL-{placed:%Y%W}",
            )

        tags = []
        if rnd.random() < 0.08:
            tags.append("urgent")
        if any(line.sku.startswith("MUG-ENG") for line in order_lines):
            tags.append("engraving")
        attributes = {}
        if channel == "taobao" and rnd.random() < 0.2:
            attributes["service_package"] = attribute(
                {"id": "SP-INSTALL", "name": "送货入户并安装"}
            )
        if channel == "jd" and rnd.random() < 0.5:
            attributes["invoice_type"] = attribute(
                rnd.choice(("普通发票", "增值税专用发票", "电子发票"))
            )
        if channel == "wechat_channels" and rnd.random() < 0.4:
            attributes["referrer_id"] = attribute(f"finder_{rnd.randrange(10_000, 99_999)}")

        region = rnd.choice(_REGIONS)
        phone = f"1{rnd.choice('3578')}{rnd.randrange(10**8, 10**9)}"
        receiver = Address(
            name=rnd.choice(_SURNAMES) + "".join(rnd.choices(_GIVEN, k=rnd.choice((1, 2)))),
            phone=phone,
            province=region[0],
            city=region[1],
            district=region[2],
            detail=(
                f"{rnd.choice(_STREETS)}{rnd.randrange(1, 999)}号"
                f"{rnd.randrange(1, 30)}幢{rnd.randrange(101, 2801)}室"
            ),
        )
        raw = self._raw(channel, channel_order_id, status, created_at, amounts, order_lines)
        data: dict[str, Any] = {
            "channel": channel,
            "channel_order_id": channel_order_id,
            "shop_id": f"{channel}-shop-1",
            "order_type": order_type,
            "status": status,
            "channel_status": _channel_status(channel, status),
            "source": Source(
                kind=source_kind, name=source_name, received_at=placed + timedelta(seconds=3)
            ),
            "buyer": Buyer(channel_buyer_id=f"{channel}_buyer_{rnd.randrange(1, 5000)}"),
            "receiver": receiver,
            "lines": tuple(order_lines),
            "amounts": amounts,
            "payment": Payment(
                method=rnd.choice(("alipay", "wechat_pay", "bank_card")), transaction_id=None
            )
            if paid_at
            else None,
            "presale": presale,
            "b2b": b2b,
            "shipments": shipments,
            "buyer_note": rnd.choice((None, None, None, "请尽快发货", "周末送货")),
            "tags": tuple(tags),
            "attributes": attributes,
            "created_at": created_at,
            "paid_at": paid_at,
            "shipped_at": shipped_at,
            "completed_at": completed_at,
            "cancelled_at": cancelled_at,
            "raw": raw,
        }
        data.update(fields)
        return Order(**data)

    # -- parts -----------------------------------------------------------------------------

    def _channel_time(self, instant: datetime, time_format: str) -> ChannelTime:
        if time_format == "epoch_s":
            value: Any = int(instant.timestamp())
        elif time_format == "epoch_ms":
            value = int(instant.timestamp()) * 1000 + self.random.randrange(1000)
        elif time_format == "beijing":
            value = (instant + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
        else:
            value = instant.replace(microsecond=0).isoformat()
        parsed = parse_channel_time(value)
        assert parsed is not None
        return parsed

    def _channel_order_id(self, channel: str, placed: datetime) -> str:
        rnd = self.random
        serial = self._serial
        if channel == "taobao":
            return str(3_700_000_000_000_000_000 + serial * 7919 + rnd.randrange(7919))
        if channel == "pdd":
            return f"{placed:%y%m%d}-{rnd.randrange(10**14, 10**15)}"
        if channel == "jd":
            return str(280_000_000_000 + serial * 101 + rnd.randrange(101))
        if channel == "douyin":
            return str(6_900_000_000_000_000_000 + serial * 104_729 + rnd.randrange(104_729))
        if channel == "youzan":
            return f"E{placed:%Y%m%d%H%M%S}{serial:06d}{rnd.randrange(100, 999)}"
        if channel == "wechat_channels":
            return str(3_710_000_000_000_000_000 + serial * 6271 + rnd.randrange(6271))
        if channel == "xiaohongshu":
            return f"P7{serial:08d}{rnd.randrange(10**8, 10**9)}"
        return f"POS-{placed:%Y%m%d}-{serial:06d}"

    def _lines(self, channel: str, channel_order_id: str, count: int) -> list[OrderLine]:
        rnd = self.random
        products = rnd.sample(CATALOGUE, k=min(count, len(CATALOGUE)))
        lines = []
        for index, product in enumerate(products, start=1):
            channel_line_id = f"{channel_order_id}-{index}" if channel != "pos" else None
            lines.append(
                OrderLine(
                    line_id=str(index),
                    sku=product.sku,
                    title=product.title,
                    spec=product.spec,
                    quantity=rnd.choice((1, 1, 1, 1, 2, 2, 3)),
                    unit_price=Money(product.price),
                    channel_line_id=channel_line_id,
                    channel_item_id=str(600_000_000_000 + CATALOGUE.index(product)),
                    merchant_sku=product.sku,
                    is_gift=False,
                )
            )
        return lines

    def _discounts(self, goods: Money) -> list[Discount]:
        rnd = self.random
        discounts = []
        if goods >= Money("299.00") and rnd.random() < 0.5:
            discounts.append(
                Discount(funded_by=DiscountFunder.SELLER, amount=Money("30.00"), name="满299减30")
            )
        if rnd.random() < 0.3:
            discounts.append(
                Discount(
                    funded_by=DiscountFunder.PLATFORM,
                    amount=Money(rnd.choice(("5.00", "10.00"))),
                    name="平台券",
                )
            )
        if rnd.random() < 0.15:
            discounts.append(
                Discount(funded_by=DiscountFunder.COUPON, amount=Money("3.00"), name="店铺券")
            )
        total = sum_money(d.amount for d in discounts)
        return discounts if total < goods else []

    def _shipment(self, lines: list[OrderLine], shipped_at: ChannelTime) -> Shipment:
        rnd = self.random
        code, name = rnd.choice(_CARRIERS)
        tracking = f"{code[:2].upper()}{rnd.randrange(10**11, 10**12)}"
        return Shipment(
            shipment_id=new_id(),
            carrier_code=code,
            carrier_name=name,
            tracking_no=tracking,
            shipped_at=shipped_at,
            packages=(
                Package(
                    package_id="1",
                    tracking_no=tracking,
                    lines=tuple(
                        PackageLine(line_id=line.line_id, quantity=line.quantity) for line in lines
                    ),
                ),
            ),
        )

    @staticmethod
    def _raw(
        channel: str,
        channel_order_id: str,
        status: OrderStatus,
        created_at: ChannelTime,
        amounts: OrderAmounts,
        lines: list[OrderLine],
    ) -> RawPayload:
        in_fen = channel in ("douyin", "wechat_channels", "xiaohongshu")

        def money(value: Money) -> Any:
            return value.minor if in_fen else str(value.amount)

        payload = {
            "order_id": channel_order_id,
            "status": _channel_status(channel, status).value,
            "create_time": created_at.original,
            "pay_amount": money(amounts.paid),
            "post_amount": money(amounts.shipping),
            "items": [
                {"sku": line.merchant_sku, "num": line.quantity, "price": money(line.unit_price)}
                for line in lines
            ],
        }
        return RawPayload(text=json.dumps(payload, ensure_ascii=False, separators=(",", ":")))
