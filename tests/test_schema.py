"""The canonical order's own rules: validation, errors, immutability, attributes, JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from ordercore import Money, Order, OrderAmounts, OrderLine, parse_channel_time
from ordercore.errors import SchemaError
from ordercore.schema import (
    SCHEMA_VERSION,
    Discount,
    DiscountFunder,
    OrderEvent,
    OrderStatus,
    attribute,
    json_schema,
)
from ordercore.testing import OrderFactory


def minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "channel": "taobao",
        "channel_order_id": "3725362658812595205",
        "status": "paid",
        "channel_status": {"value": "WAIT_SELLER_SEND_GOODS"},
        "source": {"kind": "pull", "name": "taobao.trades.sold.get"},
        "created_at": parse_channel_time("2026-11-11 00:00:05"),
        "lines": [
            {"line_id": "1", "sku": "TEA-LJ-250", "title": "龙井", "quantity": 2,
             "unit_price": Money("268.00")},
        ],
        "amounts": {"goods": Money("536.00"), "paid": Money("536.00")},
        "receiver": {"name": "李雷", "phone": "13912345678", "detail": "南京西路 88 号"},
    }  # fmt: skip
    data.update(changes)
    return data


class TestValidation:
    def test_a_minimal_order_is_valid_and_gets_an_id(self) -> None:
        """Only the channel facts are required; id, version and schema_version are filled in."""
        order = Order(**minimal())
        assert len(order.id) == 26
        assert order.version == 0
        assert order.schema_version == SCHEMA_VERSION
        assert order.created_at.utc == datetime(2026, 11, 10, 16, 0, 5, tzinfo=UTC)

    def test_errors_name_every_field_and_the_channel_order(self) -> None:
        """One SchemaError lists each bad field by dotted path, with the channel order id."""
        data = minimal(status="shipping", lines=[{**minimal()["lines"][0], "quantity": 0}])
        data["amounts"] = {"goods": {"amount": "1.001"}, "paid": Money("1.00")}
        with pytest.raises(SchemaError) as caught:
            Order(**data)
        error = caught.value
        fields = [p.field for p in error.problems]
        assert fields == ["status", "lines.0.quantity", "amounts.goods"]
        assert error.field == "status"
        assert error.channel == "taobao" and error.channel_order_id == "3725362658812595205"
        assert "taobao:3725362658812595205" in str(error)
        assert "more than 2 decimal places" in str(error)
        assert isinstance(error, ValueError)

    def test_model_validate_and_json_raise_schema_error_too(self) -> None:
        """Every way in (constructor, model_validate, model_validate_json) raises SchemaError."""
        with pytest.raises(SchemaError, match="channel_order_id: is required"):
            Order.model_validate({k: v for k, v in minimal().items() if k != "channel_order_id"})
        with pytest.raises(SchemaError) as caught:
            Order.model_validate_json(b'{"channel": "jd"}')
        assert {"channel_order_id", "status", "lines"} <= {p.field for p in caught.value.problems}
        with pytest.raises(SchemaError, match="Invalid JSON"):
            Order.model_validate_json("{not json")

    def test_floats_are_refused_as_money(self) -> None:
        """A float price is a field error that says why, not a silently rounded amount."""
        line = {**minimal()["lines"][0], "unit_price": 268.0}
        with pytest.raises(SchemaError) as caught:
            Order(**minimal(lines=[line]))
        assert caught.value.problems[0].field == "lines.0.unit_price"
        assert caught.value.problems[0].kind == "money-float"

    def test_unknown_fields_are_refused(self) -> None:
        """A misspelt field is an error rather than silently dropped data."""
        with pytest.raises(SchemaError, match="reciever: is not a field"):
            Order(**minimal(reciever={}))

    def test_errors_never_show_personal_data(self) -> None:
        """A SchemaError about an order with a receiver shows neither phone nor street."""
        data = minimal(receiver={"name": "李雷", "phone": 13912345678, "detail": "南京西路 88 号"})
        with pytest.raises(SchemaError) as caught:
            Order(**data)
        text = str(caught.value) + repr(caught.value)
        assert "13912345678" not in text and "南京西路" not in text
        assert caught.value.problems[0].field == "receiver.phone"

    def test_line_ids_must_be_unique(self) -> None:
        """Two lines with one line_id cannot be told apart by shipments and returns."""
        line = minimal()["lines"][0]
        with pytest.raises(SchemaError, match="repeated"):
            Order(**minimal(lines=[line, line]))

    def test_amounts_must_share_one_currency(self) -> None:
        """Mixing currencies within an order is refused, in amounts and in line prices."""
        with pytest.raises(SchemaError, match="one currency"):
            Order(**minimal(amounts={"goods": Money("5", "USD"), "paid": Money("5")}))
        line = {**minimal()["lines"][0], "unit_price": Money("1.00", "USD")}
        with pytest.raises(SchemaError, match="line 1 has amounts in USD"):
            Order(**minimal(lines=[line]))
        line = {**minimal()["lines"][0], "adjustment": Money("-1.00", "USD")}
        with pytest.raises(SchemaError, match="line 1 has amounts in USD"):
            Order(**minimal(lines=[line]))

    def test_omitted_amounts_are_zero_in_the_order_currency(self) -> None:
        """A USD order needs no explicit USD zeros for shipping, tax, fees and adjustment."""
        line = {**minimal()["lines"][0], "unit_price": Money("5.00", "USD"), "quantity": 1}
        amounts = {"goods": Money("5.00", "USD"), "paid": Money("5.00", "USD")}
        order = Order(**minimal(lines=[line], amounts=amounts))
        assert order.amounts.shipping == Money.zero("USD")
        assert order.amounts.expected_paid == Money("5.00", "USD")

    def test_shipments_and_after_sales_may_only_name_ordered_lines(self) -> None:
        """Package lines and after-sale cases must refer to lines of the order."""
        ship = {"tracking_no": "SF1", "packages": [{"lines": [{"line_id": "9", "quantity": 1}]}]}
        with pytest.raises(SchemaError, match="unknown line 9"):
            Order(**minimal(shipments=[ship]))
        case = {"channel_after_sale_id": "R1", "kind": "refund", "line_ids": ["1", "7"]}
        with pytest.raises(SchemaError, match=r"unknown lines \['7'\]"):
            Order(**minimal(after_sales=[case]))

    def test_a_resent_parcel_may_hold_more_than_was_ordered(self) -> None:
        """Re-sends and exchanges ship a line again; that is recorded, not refused."""
        first = {"tracking_no": "SF1", "packages": [{"lines": [{"line_id": "1", "quantity": 2}]}]}
        again = {"tracking_no": "SF2", "status": "resent",
                 "packages": [{"lines": [{"line_id": "1", "quantity": 1}]}]}  # fmt: skip
        order = Order(**minimal(shipments=[first, again]))
        assert [s.status for s in order.shipments] == [None, "resent"]

    def test_a_newer_schema_version_is_refused(self) -> None:
        """An order written by a newer schema cannot be read as this one."""
        data = json.loads(Order(**minimal()).model_dump_json())
        data["schema_version"] = SCHEMA_VERSION + 1
        with pytest.raises(SchemaError, match="schema_version"):
            Order.model_validate(data)


class TestImmutability:
    def test_orders_are_frozen(self) -> None:
        """Assigning to a field fails; evolve() returns a changed, validated copy."""
        order = Order(**minimal())
        with pytest.raises(Exception, match="frozen"):
            order.status = OrderStatus.CANCELLED  # type: ignore[misc]
        cancelled = order.evolve(status="cancelled")
        assert cancelled.status is OrderStatus.CANCELLED and order.status is OrderStatus.PAID
        with pytest.raises(SchemaError):
            order.evolve(status="gone")

    def test_tags_are_sorted_and_unique(self) -> None:
        """Tags read back the same however they were given."""
        order = Order(**minimal(tags=["vip", "urgent", "vip"]))
        assert order.tags == ("urgent", "vip")
        assert order.with_tags("b2b").tags == ("b2b", "urgent", "vip")


class TestAttributes:
    @pytest.mark.parametrize(
        ("value", "kind"),
        [
            ("增值税专用发票", "string"),
            (3, "int"),
            (True, "bool"),
            (Decimal("1.25"), "decimal"),
            (Money("12.00"), "money"),
            (datetime(2026, 11, 11, tzinfo=UTC), "time"),
            ({"id": "SP-1", "name": "安装"}, "json"),
        ],
    )
    def test_values_keep_their_type_through_json(self, value: Any, kind: str) -> None:
        """D2: a channel fact becomes a typed attribute and reads back equal after JSON."""
        order = Order(**minimal()).with_attribute("channel_fact", value)
        assert order.attributes["channel_fact"].type == kind
        back = Order.model_validate_json(order.model_dump_json())
        assert back.attribute("channel_fact") == value
        assert back.attribute("missing", "default") == "default"

    def test_floats_and_bad_names_are_refused(self) -> None:
        """Attributes refuse floats (use Decimal) and names that are not lower_snake_case."""
        with pytest.raises(SchemaError, match="float"):
            attribute(1.5)
        with pytest.raises(SchemaError, match="lower_snake_case"):
            Order(**minimal()).with_attribute("Service Package", "x")
        with pytest.raises(SchemaError, match="attributes"):
            Order(**minimal(attributes={"Bad-Name": attribute("x")}))


class TestAmounts:
    def test_identity_and_discounts_by_funder(self) -> None:
        """goods + shipping + tax + fees + adjustment - discounts = paid; sums by funder."""
        amounts = OrderAmounts(
            goods=Money("300.00"),
            shipping=Money("10.00"),
            discounts=(
                Discount(funded_by=DiscountFunder.PLATFORM, amount=Money("15.00")),
                Discount(funded_by=DiscountFunder.SELLER, amount=Money("30.00")),
                Discount(funded_by=DiscountFunder.SELLER, amount=Money("5.00")),
            ),
            adjustment=Money("-0.50"),
            paid=Money("259.50"),
        )
        assert amounts.discount_total == Money("50.00")
        assert amounts.discount_by("seller") == Money("35.00")
        assert amounts.discount_by(DiscountFunder.COUPON) == Money("0.00")
        assert amounts.expected_paid == Money("259.50")
        assert amounts.balances
        assert not amounts.evolve(paid=Money("259.51")).balances

    def test_a_negative_discount_is_refused(self) -> None:
        """Discounts take money off; an increase is an adjustment."""
        with pytest.raises(SchemaError, match="adjustment"):
            Discount(funded_by=DiscountFunder.SELLER, amount=Money("-1.00"))

    def test_line_goods_and_discounts(self) -> None:
        """A line's goods are unit price x quantity, or the subtotal the channel sent."""
        line = OrderLine(line_id="1", sku="S", title="t", quantity=3, unit_price=Money("9.99"))
        assert line.goods == Money("29.97")
        assert line.discount_total == Money("0.00")
        odd = line.evolve(quantity=3, unit_price=Money("3.33"), subtotal=Money("10.00"))
        assert odd.goods == Money("10.00")


