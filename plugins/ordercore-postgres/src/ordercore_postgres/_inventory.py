"""The PostgreSQL inventory backend: stock tables in the order store's schema, real row locks.

The tables are created by the store's per-component migrations under the
component ``inventory``, in the same schema as the orders, so a stock change and
its ``stock.changed`` message reach the one outbox in the same transaction. Every
counter change is one conditional ``UPDATE`` (or ``INSERT ... ON CONFLICT``), rows
are locked with ``SELECT ... FOR UPDATE`` in the order the engine asks for
(sorted keys, ``COLLATE "C"`` so the server sorts as Python does), the phases that
must never wait use ``FOR UPDATE SKIP LOCKED``, and idempotency keys are held
with a transaction-level advisory lock. Any number of processes on any number of
machines may share the schema.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias

import psycopg
from psycopg.rows import TupleRow

from ordercore.errors import StoreClosed
from ordercore.inventory._backend import (
    BUSY,
    Busy,
    LedgerRow,
    StockKey,
    StockRow,
    stock_payload_head,
    stock_payload_tail,
)
from ordercore.storage.kit import Migration, OutboxEntry
from ordercore_postgres._store import PostgresStore, write_outbox

__all__ = ["COMPONENT", "INVENTORY_MIGRATIONS", "PostgresInventoryBackend"]

_Connection: TypeAlias = psycopg.Connection[TupleRow]

#: The component of the inventory's tables in ``<schema>.ordercore_migrations``.
COMPONENT: Final = "inventory"

_V1: Final[tuple[str, ...]] = (
    """CREATE TABLE {schema}.stock (
        sku text COLLATE "C" NOT NULL,
        location text COLLATE "C" NOT NULL,
        on_hand bigint NOT NULL CHECK (on_hand >= 0),
        reserved bigint NOT NULL CHECK (reserved >= 0),
        in_transfer bigint NOT NULL CHECK (in_transfer >= 0),
        damaged bigint NOT NULL CHECK (damaged >= 0),
        version integer NOT NULL,
        PRIMARY KEY (sku, location)
    )""",
    # Every reservation rewrites its stock row: leave room on the page so the new
    # row version stays there (a HOT update, no index entry written).
    "ALTER TABLE {schema}.stock SET (fillfactor = 70)",
    """CREATE TABLE {schema}.stock_ledger (
        seq bigserial PRIMARY KEY,
        at timestamptz NOT NULL,
        sku text COLLATE "C" NOT NULL,
        location text COLLATE "C" NOT NULL,
        kind text NOT NULL,
        on_hand bigint NOT NULL,
        reserved bigint NOT NULL,
        in_transfer bigint NOT NULL,
        damaged bigint NOT NULL,
        reservation_id text,
        adjustment_id text,
        transfer_id text,
        actor_kind text NOT NULL,
        actor_id text NOT NULL,
        reason text
    )""",
    "CREATE INDEX stock_ledger_key ON {schema}.stock_ledger (sku, location, seq)",
    # The ledger is the record counters are rebuilt from: rows are only ever added.
    """CREATE FUNCTION {schema}.stock_ledger_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the stock ledger is append-only (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END $$""",
    """CREATE TRIGGER stock_ledger_append_only BEFORE UPDATE OR DELETE
        ON {schema}.stock_ledger FOR EACH ROW
        EXECUTE FUNCTION {schema}.stock_ledger_append_only()""",
    """CREATE TRIGGER stock_ledger_no_truncate BEFORE TRUNCATE
        ON {schema}.stock_ledger FOR EACH STATEMENT
        EXECUTE FUNCTION {schema}.stock_ledger_append_only()""",
    """CREATE TABLE {schema}.reservations (
        id text COLLATE "C" PRIMARY KEY,
        status text COLLATE "C" NOT NULL,
        expires_at timestamptz,
        data text NOT NULL
    )""",
    # Only open reservations with a deadline are in the index: the sweep reads
    # nothing else, and a reservation leaves it when it is committed or released.
    """CREATE INDEX reservations_due ON {schema}.reservations (expires_at, id)
        WHERE expires_at IS NOT NULL AND status IN ('active', 'partially_committed')""",
    """CREATE TABLE {schema}.stock_adjustments (
        id text COLLATE "C" PRIMARY KEY, status text NOT NULL, data text NOT NULL
    )""",
    """CREATE TABLE {schema}.stock_transfers (
        id text COLLATE "C" PRIMARY KEY, status text NOT NULL, data text NOT NULL
    )""",
    """CREATE TABLE {schema}.stock_idempotency (
        key text COLLATE "C" PRIMARY KEY,
        fingerprint text NOT NULL,
        result text NOT NULL,
        created_at timestamptz NOT NULL
    )""",
    """CREATE TABLE {schema}.backorders (
        seq bigserial PRIMARY KEY,
        sku text COLLATE "C" NOT NULL,
        reservation_id text COLLATE "C" NOT NULL,
        queued_at timestamptz NOT NULL,
        UNIQUE (sku, reservation_id)
    )""",
    "CREATE INDEX backorders_queue ON {schema}.backorders (sku, seq)",
    """CREATE TABLE {schema}.stock_quotas (
        sku text COLLATE "C" NOT NULL,
        channel text COLLATE "C" NOT NULL,
        quota bigint NOT NULL CHECK (quota >= 0),
        used bigint NOT NULL CHECK (used >= 0),
        PRIMARY KEY (sku, channel)
    )""",
    """CREATE TABLE {schema}.stock_locations (
        id text COLLATE "C" PRIMARY KEY, data text NOT NULL
    )""",
    """CREATE TABLE {schema}.stock_settings (
        key text COLLATE "C" PRIMARY KEY, value text NOT NULL
    )""",
)

#: The inventory's schema steps, applied through the order store's migrations
#: (``{schema}`` stands for the quoted schema name).
INVENTORY_MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(
        COMPONENT,
        1,
        "stock counters, the append-only stock ledger, reservations with a due-time index, "
        "adjustments, transfers, idempotency keys, the backorder queue, channel quotas, "
        "locations and settings",
        _V1,
    ),
)

# pg_advisory_xact_lock(ORDERCORE INVENTORY KEY, hashtext(schema:key)): one lock per
# idempotency key, in a class of its own (the store's migration lock uses another).
_KEY_LOCK_CLASS: Final = 0x6F63696B
_STOCK: Final = "on_hand, reserved, in_transfer, damaged, version"
_LEDGER_COLUMNS: Final = (
    "seq, at, sku, location, kind, on_hand, reserved, in_transfer, damaged, reservation_id, "
    "adjustment_id, transfer_id, actor_kind, actor_id, reason"
)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class _Statements:
    """Every SQL statement of the backend, with the schema name filled in once."""

    def __init__(self, schema: str) -> None:
        q = f'"{schema}"'
        stock = f"{q}.stock"
        returning = f" RETURNING {_STOCK}"
        self.stock = stock
        self.ledger_table = f"{q}.stock_ledger"
        self.lock_one = f"SELECT {_STOCK} FROM {stock} WHERE sku = %s AND location = %s FOR UPDATE"
        self.lock_one_skip = self.lock_one + " SKIP LOCKED"
        # LockRows sits above the sort: rows are locked in (sku, location) order.
        self.lock_many = (
            f"SELECT sku, location, {_STOCK} FROM {stock} WHERE (sku, location) IN "
            "(SELECT * FROM unnest(%s::text[], %s::text[])) ORDER BY sku, location FOR UPDATE"
        )
        self.lock_many_skip = self.lock_many + " SKIP LOCKED"
        self.rows = f"SELECT sku, location, {_STOCK} FROM {stock}"
        # A reservation only raises ``reserved``: one short conditional statement.
        self.reserve = (
            f"UPDATE {stock} SET reserved = reserved + %(r)s, version = version + 1 "
            "WHERE sku = %(sku)s AND location = %(loc)s "
            "AND on_hand - reserved - in_transfer >= %(r)s" + returning
        )
        # Nothing goes down and availability does not drop: create or add, unconditionally.
        self.add = (
            f"INSERT INTO {stock} AS s (sku, location, on_hand, reserved, in_transfer, "
            "damaged, version) VALUES (%(sku)s, %(loc)s, %(oh)s, %(r)s, %(t)s, %(d)s, 1) "
            "ON CONFLICT (sku, location) DO UPDATE SET on_hand = s.on_hand + excluded.on_hand, "
            "reserved = s.reserved + excluded.reserved, "
            "in_transfer = s.in_transfer + excluded.in_transfer, "
            "damaged = s.damaged + excluded.damaged, version = s.version + 1" + returning
        )
        change = (
            f"UPDATE {stock} SET on_hand = on_hand + %(oh)s, reserved = reserved + %(r)s, "
            "in_transfer = in_transfer + %(t)s, damaged = damaged + %(d)s, "
            "version = version + 1 WHERE sku = %(sku)s AND location = %(loc)s "
            "AND on_hand + %(oh)s >= 0 AND reserved + %(r)s >= 0 "
            "AND in_transfer + %(t)s >= 0 AND damaged + %(d)s >= 0"
        )
        self.give = change + returning
        self.take = (
            change
            + " AND (on_hand + %(oh)s) - (reserved + %(r)s) - (in_transfer + %(t)s) >= 0"
            + returning
        )
        self.set_stock = (
            f"INSERT INTO {stock} (sku, location, {_STOCK}) VALUES (%s, %s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (sku, location) DO UPDATE SET on_hand = excluded.on_hand, "
            "reserved = excluded.reserved, in_transfer = excluded.in_transfer, "
            "damaged = excluded.damaged, version = excluded.version"
        )
        ledger = self.ledger_table
        self.append = (
            f"INSERT INTO {ledger} (at, sku, location, kind, on_hand, reserved, in_transfer, "
            "damaged, reservation_id, adjustment_id, transfer_id, actor_kind, actor_id, reason) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )
        self.ledger = f"SELECT {_LEDGER_COLUMNS} FROM {ledger}"
        self.totals = (
            "SELECT sku, location, sum(on_hand)::bigint, sum(reserved)::bigint, "
            f"sum(in_transfer)::bigint, sum(damaged)::bigint FROM {ledger} GROUP BY sku, location"
        )
        reservations = f"{q}.reservations"
        self.reservation = f"SELECT data FROM {reservations} WHERE id = %s"
        self.reservation_lock = self.reservation + " FOR UPDATE"
        self.reservation_skip = self.reservation_lock + " SKIP LOCKED"
        self.insert_reservation = (
            f"INSERT INTO {reservations} (id, status, expires_at, data) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (id) DO NOTHING"
        )
        self.update_reservation = (
            f"UPDATE {reservations} SET status = %s, expires_at = %s, data = %s WHERE id = %s"
        )
        # Served by the partial index reservations_due; sweepers in several processes
        # skip each other's rows and share the work.
        self.due = (
            f"SELECT id FROM {reservations} WHERE expires_at IS NOT NULL AND expires_at <= %s "
            "AND status IN ('active', 'partially_committed') ORDER BY expires_at, id LIMIT %s "
            "FOR UPDATE SKIP LOCKED"
        )
        adjustments, transfers = f"{q}.stock_adjustments", f"{q}.stock_transfers"
        self.get_adjustment = f"SELECT data FROM {adjustments} WHERE id = %s"
        self.lock_adjustment = self.get_adjustment + " FOR UPDATE"
        self.put_adjustment = (
            f"INSERT INTO {adjustments} (id, status, data) VALUES (%s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data"
        )
        self.get_transfer = f"SELECT data FROM {transfers} WHERE id = %s"
        self.lock_transfer = self.get_transfer + " FOR UPDATE"
        self.put_transfer = (
            f"INSERT INTO {transfers} (id, status, data) VALUES (%s, %s, %s) "
            "ON CONFLICT (id) DO UPDATE SET status = excluded.status, data = excluded.data"
        )
        keys = f"{q}.stock_idempotency"
        self.key_lock = f"SELECT pg_advisory_xact_lock({_KEY_LOCK_CLASS}, hashtext(%s))"
        self.get_key = f"SELECT fingerprint, result FROM {keys} WHERE key = %s"
        self.put_key = (
            f"INSERT INTO {keys} (key, fingerprint, result, created_at) VALUES (%s, %s, %s, %s)"
        )
        backorders = f"{q}.backorders"
        self.enqueue = (
            f"INSERT INTO {backorders} (sku, reservation_id, queued_at) VALUES (%s, %s, %s) "
            "ON CONFLICT (sku, reservation_id) DO NOTHING"
        )
        self.dequeue = f"DELETE FROM {backorders} WHERE sku = %s AND reservation_id = %s"
        self.queue_all = f"SELECT sku, reservation_id FROM {backorders} ORDER BY seq LIMIT %s"
        self.queue_of = (
            f"SELECT sku, reservation_id FROM {backorders} WHERE sku = %s ORDER BY seq LIMIT %s"
        )
        quotas = f"{q}.stock_quotas"
        self.quota = f"SELECT quota, used FROM {quotas} WHERE sku = %s AND channel = %s"
        self.quota_lock = self.quota + " FOR UPDATE"
        self.quota_skip = self.quota_lock + " SKIP LOCKED"
        self.drop_quota = f"DELETE FROM {quotas} WHERE sku = %s AND channel = %s"
        self.set_quota = (
            f"INSERT INTO {quotas} (sku, channel, quota, used) VALUES (%s, %s, %s, 0) "
            "ON CONFLICT (sku, channel) DO UPDATE SET quota = excluded.quota"
        )
        self.add_used = (
            f"UPDATE {quotas} SET used = greatest(used + %(n)s, 0) "
            "WHERE sku = %(sku)s AND channel = %(ch)s AND (%(n)s <= 0 OR used + %(n)s <= quota)"
        )
        self.quotas_all = f"SELECT sku, channel, quota, used FROM {quotas}"
        self.quotas_of = self.quotas_all + " WHERE sku = %s"
        settings = f"{q}.stock_settings"
        self.setting = f"SELECT value FROM {settings} WHERE key = %s"
        self.setting_lock = self.setting + " FOR UPDATE"
        self.drop_setting = f"DELETE FROM {settings} WHERE key = %s"
        self.put_setting = (
            f"INSERT INTO {settings} (key, value) VALUES (%s, %s) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
        )
        self.settings = f"SELECT key, value FROM {settings} WHERE starts_with(key, %s) ORDER BY key"
        locations = f"{q}.stock_locations"
        self.put_location = (
            f"INSERT INTO {locations} (id, data) VALUES (%s, %s) "
            "ON CONFLICT (id) DO UPDATE SET data = excluded.data"
        )
        self.locations = f"SELECT data FROM {locations}"
        # The one-line reservation (reserve_one) as one statement, run on its own
        # (autocommit): one round trip and one commit. The counter change is the
        # ``reserve`` statement above, refused when the SKU has a safety stock rule
        # (the general path checks it); the record, ledger entry and stock message
        # are written only from the changed row. A taken reservation id fails the
        # whole statement (a unique violation), so nothing of it stays.
        self.reserve_one = (
            f"WITH rule AS (SELECT 1 FROM {settings} WHERE key = %(rule)s::text), "
            f"taken AS (UPDATE {stock} SET reserved = reserved + %(n)s::bigint, "
            "version = version + 1 WHERE sku = %(sku)s::text AND location = %(loc)s::text "
            "AND on_hand - reserved - in_transfer >= %(n)s::bigint "
            "AND NOT EXISTS (SELECT 1 FROM rule)" + returning + "), "
            f"record AS (INSERT INTO {reservations} (id, status, expires_at, data) "
            "SELECT %(id)s::text, 'active', %(exp)s::timestamptz, %(data)s::text FROM taken), "
            f"entry AS (INSERT INTO {ledger} (at, sku, location, kind, on_hand, reserved, "
            "in_transfer, damaged, reservation_id, actor_kind, actor_id) "
            "SELECT %(at)s::timestamptz, %(sku)s::text, %(loc)s::text, 'reserve', 0, "
            "%(n)s::bigint, 0, 0, %(id)s::text, %(ak)s::text, %(ai)s::text FROM taken), "
            f"message AS (INSERT INTO {q}.outbox (stream, aggregate_id, aggregate_version, "
            "event_id, topic, payload) SELECT 'stock', %(agg)s::text, version, %(ev)s::text, "
            "'stock.changed', %(head)s::text || on_hand || ',\"reserved\":' || reserved "
            "|| ',\"in_transfer\":' || in_transfer || ',\"damaged\":' || damaged "
            "|| ',\"available\":' || (on_hand - reserved - in_transfer) || %(tail)s::text "
            "FROM taken ON CONFLICT (event_id) WHERE stream <> 'order' DO NOTHING) "
            "SELECT t.on_hand, t.reserved, t.in_transfer, t.damaged, t.version, "
            "EXISTS (SELECT 1 FROM rule), CASE WHEN t.version IS NULL THEN "
            f"(SELECT on_hand - reserved - in_transfer FROM {stock} "
            "WHERE sku = %(sku)s::text AND location = %(loc)s::text) END "
            "FROM (SELECT 1) AS one LEFT JOIN taken AS t ON true"
        )


def _stock_row(row: Sequence[Any]) -> StockRow:
    return StockRow(int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]))


def _rows(found: Sequence[Sequence[Any]]) -> dict[StockKey, StockRow]:
    return {(r[0], r[1]): _stock_row(r[2:]) for r in found}


class _PostgresTxn:
    """One transaction on a pooled connection."""

    __slots__ = ("_conn", "_schema", "_sql")

    def __init__(self, conn: _Connection, sql: _Statements, schema: str) -> None:
        self._conn = conn
        self._sql = sql
        self._schema = schema

    def _one(self, sql: str, params: Sequence[Any] | dict[str, Any]) -> TupleRow | None:
        return self._conn.execute(sql, params).fetchone()

    # -- counters ---------------------------------------------------------------------

    def lock_stock(
        self, keys: Sequence[StockKey], *, skip_locked: bool = False
    ) -> dict[StockKey, StockRow]:
        if not keys:
            return {}
        if len(keys) == 1:
            sku, location = keys[0]
            sql = self._sql.lock_one_skip if skip_locked else self._sql.lock_one
            row = self._one(sql, (sku, location))
            return {} if row is None else {(sku, location): _stock_row(row)}
        sql = self._sql.lock_many_skip if skip_locked else self._sql.lock_many
        return _rows(
            self._conn.execute(sql, ([k[0] for k in keys], [k[1] for k in keys])).fetchall()
        )

    def stock_rows(
        self, sku: str | None = None, location: str | None = None
    ) -> dict[StockKey, StockRow]:
        clauses, params = [], []
        if sku is not None:
            clauses.append("sku = %s")
            params.append(sku)
        if location is not None:
            clauses.append("location = %s")
            params.append(location)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return _rows(self._conn.execute(self._sql.rows + where, params).fetchall())

    def change_stock(
        self,
        sku: str,
        location: str,
        on_hand: int = 0,
        reserved: int = 0,
        in_transfer: int = 0,
        damaged: int = 0,
    ) -> StockRow | None:
        params = {
            "sku": sku,
            "loc": location,
            "oh": on_hand,
            "r": reserved,
            "t": in_transfer,
            "d": damaged,
        }
        if reserved > 0 and not (on_hand or in_transfer or damaged):
            sql = self._sql.reserve
        elif (
            on_hand >= 0
            and reserved >= 0
            and in_transfer >= 0
            and damaged >= 0
            and on_hand - reserved - in_transfer >= 0
        ):
            sql = self._sql.add
        elif on_hand - reserved - in_transfer < 0:
            sql = self._sql.take
        else:
            sql = self._sql.give
        row = self._one(sql, params)
        return None if row is None else _stock_row(row)

    def set_stock(self, sku: str, location: str, row: StockRow) -> None:
        self._conn.execute(self._sql.set_stock, (sku, location, *row))

    # -- ledger -----------------------------------------------------------------------

    def append_ledger(self, rows: Sequence[LedgerRow]) -> None:
        values = [(row[1], *row[2:]) for row in rows]
        if len(values) == 1:
            self._conn.execute(self._sql.append, values[0])
        elif values:
            with self._conn.cursor() as cursor:
                cursor.executemany(self._sql.append, values)

    def ledger(
        self, sku: str | None, location: str | None, after_seq: int, limit: int
    ) -> list[LedgerRow]:
        clauses = ["seq > %s"]
        params: list[Any] = [after_seq]
        if sku is not None:
            clauses.append("sku = %s")
            params.append(sku)
        if location is not None:
            clauses.append("location = %s")
            params.append(location)
        rows = self._conn.execute(
            f"{self._sql.ledger} WHERE {' AND '.join(clauses)} ORDER BY seq LIMIT %s",
            (*params, limit),
        ).fetchall()
        return [LedgerRow(int(r[0]), _utc(r[1]), *r[2:5], *map(int, r[5:9]), *r[9:]) for r in rows]

    def ledger_totals(self) -> dict[StockKey, tuple[int, int, int, int]]:
        rows = self._conn.execute(self._sql.totals).fetchall()
        return {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4]), int(r[5])) for r in rows}

    # -- reservations -----------------------------------------------------------------

    def get_reservation(
        self, reservation_id: str, *, lock: bool = False, skip_locked: bool = False
    ) -> str | None:
        if not lock:
            sql = self._sql.reservation
        else:
            sql = self._sql.reservation_skip if skip_locked else self._sql.reservation_lock
        row = self._one(sql, (reservation_id,))
        return None if row is None else str(row[0])

    def insert_reservation(
        self, reservation_id: str, status: str, expires_at: datetime | None, data: str
    ) -> bool:
        cursor = self._conn.execute(
            self._sql.insert_reservation, (reservation_id, status, expires_at, data)
        )
        return cursor.rowcount == 1

    def update_reservation(
        self, reservation_id: str, status: str, expires_at: datetime | None, data: str
    ) -> None:
        self._conn.execute(self._sql.update_reservation, (status, expires_at, data, reservation_id))

    def due_reservations(self, now: datetime, limit: int) -> list[str]:
        rows = self._conn.execute(self._sql.due, (now, limit)).fetchall()
        return [str(row[0]) for row in rows]

    # -- adjustments and transfers ----------------------------------------------------

    def get_adjustment(self, adjustment_id: str, *, lock: bool = False) -> str | None:
        sql = self._sql.lock_adjustment if lock else self._sql.get_adjustment
        row = self._one(sql, (adjustment_id,))
        return None if row is None else str(row[0])

    def put_adjustment(self, adjustment_id: str, status: str, data: str) -> None:
        self._conn.execute(self._sql.put_adjustment, (adjustment_id, status, data))

    def get_transfer(self, transfer_id: str, *, lock: bool = False) -> str | None:
        sql = self._sql.lock_transfer if lock else self._sql.get_transfer
        row = self._one(sql, (transfer_id,))
        return None if row is None else str(row[0])

    def put_transfer(self, transfer_id: str, status: str, data: str) -> None:
        self._conn.execute(self._sql.put_transfer, (transfer_id, status, data))

    # -- idempotency ------------------------------------------------------------------

    def get_idempotency(self, key: str) -> tuple[str, str] | None:
        # Two statements: the SELECT's snapshot must be taken after the lock is held,
        # so that it sees the record of the transaction it waited for.
        self._conn.execute(self._sql.key_lock, (f"{self._schema}:{key}",))
        row = self._one(self._sql.get_key, (key,))
        return None if row is None else (str(row[0]), str(row[1]))

    def put_idempotency(self, key: str, fingerprint: str, result: str, at: datetime) -> None:
        self._conn.execute(self._sql.put_key, (key, fingerprint, result, at))

    # -- backorders -------------------------------------------------------------------

    def enqueue_backorder(self, sku: str, reservation_id: str, at: datetime) -> None:
        self._conn.execute(self._sql.enqueue, (sku, reservation_id, at))

    def dequeue_backorder(self, sku: str, reservation_id: str) -> None:
        self._conn.execute(self._sql.dequeue, (sku, reservation_id))

    def backorder_queue(self, sku: str | None, limit: int) -> list[tuple[str, str]]:
        if sku is None:
            rows = self._conn.execute(self._sql.queue_all, (limit,)).fetchall()
        else:
            rows = self._conn.execute(self._sql.queue_of, (sku, limit)).fetchall()
        return [(str(row[0]), str(row[1])) for row in rows]

    # -- channel quotas ---------------------------------------------------------------

    def get_quota(
        self, sku: str, channel: str, *, lock: bool = False, skip_locked: bool = False
    ) -> tuple[int, int] | Busy | None:
        if lock and skip_locked:
            row = self._one(self._sql.quota_skip, (sku, channel))
            if row is None:
                # Nothing came back: the row is missing, or another transaction holds it.
                return BUSY if self._one(self._sql.quota, (sku, channel)) is not None else None
        else:
            row = self._one(self._sql.quota_lock if lock else self._sql.quota, (sku, channel))
        return None if row is None else (int(row[0]), int(row[1]))

    def set_quota(self, sku: str, channel: str, quota: int | None) -> None:
        if quota is None:
            self._conn.execute(self._sql.drop_quota, (sku, channel))
        else:
            self._conn.execute(self._sql.set_quota, (sku, channel, quota))

    def add_quota_used(self, sku: str, channel: str, delta: int) -> bool:
        cursor = self._conn.execute(self._sql.add_used, {"n": delta, "sku": sku, "ch": channel})
        return cursor.rowcount == 1

    def quotas(self, sku: str | None) -> dict[tuple[str, str], tuple[int, int]]:
        if sku is None:
            rows = self._conn.execute(self._sql.quotas_all).fetchall()
        else:
            rows = self._conn.execute(self._sql.quotas_of, (sku,)).fetchall()
        return {(r[0], r[1]): (int(r[2]), int(r[3])) for r in rows}

    # -- settings ---------------------------------------------------------------------

    def get_setting(self, key: str, *, lock: bool = False) -> str | None:
        row = self._one(self._sql.setting_lock if lock else self._sql.setting, (key,))
        return None if row is None else str(row[0])

    def put_setting(self, key: str, value: str | None) -> None:
        if value is None:
            self._conn.execute(self._sql.drop_setting, (key,))
        else:
            self._conn.execute(self._sql.put_setting, (key, value))

    def settings(self, prefix: str) -> dict[str, str]:
        rows = self._conn.execute(self._sql.settings, (prefix,)).fetchall()
        return {str(k): str(v) for k, v in rows}

    # -- locations and outbox ---------------------------------------------------------

    def put_location(self, location_id: str, data: str) -> None:
        self._conn.execute(self._sql.put_location, (location_id, data))

    def locations(self) -> list[str]:
        return [str(row[0]) for row in self._conn.execute(self._sql.locations).fetchall()]

    def write_outbox(self, entries: Sequence[OutboxEntry]) -> None:
        write_outbox(self._conn, self._schema, entries)


class PostgresInventoryBackend:
    """An inventory backend in a PostgreSQL schema shared with the order store.

    Opened from the same URLs as :class:`~ordercore_postgres.PostgresStore`
    (``postgresql://user@host/db?schema=shop&max_size=20``; the store's options
    and libpq parameters apply), or over an open store with :meth:`for_store`,
    sharing its connection pool. Opening applies the inventory's missing schema
    steps (component ``inventory``) next to the order tables. Any number of
    processes may open the same schema; one backend is safe to share between
    threads.

    Write transactions run at READ COMMITTED: every counter change is one
    conditional statement on a row locked until commit, so a change never acts
    on stale counters. Reads run in a ``REPEATABLE READ READ ONLY`` transaction,
    so :meth:`~ordercore.inventory.Inventory.verify` compares counters and ledger
    from one snapshot while writers carry on.

    Args:
        store: The order store whose schema, pool and outbox the stock shares.
        owns_store: Whether :meth:`close` closes the store too.

    Raises:
        MigrationError: the inventory tables could not be created, or a newer
            ordercore-postgres migrated them already.

    Example:
        >>> from ordercore.inventory import open_inventory
        >>> inventory = open_inventory("postgresql://postgres@127.0.0.1:5432/test?schema=shop")
        >>> inventory.available("MUG")
        0
    """

    def __init__(self, store: PostgresStore, *, owns_store: bool = False) -> None:
        self.store = store
        self.url = store.url
        self.schema = store.schema
        self._owns_store = owns_store
        self._closed = False
        self._sql = _Statements(store.schema)
        try:
            if self.schema_version() != INVENTORY_MIGRATIONS[-1].version:
                store.migrate_component(COMPONENT, INVENTORY_MIGRATIONS)  # refuses newer
        except BaseException:
            if owns_store:
                store.close()
            raise

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresInventoryBackend:
        """Open ``postgresql://...`` (options as for :meth:`PostgresStore.from_url`).

        Raises:
            StoreURLError: not a PostgreSQL URL, or an unknown or invalid option.
            StoreError: the server cannot be reached.
            MigrationError: the schema could not be brought up to date.
        """
        return cls(PostgresStore.from_url(url, **options), owns_store=True)

    @classmethod
    def for_store(cls, store: PostgresStore) -> PostgresInventoryBackend:
        """A backend over an open store, sharing its pool (the store stays the caller's)."""
        return cls(store, owns_store=False)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreClosed(f"the inventory {self.url} is closed")

    @contextmanager
    def transaction(self) -> Iterator[_PostgresTxn]:
        """One READ COMMITTED transaction on a pooled connection.

        Database errors become ``StoreError`` (deadlocks and lock timeouts
        included); anything else raised in the block propagates unchanged after
        the rollback.
        """
        self._check_open()
        with self.store.transaction() as conn:
            yield _PostgresTxn(conn, self._sql, self.schema)

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
        """One located line of a new reservation in one statement (see ``ReserveOne``).

        The payload is the text ``stock_payload_json`` gives, with the counters
        filled in by the server.
        """
        self._check_open()
        params = {
            "rule": f"safety:{sku}",
            "n": quantity,
            "sku": sku,
            "loc": location,
            "id": reservation_id,
            "exp": expires_at,
            "data": record,
            "at": at,
            "ak": actor[0],
            "ai": actor[1],
            "agg": f"{sku}@{location}",
            "ev": event_id,
            "head": stock_payload_head(sku, location),
            "tail": stock_payload_tail(cause),
        }
        with self.store._connection() as conn:
            try:
                found = conn.execute(self._sql.reserve_one, params, prepare=True).fetchone()
            except psycopg.errors.UniqueViolation:
                return None  # the id is taken: the general path says so
        assert found is not None
        if found[5]:
            return None
        if found[4] is None:
            return 0 if found[6] is None else int(found[6])
        return _stock_row(found)

    @contextmanager
    def reading(self) -> Iterator[_PostgresTxn]:
        """A ``REPEATABLE READ READ ONLY`` transaction: one snapshot, no locks, no writes."""
        self._check_open()
        with self.store.transaction() as conn:
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield _PostgresTxn(conn, self._sql, self.schema)

    def schema_version(self) -> int:
        """The inventory's schema step in the database (0 before the first)."""
        return self.store.schema_versions().get(COMPONENT, 0)

    def close(self) -> None:
        """Close the backend (and the store, when opened from a URL); safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._owns_store:
            self.store.close()

    def __repr__(self) -> str:
        return f"<PostgresInventoryBackend {self.url}{' closed' if self._closed else ''}>"
