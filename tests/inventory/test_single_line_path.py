"""The one-line reservation path (``reserve_one``) decides and records exactly what the
general path does on SQLite: the same reservations, errors, stock, ledger and stock messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from inventory_paths import NOW, operations, prepare, run, state
from ordercore.inventory import (
    GiftPolicy,
    Inventory,
    ReservationLine,
    ReservationRequest,
    open_inventory,
)


def _open(path: Path, *, fast: bool) -> Inventory:
    return prepare(open_inventory(f"sqlite:///{path}", clock=lambda: NOW), fast=fast)


@pytest.mark.parametrize("seed", range(6))
def test_the_one_line_path_matches_the_general_path(tmp_path: Path, seed: int) -> None:
    ops = operations(seed)
    fast = _open(tmp_path / "fast.db", fast=True)
    general = _open(tmp_path / "general.db", fast=False)
    try:
        assert run(fast, ops) == run(general, ops)
        fast_state = state(fast)
        assert fast_state == state(general)
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
