"""Crash recovery of the ledger (R4) on PostgreSQL: an inventory writer killed with SIGKILL.

The writer and the checks are the SQLite trials' (``tests/inventory/inventory_crash_trials.py``):
the writer mixes receipts, reservations (backordered, shipped partial, with two lines of one
SKU), ``reserve_many`` batches, full and partial commits, releases and expiry sweeps in one
scratch schema, reports each effect only after the inventory returned, and is killed at a
random moment; the server then aborts the killed session's open transaction. After every kill:

- the server has ended the writer's sessions, and no client holds a lock on the schema's tables;
- ``verify()`` is clean (counters = ledger);
- the outbox holds exactly one ``stock`` message per availability change the ledger records,
  with the ledger's counters and cause, versions increasing per SKU and location;
- no reservation is half-written (ledger deltas per reservation = what its record holds and
  committed; ``reserved`` counters = units held by the reservations; backorders are waiting);
- every acknowledged effect is stored, and a refused request left nothing.

The checks read the ledger, the outbox and the reservation ids from a SQLite file: a copy of
the schema's rows in the shape the SQLite trials read (:func:`snapshot`), taken in one
snapshot once the writer is gone. Records, counters and backorders come from the PostgreSQL
inventory itself. Set ORDERCORE_INVENTORY_PG_CRASH_TRIALS (50 in ``nox -s battery``) for the
long battery.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
import pytest

from ordercore.inventory import (
    Inventory,
    Location,
    ReservationLine,
    ReservationRequest,
    open_inventory,
)
from ordercore.schema import Actor, ActorKind

URL = os.environ.get("ORDERCORE_TEST_POSTGRES_URL", "")
CRASH_TRIALS = (
    Path(__file__).resolve().parents[3] / "tests" / "inventory" / "inventory_crash_trials.py"
)
TRIALS = int(os.environ.get("ORDERCORE_INVENTORY_PG_CRASH_TRIALS", "3"))
# How long the server may take to end the sessions of a killed client.
SESSION_GRACE = 10.0
# How long the checks' own inventory waits for a lock before failing.
LOCK_TIMEOUT = 5.0
STAFF = Actor(kind=ActorKind.PERSON, id="li.wei")
HOUR_US = 3_600_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not URL,
        reason="set ORDERCORE_TEST_POSTGRES_URL to run the PostgreSQL inventory crash trials "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test)",
    ),
]


def _load_crash_trials() -> ModuleType:
    """The SQLite inventory's crash-trial helpers, loaded by path (they are not a package)."""
    known = sys.modules.get("inventory_crash_trials")
    if known is not None:
        return known
    spec = importlib.util.spec_from_file_location("inventory_crash_trials", CRASH_TRIALS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["inventory_crash_trials"] = module
    spec.loader.exec_module(module)
    return module


if not CRASH_TRIALS.exists():
    pytest.skip(
        f"the crash trials need the ordercore repository's tests/inventory/{CRASH_TRIALS.name}",
        allow_module_level=True,
    )
crash = _load_crash_trials()


def _libpq_url(url: str) -> str:
    """The URL as libpq takes it (no ``+driver`` in the scheme)."""
    scheme, _, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}://{rest}"


def _url(schema: str, **params: str) -> str:
    """The inventory URL of the test database's ``schema``, with more options."""
    options = "&".join(f"{key}={value}" for key, value in {"schema": schema, **params}.items())
    return f"{URL}{'&' if '?' in URL else '?'}{options}"


def _application(schema: str) -> str:
    return f"oc-inv-crash-{schema}"


def _writer_sessions(admin: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    """Wait for the server to end the killed writer's sessions; return those still there."""
    deadline = time.monotonic() + SESSION_GRACE
    while True:
        rows = admin.execute(
            "SELECT pid, state, backend_xid IS NOT NULL, query FROM pg_stat_activity "
            "WHERE application_name = %s",
            (_application(schema),),
        ).fetchall()
        if not rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.02)


