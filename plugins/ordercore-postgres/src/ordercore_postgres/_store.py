"""The PostgreSQL order store: one database shared by many processes and machines."""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any, Final, TypeAlias
from urllib.parse import parse_qsl, unquote, urlencode

import psycopg
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool, PoolClosed

from ordercore.errors import (
    DuplicateOrder,
    MigrationError,
    StoreClosed,
    StoreError,
    StoreURLError,
)
from ordercore.schema import Actor, Order, OrderEvent
from ordercore.storage import IdempotencyRecord, OrderQuery, OutboxMessage, order_fingerprint
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
from ordercore.timestamps import utc_now

__all__ = ["DEFAULT_SCHEMA", "MIGRATIONS", "PostgresStore"]

_Connection: TypeAlias = psycopg.Connection[TupleRow]

#: The PostgreSQL schema the tables live in unless ``schema=`` says otherwise.
DEFAULT_SCHEMA: Final = "ordercore"

#: The schema, as numbered steps of SQL statements (``{schema}`` stands for the
#: quoted schema name). A database records the steps applied in
#: ``<schema>.ordercore_schema``; opening it applies the missing ones in one
#: transaction, under an advisory lock, so processes opening it at once do not race.
MIGRATIONS: Final[tuple[tuple[int, str, tuple[str, ...]], ...]] = (
    (
        1,
        "orders, the change log (events and outbox) and idempotency keys",
        (
            """CREATE TABLE {schema}.orders (
                id text COLLATE "C" PRIMARY KEY,
                channel text COLLATE "C" NOT NULL,
                channel_order_id text COLLATE "C" NOT NULL,
                shop_id text COLLATE "C",
                status text COLLATE "C" NOT NULL,
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                version integer NOT NULL CHECK (version >= 1),
                tags text[] NOT NULL DEFAULT '{}',
                body text NOT NULL,
                CONSTRAINT orders_channel_order_key UNIQUE (channel, channel_order_id)
            )""",
            "CREATE INDEX orders_created ON {schema}.orders (created_at, id)",
            "CREATE INDEX orders_status_created ON {schema}.orders (status, created_at)",
            "CREATE INDEX orders_tags ON {schema}.orders USING gin (tags)",
            """CREATE TABLE {schema}.order_changes (
                id bigserial PRIMARY KEY,
                order_id text COLLATE "C" NOT NULL,
                order_version integer NOT NULL,
                topic text NOT NULL,
                payload text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                claimed_until timestamptz NOT NULL DEFAULT '-infinity',
                attempts integer NOT NULL DEFAULT 0,
                delivered_at timestamptz
            )""",
            "CREATE INDEX order_changes_order ON {schema}.order_changes (order_id, id)",
            """CREATE INDEX order_changes_pending ON {schema}.order_changes (id)
                WHERE delivered_at IS NULL""",
            """CREATE TABLE {schema}.idempotency_keys (
                key text COLLATE "C" PRIMARY KEY,
                fingerprint text NOT NULL,
                result text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now()
            )""",
            # Order bodies (3-4 kB of JSON) are TOASTed: lz4 compresses several times
            # faster than the default pglz, where the server has it (PostgreSQL 14+).
            """DO $$ BEGIN
                IF EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression'
                           AND 'lz4' = ANY(enumvals)) THEN
                    ALTER TABLE {schema}.orders ALTER COLUMN body SET COMPRESSION lz4;
                    ALTER TABLE {schema}.order_changes ALTER COLUMN payload SET COMPRESSION lz4;
                END IF;
            END $$""",
        ),
    ),
)

