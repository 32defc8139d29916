"""Work done in child processes by the several-process tests (importable by name when spawned)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from ordercore.errors import VersionConflict
from ordercore.schema import Actor, ActorKind, OrderEvent
from ordercore.storage import OrderUpdate, Timer, TimerArm, TimerFinish, TimerPlan
from ordercore.timestamps import utc_now
from ordercore_postgres import PostgresStore

#: The event a timer worker records on an order when its timer fires.
BREACH: str = "order.sla_breached"


def breach_event(timer: Timer, worker: str) -> OrderEvent:
    """The event recording that ``timer`` fired, handled by ``worker``."""
    return OrderEvent(
        order_id=timer.order_id,
        type=BREACH,
        actor=Actor(kind=ActorKind.TIMER, id=worker),
        data={"timer": timer.name, "level": timer.level, "attempts": timer.attempts},
    )


def drain_outbox(url: str, schema: str, index: int, barrier: Any, results: Any) -> None:
    """Claim and acknowledge outbox messages until none are left; report the ids claimed."""
    try:
        with PostgresStore.from_url(url, schema=schema, min_size=1, max_size=1) as store:
            barrier.wait(timeout=60)
            claimed: list[int] = []
            while batch := store.claim_outbox(25, lease_seconds=300):
                claimed.extend(message.id for message in batch)
                store.ack_outbox([message.id for message in batch])
        results.put((index, claimed))
    except BaseException as exc:
        results.put((index, repr(exc)))
        raise


def race_versions(
    url: str, schema: str, order_id: str, trials: int, index: int, barrier: Any, results: Any
) -> None:
    """For each version 1..trials, update the order from that version together with the others."""
    try:
        with PostgresStore.from_url(url, schema=schema, min_size=1, max_size=1) as store:
            base = store.get(order_id)
            outcomes: list[tuple[int, str, int | None]] = []
            for version in range(1, trials + 1):
                change = base.evolve(seller_note=f"writer {index} on version {version}")
                barrier.wait(timeout=60)
                try:
                    store.update(change.model_copy(update={"version": version}))
                except VersionConflict as exc:
                    outcomes.append((version, "conflict", exc.actual))
                else:
                    outcomes.append((version, "won", None))
        results.put((index, outcomes))
    except BaseException as exc:
        results.put((index, repr(exc)))
        raise


def drain_timers(
    url: str, schema: str, batched: bool, index: int, barrier: Any, results: Any
) -> None:
    """Claim due timers and finish each with a breach event until none are left.

    ``batched``: finish each claimed batch with one ``finish_timers`` call
    instead of one ``finish_timer`` per timer. Reports ``(finished, lost)``: the
    ``(order_id, name)`` of every timer this process finished, and of every one
    whose finish returned False.
    """
    try:
        worker = f"timer-worker-{index}"
        with PostgresStore.from_url(url, schema=schema, min_size=1, max_size=1) as store:
            barrier.wait(timeout=60)
            finished: list[tuple[str, str]] = []
            lost: list[tuple[str, str]] = []
            while batch := store.claim_timers(utc_now(), limit=25, lease_seconds=300):
                if batched:
                    done = store.finish_timers(
                        TimerFinish(timer, events=[breach_event(timer, worker)]) for timer in batch
                    )
                else:
                    done = [
                        store.finish_timer(timer, events=[breach_event(timer, worker)])
                        for timer in batch
                    ]
                for timer, ok in zip(batch, done, strict=True):
                    (finished if ok else lost).append((timer.order_id, timer.name))
        results.put((index, (finished, lost)))
    except BaseException as exc:
        results.put((index, repr(exc)))
        raise


def update_orders(
    url: str,
    schema: str,
    order_ids: list[str],
    rounds: int,
    index: int,
    barrier: Any,
    results: Any,
) -> None:
    """Update the orders ``rounds`` times in batches of 50, arming a later timer on each.

    Every ``update_many`` locks its orders and then their timer rows, as the
    timer workers' finishes do. Reports the number of orders updated.
    """
    try:
        with PostgresStore.from_url(url, schema=schema, min_size=1, max_size=1) as store:
            barrier.wait(timeout=60)
            later = utc_now() + timedelta(days=1)
            updated = 0
            for turn in range(rounds):
                for start in range(0, len(order_ids), 50):
                    chunk = order_ids[start : start + 50]
                    stored = store.update_many(
                        OrderUpdate(
                            store.get(order_id).evolve(seller_note=f"round {turn}"),
                            timers=TimerPlan(order_id, arm=[TimerArm("sla:later", later)]),
                        )
                        for order_id in reversed(chunk)
                    )
                    updated += len(stored)
        results.put((index, updated))
    except BaseException as exc:
        results.put((index, repr(exc)))
        raise


def take_over_timer(url: str, schema: str, index: int, barrier: Any, results: Any) -> None:
    """Wait for a due timer whose lease lapsed, claim it and finish it with a breach event.

    Reports ``(order_id, name, attempts, finished)`` of the timer taken over.
    """
    try:
        worker = f"timer-worker-{index}"
        with PostgresStore.from_url(url, schema=schema, min_size=1, max_size=1) as store:
            barrier.wait(timeout=60)
            deadline = time.monotonic() + 60
            while not (claimed := store.claim_timers(utc_now(), limit=10, lease_seconds=300)):
                if time.monotonic() > deadline:
                    raise TimeoutError("no timer became claimable within 60 seconds")
                time.sleep(0.05)
            [timer] = claimed
            done = store.finish_timer(timer, events=[breach_event(timer, worker)])
        results.put((index, (timer.order_id, timer.name, timer.attempts, done)))
    except BaseException as exc:
        results.put((index, repr(exc)))
        raise


def finish_or_update(
    url: str,
    schema: str,
    order_ids: list[str] | None,
    rounds: int,
    index: int,
    barrier: Any,
    results: Any,
) -> None:
    """Drain timers in batches (``order_ids`` None) or update those orders (see above)."""
    if order_ids is None:
        drain_timers(url, schema, True, index, barrier, results)
    else:
        update_orders(url, schema, order_ids, rounds, index, barrier, results)
