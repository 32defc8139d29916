"""Work for the child processes of the PostgreSQL inventory races (importable when spawned)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta
from typing import Any

from ordercore.errors import InsufficientStock, ReservationStateError
from ordercore.inventory import Reservation, ReservationLine, ReservationRequest, open_inventory

#: Where the hot SKU is stocked.
LOCATION: str = "WH1"


def _units(reservation: Reservation) -> tuple[int, int]:
    """``(units reserved, units committed)`` over a reservation's lines."""
    return (
        sum(line.quantity for line in reservation.lines),
        sum(line.committed for line in reservation.lines),
    )


def r1_worker(
    url: str, sku: str, operations: int, seed: int, index: int, barrier: Any, results: Any
) -> None:
    """Run random reserve / commit / partial commit / release / expire operations on one SKU.

    Reservations are of 1-3 units, half of them with a TTL of 50 ms to 1 s (so
    sweeps in every process expire each other's), a fifth sent twice with one
    idempotency key. Every unit committed is counted from the commit's result;
    what is still held at the end is released. Reports a ``Counter`` of outcomes
    (``committed_units`` among them), or a string describing a failure.
    """
    try:
        rng = random.Random(seed)
        stats: Counter[str] = Counter()
        #: reservation id -> (units reserved, units committed) as this worker last saw it
        held: dict[str, tuple[int, int]] = {}
        with open_inventory(url, min_size=1, max_size=2) as inventory:
            barrier.wait(timeout=60)
            for n in range(operations):
                roll = rng.random()
                if roll < 0.45 or not held:
                    rid = f"w{index}-{n}"
                    ttl = (
                        timedelta(milliseconds=rng.choice((50, 200, 1000)))
                        if rng.random() < 0.5
                        else None
                    )
                    request = ReservationRequest(
                        reservation_id=rid,
                        lines=(
                            ReservationLine(sku=sku, quantity=rng.randint(1, 3), location=LOCATION),
                        ),
                        ttl=ttl,
                    )
                    key = f"key-{rid}" if rng.random() < 0.2 else None
                    try:
                        reservation = inventory.reserve(request, idempotency_key=key)
                    except InsufficientStock:
                        stats["refused"] += 1
                        continue
                    if key is not None:
                        again = inventory.reserve(request, idempotency_key=key)
                        if (again.id, again.lines) != (reservation.id, reservation.lines):
                            results.put((index, f"replay of {key} gave {again!r}"))
                            return
                        stats["replayed"] += 1
                    held[rid] = _units(reservation)
                    stats["reserved"] += 1
                    continue
                rid = rng.choice(sorted(held))
                quantity, committed = held[rid]
                try:
                    if roll < 0.65:
                        after = _units(inventory.commit(rid))
                        del held[rid]
                        stats["commits"] += 1
                    elif roll < 0.75 and quantity - committed >= 2:
                        after = _units(inventory.commit(rid, {sku: 1}))
                        held[rid] = after
                        stats["partial_commits"] += 1
                    elif roll < 0.9:
                        after = (quantity, committed)
                        inventory.release(rid)
                        del held[rid]
                        stats["releases"] += 1
                    else:
                        after = (quantity, committed)
                        stats["expired"] += len(inventory.expire_due(limit=10))
                except ReservationStateError as exc:
                    if exc.status != "expired":
                        results.put((index, f"{rid} is {exc.status}, not expired: {exc}"))
                        return
                    del held[rid]
                    stats["lost_to_expiry"] += 1
                    continue
                stats["committed_units"] += after[1] - committed
            for rid in sorted(held):
                try:
                    inventory.release(rid)
                    stats["released_at_end"] += 1
                except ReservationStateError:
                    stats["lost_to_expiry"] += 1
        results.put((index, stats))
    except BaseException as exc:
        results.put((index, repr(exc)))
        raise
