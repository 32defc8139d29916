"""The SQLite store: the conformance suite plus what only a file-backed store has."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ordercore import open_store
from ordercore.errors import MigrationError, StoreError, StoreURLError
from ordercore.storage import OrderStore, SQLiteStore
from ordercore.storage._sqlite import MIGRATIONS, parse_sqlite_url
from ordercore.testing import OrderFactory, StoreConformance


class TestSQLiteStore(StoreConformance):
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
            versions = [row[0] for row in raw.execute("SELECT version FROM ordercore_schema")]
        assert versions == [version for version, _, _ in MIGRATIONS]

    def test_a_database_from_a_newer_ordercore_is_refused(self, tmp_path: Path) -> None:
        """Opening a file migrated beyond what this version knows raises MigrationError."""
        path = tmp_path / "orders.db"
        SQLiteStore(path).close()
        with sqlite3.connect(path) as raw:
            raw.execute("INSERT INTO ordercore_schema VALUES (999, 'future', '2099-01-01')")
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
                "CREATE TRIGGER fail_log BEFORE INSERT ON order_changes "
                "WHEN NEW.topic = 'order.updated' BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
            )
            with pytest.raises(StoreError, match="disk on fire"):
                store.update(kept.evolve(seller_note="x"))
            assert store.get(kept.id).version == 1
            assert store.get(kept.id).seller_note is None
            store._db.execute(
                "CREATE TRIGGER fail_put BEFORE INSERT ON order_changes "
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
            store._db.execute("UPDATE orders SET version = 2 WHERE id = ?", (order.id,))
            problems = store.integrity_check()
        assert any(order.id in p for p in problems)

    def test_it_reports_a_row_that_disagrees_with_its_body(self, tmp_path: Path) -> None:
        """A row whose id column and JSON body differ is reported."""
        with SQLiteStore(tmp_path / "o.db") as store:
            order = store.put(OrderFactory(seed=9).order())
            store._db.execute(
                "UPDATE orders SET body = replace(body, ?, 'X') WHERE id = ?", (order.id, order.id)
            )
            problems = store.integrity_check()
        assert any("row and body disagree" in p for p in problems)
