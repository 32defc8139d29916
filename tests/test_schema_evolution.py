"""Stored bodies of older schema versions load through the upcasters; newer ones are refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from ordercore import Money
from ordercore.errors import SchemaError, SchemaVersionError
from ordercore.pii import PhoneNumber
from ordercore.schema import (
    SCHEMA_VERSION,
    AnomalyCode,
    Order,
    OrderStatus,
    _evolution,
    json_schema,
    load_order_json,
    upcast_order,
)
from ordercore.testing import OrderFactory

STORED = Path(__file__).parent / "fixtures" / "stored"
PAYLOADS = Path(__file__).parent / "fixtures" / "payloads"


def stored(name: str) -> str:
    return (STORED / name).read_text(encoding="utf-8")


class TestStoredVersionOne:
    """Bodies written by schema version 1, kept in tests/fixtures/stored/ for good."""

    def test_the_fixtures_are_version_one_bodies(self) -> None:
        """The fixtures were written by version 1: no node, status_since or anomalies."""
        for name in ("order_v1.json", "order_v1_unbalanced.json"):
            body = json.loads(stored(name))
            assert body["schema_version"] == 1
            assert not {"node", "status_since", "anomalies"} & set(body)
            with pytest.raises(SchemaError) as caught:
                Order.model_validate_json(stored(name))
            assert caught.value.problems[0].kind == "schema_version_older"

    def test_a_v1_body_loads_with_its_values(self) -> None:
        """Every value of the stored Youzan order reads back: ids, lines, money, receiver, raw."""
        order = load_order_json(stored("order_v1.json"))
        assert order.schema_version == SCHEMA_VERSION == 2
        assert (order.id, order.version) == ("01M8SKTFWF12D425FD79NMJ0MV", 3)
        assert order.key == ("youzan", "E20190326101702000600011")
        assert order.status is OrderStatus.CANCELLED
        assert order.recorded_at == datetime(2026, 3, 1, 2, 15, 7, 123456, tzinfo=UTC)
        assert order.updated_at == datetime(2026, 3, 2, 9, 0, 0, 654321, tzinfo=UTC)
        assert [(line.line_id, line.sku) for line in order.lines] == [
            ("1507387350277163963", "8002"),
            ("1507387350277163964", "8001"),
        ]
        assert order.amounts.goods == Money("1.20")
        assert order.amounts.paid == Money("1.00")
        assert order.amounts.discount_total == Money("0.20")
        assert sum((line.discount_total for line in order.lines), Money.zero()) == Money("0.20")
        assert order.receiver is not None
        assert order.receiver.phone == PhoneNumber("13800138000")
        assert order.tags == ("vip",)
        assert order.raw is not None
        assert order.raw.text.encode() == (PAYLOADS / "youzan_order.json").read_bytes()
        assert len(order.after_sales) == 2 and len(order.shipments) == 1

    def test_the_upcaster_fills_status_since_from_the_last_write(self) -> None:
        """Version 1 did not record when the status began: updated_at is the bound it has."""
        order = load_order_json(stored("order_v1.json"))
        assert order.status_since == order.updated_at
        assert order.node is None

    def test_status_since_falls_back_to_recorded_at(self) -> None:
        """A v1 body without updated_at takes recorded_at."""
        body = json.loads(stored("order_v1.json"))
        body["updated_at"] = None
        order = load_order_json(json.dumps(body))
        assert order.status_since == datetime(2026, 3, 1, 2, 15, 7, 123456, tzinfo=UTC)

    def test_anomalies_are_computed_for_an_old_unbalanced_body(self) -> None:
        """The stored Douyin sample does not balance: loading it adds the anomaly."""
        order = load_order_json(stored("order_v1_unbalanced.json").encode())
        assert [a.code for a in order.anomalies] == [AnomalyCode.AMOUNTS_UNBALANCED]
        assert (order.anomalies[0].expected, order.anomalies[0].actual) == (
            Money("-1.01"),
            Money("5.00"),
        )
        assert order.buyer_note is not None and order.version == 1

    def test_an_upcast_order_round_trips_as_the_current_version(self) -> None:
        """Written again, the upcast order is a current body that loads on the fast path."""
        order = load_order_json(stored("order_v1_unbalanced.json"))
        text = order.model_dump_json()
        assert json.loads(text)["schema_version"] == SCHEMA_VERSION
        assert Order.model_validate_json(text) == order == load_order_json(text)

    def test_upcast_order_does_not_change_its_input(self) -> None:
        """upcast_order() returns a new dict in the current schema and leaves the body alone."""
        body = json.loads(stored("order_v1.json"))
        before = json.dumps(body, sort_keys=True)
        upcast = upcast_order(body)
        assert json.dumps(body, sort_keys=True) == before
        assert upcast["schema_version"] == SCHEMA_VERSION
        assert upcast["status_since"] == body["updated_at"]
        assert Order.model_validate(upcast).key == ("youzan", "E20190326101702000600011")


class TestFastPath:
    def test_a_current_body_is_one_json_validation(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A current body never reaches Python's json module or the upcasters."""
        order = OrderFactory(seed=7).order()
        text = order.model_dump_json()

        def refuse(*args: Any, **kwargs: Any) -> Any:
            raise AssertionError("a current body must not be parsed in Python")

        monkeypatch.setattr(json, "loads", refuse)
        monkeypatch.setattr(_evolution, "upcast_order", refuse)
        assert load_order_json(text) == order
        assert load_order_json(text.encode()) == order

    def test_a_body_without_raw_loads(self) -> None:
        """Stores keep the raw payload in its own column: the body without it loads."""
        order = OrderFactory(seed=8).order()
        lean = order.model_dump_json(exclude={"raw"})
        assert load_order_json(lean) == order.model_copy(update={"raw": None})

    def test_an_invalid_current_body_is_a_schema_error(self) -> None:
        """A broken current body fails with the model's own SchemaError, not a version error."""
        data = json.loads(OrderFactory(seed=9).order().model_dump_json())
        data["lines"] = []
        with pytest.raises(SchemaError) as caught:
            load_order_json(json.dumps(data))
        assert type(caught.value) is SchemaError
        assert "at least one line" in str(caught.value)
        with pytest.raises(SchemaError, match="Invalid JSON"):
            load_order_json("{not json")


