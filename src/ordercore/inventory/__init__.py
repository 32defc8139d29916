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

import importlib
from typing import Any, Final

from ordercore import plugins
from ordercore.inventory._backend import (
    InventoryBackend,
    InventoryTxn,
    LedgerRow,
    StockKey,
    StockRow,
)
from ordercore.inventory._engine import STOCK_STREAM, STOCK_TOPIC, Inventory
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

__all__ = [
    "Adjustment",
    "AdjustmentStatus",
    "BackorderPolicy",
    "Drift",
    "EntryKind",
    "GiftPolicy",
    "Inventory",
    "InventoryBackend",
    "InventoryTxn",
    "LedgerEntry",
    "LedgerRow",
    "Location",
    "LocationKind",
    "Reservation",
    "ReservationLine",
    "ReservationRequest",
    "ReservationStatus",
    "ReservedLine",
    "STOCK_STREAM",
    "STOCK_TOPIC",
    "StockKey",
    "StockLevel",
    "StockRow",
    "Transfer",
    "TransferStatus",
    "open_inventory",
]

_GROUP: Final = "ordercore.inventory"

#: ordercore's own backends, used while the plugin group does not list them itself.
_BUILTINS: Final = {
    "memory": "ordercore.inventory._memory:MemoryInventoryBackend",
    "sqlite": "ordercore.inventory._sqlite:SQLiteInventoryBackend",
}


def open_inventory(url: str, **options: Any) -> Inventory:
    """Open the inventory a URL names.

    Args:
        url: ``memory://``, ``sqlite:///shop.db`` (the order store's file: the
            stock tables are added beside the orders, or created with them),
            ``sqlite://`` (in memory), ``postgresql://user@host/db`` (plugin).
        **options: Passed to the backend (``timeout=`` for SQLite, ``store=`` a
            MemoryStore for ``memory://``...); ``clock=`` goes to :class:`Inventory`.

    Raises:
        ConfigurationError: the URL is malformed.
        PluginNotFound: no backend is installed for the scheme.
        StoreError: the backend could not open the database.
    """
    clock = options.pop("clock", None)
    description = plugins.describe(_GROUP)
    name = description.name_for_url(url)
    registered = {info.name for info in plugins.registered(_GROUP)}
    if name in _BUILTINS and name not in registered:
        module, _, attribute = _BUILTINS[name].partition(":")
        backend = getattr(importlib.import_module(module), attribute).from_url(url, **options)
    else:
        backend = plugins.open_url(_GROUP, url, **options)
    if isinstance(backend, Inventory):
        return backend
    return Inventory(backend) if clock is None else Inventory(backend, clock=clock)
