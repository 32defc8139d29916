"""The SQLite store: the conformance suite plus what only a file-backed store has."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ordercore import open_store
from ordercore.errors import (
    ForeignDatabase,
    MigrationError,
    StoreError,
    StoreReadOnly,
    StoreURLError,
)
from ordercore.storage import Migration, OrderStore, OutboxEntry, SQLiteStore, write_outbox
from ordercore.storage._sqlite import MIGRATIONS, parse_sqlite_url
from ordercore.testing import OrderFactory, StoreConformance


class TestSQLiteStore(StoreConformance):
    capabilities = frozenset({"reopen", "read_only", "persistent"})

    @pytest.fixture
    def read_only(self, tmp_path: Path) -> Iterator[Callable[[], OrderStore]]:
        opened: list[OrderStore] = []

        def viewer() -> OrderStore:
            opened.append(open_store(f"sqlite:///{tmp_path}/orders.db?mode=ro"))
            return opened[-1]

        yield viewer
        for handle in opened:
            handle.close()

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[OrderStore]:
        store = open_store(f"sqlite:///{tmp_path}/orders.db")
        yield store
        store.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Iterator[Callable[[], OrderStore]]:
        opened: list[OrderStore] = []

        def another() -> OrderStore:
            opened.append(open_store(f"sqlite:///{tmp_path}/orders.db"))
            return opened[-1]

        yield another
        for handle in opened:
            handle.close()


class TestSQLiteURL:
    @pytest.mark.parametrize(
        ("url", "path"),
        [
            ("sqlite:///orders.db", "orders.db"),
            ("sqlite:////var/lib/orders.db", "/var/lib/orders.db"),
            ("sqlite:///data/my%20orders.db", "data/my orders.db"),
            ("sqlite://", ":memory:"),
            ("sqlite:///:memory:", ":memory:"),
            ("sqlite:///orders.db?timeout=5", "orders.db"),
        ],
    )
    def test_paths(self, url: str, path: str) -> None:
        """Three slashes before a relative path, four before an absolute one."""
        assert parse_sqlite_url(url) == path

    @pytest.mark.parametrize("url", ["sqlite:/orders.db", "sqlite://orders.db", "mysql:///x"])
    def test_malformed_urls_are_refused(self, url: str) -> None:
        """A URL that is not sqlite:///path gets a StoreURLError naming the URL."""
        with pytest.raises(StoreURLError) as caught:
            parse_sqlite_url(url)
        assert caught.value.url == url

    def test_unknown_options_are_refused(self, tmp_path: Path) -> None:
        """Options the store does not know are an error, not silently ignored."""
        with pytest.raises(StoreURLError, match="speed"):
            open_store(f"sqlite:///{tmp_path}/o.db?speed=fast")
        with pytest.raises(StoreURLError, match="synchronous"):
            open_store(f"sqlite:///{tmp_path}/o.db?synchronous=sometimes")

    def test_options_reach_the_connection(self, tmp_path: Path) -> None:
        """timeout, synchronous and cache_mb from the URL are applied."""
        store = open_store(f"sqlite:///{tmp_path}/o.db?timeout=2.5&synchronous=full&cache_mb=8")
        assert isinstance(store, SQLiteStore)
        assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2
        assert store._db.execute("PRAGMA busy_timeout").fetchone()[0] == 2500
        assert store._db.execute("PRAGMA cache_size").fetchone()[0] == -8 * 1024
        store.close()

    @pytest.mark.parametrize("value", ["0", "-5", "lots", "1.5"])
    def test_a_bad_cache_size_is_refused(self, tmp_path: Path, value: str) -> None:
        """cache_mb is a whole number of MiB, at least 1."""
        with pytest.raises(StoreURLError, match="cache_mb"):
            open_store(f"sqlite:///{tmp_path}/o.db?cache_mb={value}")

    def test_new_files_get_large_pages(self, tmp_path: Path) -> None:
        """A new database uses 16 KiB pages, so several order bodies share a page."""
        with SQLiteStore(tmp_path / "o.db") as store:
            assert store._db.execute("PRAGMA page_size").fetchone()[0] == 16384


