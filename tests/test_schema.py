"""The canonical order's own rules: validation, errors, immutability, attributes, JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import jsonschema
import pytest

from ordercore import Money, Order, OrderAmounts, OrderLine, parse_channel_time
from ordercore.errors import ConfigurationError, FrozenModelError, LineNotFound, SchemaError
from ordercore.schema import (
    SCHEMA_VERSION,
    AnomalyCode,
    Discount,
    DiscountFunder,
    OrderAnomaly,
    OrderEvent,
    OrderStatus,
    RawPayload,
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
        with pytest.raises(SchemaError, match="upgrade ordercore") as caught:
            Order.model_validate(data)
        assert caught.value.problems[0].field == "schema_version"
        assert caught.value.problems[0].kind == "schema_version_newer"

    def test_an_older_schema_version_points_to_the_loader(self) -> None:
        """The model reads only the current version; older bodies go through load_order_json."""
        data = json.loads(Order(**minimal()).model_dump_json())
        data["schema_version"] = 1
        with pytest.raises(SchemaError, match=r"load_order_json\(\)") as caught:
            Order.model_validate_json(json.dumps(data))
        assert caught.value.problems[0].kind == "schema_version_older"

    @pytest.mark.parametrize("amount_field", ["goods", "paid", "shipping"])
    def test_negative_goods_paid_or_shipping_are_refused(self, amount_field: str) -> None:
        """Goods, what was paid and shipping cannot be below zero; the error names the field."""
        amounts = {"goods": Money("536.00"), "paid": Money("536.00"), amount_field: Money("-0.01")}
        with pytest.raises(SchemaError) as caught:
            Order(**minimal(amounts=amounts))
        (problem,) = caught.value.problems
        assert problem.field == f"amounts.{amount_field}"
        assert problem.problem == "must not be negative (got -0.01 CNY)"
        with pytest.raises(SchemaError):
            Order.model_validate_json(
                Order(**minimal())
                .model_dump_json()
                .replace('"goods":{"amount":"536.00"', '"goods":{"amount":"-536.00"')
            )

    def test_a_negative_adjustment_is_still_allowed(self) -> None:
        """A seller's price cut is a negative adjustment, not an error."""
        amounts = {"goods": Money("536.00"), "adjustment": Money("-36.00"), "paid": Money("500.00")}
        order = Order(**minimal(amounts=amounts))
        assert order.amounts.balances and order.anomalies == ()

    def test_node_is_a_short_lower_snake_case_code(self) -> None:
        """The lifecycle node is a code like awaiting_outbound; anything else is refused."""
        assert Order(**minimal(node="awaiting_outbound")).node == "awaiting_outbound"
        for bad in ("Awaiting", "awaiting outbound", "x" * 65, "", "1st"):
            with pytest.raises(SchemaError) as caught:
                Order(**minimal(node=bad))
            assert caught.value.field == "node"

    def test_status_since_must_be_aware(self) -> None:
        """status_since, like recorded_at, is an aware instant."""
        since = datetime(2026, 11, 11, 1, tzinfo=UTC)
        assert Order(**minimal(status_since=since)).status_since == since
        with pytest.raises(SchemaError) as caught:
            Order(**minimal(status_since=datetime(2026, 11, 11, 1)))
        assert caught.value.field == "status_since"

    def test_a_plain_string_for_a_time_points_to_parse_channel_time(self) -> None:
        """A channel's time string where a ChannelTime belongs says how to read it."""
        for validate in (
            lambda: Order(**minimal(created_at="2026-11-11 00:00:05")),
            lambda: Order.model_validate_json(
                json.dumps(
                    {
                        **json.loads(Order(**minimal()).model_dump_json()),
                        "created_at": "2026-11-11 00:00:05",
                    }
                )
            ),
        ):
            with pytest.raises(SchemaError) as caught:
                validate()
            (problem,) = caught.value.problems
            assert problem.field == "created_at"
            assert "parse_channel_time()" in problem.problem

    def test_a_huge_or_personal_channel_order_id_stays_out_of_the_message(self) -> None:
        """An invalid 10 MB id and a phone number given as the channel are cut and masked."""
        with pytest.raises(SchemaError) as caught:
            Order(**minimal(channel="13800138000", channel_order_id="7" * 10_000_000))
        text = str(caught.value)
        assert len(text) < 500
        assert "13800138000" not in text and "138****8000" in text
        assert "…(10000000 chars)" in text
        assert [p.field for p in caught.value.problems] == ["channel", "channel_order_id"]

    def test_repeated_line_ids_are_listed_briefly(self) -> None:
        """Hundreds of repeated long line ids give a bounded message."""
        line = {**minimal()["lines"][0], "line_id": "L" * 120}
        lines = [{**line, "line_id": f"{i:03d}" + "L" * 120} for i in range(300)] * 2
        with pytest.raises(SchemaError, match="and 297 more") as caught:
            Order(**minimal(lines=lines))
        assert len(str(caught.value)) < 700


