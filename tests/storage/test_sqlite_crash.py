"""Crash recovery (R4): a SQLite writer killed with SIGKILL at random points loses nothing.

The writer (``crash_trials.py``) mixes puts, ``put_many`` batches, updates, notes and outbox
acknowledgements, and reports each write only after the store returned from it. After every
kill the file passes SQLite's integrity check and ordercore's own, every acknowledged order is
stored at its acknowledged version with the acknowledged content, each of its versions has
exactly one change-log entry (one outbox message per committed change), and no acknowledged
outbox message is handed out again; a key recorded for a write that was not acknowledged
points at a stored order. A file takes 50 kills, then the next trials start a new one. Set
ORDERCORE_CRASH_TRIALS (e.g. 200, as ``nox -s battery`` does) for the long battery.
"""

from __future__ import annotations

import importlib.util
import os
import random
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from ordercore.schema import Order, OrderEvent
from ordercore.storage import IdempotencyRecord, SQLiteStore
from ordercore.testing import OrderFactory

CRASH_TRIALS = Path(__file__).with_name("crash_trials.py")


def _load_crash_trials() -> ModuleType:
    """The crash-trial helpers in this directory, loaded by path.

    pytest may run this file under the repository's configuration or the plugin's, so the
    helpers' directory is not necessarily on ``sys.path``.
    """
    known = sys.modules.get("crash_trials")
    if known is not None:
        return known
    spec = importlib.util.spec_from_file_location("crash_trials", CRASH_TRIALS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["crash_trials"] = module
    spec.loader.exec_module(module)
    return module


crash = _load_crash_trials()

TRIALS = int(os.environ.get("ORDERCORE_CRASH_TRIALS", "12"))
# Each file takes this many kills (checked in full after every one), then a new file starts,
# so the check after a kill stays proportional to one file's orders, not to all trials'.
KILLS_PER_FILE = 50


def test_sigkill_at_random_points_loses_no_acknowledged_write(tmp_path: Path) -> None:
    """R4 (SQLite): after each kill -9 every acknowledged write is there, none half-written."""
    rnd = random.Random(4)
    productive = 0
    for first in range(0, TRIALS, KILLS_PER_FILE):
        path = tmp_path / f"orders-{first}.db"
        ledger = crash.Ledger()
        counts: list[int] = []
        for trial in range(first, min(first + KILLS_PER_FILE, TRIALS)):
            after = f"after kill {trial + 1}"
            acks = crash.kill_at_random(
                f"sqlite:///{path}", 1000 + trial, tmp_path / f"acks-{trial}", rnd
            )
            productive += ledger.read(acks) > 0
            with SQLiteStore(path) as store:
                assert store.integrity_check() == [], after
                assert crash.check_acknowledged(store, ledger) == [], after
                assert crash.redelivered(store, ledger) == [], after
                counts.append(store.count())
        assert counts == sorted(counts), f"orders disappeared: {counts}"
        assert len(ledger.orders) > 0, f"no writer on {path.name} had a write acknowledged"
    assert productive >= TRIALS // 2, f"only {productive} of {TRIALS} writers acknowledged anything"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    with SQLiteStore(tmp_path / "orders.db") as opened:
        yield opened


class DamagedChangeLog:
    """A store read as if one version's change-log entry were lost or written twice."""

    def __init__(self, store: SQLiteStore, *, lost: int = 0, repeated: int = 0) -> None:
        self.store = store
        self.lost = lost
        self.repeated = repeated

    def get(self, order_id: str) -> Order:
        return self.store.get(order_id)

    def recall(self, key: str) -> IdempotencyRecord | None:
        return self.store.recall(key)

    def events(self, order_id: str) -> list[OrderEvent]:
        events = []
        for event in self.store.events(order_id):
            if event.order_version != self.lost:
                events.append(event)
            if event.order_version == self.repeated:
                events.append(event)
        return events


class TestCheckAcknowledged:
    """The check after a kill reports every kind of lost or half-written write."""

    def test_intact_acknowledged_writes_pass(self, store: SQLiteStore) -> None:
        """Puts, a batch and an update, all acknowledged and all there: no problem."""
        factory = OrderFactory(seed=1)
        ledger = crash.Ledger()
        first = store.put(factory.order(), idempotency_key="put-1")
        ledger.note(first, "put-1")
        batch = list(factory.orders(3))
        store.put_many(batch)
        ledger.read("".join(crash.order_ack(order, 1) for order in batch))
        ledger.note(store.update(first.evolve(seller_note="packed")))
        assert crash.check_acknowledged(store, ledger) == []

    def test_an_acknowledged_order_not_in_the_store_is_reported(self, store: SQLiteStore) -> None:
        """An acknowledgement for an order the store does not have is a lost write."""
        order = OrderFactory(seed=2).order()
        ledger = crash.Ledger()
        ledger.read(crash.order_ack(order, 1))
        assert crash.check_acknowledged(store, ledger) == [
            f"order {order.id}: acknowledged at version 1, not stored"
        ]

    def test_an_acknowledged_update_that_is_missing_is_reported(self, store: SQLiteStore) -> None:
        """The store holding an older version than was acknowledged is a lost update."""
        stored = store.put(OrderFactory(seed=3).order())
        ledger = crash.Ledger()
        ledger.read(crash.order_ack(stored.evolve(seller_note="lost"), 2))
        assert crash.check_acknowledged(store, ledger) == [
            f"order {stored.id}: acknowledged at version 2, stored at version 1"
        ]

    def test_other_content_at_the_acknowledged_version_is_reported(
        self, store: SQLiteStore
    ) -> None:
        """The right version with a body other than the acknowledged one is half-written."""
        stored = store.put(OrderFactory(seed=4).order())
        ledger = crash.Ledger()
        ledger.read(crash.order_ack(stored.evolve(seller_note="never stored"), 1))
        assert crash.check_acknowledged(store, ledger) == [
            f"order {stored.id}: version 1 is stored with other content than was acknowledged"
        ]

    def test_a_version_without_its_change_log_entry_is_reported(self, store: SQLiteStore) -> None:
        """An order at a version whose change (outbox message) is missing is half-written."""
        stored = store.update(store.put(OrderFactory(seed=5).order()).evolve(seller_note="x"))
        ledger = crash.Ledger()
        ledger.note(stored)
        damaged = DamagedChangeLog(store, lost=2)
        assert crash.check_acknowledged(damaged, ledger) == [
            f"order {stored.id} at version 2: change log misses versions [2], repeats [], "
            "has unknown versions []"
        ]

    def test_a_change_recorded_twice_is_reported(self, store: SQLiteStore) -> None:
        """Two change-log entries (two outbox messages) for one committed change are reported."""
        stored = store.put(OrderFactory(seed=6).order())
        ledger = crash.Ledger()
        ledger.note(stored)
        damaged = DamagedChangeLog(store, repeated=1)
        assert crash.check_acknowledged(damaged, ledger) == [
            f"order {stored.id} at version 1: change log misses versions [], repeats [1], "
            "has unknown versions []"
        ]

    def test_an_acknowledged_key_that_is_not_recorded_is_reported(self, store: SQLiteStore) -> None:
        """A write acknowledged with an idempotency key must have recorded the key."""
        stored = store.put(OrderFactory(seed=7).order())
        ledger = crash.Ledger()
        ledger.note(stored, "put-forgotten")
        assert crash.check_acknowledged(store, ledger) == [
            f"idempotency key put-forgotten: not recorded for order {stored.id}"
        ]

    def test_a_key_recorded_for_an_order_that_is_not_stored_is_reported(
        self, store: SQLiteStore
    ) -> None:
        """A write that was tried but not acknowledged must not leave its key behind alone."""
        order = OrderFactory(seed=11).order()
        store.remember("put-tried", "fingerprint", {"order_id": order.id, "version": 1})
        ledger = crash.Ledger()
        ledger.read("trying put-tried\ntrying put-rolled-back\n")
        assert crash.check_acknowledged(store, ledger) == [
            f"idempotency key put-tried: recorded for order {order.id}, which is not stored"
        ]

    def test_an_acknowledged_outbox_message_handed_out_again_is_reported(
        self, store: SQLiteStore
    ) -> None:
        """A message reported as acknowledged but still pending is redelivered."""
        stored = store.put(OrderFactory(seed=8).order())
        (message,) = store.claim_outbox(10, lease_seconds=0)
        ledger = crash.Ledger()
        ledger.note(stored)
        ledger.read(f"delivered {message.id}\n")
        assert crash.redelivered(store, ledger) == [message.id]
        store.ack_outbox([message.id])
        assert crash.redelivered(store, ledger) == []


class TestLedger:
    """Reading the writers' acknowledgement files."""

    def test_a_line_cut_short_by_the_kill_is_not_an_acknowledgement(self) -> None:
        """Only complete lines count; the torn last line is ignored."""
        order = OrderFactory(seed=9).order()
        line = crash.order_ack(order, 1)
        ledger = crash.Ledger()
        assert ledger.read(line + "delivered 7\n" + line[:20]) == 2
        assert set(ledger.orders) == {order.id}
        assert ledger.delivered == {7}

    def test_the_latest_acknowledged_version_wins(self) -> None:
        """Later trials' updates move the expected version forward, never back."""
        order = OrderFactory(seed=10).order()
        changed = order.evolve(seller_note="v2")
        ledger = crash.Ledger()
        ledger.read(
            crash.order_ack(order, 1) + crash.order_ack(changed, 2) + crash.order_ack(order, 1)
        )
        assert ledger.orders[order.id].version == 2
        assert ledger.orders[order.id].digest == crash.content_digest(changed)

    def test_a_line_of_another_kind_is_refused(self) -> None:
        """A line the writer never writes means the file is not an acknowledgement file."""
        with pytest.raises(ValueError, match="not an acknowledgement line"):
            crash.Ledger().read("committed 01H 1\n")
