"""Timers of the PostgreSQL store claimed by several processes at once.

Each process opens its own store from the URL, as separate service instances
do; the tests check that every due timer is handled exactly once and that a
claim whose lease lapsed passes to another process.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from ordercore.storage import TimerArm, TimerPlan
from ordercore.testing import OrderFactory
from ordercore.timestamps import utc_now
from ordercore_postgres import PostgresStore

URL = os.environ.get("ORDERCORE_TEST_POSTGRES_URL", "")

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not URL,
        reason="set ORDERCORE_TEST_POSTGRES_URL to run the PostgreSQL timer tests across "
        "processes (e.g. postgresql://postgres@127.0.0.1:5432/test)",
    ),
]

RunProcesses = Callable[[Callable[..., None], list[tuple[Any, ...]]], dict[int, Any]]

TIMERS = 2000
PROCESSES = 4


def test_processes_draining_due_timers_handle_each_exactly_once(
    schema: str,
    open_schema: Callable[..., PostgresStore],
    workers: ModuleType,
    run_processes: RunProcesses,
) -> None:
    """Four processes claiming and finishing 2,000 due timers record one breach per order.

    Two finish each timer on its own (``finish_timer``), two a claimed batch at a
    time (``finish_timers``).
    """
    store = open_schema()
    orders = store.put_many(list(OrderFactory(seed=11).orders(TIMERS, status="paid"))).orders
    start = utc_now() - timedelta(hours=1)
    store.set_timers(
        TimerPlan(
            order.id,
            arm=[TimerArm("sla:paid.awaiting_allocation", start + timedelta(milliseconds=i))],
        )
        for i, order in enumerate(orders)
    )
    assert store.timer_count() == TIMERS
    reported = run_processes(
        workers.drain_timers, [(URL, schema, index % 2 == 1) for index in range(PROCESSES)]
    )
    finished = [key for done, _ in reported.values() for key in done]
    lost = [key for _, missed in reported.values() for key in missed]
    assert lost == []
    repeated = [key for key, times in Counter(finished).items() if times > 1]
    assert repeated == []
    assert set(finished) == {(order.id, "sla:paid.awaiting_allocation") for order in orders}
    assert sum(1 for done, _ in reported.values() if done) >= 2, "one process did all the work"
    assert store.timer_count() == 0
    assert store.claim_timers(utc_now() + timedelta(days=1)) == []
    handled_by: dict[str, str] = {}
    for order in orders:
        breaches = [e for e in store.events(order.id) if e.type == workers.BREACH]
        assert len(breaches) == 1, order.id
        assert breaches[0].order_version == 1 and store.get(order.id).version == 1
        handled_by[order.id] = breaches[0].actor.id
    by_worker = Counter(handled_by.values())
    assert by_worker == Counter(
        {f"timer-worker-{index}": len(done) for index, (done, _) in reported.items() if done}
    )
    assert store.outbox_pending() == 2 * TIMERS
    assert store.integrity_check() == []


def test_batched_finishes_and_batched_updates_of_the_same_orders_do_not_deadlock(
    schema: str,
    open_schema: Callable[..., PostgresStore],
    workers: ModuleType,
    run_processes: RunProcesses,
) -> None:
    """Timer finishes record events while update_many rewrites the orders and arms timers.

    Both lock the orders (in id order) before the timers, so all four processes
    get through, and every breach is recorded at a version its order had.
    """
    store = open_schema()
    count, rounds = 600, 3
    orders = store.put_many(list(OrderFactory(seed=13).orders(count, status="paid"))).orders
    start = utc_now() - timedelta(hours=1)
    store.set_timers(
        TimerPlan(order.id, arm=[TimerArm("sla", start + timedelta(milliseconds=i))])
        for i, order in enumerate(orders)
    )
    ids = sorted(order.id for order in orders)
    halves = [ids[: count // 2], ids[count // 2 :]]
    reported = run_processes(
        workers.finish_or_update,
        [(URL, schema, None, rounds), (URL, schema, None, rounds)]
        + [(URL, schema, half, rounds) for half in halves],
    )
    assert reported[2] == reported[3] == rounds * count // 2
    finished = [key for index in (0, 1) for key in reported[index][0]]
    lost = [key for index in (0, 1) for key in reported[index][1]]
    assert lost == []
    assert sorted(finished) == [(order_id, "sla") for order_id in ids]
    for order_id in ids:
        assert store.get(order_id).version == 1 + rounds
        breaches = [e for e in store.events(order_id) if e.type == workers.BREACH]
        assert len(breaches) == 1, order_id
        assert 1 <= breaches[0].order_version <= 1 + rounds
    assert [t.name for t in store.timers(ids[0])] == ["sla:later"]
    assert store.timer_count() == count
    assert store.integrity_check() == []


def test_a_lapsed_claim_is_taken_over_and_the_late_finish_writes_nothing(
    schema: str,
    open_schema: Callable[..., PostgresStore],
    workers: ModuleType,
    run_processes: RunProcesses,
) -> None:
    """A worker that overran its lease loses the timer to another process: its finish is False."""
    store = open_schema()
    order = store.put(OrderFactory(seed=12).order(status="paid"))
    store.set_timers([TimerPlan(order.id, arm=[TimerArm("sla", utc_now() - timedelta(minutes=5))])])
    [first] = store.claim_timers(utc_now(), limit=10, lease_seconds=0.5)
    assert first.attempts == 1 and first.claim is not None
    reported = run_processes(workers.take_over_timer, [(URL, schema)])
    assert reported == {0: (order.id, "sla", 2, True)}
    assert store.timers(order.id) == []
    late = workers.breach_event(first, "timer-worker-late")
    assert store.finish_timer(first, events=[late]) is False
    assert store.retry_timer(first, utc_now()) is False
    breaches = [e for e in store.events(order.id) if e.type == workers.BREACH]
    assert [e.actor.id for e in breaches] == ["timer-worker-0"]
    assert breaches[0].data["attempts"] == 2
    assert store.timer_count() == 0
    assert store.integrity_check() == []
