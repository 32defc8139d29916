"""The PostgreSQL inventory: the conformance suite, its locks, and R1 across processes.

Every test works in a schema of its own, created empty and dropped afterwards.
Set ``ORDERCORE_TEST_POSTGRES_URL`` to a database the tests may create schemas
(and, for the privilege test, roles) in. The R1 race runs 4 processes x 150
operations by default; ``ORDERCORE_R1_PROCESSES`` and ``ORDERCORE_R1_OPS`` size it
for a battery run (e.g. 8 and 2500).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from ordercore.errors import MigrationError, StoreClosed, StoreError
from ordercore.inventory import (
    BackorderPolicy,
    EntryKind,
    Inventory,
    Location,
    ReservationLine,
    ReservationRequest,
    ReservationStatus,
    open_inventory,
)
from ordercore.inventory._backend import InventoryBackend, LedgerRow
from ordercore.schema import Actor, ActorKind
from ordercore.testing import InventoryConformance, OrderFactory
from ordercore.timestamps import utc_now
from ordercore_postgres import PostgresInventoryBackend, PostgresStore
from ordercore_postgres._inventory import COMPONENT, INVENTORY_MIGRATIONS

URL = os.environ.get("ORDERCORE_TEST_POSTGRES_URL", "")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not URL,
        reason="set ORDERCORE_TEST_POSTGRES_URL to run the PostgreSQL inventory tests "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test)",
    ),
]

STAFF = Actor(kind=ActorKind.PERSON, id="li")
MANAGER = Actor(kind=ActorKind.PERSON, id="wang")


def _libpq_url(url: str) -> str:
    """The URL as libpq takes it (no ``+driver`` in the scheme)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _with_query(url: str, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _admin() -> psycopg.Connection[Any]:
    return psycopg.connect(_libpq_url(URL), autocommit=True)


def _backend(inventory: Inventory) -> PostgresInventoryBackend:
    backend = inventory.backend
    assert isinstance(backend, PostgresInventoryBackend)
    return backend


def _request(rid: str, quantity: int, **extra: Any) -> ReservationRequest:
    return ReservationRequest(
        reservation_id=rid,
        lines=(ReservationLine(sku="MUG", quantity=quantity, location="WH1"),),
        **extra,
    )


@pytest.fixture
def url(schema: str) -> str:
    """A URL on the test's own schema."""
    return _with_query(URL, schema=schema)


@pytest.fixture
def opened(url: str) -> Iterator[Callable[..., Inventory]]:
    """Open inventories on the test's schema; all of them are closed afterwards."""
    handles: list[Inventory] = []

    def open_one(**options: Any) -> Inventory:
        handles.append(open_inventory(url, **options))
        return handles[-1]

    yield open_one
    for handle in handles:
        handle.close()


@pytest.fixture
def stocked(opened: Callable[..., Inventory]) -> Inventory:
    """WH1 with 10 MUG."""
    inventory = opened()
    inventory.add_location(Location(id="WH1"))
    inventory.receive("MUG", "WH1", 10, actor=STAFF)
    return inventory


class TestPostgresInventory(InventoryConformance):
    capabilities = frozenset({"reopen", "processes", "row_locks"})

    @pytest.fixture
    def inventory_url(self, url: str) -> str:
        return url

    @pytest.fixture
    def inventory(self, opened: Callable[..., Inventory]) -> Inventory:
        return opened()

    @pytest.fixture
    def reopen(self, opened: Callable[..., Inventory]) -> Any:
        return lambda _: opened()

    @pytest.fixture
    def stock_messages(self, schema: str) -> Any:
        def read(_: Inventory) -> list[tuple[str, dict[str, Any]]]:
            with _admin() as conn:
                rows = conn.execute(
                    f'SELECT aggregate_id, payload FROM "{schema}".outbox '
                    "WHERE stream = 'stock' ORDER BY id"
                ).fetchall()
            return [(aggregate, json.loads(payload)) for aggregate, payload in rows]

        return read

    @pytest.fixture
    def corrupt(self, schema: str) -> Any:
        def change(_: Inventory, sku: str, location: str, field: str, delta: int) -> None:
            assert field in {"on_hand", "reserved", "in_transfer", "damaged"}
            with _admin() as conn:
                conn.execute(
                    f'UPDATE "{schema}".stock SET {field} = {field} + %s '
                    "WHERE sku = %s AND location = %s",
                    (delta, sku, location),
                )

        return change


# -- opening, discovery, schema ------------------------------------------------------------


def test_open_inventory_finds_the_backend_through_its_entry_point(schema: str) -> None:
    declared = {
        ep.name: ep.dist.name if ep.dist else None
        for ep in importlib.metadata.entry_points(group="ordercore.inventory")
    }
    if declared.get("postgresql") != "ordercore-postgres":
        pytest.skip("install the plugin (pip install -e plugins/ordercore-postgres) to test it")
    rest = _libpq_url(URL).partition("://")[2]
    for prefix in ("postgresql", "postgres", "postgresql+psycopg"):
        with open_inventory(_with_query(f"{prefix}://{rest}", schema=schema)) as inventory:
            backend = _backend(inventory)
            assert isinstance(backend, InventoryBackend)
            assert backend.schema == schema
            assert inventory.available("MUG") == 0


def test_shares_the_schema_pool_and_outbox_with_the_order_store(url: str, schema: str) -> None:
    store = PostgresStore.from_url(url)
    order = OrderFactory(seed=3).order()
    store.put(order)
    inventory = Inventory(PostgresInventoryBackend.for_store(store))
    inventory.add_location(Location(id="WH1"))
    inventory.receive("MUG", "WH1", 5, actor=STAFF)
    inventory.reserve(_request(order.id, 2))
    inventory.close()
    with pytest.raises(StoreClosed):
        inventory.available("MUG")
    assert store.get(order.id).id == order.id  # the store stays open
    messages = store.claim_outbox(10)
    assert [m.stream for m in messages] == ["order", "stock", "stock"]
    assert messages[2].aggregate_id == "MUG@WH1"
    assert messages[2].payload["available"] == 3 and messages[2].aggregate_version == 2
    assert store.schema_versions()[COMPONENT] == INVENTORY_MIGRATIONS[-1].version
    assert store.integrity_check() == []
    store.close()


def test_a_new_schema_is_created_and_migrated_once(url: str, schema: str) -> None:
    with open_inventory(url) as inventory:
        assert _backend(inventory).schema_version() == 1
        inventory.add_location(Location(id="WH1"))
        inventory.receive("MUG", "WH1", 1, actor=STAFF)
    with open_inventory(url) as again:
        assert again.available("MUG") == 1
    with _admin() as conn:
        steps = conn.execute(
            f'SELECT component, version FROM "{schema}".ordercore_migrations '
            "ORDER BY component, version"
        ).fetchall()
    assert [s for s in steps if s[0] == COMPONENT] == [(COMPONENT, 1)]
    assert ("orders", 1) in steps


def test_concurrent_first_opens_migrate_once(url: str, schema: str) -> None:
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_one() -> None:
        barrier.wait()
        try:
            open_inventory(url).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with _admin() as conn:
        count = conn.execute(
            f'SELECT count(*) FROM "{schema}".ordercore_migrations WHERE component = %s',
            (COMPONENT,),
        ).fetchone()
    assert count == (1,)


def test_a_newer_inventory_schema_is_refused(url: str, schema: str) -> None:
    open_inventory(url).close()
    with _admin() as conn:
        conn.execute(
            f'INSERT INTO "{schema}".ordercore_migrations (component, version, description) '
            "VALUES (%s, 99, 'from the future')",
            (COMPONENT,),
        )
    with pytest.raises(MigrationError, match="inventory"):
        open_inventory(url)


def test_the_ledger_is_append_only(stocked: Inventory, schema: str) -> None:
    with _admin() as conn:
        for statement in (
            f'UPDATE "{schema}".stock_ledger SET on_hand = 0',
            f'DELETE FROM "{schema}".stock_ledger',
            f'TRUNCATE "{schema}".stock_ledger',
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement)
    assert [entry.on_hand for entry in stocked.ledger()] == [10]


def test_the_sweep_uses_the_due_index(stocked: Inventory, schema: str) -> None:
    now = utc_now()
    for n in range(8):
        stocked.reserve(_request(f"o{n}", 1, ttl=timedelta(minutes=n + 1)), now=now)
    with _admin() as conn, conn.transaction():
        conn.execute("SET LOCAL enable_seqscan = off")
        plan = " ".join(
            row[0]
            for row in conn.execute(
                f'EXPLAIN SELECT id FROM "{schema}".reservations WHERE expires_at IS NOT NULL '
                "AND expires_at <= %s AND status IN ('active', 'partially_committed') "
                "ORDER BY expires_at, id LIMIT 10 FOR UPDATE SKIP LOCKED",
                (now + timedelta(minutes=5),),
            )
        )
    assert "reservations_due" in plan
    assert [r.id for r in stocked.expire_due(now + timedelta(minutes=3, seconds=30))] == [
        "o0",
        "o1",
        "o2",
    ]


# -- row locks -----------------------------------------------------------------------------


@pytest.fixture
def holder(schema: str) -> Iterator[Callable[[str, tuple[Any, ...]], None]]:
    """Lock rows from another session: ``hold(sql, params)``; rolled back after the test."""
    conn = _admin()
    conn.execute("BEGIN")

    def hold(sql: str, params: tuple[Any, ...]) -> None:
        assert conn.execute(sql.replace("{schema}", f'"{schema}"'), params).fetchall()

    yield hold
    conn.rollback()
    conn.close()


def test_skip_locked_reads_pass_rows_another_transaction_holds(
    stocked: Inventory, holder: Callable[[str, tuple[Any, ...]], None]
) -> None:
    stocked.add_location(Location(id="WH2"))
    stocked.receive("MUG", "WH2", 3, actor=STAFF)
    stocked.reserve(_request("due", 1, ttl=timedelta(seconds=1)), now=utc_now())
    stocked.reserve(_request("later", 1, ttl=timedelta(seconds=2)), now=utc_now())
    holder(
        "SELECT 1 FROM {schema}.stock WHERE sku = 'MUG' AND location = 'WH1' FOR UPDATE",
        (),
    )
    holder("SELECT 1 FROM {schema}.reservations WHERE id = 'due' FOR UPDATE", ())
    backend = _backend(stocked)
    with backend.transaction() as txn:
        assert list(txn.lock_stock([("MUG", "WH1")], skip_locked=True)) == []
        found = txn.lock_stock([("MUG", "WH1"), ("MUG", "WH2")], skip_locked=True)
        assert list(found) == [("MUG", "WH2")] and found[("MUG", "WH2")].on_hand == 3
        # a row this transaction holds is returned again
        assert list(txn.lock_stock([("MUG", "WH2")], skip_locked=True)) == [("MUG", "WH2")]
        assert txn.get_reservation("due", lock=True, skip_locked=True) is None
        assert txn.get_reservation("later", lock=True, skip_locked=True) is not None
        assert txn.due_reservations(utc_now() + timedelta(minutes=1), 10) == ["later"]
    # reads never wait for row locks
    assert stocked.available("MUG", location="WH1") == 8
    assert stocked.reservation("due").status is ReservationStatus.ACTIVE


@pytest.mark.parametrize("policy", [BackorderPolicy.WAIT, BackorderPolicy.SHIP_PARTIAL])
def test_a_receipt_serving_the_queue_never_waits_for_a_quota_row(
    url: str, schema: str, stocked: Inventory, policy: str
) -> None:
    """Serving backorders passes a request whose quota row another session holds."""
    stocked.set_quota("MUG", "web", 20)
    queued = stocked.reserve(_request("o1", 12, channel="web", backorder=policy))
    waiting = [(line.sku, line.quantity) for line in queued.waiting]
    held = [(line.sku, line.quantity) for line in queued.lines]
    other = _admin()
    try:
        other.execute("BEGIN")
        assert other.execute(
            f'SELECT 1 FROM "{schema}".stock_quotas WHERE sku = %s AND channel = %s FOR UPDATE',
            ("MUG", "web"),
        ).fetchall()
        # A wait of a second for any lock would fail the receipt with a StoreError.
        with open_inventory(url, timeout=1) as impatient:
            level = impatient.receive("MUG", "WH1", 5, actor=STAFF)
        assert level.available == 15 - sum(quantity for _, quantity in held)
        still = stocked.reservation("o1")
        assert [(line.sku, line.quantity) for line in still.waiting] == waiting
        assert [(line.sku, line.quantity) for line in still.lines] == held
        assert [r.id for r in stocked.backorders()] == ["o1"]
    finally:
        other.rollback()
        other.close()
    served = stocked.retry_backorders()
    assert [(r.id, r.waiting) for r in served] == [("o1", ())]
    assert stocked.quotas("MUG") == {("MUG", "web"): (20, 12)}
    assert stocked.available("MUG") == 3 and stocked.verify() == []


def test_a_lock_held_past_the_timeout_is_a_store_error(
    url: str, stocked: Inventory, holder: Callable[[str, tuple[Any, ...]], None]
) -> None:
    holder("SELECT 1 FROM {schema}.stock WHERE sku = 'MUG' FOR UPDATE", ())
    with open_inventory(url, timeout=1) as impatient:
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            impatient.reserve(_request("o1", 1))
        assert not isinstance(caught.value, psycopg.Error)
        assert time.monotonic() - started < 10
    assert stocked.available("MUG") == 10
    assert stocked.verify() == []


def test_an_idempotency_key_is_held_until_its_transaction_ends(stocked: Inventory) -> None:
    backend = _backend(stocked)
    inside = threading.Event()
    seen: list[tuple[str, str] | None] = []

    def second() -> None:
        with backend.transaction() as txn:
            seen.append(txn.get_idempotency("k"))

    with backend.transaction() as txn:
        assert txn.get_idempotency("k") is None
        waiter = threading.Thread(target=second)
        waiter.start()
        inside.wait(0.5)  # the second caller is now blocked on the key
        assert seen == []
        txn.put_idempotency("k", "fp", '{"first": true}', utc_now())
    waiter.join(10)
    assert seen == [("fp", '{"first": true}')]


def test_a_failed_statement_rolls_back_everything(stocked: Inventory, schema: str) -> None:
    backend = _backend(stocked)
    row = LedgerRow(
        0, utc_now(), "MUG", "WH1", "receive", 1, 0, 0, 0, None, None, None, "x", "y", None
    )

    def half_written() -> None:
        with backend.transaction() as txn:
            assert txn.change_stock("MUG", "WH1", on_hand=1) is not None
            txn.append_ledger([row])
            broken = txn.stock_rows("MUG")[("MUG", "WH1")]._replace(damaged=-1)
            txn.set_stock("MUG", "WH1", broken)  # violates CHECK (damaged >= 0)

    def write_while_reading() -> None:
        with backend.reading() as txn:
            txn.put_setting("x", "1")

    with pytest.raises(StoreError, match="damaged"):
        half_written()
    assert stocked.stock("MUG")[0].on_hand == 10
    assert len(stocked.ledger()) == 1
    with pytest.raises(StoreError, match="read-only"):
        write_while_reading()


def test_settings_round_trip(stocked: Inventory) -> None:
    backend = _backend(stocked)
    with backend.transaction() as txn:
        txn.put_setting("safety:MUG", '{"min": 2}')
        txn.put_setting("safety:TEA", '{"min": 1}')
        txn.put_setting("crossing:MUG", "[]")
        assert txn.get_setting("safety:MUG", lock=True) == '{"min": 2}'
    with backend.transaction() as txn:
        txn.put_setting("safety:TEA", None)
        txn.put_setting("safety:MUG", '{"min": 3}')
    with backend.reading() as txn:
        assert txn.settings("safety:") == {"safety:MUG": '{"min": 3}'}
        assert txn.get_setting("safety:TEA") is None


# -- the application role ------------------------------------------------------------------

#: What the README tells operators to grant the application role (besides the store's).
_GRANTS = (
    "GRANT USAGE ON SCHEMA {schema} TO {role}",
    "GRANT SELECT ON {schema}.ordercore_migrations TO {role}",
    "GRANT SELECT, INSERT, UPDATE ON {schema}.stock, {schema}.reservations, "
    "{schema}.stock_adjustments, {schema}.stock_transfers, {schema}.stock_locations, "
    "{schema}.outbox TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.stock_quotas, {schema}.stock_settings "
    "TO {role}",
    "GRANT SELECT, INSERT ON {schema}.stock_ledger, {schema}.stock_idempotency TO {role}",
    "GRANT SELECT, INSERT, DELETE ON {schema}.backorders TO {role}",
    "GRANT USAGE ON {schema}.stock_ledger_seq_seq, {schema}.backorders_seq_seq, "
    "{schema}.order_changes_id_seq TO {role}",
)


def _delete_ledger(inventory: Inventory, schema: str) -> None:
    with _backend(inventory).transaction() as txn:
        txn._conn.execute(f'DELETE FROM "{schema}".stock_ledger')


def test_the_application_role_needs_only_the_documented_privileges(url: str, schema: str) -> None:
    open_inventory(url).close()  # the owner creates the tables
    role = f"oc_app_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f"CREATE ROLE {role} NOLOGIN")
        for grant in _GRANTS:
            conn.execute(grant.format(schema=f'"{schema}"', role=role))
    try:
        with open_inventory(url, options=f"-c role={role}") as app:
            app.add_location(Location(id="WH1"))
            app.add_location(Location(id="WH2"))
            app.receive("MUG", "WH1", 6, actor=STAFF)
            app.set_quota("MUG", "web", 4)
            app.reserve(_request("o1", 2, channel="web"), idempotency_key="k1")
            app.reserve(_request("o2", 2, ttl=timedelta(seconds=1)), now=utc_now())
            app.reserve(
                ReservationRequest(
                    reservation_id="o3",
                    lines=(ReservationLine(sku="MUG", quantity=3, location="WH1"),),
                    backorder=BackorderPolicy.WAIT,
                )
            )
            app.commit("o1", {"MUG": 1})
            app.release("o1")
            assert [r.id for r in app.expire_due(utc_now() + timedelta(minutes=1))] == ["o2"]
            assert app.reservation("o3").status is ReservationStatus.ACTIVE  # served
            adjustment = app.propose_adjustment("MUG", "WH1", -1, reason="broken", actor=STAFF)
            app.approve_adjustment(adjustment.id, actor=MANAGER)
            transfer = app.transfer("MUG", "WH1", "WH2", 1, actor=STAFF)
            app.receive_transfer(transfer.id, actor=STAFF)
            assert app.verify() == []
            assert app.repair(dry_run=False) == []
            with _backend(app).transaction() as txn:
                txn.put_setting("safety:MUG", "{}")
                txn.put_setting("safety:MUG", None)
            with pytest.raises(StoreError, match="permission denied"):
                _delete_ledger(app, schema)
    finally:
        with _admin() as conn:
            conn.execute(f"DROP OWNED BY {role}")
            conn.execute(f"DROP ROLE {role}")


# -- R1 across processes -------------------------------------------------------------------


@pytest.fixture
def workers(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The module of the child processes' work, importable by name in spawned children."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    return importlib.import_module("postgres_inventory_workers")


def _run(target: Callable[..., None], args: list[tuple[Any, ...]], limit: float) -> dict[int, Any]:
    """Run ``target`` in one spawned process per argument tuple; return the reports by index.

    Each process gets its arguments, then its index, a barrier shared by all of
    them and a queue to put ``(index, report)`` on; a string report is a failure.
    """
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(args))
    results = context.Queue()
    processes = [
        context.Process(target=target, args=(*arg, index, barrier, results))
        for index, arg in enumerate(args)
    ]
    for process in processes:
        process.start()
    reported: dict[int, Any] = {}
    deadline = time.monotonic() + limit
    try:
        while len(reported) < len(processes):
            try:
                index, value = results.get(timeout=0.5)
            except queue.Empty:
                silent = [p.exitcode for i, p in enumerate(processes) if i not in reported]
                if any(code is not None for code in silent) or time.monotonic() > deadline:
                    pytest.fail(f"a worker process died or hung without reporting: {silent}")
            else:
                reported[index] = value
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():  # pragma: no cover - only when a worker hangs
                process.kill()
                process.join()
        results.close()
        results.join_thread()
    failed = {index: value for index, value in reported.items() if isinstance(value, str)}
    assert not failed, failed
    return reported


def test_r1_processes_never_oversell_a_hot_sku(
    url: str, opened: Callable[..., Inventory], workers: ModuleType
) -> None:
    """R1: N processes x M random reserve / commit / release / expire ops on one hot SKU.

    The test process samples the stock while they run: at every sample
    ``available >= 0`` and ``reserved + committed <= initial``, and every few
    samples ``verify()`` is clean (counters and ledger agree in every snapshot).
    At the end units committed + units left = initial and nothing is held.
    """
    count = int(os.environ.get("ORDERCORE_R1_PROCESSES", "4"))
    operations = int(os.environ.get("ORDERCORE_R1_OPS", "150"))
    initial = max(20, count * operations // 4)
    sku, location = "HOT", workers.LOCATION
    inventory = opened()
    inventory.add_location(Location(id=location))
    inventory.receive(sku, location, initial, actor=STAFF)
    sampler = opened(min_size=1, max_size=1)
    stop = threading.Event()
    samples: Counter[str] = Counter()
    violations: list[str] = []

    def sample() -> None:
        while not stop.is_set():
            level = sampler.stock(sku, location)[0]
            committed = initial - level.on_hand
            samples["samples"] += 1
            if level.available < 0 or level.reserved + committed > initial or committed < 0:
                violations.append(repr(level))
            if samples["samples"] % 10 == 0:
                drifts = sampler.verify()
                samples["verified"] += 1
                if drifts:
                    violations.append(repr(drifts))
            time.sleep(0.002)

    thread = threading.Thread(target=sample)
    thread.start()
    started = time.monotonic()
    try:
        reports = _run(
            workers.r1_worker,
            [(url, sku, operations, 1000 + n) for n in range(count)],
            limit=120 + operations * count * 0.05,
        )
    finally:
        stop.set()
        thread.join()
    elapsed = time.monotonic() - started
    totals: Counter[str] = sum(reports.values(), Counter())
    leftover = inventory.expire_due(utc_now() + timedelta(days=1))
    level = inventory.stock(sku, location)[0]
    committed_in_ledger = -sum(
        entry.on_hand
        for entry in inventory.ledger(sku=sku, limit=10_000_000)
        if entry.kind is EntryKind.COMMIT
    )
    print(
        f"\nR1 PostgreSQL: {count} processes x {operations} ops in {elapsed:.1f} s; "
        f"initial {initial}; {dict(sorted(totals.items()))}; {dict(samples)}; "
        f"final {level}"
    )
    assert violations == []
    assert samples["samples"] > 0 and samples["verified"] > 0
    assert leftover == []
    assert level.reserved == 0 and level.in_transfer == 0
    assert totals["committed_units"] + level.on_hand == initial
    assert committed_in_ledger == totals["committed_units"]
    assert totals["refused"] > 0  # the stock did run out
    assert totals["expired"] > 0  # sweeps raced the owners...
    assert totals["lost_to_expiry"] == totals["expired"]  # ...and each owner saw it once
    assert inventory.verify() == []
