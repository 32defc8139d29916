"""The SQLite store: the embedded default. One file, WAL mode, zero set-up."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, quote, unquote

from ordercore.errors import (
    DuplicateOrder,
    ForeignDatabase,
    MigrationError,
    StoreError,
    StoreURLError,
)
from ordercore.ids import new_id
from ordercore.schema import Actor, Order, OrderEvent
from ordercore.storage._protocol import (
    IdempotencyRecord,
    OrderQuery,
    OrderUpdate,
    OutboxMessage,
    Timer,
    TimerFinish,
    TimerPlan,
    from_micros,
    order_fingerprint,
    to_micros,
)
from ordercore.storage.kit import (
    EVENTS,
    ORDER_STREAM,
    BaseStore,
    BatchResult,
    Change,
    ExistingOrder,
    Migration,
    OnExisting,
    OrderRow,
    OutboxEntry,
    Outcome,
    PutOutcome,
    QueryDialect,
    change_log_problems,
    events_from_payloads,
    events_message,
    id_taken,
    key_reused,
    key_taken,
    load_stored_order,
    order_not_found,
    order_row,
    pending_migrations,
    plan_batch,
    query_where,
    result_json,
    stale_version,
)
from ordercore.timestamps import utc_now

__all__ = ["MIGRATIONS", "SQLiteStore", "apply_sqlite_migrations", "write_outbox"]

#: The component whose tables this store owns in ``ordercore_migrations``.
COMPONENT: Final = "orders"

_V1_TABLES: Final = ("orders", "order_changes", "idempotency_keys")

_V2_SCHEMA: Final = (
    """CREATE TABLE ordercore_orders (
        id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        channel_order_id TEXT NOT NULL,
        shop_id TEXT,
        status TEXT NOT NULL,
        node TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        status_since INTEGER NOT NULL,
        channel_updated_at INTEGER,
        version INTEGER NOT NULL CHECK (version >= 1),
        tags TEXT NOT NULL DEFAULT '[]',
        anomalies TEXT NOT NULL DEFAULT '[]',
        body TEXT NOT NULL,
        raw TEXT,
        raw_type TEXT,
        UNIQUE (channel, channel_order_id)
    )""",
    "CREATE INDEX ordercore_orders_created ON ordercore_orders (created_at, id)",
    "CREATE INDEX ordercore_orders_status ON ordercore_orders (status, status_since)",
    # INTEGER PRIMARY KEY without AUTOINCREMENT: ids still increase (messages are
    # never deleted), without the extra sqlite_sequence write per insert.
    """CREATE TABLE ordercore_outbox (
        id INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
        aggregate_id TEXT NOT NULL,
        aggregate_version INTEGER NOT NULL,
        event_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        claimed_until INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0,
        delivered_at INTEGER
    )""",
    "CREATE INDEX ordercore_outbox_aggregate ON ordercore_outbox (stream, aggregate_id, id)",
    "CREATE INDEX ordercore_outbox_pending ON ordercore_outbox (id) WHERE delivered_at IS NULL",
    # Event ids of order changes are fresh ULIDs; other streams publish their own and
    # rely on this index to publish each event once. Leaving order messages out keeps
    # their insert to the two indexes above.
    "CREATE UNIQUE INDEX ordercore_outbox_event ON ordercore_outbox (event_id) "
    "WHERE stream <> 'order'",
    """CREATE TABLE ordercore_idempotency (
        key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        result TEXT NOT NULL,
        created_at INTEGER NOT NULL
    )""",
)

#: Timers live with the orders, so a transition arms and cancels them in its own
#: transaction. Keyed by (order, name) without a rowid; the due-time index is the
#: only way the timer service finds work, never a scan of orders.
_V3_SCHEMA: Final = (
    """CREATE TABLE ordercore_timers (
        order_id TEXT NOT NULL,
        name TEXT NOT NULL,
        due_at INTEGER NOT NULL,
        level INTEGER NOT NULL DEFAULT 1,
        attempts INTEGER NOT NULL DEFAULT 0,
        claimed_until INTEGER NOT NULL DEFAULT 0,
        claim TEXT,
        data TEXT,
        PRIMARY KEY (order_id, name)
    ) WITHOUT ROWID""",
    "CREATE INDEX ordercore_timers_due ON ordercore_timers (due_at)",
)

_V1_SCHEMA: Final = (
    """CREATE TABLE orders (
        id TEXT PRIMARY KEY, channel TEXT NOT NULL, channel_order_id TEXT NOT NULL,
        shop_id TEXT, status TEXT NOT NULL, created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL, version INTEGER NOT NULL CHECK (version >= 1),
        tags TEXT NOT NULL DEFAULT '[]', body TEXT NOT NULL, UNIQUE (channel, channel_order_id)
    )""",
    """CREATE TABLE order_changes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL,
        order_version INTEGER NOT NULL, topic TEXT NOT NULL, payload TEXT NOT NULL,
        created_at INTEGER NOT NULL, claimed_until INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0, delivered_at INTEGER
    )""",
    """CREATE TABLE idempotency_keys (
        key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, result TEXT NOT NULL,
        created_at INTEGER NOT NULL
    )""",
)

#: The order store's schema steps. A database records the steps applied per
#: component in ``ordercore_migrations``; opening it applies the missing ones in one
#: transaction. Step 2 moves version-1 data into the current layout (the raw
#: payload into its own column, one outbox for every aggregate).
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(COMPONENT, 1, "orders, the change log and idempotency keys", _V1_SCHEMA),
    Migration(
        COMPONENT,
        2,
        "raw payloads in their own column, status_since and node, one outbox for every "
        "aggregate keyed by stream, aggregate and event id",
        (
            *_V2_SCHEMA,
            "@copy_v1",
            "DROP TABLE orders",
            "DROP TABLE order_changes",
            "DROP TABLE idempotency_keys",
        ),
    ),
    Migration(
        COMPONENT,
        3,
        "timers (SLA deadlines and escalations) with a due-time index",
        _V3_SCHEMA,
    ),
)

#: Tables that belong to ordercore: its own prefix, and the layout of schema step 1.
_OWN_PREFIX: Final = "ordercore_"
_SYNCHRONOUS: Final = {"off", "normal", "full", "extra"}
_CHECKPOINT: Final = {"background", "auto"}
_PAGE_SIZE: Final = 16384
_OPTIONS: Final = frozenset(
    {"timeout", "synchronous", "cache_mb", "checkpoint", "mode", "adopt", "read_only"}
)
_ORDER_INSERT: Final = (
    "INSERT INTO ordercore_orders (id, channel, channel_order_id, shop_id, status, node, "
    "created_at, updated_at, status_since, channel_updated_at, version, tags, anomalies, body, "
    "raw, raw_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_ORDER_UPDATE: Final = (
    "UPDATE ordercore_orders SET channel = ?, channel_order_id = ?, shop_id = ?, status = ?, "
    "node = ?, created_at = ?, updated_at = ?, status_since = ?, channel_updated_at = ?, "
    "version = ?, tags = ?, anomalies = ?, body = ?, raw = ?, raw_type = ? "
    "WHERE id = ? AND version = ?"
)
_OUTBOX_INSERT: Final = (
    "INSERT INTO ordercore_outbox (stream, aggregate_id, aggregate_version, event_id, topic, "
    "payload, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
)
_DIALECT: Final = QueryDialect(
    placeholder="?",
    time=to_micros,
    tag_clause="EXISTS (SELECT 1 FROM json_each(ordercore_orders.tags) WHERE value = ?)",
    anomaly_clause=("EXISTS (SELECT 1 FROM json_each(ordercore_orders.anomalies) WHERE value = ?)"),
)
_CHUNK: Final = 400  # keys per IN (...) lookup, well under SQLite's variable limit


def _row_values(row: OrderRow) -> tuple[Any, ...]:
    return (
        row.id,
        row.channel,
        row.channel_order_id,
        row.shop_id,
        row.status,
        row.node,
        to_micros(row.created_at),
        to_micros(row.updated_at),
        to_micros(row.status_since),
        None if row.channel_updated_at is None else to_micros(row.channel_updated_at),
        row.version,
        json.dumps(list(row.tags), ensure_ascii=False) if row.tags else "[]",
        json.dumps(list(row.anomalies)) if row.anomalies else "[]",
        row.body,
        row.raw,
        row.raw_type,
    )


def _is_unique_violation(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.IntegrityError) and "UNIQUE constraint failed" in str(exc)


def _now_us() -> int:
    return time.time_ns() // 1000


def parse_sqlite_url(url: str) -> str:
    """Return the database path of a ``sqlite://`` URL (``":memory:"`` for none).

    ``sqlite:///orders.db`` is relative to the working directory,
    ``sqlite:////var/lib/orders.db`` absolute, ``sqlite://`` in memory.

    Raises:
        StoreURLError: not a sqlite URL, or the path holds a NUL or control character.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.split("+")[0] != "sqlite":
        raise StoreURLError(f"not a sqlite URL: {url[:200]!r}", url=url[:200])
    rest = rest.partition("?")[0]
    if rest in ("", "/", "/:memory:"):
        return ":memory:"
    if not rest.startswith("/"):
        raise StoreURLError(
            "a sqlite URL has three slashes before a relative path "
            f"(sqlite:///orders.db) and four before an absolute one; got {url[:200]!r}",
            url=url[:200],
        )
    path = unquote(rest[1:])
    if any(ord(char) < 32 for char in path):
        raise StoreURLError(
            "a sqlite database path cannot contain NUL or control characters", url=url[:200]
        )
    return path


