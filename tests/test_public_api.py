"""What ordercore exports is deliberate: the public names are pinned here."""

from __future__ import annotations

import importlib

import pytest

import ordercore

PUBLIC = {
    "ordercore": [
        "Actor", "Address", "AddressText", "Buyer", "ChannelStatus", "ChannelTime",
        "ConfigurationError", "Discount", "DiscountFunder", "DuplicateOrder", "FloatMoneyError",
        "IdempotencyConflict", "Money", "MoneyError", "Order", "OrderAmounts", "OrderCoreError",
        "OrderEvent", "OrderLine", "OrderNotFound", "OrderQuery", "OrderStatus", "OrderStore",
        "OrderType", "PersonName", "PhoneNumber", "PluginNotFound", "SchemaError", "Shipment",
        "Source", "SourceKind", "StoreError", "TimeParseError", "VersionConflict", "__version__",
        "allocate", "json_schema", "new_id", "open_store", "parse_channel_time", "parse_fen",
        "parse_yuan", "sum_money",
    ],
    "ordercore.storage": [
        "BaseStore", "Change", "IdempotencyRecord", "MemoryStore", "OrderQuery", "OrderStore",
        "OutboxMessage", "SQLiteStore", "open_store", "order_fingerprint", "store_scheme",
    ],
    "ordercore.testing": ["CATALOGUE", "CHANNELS", "OrderFactory", "StoreConformance"],
    "ordercore.plugins": [
        "DISABLE_ENV", "GROUPS", "PluginInfo", "available", "load", "register", "registered",
        "reset",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_public_names_are_pinned_and_sorted(module_name: str) -> None:
    """__all__ lists exactly the pinned names, sorted, and each of them exists."""
    module = importlib.import_module(module_name)
    assert list(module.__all__) == sorted(module.__all__)
    assert sorted(module.__all__) == sorted(PUBLIC[module_name])
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_version_is_a_release_string() -> None:
    """__version__ is a dotted release number."""
    parts = ordercore.__version__.split(".")
    assert len(parts) == 3 and all(part.isdigit() for part in parts)


@pytest.mark.parametrize(
    "module_name",
    ["ordercore.money", "ordercore.timestamps", "ordercore.pii", "ordercore.schema",
     "ordercore.errors", "ordercore.ids", "ordercore.progress"],
)  # fmt: skip
def test_every_public_module_has_a_sorted_all(module_name: str) -> None:
    """Each subsystem module declares its public face in a sorted __all__."""
    module = importlib.import_module(module_name)
    assert list(module.__all__) == sorted(module.__all__)
