"""Order stores: the protocol, the memory and SQLite stores, and ``open_store`` by URL.

A URL's scheme picks the backend from the ``ordercore.storage`` plugin group:
``memory://`` and ``sqlite:///orders.db`` are built in, ``postgresql://...``
comes with the ``ordercore-postgres`` distribution. ``postgresql+psycopg://``
selects the ``postgresql`` entry too (the part after ``+`` is the driver's).

Example:
    >>> from ordercore import open_store
    >>> with open_store("memory://") as store:
    ...     store.count()
    0
"""

from __future__ import annotations

from typing import Any

from ordercore import plugins
from ordercore.storage._memory import MemoryStore
from ordercore.storage._protocol import (
    IdempotencyRecord,
    OrderQuery,
    OrderStore,
    OrderUpdate,
    OutboxMessage,
    Timer,
    TimerArm,
    TimerFinish,
    TimerPlan,
    order_fingerprint,
)
from ordercore.storage._sqlite import SQLiteStore, apply_sqlite_migrations, write_outbox
from ordercore.storage.kit import (
    BaseStore,
    BatchResult,
    Change,
    Migration,
    OnExisting,
    OutboxEntry,
    Outcome,
    PutOutcome,
)

__all__ = [
    "BaseStore",
    "BatchResult",
    "Change",
    "IdempotencyRecord",
    "MemoryStore",
    "Migration",
    "OnExisting",
    "OrderQuery",
    "OrderStore",
    "OrderUpdate",
    "OutboxEntry",
    "OutboxMessage",
    "Outcome",
    "PutOutcome",
    "SQLiteStore",
    "Timer",
    "TimerArm",
    "TimerFinish",
    "TimerPlan",
    "apply_sqlite_migrations",
    "open_store",
    "order_fingerprint",
    "store_scheme",
    "write_outbox",
]


def store_scheme(url: str) -> str:
    """Return the plugin name a store URL selects (``postgresql+psycopg://`` -> ``postgresql``).

    Raises:
        StoreURLError: ``url`` has no ``scheme://``.
    """
    return plugins.describe("ordercore.storage").name_for_url(url)


def open_store(url: str, **options: Any) -> OrderStore:
    """Open the order store a URL names.

    Args:
        url: ``memory://``, ``sqlite:///orders.db`` (relative), ``sqlite:////abs/orders.db``,
            ``sqlite://`` (SQLite in memory), ``postgresql://user@host/db`` (plugin), ...
        **options: Passed to the backend (e.g. ``timeout=`` for SQLite, ``max_size=``
            for PostgreSQL).

    Raises:
        StoreURLError: the URL is malformed for its backend.
        PluginNotFound: no backend is installed for the scheme (the message says
            which package to install).
        StoreError: the backend could not open the store.
    """
    store: OrderStore = plugins.open_url("ordercore.storage", url, **options)
    return store
