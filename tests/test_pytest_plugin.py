"""The pytest plugin ordercore registers (entry point ``pytest11``) provides its fixtures."""

from __future__ import annotations

import pytest

from ordercore.storage import MemoryStore, SQLiteStore
from ordercore.testing import OrderFactory


def test_the_plugin_is_registered_through_its_entry_point(pytestconfig: pytest.Config) -> None:
    """pytest loaded ordercore's plugin by its distribution's entry point."""
    assert pytestconfig.pluginmanager.has_plugin("ordercore")


def test_order_factory_is_seeded_per_test(order_factory: OrderFactory) -> None:
    """Each test gets a factory seeded from its own name, so its orders are reproducible."""
    again = OrderFactory(
        seed=sum(b"tests/test_pytest_plugin.py::test_order_factory_is_seeded_per_test")
    )
    assert order_factory.order().channel_order_id == again.order().channel_order_id


def test_store_fixtures_are_empty_and_usable(
    memory_store: MemoryStore, sqlite_store: SQLiteStore, order_factory: OrderFactory
) -> None:
    """memory_store and sqlite_store start empty and store orders."""
    order = order_factory.order()
    for store in (memory_store, sqlite_store):
        assert store.count() == 0
        assert store.put(order).version == 1
