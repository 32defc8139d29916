"""ordercore: the order core for multi-channel e-commerce.

One canonical :class:`Order` for every channel, exact :class:`Money`, channel
time normalised to UTC, a typed error tree, plugin discovery through entry
points, and stores opened by URL::

    import ordercore

    store = ordercore.open_store("sqlite:///orders.db")
    store.put(order)
"""

from __future__ import annotations

from ordercore._version import __version__
from ordercore.errors import (
    ConfigurationError,
    DuplicateOrder,
    FloatMoneyError,
    ForeignDatabase,
    FrozenModelError,
    IdempotencyConflict,
    LineNotFound,
    MoneyError,
    OrderCoreError,
    OrderNotFound,
    PluginNotFound,
    SchemaError,
    SchemaVersionError,
    StoreError,
    StoreReadOnly,
    TimeParseError,
    VersionConflict,
)
from ordercore.ids import new_id
from ordercore.money import Money, allocate, parse_fen, parse_yuan, sum_money
from ordercore.pii import AddressText, PersonName, PhoneNumber
from ordercore.schema import (
    Actor,
    Address,
    AnomalyCode,
    Buyer,
    ChannelStatus,
    Discount,
    DiscountFunder,
    Order,
    OrderAmounts,
    OrderAnomaly,
    OrderEvent,
    OrderLine,
    OrderStatus,
    OrderType,
    Shipment,
    Source,
    SourceKind,
    json_schema,
    load_order_json,
)
from ordercore.storage import BatchResult, OnExisting, OrderQuery, OrderStore, Outcome, open_store
from ordercore.timestamps import ChannelTime, parse_channel_time

__all__ = [
    "Actor",
    "Address",
    "AddressText",
    "AnomalyCode",
    "BatchResult",
    "Buyer",
    "ChannelStatus",
    "ChannelTime",
    "ConfigurationError",
    "Discount",
    "DiscountFunder",
    "DuplicateOrder",
    "FloatMoneyError",
    "ForeignDatabase",
    "FrozenModelError",
    "IdempotencyConflict",
    "LineNotFound",
    "Money",
    "MoneyError",
    "OnExisting",
    "Order",
    "OrderAmounts",
    "OrderAnomaly",
    "OrderCoreError",
    "OrderEvent",
    "OrderLine",
    "OrderNotFound",
    "OrderQuery",
    "OrderStatus",
    "OrderStore",
    "OrderType",
    "Outcome",
    "PersonName",
    "PhoneNumber",
    "PluginNotFound",
    "SchemaError",
    "SchemaVersionError",
    "Shipment",
    "Source",
    "SourceKind",
    "StoreError",
    "StoreReadOnly",
    "TimeParseError",
    "VersionConflict",
    "__version__",
    "allocate",
    "json_schema",
    "load_order_json",
    "new_id",
    "open_store",
    "parse_channel_time",
    "parse_fen",
    "parse_yuan",
    "sum_money",
]
