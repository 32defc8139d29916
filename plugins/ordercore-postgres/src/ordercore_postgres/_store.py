"""The PostgreSQL order store: one database shared by many processes and machines."""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
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
from ordercore.ids import new_id
from ordercore.schema import Actor, Order, OrderEvent
from ordercore.storage import (
    IdempotencyRecord,
    OrderQuery,
    OrderUpdate,
    OutboxMessage,
    Timer,
    TimerArm,
    TimerFinish,
    TimerPlan,
    order_fingerprint,
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
    dumps,
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

__all__ = [
    "DEFAULT_SCHEMA",
    "MIGRATIONS",
    "PostgresStore",
    "apply_postgres_migrations",
    "write_outbox",
]

_Connection: TypeAlias = psycopg.Connection[TupleRow]

#: The PostgreSQL schema the tables live in unless ``schema=`` says otherwise.
DEFAULT_SCHEMA: Final = "ordercore"

#: The component whose tables this store owns in ``<schema>.ordercore_migrations``.
COMPONENT: Final = "orders"

_V1: Final[tuple[str, ...]] = (
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
)

_V2: Final[tuple[str, ...]] = (
    """ALTER TABLE {schema}.orders ADD COLUMN node text COLLATE "C",
        ADD COLUMN status_since timestamptz, ADD COLUMN channel_updated_at timestamptz,
        ADD COLUMN raw text, ADD COLUMN raw_type text,
        ADD COLUMN anomalies text[] NOT NULL DEFAULT '{}'""",
    "@upgrade_v1_rows",
    "ALTER TABLE {schema}.orders ALTER COLUMN status_since SET NOT NULL",
    "DROP INDEX {schema}.orders_status_created",
    "CREATE INDEX orders_status_since ON {schema}.orders (status, status_since)",
    "ALTER TABLE {schema}.order_changes RENAME TO outbox",
    "ALTER TABLE {schema}.outbox RENAME COLUMN order_id TO aggregate_id",
    "ALTER TABLE {schema}.outbox RENAME COLUMN order_version TO aggregate_version",
    "ALTER TABLE {schema}.outbox ADD COLUMN stream text COLLATE \"C\" NOT NULL DEFAULT 'order'",
    'ALTER TABLE {schema}.outbox ADD COLUMN event_id text COLLATE "C"',
    """UPDATE {schema}.outbox
        SET event_id = coalesce(payload::jsonb #>> '{events,0,event_id}', 'v1-' || id)""",
    "ALTER TABLE {schema}.outbox ALTER COLUMN event_id SET NOT NULL",
    "ALTER TABLE {schema}.outbox ALTER COLUMN stream DROP DEFAULT",
    # Order changes' event ids are fresh ULIDs; other streams rely on this index to
    # publish each event once, and order messages stay out of it.
    "CREATE UNIQUE INDEX outbox_event ON {schema}.outbox (event_id) WHERE stream <> 'order'",
    "DROP INDEX {schema}.order_changes_order",
    "CREATE INDEX outbox_aggregate ON {schema}.outbox (stream, aggregate_id, id)",
    "ALTER INDEX {schema}.order_changes_pending RENAME TO outbox_pending",
    """DO $$ BEGIN
        IF EXISTS (SELECT FROM pg_settings WHERE name = 'default_toast_compression'
                   AND 'lz4' = ANY(enumvals)) THEN
            ALTER TABLE {schema}.orders ALTER COLUMN raw SET COMPRESSION lz4;
        END IF;
    END $$""",
)

#: Timers live with the orders, so a transition arms and cancels them in its own
#: transaction. A claim is a token and a lease (``claimed_until``, on the caller's
#: clock); the due-time index is how the timer service finds work. ``data`` holds
#: the few strings armed with a timer (a JSON object of strings, or NULL).
_V3: Final[tuple[str, ...]] = (
    """CREATE TABLE {schema}.timers (
        order_id text COLLATE "C" NOT NULL,
        name text COLLATE "C" NOT NULL,
        due_at timestamptz NOT NULL,
        level integer NOT NULL DEFAULT 1,
        attempts integer NOT NULL DEFAULT 0,
        claimed_until timestamptz NOT NULL DEFAULT '-infinity',
        claim text COLLATE "C",
        data jsonb,
        PRIMARY KEY (order_id, name)
    )""",
    "CREATE INDEX timers_due ON {schema}.timers (due_at)",
)

#: The order store's schema steps (``{schema}`` stands for the quoted schema name).
#: A database records the steps applied per component in
#: ``<schema>.ordercore_migrations``; opening it applies the missing ones in one
#: transaction, under an advisory lock, so processes opening it at once do not race.
MIGRATIONS: Final[tuple[Migration, ...]] = (
    Migration(COMPONENT, 1, "orders, the change log (events and outbox) and idempotency keys", _V1),
    Migration(
        COMPONENT,
        2,
        "raw payloads in their own column, status_since and node, one outbox for every "
        "aggregate keyed by stream, aggregate and event id",
        _V2,
    ),
    Migration(COMPONENT, 3, "timers (SLA deadlines and escalations) with a due-time index", _V3),
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
    "id, channel, channel_order_id, shop_id, status, node, created_at, updated_at, "
    "status_since, channel_updated_at, version, tags, anomalies, body, raw, raw_type"
)
_OUTBOX_COLUMNS: Final = "stream, aggregate_id, aggregate_version, event_id, topic, payload"
# put_many streams rows with binary COPY, which needs the column types up front.
_ORDER_TYPES: Final = (
    ["text"] * 6 + ["timestamptz"] * 4 + ["int4", "text[]", "text[]", "text", "text", "text"]
)
_OUTBOX_TYPES: Final = ["text", "text", "int4", "text", "text", "text"]
# A free timer's claimed_until may be -infinity, which Python cannot read: shown as NULL.
_TIMER_COLUMNS: Final = (
    "order_id, name, due_at, level, attempts, "
    "CASE WHEN claim IS NOT NULL THEN claimed_until END, claim, data"
)
_DIALECT: Final = QueryDialect(
    placeholder="%s",
    time=lambda moment: moment,
    tag_clause="tags @> ARRAY[%s::text]",
    anomaly_clause="anomalies @> ARRAY[%s::text]",
)
_MAX_ATTEMPTS: Final = 3  # planned batches re-plan when a concurrent writer got in first


def _row_values(row: OrderRow) -> tuple[Any, ...]:
    return (
        row.id,
        row.channel,
        row.channel_order_id,
        row.shop_id,
        row.status,
        row.node,
        row.created_at,
        row.updated_at,
        row.status_since,
        row.channel_updated_at,
        row.version,
        list(row.tags),
        list(row.anomalies),
        row.body.decode(),
        row.raw,
        row.raw_type,
    )


def _change_values(change: Change) -> tuple[Any, ...]:
    order = change.order
    return (
        ORDER_STREAM,
        order.id,
        order.version,
        change.event_id,
        change.topic,
        change.outbox_json,
    )


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _timer(row: Sequence[Any], order_state: tuple[str, str | None] | None = None) -> Timer:
    claim = row[6]
    return Timer(
        order_id=row[0],
        name=row[1],
        due_at=_utc(row[2]),
        level=row[3],
        attempts=row[4],
        claim=claim,
        claimed_until=_utc(row[5]) if claim is not None else None,
        data=row[7],
        order_state=order_state,
    )


def _timer_data(arm: TimerArm) -> str | None:
    return None if arm.data is None else json.dumps(arm.data, separators=(",", ":"))


def _timer_writes(
    plans: Iterable[TimerPlan],
) -> tuple[list[tuple[str, str]], dict[tuple[str, str], TimerArm | None]]:
    """What a sequence of timer plans leaves behind: per (order, name), the timer or nothing.

    Plans apply in turn (each cancels, then arms), so only the last word on a name
    counts; a batch touches each row once, in sorted order.
    """
    final: dict[tuple[str, str], TimerArm | None] = {}
    for plan in plans:
        for name in plan.cancel:
            final[(plan.order_id, name)] = None
        for arm in plan.arm:
            final[(plan.order_id, arm.name)] = arm
    return sorted(final), final


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
        orders, outbox, keys = f"{q}.orders", f"{q}.outbox", f"{q}.idempotency_keys"
        marks = ", ".join(["%s"] * 16)
        self.orders = orders
        self.outbox = outbox
        self.versions = f"{q}.ordercore_migrations"
        self.legacy_versions = f"{q}.ordercore_schema"
        self.put = (
            f"WITH new_order AS (INSERT INTO {orders} ({_ORDER_COLUMNS}) VALUES ({marks}) "
            f"RETURNING id, version) INSERT INTO {outbox} ({_OUTBOX_COLUMNS}) "
            "SELECT 'order', id, version, %s, %s, %s FROM new_order"
        )
        self.current = (
            f"SELECT version, status, status_since FROM {orders} WHERE id = %s FOR UPDATE"
        )
        self.update = (
            f"UPDATE {orders} SET channel = %s, channel_order_id = %s, shop_id = %s, "
            "status = %s, node = %s, created_at = %s, updated_at = %s, status_since = %s, "
            "channel_updated_at = %s, version = %s, tags = %s, anomalies = %s, body = %s, "
            "raw = %s, raw_type = %s WHERE id = %s AND version = %s"
        )
        self.record = f"INSERT INTO {outbox} ({_OUTBOX_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"
        self.publish = (
            f"INSERT INTO {outbox} ({_OUTBOX_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (event_id) WHERE stream <> 'order' DO NOTHING RETURNING id"
        )
        self.event_message = f"SELECT id FROM {outbox} WHERE event_id = %s AND stream <> 'order'"
        self.copy_orders = f"COPY {orders} ({_ORDER_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        self.copy_outbox = f"COPY {outbox} ({_OUTBOX_COLUMNS}) FROM STDIN (FORMAT BINARY)"
        self.version_of = f"SELECT version FROM {orders} WHERE id = %s"
        self.body = f"SELECT body, raw, raw_type FROM {orders} WHERE id = %s"
        self.body_for_share = f"SELECT body, raw, raw_type FROM {orders} WHERE id = %s FOR SHARE"
        self.find = (
            f"SELECT body, raw, raw_type FROM {orders} WHERE channel = %s AND channel_order_id = %s"
        )
        self.owner = f"SELECT id FROM {orders} WHERE channel = %s AND channel_order_id = %s"
        self.clashes = (
            f"SELECT id, channel, channel_order_id FROM {orders} WHERE id = ANY(%s::text[]) "
            "OR (channel, channel_order_id) IN "
            "(SELECT * FROM unnest(%s::text[], %s::text[]))"
        )
        self.existing = (
            f"SELECT id, channel, channel_order_id, version, channel_updated_at FROM {orders} "
            "WHERE (channel, channel_order_id) IN (SELECT * FROM unnest(%s::text[], %s::text[])) "
            "FOR UPDATE"
        )
        self.taken_ids = (
            f"SELECT id, channel, channel_order_id FROM {orders} WHERE id = ANY(%s::text[])"
        )
        self.events = (
            f"SELECT payload FROM {outbox} WHERE stream = 'order' AND aggregate_id = %s ORDER BY id"
        )
        # Claims take turns (an advisory lock per schema): each sees the leases the
        # previous one committed, so an aggregate's later message is never handed
        # out while an earlier one is with another worker.
        self.claim_lock = f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, hashtext(%s::text))"
        self.claim = (
            f"WITH picked AS (SELECT m.id FROM {outbox} AS m "
            "WHERE m.delivered_at IS NULL AND m.claimed_until <= now() AND NOT EXISTS ("
            f"SELECT 1 FROM {outbox} AS e WHERE e.stream = m.stream "
            "AND e.aggregate_id = m.aggregate_id AND e.id < m.id "
            "AND e.delivered_at IS NULL AND e.claimed_until > now()) "
            "ORDER BY m.id LIMIT %s FOR UPDATE SKIP LOCKED) "
            f"UPDATE {outbox} AS c SET claimed_until = now() + make_interval(secs => %s), "
            "attempts = c.attempts + 1 FROM picked WHERE c.id = picked.id "
            "RETURNING c.id, c.stream, c.aggregate_id, c.aggregate_version, c.event_id, "
            "c.topic, c.payload, c.created_at, c.attempts"
        )
        self.ack = (
            f"UPDATE {outbox} SET delivered_at = now() "
            "WHERE id = ANY(%s::bigint[]) AND delivered_at IS NULL"
        )
        self.pending = f"SELECT count(*) FROM {outbox} WHERE delivered_at IS NULL"
        self.remember = (
            f"INSERT INTO {keys} (key, fingerprint, result) VALUES (%s, %s, %s) "
            "ON CONFLICT (key) DO NOTHING RETURNING fingerprint, result, created_at"
        )
        self.recall = f"SELECT fingerprint, result, created_at FROM {keys} WHERE key = %s"
        self.integrity_rows = (
            f"SELECT id, version, channel, channel_order_id, status, body FROM {orders}"
        )
        self.integrity_changes = (
            "SELECT o.id, o.version, count(DISTINCT c.aggregate_version), "
            "count(c.id) FILTER (WHERE c.topic <> 'order.events'), "
            "min(c.aggregate_version), max(c.aggregate_version) "
            f"FROM {orders} o LEFT JOIN {outbox} c "
            "ON c.stream = 'order' AND c.aggregate_id = o.id "
            "GROUP BY o.id, o.version "
            "HAVING (count(DISTINCT c.aggregate_version), "
            "count(c.id) FILTER (WHERE c.topic <> 'order.events'), "
            "min(c.aggregate_version), max(c.aggregate_version)) "
            "IS DISTINCT FROM (o.version::bigint, o.version::bigint, 1, o.version) "
            "ORDER BY o.id"
        )
        self.integrity_orphans = (
            f"SELECT DISTINCT c.aggregate_id FROM {outbox} c LEFT JOIN {orders} o "
            "ON o.id = c.aggregate_id WHERE c.stream = 'order' AND o.id IS NULL "
            "ORDER BY c.aggregate_id"
        )
        self.integrity_event_ids = f"SELECT count(*) - count(DISTINCT event_id) FROM {outbox}"
        # update_many locks its orders in id order, so concurrent batches never wait
        # on each other in a cycle (ORDER BY is applied before the rows are locked).
        self.current_many = (
            f"SELECT id, version, status, status_since FROM {orders} "
            "WHERE id = ANY(%s::text[]) ORDER BY id FOR UPDATE"
        )
        self.owners = (
            f"SELECT id, channel, channel_order_id FROM {orders} WHERE (channel, channel_order_id) "
            "IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
        )
        timers = f"{q}.timers"
        self.timers = timers
        pairs = "(order_id, name) IN (SELECT * FROM unnest(%s::text[], %s::text[]))"
        self.lock_timers = (
            f"SELECT 1 FROM {timers} WHERE {pairs} ORDER BY order_id, name FOR UPDATE"
        )
        self.cancel_timers = f"DELETE FROM {timers} WHERE {pairs}"
        self.arm_timers = (
            f"INSERT INTO {timers} (order_id, name, due_at, level, data) "
            "SELECT o, n, d, l, j::jsonb FROM unnest(%s::text[], %s::text[], "
            "%s::timestamptz[], %s::int4[], %s::text[]) AS u(o, n, d, l, j) "
            "ORDER BY 1, 2 ON CONFLICT (order_id, name) DO UPDATE SET due_at = excluded.due_at, "
            "level = excluded.level, data = excluded.data, attempts = 0, "
            "claimed_until = '-infinity', claim = NULL"
        )
        self.timers_of = (
            f"SELECT {_TIMER_COLUMNS} FROM {timers} WHERE order_id = %s ORDER BY due_at, name"
        )
        self.timer_count = f"SELECT count(*) FROM {timers}"
        self.timer_count_before = f"SELECT count(*) FROM {timers} WHERE due_at < %s"
        # Claimers skip the timer rows another claimer has locked: several processes
        # claim disjoint timers at once without waiting for each other. The order's
        # status and node come with the claim (LEFT JOIN: NULL when it is gone); only
        # the timers are locked (FOR UPDATE OF t), never the orders.
        self.claim_timers = (
            f"WITH picked AS MATERIALIZED (SELECT t.order_id, t.name, o.status, o.node, "
            f"o.id IS NOT NULL AS found FROM {timers} AS t "
            f"LEFT JOIN {orders} AS o ON o.id = t.order_id "
            "WHERE t.due_at <= %s AND t.claimed_until <= %s ORDER BY t.due_at LIMIT %s "
            f"FOR UPDATE OF t SKIP LOCKED) UPDATE {timers} AS c SET claim = %s, "
            "claimed_until = %s, attempts = c.attempts + 1 FROM picked "
            "WHERE c.order_id = picked.order_id AND c.name = picked.name "
            "RETURNING c.order_id, c.name, c.due_at, c.level, c.attempts, c.claimed_until, "
            "c.claim, c.data, picked.status, picked.node, picked.found"
        )
        # finish_timers locks the orders it records events on in id order (FOR SHARE:
        # their version stays put until commit), then the timers still held with the
        # claim token, in key order: the order update_many takes them in.
        self.order_keys_for_share = (
            f"SELECT id, version, channel, channel_order_id, status FROM {orders} "
            "WHERE id = ANY(%s::text[]) ORDER BY id FOR SHARE"
        )
        self.held_timers = (
            f"SELECT order_id, name FROM {timers} WHERE (order_id, name, claim) IN "
            "(SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])) "
            "ORDER BY order_id, name FOR UPDATE"
        )
        self.reschedule_timers = (
            f"UPDATE {timers} AS t SET due_at = u.d, level = u.l, attempts = 0, "
            "claimed_until = '-infinity', claim = NULL "
            "FROM unnest(%s::text[], %s::text[], %s::timestamptz[], %s::int4[]) AS u(o, n, d, l) "
            "WHERE t.order_id = u.o AND t.name = u.n"
        )
        self.retry_timer = (
            f"UPDATE {timers} SET claim = NULL, claimed_until = %s "
            "WHERE order_id = %s AND name = %s AND claim = %s"
        )