class TestAnomalies:
    """Unbalanced amounts are accepted, recorded as typed anomalies, or refused in strict mode."""

    def unbalanced(self) -> dict[str, Any]:
        return minimal(amounts={"goods": Money("536.00"), "paid": Money("530.00")})

    def test_unbalanced_amounts_are_kept_with_an_anomaly(self) -> None:
        """By default the order is valid and carries amounts_unbalanced with the exact money."""
        order = Order(**self.unbalanced())
        (anomaly,) = order.anomalies
        assert anomaly.code is AnomalyCode.AMOUNTS_UNBALANCED
        assert (anomaly.expected, anomaly.actual) == (Money("536.00"), Money("530.00"))
        assert anomaly.field == "amounts.paid"
        assert "530.00 CNY" in anomaly.message and "536.00 CNY" in anomaly.message
        assert order.has_anomaly("amounts_unbalanced")
        assert "anomalies=('amounts_unbalanced',)" in repr(order)

    def test_a_balanced_order_has_none(self) -> None:
        """An order whose amounts add up carries no anomaly."""
        order = Order(**minimal())
        assert order.anomalies == () and not order.has_anomaly(AnomalyCode.AMOUNTS_UNBALANCED)

    def test_a_caller_cannot_hide_or_invent_an_anomaly(self) -> None:
        """Whatever is passed as anomalies, the order carries what its data implies."""
        hidden = Order(**self.unbalanced(), anomalies=())
        assert [a.code for a in hidden.anomalies] == [AnomalyCode.AMOUNTS_UNBALANCED]
        fake = OrderAnomaly(code=AnomalyCode.AMOUNTS_UNBALANCED, message="made up")
        assert Order(**minimal(anomalies=[fake])).anomalies == ()
        data = json.loads(hidden.model_dump_json())
        data["anomalies"] = []
        back = Order.model_validate_json(json.dumps(data))
        assert [a.code for a in back.anomalies] == [AnomalyCode.AMOUNTS_UNBALANCED]

    def test_copies_keep_the_anomalies_in_step(self) -> None:
        """evolve() and model_copy() recompute anomalies when the amounts change."""
        order = Order(**self.unbalanced())
        fixed = {"goods": Money("536.00"), "paid": Money("536.00")}
        assert order.evolve(amounts=fixed).anomalies == ()
        assert order.model_copy(update={"amounts": OrderAmounts(**fixed)}).anomalies == ()
        assert order.model_copy(update={"anomalies": ()}).anomalies == order.anomalies
        stamped = order.model_copy(update={"version": 2})
        assert stamped.anomalies == order.anomalies and stamped.version == 2

    def test_anomalies_survive_json_and_are_recomputed(self) -> None:
        """The JSON form carries the anomalies (queryable in a store) and reads back equal."""
        order = Order(**self.unbalanced())
        data = json.loads(order.model_dump_json())
        assert data["anomalies"] == [{
            "code": "amounts_unbalanced", "message": order.anomalies[0].message,
            "field": "amounts.paid", "expected": {"amount": "536.00", "currency": "CNY"},
            "actual": {"amount": "530.00", "currency": "CNY"},
        }]  # fmt: skip
        assert Order.model_validate_json(order.model_dump_json()) == order

    def test_strict_mode_refuses_unbalanced_amounts(self) -> None:
        """Order.strict() and the strict_amounts context raise SchemaError naming the amounts."""
        for validate in (
            lambda: Order.strict(**self.unbalanced()),
            lambda: Order.model_validate(self.unbalanced(), context={"strict_amounts": True}),
            lambda: Order.model_validate_json(
                Order(**self.unbalanced()).model_dump_json(), context={"strict_amounts": True}
            ),
        ):
            with pytest.raises(SchemaError) as caught:
                validate()
            (problem,) = caught.value.problems
            assert (problem.field, problem.kind) == ("amounts", "amounts_unbalanced")
            assert "530.00 CNY" in problem.problem
        assert Order.strict(**minimal()).anomalies == ()

    def test_strict_mode_is_per_call_not_global(self) -> None:
        """A strict validation leaves the next lenient one lenient."""
        with pytest.raises(SchemaError):
            Order.strict(**self.unbalanced())
        assert Order(**self.unbalanced()).has_anomaly("amounts_unbalanced")
        assert Order.model_validate(self.unbalanced(), context={"strict_amounts": False}).anomalies


