"""Stock per SKU and location: reservations, a ledger, transfers, adjustments and backorders.

``available = on_hand - reserved - in_transfer`` per SKU and location (D22).
Every operation of :class:`Inventory` is one backend transaction; every change is
a ledger entry and every change of availability an outbox message.
"""

from __future__ import annotations

from ordercore.inventory._backend import (
    InventoryBackend,
    InventoryTxn,
    LedgerRow,
    StockKey,
    StockRow,
)
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
    "StockKey",
    "StockLevel",
    "StockRow",
    "Transfer",
    "TransferStatus",
]