def _locks_held(admin: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    """Locks that client sessions (other than ``admin``) hold on the schema's relations."""
    return admin.execute(
        "SELECT l.pid, c.relname, l.mode, l.granted FROM pg_locks l "
        "JOIN pg_class c ON c.oid = l.relation "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE n.nspname = %s AND a.backend_type = 'client backend' "
        "AND l.pid <> pg_backend_pid()",
        (schema,),
    ).fetchall()


def _microseconds(at: datetime) -> int:
    """A ledger time as the SQLite ledger keeps it: microseconds since the epoch."""
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def snapshot(admin: psycopg.Connection[Any], schema: str, path: Path) -> Path:
    """Copy what the checks read of ``schema`` into a new SQLite file at ``path``.

    The ledger, the ``stock`` messages and the reservation ids, read in one
    ``REPEATABLE READ`` transaction, go into tables named and shaped as in the SQLite
    inventory (``ordercore_stock_ledger``, ``ordercore_outbox``, ``ordercore_reservations``),
    so the SQLite trials' checks compare them unchanged.
    """
    q = f'"{schema}"'
    with admin.transaction():
        admin.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        ledger = admin.execute(
            "SELECT seq, at, sku, location, kind, on_hand, reserved, in_transfer, damaged, "
            f"reservation_id FROM {q}.stock_ledger ORDER BY seq"
        ).fetchall()
        outbox = admin.execute(
            "SELECT id, stream, aggregate_id, aggregate_version, payload "
            f"FROM {q}.outbox WHERE stream = 'stock' ORDER BY id"
        ).fetchall()
        reservations = admin.execute(f"SELECT id FROM {q}.reservations ORDER BY id").fetchall()
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE ordercore_stock_ledger (seq INTEGER PRIMARY KEY, at INTEGER, sku TEXT, "
            "location TEXT, kind TEXT, on_hand INTEGER, reserved INTEGER, in_transfer INTEGER, "
            "damaged INTEGER, reservation_id TEXT);"
            "CREATE TABLE ordercore_outbox (id INTEGER PRIMARY KEY, stream TEXT, "
            "aggregate_id TEXT, aggregate_version INTEGER, payload TEXT);"
            "CREATE TABLE ordercore_reservations (id TEXT PRIMARY KEY);"
        )
        db.executemany(
            "INSERT INTO ordercore_stock_ledger VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(row[0], _microseconds(row[1]), *row[2:]) for row in ledger],
        )
        db.executemany("INSERT INTO ordercore_outbox VALUES (?, ?, ?, ?, ?)", outbox)
        db.executemany("INSERT INTO ordercore_reservations VALUES (?)", reservations)
    db.close()
    return path


def problems(
    inventory: Inventory, admin: psycopg.Connection[Any], schema: str, path: Path, acks: Any
) -> list[str]:
    """Everything the SQLite trials' checks find wrong with ``schema`` (empty: all is well)."""
    found: list[str] = crash.problems(inventory, snapshot(admin, schema, path), acks)
    return found


def test_sigkill_at_random_points_leaves_ledger_counters_and_outbox_whole(
    schema: str, tmp_path: Path
) -> None:
    """R4 (PostgreSQL): after each kill -9 the ledger, counters, outbox and records agree."""
    # Create the schema first, so every writer starts on a migrated one.
    open_inventory(_url(schema)).close()
    rnd = random.Random(8)
    acks = crash.Acks()
    productive = 0
    entries = 0
    start_us = int(time.time() * 1_000_000)
    began = time.perf_counter()
    writer_url = _url(schema, application_name=_application(schema), min_size="1", max_size="2")
    with psycopg.connect(_libpq_url(URL), autocommit=True) as admin:
        for trial in range(TRIALS):
            after = f"after kill {trial + 1}"
            # Each writer's clock starts an hour after the last one's: earlier reservations
            # are due when it sweeps.
            text = crash.kill_at_random(
                writer_url,
                100 + trial,
                tmp_path / f"acks-{trial}",
                start_us + trial * HOUR_US,
                rnd,
                longest=0.8,
            )
            productive += acks.read(text) > 0
            left = _writer_sessions(admin, schema)
            assert left == [], f"{after}: sessions of the killed writer remain: {left}"
            assert _locks_held(admin, schema) == [], after
            with open_inventory(
                _url(schema, min_size="1", max_size="1", timeout=str(LOCK_TIMEOUT))
            ) as inventory:
                found = problems(inventory, admin, schema, tmp_path / f"snapshot-{trial}.db", acks)
                assert found == [], after
                entries = len(inventory.ledger(limit=10**9))
    assert acks.reserved, "no writer had a reservation acknowledged"
    assert acks.committed and acks.received, "no writer had a commit and a receipt acknowledged"
    assert productive >= TRIALS // 2, f"only {productive} of {TRIALS} writers acknowledged anything"
    # Tried, then neither reserved nor refused: the kill came while the request was under way.
    cut = acks.tried - acks.reserved - acks.refused
    print(
        f"\nR4 PostgreSQL inventory: {TRIALS} kills checked in {time.perf_counter() - began:.1f} s"
        f" ({entries} ledger entries; acknowledged: {len(acks.received)} receipts,"
        f" {len(acks.reserved)} reservations, {len(acks.refused)} refusals,"
        f" {len(acks.committed)} commits, {len(acks.released)} releases,"
        f" {len(acks.expired)} expiries; {len(cut)} reservations cut short by a kill)"
    )


# -- the checks read what the schema holds ---------------------------------------------------


@pytest.fixture
def stocked(schema: str) -> Iterator[tuple[Inventory, psycopg.Connection[Any]]]:
    """A small history in ``schema``: receipts, a reservation, a commit, a release."""
    inventory = open_inventory(_url(schema), clock=crash.stepping_clock(10**15))
    inventory.add_location(Location(id="WH1"))
    inventory.receive("MUG", "WH1", 5, actor=STAFF, ref="in-1")
    for rid in ("o1", "o2"):
        inventory.reserve(
            ReservationRequest(
                reservation_id=rid, lines=[ReservationLine(sku="MUG", quantity=2, location="WH1")]
            )
        )
    inventory.commit("o1")
    inventory.release("o2")
    with psycopg.connect(_libpq_url(URL), autocommit=True) as admin:
        yield inventory, admin
    inventory.close()


def _acks() -> Any:
    acks = crash.Acks()
    acks.read(
        "trying o1\nreserved o1\ntrying o2\nreserved o2\ncommitted o1\nreleased o2\n"
        "received in-1 MUG WH1 5\n"
    )
    return acks


class TestProblems:
    """Damage in the PostgreSQL schema reaches the checks."""

    def test_an_intact_history_passes(
        self, stocked: tuple[Inventory, psycopg.Connection[Any]], schema: str, tmp_path: Path
    ) -> None:
        inventory, admin = stocked
        assert problems(inventory, admin, schema, tmp_path / "s.db", _acks()) == []

    def test_a_lost_stock_message_is_reported(
        self, stocked: tuple[Inventory, psycopg.Connection[Any]], schema: str, tmp_path: Path
    ) -> None:
        inventory, admin = stocked
        admin.execute(
            f'DELETE FROM "{schema}".outbox WHERE id = '
            f"(SELECT max(id) FROM \"{schema}\".outbox WHERE stream = 'stock')"
        )
        found = problems(inventory, admin, schema, tmp_path / "s.db", _acks())
        assert len(found) == 1 and found[0].startswith("MUG@WH1: 3 stock messages for 4 "), found

    def test_a_counter_off_its_ledger_is_reported(
        self, stocked: tuple[Inventory, psycopg.Connection[Any]], schema: str, tmp_path: Path
    ) -> None:
        inventory, admin = stocked
        admin.execute(f'UPDATE "{schema}".stock SET reserved = reserved + 1')
        found = problems(inventory, admin, schema, tmp_path / "s.db", _acks())
        assert found[0].startswith("drift: "), found
        assert "MUG@WH1: reserved 1, reservations hold 0" in found

    def test_a_reservation_without_its_record_is_reported(
        self, stocked: tuple[Inventory, psycopg.Connection[Any]], schema: str, tmp_path: Path
    ) -> None:
        inventory, admin = stocked
        admin.execute(f"DELETE FROM \"{schema}\".reservations WHERE id = 'o2'")
        found = problems(inventory, admin, schema, tmp_path / "s.db", _acks())
        assert found == [
            "reservation o2: in the ledger, not stored",
            "reservation o2: acknowledged, not stored",
        ]

    def test_an_acknowledged_receipt_that_is_missing_is_reported(
        self, stocked: tuple[Inventory, psycopg.Connection[Any]], schema: str, tmp_path: Path
    ) -> None:
        inventory, admin = stocked
        acks = _acks()
        acks.read("received in-9 TEA WH1 3\nrefused o1\n")
        found = problems(inventory, admin, schema, tmp_path / "s.db", acks)
        assert found == [
            "reservation o1: refused, yet stored",
            "receipt in-9: acknowledged ('TEA', 'WH1', 3), ledger None",
        ]