class TestSQLiteFile:
    def test_the_file_is_in_wal_mode_and_survives_reopening(self, tmp_path: Path) -> None:
        """Orders written by one handle are there for the next one; the journal is WAL."""
        path = tmp_path / "orders.db"
        orders = list(OrderFactory(seed=1).orders(25))
        with SQLiteStore(path) as store:
            store.put_many(orders)
        with sqlite3.connect(path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with SQLiteStore(path) as store:
            assert store.count() == 25
            assert store.get(orders[3].id).channel_order_id == orders[3].channel_order_id
            assert store.integrity_check() == []

    def test_migrations_are_recorded_and_applied_once(self, tmp_path: Path) -> None:
        """The schema table lists every migration once, however often the file is opened."""
        path = tmp_path / "orders.db"
        for _ in range(3):
            SQLiteStore(path).close()
        with sqlite3.connect(path) as raw:
            versions = raw.execute(
                "SELECT component, version FROM ordercore_migrations ORDER BY version"
            ).fetchall()
        assert versions == [("orders", step.version) for step in MIGRATIONS]

    def test_a_database_from_a_newer_ordercore_is_refused(self, tmp_path: Path) -> None:
        """Opening a file migrated beyond what this version knows raises MigrationError."""
        path = tmp_path / "orders.db"
        SQLiteStore(path).close()
        with sqlite3.connect(path) as raw:
            raw.execute(
                "INSERT INTO ordercore_migrations VALUES ('orders', 999, 'future', '2099-01-01')"
            )
        with pytest.raises(MigrationError, match="999"):
            SQLiteStore(path)

    def test_a_file_that_is_not_a_database_is_a_store_error(self, tmp_path: Path) -> None:
        """Pointing the store at junk fails with a typed error, and leaves the file alone."""
        path = tmp_path / "orders.db"
        path.write_bytes(b"this is not a database" * 100)
        with pytest.raises(StoreError):
            SQLiteStore(path)
        assert path.read_bytes() == b"this is not a database" * 100

    def test_a_failure_inside_a_write_leaves_nothing_behind(self, tmp_path: Path) -> None:
        """If the change log insert fails, the order row of that write is rolled back too."""
        path = tmp_path / "orders.db"
        factory = OrderFactory(seed=2)
        with SQLiteStore(path) as store:
            kept = store.put(factory.order())
            store._db.execute(
                "CREATE TRIGGER fail_log BEFORE INSERT ON ordercore_outbox "
                "WHEN NEW.topic = 'order.updated' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
            )
            with pytest.raises(StoreError, match="disk on fire"):
                store.update(kept.evolve(seller_note="x"))
            assert store.get(kept.id).version == 1
            assert store.get(kept.id).seller_note is None
            store._db.execute(
                "CREATE TRIGGER fail_put BEFORE INSERT ON ordercore_outbox "
                "WHEN NEW.topic = 'order.created' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
            )
            batch = list(factory.orders(10))
            with pytest.raises(StoreError, match="disk on fire"):
                store.put_many(batch)
            with pytest.raises(StoreError, match="disk on fire"):
                store.put(batch[0])
            assert store.count() == 1
            assert store.integrity_check() == []


class TestIntegrityCheck:
    def test_it_reports_a_version_without_its_change(self, tmp_path: Path) -> None:
        """A version bumped outside a change (no change-log entry) is reported."""
        with SQLiteStore(tmp_path / "o.db") as store:
            order = store.put(OrderFactory(seed=8).order())
            assert store.integrity_check() == []
            store._db.execute("UPDATE ordercore_orders SET version = 2 WHERE id = ?", (order.id,))
            problems = store.integrity_check()
        assert any(order.id in p for p in problems)

    def test_it_reports_a_repeated_event_id(self, tmp_path: Path) -> None:
        """Two outbox messages with one event id (consumers would drop one) are reported."""
        with SQLiteStore(tmp_path / "o.db") as store:
            first, second = store.put_many(list(OrderFactory(seed=10).orders(2))).orders
            store._db.execute(
                "UPDATE ordercore_outbox SET event_id = (SELECT event_id FROM ordercore_outbox "
                "WHERE aggregate_id = ?) WHERE aggregate_id = ?",
                (first.id, second.id),
            )
            assert store.integrity_check() == ["outbox event ids are not unique"]

    def test_it_reports_a_row_that_disagrees_with_its_body(self, tmp_path: Path) -> None:
        """A row whose id column and JSON body differ is reported."""
        with SQLiteStore(tmp_path / "o.db") as store:
            order = store.put(OrderFactory(seed=9).order())
            store._db.execute(
                "UPDATE ordercore_orders SET body = replace(body, ?, 'X') WHERE id = ?",
                (order.id, order.id),
            )
            problems = store.integrity_check()
        assert any("row and body disagree" in p for p in problems)


FIXTURES = Path(__file__).parent.parent / "fixtures" / "stored"


class TestUpgradeFromVersionOne:
    """A file written by ordercore 0.1 (schema step 1) opens, migrates and keeps everything."""

    @pytest.fixture
    def old(self, tmp_path: Path) -> Path:
        path = tmp_path / "orders_v1.db"
        shutil.copyfile(FIXTURES / "orders_v1.db", path)
        return path

    def test_every_order_event_message_and_key_survives(self, old: Path) -> None:
        """Orders, their history, the outbox state and idempotency keys all carry over."""
        with sqlite3.connect(old) as raw:
            bodies = {
                row[0]: json.loads(row[1]) for row in raw.execute("SELECT id, body FROM orders")
            }
            changes = raw.execute(
                "SELECT id, order_id, order_version, topic, delivered_at IS NOT NULL "
                "FROM order_changes ORDER BY id"
            ).fetchall()
        with SQLiteStore(old) as store:
            assert store.schema_versions() == {"orders": MIGRATIONS[-1].version}
            assert store.count() == len(bodies) == 6
            for order_id, body in bodies.items():
                order = store.get(order_id)
                assert order.version == body["version"]
                assert order.status.value == body["status"]
                assert order.channel_order_id == body["channel_order_id"]
                assert order.status_since is not None
                if body.get("raw"):
                    assert order.raw is not None and order.raw.text == body["raw"]["text"]
            rows = store._db.execute(
                "SELECT id, aggregate_id, aggregate_version, topic, delivered_at IS NOT NULL, "
                "stream FROM ordercore_outbox ORDER BY id"
            ).fetchall()
            assert [row[:5] for row in rows] == changes
            assert {row[5] for row in rows} == {"order"}
            assert store.outbox_pending() == sum(1 for change in changes if not change[4])
            assert store.recall("webhook-1") is not None
            assert store.integrity_check() == []
            raw_column = store._db.execute(
                "SELECT count(*) FROM ordercore_orders WHERE raw IS NOT NULL "
                "AND json_extract(body, '$.raw') IS NULL"
            ).fetchone()[0]
            # moved out of the body into its own column
            assert raw_column == sum(1 for body in bodies.values() if body.get("raw")) > 0
            tables = {
                name
                for (name,) in store._db.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'"
                )
            }
            assert {
                "orders",
                "order_changes",
                "idempotency_keys",
                "ordercore_schema",
            } & tables == set()
            nxt = store.put(OrderFactory(seed=77).order())
            assert [e.type for e in store.events(nxt.id)] == ["order.created"]

    def test_a_failed_upgrade_changes_nothing(self, old: Path) -> None:
        """If a step fails part-way, the file is exactly as it was."""
        before = old.read_bytes()
        with sqlite3.connect(old) as raw:
            raw.execute("UPDATE orders SET body = '{\"broken\": true}' WHERE rowid = 3")
        damaged = old.read_bytes()
        assert damaged != before
        with pytest.raises(MigrationError, match="orders"):
            SQLiteStore(old)
        with sqlite3.connect(old) as raw:
            assert raw.execute("SELECT count(*) FROM orders").fetchone()[0] == 6
            assert raw.execute("SELECT max(version) FROM ordercore_schema").fetchone()[0] == 1