class TestImmutability:
    def test_orders_are_frozen(self) -> None:
        """Assigning to a field fails; evolve() returns a changed, validated copy."""
        order = Order(**minimal())
        with pytest.raises(FrozenModelError, match=r"use order\.evolve\(status=\.\.\.\)") as caught:
            order.status = OrderStatus.CANCELLED  # type: ignore[misc]
        assert (caught.value.model, caught.value.field) == ("Order", "status")
        assert isinstance(caught.value, AttributeError)
        with pytest.raises(FrozenModelError):
            order.lines[0].quantity = 3  # type: ignore[misc]
        with pytest.raises(FrozenModelError):
            del order.receiver
        assert order.status is OrderStatus.PAID
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

    def test_an_unknown_funder_is_a_configuration_error(self) -> None:
        """discount_by() with a funder that does not exist is a typed error listing the funders."""
        amounts = OrderAmounts(goods=Money("1.00"), paid=Money("1.00"))
        with pytest.raises(ConfigurationError, match=r"unknown discount funder 'bank'.*platform"):
            amounts.discount_by("bank")

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


class TestLines:
    def test_line_finds_by_id(self) -> None:
        """order.line(id) returns the line with that id."""
        order = Order(**minimal())
        assert order.line("1").sku == "TEA-LJ-250"

    def test_a_missing_line_is_a_typed_key_error(self) -> None:
        """An unknown line id raises LineNotFound (a KeyError) with the order and line ids."""
        order = Order(**minimal())
        with pytest.raises(LineNotFound) as caught:
            order.line("9")
        assert (caught.value.order_id, caught.value.line_id) == (order.id, "9")
        assert isinstance(caught.value, KeyError)
        assert f"order {order.id} has no line '9'" in str(caught.value)

    def test_a_missing_line_does_not_echo_huge_or_personal_ids(self) -> None:
        """The id asked for is cut and masked like every echoed value."""
        order = Order(**minimal())
        with pytest.raises(LineNotFound) as caught:
            order.line("13800138000" + "x" * 100_000)
        assert "13800138000" not in str(caught.value)
        assert len(str(caught.value)) < 300


class TestRepresentation:
    def test_raw_payload_repr_shows_only_its_size(self) -> None:
        """repr(order.raw) shows the length and content type, never the text."""
        raw = RawPayload(text='{"receiver_mobile": "13912345678", "name": "李雷"}')
        assert repr(raw) == f"RawPayload(length={len(raw.text)}, content_type='application/json')"
        assert str(raw) == f"length={len(raw.text)} content_type='application/json'"

    def test_notes_and_reasons_stay_out_of_reprs(self) -> None:
        """Buyer and seller notes and after-sale reasons are free text: never in a repr."""
        case = {"channel_after_sale_id": "R1", "reason": "李雷 13912345678 不想要了"}
        order = Order(**minimal(buyer_note="请打 13912345678 找李雷", seller_note="VIP 李雷",
                                after_sales=[case]))  # fmt: skip
        text = repr(order) + str(order) + repr(order.after_sales) + str(order.after_sales[0])
        assert "李雷" not in text and "13912345678" not in text
        assert "R1" in repr(order.after_sales[0])

    def test_storage_dumps_carry_the_payload_and_notes(self) -> None:
        """model_dump and model_dump_json keep the raw text and notes, for stores."""
        order = Order(**minimal(raw={"text": '{"a": "13700001111"}'}, buyer_note="李雷"))
        assert order.model_dump()["raw"]["text"] == '{"a": "13700001111"}'
        assert order.model_dump()["buyer_note"] == "李雷"
        assert "13700001111" in order.model_dump_json()
        lean = order.model_dump_json(exclude={"raw"})
        assert "raw" not in json.loads(lean) and "13700001111" not in lean
        assert Order.model_validate_json(lean) == order.model_copy(update={"raw": None})

    def test_raw_payload_errors_are_typed(self) -> None:
        """A payload that is not JSON, or a value that cannot be JSON, raises SchemaError."""
        with pytest.raises(SchemaError) as caught:
            RawPayload(text="{not json").parse_json()
        assert (caught.value.model, caught.value.problems[0].kind) == ("RawPayload", "json_invalid")
        loop: list[Any] = []
        loop.append(loop)
        with pytest.raises(SchemaError, match="cannot be written as JSON"):
            RawPayload.from_json(loop)

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
