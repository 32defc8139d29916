"""The SQLite inventory: the conformance suite, and sharing the order store's file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ordercore import open_store
from ordercore.errors import InsufficientStock
from ordercore.inventory import (
    Inventory,
    Location,
    ReservationLine,
    ReservationRequest,
    open_inventory,
)
from ordercore.inventory._sqlite import COMPONENT, MIGRATIONS, SQLiteInventoryBackend
from ordercore.schema import Actor, ActorKind
from ordercore.storage import SQLiteStore
from ordercore.testing import InventoryConformance, OrderFactory

STAFF = Actor(kind=ActorKind.PERSON, id="li")


def _path(inventory: Inventory) -> str:
    backend = inventory.backend
    assert isinstance(backend, SQLiteInventoryBackend)
    return backend.store.path


def _reserve(inventory: Inventory, rid: str, quantity: int) -> None:
    inventory.reserve(
        ReservationRequest(
            reservation_id=rid,
            lines=[ReservationLine(sku="MUG", quantity=quantity, location="WH1")],
        )
    )


class TestSQLiteInventory(InventoryConformance):
    capabilities = frozenset({"reopen", "processes"})

    @pytest.fixture
    def inventory_url(self, tmp_path: Path) -> str:
        return f"sqlite:///{tmp_path}/shop.db"

    @pytest.fixture
    def inventory(self, inventory_url: str) -> Iterator[Inventory]:
        inventory = open_inventory(inventory_url)
        yield inventory
        inventory.close()

    @pytest.fixture
    def reopen(self, inventory_url: str) -> Any:
        return lambda _: open_inventory(inventory_url)

    @pytest.fixture
    def stock_messages(self) -> Any:
        def read(inventory: Inventory) -> list[tuple[str, dict[str, Any]]]:
            with sqlite3.connect(_path(inventory)) as db:
                rows = db.execute(
                    "SELECT aggregate_id, payload FROM ordercore_outbox WHERE stream = 'stock' "
                    "ORDER BY id"
                ).fetchall()
            return [(aggregate, json.loads(payload)) for aggregate, payload in rows]

        return read

    @pytest.fixture
    def corrupt(self) -> Any:
        def change(inventory: Inventory, sku: str, location: str, field: str, delta: int) -> None:
            assert field in {"on_hand", "reserved", "in_transfer", "damaged"}
            db = sqlite3.connect(_path(inventory), isolation_level=None)
            try:
                db.execute(
                    f"UPDATE ordercore_stock SET {field} = {field} + ? "
                    "WHERE sku = ? AND location = ?",
                    (delta, sku, location),
                )
            finally:
                db.close()

        return change


def test_shares_the_file_and_outbox_with_the_order_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shop.db"
    store = open_store(url)
    order = OrderFactory(seed=1).order()
    store.put(order)
    with open_inventory(url) as inventory:
        inventory.add_location(Location(id="WH1"))
        inventory.receive("MUG", "WH1", 5, actor=STAFF)
        _reserve(inventory, order.id, 2)
    assert store.get(order.id).id == order.id
    messages = store.claim_outbox(10)
    assert [m.stream for m in messages] == ["order", "stock", "stock"]
    assert messages[2].aggregate_id == "MUG@WH1" and messages[2].payload["available"] == 3
    assert isinstance(store, SQLiteStore)
    assert store.schema_versions()[COMPONENT] == MIGRATIONS[-1].version
    assert store.integrity_check() == []
    store.close()


def test_opens_a_new_file_and_then_the_store_opens_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/new.db"
    with open_inventory(url) as inventory:
        inventory.add_location(Location(id="WH1"))
        inventory.receive("MUG", "WH1", 1, actor=STAFF)
    with open_store(url) as store:
        assert store.count() == 0
        assert store.outbox_pending() == 1
    with open_inventory(url) as again:  # the second opening migrates nothing
        assert again.available("MUG") == 1
    with sqlite3.connect(f"{tmp_path}/new.db") as db:
        steps = db.execute(
            "SELECT component, version FROM ordercore_migrations ORDER BY component, version"
        ).fetchall()
    assert ("inventory", 1) in steps and ("orders", 1) in steps
    assert [s for s in steps if s[0] == "inventory"] == [("inventory", 1)]


def test_a_backend_over_an_open_store_shares_its_connection(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "shop.db")
    inventory = Inventory(SQLiteInventoryBackend.for_store(store))
    inventory.add_location(Location(id="WH1"))
    inventory.receive("MUG", "WH1", 2, actor=STAFF)
    inventory.close()
    assert store.outbox_pending() == 1  # the store stays open
    store.close()


def test_the_file_uses_wal_and_the_indexes_exist(tmp_path: Path) -> None:
    with open_inventory(f"sqlite:///{tmp_path}/shop.db") as inventory:
        path = _path(inventory)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        }
        plan = " ".join(
            str(row)
            for row in db.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM ordercore_reservations WHERE expires_at IS NOT "
                "NULL AND expires_at <= 5 AND status IN ('active', 'partially_committed') "
                "ORDER BY expires_at, id LIMIT 10"
            )
        )
    assert {"ordercore_reservations_due", "ordercore_backorders_queue"} <= indexes
    assert "ordercore_reservations_due" in plan


def test_two_handles_never_oversell(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shop.db"
    first, second = open_inventory(url), open_inventory(url)
    first.add_location(Location(id="WH1"))
    first.receive("MUG", "WH1", 3, actor=STAFF)
    _reserve(second, "a", 2)
    with pytest.raises(InsufficientStock) as caught:
        _reserve(first, "b", 2)
    assert caught.value.available == 1
    first.close()
    second.close()


def test_an_in_memory_database_works(tmp_path: Path) -> None:
    with open_inventory("sqlite://") as inventory:
        inventory.add_location(Location(id="WH1"))
        inventory.receive("MUG", "WH1", 3, actor=STAFF)
        _reserve(inventory, "a", 2)
        assert inventory.available("MUG") == 1 and inventory.verify() == []