class TestForeignFiles:
    """ordercore never mixes its tables into an application's database by surprise."""

    def _app_db(self, path: Path) -> None:
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
            db.execute("INSERT INTO users (name) VALUES ('alice')")

    def test_a_file_with_other_tables_is_refused_and_untouched(self, tmp_path: Path) -> None:
        """open_store on an application database raises ForeignDatabase and writes nothing."""
        path = tmp_path / "app.db"
        self._app_db(path)
        before = path.read_bytes()
        with pytest.raises(ForeignDatabase) as caught:
            open_store(f"sqlite:///{path}")
        assert caught.value.tables == ("users",)
        assert caught.value.path == str(path)
        assert "adopt" in str(caught.value)
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]

    def test_adopt_adds_the_store_beside_the_application_tables(self, tmp_path: Path) -> None:
        """adopt=1 puts ordercore's tables (all ordercore_*) beside the app's, which stay as
        they were; the file then reopens with adopt again."""
        path = tmp_path / "app.db"
        self._app_db(path)
        with open_store(f"sqlite:///{path}?adopt=1") as store:
            stored = store.put(OrderFactory(seed=3).order())
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT name FROM users").fetchall() == [("alice",)]
            tables = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {name for name in tables if name != "users" and "sqlite_" not in name} == {
            "ordercore_orders",
            "ordercore_outbox",
            "ordercore_idempotency",
            "ordercore_migrations",
            "ordercore_timers",
        }
        with pytest.raises(ForeignDatabase):
            open_store(f"sqlite:///{path}")
        with SQLiteStore(path, adopt=True) as store:
            assert store.get(stored.id) == stored

    def test_an_empty_file_becomes_a_store(self, tmp_path: Path) -> None:
        """A zero-byte file (touch orders.db) holds nothing foreign and is used."""
        path = tmp_path / "orders.db"
        path.touch()
        with open_store(f"sqlite:///{path}") as store:
            assert store.count() == 0

    @pytest.mark.parametrize("url", ["sqlite:///%00.db", "sqlite:///a%0Ab.db", "sqlite:///x\x00"])
    def test_a_path_with_nul_or_control_characters_is_a_url_error(self, url: str) -> None:
        """A NUL in the path is a StoreURLError, not a bare ValueError from sqlite3."""
        with pytest.raises(StoreURLError, match="control character"):
            open_store(url)