def _upgrade_v1_rows(conn: _Connection, schema: str) -> None:
    """Fill the columns schema step 2 adds from each 0.1 order body (read via upcasters)."""
    rows = conn.execute(f"SELECT id, body FROM {schema}.orders").fetchall()
    for order_id, body in rows:
        order = load_stored_order(body)
        row = order_row(order)
        conn.execute(
            f"UPDATE {schema}.orders SET status_since = updated_at, channel_updated_at = %s, "
            "anomalies = %s WHERE id = %s",
            (row.channel_updated_at, list(row.anomalies), order_id),
        )


_Step: TypeAlias = Callable[[_Connection, str], None]
_STEPS: Final[dict[str, _Step]] = {"@upgrade_v1_rows": _upgrade_v1_rows}


def apply_postgres_migrations(
    conn: _Connection,
    schema: str,
    component: str,
    migrations: Sequence[Migration],
    where: str,
    steps: Mapping[str, _Step] | None = None,
) -> list[int]:
    """Bring ``component``'s tables in a PostgreSQL schema up to date, in one transaction.

    For backends of other components (inventory, timers, returns) that keep their
    tables in the same schema as the orders: each component has its own sequence
    of :class:`~ordercore.storage.kit.Migration` steps in ``<schema>.ordercore_migrations``.
    ``{schema}`` in a statement stands for the quoted schema name; a statement
    naming a key of ``steps`` (``"@name"``) runs that function with the connection
    and the quoted schema name instead. Processes
    migrating at once take turns on an advisory lock. ``conn`` must be in
    autocommit mode.

    Returns:
        The versions applied now.

    Raises:
        MigrationError: the schema has a newer step of the component than
            ``migrations`` know (nothing is changed).
        psycopg.Error: a step failed; everything is rolled back.
    """
    sql = _Statements(schema)
    quoted = f'"{schema}"'
    with conn.transaction():
        conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK_CLASS}, hashtext(%s::text))", (schema,))
        if (
            conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone()
            is None
        ):
            conn.execute(f"CREATE SCHEMA {quoted}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {sql.versions} (component text NOT NULL, "
            "version integer NOT NULL, description text NOT NULL, "
            "applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"
        )
        legacy = conn.execute("SELECT to_regclass(%s)", (sql.legacy_versions,)).fetchone()
        if legacy is not None and legacy[0] is not None:  # ordercore-postgres 0.1: orders only
            conn.execute(
                f"INSERT INTO {sql.versions} (component, version, description, applied_at) "
                f"SELECT 'orders', version, description, applied_at FROM {sql.legacy_versions} "
                "ON CONFLICT DO NOTHING"
            )
            conn.execute(f"DROP TABLE {sql.legacy_versions}")
        applied = [
            row[0]
            for row in conn.execute(
                f"SELECT version FROM {sql.versions} WHERE component = %s", (component,)
            )
        ]
        todo = pending_migrations(component, applied, migrations, where)
        known_steps = {**_STEPS, **(steps or {})}
        for step in todo:
            for statement in step.statements:
                if statement.startswith("@"):
                    known_steps[statement](conn, quoted)
                else:
                    conn.execute(statement.replace("{schema}", quoted))
            conn.execute(
                f"INSERT INTO {sql.versions} (component, version, description) VALUES (%s, %s, %s)",
                (component, step.version, step.description),
            )
    return [step.version for step in todo]