def _flag(value: object, name: str, url: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise StoreURLError(f"{name} must be true or false, got {str(value)[:40]!r}", url=url)


def _own_table(name: str) -> bool:
    return name.startswith((_OWN_PREFIX, "sqlite_")) or name in _V1_TABLES


def _foreign_tables(db: sqlite3.Connection) -> list[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name"
    ).fetchall()
    return [name for (name,) in rows if not _own_table(name)]


def _copy_v1(db: sqlite3.Connection) -> None:
    """Move version-1 rows into the current layout (raw payload out of the body)."""
    for (body,) in db.execute("SELECT body FROM orders ORDER BY rowid").fetchall():
        order = load_stored_order(body)
        if order.status_since is None:
            order = order.model_copy(update={"status_since": order.updated_at})
        db.execute(_ORDER_INSERT, _row_values(order_row(order)))
    db.execute(
        "INSERT INTO ordercore_outbox (id, stream, aggregate_id, aggregate_version, event_id, "
        "topic, payload, created_at, claimed_until, attempts, delivered_at) "
        "SELECT id, 'order', order_id, order_version, "
        "coalesce(json_extract(payload, '$.events[0].event_id'), 'v1-' || id), topic, payload, "
        "created_at, claimed_until, attempts, delivered_at FROM order_changes ORDER BY id"
    )
    db.execute("INSERT INTO ordercore_idempotency SELECT * FROM idempotency_keys")


_TIMER_COLUMNS: Final = "order_id, name, due_at, level, attempts, claimed_until, claim, data"


def _timer(row: Sequence[Any], order_state: tuple[str, str | None] | None = None) -> Timer:
    claimed = row[5] if row[6] is not None else 0
    return Timer(
        order_id=row[0],
        name=row[1],
        due_at=from_micros(row[2]),
        level=row[3],
        attempts=row[4],
        claim=row[6],
        claimed_until=from_micros(claimed) if claimed else None,
        data=None if row[7] is None else json.loads(row[7]),
        order_state=order_state,
    )


def _write_timers(db: sqlite3.Connection, plans: Sequence[TimerPlan]) -> None:
    cancel = [(plan.order_id, name) for plan in plans for name in plan.cancel]
    if cancel:
        db.executemany("DELETE FROM ordercore_timers WHERE order_id = ? AND name = ?", cancel)
    arm = [
        (
            plan.order_id,
            timer.name,
            to_micros(timer.due_at),
            timer.level,
            None if timer.data is None else json.dumps(timer.data, separators=(",", ":")),
        )
        for plan in plans
        for timer in plan.arm
    ]
    if arm:
        db.executemany(
            "INSERT INTO ordercore_timers (order_id, name, due_at, level, data) "
            "VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (order_id, name) DO UPDATE SET due_at = excluded.due_at, "
            "level = excluded.level, data = excluded.data, attempts = 0, claimed_until = 0, "
            "claim = NULL",
            arm,
        )


def _delete_timer(db: sqlite3.Connection, timer: Timer) -> None:
    db.execute(
        "DELETE FROM ordercore_timers WHERE order_id = ? AND name = ?", (timer.order_id, timer.name)
    )


_STEPS: Final[dict[str, Callable[[sqlite3.Connection], None]]] = {"@copy_v1": _copy_v1}


def apply_sqlite_migrations(
    db: sqlite3.Connection,
    component: str,
    migrations: Sequence[Migration],
    *,
    where: str,
    steps: Mapping[str, Callable[[sqlite3.Connection], None]] | None = None,
) -> list[int]:
    """Bring ``component``'s tables in an SQLite database up to date, in one transaction.

    For backends of other components (inventory, timers, returns) that keep their
    tables in the same file as the orders: each component has its own sequence of
    :class:`~ordercore.storage.kit.Migration` steps in ``ordercore_migrations``.
    ``db`` must be in autocommit mode (``isolation_level=None``). A statement
    naming a key of ``steps`` (``"@name"``) runs that Python function instead.

    Returns:
        The versions applied now (empty when it was up to date).

    Raises:
        MigrationError: a step failed (everything is rolled back), or the database
            has a newer step of the component than ``migrations`` know.
    """
    known_steps = {**_STEPS, **(steps or {})}
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "CREATE TABLE IF NOT EXISTS ordercore_migrations (component TEXT NOT NULL, "
            "version INTEGER NOT NULL, description TEXT NOT NULL, applied_at TEXT NOT NULL, "
            "PRIMARY KEY (component, version))"
        )
        legacy = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ordercore_schema'"
        ).fetchone()
        if legacy is not None:  # the version table of ordercore 0.1: orders only
            db.execute(
                "INSERT OR IGNORE INTO ordercore_migrations SELECT 'orders', version, "
                "description, applied_at FROM ordercore_schema"
            )
            db.execute("DROP TABLE ordercore_schema")
        applied = [
            row[0]
            for row in db.execute(
                "SELECT version FROM ordercore_migrations WHERE component = ?", (component,)
            )
        ]
        todo = pending_migrations(component, applied, migrations, where)
        for step in todo:
            for statement in step.statements:
                if statement.startswith("@"):
                    known_steps[statement](db)
                else:
                    db.execute(statement)
            db.execute(
                "INSERT INTO ordercore_migrations VALUES (?, ?, ?, ?)",
                (component, step.version, step.description, utc_now().isoformat()),
            )
    except MigrationError:
        db.execute("ROLLBACK")
        raise
    except (sqlite3.Error, StoreError, ValueError, KeyError) as exc:
        db.execute("ROLLBACK")
        raise MigrationError(f"migrating {component} in {where} failed: {exc}") from exc
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return [step.version for step in todo]