class TestReadOnly:
    def test_read_only_never_changes_the_file(self, tmp_path: Path) -> None:
        """mode=ro opens for queries; the database file stays byte for byte the same."""
        path = tmp_path / "orders.db"
        with SQLiteStore(path) as store:
            stored = store.put(OrderFactory(seed=4).order())
        before = (path.read_bytes(), path.stat().st_mtime_ns)
        with open_store(f"sqlite:///{path}?mode=ro") as viewer:
            assert repr(viewer).endswith("read-only>")
            assert viewer.get(stored.id) == stored
            with pytest.raises(StoreReadOnly):
                viewer.put(OrderFactory(seed=5).order())
        assert (path.read_bytes(), path.stat().st_mtime_ns) == before

    def test_read_only_works_where_no_journal_file_can_be_made(self, tmp_path: Path) -> None:
        """Where SQLite cannot create its shared-memory file (a read-only medium; here a
        directory is in its way), the store still opens for queries."""
        path = tmp_path / "orders.db"
        with SQLiteStore(path) as store:
            stored = store.put(OrderFactory(seed=8).order())
        Path(f"{path}-shm").mkdir()
        with SQLiteStore(path, read_only=True) as viewer:
            assert viewer.get(stored.id) == stored
            assert viewer.count() == 1

    def test_read_only_of_a_missing_or_foreign_file_is_a_store_error(self, tmp_path: Path) -> None:
        """There is nothing to read in a file that does not exist or is not a store."""
        with pytest.raises(StoreError, match="no database file"):
            SQLiteStore(tmp_path / "missing.db", read_only=True)
        assert not (tmp_path / "missing.db").exists()
        app = tmp_path / "app.db"
        with sqlite3.connect(app) as db:
            db.execute("CREATE TABLE users (id INTEGER)")
        with pytest.raises(StoreError, match="not an ordercore store"):
            SQLiteStore(app, read_only=True)

    def test_read_only_of_an_old_file_asks_for_a_migration(self, tmp_path: Path) -> None:
        """A 0.1 file needs migrating, which a read-only handle must not do."""
        path = tmp_path / "old.db"
        shutil.copyfile(FIXTURES / "orders_v1.db", path)
        with pytest.raises(StoreError, match="read-write"):
            SQLiteStore(path, read_only=True)

    @pytest.mark.skipif(
        hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write a read-only directory"
    )
    def test_read_only_works_in_a_directory_nobody_may_write(self, tmp_path: Path) -> None:
        """A store on a read-only directory (a mounted backup) opens for queries."""
        path = tmp_path / "ro" / "orders.db"
        path.parent.mkdir()
        with SQLiteStore(path) as store:
            stored = store.put(OrderFactory(seed=6).order())
        path.parent.chmod(0o555)
        try:
            with SQLiteStore(path, read_only=True) as viewer:
                assert viewer.get(stored.id) == stored
        finally:
            path.parent.chmod(0o755)


