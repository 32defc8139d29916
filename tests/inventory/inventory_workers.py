"""Worker processes for the inventory's concurrency tests (R1, R3, R9), run as scripts.

Each worker opens its own inventory on a SQLite file shared with the test process, so the
races are between real processes and real connections, not threads of one connection::

    python inventory_workers.py hot URL WORKER OPERATIONS  # R1: one hot SKU
    python inventory_workers.py key URL                    # R9: one idempotency key
    python inventory_workers.py inject                     # R3: injected operations

``hot`` and ``key`` print ``ready`` once the inventory is open, wait for a line on stdin (so
every worker starts at once), run, and print one JSON line with what they did. ``inject``
serves JSON commands on stdin (see :func:`serve_injections`). The R3 scenario (its set-up,
operations and summaries) lives here too, so the test and the injected process run the same
code.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from ordercore.errors import (
    AdjustmentError,
    InsufficientStock,
    ReservationNotFound,
    ReservationStateError,
)
from ordercore.inventory import (
    Adjustment,
    Inventory,
    Location,
    Reservation,
    ReservationLine,
    ReservationRequest,
    open_inventory,
)
from ordercore.schema import Actor, ActorKind

HOT = "HOT"
WH = "WH1"
STAFF = Actor(kind=ActorKind.PERSON, id="li.wei")
MANAGER = Actor(kind=ActorKind.PERSON, id="wang.fang")

# -- R1: one hot SKU ------------------------------------------------------------------------


def hot_request(rid: str, quantity: int, split: bool, ttl: timedelta) -> ReservationRequest:
    """A request for ``quantity`` units of the hot SKU, as two lines of it when ``split`` (R2)."""
    if split and quantity > 1:
        lines = [
            ReservationLine(sku=HOT, quantity=1, location=WH),
            ReservationLine(sku=HOT, quantity=quantity - 1, location=WH),
        ]
    else:
        lines = [ReservationLine(sku=HOT, quantity=quantity, location=WH)]
    return ReservationRequest(reservation_id=rid, lines=lines, ttl=ttl)


def _held(reservation: Reservation) -> int:
    return sum(line.quantity - line.committed for line in reservation.lines)


def _committed(reservation: Reservation) -> int:
    return sum(line.committed for line in reservation.lines)


def hot_sku(url: str, worker: int, operations: int) -> dict[str, Any]:
    """R1 worker: ``operations`` reserve / commit / release / expire calls on the hot SKU.

    Reservations hold 1-3 units (half of the larger ones as two lines of the SKU) for 20 ms
    to 2 s, so other workers' ``expire_due`` calls race this worker's commits and releases;
    a commit or release that loses such a race gets :class:`ReservationStateError`.

    Returns:
        Counts of what happened (``committed`` is the units this worker shipped) and
        ``open``, the reservations it still holds (expired ones among them, maybe).
    """
    rnd = random.Random(worker)
    inventory = open_inventory(url)
    counts = dict.fromkeys(
        ("reserved", "refused", "commits", "committed", "released", "expired", "lost_races"), 0
    )
    held: dict[str, int] = {}  # my open reservations -> units committed so far
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    try:
        for n in range(operations):
            roll = rnd.random()
            if not held or roll < 0.45:
                rid = f"w{worker}-{n}"
                quantity = rnd.choice((1, 1, 2, 3))
                ttl = timedelta(milliseconds=rnd.choice((20, 200, 2000)))
                try:
                    inventory.reserve(hot_request(rid, quantity, rnd.random() < 0.5, ttl))
                except InsufficientStock:
                    counts["refused"] += 1
                else:
                    counts["reserved"] += 1
                    held[rid] = 0
            elif roll < 0.85:
                rid = rnd.choice(sorted(held))
                try:
                    if roll < 0.55:
                        done = inventory.release(rid)
                        counts["released"] += 1
                    else:
                        partial = {HOT: 1} if roll < 0.62 else None
                        done = inventory.commit(rid, partial)
                        counts["commits"] += 1
                except (ReservationStateError, InsufficientStock):
                    # Expired by another worker (or a partial commit of a held unit that
                    # expiry took back): the record tells what was committed before.
                    counts["lost_races"] += 1
                    done = inventory.reservation(rid)
                counts["committed"] += _committed(done) - held[rid]
                held[rid] = _committed(done)
                if _held(done) == 0 or done.status.value in ("released", "expired"):
                    del held[rid]
            else:
                counts["expired"] += len(inventory.expire_due())
    finally:
        inventory.close()
    counts["seconds"] = time.perf_counter() - started  # type: ignore[assignment]
    counts["operations"] = operations
    # Partially committed reservations have no time to live left: the test releases them.
    return {**counts, "open": sorted(held)}


def same_key(url: str) -> dict[str, Any]:
    """R9 worker: reserve one request under one idempotency key shared by every worker."""
    inventory = open_inventory(url)
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        request = ReservationRequest(
            reservation_id="burst", lines=[ReservationLine(sku=HOT, quantity=4, location=WH)]
        )
        reservation = inventory.reserve(request, idempotency_key="pay-burst")
    finally:
        inventory.close()
    return {"id": reservation.id, "version": reservation.version, "held": _held(reservation)}


# -- R3: the interleaving scenario ----------------------------------------------------------

#: The scenario's fixed clock: the set-up runs at T0, every operation one minute later.
T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
AT = T0 + timedelta(minutes=1)
#: Late enough for ``r0`` (10 minutes to live) to be due.
LATE = T0 + timedelta(hours=1)
OPERATIONS = ("reserve", "release", "commit", "expire", "adjust")


def r3_clock() -> datetime:
    """The clock of every R3 inventory (adjustment decisions are stamped with it)."""
    return AT


def r3_setup(inventory: Inventory) -> str:
    """3 units of HOT at WH1, ``r0`` holding 2 of them, and a proposed count of -1.

    Every one of the five operations succeeds from this state; ``reserve`` and ``adjust``
    each need the one available unit, the other three act on ``r0``.

    Returns:
        The proposed adjustment's id.
    """
    inventory.add_location(Location(id=WH))
    inventory.receive(HOT, WH, 3, actor=STAFF, reason="opening count")
    inventory.reserve(
        ReservationRequest(
            reservation_id="r0",
            lines=[ReservationLine(sku=HOT, quantity=2, location=WH)],
            ttl=timedelta(minutes=10),
        ),
        now=T0,
    )
    proposed = inventory.propose_adjustment(
        HOT, WH, -1, reason="cycle count found one unit missing", actor=STAFF
    )
    return proposed.id


def r3_run(inventory: Inventory, operation: str, side: str, adjustment_id: str) -> Any:
    """Run one of :data:`OPERATIONS`; ``side`` ("A" or "B") names a new reservation."""
    actions: dict[str, Callable[[], Any]] = {
        "reserve": lambda: inventory.reserve(
            ReservationRequest(
                reservation_id=f"r{side}",
                lines=[ReservationLine(sku=HOT, quantity=1, location=WH)],
            ),
            now=AT,
        ),
        "release": lambda: inventory.release("r0", now=AT),
        "commit": lambda: inventory.commit("r0", now=AT),
        "expire": lambda: inventory.expire_due(now=LATE),
        "adjust": lambda: inventory.approve_adjustment(adjustment_id, actor=MANAGER),
    }
    return actions[operation]()


TYPED_ERRORS = (InsufficientStock, ReservationStateError, ReservationNotFound, AdjustmentError)


def r3_outcome(run: Callable[[], Any]) -> list[Any]:
    """What an operation returned, or the typed error it raised, as JSON-able values."""
    try:
        result = run()
    except InsufficientStock as exc:
        return ["InsufficientStock", exc.sku, exc.requested, exc.available]
    except ReservationStateError as exc:
        return ["ReservationStateError", exc.reservation_id, exc.status, exc.operation]
    except AdjustmentError as exc:
        return ["AdjustmentError", exc.adjustment_id, exc.status]
    if isinstance(result, Reservation):
        return ["ok", result.id, result.status.value, _held(result), _committed(result)]
    if isinstance(result, Adjustment):
        return ["ok", result.id, result.status.value]
    assert isinstance(result, list)
    return ["ok", [reservation.id for reservation in result]]


def r3_state(inventory: Inventory) -> dict[str, Any]:
    """Everything the scenario can change: counters, records and the ledger, in order."""
    statuses = {}
    for rid in ("r0", "rA", "rB"):
        try:
            statuses[rid] = inventory.reservation(rid).status.value
        except ReservationNotFound:
            statuses[rid] = "missing"
    levels = [
        [level.on_hand, level.reserved, level.in_transfer, level.damaged]
        for level in inventory.stock(HOT, WH)
    ]
    ledger = [
        [entry.kind.value, entry.on_hand, entry.reserved, entry.reservation_id]
        for entry in inventory.ledger()
    ]
    return {"levels": levels, "reservations": statuses, "ledger": ledger}


def serve_injections() -> None:
    """R3 helper process: run operations on request, each in a transaction of its own.

    Commands, one JSON object a line on stdin; answers, one a line on stdout:

    - ``{"open": URL}``: open the inventory (before the other transaction starts:
      opening writes the schema check) -> ``{"opened": URL}``.
    - ``{"run": OPERATION, "side": "B", "adjustment": ID}`` -> ``{"running": true}``
      just before the call, then ``{"outcome": [...]}`` (see :func:`r3_outcome`).
    - ``{"close": true}`` -> ``{"closed": true}``.
    """
    inventory: Inventory | None = None
    for line in sys.stdin:
        command = json.loads(line)
        if "open" in command:
            inventory = open_inventory(command["open"], clock=r3_clock)
            answer: dict[str, Any] = {"opened": command["open"]}
        elif "run" in command:
            assert inventory is not None
            print(json.dumps({"running": True}), flush=True)
            outcome = r3_outcome(
                partial(r3_run, inventory, command["run"], command["side"], command["adjustment"])
            )
            answer = {"outcome": outcome}
        else:
            if inventory is not None:
                inventory.close()
                inventory = None
            answer = {"closed": True}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "hot":
        print(json.dumps(hot_sku(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))), flush=True)
    elif mode == "key":
        print(json.dumps(same_key(sys.argv[2])), flush=True)
    elif mode == "inject":
        serve_injections()
    else:
        raise SystemExit(f"unknown worker mode {mode!r}")