_SCHEMA_NAME: Final = re.compile(r"[a-z_][a-z0-9_]{0,62}")
_OPTIONS: Final = frozenset({"min_size", "max_size", "schema", "timeout"})
_LIBPQ_OPTIONS: Final = frozenset(
    option.keyword.decode() for option in pq.Conninfo.get_defaults()
) | {"ssl"}
_SECRET_OPTIONS: Final = frozenset(
    {"password", "sslpassword", "oauth_client_secret", "scram_client_key", "scram_server_key"}
)
# ``password=...`` (or ``password = '...'``) in a libpq keyword connection string.
_SECRET_KEYWORD: Final = re.compile(
    rf"\b({'|'.join(sorted(_SECRET_OPTIONS))})(\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)"
)
# pg_advisory_xact_lock(ORDERCORE, hashtext(schema)): one migration lock per schema.
_LOCK_CLASS: Final = 0x6F726463
_ORDER_COLUMNS: Final = (
    "id, channel, channel_order_id, shop_id, status, created_at, updated_at, version, tags, body"
)
# put_many streams rows with binary COPY, which needs the column types up front.
_ORDER_TYPES: Final = ["text"] * 5 + ["timestamptz", "timestamptz", "int4", "text[]", "text"]
_CHANGE_TYPES: Final = ["text", "int4", "text", "text"]