class TestCheckpointing:
    def test_the_background_checkpointer_folds_the_log_into_the_file(self, tmp_path: Path) -> None:
        """With checkpoint=background commits never checkpoint; the thread does, soon after."""
        path = tmp_path / "orders.db"
        with SQLiteStore(path) as store:
            assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
            store.put_many(list(OrderFactory(seed=7).orders(200)))
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                _busy, log, done = store._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if log == done:
                    break
                time.sleep(0.05)
            raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            assert raw.execute("SELECT count(*) FROM ordercore_orders").fetchone()[0] == 200
            raw.close()
        assert not Path(f"{path}-wal").exists()

    def test_auto_checkpointing_leaves_it_to_sqlite(self, tmp_path: Path) -> None:
        """checkpoint=auto keeps SQLite's own threshold and starts no thread."""
        with open_store(f"sqlite:///{tmp_path}/o.db?checkpoint=auto") as store:
            assert isinstance(store, SQLiteStore)
            assert store._db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
            assert store._checkpointer is None
        with pytest.raises(StoreURLError, match="checkpoint"):
            open_store(f"sqlite:///{tmp_path}/o.db?checkpoint=never")


class TestComponentMigrations:
    def test_another_component_migrates_in_the_same_file_independently(
        self, tmp_path: Path
    ) -> None:
        """A second component's steps are recorded under its own name, applied once, and a
        newer step of it is refused without touching the orders."""
        steps = (
            Migration("inventory", 1, "stock", ("CREATE TABLE ordercore_stock (sku TEXT)",)),
            Migration("inventory", 2, "ledger", ("CREATE TABLE ordercore_ledger (id INTEGER)",)),
        )
        with SQLiteStore(tmp_path / "o.db") as store:
            assert store.migrate_component("inventory", steps[:1]) == [1]
            assert store.migrate_component("inventory", steps) == [2]
            assert store.migrate_component("inventory", steps) == []
            assert store.schema_versions() == {"orders": MIGRATIONS[-1].version, "inventory": 2}
            with pytest.raises(MigrationError, match="inventory schema version 2"):
                store.migrate_component("inventory", steps[:1])
            broken = Migration("timers", 1, "bad", ("CREATE TABLE ordercore_t (",))
            with pytest.raises(MigrationError, match="timers"):
                store.migrate_component("timers", [broken])
            assert "timers" not in store.schema_versions()

    def test_components_share_the_outbox_inside_their_own_transaction(self, tmp_path: Path) -> None:
        """write_outbox in a store transaction commits with the component's own rows, or not
        at all when the block fails."""
        steps = (Migration("inventory", 1, "stock", ("CREATE TABLE ordercore_stock (n INTEGER)",)),)
        entry = OutboxEntry(
            stream="stock",
            aggregate_id="SKU-1",
            aggregate_version=1,
            topic="stock.changed",
            payload={"on_hand": 5},
        )
        with SQLiteStore(tmp_path / "o.db") as store:
            store.migrate_component("inventory", steps)

            def fail_inside() -> None:
                with store.transaction() as db:
                    db.execute("INSERT INTO ordercore_stock VALUES (5)")
                    write_outbox(db, [entry])
                    raise RuntimeError("the caller failed")

            with pytest.raises(RuntimeError):
                fail_inside()
            assert store.outbox_pending() == 0
            with store.transaction() as db:
                db.execute("INSERT INTO ordercore_stock VALUES (5)")
                write_outbox(db, [entry])
            assert store.outbox_pending() == 1
            assert store.claim_outbox(5)[0].payload == {"on_hand": 5}