def write_outbox(db: sqlite3.Connection, entries: Iterable[OutboxEntry]) -> list[int]:
    """Write outbox entries with the caller's connection, inside the caller's transaction.

    For components sharing the store's SQLite file: a stock change and its
    message commit together. An entry whose ``event_id`` is already there is not
    written again; its existing id is returned.
    """
    now = _now_us()
    ids: list[int] = []
    for entry in entries:
        cursor = db.execute(
            _OUTBOX_INSERT.replace("INSERT", "INSERT OR IGNORE", 1),
            (
                entry.stream,
                entry.aggregate_id,
                entry.aggregate_version,
                entry.event_id,
                entry.topic,
                entry.payload_json,
                now,
            ),
        )
        if cursor.rowcount == 1 and cursor.lastrowid is not None:
            ids.append(cursor.lastrowid)
        else:
            row = db.execute(
                "SELECT id FROM ordercore_outbox WHERE event_id = ? AND stream <> 'order'",
                (entry.event_id,),
            ).fetchone()
            ids.append(int(row[0]))
    return ids


class _Checkpointer:
    """Copies committed WAL pages into the database file off the commit path.

    The store's own connection never checkpoints (``wal_autocheckpoint=0``); this
    thread, on a connection of its own, runs ``wal_checkpoint(PASSIVE)`` shortly
    after writes. PASSIVE never blocks a writer or reader, and SQLite releases the
    GIL while it copies, so commits only wait for their own WAL append.
    """

    def __init__(self, path: str, interval: float = 0.02) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._wake = threading.Event()
        self._stop = False
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="ordercore-checkpoint", daemon=True)
        self._thread.start()

    def notify(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            if self._stop:
                return
            time.sleep(self._interval)  # let a burst of commits land first
            with suppress(sqlite3.Error):  # busy or closing: the next round retries
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def close(self) -> None:
        self._stop = True
        self._wake.set()
        self._thread.join()
        self._db.close()


class SQLiteStore(BaseStore):
    """An :class:`~ordercore.storage.OrderStore` in one SQLite file (WAL mode).

    Several threads may share one store object; several processes may open the
    same file. Writers queue on SQLite's write lock (``timeout`` seconds at most);
    readers never wait for writers.

    A file that holds tables that are not ordercore's is refused with
    :class:`~ordercore.errors.ForeignDatabase` and left untouched, unless
    ``adopt=True`` says to add ordercore's tables (all named ``ordercore_*``)
    beside the application's own.

    Args:
        path: The database file; ``":memory:"`` for a private in-memory database.
        timeout: Seconds to wait for another writer before failing.
        cache_mb: SQLite's page cache per connection, in MiB (64 by default; the
            indexes of a busy order table stay in memory).
        synchronous: SQLite's ``synchronous`` pragma: ``"normal"`` (default: a
            commit survives the process being killed, and the file is never
            corrupt; the last commits may be lost on power failure) or ``"full"``
            (every commit on disk before it returns).
        checkpoint: ``"background"`` (default) copies the write-ahead log into the
            database file in a thread of its own, off the commit path; ``"auto"``
            lets SQLite do it inside the commits that cross its threshold.
        read_only: Open for queries only, never writing the file (it may sit on a
            read-only medium); writes raise :class:`~ordercore.errors.StoreReadOnly`.
        adopt: Add ordercore's tables to a database that holds other tables.

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
        checkpoint: str = "background",
        read_only: bool = False,
        adopt: bool = False,
        url: str | None = None,
    ) -> None:
        self.path = str(path)
        self.url = url or ("sqlite://" if self.path == ":memory:" else f"sqlite:///{self.path}")
        self.read_only = bool(read_only)
        if not isinstance(synchronous, str) or synchronous.lower() not in _SYNCHRONOUS:
            raise StoreURLError(
                f"synchronous must be one of {sorted(_SYNCHRONOUS)}, got {synchronous!r}",
                url=self.url,
            )
        if checkpoint not in _CHECKPOINT:
            raise StoreURLError(
                f"checkpoint must be one of {sorted(_CHECKPOINT)}, got {checkpoint!r}",
                url=self.url,
            )
        if isinstance(cache_mb, bool) or not isinstance(cache_mb, int) or cache_mb < 1:
            raise StoreURLError(
                f"cache_mb must be a whole number >= 1, got {cache_mb!r}", url=self.url
            )
        if any(ord(char) < 32 for char in self.path):
            raise StoreURLError(
                "a sqlite database path cannot contain NUL or control characters", url=self.url
            )
        self._lock = threading.RLock()
        self._checkpointer: _Checkpointer | None = None
        memory = self.path == ":memory:"
        if self.read_only and (memory or not os.path.exists(self.path)):
            raise StoreError(
                f"cannot open {self.url} read-only: there is no database file at {self.path!r}"
            )
        try:
            if self.read_only:
                self._db = self._connect_read_only(timeout)
            else:
                self._db = sqlite3.connect(
                    self.path, timeout=timeout, isolation_level=None, check_same_thread=False
                )
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open SQLite database {self.path!r}: {exc}") from exc
        try:
            self._db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            self._db.execute(f"PRAGMA cache_size={-1024 * cache_mb}")
            if self.read_only:
                self._check_readable()
                return
            foreign = _foreign_tables(self._db)
            if foreign and not adopt:
                raise ForeignDatabase(
                    f"{self.path} holds tables that are not ordercore's ({', '.join(foreign[:5])}"
                    f"{', ...' if len(foreign) > 5 else ''}); it was left untouched. Use a file "
                    "of its own for the store, or pass adopt=True (?adopt=1) to add ordercore's "
                    "tables beside them",
                    path=self.path,
                    tables=foreign[:10],
                )
            if not memory:
                if self._db.execute("PRAGMA page_count").fetchone()[0] == 0:
                    # A new file: 16 KiB pages hold several order bodies each
                    # (one page per order at the 4 KiB default).
                    self._db.execute(f"PRAGMA page_size={_PAGE_SIZE}")
                mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                if str(mode).lower() != "wal":  # pragma: no cover - e.g. a read-only medium
                    raise StoreError(f"SQLite database {self.path!r} cannot use WAL mode")
            self._db.execute(f"PRAGMA synchronous={synchronous.upper()}")
            apply_sqlite_migrations(self._db, COMPONENT, MIGRATIONS, where=self.path)
            if not memory and checkpoint == "background":
                self._db.execute("PRAGMA wal_autocheckpoint=0")
                self._checkpointer = _Checkpointer(self.path)
        except sqlite3.Error as exc:
            self._db.close()
            raise StoreError(f"cannot use SQLite database {self.path!r}: {exc}") from exc
        except BaseException:
            self._db.close()
            raise

    def _connect_read_only(self, timeout: float) -> sqlite3.Connection:
        """A connection that never writes the file.

        ``mode=ro`` keeps reading safe while other processes write. Where SQLite
        cannot make its shared-memory file (a read-only directory or medium),
        no process can have the database open for writing in WAL mode, so the
        file is opened as immutable instead.
        """
        location = quote(os.path.abspath(self.path))
        for options in ("mode=ro", "mode=ro&immutable=1"):
            db = sqlite3.connect(
                f"file:{location}?{options}",
                uri=True,
                timeout=timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            try:
                db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.OperationalError as exc:
                db.close()
                if "unable to open" in str(exc) and "immutable" not in options:
                    continue
                raise
            return db
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_readable(self) -> None:
        """A read-only store needs a database already at this ordercore's schema."""
        try:
            rows = self._db.execute(
                "SELECT version FROM ordercore_migrations WHERE component = ?", (COMPONENT,)
            ).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise StoreError(
                    f"cannot open {self.path} read-only: it is not an ordercore store of this "
                    "version (open it once read-write to create or migrate it)"
                ) from None
            raise
        if pending_migrations(COMPONENT, [row[0] for row in rows], MIGRATIONS, self.path):
            raise StoreError(
                f"cannot open {self.path} read-only: it needs migrating to this ordercore "
                "(open it once read-write)"
            )

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SQLiteStore:
        """Open from ``sqlite:///path.db?timeout=30&synchronous=normal&cache_mb=64``.

        Further URL options: ``mode=ro`` (read-only), ``adopt=1``, ``checkpoint=auto``.
        """
        path = parse_sqlite_url(url)
        query = dict(parse_qsl(url.partition("?")[2]))
        settings: dict[str, Any] = {}
        unknown = set(query) - _OPTIONS
        if unknown:
            raise StoreURLError(f"unknown sqlite URL options: {sorted(unknown)}", url=url)
        if "timeout" in query:
            try:
                settings["timeout"] = float(query["timeout"])
            except ValueError:
                raise StoreURLError(
                    f"timeout must be a number of seconds in {url!r}", url=url
                ) from None
        for name in ("synchronous", "checkpoint"):
            if name in query:
                settings[name] = query[name]
        if "cache_mb" in query:
            if not query["cache_mb"].isdigit():
                raise StoreURLError(f"cache_mb must be a whole number in {url!r}", url=url)
            settings["cache_mb"] = int(query["cache_mb"])
        if "mode" in query:
            if query["mode"] not in ("ro", "rw", "rwc"):
                raise StoreURLError(f"mode must be ro or rw in {url!r}", url=url)
            settings["read_only"] = query["mode"] == "ro"
        for name in ("adopt", "read_only"):
            if name in query:
                settings[name] = _flag(query[name], name, url)
        unknown_options = set(options) - _OPTIONS
        if unknown_options:
            raise StoreURLError(f"unknown sqlite options: {sorted(unknown_options)}", url=url)
        settings.update(options)
        return cls(path, url=url, **settings)

    # -- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                if self._checkpointer is not None:
                    self._checkpointer.close()
                self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction on the store's connection, holding SQLite's write lock.

        For components sharing the file (an inventory writing stock and its outbox
        message with :func:`write_outbox`): everything done with the connection
        commits together, or rolls back when the block raises.

        Raises:
            StoreReadOnly: the store is read-only.
            StoreError: the transaction could not start or commit.
        """
        self._check_writable()
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
        if self._checkpointer is not None:
            self._checkpointer.notify()

    _write = transaction

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._check_open()
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"query failed on {self.url}: {exc}") from exc

    def migrate_component(
        self,
        component: str,
        migrations: Sequence[Migration],
        steps: Mapping[str, Callable[[sqlite3.Connection], None]] | None = None,
    ) -> list[int]:
        """Apply another component's schema steps to this store's file.

        See :func:`apply_sqlite_migrations`.
        """
        self._check_writable()
        with self._lock:
            return apply_sqlite_migrations(
                self._db, component, migrations, where=self.path, steps=steps
            )

    def schema_versions(self) -> dict[str, int]:
        """The highest schema step applied, per component (``{"orders": 2, ...}``)."""
        rows = self._read(
            "SELECT component, max(version) FROM ordercore_migrations GROUP BY component"
        )
        return {component: int(version) for component, version in rows}

    def schema_version(self) -> int:
        """The highest schema step of the order tables."""
        return self.schema_versions()[COMPONENT]

    def integrity_check(self) -> list[str]:
        self._check_open()
        problems = [row[0] for row in self._read("PRAGMA integrity_check") if row[0] != "ok"]
        rows = self._read(
            "SELECT id, version, channel, channel_order_id, status, body FROM ordercore_orders"
        )
        for order_id, version, channel, channel_order_id, status, body in rows:
            stored = json.loads(body)
            if (
                stored.get("id"),
                stored.get("version"),
                stored.get("channel"),
                stored.get("channel_order_id"),
                stored.get("status"),
            ) != (order_id, version, channel, channel_order_id, status):
                problems.append(f"order {order_id}: row and body disagree")
        summary = self._read(
            "SELECT o.id, o.version, count(DISTINCT c.aggregate_version), "
            "sum(c.topic != 'order.events'), min(c.aggregate_version), max(c.aggregate_version) "
            "FROM ordercore_orders o LEFT JOIN ordercore_outbox c "
            "ON c.stream = 'order' AND c.aggregate_id = o.id GROUP BY o.id"
        )
        for order_id, version, versions, changes, low, high in summary:
            problems.extend(
                change_log_problems(order_id, version, versions, changes or 0, low, high)
            )
        orphans = self._read(
            "SELECT DISTINCT c.aggregate_id FROM ordercore_outbox c LEFT JOIN ordercore_orders o "
            "ON o.id = c.aggregate_id WHERE c.stream = 'order' AND o.id IS NULL"
        )
        problems.extend(f"outbox names missing order {row[0]}" for row in orphans)
        repeated = self._read("SELECT count(*) - count(DISTINCT event_id) FROM ordercore_outbox")
        if repeated[0][0]:
            problems.append("outbox event ids are not unique")
        return problems

    # -- writes ---------------------------------------------------------------------------

    @staticmethod
    def _record(db: sqlite3.Connection, change: Change, now_us: int | None = None) -> None:
        order = change.order
        db.execute(
            _OUTBOX_INSERT,
            (
                ORDER_STREAM,
                order.id,
                order.version,
                change.event_id,
                change.topic,
                change.outbox_json,
                now_us or _now_us(),
            ),
        )

    def _duplicate(self, db: sqlite3.Connection, order: Order) -> DuplicateOrder:
        row = db.execute("SELECT 1 FROM ordercore_orders WHERE id = ?", (order.id,)).fetchone()
        if row is not None:
            return id_taken(order)
        row = db.execute(
            "SELECT id FROM ordercore_orders WHERE channel = ? AND channel_order_id = ?",
            order.key,
        ).fetchone()
        return key_taken(order, row[0] if row else None)

    def _load(self, db: sqlite3.Connection, order_id: str) -> Order | None:
        row = db.execute(
            "SELECT body, raw, raw_type FROM ordercore_orders WHERE id = ?", (order_id,)
        ).fetchone()
        return None if row is None else load_stored_order(*row)

    def _replay(self, db: sqlite3.Connection, key: str | None, fingerprint: str) -> Order | None:
        if key is None:
            return None
        row = db.execute(
            "SELECT fingerprint, result FROM ordercore_idempotency WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        if row[0] != fingerprint:
            raise key_reused(key)
        order_id = json.loads(row[1])["order_id"]
        order = self._load(db, order_id)
        if order is None:  # pragma: no cover - keys are written with their order
            raise order_not_found(order_id)
        return order

    @staticmethod
    def _remember_write(
        db: sqlite3.Connection, key: str | None, fingerprint: str, order: Order
    ) -> None:
        if key is not None:
            db.execute(
                "INSERT INTO ordercore_idempotency VALUES (?, ?, ?, ?)",
                (
                    key,
                    fingerprint,
                    json.dumps({"order_id": order.id, "version": order.version}),
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
        self._check_writable()
        fingerprint = order_fingerprint(order) if idempotency_key else ""
        change = self.new_change(order, events, actor) if order.version == 0 else None
        with self._write() as db:
            replayed = self._replay(db, idempotency_key, fingerprint)
            if replayed is not None:
                return replayed
            if change is None:
                change = self.new_change(order, events, actor)  # raises VersionConflict
            try:
                db.execute(_ORDER_INSERT, _row_values(order_row(change.order)))
            except sqlite3.IntegrityError as exc:
                if not _is_unique_violation(exc):
                    raise
                raise self._duplicate(db, order) from None
            self._record(db, change)
            self._remember_write(db, idempotency_key, fingerprint, change.order)
        return change.order

    def _put_new(self, changes: Sequence[Change]) -> None:
        now_us = _now_us()
        order_rows = [_row_values(order_row(change.order)) for change in changes]
        change_rows = [
            (ORDER_STREAM, c.order.id, 1, c.event_id, c.topic, c.outbox_json, now_us)
            for c in changes
        ]
        try:
            with self._write() as db:
                db.executemany(_ORDER_INSERT, order_rows)
                db.executemany(_OUTBOX_INSERT, change_rows)
        except sqlite3.IntegrityError:
            raise self._batch_duplicate([c.order for c in changes]) from None

    def _existing(
        self, db: sqlite3.Connection, batch: Sequence[Order]
    ) -> tuple[dict[tuple[str, str], ExistingOrder], dict[str, tuple[str, str]]]:
        existing: dict[tuple[str, str], ExistingOrder] = {}
        taken: dict[str, tuple[str, str]] = {}
        for start in range(0, len(batch), _CHUNK):
            chunk = batch[start : start + _CHUNK]
            pairs = ", ".join("(?, ?)" for _ in chunk)
            rows = db.execute(
                "SELECT id, channel, channel_order_id, version, channel_updated_at "
                f"FROM ordercore_orders WHERE (channel, channel_order_id) IN (VALUES {pairs})",
                [part for order in chunk for part in order.key],
            ).fetchall()
            for order_id, channel, channel_order_id, version, changed in rows:
                existing[(channel, channel_order_id)] = ExistingOrder(
                    order_id,
                    channel,
                    channel_order_id,
                    version,
                    None if changed is None else from_micros(changed),
                )
            marks = ", ".join("?" for _ in chunk)
            for order_id, channel, channel_order_id in db.execute(
                f"SELECT id, channel, channel_order_id FROM ordercore_orders WHERE id IN ({marks})",
                [order.id for order in chunk],
            ):
                taken[order_id] = (channel, channel_order_id)
        return existing, taken

    def _put_planned(
        self,
        batch: list[Order],
        actor: Actor | None,
        policy: OnExisting,
        now: datetime,
        at: str,
    ) -> BatchResult:
        with self._write() as db:
            existing, taken = self._existing(db, batch)
            plan = plan_batch(
                batch, existing, taken, policy, lambda o: self.new_change(o, (), actor, now, at)
            )
            now_us = _now_us()
            written: dict[int, PutOutcome] = {}
            if plan.inserts:
                db.executemany(
                    _ORDER_INSERT, [_row_values(order_row(c.order)) for _, c in plan.inserts]
                )
            for index, change in plan.inserts:
                self._record(db, change, now_us)
                written[index] = PutOutcome.written(Outcome.CREATED, change.order)
            for index, incoming, stored_ref in plan.replaces:
                stored = self._load(db, stored_ref.id)
                assert stored is not None  # read under the same write lock
                change = self.replace_change(incoming, stored, actor, now)
                values = _row_values(order_row(change.order))
                db.execute(_ORDER_UPDATE, (*values[1:], stored.id, stored.version))
                self._record(db, change, now_us)
                written[index] = PutOutcome.written(Outcome.UPDATED, change.order)
        return plan.result(written)

    def _batch_duplicate(self, orders: list[Order]) -> DuplicateOrder:
        """Name the first order of a rolled-back batch that clashes."""
        with self._lock:
            for order in orders:
                clash = self._db.execute(
                    "SELECT 1 FROM ordercore_orders WHERE id = ? "
                    "OR (channel = ? AND channel_order_id = ?)",
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
        self._check_writable()
        fingerprint = order_fingerprint(order) if idempotency_key else ""
        if order.version < 1:
            self.update_change(order, events, actor, "", None)  # raises VersionConflict
        with self._write() as db:
            replayed = self._replay(db, idempotency_key, fingerprint)
            if replayed is not None:
                return replayed
            current = db.execute(
                "SELECT version, status, status_since FROM ordercore_orders WHERE id = ?",
                (order.id,),
            ).fetchone()
            if current is None:
                raise order_not_found(order.id)
            if current[0] != order.version:
                raise stale_version(order, current[0])
            change = self.update_change(order, events, actor, current[1], from_micros(current[2]))
            values = _row_values(order_row(change.order))
            try:
                db.execute(_ORDER_UPDATE, (*values[1:], order.id, order.version))
            except sqlite3.IntegrityError as exc:
                if not _is_unique_violation(exc):
                    raise
                raise self._duplicate(db, order) from None
            self._record(db, change)
            self._remember_write(db, idempotency_key, fingerprint, change.order)
        return change.order

    def update_many(
        self, updates: Iterable[OrderUpdate], *, actor: Actor | None = None
    ) -> list[Order]:
        self._check_writable()
        batch = self.check_updates(updates)
        if not batch:
            return []
        for update in batch:
            if update.order.version < 1:
                self.update_change(update.order, (), actor, "", None)  # raises VersionConflict
        now, _ = self.batch_clock()
        now_us = to_micros(now)
        with self._write() as db:
            stored: dict[str, tuple[int, str, int]] = {}
            ids = [update.order.id for update in batch]
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start : start + _CHUNK]
                marks = ", ".join("?" * len(chunk))
                for order_id, version, status, since in db.execute(
                    "SELECT id, version, status, status_since FROM ordercore_orders "
                    f"WHERE id IN ({marks})",
                    chunk,
                ):
                    stored[order_id] = (version, status, since)
            changes = []
            for update in batch:
                order = update.order
                current = stored.get(order.id)
                if current is None:
                    raise order_not_found(order.id)
                if current[0] != order.version:
                    raise stale_version(order, current[0])
                changes.append(
                    self.update_change(
                        order, update.events, actor, current[1], from_micros(current[2]), now
                    )
                )
            try:
                db.executemany(
                    _ORDER_UPDATE,
                    [
                        (*_row_values(order_row(change.order))[1:], change.order.id, version)
                        for change, version in zip(
                            changes, (u.order.version for u in batch), strict=True
                        )
                    ],
                )
            except sqlite3.IntegrityError as exc:
                if not _is_unique_violation(exc):
                    raise
                raise self._batch_update_duplicate(db, [c.order for c in changes]) from None
            db.executemany(
                _OUTBOX_INSERT,
                [
                    (
                        ORDER_STREAM,
                        change.order.id,
                        change.order.version,
                        change.event_id,
                        change.topic,
                        change.outbox_json,
                        now_us,
                    )
                    for change in changes
                ],
            )
            _write_timers(db, [u.timers for u in batch if u.timers is not None])
        return [change.order for change in changes]

    def _batch_update_duplicate(
        self, db: sqlite3.Connection, orders: list[Order]
    ) -> DuplicateOrder:
        for order in orders:
            row = db.execute(
                "SELECT id FROM ordercore_orders WHERE channel = ? AND channel_order_id = ? "
                "AND id <> ?",
                (*order.key, order.id),
            ).fetchone()
            if row is not None:
                return key_taken(order, row[0])
        return DuplicateOrder(
            "the batch gives two orders the same channel reference", order_id=orders[0].id
        )

    # -- timers ---------------------------------------------------------------------------------

    def set_timers(self, plans: Iterable[TimerPlan]) -> None:
        self._check_writable()
        batch = self.check_timer_plans(plans)
        if batch:
            with self._write() as db:
                _write_timers(db, batch)

    def timers(self, order_id: str) -> list[Timer]:
        rows = self._read(
            f"SELECT {_TIMER_COLUMNS} FROM ordercore_timers WHERE order_id = ? "
            "ORDER BY due_at, name",
            (order_id,),
        )
        return [_timer(row) for row in rows]

    def timer_count(self, *, due_before: datetime | None = None) -> int:
        if due_before is None:
            rows = self._read("SELECT count(*) FROM ordercore_timers")
        else:
            rows = self._read(
                "SELECT count(*) FROM ordercore_timers WHERE due_at < ?", (to_micros(due_before),)
            )
        return int(rows[0][0])

    def claim_timers(
        self, now: datetime, *, limit: int = 100, lease_seconds: float = 60.0
    ) -> list[Timer]:
        self._check_writable()
        now_us = to_micros(now)
        until = now_us + int(lease_seconds * 1_000_000)
        token = new_id()
        with self._write() as db:
            rows = db.execute(
                "SELECT t.order_id, t.name, t.due_at, t.level, t.attempts, t.data, "
                "o.status, o.node, o.id IS NOT NULL FROM ordercore_timers AS t "
                "LEFT JOIN ordercore_orders AS o ON o.id = t.order_id "
                "WHERE t.due_at <= ? AND t.claimed_until <= ? ORDER BY t.due_at LIMIT ?",
                (now_us, now_us, limit),
            ).fetchall()
            db.executemany(
                "UPDATE ordercore_timers SET claim = ?, claimed_until = ?, attempts = attempts + 1 "
                "WHERE order_id = ? AND name = ?",
                [(token, until, row[0], row[1]) for row in rows],
            )
        return [
            _timer(
                (*row[:4], row[4] + 1, until, token, row[5]),
                (row[6], row[7]) if row[8] else None,
            )
            for row in rows
        ]

    def finish_timers(self, finishes: Iterable[TimerFinish]) -> list[bool]:
        self._check_writable()
        batch = self.check_finishes(finishes)
        if not batch:
            return []
        done: list[bool] = []
        now_us = _now_us()
        with self._write() as db:
            for finish, token in batch:
                timer = finish.timer
                held = db.execute(
                    "SELECT 1 FROM ordercore_timers WHERE order_id = ? AND name = ? AND claim = ?",
                    (timer.order_id, timer.name, token),
                ).fetchone()
                if held is None:
                    done.append(False)
                    continue
                if finish.events:
                    key = db.execute(
                        "SELECT version, channel, channel_order_id, status FROM ordercore_orders "
                        "WHERE id = ?",
                        (timer.order_id,),
                    ).fetchone()
                    if key is None:
                        _delete_timer(db, timer)
                        done.append(False)
                        continue
                    version, channel, channel_order_id, status = key
                    event_id, payload = events_message(
                        timer.order_id, version, channel, channel_order_id, status, finish.events
                    )
                    db.execute(
                        _OUTBOX_INSERT,
                        (ORDER_STREAM, timer.order_id, version, event_id, EVENTS, payload, now_us),
                    )
                if finish.next_due is None:
                    _delete_timer(db, timer)
                else:
                    level = timer.level + 1 if finish.next_level is None else finish.next_level
                    db.execute(
                        "UPDATE ordercore_timers SET due_at = ?, level = ?, attempts = 0, "
                        "claimed_until = 0, claim = NULL WHERE order_id = ? AND name = ?",
                        (to_micros(finish.next_due), level, timer.order_id, timer.name),
                    )
                done.append(True)
        return done

    def retry_timer(self, timer: Timer, at: datetime) -> bool:
        self._check_writable()
        token = self.check_claimed(timer)
        with self._write() as db:
            cursor = db.execute(
                "UPDATE ordercore_timers SET claim = NULL, claimed_until = ? "
                "WHERE order_id = ? AND name = ? AND claim = ?",
                (to_micros(at), timer.order_id, timer.name, token),
            )
            return cursor.rowcount == 1

    def append_events(self, order_id: str, events: Sequence[OrderEvent]) -> None:
        self._check_writable()
        with self._write() as db:
            order = self._load(db, order_id)
            if order is None:
                raise order_not_found(order_id)
            self._record(db, self.events_change(order, events))

    def publish(self, entries: Iterable[OutboxEntry]) -> list[int]:
        self._check_writable()
        items = list(entries)
        with self._write() as db:
            return write_outbox(db, items)

    # -- reads ------------------------------------------------------------------------------

    def get(self, order_id: str) -> Order:
        rows = self._read(
            "SELECT body, raw, raw_type FROM ordercore_orders WHERE id = ?", (order_id,)
        )
        if not rows:
            raise order_not_found(order_id)
        return load_stored_order(*rows[0])

    def find(self, channel: str, channel_order_id: str) -> Order | None:
        rows = self._read(
            "SELECT body, raw, raw_type FROM ordercore_orders "
            "WHERE channel = ? AND channel_order_id = ?",
            (channel, channel_order_id),
        )
        return load_stored_order(*rows[0]) if rows else None

    def _query(self, query: OrderQuery) -> list[Order]:
        where, params = query_where(query, _DIALECT, paged=True)
        rows = self._read(
            f"SELECT body, raw, raw_type FROM ordercore_orders{where} "
            "ORDER BY created_at, id LIMIT ?",
            [*params, query.limit],
        )
        return [load_stored_order(*row) for row in rows]

    def _count(self, query: OrderQuery) -> int:
        where, params = query_where(query, _DIALECT, paged=False)
        return int(self._read(f"SELECT count(*) FROM ordercore_orders{where}", params)[0][0])

    def events(self, order_id: str) -> list[OrderEvent]:
        rows = self._read(
            "SELECT payload FROM ordercore_outbox WHERE stream = 'order' AND aggregate_id = ? "
            "ORDER BY id",
            (order_id,),
        )
        return events_from_payloads(row[0] for row in rows)

    # -- outbox -------------------------------------------------------------------------------

    def claim_outbox(self, limit: int = 100, *, lease_seconds: float = 30.0) -> list[OutboxMessage]:
        self._check_writable()
        now = _now_us()
        until = now + int(lease_seconds * 1_000_000)
        with self._write() as db:
            # A message waits while an earlier one of its aggregate is out with another
            # worker, so each aggregate's messages are handled in order.
            rows = db.execute(
                "SELECT id, stream, aggregate_id, aggregate_version, event_id, topic, payload, "
                "created_at, attempts FROM ordercore_outbox AS m "
                "WHERE delivered_at IS NULL AND claimed_until <= ? AND NOT EXISTS ("
                "SELECT 1 FROM ordercore_outbox AS e WHERE e.stream = m.stream "
                "AND e.aggregate_id = m.aggregate_id AND e.id < m.id "
                "AND e.delivered_at IS NULL AND e.claimed_until > ?) "
                "ORDER BY id LIMIT ?",
                (now, now, limit),
            ).fetchall()
            db.executemany(
                "UPDATE ordercore_outbox SET claimed_until = ?, attempts = attempts + 1 "
                "WHERE id = ?",
                [(until, row[0]) for row in rows],
            )
        return [
            OutboxMessage(
                id=row[0],
                stream=row[1],
                aggregate_id=row[2],
                aggregate_version=row[3],
                event_id=row[4],
                topic=row[5],
                payload=json.loads(row[6]),
                created_at=from_micros(row[7]),
                attempts=row[8] + 1,
            )
            for row in rows
        ]

    def ack_outbox(self, ids: Iterable[int]) -> None:
        self._check_writable()
        now = _now_us()
        with self._write() as db:
            db.executemany(
                "UPDATE ordercore_outbox SET delivered_at = ? "
                "WHERE id = ? AND delivered_at IS NULL",
                [(now, message_id) for message_id in ids],
            )

    def outbox_pending(self) -> int:
        return int(
            self._read("SELECT count(*) FROM ordercore_outbox WHERE delivered_at IS NULL")[0][0]
        )

    # -- idempotency ----------------------------------------------------------------------------

    def remember(self, key: str, fingerprint: str, result: Mapping[str, Any]) -> IdempotencyRecord:
        self._check_writable()
        text = result_json(result)
        with self._write() as db:
            db.execute(
                "INSERT INTO ordercore_idempotency VALUES (?, ?, ?, ?) "
                "ON CONFLICT (key) DO NOTHING",
                (key, fingerprint, text, _now_us()),
            )
            row = db.execute(
                "SELECT fingerprint, result, created_at FROM ordercore_idempotency WHERE key = ?",
                (key,),
            ).fetchone()
        if row[0] != fingerprint:
            raise key_reused(key)
        return IdempotencyRecord(
            key=key, fingerprint=row[0], result=json.loads(row[1]), created_at=from_micros(row[2])
        )

    def recall(self, key: str) -> IdempotencyRecord | None:
        rows = self._read(
            "SELECT fingerprint, result, created_at FROM ordercore_idempotency WHERE key = ?",
            (key,),
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
