"""A PostgreSQL order store for ordercore.

Installing this distribution registers the ``postgresql`` entry of the
``ordercore.storage`` plugin group, so :func:`ordercore.open_store` opens
``postgresql://`` (and ``postgres://``, ``postgresql+psycopg://``) URLs::

    from ordercore import open_store

    store = open_store("postgresql://app@db.internal:5432/shop?schema=ordercore")

Several processes and machines may share one database: see :class:`PostgresStore`.

It also registers the ``postgresql`` entry of the ``ordercore.inventory`` group:
:func:`ordercore.inventory.open_inventory` opens the same URLs, with the stock
tables in the store's schema (see :class:`PostgresInventoryBackend`).
"""

from __future__ import annotations

from ordercore_postgres._inventory import PostgresInventoryBackend
from ordercore_postgres._store import DEFAULT_SCHEMA, MIGRATIONS, PostgresStore
from ordercore_postgres._version import __version__

__all__ = [
    "DEFAULT_SCHEMA",
    "MIGRATIONS",
    "PostgresInventoryBackend",
    "PostgresStore",
    "__version__",
]
