"""The SQLite store: the embedded default. One file, WAL mode, zero set-up."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, unquote

from ordercore.errors import (
    DuplicateOrder,
    MigrationError,
    StoreError,
    StoreURLError,
)
from ordercore.schema import Actor, Order, OrderEvent
from ordercore.storage._base import (
    BaseStore,
    Change,
    dumps,
    events_from_payloads,
    id_taken,
    key_reused,
    key_taken,
    order_not_found,
    result_json,
    stale_version,
)
from ordercore.storage._protocol import (
    IdempotencyRecord,
    OrderQuery,
    OutboxMessage,
    from_micros,
    order_fingerprint,
    to_micros,
)
from ordercore.timestamps import utc_now

__all__ = ["MIGRATIONS", "SQLiteStore"]

#: The schema, as numbered steps. A database records the steps applied in
#: ``ordercore_schema``; opening it applies the missing ones in one transaction.
MIGRATIONS: Final[tuple[tuple[int, str, str], ...]] = (
    (
        1,
        "orders, the change log (events and outbox) and idempotency keys",
        """
        CREATE TABLE orders (
            id TEXT PRIMARY KEY,
            channel TEXT NOT NULL,
            channel_order_id TEXT NOT NULL,
            shop_id TEXT,
            status TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            tags TEXT NOT NULL DEFAULT '[]',
            body TEXT NOT NULL,
            UNIQUE (channel, channel_order_id)
        );
        CREATE INDEX orders_created ON orders (created_at, id);
        CREATE INDEX orders_status_created ON orders (status, created_at);
        CREATE TABLE order_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            order_id TEXT NOT NULL,
            order_version INTEGER NOT NULL,
            topic TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            claimed_until INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0,
            delivered_at INTEGER
        );
        CREATE INDEX order_changes_order ON order_changes (order_id, id);
        CREATE INDEX order_changes_pending ON order_changes (id) WHERE delivered_at IS NULL;
        CREATE TABLE idempotency_keys (
            key TEXT PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            result TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        """,
    ),
)

_SYNCHRONOUS: Final = {"off", "normal", "full", "extra"}
_PAGE_SIZE: Final = 16384
_ORDER_INSERT: Final = (
    "INSERT INTO orders (id, channel, channel_order_id, shop_id, status, created_at, "
    "updated_at, version, tags, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CHANGE_INSERT: Final = (
    "INSERT INTO order_changes (order_id, order_version, topic, payload, created_at) "
    "VALUES (?, ?, ?, ?, ?)"
)


def _order_row(order: Order) -> tuple[Any, ...]:
    assert order.updated_at is not None
    return (
        order.id,
        order.channel,
        order.channel_order_id,
        order.shop_id,
        order.status.value,
        to_micros(order.created_at.utc),
        to_micros(order.updated_at),
        order.version,
        dumps(list(order.tags)) if order.tags else "[]",
        order.model_dump_json(),
    )


def _is_unique_violation(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc)


def _now_us() -> int:
    return time.time_ns() // 1000


def parse_sqlite_url(url: str) -> str:
    """Return the database path of a ``sqlite://`` URL (``":memory:"`` for none).

    ``sqlite:///orders.db`` is relative to the working directory,
    ``sqlite:////var/lib/orders.db`` absolute, ``sqlite://`` in memory.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] != "sqlite":
        raise StoreURLError(f"not a sqlite URL: {url!r}", url=url)
    rest = rest.partition("?")[0]
    if rest in ("", "/", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/"):
        raise StoreURLError(
            "a sqlite URL has three slashes before a relative path "
            f"(sqlite:///orders.db) and four before an absolute one; got {url!r}",
            url=url,
        )
    return unquote(rest[1:])


class SQLiteStore(BaseStore):
    """An :class:`~ordercore.storage.OrderStore` in one SQLite file (WAL mode).

    Several threads may share one store object; several processes may open the
    same file. Writers queue on SQLite's write lock (``timeout`` seconds at most);
    readers never wait for writers.

    Args:
        path: The database file; ``":memory:"`` for a private in-memory database.
        timeout: Seconds to wait for another writer before failing.
        cache_mb: SQLite's page cache per connection, in MiB (64 by default; the
            indexes of a busy order table stay in memory).
        synchronous: SQLite's ``synchronous`` pragma: ``"normal"`` (default, durable
            at checkpoints, never corrupt) or ``"full"`` (every commit on disk).

    Example:
        >>> from ordercore import open_store
        >>> store = open_store("sqlite://")  # in memory
        >>> store.count()
        0
    """

    def __init__(
        self,
        path: str | Path = ":memory:",
        *,
        timeout: float = 30.0,
        synchronous: str = "normal",
        cache_mb: int = 64,
        url: str | None = None,
    ) -> None:
        self.path = str(path)
        self.url = url or ("sqlite://" if self.path == ":memory:" else f"sqlite:///{self.path}")
        if synchronous.lower() not in _SYNCHRONOUS:
            raise StoreURLError(
                f"synchronous must be one of {sorted(_SYNCHRONOUS)}, got {synchronous!r}",
                url=self.url,
            )
        if isinstance(cache_mb, bool) or not isinstance(cache_mb, int) or cache_mb < 1:
            raise StoreURLError(
                f"cache_mb must be a whole number >= 1, got {cache_mb!r}", url=self.url
            )
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(
                self.path, timeout=timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        try:
            if self.path != ":memory:":
                if self._db.execute("PRAGMA page_count").fetchone()[0] == 0:
                    # A new file: 16 KiB pages hold several order bodies each
                    # (one page per order at the 4 KiB default).
                    self._db.execute(f"PRAGMA page_size={_PAGE_SIZE}")
                mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":  # pragma: no cover - e.g. a read-only medium
                    raise StoreError(f"SQLite database {self.path!r} cannot use WAL mode")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            self._db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            self._db.execute(f"PRAGMA cache_size={-1024 * cache_mb}")
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"cannot use SQLite database {self.path!r}: {exc}") from exc
        except BaseException:
            self._db.close()
            raise

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteStore:
        """Open from ``sqlite:///path.db?timeout=30&synchronous=normal&cache_mb=64``."""
        path = parse_sqlite_url(url)
        query = dict(parse_qsl(url.partition("?")[2]))
        settings: dict[str, Any] = {}
        unknown = set(query) - {"timeout", "synchronous", "cache_mb"}
        if unknown:
            raise StoreURLError(f"unknown sqlite URL options: {sorted(unknown)}", url=url)
        if "timeout" in query:
            try:
                settings["timeout"] = float(query["timeout"])
            except ValueError:
                raise StoreURLError(
                    f"timeout must be a number of seconds in {url!r}", url=url
                ) from None
        if "synchronous" in query:
            settings["synchronous"] = query["synchronous"]
        if "cache_mb" in query:
            if not query["cache_mb"].isdigit():
                raise StoreURLError(f"cache_mb must be a whole number in {url!r}", url=url)
            settings["cache_mb"] = int(query["cache_mb"])
        settings.update(options)
        return cls(path, url=url, **settings)

    # -- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, holding SQLite's write lock from the start."""
        self._check_open()
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise StoreError(f"could not start a write on {self.url}: {exc}") from exc
            try:
                yield self._db
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                if _is_unique_violation(exc):
                    raise  # the caller turns it into DuplicateOrder
                raise StoreError(f"write failed on {self.url}: {exc}") from exc
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                try:
                    self._db.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._db.execute("ROLLBACK")
                    raise StoreError(f"commit failed on {self.url}: {exc}") from exc

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._check_open()
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"query failed on {self.url}: {exc}") from exc

    def _migrate(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS ordercore_schema (version INTEGER PRIMARY KEY, "
                "description TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            applied = {row[0] for row in db.execute("SELECT version FROM ordercore_schema")}
            known = {version for version, _, _ in MIGRATIONS}
            newer = sorted(applied - known)
            if newer:
                raise MigrationError(
                    f"{self.path} has schema version {newer[-1]}, newer than this ordercore "
                    f"knows ({max(known)}); upgrade ordercore"
                )
            for version, description, script in MIGRATIONS:
                if version in applied:
                    continue
                for statement in filter(str.strip, script.split(";")):
                    db.execute(statement)
                db.execute(
                    "INSERT INTO ordercore_schema VALUES (?, ?, ?)",
                    (version, description, utc_now().isoformat()),
                )
        except MigrationError:
            db.execute("ROLLBACK")
            raise
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise MigrationError(f"migrating {self.path} failed: {exc}") from exc
        db.execute("COMMIT")

    def schema_version(self) -> int:
        """The highest migration applied to the database."""
        return int(self._read("SELECT max(version) FROM ordercore_schema")[0][0])

    def integrity_check(self) -> list[str]:
        """Check the file and ordercore's invariants; return the problems found (none: ``[]``).

        Besides SQLite's own check: every order's row agrees with its JSON body, and
        its versions 1..N each have exactly one change-log entry (one outbox message
        per committed change).
        """
        problems = [row[0] for row in self._read("PRAGMA integrity_check") if row[0] != "ok"]
        for order_id, version, body in self._read("SELECT id, version, body FROM orders"):
            stored = json.loads(body)
            if stored.get("id") != order_id or stored.get("version") != version:
                problems.append(f"order {order_id}: row and body disagree")
        rows = self._read(
            "SELECT o.id, o.version, count(DISTINCT c.order_version), "
            "sum(c.topic != 'order.events'), min(c.order_version), max(c.order_version) "
            "FROM orders o LEFT JOIN order_changes c ON c.order_id = o.id GROUP BY o.id"
        )
        for order_id, version, versions, changes, low, high in rows:
            if (versions, changes, low, high) != (version, version, 1, version):
                problems.append(
                    f"order {order_id}: version {version} but change log has versions "
                    f"{low}..{high} ({changes} changes)"
                )
        return problems

    # -- writes ---------------------------------------------------------------------------

    def _record(self, db: sqlite3.Connection, change: Change) -> None:
        order = change.order
        db.execute(
            _CHANGE_INSERT, (order.id, order.version, change.topic, change.outbox_json, _now_us())
        )

    def _duplicate(self, db: sqlite3.Connection, order: Order) -> DuplicateOrder:
        row = db.execute("SELECT 1 FROM orders WHERE id = ?", (order.id,)).fetchone()
        if row is not None:
            return id_taken(order)
        row = db.execute(
            "SELECT id FROM orders WHERE channel = ? AND channel_order_id = ?", order.key
        ).fetchone()
        return key_taken(order, row[0] if row else None)

    def _replay(self, db: sqlite3.Connection, key: str | None, fingerprint: str) -> Order | None:
        if key is None:
            return None
        row = db.execute(
            "SELECT fingerprint, result FROM idempotency_keys WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        if row[0] != fingerprint:
            raise key_reused(key)
        order_id = json.loads(row[1])["order_id"]
        body = db.execute("SELECT body FROM orders WHERE id = ?", (order_id,)).fetchone()
        if body is None:  # pragma: no cover - keys are written with their order
            raise order_not_found(order_id)
        return Order.model_validate_json(body[0])

    @staticmethod
    def _remember_write(
        db: sqlite3.Connection, key: str | None, fingerprint: str, order: Order
    ) -> None:
        if key is not None:
            db.execute(
                "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?)",
                (
                    key,
                    fingerprint,
                    dumps({"order_id": order.id, "version": order.version}),
                    _now_us(),
                ),
            )

    def put(
        self,
        order: Order,
        *,
        events: Sequence[OrderEvent] = (),
        actor: Actor | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        fingerprint = order_fingerprint(order) if idempotency_key else ""
        change = self._new_change(order, events, actor) if order.version == 0 else None
        with self._write() as db:
            replayed = self._replay(db, idempotency_key, fingerprint)
            if replayed is not None:
                return replayed
            if change is None:
                change = self._new_change(order, events, actor)  # raises VersionConflict
            try:
                db.execute(_ORDER_INSERT, _order_row(change.order))
            except sqlite3.IntegrityError as exc:
                if not _is_unique_violation(exc):
                    raise
                raise self._duplicate(db, order) from None
            self._record(db, change)
            self._remember_write(db, idempotency_key, fingerprint, change.order)
        return change.order

    def put_many(self, orders: Iterable[Order], *, actor: Actor | None = None) -> list[Order]:
        now = utc_now()
        at = now.isoformat().replace("+00:00", "Z")
        changes = [self._new_change(order, (), actor, now, at) for order in orders]
        if not changes:
            return []
        seen: set[str] = set()
        for change in changes:
            if change.order.id in seen:
                raise id_taken(change.order, in_batch=True)
            seen.add(change.order.id)
        now_us = _now_us()
        order_rows = [_order_row(change.order) for change in changes]
        change_rows = [
            (c.order.id, c.order.version, c.topic, c.outbox_json, now_us) for c in changes
        ]
        try:
            with self._write() as db:
                db.executemany(_ORDER_INSERT, order_rows)
                db.executemany(_CHANGE_INSERT, change_rows)
        except sqlite3.IntegrityError:
            raise self._batch_duplicate([c.order for c in changes]) from None
        return [change.order for change in changes]

    def _batch_duplicate(self, orders: list[Order]) -> DuplicateOrder:
        """Name the first order of a rolled-back batch that clashes."""
        keys: dict[tuple[str, str], str] = {}
        for order in orders:
            if order.key in keys:
                return key_taken(order, keys[order.key], in_batch=True)
            keys[order.key] = order.id
        with self._lock:
            for order in orders:
                clash = self._db.execute(
                    "SELECT 1 FROM orders WHERE id = ? OR (channel = ? AND channel_order_id = ?)",
                    (order.id, *order.key),
                ).fetchone()
                if clash is not None:
                    return self._duplicate(self._db, order)
        return DuplicateOrder(
            "the batch clashed with an order stored at the same time", order_id=orders[0].id
        )

    def update(
        self,
        order: Order,
        *,
        events: Sequence[OrderEvent] = (),
        actor: Actor | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        fingerprint = order_fingerprint(order) if idempotency_key else ""
        change = self._update_change(order, events, actor)
        with self._write() as db:
            replayed = self._replay(db, idempotency_key, fingerprint)
            if replayed is not None:
                return replayed
            stored = change.order
            assert stored.updated_at is not None
            try:
                cursor = db.execute(
                    "UPDATE orders SET channel = ?, channel_order_id = ?, shop_id = ?, "
                    "status = ?, created_at = ?, updated_at = ?, version = ?, tags = ?, "
                    "body = ? WHERE id = ? AND version = ?",
                    (*_order_row(stored)[1:], order.id, order.version),
                )
            except sqlite3.IntegrityError as exc:
                if not _is_unique_violation(exc):
                    raise
                raise self._duplicate(db, order) from None
            if cursor.rowcount != 1:
                row = db.execute("SELECT version FROM orders WHERE id = ?", (order.id,)).fetchone()
                if row is None:
                    raise order_not_found(order.id)
                raise stale_version(order, row[0])
            self._record(db, change)
            self._remember_write(db, idempotency_key, fingerprint, stored)
        return stored

    def append_events(self, order_id: str, events: Sequence[OrderEvent]) -> None:
        with self._write() as db:
            row = db.execute("SELECT body FROM orders WHERE id = ?", (order_id,)).fetchone()
            if row is None:
                raise order_not_found(order_id)
            order = Order.model_validate_json(row[0])
            self._record(db, self._events_change(order, events))

    # -- reads ------------------------------------------------------------------------------

    def get(self, order_id: str) -> Order:
        rows = self._read("SELECT body FROM orders WHERE id = ?", (order_id,))
        if not rows:
            raise order_not_found(order_id)
        return Order.model_validate_json(rows[0][0])

    def find(self, channel: str, channel_order_id: str) -> Order | None:
        rows = self._read(
            "SELECT body FROM orders WHERE channel = ? AND channel_order_id = ?",
            (channel, channel_order_id),
        )
        return Order.model_validate_json(rows[0][0]) if rows else None

    @staticmethod
    def _where(query: OrderQuery, *, paged: bool) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.channel is not None:
            clauses.append("channel = ?")
            params.append(query.channel)
        if query.shop_id is not None:
            clauses.append("shop_id = ?")
            params.append(query.shop_id)
        if query.status is not None:
            clauses.append(f"status IN ({', '.join('?' * len(query.status))})")
            params.extend(query.status)
        if query.tag is not None:
            clauses.append("EXISTS (SELECT 1 FROM json_each(orders.tags) WHERE value = ?)")
            params.append(query.tag)
        if query.created_from is not None:
            clauses.append("created_at >= ?")
            params.append(to_micros(query.created_from))
        if query.created_to is not None:
            clauses.append("created_at < ?")
            params.append(to_micros(query.created_to))
        if paged and query.after is not None:
            after_us = to_micros(query.after[0])
            clauses.append("(created_at > ? OR (created_at = ? AND id > ?))")
            params.extend([after_us, after_us, query.after[1]])
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _query(self, query: OrderQuery) -> list[Order]:
        where, params = self._where(query, paged=True)
        rows = self._read(
            f"SELECT body FROM orders{where} ORDER BY created_at, id LIMIT ?",
            [*params, query.limit],
        )
        return [Order.model_validate_json(row[0]) for row in rows]

    def _count(self, query: OrderQuery) -> int:
        where, params = self._where(query, paged=False)
        return int(self._read(f"SELECT count(*) FROM orders{where}", params)[0][0])

    def events(self, order_id: str) -> list[OrderEvent]:
        rows = self._read(
            "SELECT payload FROM order_changes WHERE order_id = ? ORDER BY id", (order_id,)
        )
        return events_from_payloads(row[0] for row in rows)

    # -- outbox -------------------------------------------------------------------------------

    def claim_outbox(self, limit: int = 100, *, lease_seconds: float = 30.0) -> list[OutboxMessage]:
        now = _now_us()
        until = now + int(lease_seconds * 1_000_000)
        with self._write() as db:
            rows = db.execute(
                "SELECT id, topic, order_id, order_version, payload, created_at, attempts "
                "FROM order_changes WHERE delivered_at IS NULL AND claimed_until <= ? "
                "ORDER BY id LIMIT ?",
                (now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE order_changes SET claimed_until = ?, attempts = attempts + 1 WHERE id = ?",
                [(until, row[0]) for row in rows],
            )
        return [
            OutboxMessage(
                id=row[0],
                topic=row[1],
                order_id=row[2],
                order_version=row[3],
                payload=json.loads(row[4]),
                created_at=from_micros(row[5]),
                attempts=row[6] + 1,
            )
            for row in rows
        ]

    def ack_outbox(self, ids: Iterable[int]) -> None:
        now = _now_us()
        with self._write() as db:
            db.executemany(
                "UPDATE order_changes SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL",
                [(now, message_id) for message_id in ids],
            )

    def outbox_pending(self) -> int:
        return int(
            self._read("SELECT count(*) FROM order_changes WHERE delivered_at IS NULL")[0][0]
        )

    # -- idempotency ----------------------------------------------------------------------------

    def remember(self, key: str, fingerprint: str, result: Mapping[str, Any]) -> IdempotencyRecord:
        text = result_json(result)
        with self._write() as db:
            db.execute(
                "INSERT INTO idempotency_keys VALUES (?, ?, ?, ?) ON CONFLICT (key) DO NOTHING",
                (key, fingerprint, text, _now_us()),
            )
            row = db.execute(
                "SELECT fingerprint, result, created_at FROM idempotency_keys WHERE key = ?",
                (key,),
            ).fetchone()
        if row[0] != fingerprint:
            raise key_reused(key)
        return IdempotencyRecord(
            key=key, fingerprint=row[0], result=json.loads(row[1]), created_at=from_micros(row[2])
        )

    def recall(self, key: str) -> IdempotencyRecord | None:
        rows = self._read(
            "SELECT fingerprint, result, created_at FROM idempotency_keys WHERE key = ?", (key,)
        )
        if not rows:
            return None
        fingerprint, result, created = rows[0]
        return IdempotencyRecord(
            key=key,
            fingerprint=fingerprint,
            result=json.loads(result),
            created_at=from_micros(created),
        )