def write_outbox(conn: _Connection, schema: str, entries: Iterable[OutboxEntry]) -> list[int]:
    """Write outbox entries with the caller's connection, inside the caller's transaction.

    For components sharing the store's schema: a stock change and its message
    commit together. An entry whose ``event_id`` is already there is not written
    again; its existing id is returned.
    """
    sql = _Statements(schema)
    ids: list[int] = []
    for entry in entries:
        row = conn.execute(
            sql.publish,
            (
                entry.stream,
                entry.aggregate_id,
                entry.aggregate_version,
                entry.event_id,
                entry.topic,
                entry.payload_json,
            ),
        ).fetchone()
        if row is None:
            row = conn.execute(sql.event_message, (entry.event_id,)).fetchone()
        assert row is not None
        ids.append(int(row[0]))
    return ids


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

    def _migrate(self, conn: _Connection) -> None:
        where = f"schema {self.schema!r} at {self.url}"
        try:
            known = {step.version for step in MIGRATIONS}
            row = conn.execute("SELECT to_regclass(%s)", (self._sql.versions,)).fetchone()
            if row is not None and row[0] is not None:
                applied = {
                    r[0]
                    for r in conn.execute(
                        f"SELECT version FROM {self._sql.versions} WHERE component = %s",
                        (COMPONENT,),
                    )
                }
                pending_migrations(COMPONENT, applied, MIGRATIONS, where)  # newer: refuse
                if known <= applied:
                    return  # up to date: no lock, no transaction
            apply_postgres_migrations(conn, self.schema, COMPONENT, MIGRATIONS, where)
        except psycopg.Error as exc:
            raise MigrationError(f"migrating {where} failed: {self._describe(exc)}") from exc

    def migrate_component(self, component: str, migrations: Sequence[Migration]) -> list[int]:
        """Apply another component's schema steps to this store's schema.

        See :func:`apply_postgres_migrations`.
        """
        where = f"schema {self.schema!r} at {self.url}"
        with self._connection() as conn:
            try:
                return apply_postgres_migrations(conn, self.schema, component, migrations, where)
            except psycopg.Error as exc:
                raise MigrationError(
                    f"migrating {component} in {where} failed: {self._describe(exc)}"
                ) from exc

    @contextmanager
    def transaction(self) -> Iterator[_Connection]:
        """A pooled connection inside one transaction, for components sharing the schema.

        Everything done with it (stock rows and their messages via
        :func:`write_outbox`) commits together, or rolls back when the block raises.
        """
        with self._connection() as conn, conn.transaction():
            yield conn

    def schema_versions(self) -> dict[str, int]:
        """The highest schema step applied, per component (``{"orders": 2, ...}``)."""
        rows = self._fetch(
            f"SELECT component, max(version) FROM {self._sql.versions} GROUP BY component"
        )
        return {component: int(version) for component, version in rows}

    def schema_version(self) -> int:
        """The highest schema step of the order tables."""
        return self.schema_versions()[COMPONENT]

    def integrity_check(self) -> list[str]:
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
            repeated = conn.execute(self._sql.integrity_event_ids).fetchone()
        for order_id, version, versions, changes, low, high in rows:
            problems.extend(change_log_problems(order_id, version, versions, changes, low, high))
        problems.extend(f"outbox names missing order {row[0]}" for row in orphans)
        if repeated is not None and repeated[0]:
            problems.append("outbox event ids are not unique")
        return problems

    # -- writes ---------------------------------------------------------------------------

    def _duplicate(
        self, conn: _Connection, order: Order, exc: pg_errors.UniqueViolation
    ) -> DuplicateOrder:
        if exc.diag.constraint_name == "orders_pkey":
            return id_taken(order)
        row = conn.execute(self._sql.owner, order.key).fetchone()
        return key_taken(order, row[0] if row else None)

    def _load(self, conn: _Connection, order_id: str) -> Order | None:
        row = conn.execute(self._sql.body, (order_id,)).fetchone()
        return None if row is None else load_stored_order(*row)

    def _replay(self, conn: _Connection, key: str, fingerprint: str) -> Order | None:
        """The order a write with this key stored, or ``None`` if the key is new."""
        row = conn.execute(self._sql.recall, (key,)).fetchone()
        if row is None:
            return None
        order_id = json.loads(row[1]).get("order_id") if row[0] == fingerprint else None
        if not isinstance(order_id, str):
            raise key_reused(key)
        order = self._load(conn, order_id)
        if order is None:  # pragma: no cover - keys are written with their order
            raise order_not_found(order_id)
        return order

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
        self._check_writable()
        fingerprint = order_fingerprint(order) if idempotency_key else ""
        change = None
        if order.version == 0 or idempotency_key is None:
            change = self.new_change(order, events, actor)  # VersionConflict unless 0
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
                        change = self.new_change(order, events, actor)  # VersionConflict
                    replayed = self._claim_key(conn, idempotency_key, fingerprint, change.order)
                    if replayed is not None:
                        return replayed
                    self._insert(conn, change)
            except pg_errors.UniqueViolation as exc:
                raise self._duplicate(conn, order, exc) from None
        return change.order

    def _insert(self, conn: _Connection, change: Change) -> None:
        conn.execute(
            self._sql.put,
            (
                *_row_values(order_row(change.order)),
                change.event_id,
                change.topic,
                change.outbox_json,
            ),
        )

    def _copy_in(self, conn: _Connection, changes: Sequence[Change]) -> None:
        with conn.cursor() as cursor:
            with cursor.copy(self._sql.copy_orders) as copy:
                copy.set_types(_ORDER_TYPES)
                for change in changes:
                    copy.write_row(_row_values(order_row(change.order)))
            with cursor.copy(self._sql.copy_outbox) as copy:
                copy.set_types(_OUTBOX_TYPES)
                for change in changes:
                    copy.write_row(_change_values(change))

    def _put_new(self, changes: Sequence[Change]) -> None:
        with self._connection() as conn:
            try:
                with conn.transaction():
                    self._copy_in(conn, changes)
            except pg_errors.UniqueViolation:
                raise self._batch_duplicate(conn, [c.order for c in changes]) from None

    def _put_planned(
        self,
        batch: list[Order],
        actor: Actor | None,
        policy: OnExisting,
        now: datetime,
        at: str,
    ) -> BatchResult:
        for attempt in range(_MAX_ATTEMPTS):
            try:
                return self._put_planned_once(batch, actor, policy, now, at)
            except pg_errors.UniqueViolation:
                # Another writer stored one of these orders after this batch looked:
                # look again, so it is skipped or replaced as the policy says.
                if attempt == _MAX_ATTEMPTS - 1:
                    raise StoreError(
                        f"{self.url}: the batch kept clashing with concurrent writers"
                    ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _put_planned_once(
        self,
        batch: list[Order],
        actor: Actor | None,
        policy: OnExisting,
        now: datetime,
        at: str,
    ) -> BatchResult:
        try:
            pool_conn = self._pool.connection()
        except PoolClosed:  # pragma: no cover - checked by _check_writable
            raise StoreClosed(f"the store {self.url} is closed") from None
        with pool_conn as conn:
            try:
                with conn.transaction():
                    rows = conn.execute(
                        self._sql.existing,
                        ([o.channel for o in batch], [o.channel_order_id for o in batch]),
                    ).fetchall()
                    existing = {
                        (r[1], r[2]): ExistingOrder(
                            r[0], r[1], r[2], r[3], None if r[4] is None else _utc(r[4])
                        )
                        for r in rows
                    }
                    taken = {
                        r[0]: (r[1], r[2])
                        for r in conn.execute(self._sql.taken_ids, ([o.id for o in batch],))
                    }
                    plan = plan_batch(
                        batch,
                        existing,
                        taken,
                        policy,
                        lambda o: self.new_change(o, (), actor, now, at),
                    )
                    written: dict[int, PutOutcome] = {}
                    if plan.inserts:
                        self._copy_in(conn, [change for _, change in plan.inserts])
                    for index, change in plan.inserts:
                        written[index] = PutOutcome.written(Outcome.CREATED, change.order)
                    for index, incoming, ref in plan.replaces:
                        stored = self._load(conn, ref.id)
                        assert stored is not None  # locked by the lookup above
                        change = self.replace_change(incoming, stored, actor, now)
                        values = _row_values(order_row(change.order))
                        conn.execute(self._sql.update, (*values[1:], stored.id, stored.version))
                        conn.execute(self._sql.record, _change_values(change))
                        written[index] = PutOutcome.written(Outcome.UPDATED, change.order)
            except pg_errors.UniqueViolation:
                raise
            except psycopg.Error as exc:
                raise StoreError(f"{self.url}: {self._describe(exc)}") from exc
        return plan.result(written)

    def _batch_duplicate(self, conn: _Connection, orders: list[Order]) -> DuplicateOrder:
        """Name the first order of a rolled-back batch that clashes."""
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
        self._check_writable()
        fingerprint = order_fingerprint(order) if idempotency_key else ""
        if order.version < 1:
            self.update_change(order, events, actor, "", None)  # raises VersionConflict
        with self._connection() as conn:
            try:
                with conn.transaction():
                    if idempotency_key is not None:
                        replayed = self._replay(conn, idempotency_key, fingerprint)
                        if replayed is not None:
                            return replayed
                    current = conn.execute(self._sql.current, (order.id,)).fetchone()
                    if current is None:
                        raise order_not_found(order.id)
                    if current[0] != order.version:
                        raise stale_version(order, current[0])
                    change = self.update_change(order, events, actor, current[1], _utc(current[2]))
                    stored = change.order
                    if idempotency_key is not None:
                        replayed = self._claim_key(conn, idempotency_key, fingerprint, stored)
                        if replayed is not None:
                            return replayed
                    values = _row_values(order_row(stored))
                    conn.execute(self._sql.update, (*values[1:], order.id, order.version))
                    conn.execute(self._sql.record, _change_values(change))
            except pg_errors.UniqueViolation as exc:
                raise self._duplicate(conn, order, exc) from None
        return stored

    def update_many(
        self, updates: Iterable[OrderUpdate], *, actor: Actor | None = None
    ) -> list[Order]:
        """Apply many updates in one transaction: all of them are written, or none.

        The stored orders are locked (``SELECT ... FOR UPDATE``) in id order, so
        concurrent batches naming the same orders take turns instead of
        deadlocking; the rows are then written with one pipelined ``executemany``,
        the outbox messages with binary ``COPY`` and the timer plans with one
        statement each for cancelling and arming.

        Raises:
            ConfigurationError: an order appears twice, or a timer plan names
                another order than its update.
            VersionConflict: an order is not at the version its update is based on.
            OrderNotFound: an order is not stored.
            DuplicateOrder: an update would give an order another order's channel reference.
        """
        self._check_writable()
        batch = self.check_updates(updates)
        if not batch:
            return []
        for update in batch:
            if update.order.version < 1:
                self.update_change(update.order, (), actor, "", None)  # raises VersionConflict
        now, _ = self.batch_clock()
        plans = [update.timers for update in batch if update.timers is not None]
        changes: list[Change] = []
        with self._connection() as conn:
            try:
                with conn.transaction():
                    ids = sorted(update.order.id for update in batch)
                    stored = {
                        row[0]: (row[1], row[2], _utc(row[3]))
                        for row in conn.execute(self._sql.current_many, (ids,))
                    }
                    for update in batch:
                        order = update.order
                        current = stored.get(order.id)
                        if current is None:
                            raise order_not_found(order.id)
                        if current[0] != order.version:
                            raise stale_version(order, current[0])
                        changes.append(
                            self.update_change(
                                order, update.events, actor, current[1], current[2], now
                            )
                        )
                    written = sorted(changes, key=lambda change: change.order.id)
                    with conn.cursor() as cursor:
                        cursor.executemany(
                            self._sql.update,
                            [
                                (
                                    *_row_values(order_row(change.order))[1:],
                                    change.order.id,
                                    change.expected_version,
                                )
                                for change in written
                            ],
                        )
                        with cursor.copy(self._sql.copy_outbox) as copy:
                            copy.set_types(_OUTBOX_TYPES)
                            for change in written:
                                copy.write_row(_change_values(change))
                    self._write_timers(conn, plans)
            except pg_errors.UniqueViolation:
                raise self._update_duplicate(conn, [c.order for c in changes]) from None
        return [change.order for change in changes]

    def _update_duplicate(self, conn: _Connection, orders: list[Order]) -> DuplicateOrder:
        """Name the first order of a rolled-back update batch whose channel reference is taken."""
        rows = conn.execute(
            self._sql.owners,
            ([o.channel for o in orders], [o.channel_order_id for o in orders]),
        ).fetchall()
        owners = {(row[1], row[2]): row[0] for row in rows}
        for order in orders:
            owner = owners.get(order.key)
            if owner is not None and owner != order.id:
                return key_taken(order, owner)
        return DuplicateOrder(
            "the batch gives two orders the same channel reference", order_id=orders[0].id
        )

    # -- timers ---------------------------------------------------------------------------

    def _write_timers(self, conn: _Connection, plans: Iterable[TimerPlan]) -> None:
        """Apply timer plans inside the caller's transaction, touching rows in sorted order."""
        keys, final = _timer_writes(plans)
        if not keys:
            return
        conn.execute(self._sql.lock_timers, ([k[0] for k in keys], [k[1] for k in keys]))
        cancel = [key for key in keys if final[key] is None]
        if cancel:
            conn.execute(self._sql.cancel_timers, ([k[0] for k in cancel], [k[1] for k in cancel]))
        arm = [(key, arm) for key in keys if (arm := final[key]) is not None]
        if arm:
            conn.execute(
                self._sql.arm_timers,
                (
                    [key[0] for key, _ in arm],
                    [key[1] for key, _ in arm],
                    [timer.due_at for _, timer in arm],
                    [timer.level for _, timer in arm],
                    [_timer_data(timer) for _, timer in arm],
                ),
            )

    def set_timers(self, plans: Iterable[TimerPlan]) -> None:
        self._check_writable()
        batch = self.check_timer_plans(plans)
        if batch:
            with self._connection() as conn, conn.transaction():
                self._write_timers(conn, batch)

    def timers(self, order_id: str) -> list[Timer]:
        return [_timer(row) for row in self._fetch(self._sql.timers_of, (order_id,))]

    def timer_count(self, *, due_before: datetime | None = None) -> int:
        if due_before is None:
            return int(self._fetch(self._sql.timer_count)[0][0])
        return int(self._fetch(self._sql.timer_count_before, (due_before,))[0][0])

    def claim_timers(
        self, now: datetime, *, limit: int = 100, lease_seconds: float = 60.0
    ) -> list[Timer]:
        """Claim up to ``limit`` timers due at ``now``, earliest first, for ``lease_seconds``.

        One ``UPDATE`` over the due timers picked with ``FOR UPDATE OF t SKIP LOCKED``:
        claimers in any number of processes get disjoint timers and never wait
        for one another. Each timer comes with its order's ``(status, node)``, read
        by a ``LEFT JOIN`` in the same statement without locking the order. The
        lease is counted from ``now`` (the caller's clock).
        """
        self._check_writable()
        until = now + timedelta(seconds=float(lease_seconds))
        token = new_id()
        with self._connection() as conn:
            rows = conn.execute(
                self._sql.claim_timers, (now, now, int(limit), token, until)
            ).fetchall()
        claimed = [_timer(row[:8], (row[8], row[9]) if row[10] else None) for row in rows]
        claimed.sort(key=lambda timer: (timer.due_at, timer.order_id, timer.name))
        return claimed

    def finish_timers(self, finishes: Iterable[TimerFinish]) -> list[bool]:
        """Finish claimed timers in one transaction: record events, reschedule or delete.

        The orders that get events are locked first, in id order and only to read
        their key columns (``version``, ``channel``, ``channel_order_id``,
        ``status``; never the body); then the timers still held, in key order.
        That is the order ``update_many`` takes them in, so the two never deadlock.
        The outbox messages, deletions and reschedulings are then sent as one
        pipeline (a batched ``executemany`` and one statement each).

        Returns:
            For each finish, in turn, whether it was applied. ``False`` (nothing
            written for it) when the claim is no longer held (the timer was
            cancelled or re-armed, another worker took it over after its lease
            lapsed, or an earlier finish of the batch finished it), or when it
            has events and its order is gone (the timer is then deleted).

        Raises:
            ConfigurationError: an item is not a TimerFinish, or its timer was not
                claimed; nothing is written.
        """
        self._check_writable()
        batch = self.check_finishes(finishes)
        if not batch:
            return []
        eventful = sorted({finish.timer.order_id for finish, _ in batch if finish.events})
        done: list[bool] = []
        messages: list[tuple[Any, ...]] = []
        deleted: list[tuple[str, str]] = []
        rescheduled: list[tuple[str, str, datetime, int]] = []
        with self._connection() as conn, conn.transaction():
            orders = (
                {
                    row[0]: row[1:]
                    for row in conn.execute(self._sql.order_keys_for_share, (eventful,))
                }
                if eventful
                else {}
            )
            held = {
                (row[0], row[1])
                for row in conn.execute(
                    self._sql.held_timers,
                    (
                        [finish.timer.order_id for finish, _ in batch],
                        [finish.timer.name for finish, _ in batch],
                        [token for _, token in batch],
                    ),
                )
            }
            for finish, _ in batch:
                timer = finish.timer
                key = (timer.order_id, timer.name)
                if key not in held:
                    done.append(False)
                    continue
                held.discard(key)  # a second finish of the same timer finds it finished
                if finish.events:
                    order = orders.get(timer.order_id)
                    if order is None:
                        deleted.append(key)
                        done.append(False)
                        continue
                    version, channel, channel_order_id, status = order
                    event_id, payload = events_message(
                        timer.order_id, version, channel, channel_order_id, status, finish.events
                    )
                    messages.append(
                        (ORDER_STREAM, timer.order_id, version, event_id, EVENTS, payload)
                    )
                if finish.next_due is None:
                    deleted.append(key)
                else:
                    level = timer.level + 1 if finish.next_level is None else finish.next_level
                    rescheduled.append((*key, finish.next_due, level))
                done.append(True)
            with conn.pipeline():
                if messages:
                    with conn.cursor() as cursor:
                        cursor.executemany(self._sql.record, messages)
                if deleted:
                    conn.execute(
                        self._sql.cancel_timers,
                        ([key[0] for key in deleted], [key[1] for key in deleted]),
                    )
                if rescheduled:
                    conn.execute(
                        self._sql.reschedule_timers,
                        tuple(list(column) for column in zip(*rescheduled, strict=True)),
                    )
        return done

    def retry_timer(self, timer: Timer, at: datetime) -> bool:
        self._check_writable()
        token = self.check_claimed(timer)
        with self._connection() as conn:
            cursor = conn.execute(self._sql.retry_timer, (at, timer.order_id, timer.name, token))
            return cursor.rowcount == 1

    def append_events(self, order_id: str, events: Sequence[OrderEvent]) -> None:
        self._check_writable()
        with self._connection() as conn, conn.transaction():
            row = conn.execute(self._sql.body_for_share, (order_id,)).fetchone()
            if row is None:
                raise order_not_found(order_id)
            change = self.events_change(load_stored_order(*row), events)
            conn.execute(self._sql.record, _change_values(change))

    def publish(self, entries: Iterable[OutboxEntry]) -> list[int]:
        self._check_writable()
        items = list(entries)
        with self._connection() as conn, conn.transaction():
            return write_outbox(conn, self.schema, items)

    # -- reads ------------------------------------------------------------------------------

    def get(self, order_id: str) -> Order:
        rows = self._fetch(self._sql.body, (order_id,))
        if not rows:
            raise order_not_found(order_id)
        return load_stored_order(*rows[0])

    def find(self, channel: str, channel_order_id: str) -> Order | None:
        rows = self._fetch(self._sql.find, (channel, channel_order_id))
        return load_stored_order(*rows[0]) if rows else None

    def _query(self, query: OrderQuery) -> list[Order]:
        where, params = query_where(query, _DIALECT, paged=True)
        rows = self._fetch(
            f"SELECT body, raw, raw_type FROM {self._sql.orders}{where} "
            "ORDER BY created_at, id LIMIT %s",
            [*params, query.limit],
        )
        return [load_stored_order(*row) for row in rows]

    def _count(self, query: OrderQuery) -> int:
        where, params = query_where(query, _DIALECT, paged=False)
        return int(self._fetch(f"SELECT count(*) FROM {self._sql.orders}{where}", params)[0][0])

    def events(self, order_id: str) -> list[OrderEvent]:
        rows = self._fetch(self._sql.events, (order_id,))
        return events_from_payloads(row[0] for row in rows)

    # -- outbox -------------------------------------------------------------------------------

    def claim_outbox(self, limit: int = 100, *, lease_seconds: float = 30.0) -> list[OutboxMessage]:
        self._check_writable()
        with self._connection() as conn, conn.transaction():
            conn.execute(self._sql.claim_lock, (f"{self.schema}:outbox",))
            rows = conn.execute(self._sql.claim, (int(limit), float(lease_seconds))).fetchall()
        rows.sort(key=lambda row: int(row[0]))
        return [
            OutboxMessage(
                id=row[0],
                stream=row[1],
                aggregate_id=row[2],
                aggregate_version=row[3],
                event_id=row[4],
                topic=row[5],
                payload=json.loads(row[6]),
                created_at=_utc(row[7]),
                attempts=row[8],
            )
            for row in rows
        ]

    def ack_outbox(self, ids: Iterable[int]) -> None:
        self._check_writable()
        wanted = [int(message_id) for message_id in ids]
        with self._connection() as conn:
            if wanted:
                conn.execute(self._sql.ack, (wanted,))

    def outbox_pending(self) -> int:
        return int(self._fetch(self._sql.pending)[0][0])

    # -- idempotency ----------------------------------------------------------------------------

    def remember(self, key: str, fingerprint: str, result: Mapping[str, Any]) -> IdempotencyRecord:
        self._check_writable()
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
