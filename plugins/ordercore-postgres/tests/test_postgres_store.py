"""The PostgreSQL store: the conformance suite plus what only a shared server has.

Every test works in a schema of its own, created empty and dropped afterwards,
so the module can run in parallel with itself and with other users of the
database. Set ``ORDERCORE_TEST_POSTGRES_URL`` to a database the tests may create
schemas in.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

import ordercore
from ordercore import plugins
from ordercore.errors import (
    DuplicateOrder,
    MigrationError,
    OrderCoreError,
    StoreError,
    StoreURLError,
    VersionConflict,
)
from ordercore.schema import Actor, OrderEvent, OrderStatus
from ordercore.storage import OrderStore, OrderUpdate, TimerArm, TimerFinish, TimerPlan
from ordercore.testing import OrderFactory, StoreConformance
from ordercore_postgres import MIGRATIONS, PostgresStore

URL = os.environ.get("ORDERCORE_TEST_POSTGRES_URL", "")

#: The ``run_processes`` fixture (conftest.py): target, argument tuples -> reports by index.
RunProcesses = Callable[[Callable[..., None], list[tuple[Any, ...]]], dict[int, Any]]

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not URL,
        reason="set ORDERCORE_TEST_POSTGRES_URL to run the PostgreSQL store tests "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test)",
    ),
]


def _libpq_url(url: str) -> str:
    """The URL as libpq takes it (no ``+driver`` in the scheme)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _with_query(url: str, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(_libpq_url(URL), autocommit=True)


FIXTURES = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "stored"

_DUE = datetime(2026, 3, 1, tzinfo=UTC)


class TestPostgresStore(StoreConformance):
    capabilities = frozenset({"reopen", "persistent"})

    @pytest.fixture
    def store(self, open_schema: Callable[..., PostgresStore]) -> OrderStore:
        return open_schema()

    @pytest.fixture
    def reopen(self, open_schema: Callable[..., PostgresStore]) -> Callable[[], OrderStore]:
        return open_schema


class TestDiscovery:
    def test_open_store_finds_the_plugin_through_its_entry_point(self, schema: str) -> None:
        """With the distribution installed, postgresql:// URLs open a PostgresStore."""
        declared = {
            ep.name: ep.dist.name if ep.dist else None
            for ep in importlib.metadata.entry_points(group="ordercore.storage")
        }
        if declared.get("postgresql") != "ordercore-postgres":
            pytest.skip("install the plugin (pip install ./plugins/ordercore-postgres) to test it")
        info = {i.name: i for i in plugins.registered("ordercore.storage")}["postgresql"]
        assert (info.distribution, info.builtin) == ("ordercore-postgres", False)
        rest = _libpq_url(URL).partition("://")[2]
        for prefix in ("postgresql", "postgres", "postgresql+psycopg"):
            with ordercore.open_store(_with_query(f"{prefix}://{rest}", schema=schema)) as store:
                assert isinstance(store, PostgresStore)
                assert store.schema == schema
                assert store.count() == 0


class TestURLAndOptions:
    @pytest.mark.parametrize(
        ("options", "complaint"),
        [
            ({"speed": "fast"}, "speed"),
            ({"schema": "Orders"}, "schema"),
            ({"schema": "1orders"}, "schema"),
            ({"schema": "pg_orders"}, "schema"),
            ({"schema": "orders; DROP TABLE x"}, "schema"),
            ({"schema": "o" * 64}, "schema"),
            ({"min_size": -1}, "min_size"),
            ({"max_size": 0}, "max_size"),
            ({"max_size": "many"}, "max_size"),
            ({"min_size": 5, "max_size": 2}, "max_size"),
            ({"timeout": "soon"}, "timeout"),
            ({"timeout": 0}, "timeout"),
            ({"timeout": float("nan")}, "timeout"),
        ],
    )
    def test_bad_options_are_refused(self, options: dict[str, Any], complaint: str) -> None:
        """Unknown or invalid options are a StoreURLError naming the option, before connecting."""
        with pytest.raises(StoreURLError, match=complaint):
            PostgresStore.from_url("postgresql://nobody@127.0.0.1:1/none", **options)

    @pytest.mark.parametrize(
        "url",
        [
            "postgresql://nobody@127.0.0.1:1/none?speed=fast",
            "postgresql://nobody@127.0.0.1:1/none?schema=Bad-Name",
            "postgresql://nobody@127.0.0.1:1/none?max_size=lots",
            "mysql://nobody@127.0.0.1:1/none",
            "postgresql:/nobody@127.0.0.1/none",
        ],
    )
    def test_bad_urls_are_refused(self, url: str) -> None:
        """A URL with an unknown or invalid option, or not postgresql://, is a StoreURLError."""
        with pytest.raises(StoreURLError) as caught:
            PostgresStore.from_url(url)
        assert caught.value.url == url

    def test_options_reach_the_pool_and_the_connections(self, schema: str) -> None:
        """Store options and libpq parameters, from the URL or as keywords, are applied."""
        url = _with_query(
            URL, schema=schema, min_size="2", max_size="3", timeout="7", application_name="oc-url"
        )
        with PostgresStore.from_url(url, max_size=4) as store:
            assert (store.schema, store.min_size, store.max_size, store.timeout) == (
                schema,
                2,
                4,
                7.0,
            )
            assert store._pool.max_size == 4
            with store._connection() as conn:
                row = conn.execute(
                    "SELECT current_setting('lock_timeout'), current_setting('application_name')"
                ).fetchone()
            assert row == ("7s", "oc-url")
        with PostgresStore.from_url(URL, schema=schema, application_name="oc-kw") as store:
            with store._connection() as conn:
                row = conn.execute("SELECT current_setting('application_name')").fetchone()
            assert row == ("oc-kw",)

    def test_an_unreachable_server_is_a_store_error_without_the_password(self) -> None:
        """A refused connection is a StoreError that names the server but not the password."""
        url = "postgresql://shop:s3cret-Pa55@127.0.0.1:1/orders?sslmode=disable"
        with pytest.raises(StoreError) as caught:
            PostgresStore.from_url(url)
        assert not isinstance(caught.value, psycopg.Error)
        assert caught.value.__cause__ is None
        assert "s3cret-Pa55" not in str(caught.value)
        assert "shop:***@127.0.0.1:1/orders" in str(caught.value)
        with pytest.raises(StoreError) as caught:
            PostgresStore.from_url("postgresql://shop@127.0.0.1:1/orders", password="kw-s3cret")
        assert "kw-s3cret" not in str(caught.value)

    @pytest.mark.parametrize(
        ("conninfo", "secret"),
        [
            ("postgresql://shop:s3cret%21@127.0.0.1:1/orders", "s3cret"),
            ("postgresql://shop@127.0.0.1:1/orders?password=s3cret", "s3cret"),
            ("host=127.0.0.1 port=1 user=shop password=s3cret dbname=orders", "s3cret"),
            ("host=127.0.0.1 port=1 password='s3cret with space'", "s3cret"),
        ],
    )
    def test_every_form_of_connection_string_is_masked(self, conninfo: str, secret: str) -> None:
        """Passwords in URLs, URL queries and keyword strings never reach an error message."""
        with pytest.raises(StoreError) as caught:
            PostgresStore(conninfo)
        assert secret not in str(caught.value)
        assert "***" in str(caught.value)

    def test_a_malformed_connection_string_does_not_echo_the_password(self) -> None:
        """libpq's complaint about a URL is passed on with the password masked."""
        with pytest.raises(StoreURLError) as caught:
            PostgresStore.from_url("postgresql://shop:p%zzs3cret@127.0.0.1:1/orders")
        assert "s3cret" not in str(caught.value)
        assert "s3cret" not in caught.value.url

    def test_reprs_and_urls_mask_the_password(self, schema: str) -> None:
        """The store's url and repr never show a password given in the URL."""
        scheme, _, rest = _libpq_url(URL).partition("://")
        userinfo, at, location = rest.rpartition("@")
        if at and ":" in userinfo:
            url = URL
            secret = userinfo.partition(":")[2]
        else:
            user = userinfo or "postgres"
            secret = "not-needed-Pa55"
            if psycopg.conninfo.conninfo_to_dict(_libpq_url(URL)).get("password"):
                pytest.skip("the test URL carries its password outside the user info")
            url = f"{scheme}://{user}:{secret}@{location}"
        with PostgresStore.from_url(url, schema=schema) as store:
            assert secret not in store.url
            assert secret not in repr(store)
            assert ":***@" in store.url


class TestIdempotentWrites:
    def test_a_write_that_fails_does_not_record_its_key(
        self, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """A refused put or update leaves its idempotency key unused, so a retry can succeed."""
        store = open_schema()
        factory = OrderFactory(seed=6)
        first = store.put(factory.order(channel="jd"))
        clash = factory.order(channel="jd", channel_order_id=first.channel_order_id)
        with pytest.raises(DuplicateOrder) as caught:
            store.put(clash, idempotency_key="jd:msg:1")
        assert caught.value.existing_id == first.id
        assert store.recall("jd:msg:1") is None
        stale = first.evolve(seller_note="late")
        store.update(first.evolve(seller_note="early"))
        with pytest.raises(VersionConflict):
            store.update(stale, idempotency_key="note:1")
        assert store.recall("note:1") is None
        again = store.update(
            store.get(first.id).evolve(seller_note="late"), idempotency_key="note:1"
        )
        assert again.version == 3

    def test_concurrent_deliveries_with_one_key_store_one_order(
        self, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """R9 on writes: racing puts of one delivery (each with a fresh id) store it once."""
        handles = [open_schema() for _ in range(6)]
        order = OrderFactory(seed=7).order(channel="douyin")
        barrier = threading.Barrier(len(handles))

        def deliver(args: tuple[int, PostgresStore]) -> str:
            index, handle = args
            copy = order.model_copy(update={"id": f"01RACEDDELIVERY{index:011d}"})
            barrier.wait(timeout=30)
            return handle.put(copy, idempotency_key="douyin:msg:race").id

        with ThreadPoolExecutor(max_workers=len(handles)) as pool:
            ids = set(pool.map(deliver, enumerate(handles)))
        assert len(ids) == 1
        assert handles[0].count() == 1
        assert handles[0].outbox_pending() == 1


class TestMigrations:
    def test_migrations_are_recorded_and_applied_once(
        self, schema: str, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """Many stores opening one fresh schema at once migrate it once, under the advisory lock."""
        barrier = threading.Barrier(6)

        def open_at_once(_: int) -> int:
            barrier.wait(timeout=30)
            return open_schema(min_size=0).schema_version()

        with ThreadPoolExecutor(max_workers=6) as pool:
            assert set(pool.map(open_at_once, range(6))) == {MIGRATIONS[-1].version}
        open_schema().close()
        with _admin() as conn:
            versions = conn.execute(
                f'SELECT component, version FROM "{schema}".ordercore_migrations ORDER BY version'
            ).fetchall()
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                    (schema,),
                )
            }
        assert versions == [("orders", step.version) for step in MIGRATIONS]
        assert tables == {"orders", "outbox", "idempotency_keys", "ordercore_migrations", "timers"}

    def test_a_schema_from_a_newer_ordercore_is_refused(
        self, schema: str, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """Opening a schema migrated beyond what this version knows raises MigrationError."""
        open_schema().close()
        with _admin() as conn:
            conn.execute(
                f'INSERT INTO "{schema}".ordercore_migrations (component, version, description) '
                "VALUES ('orders', 999, 'future')"
            )
        with pytest.raises(MigrationError, match="999"):
            open_schema()

    def test_a_schema_at_step_2_gains_the_timers_table_without_loss(
        self, schema: str, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """A database migrated before timers existed gets step 3 on open; its data stays."""
        factory = OrderFactory(seed=71)
        store = open_schema()
        stored = store.put_many(list(factory.orders(5, status="paid"))).orders
        changed = store.update(stored[0].evolve(status=OrderStatus.ALLOCATED))
        store.close()
        with _admin() as conn, conn.transaction():
            conn.execute(f'DROP TABLE "{schema}".timers')
            conn.execute(f'DELETE FROM "{schema}".ordercore_migrations WHERE version = 3')
        barrier = threading.Barrier(4)

        def open_at_once(_: int) -> dict[str, int]:
            barrier.wait(timeout=30)
            return open_schema(min_size=0).schema_versions()

        with ThreadPoolExecutor(max_workers=4) as pool:
            assert list(pool.map(open_at_once, range(4))) == [{"orders": 3}] * 4
        store = open_schema()
        assert store.count() == 5
        assert store.get(changed.id).version == 2
        assert store.integrity_check() == []
        with _admin() as conn:
            versions = conn.execute(
                f'SELECT version FROM "{schema}".ordercore_migrations '
                "WHERE component = 'orders' ORDER BY version"
            ).fetchall()
            key = conn.execute(
                "SELECT array_agg(a.attname ORDER BY k.ord) FROM pg_index i "
                "CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum "
                "WHERE i.indrelid = %s::regclass AND i.indisprimary",
                (f'"{schema}".timers',),
            ).fetchone()
            due_index = conn.execute(
                "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND indexname = %s",
                (schema, "timers_due"),
            ).fetchone()
        assert versions == [(1,), (2,), (3,)]
        assert key == (["order_id", "name"],)
        assert due_index is not None and due_index[0].endswith("(due_at)")
        due = datetime(2026, 3, 1, tzinfo=UTC)
        store.update_many(
            [
                OrderUpdate(
                    store.get(stored[1].id).evolve(status=OrderStatus.ALLOCATED),
                    timers=TimerPlan(stored[1].id, arm=[TimerArm("sla", due)]),
                )
            ]
        )
        [timer] = store.claim_timers(due)
        assert (timer.order_id, timer.level, timer.attempts) == (stored[1].id, 1, 1)
        assert store.finish_timer(timer) and store.timer_count() == 0


class TestUpgradeFromVersionOne:
    def test_a_schema_of_ordercore_postgres_0_1_migrates_without_loss(
        self, schema: str, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """Orders, history, outbox state and keys of a 0.1 schema carry over to the current
        layout; bodies written by 0.1 load through the schema upcasters."""
        old = sqlite3.connect(FIXTURES / "orders_v1.db")
        bodies = old.execute("SELECT id, body FROM orders ORDER BY id").fetchall()
        changes = old.execute(
            "SELECT order_id, order_version, topic, payload, delivered_at IS NOT NULL "
            "FROM order_changes ORDER BY id"
        ).fetchall()
        keys = old.execute("SELECT key, fingerprint, result FROM idempotency_keys").fetchall()
        old.close()
        with _admin() as conn, conn.transaction():
            conn.execute(f'CREATE SCHEMA "{schema}"')
            for statement in MIGRATIONS[0].statements:
                conn.execute(statement.replace("{schema}", f'"{schema}"'))
            conn.execute(
                f'CREATE TABLE "{schema}".ordercore_schema (version integer PRIMARY KEY, '
                "description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(
                f'INSERT INTO "{schema}".ordercore_schema (version, description) VALUES (1, %s)',
                (MIGRATIONS[0].description,),
            )
            for order_id, body in bodies:
                data = json.loads(body)
                conn.execute(
                    f'INSERT INTO "{schema}".orders (id, channel, channel_order_id, shop_id, '
                    "status, created_at, updated_at, version, tags, body) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (
                        order_id,
                        data["channel"],
                        data["channel_order_id"],
                        data.get("shop_id"),
                        data["status"],
                        data["created_at"]["utc"],
                        data["updated_at"],
                        data["version"],
                        data.get("tags") or [],
                        body,
                    ),
                )
            for order_id, version, topic, payload, delivered in changes:
                conn.execute(
                    f'INSERT INTO "{schema}".order_changes (order_id, order_version, topic, '
                    "payload, delivered_at) VALUES (%s, %s, %s, %s, "
                    "CASE WHEN %s THEN now() END)",
                    (order_id, version, topic, payload, bool(delivered)),
                )
            for key, fingerprint, result in keys:
                conn.execute(
                    f'INSERT INTO "{schema}".idempotency_keys (key, fingerprint, result) '
                    "VALUES (%s, %s, %s)",
                    (key, fingerprint, result),
                )
        store = open_schema()
        assert store.schema_versions() == {"orders": MIGRATIONS[-1].version}
        assert store.count() == len(bodies)
        for order_id, body in bodies:
            data = json.loads(body)
            order = store.get(order_id)
            assert (order.version, order.status.value) == (data["version"], data["status"])
            assert order.status_since is not None
            if data.get("raw"):
                assert order.raw is not None and order.raw.text == data["raw"]["text"]
        assert [(e.order_id, e.order_version) for o, _ in bodies for e in store.events(o)] == [
            (e["order_id"], e["order_version"])
            for o, _ in bodies
            for _, _, _, payload, _ in changes
            if json.loads(payload)["order_id"] == o
            for e in json.loads(payload)["events"]
        ]
        assert store.outbox_pending() == sum(1 for change in changes if not change[4])
        assert store.recall("webhook-1") is not None
        assert store.integrity_check() == []
        stored = store.put(OrderFactory(seed=70).order())
        assert store.claim_outbox(100)[-1].aggregate_id == stored.id
        due = datetime(2026, 3, 1, tzinfo=UTC)
        store.set_timers(TimerPlan(order_id, arm=[TimerArm("sla", due)]) for order_id, _ in bodies)
        assert store.timer_count() == len(bodies)
        claimed = store.claim_timers(due, limit=len(bodies))
        assert sorted(t.order_id for t in claimed) == sorted(order_id for order_id, _ in bodies)


class TestAtomicity:
    def test_a_failure_inside_a_write_leaves_nothing_behind(
        self, schema: str, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """If the change log insert fails, the order row and key of that write roll back too."""
        factory = OrderFactory(seed=2)
        store = open_schema()
        kept = store.put(factory.order())
        with _admin() as conn:
            conn.execute(
                f'CREATE FUNCTION "{schema}".fail_log() RETURNS trigger LANGUAGE plpgsql AS $$ '
                "BEGIN IF NEW.topic = ANY(TG_ARGV) THEN RAISE EXCEPTION 'disk on fire'; END IF; "
                "RETURN NEW; END $$"
            )
            conn.execute(
                f'CREATE TRIGGER fail_update BEFORE INSERT ON "{schema}".outbox '
                f"FOR EACH ROW EXECUTE FUNCTION \"{schema}\".fail_log('order.updated')"
            )
        with pytest.raises(StoreError, match="disk on fire") as caught:
            store.update(kept.evolve(seller_note="x"), idempotency_key="note-1")
        assert type(caught.value) is StoreError
        assert store.get(kept.id).version == 1
        assert store.get(kept.id).seller_note is None
        assert store.recall("note-1") is None
        with _admin() as conn:
            conn.execute(
                f'CREATE TRIGGER fail_put BEFORE INSERT ON "{schema}".outbox '
                f"FOR EACH ROW EXECUTE FUNCTION \"{schema}\".fail_log('order.created')"
            )
        batch = list(factory.orders(10))
        with pytest.raises(StoreError, match="disk on fire"):
            store.put_many(batch)
        with pytest.raises(StoreError, match="disk on fire"):
            store.put(batch[0])
        with pytest.raises(StoreError, match="disk on fire"):
            store.put(batch[1], idempotency_key="delivery-1")
        assert store.count() == 1
        assert store.outbox_pending() == 1
        assert store.recall("delivery-1") is None
        assert store.integrity_check() == []

    def test_database_errors_are_store_errors(
        self, schema: str, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """Whatever goes wrong in the database surfaces as StoreError, never as psycopg's."""
        store = open_schema()
        with _admin() as conn:
            conn.execute(f'DROP TABLE "{schema}".orders')
        for call in (lambda: store.get("01ANY"), store.count, lambda: store.query(tag="x")):
            with pytest.raises(StoreError) as caught:
                call()
            assert not isinstance(caught.value, psycopg.Error)
            assert isinstance(caught.value, OrderCoreError)

    def test_integrity_check_reports_tampering(
        self, schema: str, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """A row edited behind the store's back, or a lost change, is reported."""
        store = open_schema()
        first, second, third = store.put_many(list(OrderFactory(seed=3).orders(3))).orders
        assert store.integrity_check() == []
        with _admin() as conn:
            conn.execute(f'UPDATE "{schema}".orders SET status = %s WHERE id = %s', ("x", first.id))
            conn.execute(f'DELETE FROM "{schema}".outbox WHERE aggregate_id = %s', (second.id,))
            conn.execute(f'DELETE FROM "{schema}".orders WHERE id = %s', (third.id,))
        problems = store.integrity_check()
        assert f"order {first.id}: row and body disagree" in problems
        assert any(p.startswith(f"order {second.id}: version 1 but") for p in problems)
        assert f"outbox names missing order {third.id}" in problems
        assert len(problems) == 3


class TestTimers:
    def test_claims_neither_wait_for_nor_lock_the_orders(
        self, schema: str, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """A claim gets past an order locked by a writer and skips a timer row locked by one."""
        store = open_schema()
        order, other = store.put_many(
            list(OrderFactory(seed=21).orders(2, status="paid", channel="taobao"))
        ).orders
        store.set_timers(TimerPlan(o.id, arm=[TimerArm("sla", _DUE)]) for o in (order, other))
        # Leaving the block ends the locking transaction before the pool waits for the claim.
        with ThreadPoolExecutor(max_workers=1) as pool, _admin() as conn, conn.transaction():
            conn.execute(f'SELECT 1 FROM "{schema}".orders WHERE id = %s FOR UPDATE', (order.id,))
            conn.execute(
                f'SELECT 1 FROM "{schema}".timers WHERE order_id = %s FOR UPDATE', (other.id,)
            )
            claimed = pool.submit(store.claim_timers, _DUE).result(timeout=30)
        assert [(t.order_id, t.order_state) for t in claimed] == [(order.id, ("paid", order.node))]
        [late] = store.claim_timers(_DUE)
        assert (late.order_id, late.order_state) == (other.id, ("paid", other.node))

    def test_finish_timers_reads_the_orders_key_columns_not_their_body(
        self, schema: str, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """The breach message is built from the order's row even when its body is unreadable."""
        store = open_schema()
        order = store.put(OrderFactory(seed=22).order(status="packed", channel="taobao"))
        store.set_timers([TimerPlan(order.id, arm=[TimerArm("sla", _DUE)])])
        [timer] = store.claim_timers(_DUE)
        with _admin() as conn:
            conn.execute(f'UPDATE "{schema}".orders SET body = %s WHERE id = %s', ("{}", order.id))
        with pytest.raises(OrderCoreError):
            store.get(order.id)
        breach = OrderEvent(order_id=order.id, type="order.sla_breached", actor=Actor.system())
        assert store.finish_timers([TimerFinish(timer, events=[breach])]) == [True]
        with _admin() as conn:
            row = conn.execute(
                f'SELECT topic, aggregate_version, payload FROM "{schema}".outbox '
                "WHERE aggregate_id = %s ORDER BY id DESC LIMIT 1",
                (order.id,),
            ).fetchone()
        assert row is not None
        topic, version, payload = row
        message = json.loads(payload)
        assert (topic, version) == ("order.events", 1)
        assert {key: message[key] for key in ("order_id", "version", "channel", "status")} == {
            "order_id": order.id,
            "version": 1,
            "channel": order.channel,
            "status": "packed",
        }
        assert message["channel_order_id"] == order.channel_order_id
        assert [e["type"] for e in message["events"]] == ["order.sla_breached"]
        assert store.timers(order.id) == []

    def test_a_timers_data_is_a_jsonb_object_kept_until_it_is_armed_again(
        self, schema: str, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """Rescheduling and handing back keep the data; arming the name again replaces it."""
        store = open_schema()
        order = store.put(OrderFactory(seed=23).order(status="paid", channel="taobao"))
        data = {"channel": order.channel, "ref": order.channel_order_id}
        store.set_timers([TimerPlan(order.id, arm=[TimerArm("sla", _DUE, data=data)])])

        def stored_data() -> tuple[Any, ...] | None:
            with _admin() as conn:
                return conn.execute(
                    f'SELECT jsonb_typeof(data), data FROM "{schema}".timers WHERE order_id = %s',
                    (order.id,),
                ).fetchone()

        assert stored_data() == ("object", data)
        [timer] = store.claim_timers(_DUE)
        later = _DUE + timedelta(hours=1)
        assert store.finish_timers([TimerFinish(timer, next_due=later)]) == [True]
        [rescheduled] = store.timers(order.id)
        assert (rescheduled.level, rescheduled.due_at, rescheduled.data) == (2, later, data)
        [claimed] = store.claim_timers(later)
        assert claimed.data == data
        assert store.retry_timer(claimed, later + timedelta(minutes=5))
        assert store.timers(order.id)[0].data == data
        store.set_timers([TimerPlan(order.id, arm=[TimerArm("sla", later)])])
        assert store.timers(order.id)[0].data is None
        assert stored_data() == (None, None)

    def test_a_timer_finished_twice_in_one_batch_is_finished_once(
        self, open_schema: Callable[..., PostgresStore]
    ) -> None:
        """The second finish of a timer in a batch finds it finished; a gone order's is deleted."""
        store = open_schema()
        order = store.put(OrderFactory(seed=24).order(status="paid", channel="taobao"))
        gone = "01NOSUCHORDER0000000000000"
        store.set_timers(TimerPlan(i, arm=[TimerArm("sla", _DUE)]) for i in (order.id, gone))
        claimed = {t.order_id: t for t in store.claim_timers(_DUE)}
        breach = [
            OrderEvent(order_id=i, type="order.sla_breached", actor=Actor.system())
            for i in (order.id, order.id, gone)
        ]
        later = _DUE + timedelta(hours=1)
        results = store.finish_timers(
            [
                TimerFinish(claimed[order.id], events=[breach[0]], next_due=later),
                TimerFinish(claimed[order.id], events=[breach[1]]),
                TimerFinish(claimed[gone], events=[breach[2]], next_due=later),
            ]
        )
        assert results == [True, False, False]
        assert [e.event_id for e in store.events(order.id)][1:] == [breach[0].event_id]
        assert [(t.level, t.due_at) for t in store.timers(order.id)] == [(2, later)]
        assert store.timers(gone) == []
        assert store.integrity_check() == []


# -- several processes ---------------------------------------------------------------------


class TestSeveralProcesses:
    def test_workers_in_several_processes_get_each_message_once(
        self,
        schema: str,
        open_schema: Callable[..., PostgresStore],
        workers: ModuleType,
        run_processes: RunProcesses,
    ) -> None:
        """Four processes draining 2,000 outbox messages are handed every message exactly once."""
        store = open_schema()
        store.put_many(list(OrderFactory(seed=4).orders(2000)))
        reported = run_processes(workers.drain_outbox, [(URL, schema)] * 4)
        everything = [message_id for claimed in reported.values() for message_id in claimed]
        assert len(everything) == 2000
        assert len(set(everything)) == 2000
        assert sum(1 for claimed in reported.values() if claimed) >= 2
        assert store.outbox_pending() == 0
        assert store.claim_outbox(10, lease_seconds=0) == []

    def test_processes_racing_on_each_version_have_exactly_one_winner(
        self,
        schema: str,
        open_schema: Callable[..., PostgresStore],
        workers: ModuleType,
        run_processes: RunProcesses,
    ) -> None:
        """R6 across processes: of four updates based on one version, one wins, three conflict."""
        trials = 200
        store = open_schema()
        order = store.put(OrderFactory(seed=5).order(status="paid"))
        reported = run_processes(workers.race_versions, [(URL, schema, order.id, trials)] * 4)
        by_version: dict[int, list[tuple[str, int | None]]] = {}
        for outcomes in reported.values():
            for version, outcome, actual in outcomes:
                by_version.setdefault(version, []).append((outcome, actual))
        assert sorted(by_version) == list(range(1, trials + 1))
        for version, outcomes in by_version.items():
            assert sorted(outcomes, key=str) == sorted(
                [("won", None)] + [("conflict", version + 1)] * 3, key=str
            ), version
        final = store.get(order.id)
        assert final.version == trials + 1
        assert final.status is OrderStatus.PAID
        assert [e.order_version for e in store.events(order.id)] == list(range(1, trials + 2))
        assert store.outbox_pending() == trials + 1
        assert store.integrity_check() == []
