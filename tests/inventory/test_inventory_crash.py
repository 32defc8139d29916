"""Crash recovery of the ledger (R4): a SQLite inventory writer killed with SIGKILL loses nothing.

The writer (``inventory_crash_trials.py``) mixes receipts, reservations (backordered, shipped
partial, with two lines of one SKU), ``reserve_many`` batches, commits, releases and expiry
sweeps, and reports each effect only after the inventory returned. After every kill the file
passes SQLite's integrity check, ``verify()`` is clean (counters = ledger), the outbox holds
exactly one stock message per availability change recorded in the ledger, with the ledger's
counters, no reservation is half-written, and every acknowledged effect is there. A file takes
``KILLS_PER_FILE`` kills, then the next trials start a new one. Set
ORDERCORE_INVENTORY_CRASH_TRIALS (200 in ``nox -s battery``) for the long battery.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ordercore.inventory import (
    Inventory,
    Location,
    ReservationLine,
    ReservationRequest,
    open_inventory,
)
from ordercore.schema import Actor, ActorKind
from ordercore.storage import SQLiteStore

CRASH_TRIALS = Path(__file__).with_name("inventory_crash_trials.py")


def _load_crash_trials() -> ModuleType:
    """The crash-trial helpers beside this file, loaded by path (it is not a package)."""
    known = sys.modules.get("inventory_crash_trials")
    if known is not None:
        return known
    spec = importlib.util.spec_from_file_location("inventory_crash_trials", CRASH_TRIALS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["inventory_crash_trials"] = module
    spec.loader.exec_module(module)
    return module


crash = _load_crash_trials()

TRIALS = int(os.environ.get("ORDERCORE_INVENTORY_CRASH_TRIALS", "4"))
# Each file takes this many kills (checked in full after every one), then a new file starts.
KILLS_PER_FILE = 25
STAFF = Actor(kind=ActorKind.PERSON, id="li.wei")
HOUR_US = 3_600_000_000


def test_sigkill_at_random_points_leaves_ledger_counters_and_outbox_whole(
    tmp_path: Path,
) -> None:
    """R4 (SQLite): after each kill -9 the ledger, counters, outbox and records agree."""
    rnd = random.Random(8)
    productive = 0
    start_us = int(time.time() * 1_000_000)
    began = time.perf_counter()
    for first in range(0, TRIALS, KILLS_PER_FILE):
        path = tmp_path / f"stock-{first}.db"
        acks = crash.Acks()
        for trial in range(first, min(first + KILLS_PER_FILE, TRIALS)):
            after = f"after kill {trial + 1}"
            # Each writer's clock starts an hour after the last one's: earlier reservations
            # are due when it sweeps.
            text = crash.kill_at_random(
                f"sqlite:///{path}",
                100 + trial,
                tmp_path / f"acks-{trial}",
                start_us + trial * HOUR_US,
                rnd,
            )
            productive += acks.read(text) > 0
            with SQLiteStore(path) as store:
                assert store.integrity_check() == [], after
            with open_inventory(f"sqlite:///{path}") as inventory:
                assert crash.problems(inventory, path, acks) == [], after
        assert acks.reserved, f"no writer on {path.name} had a reservation acknowledged"
        assert acks.committed and acks.received, path.name
    assert productive >= TRIALS // 2, f"only {productive} of {TRIALS} writers acknowledged anything"
    print(f"\nR4 SQLite inventory: {TRIALS} kills checked in {time.perf_counter() - began:.1f} s")


# -- the checks report what they must --------------------------------------------------------


@pytest.fixture
def stocked(tmp_path: Path) -> Iterator[tuple[Inventory, Path]]:
    """A small history: receipts, a reservation, a commit, a release."""
    path = tmp_path / "stock.db"
    inventory = open_inventory(f"sqlite:///{path}", clock=crash.stepping_clock(10**15))
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
    yield inventory, path
    inventory.close()


def _acks() -> Any:
    acks = crash.Acks()
    acks.read(
        "trying o1\nreserved o1\ntrying o2\nreserved o2\ncommitted o1\nreleased o2\n"
        "received in-1 MUG WH1 5\n"
    )
    return acks


def _execute(path: Path, sql: str, *params: object) -> None:
    with sqlite3.connect(path) as db:
        db.execute(sql, params)


class TestProblems:
    """Each kind of damage a kill could leave is reported."""

    def test_an_intact_history_passes(self, stocked: tuple[Inventory, Path]) -> None:
        inventory, path = stocked
        assert crash.problems(inventory, path, _acks()) == []

    def test_a_lost_stock_message_is_reported(self, stocked: tuple[Inventory, Path]) -> None:
        inventory, path = stocked
        _execute(
            path,
            "DELETE FROM ordercore_outbox WHERE id = (SELECT max(id) FROM ordercore_outbox)",
        )
        found = crash.problems(inventory, path, _acks())
        assert len(found) == 1 and found[0].startswith("MUG@WH1: 3 stock messages for 4 ")

    def test_a_repeated_stock_message_is_reported(self, stocked: tuple[Inventory, Path]) -> None:
        inventory, path = stocked
        _execute(
            path,
            "INSERT INTO ordercore_outbox (stream, aggregate_id, aggregate_version, event_id, "
            "topic, payload, created_at) SELECT stream, aggregate_id, aggregate_version + 10, "
            "'again', topic, payload, created_at FROM ordercore_outbox WHERE id = "
            "(SELECT max(id) FROM ordercore_outbox)",
        )
        found = crash.problems(inventory, path, _acks())
        assert len(found) == 1 and found[0].startswith("MUG@WH1: 5 stock messages for 4 ")

    def test_a_message_with_other_counters_is_reported(
        self, stocked: tuple[Inventory, Path]
    ) -> None:
        inventory, path = stocked
        with sqlite3.connect(path) as db:
            (mid, payload), *_ = db.execute(
                "SELECT id, payload FROM ordercore_outbox ORDER BY id DESC"
            ).fetchall()
            body = json.loads(payload)
            body["reserved"] += 1
            db.execute(
                "UPDATE ordercore_outbox SET payload = ? WHERE id = ?", (json.dumps(body), mid)
            )
        found = crash.problems(inventory, path, _acks())
        assert any("message says available" in problem for problem in found), found
        assert any("first difference at #3" in problem for problem in found), found

    def test_a_counter_off_its_ledger_is_reported(self, stocked: tuple[Inventory, Path]) -> None:
        inventory, path = stocked
        _execute(path, "UPDATE ordercore_stock SET reserved = reserved + 1")
        found = crash.problems(inventory, path, _acks())
        assert found[0].startswith("drift: ")
        assert "MUG@WH1: reserved 1, reservations hold 0" in found

    def test_a_reservation_without_its_record_is_reported(
        self, stocked: tuple[Inventory, Path]
    ) -> None:
        inventory, path = stocked
        _execute(path, "DELETE FROM ordercore_reservations WHERE id = 'o2'")
        found = crash.problems(inventory, path, _acks())
        assert found == [
            "reservation o2: in the ledger, not stored",
            "reservation o2: acknowledged, not stored",
        ]

    def test_a_record_without_its_ledger_entries_is_reported(
        self, stocked: tuple[Inventory, Path]
    ) -> None:
        inventory, path = stocked
        _execute(
            path,
            "DELETE FROM ordercore_stock_ledger WHERE reservation_id = 'o1' AND kind = 'commit'",
        )
        found = crash.problems(inventory, path, _acks())
        assert (
            "reservation o1 (committed): holds 0 and committed 2, the ledger says 2 and 0" in found
        )

    def test_an_acknowledged_receipt_that_is_missing_is_reported(
        self, stocked: tuple[Inventory, Path]
    ) -> None:
        inventory, path = stocked
        acks = _acks()
        acks.read("received in-9 TEA WH1 3\nrefused o1\n")
        found = crash.problems(inventory, path, acks)
        assert found == [
            "reservation o1: refused, yet stored",
            "receipt in-9: acknowledged ('TEA', 'WH1', 3), ledger None",
        ]

    def test_a_torn_last_line_is_not_an_acknowledgement(self) -> None:
        acks = crash.Acks()
        assert acks.read("trying r1\nreserved r1\nreserved r2") == 1
        assert acks.reserved == {"r1"} and acks.tried == {"r1"}
        with pytest.raises(ValueError, match="not an acknowledgement line"):
            acks.read("shipped r1\n")