def _order_row(order: Order) -> tuple[Any, ...]:
    assert order.updated_at is not None
    return (
        order.id,
        order.channel,
        order.channel_order_id,
        order.shop_id,
        order.status.value,
        order.created_at.utc,
        order.updated_at,
        order.version,
        list(order.tags),
        order.model_dump_json(),
    )


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _split_url(url: str) -> tuple[str, str, str, str] | None:
    """``(scheme, userinfo, rest of the location, query)`` of a URL; ``None`` if not one."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    location, _, query = rest.partition("?")
    authority, slash, path = location.partition("/")
    userinfo, _, hosts = authority.rpartition("@")
    return scheme, userinfo, f"{hosts}{slash}{path}", query


def _mask_url(conninfo: str) -> str:
    """The connection string with every password replaced by ``***``."""
    parts = _split_url(conninfo)
    if parts is None:
        return _SECRET_KEYWORD.sub(r"\1\2***", conninfo)
    scheme, userinfo, location, query = parts
    if ":" in userinfo:
        userinfo = userinfo.partition(":")[0] + ":***"
    shown = f"{scheme}://{userinfo}@{location}" if userinfo else f"{scheme}://{location}"
    if query:
        pairs = (pair.partition("=") for pair in query.split("&"))
        shown += "?" + "&".join(
            f"{key}{eq}***" if unquote(key) in _SECRET_OPTIONS else f"{key}{eq}{value}"
            for key, eq, value in pairs
        )
    return shown


def _secrets_in(conninfo: str) -> list[str]:
    """The passwords written in a connection string, as written and decoded."""
    found: list[str] = []
    parts = _split_url(conninfo)
    if parts is None:
        found.extend(m.group(3).strip("'") for m in _SECRET_KEYWORD.finditer(conninfo))
    else:
        _, userinfo, _, query = parts
        if ":" in userinfo:
            found.append(userinfo.partition(":")[2])
        for pair in query.split("&"):
            key, _, value = pair.partition("=")
            if unquote(key) in _SECRET_OPTIONS:
                found.append(value)
    return [text for secret in found if secret for text in {secret, unquote(secret)}]


def _schema_name(value: object, url: str) -> str:
    if not isinstance(value, str) or not _SCHEMA_NAME.fullmatch(value) or value.startswith("pg_"):
        raise StoreURLError(
            "schema must be a lowercase PostgreSQL identifier (letters, digits and "
            "underscores, not starting with a digit or 'pg_', at most 63 characters); "
            f"got {value!r}",
            url=url,
        )
    return value


def _size(name: str, value: object, url: str, minimum: int) -> int:
    if isinstance(value, str):
        with suppress(ValueError):
            value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise StoreURLError(f"{name} must be an integer >= {minimum}, got {value!r}", url=url)
    return value


def _seconds(value: object, url: str) -> float:
    if isinstance(value, str):
        with suppress(ValueError):
            value = float(value)
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise StoreURLError(f"timeout must be a positive number of seconds, got {value!r}", url=url)
    return float(value)


class _Statements:
    """Every SQL statement of the store, with the schema name filled in once."""

    def __init__(self, schema: str) -> None:
        q = f'"{schema}"'
        orders, changes, keys = f"{q}.orders", f"{q}.order_changes", f"{q}.idempotency_keys"
        self.orders = orders
        self.changes = changes
        self.versions = f"{q}.ordercore_schema"
        self.put = (
            f"WITH new_order AS (INSERT INTO {orders} ({_ORDER_COLUMNS}) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id, version) "
            f"INSERT INTO {changes} (order_id, order_version, topic, payload) "
            "SELECT id, version, %s, %s FROM new_order"
        )
        self.update = (
            f"WITH changed AS (UPDATE {orders} SET channel = %s, channel_order_id = %s, "
            "shop_id = %s, status = %s, created_at = %s, updated_at = %s, version = %s, "
            "tags = %s, body = %s WHERE id = %s AND version = %s RETURNING id, version) "
            f"INSERT INTO {changes} (order_id, order_version, topic, payload) "
            "SELECT id, version, %s, %s FROM changed RETURNING id"
        )
        self.record = (
            f"INSERT INTO {changes} (order_id, order_version, topic, payload) "
            "VALUES (%s, %s, %s, %s)"
        )
        self.copy_orders = f"COPY {orders} ({_ORDER_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        self.copy_changes = (
            f"COPY {changes} (order_id, order_version, topic, payload) FROM STDIN (FORMAT BINARY)"
        )
        self.version_of = f"SELECT version FROM {orders} WHERE id = %s"
        self.body = f"SELECT body FROM {orders} WHERE id = %s"
        self.body_for_share = f"SELECT body FROM {orders} WHERE id = %s FOR SHARE"
        self.find = f"SELECT body FROM {orders} WHERE channel = %s AND channel_order_id = %s"
        self.owner = f"SELECT id FROM {orders} WHERE channel = %s AND channel_order_id = %s"
        self.clashes = (
            f"SELECT id, channel, channel_order_id FROM {orders} WHERE id = ANY(%s::text[]) "
            "OR (channel, channel_order_id) IN "
            "(SELECT * FROM unnest(%s::text[], %s::text[]))"
        )
        self.events = f"SELECT payload FROM {changes} WHERE order_id = %s ORDER BY id"
        self.claim = (
            f"WITH picked AS (SELECT id FROM {changes} "
            "WHERE delivered_at IS NULL AND claimed_until <= now() "
            "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE {changes} AS c SET claimed_until = now() + make_interval(secs => %s), "
            "attempts = c.attempts + 1 FROM picked WHERE c.id = picked.id "
            "RETURNING c.id, c.topic, c.order_id, c.order_version, c.payload, c.created_at, "
            "c.attempts"
        )
        self.ack = (
            f"UPDATE {changes} SET delivered_at = now() "
            "WHERE id = ANY(%s::bigint[]) AND delivered_at IS NULL"
        )
        self.pending = f"SELECT count(*) FROM {changes} WHERE delivered_at IS NULL"
        self.remember = (
            f"INSERT INTO {keys} (key, fingerprint, result) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO NOTHING RETURNING fingerprint, result, created_at"
        )
        self.recall = f"SELECT fingerprint, result, created_at FROM {keys} WHERE key = %s"
        self.integrity_rows = (
            f"SELECT id, version, channel, channel_order_id, status, body FROM {orders}"
        )
        self.integrity_changes = (
            "SELECT o.id, o.version, count(DISTINCT c.order_version), "
            "count(*) FILTER (WHERE c.topic <> 'order.events'), "
            "min(c.order_version), max(c.order_version) "
            f"FROM {orders} o LEFT JOIN {changes} c ON c.order_id = o.id "
            "GROUP BY o.id, o.version "
            "HAVING (count(DISTINCT c.order_version), "
            "count(*) FILTER (WHERE c.topic <> 'order.events'), "
            "min(c.order_version), max(c.order_version)) "
            "IS DISTINCT FROM (o.version::bigint, o.version::bigint, 1, o.version) "
            "ORDER BY o.id"
        )
        self.integrity_orphans = (
            f"SELECT DISTINCT c.order_id FROM {changes} c LEFT JOIN {orders} o "
            "ON o.id = c.order_id WHERE o.id IS NULL ORDER BY c.order_id"
        )


class PostgresStore(BaseStore):
    """An :class:`~ordercore.storage.OrderStore` in a PostgreSQL database.

    Any number of processes, on any number of machines, may open the same
    database and schema at once: writes are transactions, optimistic
    concurrency is a conditional ``UPDATE``, and outbox workers claim messages
    with ``FOR UPDATE SKIP LOCKED``. One store object is safe to share between
    threads; it holds a connection pool.

    Args:
        conninfo: A libpq connection string: ``postgresql://user@host:5432/db`` or
            ``host=... dbname=...``.
        schema: The PostgreSQL schema holding the tables; created if missing.
        min_size: Connections the pool keeps open.
        max_size: Connections the pool opens at most.
        timeout: Seconds to wait for a connection (from the server or the pool)
            or for a lock held by another transaction before failing.
        url: How to show the store in reprs and errors (passwords are masked).

    Raises:
        StoreURLError: an option or the connection string is not valid.
        StoreError: the server cannot be reached or refused the connection.
        MigrationError: the schema could not be created or brought up to date, or
            a newer ordercore-postgres migrated it already.

    Example:
        >>> from ordercore import open_store
        >>> store = open_store("postgresql://postgres@127.0.0.1:5432/test?schema=shop")
        >>> store.count()
        0
    """

    def __init__(
        self,
        conninfo: str = "",
        *,
        schema: str = DEFAULT_SCHEMA,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 30.0,
        url: str | None = None,
    ) -> None:
        shown = url or _mask_url(conninfo) or "postgresql://"
        self.url = shown
        self.schema = _schema_name(schema, shown)
        self.min_size = _size("min_size", min_size, shown, 0)
        self.max_size = _size("max_size", max_size, shown, 1)
        if self.max_size < self.min_size:
            raise StoreURLError(
                f"max_size ({self.max_size}) must not be smaller than min_size ({self.min_size})",
                url=shown,
            )
        self.timeout = _seconds(timeout, shown)
        self._secrets = _secrets_in(conninfo)
        try:
            params = conninfo_to_dict(conninfo)
        except psycopg.Error as exc:
            raise StoreURLError(
                f"not a valid PostgreSQL connection string: {self._describe(exc)}", url=shown
            ) from None
        self._secrets += [str(params[key]) for key in _SECRET_OPTIONS if params.get(key)]
        defaults: dict[str, Any] = {"fallback_application_name": "ordercore"}
        if "connect_timeout" not in params:
            defaults["connect_timeout"] = max(2, math.ceil(self.timeout))
        self._conninfo = make_conninfo(conninfo, **defaults)
        self._sql = _Statements(self.schema)
        self._lock = threading.Lock()
        with self._connect() as conn:
            self._migrate(conn)
        self._pool: ConnectionPool[_Connection] = ConnectionPool(
            self._conninfo,
            min_size=self.min_size,
            max_size=self.max_size,
            kwargs={"autocommit": True},
            configure=self._configure,
            # A connection is checked as it leaves the pool, so the first call after
            # a server restart gets a fresh connection instead of failing.
            check=ConnectionPool.check_connection,
            timeout=self.timeout,
            name=f"ordercore-{self.schema}",
            open=False,
        )
        try:
            self._pool.open(wait=self.min_size > 0, timeout=self.timeout)
        except psycopg.Error as exc:
            self._pool.close()
            raise StoreError(
                f"cannot open a connection pool to {self.url}: {self._describe(exc)}"
            ) from None

    @classmethod
    def from_url(cls, url: str, **options: Any) -> PostgresStore:
        """Open from ``postgresql://user:password@host:port/dbname?schema=...&max_size=...``.

        ``postgres://`` and ``postgresql+psycopg://`` work too. Besides the store's
        own options (``schema``, ``min_size``, ``max_size``, ``timeout``), the URL
        query and ``options`` may carry libpq connection parameters
        (``sslmode``, ``application_name``, ``password``...); anything else is an
        error.

        Raises:
            StoreURLError: not a PostgreSQL URL, or an unknown or invalid option.
        """
        shown = _mask_url(url)
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.split("+", 1)[0].lower() not in ("postgresql", "postgres"):
            raise StoreURLError(f"not a postgresql:// URL: {shown!r}", url=shown)
        location, _, query = rest.partition("#")[0].partition("?")
        settings: dict[str, Any] = {}
        libpq: list[tuple[str, str]] = []
        for key, value in parse_qsl(query, keep_blank_values=True):
            if key in _OPTIONS:
                settings[key] = value
            else:
                libpq.append((key, value))
        connect: dict[str, Any] = {}
        for key, value in options.items():
            if key in _OPTIONS:
                settings[key] = value
            else:
                connect[key] = value
        unknown = sorted({key for key, _ in libpq} - _LIBPQ_OPTIONS) + sorted(
            set(connect) - _LIBPQ_OPTIONS
        )
        if unknown:
            raise StoreURLError(
                f"unknown PostgreSQL store options: {unknown}; the store takes "
                f"{', '.join(sorted(_OPTIONS))} and libpq connection parameters",
                url=shown,
            )
        conninfo = f"postgresql://{location}"
        if libpq:
            conninfo += "?" + urlencode(libpq)
        if connect:
            try:
                conninfo = make_conninfo(conninfo, **connect)
            except psycopg.Error as exc:
                secrets = [str(v) for k, v in connect.items() if k in _SECRET_OPTIONS]
                raise StoreURLError(
                    f"invalid PostgreSQL connection parameters: {_scrub(str(exc), secrets)}",
                    url=shown,
                ) from None
        return cls(conninfo, url=shown, **settings)

    # -- plumbing -----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._pool.close()

    def _describe(self, exc: BaseException) -> str:
        """A one-line account of a database error, free of passwords and row data."""
        diag = getattr(exc, "diag", None)
        primary = diag.message_primary if diag is not None else None
        text = primary or str(exc).strip() or type(exc).__name__
        return _scrub(" ".join(text.split()), self._secrets)

    def _configure(self, conn: _Connection) -> None:
        conn.execute(
            "SELECT set_config('lock_timeout', %s, false), set_config('TimeZone', 'UTC', false)",
            (f"{int(self.timeout * 1000)}ms",),
        )

    @contextmanager
    def _connect(self) -> Iterator[_Connection]:
        """A connection of its own (outside the pool), closed afterwards."""
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to PostgreSQL at {self.url}: {self._describe(exc)}"
            ) from None
        try:
            self._configure(conn)
            yield conn
        except psycopg.Error as exc:
            raise StoreError(f"PostgreSQL at {self.url} failed: {self._describe(exc)}") from exc
        finally:
            conn.close()

    @contextmanager
    def _connection(self) -> Iterator[_Connection]:
        """A pooled connection in autocommit mode; database errors become StoreError."""
        self._check_open()
        try:
            with self._pool.connection() as conn:
                yield conn
        except PoolClosed:
            raise StoreClosed(f"the store {self.url} is closed") from None
        except psycopg.Error as exc:
            raise StoreError(f"{self.url}: {self._describe(exc)}") from exc

    def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[TupleRow]:
        with self._connection() as conn:
            return conn.execute(sql, params).fetchall()

    # -- migrations ---------------------------------------------------------------------

    def _applied(self, conn: _Connection) -> set[int] | None:
        row = conn.execute("SELECT to_regclass(%s)", (self._sql.versions,)).fetchone()
        if row is None or row[0] is None:
            return None
        return {r[0] for r in conn.execute(f"SELECT version FROM {self._sql.versions}")}

    def _check_newer(self, applied: set[int]) -> None:
        known = {version for version, _, _ in MIGRATIONS}
        newer = sorted(applied - known)
        if newer:
            raise MigrationError(
                f"schema {self.schema!r} at {self.url} has schema version {newer[-1]}, newer "
                f"than this ordercore-postgres knows ({max(known)}); upgrade ordercore-postgres"
            )

    def _migrate(self, conn: _Connection) -> None:
        known = {version for version, _, _ in MIGRATIONS}
        try:
            applied = self._applied(conn)
            if applied is not None:
                self._check_newer(applied)
                if known <= applied:
                    return
            with conn.transaction():
                conn.execute(
                    f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, hashtext(%s::text))",
                    (self.schema,),
                )
                exists = conn.execute(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %s", (self.schema,)
                ).fetchone()
                if exists is None:
                    conn.execute(f'CREATE SCHEMA "{self.schema}"')
                conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {self._sql.versions} (version integer PRIMARY "
                    "KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                applied = self._applied(conn) or set()
                self._check_newer(applied)
                for version, description, statements in MIGRATIONS:
                    if version in applied:
                        continue
                    for statement in statements:
                        conn.execute(statement.replace("{schema}", f'"{self.schema}"'))
                    conn.execute(
                        f"INSERT INTO {self._sql.versions} (version, description) VALUES (%s, %s)",
                        (version, description),
                    )
        except psycopg.Error as exc:
            raise MigrationError(
                f"migrating schema {self.schema!r} at {self.url} failed: {self._describe(exc)}"
            ) from exc

    def schema_version(self) -> int:
        """The highest migration applied to the schema."""
        return int(self._fetch(f"SELECT max(version) FROM {self._sql.versions}")[0][0])

    def integrity_check(self) -> list[str]:
        """Check ordercore's invariants; return the problems found (none: ``[]``).

        Every order's row agrees with its JSON body; its versions 1..N each have
        exactly one change-log entry that is not ``order.events`` (one outbox
        message per committed change); every change-log entry belongs to a
        stored order.
        """
        problems: list[str] = []
        with self._connection() as conn, conn.transaction():
            cursor = conn.cursor(name="ordercore_integrity_check")
            cursor.itersize = 2000
            cursor.execute(self._sql.integrity_rows)
            for order_id, version, channel, channel_order_id, status, body in cursor:
                try:
                    stored = json.loads(body)
                except ValueError:
                    problems.append(f"order {order_id}: body is not JSON")
                    continue
                if not isinstance(stored, dict) or (
                    stored.get("id"),
                    stored.get("version"),
                    stored.get("channel"),
                    stored.get("channel_order_id"),
                    stored.get("status"),
                ) != (order_id, version, channel, channel_order_id, status):
                    problems.append(f"order {order_id}: row and body disagree")
            cursor.close()
            rows = conn.execute(self._sql.integrity_changes).fetchall()
            orphans = conn.execute(self._sql.integrity_orphans).fetchall()
        for order_id, version, _, changes, low, high in rows:
            problems.append(
                f"order {order_id}: version {version} but change log has versions "
                f"{low}..{high} ({changes} changes)"
            )
        problems.extend(f"change log has entries for unknown order {row[0]}" for row in orphans)
        return problems

    # -- writes ---------------------------------------------------------------------------

    def _duplicate(
        self, conn: _Connection, order: Order, exc: pg_errors.UniqueViolation
    ) -> DuplicateOrder:
        if exc.diag.constraint_name == "orders_pkey":
            return id_taken(order)
        row = conn.execute(self._sql.owner, order.key).fetchone()
        return key_taken(order, row[0] if row else None)

    def _replay(self, conn: _Connection, key: str, fingerprint: str) -> Order | None:
        """The order a write with this key stored, or ``None`` if the key is new."""
        row = conn.execute(self._sql.recall, (key,)).fetchone()
        if row is None:
            return None
        order_id = json.loads(row[1]).get("order_id") if row[0] == fingerprint else None
        if not isinstance(order_id, str):
            raise key_reused(key)
        body = conn.execute(self._sql.body, (order_id,)).fetchone()
        if body is None:  # pragma: no cover - keys are written with their order
            raise order_not_found(order_id)
        return Order.model_validate_json(body[0])

    def _claim_key(
        self, conn: _Connection, key: str, fingerprint: str, order: Order
    ) -> Order | None:
        """Record a write's key; if it is known already, return what that write stored."""
        result = dumps({"order_id": order.id, "version": order.version})
        if conn.execute(self._sql.remember, (key, fingerprint, result)).fetchone() is not None:
            return None
        replayed = self._replay(conn, key, fingerprint)
        if replayed is None:  # pragma: no cover - keys are never deleted
            raise StoreError(f"idempotency key {key!r} vanished while in use")
        return replayed

    def put(
        self,
        order: Order,
        *,
        events: Sequence[OrderEvent] = (),
        actor: Actor | None = None,
        idempotency_key: str | None = None,
    ) -> Order:
        fingerprint = order_fingerprint(order) if idempotency_key else ""
        change = None
        if order.version == 0 or idempotency_key is None:
            change = self._new_change(order, events, actor)  # VersionConflict unless 0
        with self._connection() as conn:
            try:
                if idempotency_key is None:
                    assert change is not None
                    self._insert(conn, change)
                    return change.order
                with conn.pipeline(), conn.transaction():
                    if change is None:
                        replayed = self._replay(conn, idempotency_key, fingerprint)
                        if replayed is not None:
                            return replayed
                        change = self._new_change(order, events, actor)  # VersionConflict
                    replayed = self._claim_key(conn, idempotency_key, fingerprint, change.order)
                    if replayed is not None:
                        return replayed
                    self._insert(conn, change)
            except pg_errors.UniqueViolation as exc:
                raise self._duplicate(conn, order, exc) from None
        return change.order

    def _insert(self, conn: _Connection, change: Change) -> None:
        conn.execute(self._sql.put, (*_order_row(change.order), change.topic, change.outbox_json))

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
        with self._connection() as conn:
            try:
                with conn.transaction(), conn.cursor() as cursor:
                    with cursor.copy(self._sql.copy_orders) as copy:
                        copy.set_types(_ORDER_TYPES)
                        for change in changes:
                            copy.write_row(_order_row(change.order))
                    with cursor.copy(self._sql.copy_changes) as copy:
                        copy.set_types(_CHANGE_TYPES)
                        for change in changes:
                            stored = change.order
                            copy.write_row(
                                (stored.id, stored.version, change.topic, change.outbox_json)
                            )
            except pg_errors.UniqueViolation:
                raise self._batch_duplicate(conn, [c.order for c in changes]) from None
        return [change.order for change in changes]

    def _batch_duplicate(self, conn: _Connection, orders: list[Order]) -> DuplicateOrder:
        """Name the first order of a rolled-back batch that clashes."""
        keys: dict[tuple[str, str], str] = {}
        for order in orders:
            if order.key in keys:
                return key_taken(order, keys[order.key], in_batch=True)
            keys[order.key] = order.id
        rows = conn.execute(
            self._sql.clashes,
            (
                [o.id for o in orders],
                [o.channel for o in orders],
                [o.channel_order_id for o in orders],
            ),
        ).fetchall()
        ids = {row[0] for row in rows}
        owners = {(row[1], row[2]): row[0] for row in rows}
        for order in orders:
            if order.id in ids:
                return id_taken(order)
            if order.key in owners:
                return key_taken(order, owners[order.key])
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
        stored = change.order
        params = (
            *_order_row(stored)[1:],
            order.id,
            order.version,
            change.topic,
            change.outbox_json,
        )
        with self._connection() as conn:
            try:
                if idempotency_key is None:
                    if conn.execute(self._sql.update, params).fetchone() is None:
                        raise self._not_updated(conn, order)
                    return stored
                with conn.pipeline(), conn.transaction():
                    replayed = self._claim_key(conn, idempotency_key, fingerprint, stored)
                    if replayed is not None:
                        return replayed
                    if conn.execute(self._sql.update, params).fetchone() is None:
                        raise self._not_updated(conn, order)
            except pg_errors.UniqueViolation as exc:
                raise self._duplicate(conn, order, exc) from None
        return stored

    def _not_updated(self, conn: _Connection, order: Order) -> StoreError:
        row = conn.execute(self._sql.version_of, (order.id,)).fetchone()
        if row is None:
            return order_not_found(order.id)
        return stale_version(order, row[0])

    def append_events(self, order_id: str, events: Sequence[OrderEvent]) -> None:
        with self._connection() as conn, conn.pipeline(), conn.transaction():
            row = conn.execute(self._sql.body_for_share, (order_id,)).fetchone()
            if row is None:
                raise order_not_found(order_id)
            change = self._events_change(Order.model_validate_json(row[0]), events)
            order = change.order
            conn.execute(
                self._sql.record, (order.id, order.version, change.topic, change.outbox_json)
            )

    # -- reads ------------------------------------------------------------------------------

    def get(self, order_id: str) -> Order:
        rows = self._fetch(self._sql.body, (order_id,))
        if not rows:
            raise order_not_found(order_id)
        return Order.model_validate_json(rows[0][0])

    def find(self, channel: str, channel_order_id: str) -> Order | None:
        rows = self._fetch(self._sql.find, (channel, channel_order_id))
        return Order.model_validate_json(rows[0][0]) if rows else None

    @staticmethod
    def _where(query: OrderQuery, *, paged: bool) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        if query.channel is not None:
            clauses.append("channel = %s")
            params.append(query.channel)
        if query.shop_id is not None:
            clauses.append("shop_id = %s")
            params.append(query.shop_id)
        if query.status is not None:
            clauses.append("status = ANY(%s::text[])")
            params.append(list(query.status))
        if query.tag is not None:
            clauses.append("tags @> ARRAY[%s::text]")
            params.append(query.tag)
        if query.created_from is not None:
            clauses.append("created_at >= %s")
            params.append(query.created_from)
        if query.created_to is not None:
            clauses.append("created_at < %s")
            params.append(query.created_to)
        if paged and query.after is not None:
            clauses.append("(created_at, id) > (%s, %s)")
            params.extend(query.after)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _query(self, query: OrderQuery) -> list[Order]:
        where, params = self._where(query, paged=True)
        rows = self._fetch(
            f"SELECT body FROM {self._sql.orders}{where} ORDER BY created_at, id LIMIT %s",
            [*params, query.limit],
        )
        return [Order.model_validate_json(row[0]) for row in rows]

    def _count(self, query: OrderQuery) -> int:
        where, params = self._where(query, paged=False)
        return int(self._fetch(f"SELECT count(*) FROM {self._sql.orders}{where}", params)[0][0])

    def events(self, order_id: str) -> list[OrderEvent]:
        rows = self._fetch(self._sql.events, (order_id,))
        return events_from_payloads(row[0] for row in rows)

    # -- outbox -------------------------------------------------------------------------------

    def claim_outbox(self, limit: int = 100, *, lease_seconds: float = 30.0) -> list[OutboxMessage]:
        rows = self._fetch(self._sql.claim, (int(limit), float(lease_seconds)))
        rows.sort(key=lambda row: int(row[0]))
        return [
            OutboxMessage(
                id=row[0],
                topic=row[1],
                order_id=row[2],
                order_version=row[3],
                payload=json.loads(row[4]),
                created_at=_utc(row[5]),
                attempts=row[6],
            )
            for row in rows
        ]

    def ack_outbox(self, ids: Iterable[int]) -> None:
        wanted = [int(message_id) for message_id in ids]
        with self._connection() as conn:
            if wanted:
                conn.execute(self._sql.ack, (wanted,))

    def outbox_pending(self) -> int:
        return int(self._fetch(self._sql.pending)[0][0])

    # -- idempotency ----------------------------------------------------------------------------

    def remember(self, key: str, fingerprint: str, result: Mapping[str, Any]) -> IdempotencyRecord:
        text = result_json(result)
        with self._connection() as conn:
            row = conn.execute(self._sql.remember, (key, fingerprint, text)).fetchone()
            if row is None:
                row = conn.execute(self._sql.recall, (key,)).fetchone()
        if row is None:  # pragma: no cover - keys are never deleted
            raise StoreError(f"idempotency key {key!r} vanished while in use")
        if row[0] != fingerprint:
            raise key_reused(key)
        return IdempotencyRecord(
            key=key, fingerprint=row[0], result=json.loads(row[1]), created_at=_utc(row[2])
        )

    def recall(self, key: str) -> IdempotencyRecord | None:
        rows = self._fetch(self._sql.recall, (key,))
        if not rows:
            return None
        fingerprint, result, created = rows[0]
        return IdempotencyRecord(
            key=key, fingerprint=fingerprint, result=json.loads(result), created_at=_utc(created)
        )


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
