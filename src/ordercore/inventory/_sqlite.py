"""The SQLite inventory backend: stock tables in the order store's file (WAL, ``BEGIN IMMEDIATE``).

The tables (all ``ordercore_*``) are created by the order store's per-component
migrations under the component ``inventory``, so one file holds the orders, the
stock and the one outbox both publish through. Every write runs in a ``BEGIN
IMMEDIATE`` transaction, and every counter change is a single conditional
statement, so any number of processes may share the file without overselling.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from ordercore.errors import StoreClosed, StoreError
from ordercore.inventory._backend import Busy, LedgerRow, StockKey, StockRow, stock_payload_json
from ordercore.storage import SQLiteStore, write_outbox
from ordercore.storage.kit import Migration, OutboxEntry

__all__ = ["COMPONENT", "MIGRATIONS", "SQLiteInventoryBackend"]

#: The component of the inventory's tables in ``ordercore_migrations``.
COMPONENT: Final = "inventory"

_V1: Final = (
    """CREATE TABLE ordercore_stock (
        sku TEXT NOT NULL,
        location TEXT NOT NULL,
        on_hand INTEGER NOT NULL CHECK (on_hand >= 0),
        reserved INTEGER NOT NULL CHECK (reserved >= 0),
        in_transfer INTEGER NOT NULL CHECK (in_transfer >= 0),
        damaged INTEGER NOT NULL CHECK (damaged >= 0),
        version INTEGER NOT NULL,
        PRIMARY KEY (sku, location)
    ) WITHOUT ROWID""",
    """CREATE TABLE ordercore_stock_ledger (
        seq INTEGER PRIMARY KEY,
        at INTEGER NOT NULL,
        sku TEXT NOT NULL,
        location TEXT NOT NULL,
        kind TEXT NOT NULL,
        on_hand INTEGER NOT NULL,
        reserved INTEGER NOT NULL,
        in_transfer INTEGER NOT NULL,
        damaged INTEGER NOT NULL,
        reservation_id TEXT,
        adjustment_id TEXT,
        transfer_id TEXT,
        actor_kind TEXT NOT NULL,
        actor_id TEXT NOT NULL,
        reason TEXT
    )""",
    # No secondary index on the ledger: every reservation appends an entry, and each
    # index would add a page to every commit. Reading one SKU's entries scans.
    """CREATE TABLE ordercore_reservations (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        expires_at INTEGER,
        data TEXT NOT NULL
    ) WITHOUT ROWID""",
    "CREATE INDEX ordercore_reservations_due ON ordercore_reservations (expires_at, id) "
    "WHERE expires_at IS NOT NULL",
    """CREATE TABLE ordercore_stock_adjustments (
        id TEXT PRIMARY KEY, status TEXT NOT NULL, data TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE ordercore_stock_transfers (
        id TEXT PRIMARY KEY, status TEXT NOT NULL, data TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE ordercore_stock_idempotency (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE ordercore_backorders (
        seq INTEGER PRIMARY KEY,
        sku TEXT NOT NULL,
        reservation_id TEXT NOT NULL,
        queued_at INTEGER NOT NULL,
        UNIQUE (sku, reservation_id)
    )""",
    "CREATE INDEX ordercore_backorders_queue ON ordercore_backorders (sku, seq)",
    """CREATE TABLE ordercore_stock_quotas (
        sku TEXT NOT NULL,
        channel TEXT NOT NULL,
        quota INTEGER NOT NULL CHECK (quota >= 0),
        used INTEGER NOT NULL CHECK (used >= 0),
        PRIMARY KEY (sku, channel)
    ) WITHOUT ROWID""",
    """CREATE TABLE ordercore_stock_locations (
        id TEXT PRIMARY KEY, data TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE ordercore_stock_settings (
        key TEXT PRIMARY KEY, value TEXT NOT NULL
    ) WITHOUT ROWID""",
)

#: The inventory's schema steps, applied through the order store's migrations.
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        COMPONENT,
        1,
        "stock counters, the stock ledger, reservations with a due-time index, adjustments, "
        "transfers, idempotency keys, the backorder queue, channel quotas, locations and "
        "settings",
        _V1,
    ),
)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_RETURNING: Final = " RETURNING on_hand, reserved, in_transfer, damaged, version"
_RESERVE: Final = (
    "UPDATE ordercore_stock SET reserved = reserved + ?1, version = version + 1 "
    "WHERE sku = ?2 AND location = ?3 AND on_hand - reserved - in_transfer >= ?1" + _RETURNING
)
_ADD: Final = (
    "INSERT INTO ordercore_stock (sku, location, on_hand, reserved, in_transfer, damaged, "
    "version) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1) ON CONFLICT (sku, location) DO UPDATE SET "
    "on_hand = on_hand + excluded.on_hand, reserved = reserved + excluded.reserved, "
    "in_transfer = in_transfer + excluded.in_transfer, damaged = damaged + excluded.damaged, "
    "version = version + 1" + _RETURNING
)
_CHANGE: Final = (
    "UPDATE ordercore_stock SET on_hand = on_hand + ?3, reserved = reserved + ?4, "
    "in_transfer = in_transfer + ?5, damaged = damaged + ?6, version = version + 1 "
    "WHERE sku = ?1 AND location = ?2 AND on_hand + ?3 >= 0 AND reserved + ?4 >= 0 "
    "AND in_transfer + ?5 >= 0 AND damaged + ?6 >= 0"
)
_TAKE: Final = (
    _CHANGE + " AND (on_hand + ?3) - (reserved + ?4) - (in_transfer + ?5) >= 0" + _RETURNING
)
_GIVE: Final = _CHANGE + _RETURNING
_LEDGER_INSERT: Final = (
    "INSERT INTO ordercore_stock_ledger (at, sku, location, kind, on_hand, reserved, "
    "in_transfer, damaged, reservation_id, adjustment_id, transfer_id, actor_kind, actor_id, "
    "reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LEDGER_COLUMNS: Final = (
    "seq, at, sku, location, kind, on_hand, reserved, in_transfer, damaged, reservation_id, "
    "adjustment_id, transfer_id, actor_kind, actor_id, reason"
)
_STOCK_COLUMNS: Final = "sku, location, on_hand, reserved, in_transfer, damaged, version"
# The one-line reservation (reserve_one): constant texts, so SQLite's statement cache
# keeps them prepared.
_RULE: Final = "SELECT 1 FROM ordercore_stock_settings WHERE key = ?"
_AVAILABLE: Final = (
    "SELECT on_hand - reserved - in_transfer FROM ordercore_stock WHERE sku = ? AND location = ?"
)
_NEW_RESERVATION: Final = (
    "INSERT INTO ordercore_reservations (id, status, expires_at, data) "
    "VALUES (?, 'active', ?, ?) ON CONFLICT (id) DO NOTHING"
)
_RESERVE_ENTRY: Final = (
    "INSERT INTO ordercore_stock_ledger (at, sku, location, kind, on_hand, reserved, "
    "in_transfer, damaged, reservation_id, actor_kind, actor_id) "
    "VALUES (?, ?, ?, 'reserve', 0, ?, 0, 0, ?, ?, ?)"
)
# What ordercore.storage.write_outbox writes for one stock message.
_STOCK_MESSAGE: Final = (
    "INSERT OR IGNORE INTO ordercore_outbox (stream, aggregate_id, aggregate_version, "
    "event_id, topic, payload, created_at) VALUES ('stock', ?, ?, ?, 'stock.changed', ?, ?)"
)


class _Refused(Exception):
    """Rolls a one-line reservation back: refused (``available``) or not handled (``None``)."""

    def __init__(self, available: int | None) -> None:
        self.available = available


def _us(value: datetime) -> int:
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _us_or_none(value: datetime | None) -> int | None:
    return None if value is None else _us(value)


def _time(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _rows(found: Sequence[Sequence[Any]]) -> dict[StockKey, StockRow]:
    return {(r[0], r[1]): StockRow(r[2], r[3], r[4], r[5], r[6]) for r in found}


class _SQLiteTxn:
    """One transaction on a connection (the store's, or the backend's read connection)."""

    __slots__ = ("_db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    # -- counters ---------------------------------------------------------------------

    def lock_stock(
        self, keys: Sequence[StockKey], *, skip_locked: bool = False
    ) -> dict[StockKey, StockRow]:
        # BEGIN IMMEDIATE holds the database's write lock already: reading is locking.
        found: dict[StockKey, StockRow] = {}
        execute = self._db.execute
        for sku, location in keys:
            row = execute(
                "SELECT on_hand, reserved, in_transfer, damaged, version FROM ordercore_stock "
                "WHERE sku = ? AND location = ?",
                (sku, location),
            ).fetchone()
            if row is not None:
                found[(sku, location)] = StockRow(*row)
        return found

    def stock_rows(
        self, sku: str | None = None, location: str | None = None
    ) -> dict[StockKey, StockRow]:
        clauses, params = [], []
        if sku is not None:
            clauses.append("sku = ?")
            params.append(sku)
        if location is not None:
            clauses.append("location = ?")
            params.append(location)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return _rows(
            self._db.execute(
                f"SELECT {_STOCK_COLUMNS} FROM ordercore_stock{where}", params
            ).fetchall()
        )

    def change_stock(
        self,
        sku: str,
        location: str,
        on_hand: int = 0,
        reserved: int = 0,
        in_transfer: int = 0,
        damaged: int = 0,
    ) -> StockRow | None:
        if reserved > 0 and not (on_hand or in_transfer or damaged):
            row = self._db.execute(_RESERVE, (reserved, sku, location)).fetchone()
        elif (
            on_hand >= 0
            and reserved >= 0
            and in_transfer >= 0
            and damaged >= 0
            and (on_hand - reserved - in_transfer >= 0)
        ):
            row = self._db.execute(
                _ADD, (sku, location, on_hand, reserved, in_transfer, damaged)
            ).fetchone()
        else:
            sql = _TAKE if on_hand - reserved - in_transfer < 0 else _GIVE
            row = self._db.execute(
                sql, (sku, location, on_hand, reserved, in_transfer, damaged)
            ).fetchone()
        return None if row is None else StockRow(*row)

    def set_stock(self, sku: str, location: str, row: StockRow) -> None:
        self._db.execute(
            "INSERT INTO ordercore_stock (sku, location, on_hand, reserved, in_transfer, "
            "damaged, version) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sku, location) DO "
            "UPDATE SET on_hand = excluded.on_hand, reserved = excluded.reserved, "
            "in_transfer = excluded.in_transfer, damaged = excluded.damaged, "
            "version = excluded.version",
            (sku, location, *row),
        )

    # -- ledger -----------------------------------------------------------------------

    def append_ledger(self, rows: Sequence[LedgerRow]) -> None:
        values = [(_us(row[1]), *row[2:]) for row in rows]
        if len(values) == 1:
            self._db.execute(_LEDGER_INSERT, values[0])
        else:
            self._db.executemany(_LEDGER_INSERT, values)

    def ledger(
        self, sku: str | None, location: str | None, after_seq: int, limit: int
    ) -> list[LedgerRow]:
        clauses: list[str] = ["seq > ?"]
        params: list[Any] = [after_seq]
        if sku is not None:
            clauses.append("sku = ?")
            params.append(sku)
        if location is not None:
            clauses.append("location = ?")
            params.append(location)
        rows = self._db.execute(
            f"SELECT {_LEDGER_COLUMNS} FROM ordercore_stock_ledger WHERE "
            f"{' AND '.join(clauses)} ORDER BY seq LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [LedgerRow(row[0], _time(row[1]), *row[2:]) for row in rows]

    def ledger_totals(self) -> dict[StockKey, tuple[int, int, int, int]]:
        rows = self._db.execute(
            "SELECT sku, location, sum(on_hand), sum(reserved), sum(in_transfer), sum(damaged) "
            "FROM ordercore_stock_ledger GROUP BY sku, location"
        ).fetchall()
        return {(r[0], r[1]): (r[2], r[3], r[4], r[5]) for r in rows}

    # -- reservations -----------------------------------------------------------------

    def get_reservation(
        self, reservation_id: str, *, lock: bool = False, skip_locked: bool = False
    ) -> str | None:
        row = self._db.execute(
            "SELECT data FROM ordercore_reservations WHERE id = ?", (reservation_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def insert_reservation(
        self, reservation_id: str, status: str, expires_at: datetime | None, data: str
    ) -> bool:
        cursor = self._db.execute(
            "INSERT INTO ordercore_reservations (id, status, expires_at, data) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (reservation_id, status, _us_or_none(expires_at), data),
        )
        return cursor.rowcount == 1

    def update_reservation(
        self, reservation_id: str, status: str, expires_at: datetime | None, data: str
    ) -> None:
        self._db.execute(
            "UPDATE ordercore_reservations SET status = ?, expires_at = ?, data = ? WHERE id = ?",
            (status, _us_or_none(expires_at), data, reservation_id),
        )

    def due_reservations(self, now: datetime, limit: int) -> list[str]:
        rows = self._db.execute(
            "SELECT id FROM ordercore_reservations WHERE expires_at IS NOT NULL "
            "AND expires_at <= ? AND status IN ('active', 'partially_committed') "
            "ORDER BY expires_at, id LIMIT ?",
            (_us(now), limit),
        ).fetchall()
        return [row[0] for row in rows]

    # -- adjustments and transfers ----------------------------------------------------

    def get_adjustment(self, adjustment_id: str, *, lock: bool = False) -> str | None:
        row = self._db.execute(
            "SELECT data FROM ordercore_stock_adjustments WHERE id = ?", (adjustment_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def put_adjustment(self, adjustment_id: str, status: str, data: str) -> None:
        self._db.execute(
            "INSERT INTO ordercore_stock_adjustments (id, status, data) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data",
            (adjustment_id, status, data),
        )

    def get_transfer(self, transfer_id: str, *, lock: bool = False) -> str | None:
        row = self._db.execute(
            "SELECT data FROM ordercore_stock_transfers WHERE id = ?", (transfer_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def put_transfer(self, transfer_id: str, status: str, data: str) -> None:
        self._db.execute(
            "INSERT INTO ordercore_stock_transfers (id, status, data) VALUES (?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data",
            (transfer_id, status, data),
        )

    # -- idempotency ------------------------------------------------------------------

    def get_idempotency(self, key: str) -> tuple[str, str] | None:
        row = self._db.execute(
            "SELECT fingerprint, result FROM ordercore_stock_idempotency WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else (str(row[0]), str(row[1]))

    def put_idempotency(self, key: str, fingerprint: str, result: str, at: datetime) -> None:
        self._db.execute(
            "INSERT INTO ordercore_stock_idempotency (key, fingerprint, result, created_at) "
            "VALUES (?, ?, ?, ?)",
            (key, fingerprint, result, _us(at)),
        )

    # -- backorders -------------------------------------------------------------------

    def enqueue_backorder(self, sku: str, reservation_id: str, at: datetime) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO ordercore_backorders (sku, reservation_id, queued_at) "
            "VALUES (?, ?, ?)",
            (sku, reservation_id, _us(at)),
        )

    def dequeue_backorder(self, sku: str, reservation_id: str) -> None:
        self._db.execute(
            "DELETE FROM ordercore_backorders WHERE sku = ? AND reservation_id = ?",
            (sku, reservation_id),
        )

    def backorder_queue(self, sku: str | None, limit: int) -> list[tuple[str, str]]:
        if sku is None:
            rows = self._db.execute(
                "SELECT sku, reservation_id FROM ordercore_backorders ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        else:
            rows = self._db.execute(
                "SELECT sku, reservation_id FROM ordercore_backorders WHERE sku = ? "
                "ORDER BY seq LIMIT ?",
                (sku, limit),
            ).fetchall()
        return [(row[0], row[1]) for row in rows]

    # -- channel quotas ---------------------------------------------------------------

    def get_quota(
        self, sku: str, channel: str, *, lock: bool = False, skip_locked: bool = False
    ) -> tuple[int, int] | Busy | None:
        # BEGIN IMMEDIATE serialises writers: no row is ever busy.
        row = self._db.execute(
            "SELECT quota, used FROM ordercore_stock_quotas WHERE sku = ? AND channel = ?",
            (sku, channel),
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]))

    def set_quota(self, sku: str, channel: str, quota: int | None) -> None:
        if quota is None:
            self._db.execute(
                "DELETE FROM ordercore_stock_quotas WHERE sku = ? AND channel = ?", (sku, channel)
            )
            return
        self._db.execute(
            "INSERT INTO ordercore_stock_quotas (sku, channel, quota, used) VALUES (?, ?, ?, 0) "
            "ON CONFLICT (sku, channel) DO UPDATE SET quota = excluded.quota",
            (sku, channel, quota),
        )

    def add_quota_used(self, sku: str, channel: str, delta: int) -> bool:
        cursor = self._db.execute(
            "UPDATE ordercore_stock_quotas SET used = max(used + ?1, 0) "
            "WHERE sku = ?2 AND channel = ?3 AND (?1 <= 0 OR used + ?1 <= quota)",
            (delta, sku, channel),
        )
        return cursor.rowcount == 1

    def quotas(self, sku: str | None) -> dict[tuple[str, str], tuple[int, int]]:
        if sku is None:
            rows = self._db.execute(
                "SELECT sku, channel, quota, used FROM ordercore_stock_quotas"
            ).fetchall()
        else:
            rows = self._db.execute(
                "SELECT sku, channel, quota, used FROM ordercore_stock_quotas WHERE sku = ?",
                (sku,),
            ).fetchall()
        return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}

    # -- settings ---------------------------------------------------------------------

    def get_setting(self, key: str, *, lock: bool = False) -> str | None:
        row = self._db.execute(
            "SELECT value FROM ordercore_stock_settings WHERE key = ?", (key,)
        ).fetchone()
        return None if row is None else str(row[0])

    def put_setting(self, key: str, value: str | None) -> None:
        if value is None:
            self._db.execute("DELETE FROM ordercore_stock_settings WHERE key = ?", (key,))
        else:
            self._db.execute(
                "INSERT INTO ordercore_stock_settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def settings(self, prefix: str) -> dict[str, str]:
        rows = self._db.execute(
            "SELECT key, value FROM ordercore_stock_settings WHERE substr(key, 1, ?) = ? "
            "ORDER BY key",
            (len(prefix), prefix),
        ).fetchall()
        return {str(k): str(v) for k, v in rows}

    # -- locations and outbox ---------------------------------------------------------

    def put_location(self, location_id: str, data: str) -> None:
        self._db.execute(
            "INSERT INTO ordercore_stock_locations (id, data) VALUES (?, ?) "
            "ON CONFLICT (id) DO UPDATE SET data = excluded.data",
            (location_id, data),
        )

    def locations(self) -> list[str]:
        rows = self._db.execute("SELECT data FROM ordercore_stock_locations").fetchall()
        return [str(row[0]) for row in rows]

    def write_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        write_outbox(self._db, entries)


class SQLiteInventoryBackend:
    """An inventory backend in an SQLite file shared with the order store.

    Opened from ``sqlite:///shop.db`` (the store's URL options apply:
    ``timeout``, ``synchronous``, ...), or over an open
    :class:`~ordercore.storage.SQLiteStore` with :meth:`for_store`, sharing its
    connection. Any number of processes may open the same file.

    Args:
        store: The order store whose file (and outbox) the stock shares.
        owns_store: Whether :meth:`close` closes the store too.
    """

    def __init__(self, store: SQLiteStore, *, owns_store: bool = False) -> None:
        self.store = store
        self.url = store.url
        self._owns_store = owns_store
        self._closed = False
        store.migrate_component(COMPONENT, MIGRATIONS)
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        if store.path != ":memory:":
            self._reader = sqlite3.connect(
                store.path, isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self._reader.execute("PRAGMA busy_timeout=30000")

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteInventoryBackend:
        """Open ``sqlite:///path.db`` (options as for :meth:`SQLiteStore.from_url`)."""
        return cls(SQLiteStore.from_url(url, **options), owns_store=True)

    @classmethod
    def for_store(cls, store: SQLiteStore) -> SQLiteInventoryBackend:
        """A backend over an open store, sharing its connection (the store stays the caller's)."""
        return cls(store, owns_store=False)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"the inventory {self.url} is closed")

    @contextmanager
    def transaction(self) -> Iterator[_SQLiteTxn]:
        """One ``BEGIN IMMEDIATE`` transaction on the store's connection."""
        self._check_open()
        with self.store.transaction() as db:
            yield _SQLiteTxn(db)

    def reserve_one(
        self,
        sku: str,
        location: str,
        quantity: int,
        reservation_id: str,
        expires_at: datetime | None,
        record: str,
        at: datetime,
        actor: tuple[str, str],
        event_id: str,
        cause: str,
    ) -> StockRow | int | None:
        """One located line of a new reservation in one transaction (see ``ReserveOne``)."""
        self._check_open()
        try:
            with self.store.transaction() as db:
                execute = db.execute
                if execute(_RULE, ("safety:" + sku,)).fetchone() is not None:
                    return None  # the general path checks the rule
                found = execute(_RESERVE, (quantity, sku, location)).fetchone()
                if found is None:
                    left = execute(_AVAILABLE, (sku, location)).fetchone()
                    raise _Refused(0 if left is None else left[0])
                if (
                    execute(
                        _NEW_RESERVATION, (reservation_id, _us_or_none(expires_at), record)
                    ).rowcount
                    != 1
                ):
                    raise _Refused(None)
                execute(
                    _RESERVE_ENTRY,
                    (_us(at), sku, location, quantity, reservation_id, actor[0], actor[1]),
                )
                execute(
                    _STOCK_MESSAGE,
                    (
                        f"{sku}@{location}",
                        found[4],
                        event_id,
                        stock_payload_json(sku, location, found, cause),
                        time.time_ns() // 1000,
                    ),
                )
        except _Refused as refused:
            return refused.available
        return StockRow(*found)

    @contextmanager
    def reading(self) -> Iterator[_SQLiteTxn]:
        """A snapshot on a read connection of its own (readers never wait for writers)."""
        self._check_open()
        reader = self._reader
        if reader is None:  # an in-memory database has one connection
            with self.transaction() as txn:
                yield txn
            return
        with self._read_lock:
            try:
                reader.execute("BEGIN")
            except sqlite3.Error as exc:
                raise StoreError(f"could not read {self.url}: {exc}") from exc
            try:
                yield _SQLiteTxn(reader)
            except sqlite3.Error as exc:
                raise StoreError(f"query failed on {self.url}: {exc}") from exc
            finally:
                reader.execute("COMMIT")

    def schema_version(self) -> int:
        """The inventory's schema step in the file."""
        return self.store.schema_versions().get(COMPONENT, 0)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._reader is not None:
            self._reader.close()
        if self._owns_store:
            self.store.close()

    def __repr__(self) -> str:
        return f"<SQLiteInventoryBackend {self.url}{' closed' if self._closed else ''}>"