class TestUnreadableVersions:
    def body(self, **changes: Any) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(stored("order_v1.json"))
        data.update(changes)
        return data

    def test_a_newer_body_is_refused_with_a_version_error(self) -> None:
        """A body from a newer ordercore raises SchemaVersionError saying to upgrade."""
        with pytest.raises(SchemaVersionError, match="upgrade ordercore") as caught:
            load_order_json(json.dumps(self.body(schema_version=SCHEMA_VERSION + 1)))
        assert (caught.value.version, caught.value.supported) == (SCHEMA_VERSION + 1, 2)
        assert caught.value.channel_order_id == "E20190326101702000600011"
        assert caught.value.field == "schema_version"

    @pytest.mark.parametrize("version", [0, -1, "one", None, True, 1.5])
    def test_a_version_that_is_not_a_whole_number_from_one(self, version: object) -> None:
        """A schema_version that is no version at all is a SchemaVersionError too."""
        with pytest.raises(SchemaVersionError, match="whole number from 1") as caught:
            upcast_order(self.body(schema_version=version))
        assert caught.value.version is None
        with pytest.raises(SchemaVersionError):
            load_order_json(json.dumps(self.body(schema_version=version)))

    def test_a_body_that_is_not_an_object(self) -> None:
        """upcast_order() wants a parsed JSON object."""
        with pytest.raises(SchemaVersionError, match="JSON object"):
            upcast_order([1, 2])  # type: ignore[arg-type]

    def test_a_missing_step_is_a_version_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With no upcaster from a version, its bodies are refused, naming the gap."""
        monkeypatch.delitem(_evolution._UPCASTERS, 1)
        with pytest.raises(SchemaVersionError, match="no upcaster from schema version 1 to 2"):
            load_order_json(stored("order_v1.json"))

    def test_upcasters_run_in_order(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Each step sees the output of the one before, with schema_version advanced."""
        seen: list[int] = []

        def step(body: dict[str, Any]) -> dict[str, Any]:
            seen.append(body["schema_version"])
            return body

        monkeypatch.setattr(_evolution, "SCHEMA_VERSION", 4)
        monkeypatch.setitem(_evolution._UPCASTERS, 2, step)
        monkeypatch.setitem(_evolution._UPCASTERS, 3, step)
        upcast = upcast_order(self.body())
        assert seen == [2, 3]
        assert upcast["schema_version"] == 4
        assert upcast["status_since"] == upcast["updated_at"]

    def test_every_version_below_the_current_one_has_a_step(self) -> None:
        """The registry leads from version 1 all the way to SCHEMA_VERSION."""
        assert sorted(_evolution._UPCASTERS) == list(range(1, SCHEMA_VERSION))


class TestJsonSchemaOfTheVersion:
    def test_the_export_names_the_current_version(self) -> None:
        """The exported JSON Schema has the version in its id and as the only schema_version."""
        schema = json_schema()
        assert schema["$id"].endswith(f"order-v{SCHEMA_VERSION}.json")
        assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
        assert {"node", "status_since", "anomalies"} <= set(schema["properties"])
        assert "OrderAnomaly" in schema["$defs"]
