"""The one-line reservation path (``reserve_one``) decides and records exactly what the
general path does: the same reservations, errors, stock, ledger and stock messages."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ordercore.errors import OrderCoreError
from ordercore.inventory import (
    GiftPolicy,
    Inventory,
    Location,
    ReservationLine,
    ReservationRequest,
    SafetyStockRule,
    open_inventory,
)
from ordercore.schema import Actor

NOW = datetime(2026, 11, 11, 2, 0, tzinfo=UTC)
STAFF = Actor(kind="person", id="li.wei")
SKUS = ("MUG-1", "TEA-1", "PIL-001")


def _open(path: Path, *, fast: bool) -> Inventory:
    inventory = open_inventory(f"sqlite:///{path}", clock=lambda: NOW)
    if not fast:
        inventory._reserve_one = None  # the general path only
    assert (inventory._reserve_one is not None) is fast
    inventory.add_location(Location(id="WH1"))
    inventory.add_location(Location(id="WH2", priority=5))
    for sku in SKUS:
        inventory.receive(sku, "WH1", 6, actor=STAFF, reason="seed")
    inventory.receive("MUG-1", "WH2", 2, actor=STAFF, reason="seed")
    return inventory


def _operations(seed: int) -> list[tuple[str, Any]]:
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


def _run(inventory: Inventory, ops: list[tuple[str, Any]]) -> list[Any]:
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


def _state(inventory: Inventory, path: Path) -> tuple[Any, ...]:
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


@pytest.mark.parametrize("seed", range(6))
def test_the_one_line_path_matches_the_general_path(tmp_path: Path, seed: int) -> None:
    ops = _operations(seed)
    fast = _open(tmp_path / "fast.db", fast=True)
    general = _open(tmp_path / "general.db", fast=False)
    try:
        assert _run(fast, ops) == _run(general, ops)
        fast_state = _state(fast, tmp_path / "fast.db")
        assert fast_state == _state(general, tmp_path / "general.db")
        assert fast_state[3] == []  # verify(): no drift
        assert fast_state[2]  # stock messages were written
    finally:
        fast.close()
        general.close()


def test_a_short_gift_under_drop_is_dropped_on_the_one_line_path(tmp_path: Path) -> None:
    inventory = _open(tmp_path / "gift.db", fast=True)
    try:
        line = ReservationLine(sku="PIL-001", quantity=9, location="WH1", gift=True)
        request = ReservationRequest(
            reservation_id="g1", lines=(line,), gift_policy=GiftPolicy.DROP
        )
        found = inventory.reserve(request, now=NOW)
        assert found.lines == () and len(found.dropped) == 1
        assert inventory.available("PIL-001") == 6
    finally:
        inventory.close()