class TestRepresentation:
    def test_repr_is_short_and_masks_personal_data(self) -> None:
        """repr shows ids, status and money, never the receiver or the raw payload."""
        order = Order(**minimal(raw={"text": '{"receiver_mobile": "13912345678"}'}))
        text = repr(order) + str(order)
        assert order.id in text and "taobao" in text
        assert "13912345678" not in text and "南京西路" not in text
        assert "139****5678" in repr(order.receiver)

    def test_json_round_trip_is_lossless(self) -> None:
        """Dumping to JSON and validating it back gives an equal order, raw payload included."""
        for order in OrderFactory(seed=11).orders(60):
            back = Order.model_validate_json(order.model_dump_json())
            assert back == order
            assert back.raw is not None and order.raw is not None
            assert back.raw.text == order.raw.text


class TestJsonSchema:
    def test_exported_schema_accepts_orders_and_rejects_broken_ones(self) -> None:
        """The JSON Schema validates real orders' JSON and refuses numbers for money."""
        validator = jsonschema.Draft202012Validator(json_schema())
        order = OrderFactory(seed=3).order(channel="douyin")
        data = order.model_dump(mode="json")
        validator.validate(data)
        data["amounts"]["paid"] = {"amount": 12.5, "currency": "CNY"}
        assert not validator.is_valid(data)
        data["amounts"]["paid"] = {"amount": "12.50", "currency": "CNY"}
        data["status"] = "lost"
        assert not validator.is_valid(data)

    def test_event_schema(self) -> None:
        """OrderEvent exports its own schema and its types follow a dotted pattern."""
        schema = json_schema(OrderEvent)
        assert schema["title"] == "OrderEvent"
        with pytest.raises(SchemaError, match="type"):
            OrderEvent(order_id="x", type="Created!", actor={"kind": "system", "id": "x"})


