"""On PostgreSQL, the one-statement reservation of one line (``reserve_one``) decides and
records exactly what the general path does: reservations, errors, stock, ledger, messages."""

from __future__ import annotations

import os
from collections.abc import Callable

import psycopg
import pytest

from ordercore.inventory import Inventory, open_inventory

inventory_paths = pytest.importorskip(
    "inventory_paths", reason="run from the repository root (its tests/ holds the sequences)"
)

URL = os.environ.get("ORDERCORE_TEST_POSTGRES_URL", "")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        not URL,
        reason="set ORDERCORE_TEST_POSTGRES_URL to run the PostgreSQL inventory tests "
        "(e.g. postgresql://postgres@127.0.0.1:5432/test)",
    ),
]


@pytest.fixture
def two_schemas(schema: str) -> Callable[[bool], Inventory]:
    opened: list[Inventory] = []

    def open_one(fast: bool) -> Inventory:
        name = f"{schema}_{'f' if fast else 'g'}"
        inventory = open_inventory(
            f"{URL}{'&' if '?' in URL else '?'}schema={name}",
            clock=lambda: inventory_paths.NOW,
        )
        opened.append(inventory)
        return inventory_paths.prepare(inventory, fast=fast)

    yield open_one  # type: ignore[misc]
    for inventory in opened:
        inventory.close()
    scheme, _, rest = URL.partition("://")
    with psycopg.connect(f"{scheme.split('+', 1)[0]}://{rest}", autocommit=True) as conn:
        for suffix in ("f", "g"):
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}_{suffix}" CASCADE')


@pytest.mark.parametrize("seed", range(3))
def test_the_one_statement_path_matches_the_general_path(
    two_schemas: Callable[[bool], Inventory], seed: int
) -> None:
    ops = inventory_paths.operations(seed)
    fast, general = two_schemas(True), two_schemas(False)
    assert inventory_paths.run(fast, ops) == inventory_paths.run(general, ops)
    found = inventory_paths.state(fast)
    assert found == inventory_paths.state(general)
    assert found[3] == [] and found[2]
