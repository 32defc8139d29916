"""The memory inventory: the conformance suite, and its outbox published to a MemoryStore."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from ordercore import plugins
from ordercore.errors import ConfigurationError, PluginNotFound
from ordercore.inventory import (
    Inventory,
    Location,
    ReservationLine,
    ReservationRequest,
    open_inventory,
)
from ordercore.inventory._memory import MemoryInventoryBackend
from ordercore.schema import Actor, ActorKind
from ordercore.storage import MemoryStore
from ordercore.testing import InventoryConformance


def _backend(inventory: Inventory) -> MemoryInventoryBackend:
    backend = inventory.backend
    assert isinstance(backend, MemoryInventoryBackend)
    return backend


class TestMemoryInventory(InventoryConformance):
    @pytest.fixture
    def inventory(self) -> Inventory:
        return open_inventory("memory://")

    @pytest.fixture
    def stock_messages(self) -> Any:
        def read(inventory: Inventory) -> list[tuple[str, dict[str, Any]]]:
            return [(e.aggregate_id, dict(e.payload)) for e in _backend(inventory).outbox]

        return read

    @pytest.fixture
    def corrupt(self) -> Any:
        def change(inventory: Inventory, sku: str, location: str, field: str, delta: int) -> None:
            stock = _backend(inventory)._state.stock
            row = stock[(sku, location)]
            stock[(sku, location)] = row._replace(**{field: getattr(row, field) + delta})

        return change


def test_messages_reach_the_memory_store_outbox() -> None:
    store = MemoryStore()
    inventory = open_inventory("memory://", store=store)
    inventory.add_location(Location(id="WH1"))
    inventory.receive("MUG", "WH1", 3, actor=Actor(kind=ActorKind.PERSON, id="li"))
    inventory.reserve(
        ReservationRequest(
            reservation_id="o1", lines=[ReservationLine(sku="MUG", quantity=1, location="WH1")]
        )
    )
    messages = store.claim_outbox(10)
    assert [(m.stream, m.aggregate_id, m.aggregate_version) for m in messages] == [
        ("stock", "MUG@WH1", 1),
        ("stock", "MUG@WH1", 2),
    ]
    assert messages[1].payload["available"] == 2
    assert store.integrity_check() == []


@pytest.mark.parametrize("url", ["memory://x", "memory:/", "sqlite"])
def test_bad_memory_urls(url: str) -> None:
    with pytest.raises(ConfigurationError):
        MemoryInventoryBackend.from_url(url)


def test_unknown_options_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="options"):
        open_inventory("memory://", colour="blue")


class _AcmeBackend(MemoryInventoryBackend):
    """A third-party backend, registered under its own scheme."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> MemoryInventoryBackend:
        return cls(url=url)


def test_open_inventory_uses_the_plugin_group() -> None:
    with plugins.register("ordercore.inventory", "acme", _AcmeBackend):
        inventory = open_inventory("acme+fast://warehouse")
    assert isinstance(inventory.backend, _AcmeBackend)
    assert inventory.url == "acme+fast://warehouse"
    with pytest.raises(PluginNotFound):
        open_inventory("nosuch://x")


def test_open_inventory_passes_a_clock() -> None:
    moment = datetime(2026, 11, 11, tzinfo=UTC)
    inventory = open_inventory("memory://", clock=lambda: moment)
    inventory.add_location(Location(id="WH1"))
    inventory.receive("MUG", "WH1", 1, actor=Actor(kind=ActorKind.PERSON, id="li"))
    assert inventory.ledger()[0].at == moment