class TestFactory:
    def test_factory_orders_are_valid_balanced_and_reproducible(self) -> None:
        """Every factory order balances and the same seed gives the same orders (ids apart)."""
        first = list(OrderFactory(seed=42).orders(200))
        second = list(OrderFactory(seed=42).orders(200))
        assert all(o.amounts.balances for o in first)
        assert [o.channel_order_id for o in first] == [o.channel_order_id for o in second]
        assert len({o.key for o in first}) == 200
        assert {o.channel for o in first} >= {"taobao", "douyin", "pdd", "jd", "xiaohongshu"}
        for order in first:
            shares = sum((line.discount_total for line in order.lines), Money.zero())
            assert shares == order.amounts.discount_total


class TestCurrencyFollowing:
    def test_omitted_zeros_follow_the_currency_from_json_too(self) -> None:
        """A USD order read from JSON without the zero fields gets USD zeros."""
        data = Order(**minimal()).model_dump(mode="json")
        data["lines"][0]["unit_price"] = {"amount": "268.00", "currency": "USD"}
        del data["lines"][0]["adjustment"]
        data["amounts"] = {
            "goods": {"amount": "536.00", "currency": "USD"},
            "paid": {"amount": "536.00", "currency": "USD"},
        }
        order = Order.model_validate_json(json.dumps(data))
        assert order.lines[0].adjustment == Money.zero("USD")
        assert order.amounts.tax == Money.zero("USD")
        assert order.amounts.balances
