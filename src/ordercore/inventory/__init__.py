"""Stock per SKU and location: reservations, a ledger, transfers, adjustments and backorders.

``available = on_hand - reserved - in_transfer`` per SKU and location (D22).
Every operation of :class:`Inventory` is one backend transaction; every change is
a ledger entry and every change of availability an outbox message.

Open one by URL (``memory://``, ``sqlite:///shop.db``, ``postgresql://...`` with
the ``ordercore-postgres`` distribution) through the ``ordercore.inventory``
plugin group.

Example:
    >>> from ordercore.inventory import open_inventory
    >>> with open_inventory("memory://") as inventory:
    ...     inventory.verify()
    []
"""

from __future__ import annotations

from typing import Any, Final

from ordercore import plugins
from ordercore.inventory._allocation import (
    ALLOCATION_GROUP,
    AllocationPlan,
    AllocationStrategy,
    Assignment,
    Demand,
    Destination,
    LocationDecision,
    PriorityStrategy,
    Region,
    RegionPriorityStrategy,
    SingleLocationStrategy,
    StockTable,
    StockView,
    allocate,
    load_strategy,
    province_of,
    region_of,
    serves,
)
from ordercore.inventory._backend import (
    BUSY,
    Busy,
    InventoryBackend,
    InventoryTxn,
    LedgerRow,
    StockKey,
    StockRow,
)
from ordercore.inventory._engine import FORECAST_MAX_AGE, STOCK_STREAM, STOCK_TOPIC, Inventory
from ordercore.inventory._memory import MemoryInventoryBackend
from ordercore.inventory._model import (
    Adjustment,
    AdjustmentStatus,
    BackorderPolicy,
    Drift,
    EntryKind,
    GiftPolicy,
    LedgerEntry,
    Location,
    LocationKind,
    Reservation,
    ReservationLine,
    ReservationRequest,
    ReservationStatus,
    ReservedLine,
    StockLevel,
    Transfer,
    TransferStatus,
)
from ordercore.inventory._safety import (
    BELOW_SAFETY,
    CrossingState,
    CrossingStore,
    Forecast,
    MemoryCrossingStore,
    SafetyLevel,
    SafetyStockMonitor,
    SafetyStockRule,
    SettingsCrossingStore,
    crossing_key,
    forecast,
    forecast_key,
    ledger_reader,
    level_for,
    rule_key,
)
from ordercore.inventory._sqlite import SQLiteInventoryBackend

__all__ = [
    "ALLOCATION_GROUP",
    "Adjustment",
    "AdjustmentStatus",
    "AllocationPlan",
    "AllocationStrategy",
    "Assignment",
    "BELOW_SAFETY",
    "BUSY",
    "BackorderPolicy",
    "Busy",
    "CrossingState",
    "CrossingStore",
    "Demand",
    "Destination",
    "Drift",
    "EntryKind",
    "FORECAST_MAX_AGE",
    "Forecast",
    "GiftPolicy",
    "Inventory",
    "InventoryBackend",
    "InventoryTxn",
    "LedgerEntry",
    "LedgerRow",
    "Location",
    "LocationDecision",
    "LocationKind",
    "MemoryCrossingStore",
    "MemoryInventoryBackend",
    "PriorityStrategy",
    "Region",
    "RegionPriorityStrategy",
    "Reservation",
    "ReservationLine",
    "ReservationRequest",
    "ReservationStatus",
    "ReservedLine",
    "SQLiteInventoryBackend",
    "STOCK_STREAM",
    "STOCK_TOPIC",
    "SafetyLevel",
    "SafetyStockMonitor",
    "SafetyStockRule",
    "SettingsCrossingStore",
    "SingleLocationStrategy",
    "StockKey",
    "StockLevel",
    "StockRow",
    "StockTable",
    "StockView",
    "Transfer",
    "TransferStatus",
    "allocate",
    "crossing_key",
    "forecast",
    "forecast_key",
    "ledger_reader",
    "level_for",
    "load_strategy",
    "open_inventory",
    "province_of",
    "region_of",
    "rule_key",
    "serves",
]

_GROUP: Final = "ordercore.inventory"


def open_inventory(url: str, **options: Any) -> Inventory:
    """Open the inventory a URL names.

    Args:
        url: ``memory://``, ``sqlite:///shop.db`` (the order store's file: the
            stock tables are added beside the orders, or created with them),
            ``sqlite://`` (in memory), ``postgresql://user@host/db`` (plugin).
        **options: Passed to the backend (``timeout=`` for SQLite, ``store=`` a
            MemoryStore for ``memory://``...); ``clock=`` and ``forecast_max_age=``
            go to :class:`Inventory`.

    Raises:
        ConfigurationError: the URL is malformed.
        PluginNotFound: no backend is installed for the scheme.
        StoreError: the backend could not open the database.
    """
    engine: dict[str, Any] = {
        name: options.pop(name) for name in ("clock", "forecast_max_age") if name in options
    }
    backend = plugins.open_url(_GROUP, url, **options)
    if isinstance(backend, Inventory):
        return backend
    return Inventory(backend, **engine)
