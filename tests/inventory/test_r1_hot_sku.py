"""R1 (hot-SKU race) and R9 across processes, on one SQLite file.

R1: ORDERCORE_R1_PROCESSES worker processes (default 4) each run ORDERCORE_R1_OPS
(default 200) reserve / commit / release / expire calls on one SKU at one location, each
through its own ``open_inventory("sqlite:///...")``; ``nox -s battery`` runs 8 x 2,500.
While they run, this process samples the counters and the ledger in one read snapshot
after another: at every sample no unit is oversold (``available >= 0``; units reserved plus
units shipped never exceed the units received) and the counters equal the ledger's sums.
At the end every reservation is committed, released or expired, the units the workers
shipped plus the units on hand equal the units received, and ``verify()`` is clean.

R9 (processes): workers using one idempotency key at the same moment get one reservation.
The conformance suite covers R2 (property test) and R9 within one process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from ordercore.inventory import EntryKind, Inventory, Location, ReservationStatus, open_inventory
from ordercore.schema import Actor, ActorKind
from ordercore.timestamps import utc_now

WORKERS = Path(__file__).with_name("inventory_workers.py")
PROCESSES = int(os.environ.get("ORDERCORE_R1_PROCESSES", "4"))
OPERATIONS = int(os.environ.get("ORDERCORE_R1_OPS", "200"))
STAFF = Actor(kind=ActorKind.PERSON, id="li.wei")
HOT, WH = "HOT", "WH1"


@contextmanager
def started(*commands: list[str]) -> Iterator[list[subprocess.Popen[str]]]:
    """Start worker processes, wait until each is ready, then let them all go at once."""
    workers = [
        subprocess.Popen(
            [sys.executable, str(WORKERS), *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in commands
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline().strip()
            if line != "ready":
                raise AssertionError(f"worker did not start: {line} {worker.communicate()[1]}")
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        yield workers
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
            worker.wait(timeout=60)


def results(workers: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    """Each worker's JSON report (after it ended)."""
    reports = []
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, f"worker failed: {err[-4000:]}"
        reports.append(json.loads(out.strip().splitlines()[-1]))
    return reports


def sample(inventory: Inventory, initial: int) -> None:
    """One consistent snapshot: nothing oversold, counters equal to the ledger's sums."""
    with inventory.backend.reading() as txn:
        row = txn.stock_rows(HOT, WH)[(HOT, WH)]
        totals = txn.ledger_totals()[(HOT, WH)]
    shipped = initial - row.on_hand
    assert row.available >= 0, f"oversold: {row}"
    assert row.reserved >= 0 and shipped >= 0, row
    assert row.reserved + shipped <= initial, f"more held and shipped than received: {row}"
    assert (row.on_hand, row.reserved, row.in_transfer, row.damaged) == totals, (row, totals)


def test_r1_processes_racing_for_one_hot_sku_never_oversell(tmp_path: Path) -> None:
    """R1: worker processes on one SQLite file; 0 oversell at every sample, units conserved."""
    url = f"sqlite:///{tmp_path}/hot.db"
    # Less stock than the workers would ship, so it runs out and refusals happen.
    initial = max(PROCESSES * OPERATIONS // 6, 10)
    inventory = open_inventory(url)
    try:
        inventory.add_location(Location(id=WH))
        inventory.receive(HOT, WH, initial, actor=STAFF, reason="opening count")
        commands = [["hot", url, str(n), str(OPERATIONS)] for n in range(PROCESSES)]
        begin = time.perf_counter()
        samples = 0
        with started(*commands) as workers:
            while any(worker.poll() is None for worker in workers):
                sample(inventory, initial)
                samples += 1
                time.sleep(0.002)
            reports = results(workers)
        elapsed = time.perf_counter() - begin
        sample(inventory, initial)
        # Nothing is held forever: expire what the workers left (every request has a TTL),
        # and release the partially committed reservations (a commit ends the TTL).
        while inventory.expire_due(now=utc_now() + timedelta(days=1), limit=10_000):
            pass
        for rid in (rid for report in reports for rid in report["open"]):
            if inventory.reservation(rid).status is ReservationStatus.PARTIALLY_COMMITTED:
                inventory.release(rid)
        level = inventory.stock(HOT, WH)[0]
        shipped = sum(report["committed"] for report in reports)
        assert level.reserved == 0 and level.available == level.on_hand
        assert shipped + level.on_hand == initial, (shipped, level)
        assert inventory.verify() == []
        entries = inventory.ledger(limit=10_000_000)
        assert -sum(e.on_hand for e in entries if e.kind is EntryKind.COMMIT) == shipped
        reserved_ids = {e.reservation_id for e in entries if e.kind is EntryKind.RESERVE}
        assert len(reserved_ids) == sum(report["reserved"] for report in reports)
        assert samples > 0
    finally:
        inventory.close()
    operations = PROCESSES * OPERATIONS
    print(
        f"\nR1 SQLite: {PROCESSES} processes x {OPERATIONS} operations in {elapsed:.1f} s "
        f"({operations / elapsed:.0f} operations/s), {samples} samples, 0 oversold; "
        f"initial {initial} = shipped {shipped} + remaining {level.on_hand}; "
        + ", ".join(
            f"{name} {sum(report[name] for report in reports)}"
            for name in ("reserved", "refused", "commits", "released", "expired", "lost_races")
        )
    )
    assert sum(report["refused"] for report in reports) > 0, "the stock never ran out"


def test_r9_processes_using_one_key_at_once_get_one_reservation(tmp_path: Path) -> None:
    """R9: concurrent use of one idempotency key from processes reserves once."""
    url = f"sqlite:///{tmp_path}/key.db"
    inventory = open_inventory(url)
    try:
        inventory.add_location(Location(id=WH))
        inventory.receive(HOT, WH, 10, actor=STAFF)
        with started(*(["key", url] for _ in range(PROCESSES))) as workers:
            reports = results(workers)
        assert reports == [{"id": "burst", "version": 1, "held": 4}] * PROCESSES
        assert inventory.stock(HOT, WH)[0].reserved == 4
        reserves = [e for e in inventory.ledger() if e.kind is EntryKind.RESERVE]
        assert [e.reservation_id for e in reserves] == ["burst"]
        assert inventory.verify() == []
    finally:
        inventory.close()
