"""pytest fixtures for code that embeds ordercore (registered through the ``pytest11`` entry point).

- ``order_factory``: an :class:`~ordercore.testing.OrderFactory` seeded per test.
- ``memory_store``: an empty :class:`~ordercore.storage.MemoryStore`, closed afterwards.
- ``sqlite_store``: an empty SQLite store in the test's temporary directory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ordercore.storage import MemoryStore, SQLiteStore
from ordercore.testing._factory import OrderFactory

__all__ = ["memory_store", "order_factory", "sqlite_store"]


@pytest.fixture
def order_factory(request: pytest.FixtureRequest) -> OrderFactory:
    """An order factory whose seed is derived from the test's name (reproducible)."""
    seed = sum(request.node.nodeid.encode())
    return OrderFactory(seed=seed)


@pytest.fixture
def memory_store() -> Iterator[MemoryStore]:
    """An empty in-memory order store."""
    store = MemoryStore()
    yield store
    store.close()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[SQLiteStore]:
    """An empty SQLite order store in a file under the test's tmp_path."""
    store = SQLiteStore(tmp_path / "orders.db")
    yield store
    store.close()
