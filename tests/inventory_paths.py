"""Random operation sequences for checking the one-line reservation path (``reserve_one``)
against the general path on any backend: the outcomes and the state they leave."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from ordercore.errors import OrderCoreError
from ordercore.inventory import (
    GiftPolicy,
    Inventory,
    Location,
    ReservationLine,
    ReservationRequest,
    SafetyStockRule,
)
from ordercore.schema import Actor

NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
STAFF = Actor(kind="person", id="li.wei")
SKUS = ("MUG-1", "TEA-1", "PIL-001")


def prepare(inventory: Inventory, *, fast: bool) -> Inventory:
    """Stock ``inventory`` for the operations; ``fast=False`` turns the one-line path off."""
    if not fast:
        inventory._reserve_one = None  # the general path only
    assert (inventory._reserve_one is not None) is fast
    inventory.add_location(Location(id="WH1"))
    inventory.add_location(Location(id="WH2", priority=5))
    for sku in SKUS:
        inventory.receive(sku, "WH1", 6, actor=STAFF, reason="seed")
    inventory.receive("MUG-1", "WH2", 2, actor=STAFF, reason="seed")
    return inventory


def operations(seed: int) -> list[tuple[str, Any]]:
    rnd = random.Random(seed)
    ops: list[tuple[str, Any]] = []
    made: list[str] = []
    for number in range(60):
        roll = rnd.random()
        if roll < 0.65 or not made:
            rid = rnd.choice(made) if made and rnd.random() < 0.1 else f"r{number}"  # a taken id
            line = ReservationLine(
                sku=rnd.choice(SKUS),
                quantity=rnd.choice((1, 1, 2, 3)),
                location=rnd.choice(("WH1", "WH1", "WH2", "WH9", None)),
                gift=rnd.random() < 0.2,
            )
            request = ReservationRequest(
                reservation_id=rid,
                lines=(line,),
                gift_policy=rnd.choice((GiftPolicy.FAIL, GiftPolicy.DROP)),
                ttl=timedelta(minutes=30) if rnd.random() < 0.5 else None,
            )
            ops.append(("reserve", request))
            made.append(rid)
        elif roll < 0.8:
            ops.append(("release", rnd.choice(made)))
        elif roll < 0.9:
            ops.append(("receive", (rnd.choice(SKUS), rnd.randrange(1, 4))))
        else:
            ops.append(("safety", (rnd.choice(SKUS), rnd.randrange(2, 6))))
    return ops


def run(inventory: Inventory, ops: list[tuple[str, Any]]) -> list[Any]:
    outcomes: list[Any] = []
    for kind, arg in ops:
        try:
            if kind == "reserve":
                found = inventory.reserve(arg, now=NOW)
                outcomes.append(
                    (found.id, found.status, found.lines, found.dropped, found.expires_at)
                )
            elif kind == "release":
                outcomes.append(inventory.release(arg, now=NOW).status)
            elif kind == "receive":
                inventory.receive(arg[0], "WH1", arg[1], actor=STAFF, reason="po")
                outcomes.append("received")
            else:
                inventory.set_safety_stock(SafetyStockRule(sku=arg[0], threshold=arg[1]), now=NOW)
                outcomes.append("safety")
        except OrderCoreError as error:
            outcomes.append((type(error).__name__, str(error)))
    return outcomes


def state(inventory: Inventory) -> tuple[Any, ...]:
    levels = [
        (level.sku, level.location, level.on_hand, level.reserved, level.available)
        for level in inventory.stock_levels()
    ]
    ledger = [
        (e.sku, e.location, e.kind, e.on_hand, e.reserved, e.reservation_id, e.reason)
        for e in inventory.ledger(limit=10_000)
    ]
    store = inventory.backend.store  # type: ignore[attr-defined]
    messages = [
        (m.stream, m.aggregate_id, m.topic, m.payload)
        for m in store.claim_outbox(10_000)
        if m.stream == "stock"
    ]
    return levels, ledger, messages, inventory.verify()
