"""The pytest plugin ordercore registers (entry point ``pytest11``) provides its fixtures."""

from __future__ import annotations

import importlib.metadata
import textwrap
from pathlib import Path
from typing import Any

import pytest

import ordercore.testing.pytest_plugin
from ordercore import Order, OrderStatus
from ordercore.storage import MemoryStore, SQLiteStore
from ordercore.testing import OrderFactory

pytest_plugins = ["pytester"]

#: The seed order_factory uses in test_order_factory_is_seeded_from_the_test_id below.
THIS_TEST = (
    "tests/test_pytest_plugin.py::TestOrderFactory::test_order_factory_is_seeded_from_the_test_id"
)


def _without_fresh_ids(value: Any) -> Any:
    """An order's data minus the ULIDs the factory draws fresh each time."""
    if isinstance(value, dict):
        return {
            key: _without_fresh_ids(item)
            for key, item in value.items()
            if key not in {"id", "shipment_id"}
        }
    if isinstance(value, list | tuple):
        return [_without_fresh_ids(item) for item in value]
    return value


def _data(order: Order) -> Any:
    return _without_fresh_ids(order.model_dump(mode="json"))


class TestRegistration:
    def test_the_distribution_declares_the_plugin_entry_point(self) -> None:
        """ordercore-oms declares ``ordercore = ordercore.testing.pytest_plugin`` in pytest11."""
        points = importlib.metadata.entry_points(group="pytest11", name="ordercore")
        assert [(p.value, p.dist.name if p.dist else None) for p in points] == [
            ("ordercore.testing.pytest_plugin", "ordercore-oms")
        ]

    def test_pytest_loaded_that_module_as_the_plugin(self, pytestconfig: pytest.Config) -> None:
        """The plugin pytest registered under the entry point's name is the fixture module."""
        plugin = pytestconfig.pluginmanager.get_plugin("ordercore")
        assert plugin is ordercore.testing.pytest_plugin


class TestOrderFactory:
    def test_order_factory_is_seeded_from_the_test_id(self, order_factory: OrderFactory) -> None:
        """The factory is seeded with the byte sum of the test's node id: same test, same orders."""
        assert type(order_factory) is OrderFactory
        again = OrderFactory(seed=sum(THIS_TEST.encode()))
        mine = [order_factory.order() for _ in range(3)]
        assert [_data(order) for order in mine] == [_data(again.order()) for _ in range(3)]
        assert [order.version for order in mine] == [0, 0, 0]


class TestStoreFixtures:
    def test_memory_store_is_an_empty_memory_store(
        self, memory_store: MemoryStore, order_factory: OrderFactory
    ) -> None:
        """memory_store is a MemoryStore with nothing in it that stores and returns orders."""
        assert type(memory_store) is MemoryStore
        assert (memory_store.count(), memory_store.outbox_pending()) == (0, 0)
        order = order_factory.order(channel="jd", status="paid")
        stored = memory_store.put(order)
        assert (stored.id, stored.version, stored.status) == (order.id, 1, OrderStatus.PAID)
        assert memory_store.get(order.id) == stored

    def test_sqlite_store_is_an_empty_file_in_tmp_path(
        self, sqlite_store: SQLiteStore, tmp_path: Path, order_factory: OrderFactory
    ) -> None:
        """sqlite_store is a SQLiteStore on tmp_path/orders.db that stores and returns orders."""
        assert type(sqlite_store) is SQLiteStore
        assert Path(sqlite_store.path) == tmp_path / "orders.db"
        assert (tmp_path / "orders.db").is_file()
        assert (sqlite_store.count(), sqlite_store.outbox_pending()) == (0, 0)
        order = order_factory.order(channel="jd", status="paid")
        stored = sqlite_store.put(order)
        assert (stored.id, stored.version, stored.status) == (order.id, 1, OrderStatus.PAID)
        assert sqlite_store.get(order.id) == stored


def test_fixtures_across_tests_of_a_user_project(pytester: pytest.Pytester) -> None:
    """In a user's test run: factories differ per test, and stores are closed after each test."""
    pytester.makepyfile(
        test_user=textwrap.dedent(
            """
            import pytest
            from ordercore.errors import StoreClosed

            seen = {}

            def test_first(order_factory, memory_store, sqlite_store):
                seen["first"] = (order_factory.order(), memory_store, sqlite_store)

            def test_second(order_factory):
                seen["second"] = order_factory.order()

            def test_factories_of_different_tests_differ():
                assert seen["first"][0].channel_order_id != seen["second"].channel_order_id

            def test_stores_are_closed_once_their_test_ends():
                _, memory, sqlite = seen["first"]
                with pytest.raises(StoreClosed):
                    memory.count()
                with pytest.raises(StoreClosed):
                    sqlite.count()
            """
        )
    )
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
