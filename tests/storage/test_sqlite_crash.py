"""Crash recovery: a SQLite writer killed with SIGKILL at random points leaves a consistent store.

After every kill the file passes SQLite's integrity check and ordercore's own: each order's
row agrees with its body and its versions 1..N have exactly one change-log entry each, so every
committed change has exactly one outbox message and nothing half-written survives. Set
ORDERCORE_CRASH_TRIALS (e.g. 200) for the long battery.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from ordercore.storage import SQLiteStore

TRIALS = int(os.environ.get("ORDERCORE_CRASH_TRIALS", "12"))

WRITER = textwrap.dedent(
    """
    import random, sys
    from ordercore.errors import DuplicateOrder, VersionConflict
    from ordercore.schema import Actor, OrderEvent, OrderStatus
    from ordercore.storage import SQLiteStore
    from ordercore.testing import OrderFactory

    path, seed = sys.argv[1], int(sys.argv[2])
    rnd = random.Random(seed)
    factory = OrderFactory(seed=seed)
    store = SQLiteStore(path, synchronous="full")
    print("ready", flush=True)
    while True:
        try:
            store.put_many(factory.orders(rnd.randrange(1, 40)))
        except DuplicateOrder:
            pass
        for order in store.query(limit=20, status=["paid", "allocated", "packed"]):
            status = rnd.choice([OrderStatus.ALLOCATED, OrderStatus.PACKED, OrderStatus.SHIPPED])
            try:
                store.update(order.evolve(status=status, seller_note=f"n{rnd.random()}"))
            except VersionConflict:
                pass
            note = OrderEvent(order_id=order.id, type="order.noted", actor=Actor.system())
            store.append_events(order.id, [note])
        batch = store.claim_outbox(25, lease_seconds=0)
        store.ack_outbox([m.id for m in batch[: len(batch) // 2]])
    """
)


def _run_and_kill(path: Path, seed: int, rnd: random.Random) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as writer:
        assert writer.stdout is not None and writer.stderr is not None
        ready = writer.stdout.readline()
        if ready.strip() != "ready":
            writer.kill()
            pytest.fail(f"writer did not start: {writer.stderr.read()}")
        time.sleep(rnd.uniform(0.05, 0.6))
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
        if writer.returncode != -signal.SIGKILL:
            pytest.fail(f"writer ended by itself ({writer.returncode}): {writer.stderr.read()}")


def test_sigkill_at_random_points_never_leaves_half_written_state(tmp_path: Path) -> None:
    """R4 (store part): after each kill -9 the store is intact and has made progress."""
    path = tmp_path / "orders.db"
    rnd = random.Random(4)
    counts = []
    for trial in range(TRIALS):
        _run_and_kill(path, seed=1000 + trial, rnd=rnd)
        with SQLiteStore(path) as store:
            assert store.integrity_check() == [], f"after kill {trial + 1}"
            counts.append(store.count())
            assert store.outbox_pending() >= 0
    assert counts[-1] > counts[0] > 0, counts
