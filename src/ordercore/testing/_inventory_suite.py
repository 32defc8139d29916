"""The conformance suite every inventory backend passes.

A backend's test module subclasses :class:`InventoryConformance` and provides
the fixtures below; tests of what a backend does not declare in
:attr:`InventoryConformance.capabilities` are skipped, naming the capability::

    class TestMyInventory(InventoryConformance):
        capabilities = frozenset({"reopen"})

        @pytest.fixture
        def inventory(self, tmp_path):
            return open_inventory(f"mybackend://{tmp_path}")

Fixtures a subclass provides:

- ``inventory``: a fresh, empty :class:`~ordercore.inventory.Inventory` (required).
- ``stock_messages``: a callable ``(inventory) -> [(aggregate_id, payload), ...]``
  giving the ``stock`` outbox messages written so far, in write order (required).
- ``corrupt``: a callable ``(inventory, sku, location, field, delta)`` that adds
  ``delta`` to one stored counter directly, behind the ledger's back (required).
- ``reopen``: a callable ``(inventory) -> Inventory`` giving another, independent
  handle on the same data (capability ``"reopen"``).
- ``inventory_url``: a URL other processes can open on the same data as
  ``inventory`` (capability ``"processes"``).

Capability ``"row_locks"`` needs no fixture: it says that two transactions of
``inventory.backend`` can be open at once and that one waits only for the rows
the other holds (PostgreSQL), not for the whole database (SQLite, memory).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from typing import Any, ClassVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ordercore.errors import (
    AdjustmentError,
    ConfigurationError,
    IdempotencyConflict,
    InsufficientStock,
    ReservationNotFound,
    ReservationStateError,
    StoreClosed,
    TransferError,
    UnknownLocation,
)
from ordercore.ids import new_id
from ordercore.inventory import (
    AdjustmentStatus,
    BackorderPolicy,
    EntryKind,
    GiftPolicy,
    Inventory,
    Location,
    LocationKind,
    Reservation,
    ReservationLine,
    ReservationRequest,
    ReservationStatus,
    TransferStatus,
    open_inventory,
)
from ordercore.inventory._backend import BUSY, InventoryBackend, InventoryTxn, StockKey
from ordercore.schema import Actor, ActorKind
from ordercore.timestamps import utc_now

__all__ = ["InventoryConformance"]

STAFF = Actor(kind=ActorKind.PERSON, id="li.wei")
MANAGER = Actor(kind=ActorKind.PERSON, id="wang.fang")
ROBOT = Actor(kind=ActorKind.RULE, id="auto-approve")

Messages = Callable[[Inventory], list[tuple[str, dict[str, Any]]]]
Corrupt = Callable[[Inventory, str, str, str, int], None]


def _line(sku: str, quantity: int, location: str | None = "WH1", **extra: Any) -> ReservationLine:
    return ReservationLine(sku=sku, quantity=quantity, location=location, **extra)


def _request(rid: str, *lines: ReservationLine, **extra: Any) -> ReservationRequest:
    return ReservationRequest(reservation_id=rid, lines=lines, **extra)


def _snapshot(inventory: Inventory, messages: Messages) -> tuple[Any, ...]:
    """Everything a failed operation must leave as it was."""
    levels = sorted(
        (level.sku, level.location, level.on_hand, level.reserved, level.in_transfer, level.damaged)
        for sku in sorted({entry.sku for entry in inventory.ledger(limit=100_000)})
        for level in inventory.stock(sku)
    )
    return levels, len(inventory.ledger(limit=100_000)), len(messages(inventory))


class _LockOrder:
    """Checks the lock order of ``ordercore.inventory._backend`` as transactions run.

    Wraps a backend; every transaction records the stock rows it locked
    (``lock_stock``, or the implicit lock of ``change_stock``) and whether it
    locked a quota row. :attr:`violations` lists each stock row first locked or
    changed after a quota row, and each stock row first locked out of sorted
    order (a key smaller than one held already).
    """

    def __init__(self, backend: InventoryBackend) -> None:
        self.backend = backend
        self.url = backend.url
        self.violations: list[str] = []

    @contextmanager
    def transaction(self) -> Iterator[InventoryTxn]:
        with self.backend.transaction() as txn:
            yield _LockOrderTxn(txn, self.violations)

    def reading(self) -> AbstractContextManager[InventoryTxn]:
        return self.backend.reading()

    def close(self) -> None:
        self.backend.close()


class _LockOrderTxn:
    """One transaction seen by :class:`_LockOrder` (other calls pass through)."""

    def __init__(self, txn: InventoryTxn, violations: list[str]) -> None:
        self._txn = txn
        self._violations = violations
        self._held: set[StockKey] = set()
        self._quota = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._txn, name)

    def _take(self, keys: Sequence[StockKey], what: str) -> None:
        for key in keys:
            if key in self._held:
                continue
            if self._quota:
                self._violations.append(f"{what} {key} after a quota row was locked")
            if self._held and key < max(self._held):
                self._violations.append(f"{what} {key} after {max(self._held)}")
            self._held.add(key)

    def lock_stock(self, keys: Sequence[StockKey], *, skip_locked: bool = False) -> Any:
        found = self._txn.lock_stock(keys, skip_locked=skip_locked)
        self._take(sorted(found), "locked")
        return found

    def change_stock(self, sku: str, location: str, *deltas: int, **named: int) -> Any:
        self._take([(sku, location)], "changed")
        return self._txn.change_stock(sku, location, *deltas, **named)

    def get_quota(self, sku: str, channel: str, *, lock: bool = False, **extra: bool) -> Any:
        if lock:
            self._quota = True
        return self._txn.get_quota(sku, channel, lock=lock, **extra)


def _hot_worker(url: str, sku: str, worker: int, operations: int) -> tuple[int, int]:
    """Reserve one unit at a time on one hot SKU; release every third and commit the rest."""
    inventory = open_inventory(url)
    reserved = failed = 0
    try:
        for n in range(operations):
            rid = f"p{worker}-{n}"
            try:
                inventory.reserve(_request(rid, _line(sku, 1)))
            except InsufficientStock:
                failed += 1
                continue
            reserved += 1
            if n % 3 == 0:
                inventory.release(rid)
                reserved -= 1
            else:
                inventory.commit(rid)
    finally:
        inventory.close()
    return reserved, failed


class InventoryConformance:
    """Tests that hold for every inventory backend.

    Attributes:
        capabilities: ``"reopen"`` (the ``reopen`` fixture gives another handle on
            the same data), ``"processes"`` (other processes can open
            ``inventory_url`` and work on the same data at once) and
            ``"row_locks"`` (transactions wait only for the rows others hold).
        process_count: Processes in the multi-process race.
        process_operations: Operations per process in that race.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset()
    process_count: ClassVar[int] = 4
    process_operations: ClassVar[int] = 200

    def require(self, capability: str) -> None:
        """Skip the calling test unless the backend declares ``capability``."""
        if capability not in self.capabilities:
            pytest.skip(f"{type(self).__name__} does not declare the {capability!r} capability")

    @pytest.fixture
    def inventory(self) -> Inventory:  # pragma: no cover - always overridden
        pytest.fail("an InventoryConformance test class must define an 'inventory' fixture")

    @pytest.fixture
    def stock_messages(self) -> Messages:  # pragma: no cover - always overridden
        pytest.fail("an InventoryConformance test class must define a 'stock_messages' fixture")

    @pytest.fixture
    def corrupt(self) -> Corrupt:  # pragma: no cover - always overridden
        pytest.fail("an InventoryConformance test class must define a 'corrupt' fixture")

    @pytest.fixture
    def reopen(self) -> Callable[[Inventory], Inventory]:
        """Another handle on the same data (backends with ``"reopen"`` override it)."""
        self.require("reopen")
        pytest.fail("a backend declaring 'reopen' must define a 'reopen' fixture")

    @pytest.fixture
    def inventory_url(self) -> str:
        """A URL other processes open (backends with ``"processes"`` override it)."""
        self.require("processes")
        pytest.fail("a backend declaring 'processes' must define an 'inventory_url' fixture")

    @pytest.fixture
    def stocked(self, inventory: Inventory) -> Inventory:
        """Two warehouses and a store; MUG 10 at WH1, 4 at WH2; TEA 5 at WH1."""
        inventory.add_location(Location(id="WH1", name="Hangzhou", region="east", priority=10))
        inventory.add_location(Location(id="WH2", name="Beijing", region="north", priority=20))
        inventory.add_location(Location(id="SHOP", kind=LocationKind.STORE, priority=90))
        inventory.receive("MUG", "WH1", 10, actor=STAFF, reason="opening count")
        inventory.receive("MUG", "WH2", 4, actor=STAFF)
        inventory.receive("TEA", "WH1", 5, actor=STAFF)
        return inventory

    # -- locations, receipts, reads --------------------------------------------------------

    def test_stock_levels_lists_every_sku_by_sku_then_location(self, stocked: Inventory) -> None:
        stocked.reserve(_request("o1", _line("MUG", 3, location="WH1")))
        assert [
            (lv.sku, lv.location, lv.reserved, lv.available) for lv in stocked.stock_levels()
        ] == [
            ("MUG", "WH1", 3, 7),
            ("MUG", "WH2", 0, 4),
            ("TEA", "WH1", 0, 5),
        ]
        assert [(lv.sku, lv.location) for lv in stocked.stock_levels(location="WH1")] == [
            ("MUG", "WH1"),
            ("TEA", "WH1"),
        ]
        assert stocked.stock_levels(location="SHOP") == []
        with pytest.raises(ConfigurationError, match="location"):
            stocked.stock_levels(location="")

    def test_locations_are_listed_by_priority(self, stocked: Inventory) -> None:
        assert [loc.id for loc in stocked.locations()] == ["WH1", "WH2", "SHOP"]
        assert stocked.locations()[2].kind is LocationKind.STORE

    def test_receive_adds_on_hand_and_stock_lists_each_location(self, stocked: Inventory) -> None:
        levels = stocked.stock("MUG")
        assert [(lv.location, lv.on_hand, lv.available) for lv in levels] == [
            ("WH1", 10, 10),
            ("WH2", 4, 4),
        ]
        assert stocked.available("MUG") == 14
        assert stocked.available("MUG", location="WH2") == 4
        assert stocked.available("NOTHING") == 0
        assert stocked.stock("NOTHING") == []

    def test_unknown_location_is_refused_everywhere(self, stocked: Inventory) -> None:
        with pytest.raises(UnknownLocation) as caught:
            stocked.receive("MUG", "NOWHERE", 1, actor=STAFF)
        assert caught.value.location == "NOWHERE"
        with pytest.raises(UnknownLocation):
            stocked.reserve(_request("o1", _line("MUG", 1, "NOWHERE")))
        with pytest.raises(UnknownLocation):
            stocked.transfer("MUG", "WH1", "NOWHERE", 1, actor=STAFF)
        with pytest.raises(UnknownLocation):
            stocked.propose_adjustment("MUG", "NOWHERE", 1, reason="count", actor=STAFF)

    @pytest.mark.parametrize("quantity", [0, -1, 1.5, True, "3"])
    def test_bad_quantities_are_configuration_errors(
        self, stocked: Inventory, quantity: Any
    ) -> None:
        with pytest.raises(ConfigurationError, match="quantity"):
            stocked.receive("MUG", "WH1", quantity, actor=STAFF)
        with pytest.raises(ConfigurationError, match="quantity"):
            ReservationLine(sku="MUG", quantity=quantity)

    def test_requests_name_the_bad_field(self) -> None:
        with pytest.raises(ConfigurationError, match="lines"):
            ReservationRequest(reservation_id="o1", lines=())
        with pytest.raises(ConfigurationError, match="reservation_id"):
            _request("", _line("MUG", 1))
        with pytest.raises(ConfigurationError, match="ttl"):
            _request("o1", _line("MUG", 1), ttl=timedelta(0))
        with pytest.raises(ConfigurationError, match="backorder"):
            _request("o1", _line("MUG", 1), backorder="sometimes")
        with pytest.raises(ConfigurationError, match="sku"):
            ReservationLine(sku="", quantity=1)
        with pytest.raises(ConfigurationError, match=r"Location\.id"):
            Location(id="")

    # -- reserve ---------------------------------------------------------------------------

    def test_reserve_holds_stock(self, stocked: Inventory) -> None:
        reservation = stocked.reserve(_request("o1", _line("MUG", 3), channel="douyin"))
        assert reservation.status is ReservationStatus.ACTIVE
        assert [(ln.sku, ln.location, ln.quantity) for ln in reservation.lines] == [
            ("MUG", "WH1", 3)
        ]
        assert reservation.channel == "douyin" and reservation.version == 1
        assert reservation.expires_at is None
        level = stocked.stock("MUG", "WH1")[0]
        assert (level.on_hand, level.reserved, level.available) == (10, 3, 7)
        assert stocked.reservation("o1") == reservation

    def test_reserve_is_all_or_nothing_and_names_the_shortage(
        self, stocked: Inventory, stock_messages: Messages
    ) -> None:
        before = _snapshot(stocked, stock_messages)
        with pytest.raises(InsufficientStock) as caught:
            stocked.reserve(_request("o1", _line("MUG", 2), _line("TEA", 6)))
        error = caught.value
        assert (error.sku, error.location, error.requested, error.available) == (
            "TEA",
            "WH1",
            6,
            5,
        )
        assert error.channel is None
        assert _snapshot(stocked, stock_messages) == before
        with pytest.raises(ReservationNotFound):
            stocked.reservation("o1")

    def test_lines_of_one_sku_are_summed_before_the_check(self, stocked: Inventory) -> None:
        with pytest.raises(InsufficientStock) as caught:
            stocked.reserve(_request("o1", _line("TEA", 3), _line("TEA", 3)))
        assert (caught.value.requested, caught.value.available) == (6, 5)
        assert stocked.available("TEA") == 5
        reservation = stocked.reserve(_request("o2", _line("TEA", 2), _line("TEA", 3)))
        assert [(ln.sku, ln.quantity) for ln in reservation.lines] == [("TEA", 5)]
        assert stocked.available("TEA") == 0

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(
        stock=st.integers(min_value=0, max_value=12),
        orders=st.lists(
            st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=4),
            min_size=1,
            max_size=6,
        ),
    )
    def test_r2_same_sku_lines_never_oversell(
        self, inventory: Inventory, stock: int, orders: list[list[int]]
    ) -> None:
        """R2: orders with several lines of one SKU; demand summed, never oversold."""
        location = f"L{new_id()}"
        sku = f"S{new_id()}"
        inventory.add_location(Location(id=location))
        if stock:
            inventory.receive(sku, location, stock, actor=STAFF)
        left = stock
        for n, quantities in enumerate(orders):
            lines = [_line(sku, q, location) for q in quantities]
            wanted = sum(quantities)
            if wanted <= left:
                inventory.reserve(_request(f"{sku}-{n}", *lines))
                left -= wanted
            else:
                with pytest.raises(InsufficientStock) as caught:
                    inventory.reserve(_request(f"{sku}-{n}", *lines))
                assert (caught.value.requested, caught.value.available) == (wanted, left)
            level = inventory.stock(sku, location)
            reserved = level[0].reserved if level else 0
            assert reserved == stock - left <= stock
        assert inventory.verify() == []

    def test_a_reservation_id_is_used_once(self, stocked: Inventory) -> None:
        stocked.reserve(_request("o1", _line("MUG", 1)))
        with pytest.raises(ReservationStateError) as caught:
            stocked.reserve(_request("o1", _line("MUG", 1)))
        assert caught.value.operation == "reserve" and caught.value.status == "active"
        assert stocked.available("MUG", location="WH1") == 9

    def test_unplaced_lines_go_to_the_preferred_location_that_covers_them(
        self, stocked: Inventory
    ) -> None:
        first = stocked.reserve(_request("o1", _line("MUG", 3, None)))
        assert [ln.location for ln in first.lines] == ["WH1"]
        stocked.reserve(_request("o2", _line("MUG", 6, None)))  # WH1 has 7 left
        third = stocked.reserve(_request("o3", _line("MUG", 3, None)))
        assert [ln.location for ln in third.lines] == ["WH2"]
        with pytest.raises(InsufficientStock) as caught:
            stocked.reserve(_request("o4", _line("MUG", 2, None)))
        assert caught.value.location is None and caught.value.available == 2
        by_request = stocked.reserve(_request("o5", _line("MUG", 1, None), location="WH2"))
        assert [ln.location for ln in by_request.lines] == ["WH2"]

    def test_reserve_many_refuses_requests_one_by_one(
        self, stocked: Inventory, stock_messages: Messages
    ) -> None:
        results = stocked.reserve_many(
            [
                _request("o1", _line("TEA", 3)),
                _request("o2", _line("TEA", 1), _line("MUG", 20)),
                _request("o3", _line("TEA", 2)),
            ]
        )
        assert isinstance(results[0], Reservation) and isinstance(results[2], Reservation)
        refused = results[1]
        assert isinstance(refused, InsufficientStock) and refused.sku == "MUG"
        assert stocked.available("TEA") == 0 and stocked.available("MUG") == 14
        with pytest.raises(ReservationNotFound):
            stocked.reservation("o2")
        assert stocked.verify() == []
        reserve_entries = [e for e in stocked.ledger() if e.kind is EntryKind.RESERVE]
        assert sorted(e.reservation_id or "" for e in reserve_entries) == ["o1", "o3"]

    def test_reserve_many_locks_every_candidate_row_before_any_quota_row(
        self, stocked: Inventory
    ) -> None:
        """The batch locks stock rows (sorted) before quota rows, unlocated lines included."""
        stocked.set_quota("MUG", "douyin", 10)
        watched = _LockOrder(stocked.backend)
        inventory = Inventory(watched)
        results = inventory.reserve_many(
            [
                _request("o1", _line("MUG", 2, "WH2"), channel="douyin"),
                _request("o2", _line("MUG", 3, None)),  # placed on WH1, the preferred row
            ]
        )
        assert [r.lines[0].location for r in results if isinstance(r, Reservation)] == [
            "WH2",
            "WH1",
        ]
        assert watched.violations == []
        assert stocked.quotas("MUG") == {("MUG", "douyin"): (10, 2)}
        assert stocked.verify() == []

    def test_a_second_pass_of_reserve_keeps_the_lock_order(self, stocked: Inventory) -> None:
        """Dropping gifts after a refused first pass locks no new row after a quota row."""
        stocked.reserve(_request("o0", _line("MUG", 7)))  # WH1 keeps 3, WH2 has 4
        stocked.set_quota("MUG", "douyin", 3)
        watched = _LockOrder(stocked.backend)
        request = _request(
            "o1",
            _line("MUG", 2, None),
            _line("MUG", 2, None, gift=True),  # 4 units: only WH2 covers them...
            channel="douyin",  # ...and the quota refuses them, so the gift is dropped
            gift_policy="drop",
        )
        held = Inventory(watched).reserve(request)
        assert [(ln.sku, ln.location, ln.quantity) for ln in held.lines] == [("MUG", "WH1", 2)]
        assert [(ln.sku, ln.quantity, ln.gift) for ln in held.dropped] == [("MUG", 2, True)]
        assert watched.violations == []
        assert stocked.quotas("MUG") == {("MUG", "douyin"): (3, 2)}
        assert stocked.verify() == []

    def test_reserve_many_places_unlocated_lines_as_reserve_does(self, stocked: Inventory) -> None:
        results = stocked.reserve_many(
            [
                _request("o1", _line("MUG", 8, None)),
                _request("o2", _line("MUG", 3, None)),  # WH1 keeps 2: WH2 covers it
                _request("o3", _line("MUG", 4, None)),  # nowhere covers 4
            ]
        )
        first, second, third = results
        assert isinstance(first, Reservation) and first.lines[0].location == "WH1"
        assert isinstance(second, Reservation) and second.lines[0].location == "WH2"
        assert isinstance(third, InsufficientStock) and third.location is None
        assert stocked.available("MUG") == 3 and stocked.verify() == []

    # -- idempotency (R9) ----------------------------------------------------------------

    def test_r9_same_key_and_request_returns_the_first_result(self, stocked: Inventory) -> None:
        request = _request("o1", _line("MUG", 2))
        first = stocked.reserve(request, idempotency_key="pay-1")
        stocked.commit("o1")
        again = stocked.reserve(request, idempotency_key="pay-1")
        assert again == first
        assert stocked.stock("MUG", "WH1")[0].on_hand == 8

    def test_r9_same_key_with_another_request_conflicts(
        self, stocked: Inventory, stock_messages: Messages
    ) -> None:
        stocked.reserve(_request("o1", _line("MUG", 2)), idempotency_key="pay-1")
        before = _snapshot(stocked, stock_messages)
        with pytest.raises(IdempotencyConflict) as caught:
            stocked.reserve(_request("o1", _line("MUG", 3)), idempotency_key="pay-1")
        assert caught.value.key == "pay-1"
        assert _snapshot(stocked, stock_messages) == before

    def test_r9_a_refused_request_does_not_consume_its_key(self, stocked: Inventory) -> None:
        request = _request("o1", _line("TEA", 7))
        with pytest.raises(InsufficientStock):
            stocked.reserve(request, idempotency_key="k")
        stocked.receive("TEA", "WH1", 2, actor=STAFF)
        assert stocked.reserve(request, idempotency_key="k").status is ReservationStatus.ACTIVE

    def test_r9_concurrent_use_of_one_key(self, stocked: Inventory) -> None:
        request = _request("o1", _line("MUG", 4))
        barrier = threading.Barrier(8)

        def attempt(_: int) -> Reservation:
            barrier.wait()
            return stocked.reserve(request, idempotency_key="burst")

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(attempt, range(8)))
        assert all(result == results[0] for result in results)
        assert stocked.stock("MUG", "WH1")[0].reserved == 4
        assert len([e for e in stocked.ledger() if e.kind is EntryKind.RESERVE]) == 1

    # -- TTL, release, commit ---------------------------------------------------------------

    def test_expire_due_releases_what_is_past_its_ttl(self, stocked: Inventory) -> None:
        now = utc_now()
        stocked.reserve(_request("o1", _line("MUG", 2), ttl=timedelta(minutes=15)), now=now)
        stocked.reserve(_request("o2", _line("MUG", 3), ttl=timedelta(minutes=30)), now=now)
        stocked.reserve(_request("o3", _line("MUG", 1)), now=now)
        assert stocked.reservation("o1").expires_at == now + timedelta(minutes=15)
        assert stocked.expire_due(now + timedelta(minutes=10)) == []
        expired = stocked.expire_due(now + timedelta(minutes=20))
        assert [r.id for r in expired] == ["o1"]
        assert expired[0].status is ReservationStatus.EXPIRED
        assert stocked.available("MUG", location="WH1") == 6
        assert [r.id for r in stocked.expire_due(now + timedelta(days=1), limit=5)] == ["o2"]
        assert stocked.reservation("o3").status is ReservationStatus.ACTIVE
        with pytest.raises(ReservationStateError):
            stocked.release("o1")
        assert stocked.verify() == []

    def test_release_gives_everything_back(self, stocked: Inventory) -> None:
        stocked.reserve(_request("o1", _line("MUG", 2), _line("TEA", 1)))
        released = stocked.release("o1", reason="customer cancelled")
        assert released.status is ReservationStatus.RELEASED and released.version == 2
        assert stocked.available("MUG") == 14 and stocked.available("TEA") == 5
        entry = next(e for e in stocked.ledger() if e.kind is EntryKind.RELEASE)
        assert entry.reason == "customer cancelled" and entry.reservation_id == "o1"
        with pytest.raises(ReservationStateError) as caught:
            stocked.release("o1")
        assert (caught.value.status, caught.value.operation) == ("released", "release")
        with pytest.raises(ReservationNotFound) as missing:
            stocked.release("nope")
        assert missing.value.reservation_id == "nope"

    def test_commit_ships_held_units(self, stocked: Inventory, stock_messages: Messages) -> None:
        stocked.reserve(_request("o1", _line("MUG", 3), ttl=timedelta(minutes=5)))
        count = len(stock_messages(stocked))
        committed = stocked.commit("o1")
        assert committed.status is ReservationStatus.COMMITTED and committed.expires_at is None
        level = stocked.stock("MUG", "WH1")[0]
        assert (level.on_hand, level.reserved, level.available) == (7, 0, 7)
        assert len(stock_messages(stocked)) == count  # availability did not change
        with pytest.raises(ReservationStateError):
            stocked.commit("o1")
        with pytest.raises(ReservationStateError):
            stocked.release("o1")

    def test_partial_commit(self, stocked: Inventory) -> None:
        stocked.reserve(_request("o1", _line("MUG", 3), _line("TEA", 2)))
        partial = stocked.commit("o1", {"MUG": 2})
        assert partial.status is ReservationStatus.PARTIALLY_COMMITTED
        assert {(ln.sku, ln.committed) for ln in partial.lines} == {("MUG", 2), ("TEA", 0)}
        with pytest.raises(InsufficientStock) as caught:
            stocked.commit("o1", {"MUG": 2})
        assert (caught.value.requested, caught.value.available) == (2, 1)
        released = stocked.release("o1")
        assert {(ln.sku, ln.quantity, ln.committed) for ln in released.lines} == {("MUG", 2, 2)}
        mug = stocked.stock("MUG", "WH1")[0]
        assert (mug.on_hand, mug.reserved) == (8, 0)
        assert stocked.available("TEA") == 5
        assert stocked.verify() == []

    def test_a_partially_committed_reservation_does_not_expire(self, stocked: Inventory) -> None:
        """A shipment means the order is paid: the first commit ends the TTL."""
        now = utc_now()
        request = _request("o1", _line("MUG", 3), _line("TEA", 2), ttl=timedelta(minutes=15))
        assert stocked.reserve(request, now=now).expires_at == now + timedelta(minutes=15)
        partial = stocked.commit("o1", {"MUG": 1}, now=now + timedelta(minutes=1))
        assert partial.status is ReservationStatus.PARTIALLY_COMMITTED
        assert partial.expires_at is None
        assert stocked.expire_due(now + timedelta(days=30)) == []
        edited = stocked.modify(
            "o1", _request("o1", _line("MUG", 2), _line("TEA", 2), ttl=timedelta(minutes=15))
        )
        assert edited.status is ReservationStatus.PARTIALLY_COMMITTED
        assert edited.expires_at is None  # a new TTL does not restart either
        assert stocked.expire_due(now + timedelta(days=30)) == []
        held = stocked.reservation("o1")
        assert held.status is ReservationStatus.PARTIALLY_COMMITTED
        assert {(ln.sku, ln.quantity, ln.committed) for ln in held.lines} == {
            ("MUG", 2, 1),
            ("TEA", 2, 0),
        }
        assert stocked.available("MUG", location="WH1") == 8 and stocked.available("TEA") == 3
        assert stocked.release("o1").status is ReservationStatus.RELEASED
        assert stocked.available("TEA") == 5 and stocked.verify() == []

    # -- modify ----------------------------------------------------------------------------

    def test_modify_moves_only_the_difference(self, stocked: Inventory) -> None:
        stocked.reserve(_request("o1", _line("MUG", 3), _line("TEA", 2)))
        changed = stocked.modify("o1", _request("o1", _line("MUG", 5), _line("TEA", 1)))
        assert {(ln.sku, ln.quantity) for ln in changed.lines} == {("MUG", 5), ("TEA", 1)}
        assert changed.version == 2
        modify = [e for e in stocked.ledger() if e.kind is EntryKind.MODIFY]
        assert sorted((e.sku, e.reserved) for e in modify) == [("MUG", 2), ("TEA", -1)]
        assert stocked.available("MUG", location="WH1") == 5
        assert stocked.available("TEA") == 4
        same = stocked.modify("o1", _request("o1", _line("MUG", 5), _line("TEA", 1)))
        assert [e for e in stocked.ledger() if e.kind is EntryKind.MODIFY] == modify
        assert same.version == 3
        assert stocked.verify() == []

    def test_modify_that_cannot_be_reserved_changes_nothing(
        self, stocked: Inventory, stock_messages: Messages
    ) -> None:
        stocked.reserve(_request("o1", _line("MUG", 3), _line("TEA", 2)))
        before = _snapshot(stocked, stock_messages)
        with pytest.raises(InsufficientStock) as caught:
            stocked.modify("o1", _request("o1", _line("MUG", 1), _line("TEA", 9)))
        assert (caught.value.sku, caught.value.requested, caught.value.available) == ("TEA", 7, 3)
        assert _snapshot(stocked, stock_messages) == before
        assert stocked.reservation("o1").version == 1

    def test_modify_keeps_committed_units(self, stocked: Inventory) -> None:
        stocked.reserve(_request("o1", _line("MUG", 3)))
        stocked.commit("o1", {"MUG": 2})
        with pytest.raises(ConfigurationError, match="committed"):
            stocked.modify("o1", _request("o1", _line("MUG", 1)))
        changed = stocked.modify("o1", _request("o1", _line("MUG", 2)))
        assert changed.status is ReservationStatus.PARTIALLY_COMMITTED
        assert stocked.stock("MUG", "WH1")[0].reserved == 0
        with pytest.raises(ConfigurationError):
            stocked.modify("o1", _request("o2", _line("MUG", 2)))
        stocked.commit("o1")
        with pytest.raises(ReservationStateError):
            stocked.modify("o1", _request("o1", _line("MUG", 2)))

    # -- gifts, quotas ---------------------------------------------------------------------

    def test_gift_policy_fail_refuses_the_whole_request(self, stocked: Inventory) -> None:
        request = _request("o1", _line("MUG", 2), _line("TEA", 9, gift=True))
        with pytest.raises(InsufficientStock) as caught:
            stocked.reserve(request)
        assert caught.value.sku == "TEA"
        assert stocked.available("MUG") == 14

    def test_gift_policy_drop_reserves_the_rest(self, stocked: Inventory) -> None:
        request = _request(
            "o1", _line("MUG", 2), _line("TEA", 9, gift=True), gift_policy=GiftPolicy.DROP
        )
        reservation = stocked.reserve(request)
        assert [(ln.sku, ln.quantity, ln.gift) for ln in reservation.lines] == [("MUG", 2, False)]
        assert [(ln.sku, ln.quantity) for ln in reservation.dropped] == [("TEA", 9)]
        assert stocked.available("TEA") == 5
        kept = stocked.reserve(
            _request("o2", _line("MUG", 1), _line("TEA", 1, gift=True), gift_policy="drop")
        )
        assert {(ln.sku, ln.gift) for ln in kept.lines} == {("MUG", False), ("TEA", True)}
        assert kept.dropped == ()
        with pytest.raises(InsufficientStock):
            stocked.reserve(
                _request("o3", _line("MUG", 50), _line("TEA", 1, gift=True), gift_policy="drop")
            )

    def test_channel_quotas(self, stocked: Inventory) -> None:
        stocked.set_quota("MUG", "douyin", 5)
        assert stocked.available("MUG", channel="douyin") == 5
        assert stocked.available("MUG", channel="jd") == 14
        stocked.reserve(_request("o1", _line("MUG", 3), channel="douyin"))
        assert stocked.available("MUG", channel="douyin") == 2
        with pytest.raises(InsufficientStock) as caught:
            stocked.reserve(_request("o2", _line("MUG", 3), channel="douyin"))
        assert caught.value.channel == "douyin" and caught.value.available == 2
        assert stocked.available("MUG") == 11  # the refused request holds nothing
        stocked.reserve(_request("o3", _line("MUG", 3), channel="jd"))
        stocked.release("o1")
        assert stocked.available("MUG", channel="douyin") == 5
        stocked.reserve(_request("o4", _line("MUG", 4), channel="douyin"))
        stocked.commit("o4")
        assert stocked.quotas("MUG") == {("MUG", "douyin"): (5, 4)}
        stocked.set_quota("MUG", "douyin", None)
        assert stocked.quotas() == {}
        assert stocked.available("MUG", channel="douyin") == stocked.available("MUG")

    # -- backorders ------------------------------------------------------------------------

    def test_wait_queues_the_whole_request_first_in_first_out(self, stocked: Inventory) -> None:
        first = stocked.reserve(_request("o1", _line("TEA", 7), backorder=BackorderPolicy.WAIT))
        assert first.status is ReservationStatus.BACKORDERED and first.lines == ()
        assert [(ln.sku, ln.quantity) for ln in first.waiting] == [("TEA", 7)]
        stocked.reserve(_request("o2", _line("TEA", 6), backorder="wait"))
        assert stocked.available("TEA") == 5  # nothing held while waiting
        assert [r.id for r in stocked.backorders("TEA")] == ["o1", "o2"]
        stocked.receive("TEA", "WH1", 1, actor=STAFF)  # 6: o1 still short, o2 must not jump
        assert stocked.reservation("o2").status is ReservationStatus.BACKORDERED
        assert stocked.available("TEA") == 6
        stocked.receive("TEA", "WH1", 1, actor=STAFF)  # 7: o1 is served
        served = stocked.reservation("o1")
        assert served.status is ReservationStatus.ACTIVE and served.waiting == ()
        assert [(ln.sku, ln.quantity) for ln in served.lines] == [("TEA", 7)]
        assert [r.id for r in stocked.backorders()] == ["o2"]
        stocked.release("o1")  # released stock serves the queue
        assert stocked.reservation("o2").status is ReservationStatus.ACTIVE
        assert stocked.backorders() == []
        assert stocked.available("TEA") == 1
        assert stocked.verify() == []

    def test_ship_partial_reserves_what_is_there_and_queues_the_rest(
        self, stocked: Inventory
    ) -> None:
        request = _request("o1", _line("TEA", 8), _line("MUG", 1), backorder="ship_partial")
        partial = stocked.reserve(request)
        assert partial.status is ReservationStatus.ACTIVE
        assert {(ln.sku, ln.quantity) for ln in partial.lines} == {("TEA", 5), ("MUG", 1)}
        assert [(ln.sku, ln.quantity) for ln in partial.waiting] == [("TEA", 3)]
        stocked.return_stock("TEA", "WH1", 2, actor=STAFF, reason="return accepted")
        assert [(ln.sku, ln.quantity) for ln in stocked.reservation("o1").waiting] == [("TEA", 1)]
        stocked.receive("TEA", "WH1", 4, actor=STAFF)
        done = stocked.reservation("o1")
        assert done.waiting == () and {(ln.sku, ln.quantity) for ln in done.lines} == {
            ("TEA", 8),
            ("MUG", 1),
        }
        assert stocked.available("TEA") == 3 and stocked.backorders() == []
        stocked.release("o1")
        assert stocked.available("TEA") == 11 and stocked.verify() == []

    def test_releasing_a_backordered_request_leaves_the_queue(self, stocked: Inventory) -> None:
        stocked.reserve(_request("o1", _line("TEA", 9), backorder="wait"))
        assert stocked.release("o1").status is ReservationStatus.RELEASED
        assert stocked.backorders() == []
        stocked.receive("TEA", "WH1", 10, actor=STAFF)
        assert stocked.reservation("o1").status is ReservationStatus.RELEASED

    def test_expiry_serves_the_queue(self, stocked: Inventory) -> None:
        now = utc_now()
        stocked.reserve(_request("o1", _line("TEA", 5), ttl=timedelta(minutes=5)), now=now)
        waiting = stocked.reserve(
            _request("o2", _line("TEA", 4), ttl=timedelta(minutes=5), backorder="wait"), now=now
        )
        assert waiting.expires_at is None  # a TTL starts when the stock is held
        later = now + timedelta(minutes=6)
        assert [r.id for r in stocked.expire_due(later)] == ["o1"]
        served = stocked.reservation("o2")
        assert served.status is ReservationStatus.ACTIVE
        assert served.expires_at == later + timedelta(minutes=5)
        assert stocked.available("TEA") == 1 and stocked.verify() == []

    def test_a_request_blocked_by_another_sku_does_not_block_the_queue(
        self, stocked: Inventory
    ) -> None:
        stocked.reserve(_request("o1", _line("TEA", 6), _line("MUG", 20), backorder="wait"))
        stocked.reserve(_request("o2", _line("TEA", 6), backorder="wait"))
        stocked.receive("TEA", "WH1", 1, actor=STAFF)
        assert stocked.reservation("o1").status is ReservationStatus.BACKORDERED  # MUG short
        assert stocked.reservation("o2").status is ReservationStatus.ACTIVE
        assert [r.id for r in stocked.backorders()] == ["o1"]
        assert stocked.available("TEA") == 0 and stocked.available("MUG") == 14
        stocked.receive("MUG", "WH1", 10, actor=STAFF)  # MUG 20 at WH1, TEA still short
        assert stocked.reservation("o1").status is ReservationStatus.BACKORDERED
        stocked.receive("TEA", "WH1", 6, actor=STAFF)
        assert stocked.reservation("o1").status is ReservationStatus.ACTIVE
        assert stocked.backorders() == [] and stocked.verify() == []

    def test_raising_a_quota_serves_the_queue(self, stocked: Inventory) -> None:
        stocked.set_quota("TEA", "douyin", 2)
        waiting = stocked.reserve(
            _request("o1", _line("TEA", 4), channel="douyin", backorder="wait")
        )
        assert waiting.status is ReservationStatus.BACKORDERED
        stocked.set_quota("TEA", "douyin", 10)
        assert stocked.reservation("o1").status is ReservationStatus.ACTIVE
        assert stocked.quotas("TEA") == {("TEA", "douyin"): (10, 4)}
        assert stocked.retry_backorders() == []

    def test_a_sweep_serves_what_is_there_now(self, stocked: Inventory, corrupt: Corrupt) -> None:
        stocked.reserve(_request("o1", _line("TEA", 7), backorder="wait"))
        corrupt(stocked, "TEA", "WH1", "on_hand", 2)  # stock that no arrival announced
        served = stocked.retry_backorders("TEA")
        assert [(r.id, r.status) for r in served] == [("o1", ReservationStatus.ACTIVE)]
        assert stocked.backorders() == [] and stocked.retry_backorders() == []

    def test_a_quota_read_with_skip_locked(self, stocked: Inventory) -> None:
        """``get_quota(skip_locked=True)`` reads like a locking read when nobody holds the row."""
        stocked.set_quota("MUG", "douyin", 5)
        with stocked.backend.transaction() as txn:
            assert txn.get_quota("MUG", "douyin", lock=True, skip_locked=True) == (5, 0)
            assert txn.get_quota("MUG", "douyin", lock=True, skip_locked=True) == (5, 0)
            assert txn.get_quota("MUG", "jd", lock=True, skip_locked=True) is None

    def test_a_quota_row_another_transaction_holds_is_busy(self, stocked: Inventory) -> None:
        self.require("row_locks")
        stocked.set_quota("MUG", "douyin", 5)
        with self._holding_quota(stocked, [("MUG", "douyin")]) as holding:
            with stocked.backend.transaction() as txn:
                assert txn.get_quota("MUG", "douyin", lock=True, skip_locked=True) is BUSY
                assert txn.get_quota("MUG", "jd", lock=True, skip_locked=True) is None
                assert txn.get_quota("MUG", "douyin") == (5, 0)  # plain reads never wait
            assert holding.is_set()

    def test_serving_the_queue_passes_a_request_whose_quota_row_is_busy(
        self, stocked: Inventory
    ) -> None:
        """Backorder serving never waits for a quota row: the request stays queued."""
        self.require("row_locks")
        stocked.set_quota("TEA", "douyin", 10)
        stocked.set_quota("MUG", "douyin", 30)
        stocked.reserve(_request("o1", _line("TEA", 7), channel="douyin", backorder="wait"))
        partial = stocked.reserve(
            _request("o2", _line("MUG", 12), channel="douyin", backorder="ship_partial")
        )
        assert [(ln.sku, ln.quantity) for ln in partial.waiting] == [("MUG", 2)]
        busy = [("TEA", "douyin"), ("MUG", "douyin")]
        with self._holding_quota(stocked, busy) as holding:
            stocked.receive("TEA", "WH1", 5, actor=STAFF)
            stocked.receive("MUG", "WH1", 5, actor=STAFF)
            assert holding.is_set(), "the receipts waited for the quota rows"
        assert stocked.reservation("o1").status is ReservationStatus.BACKORDERED
        assert [(ln.sku, ln.quantity) for ln in stocked.reservation("o2").waiting] == [("MUG", 2)]
        assert [r.id for r in stocked.backorders()] == ["o1", "o2"]
        assert stocked.available("TEA") == 10 and stocked.available("MUG", location="WH1") == 5
        served = stocked.retry_backorders()
        assert [r.id for r in served] == ["o2", "o1"]  # SKU order: MUG, then TEA
        assert stocked.backorders() == [] and stocked.available("TEA") == 3
        assert stocked.quotas() == {("MUG", "douyin"): (30, 12), ("TEA", "douyin"): (10, 7)}
        assert stocked.verify() == []

    @contextmanager
    def _holding_quota(
        self, inventory: Inventory, rows: Sequence[tuple[str, str]], patience: float = 10.0
    ) -> Iterator[threading.Event]:
        """Hold quota rows in another transaction while the block runs.

        Yields an event that stays set while the rows are held; the holder lets
        go when the block ends, or after ``patience`` seconds (then clears the
        event, so a block that waited for the rows sees it cleared).
        """
        holding = threading.Event()
        done = threading.Event()
        failed: list[BaseException] = []

        def hold() -> None:
            try:
                with inventory.backend.transaction() as txn:
                    for sku, channel in rows:
                        assert txn.get_quota(sku, channel, lock=True) is not None
                    holding.set()
                    done.wait(patience)
                    holding.clear()
            except BaseException as exc:  # pragma: no cover - reported below
                failed.append(exc)
                holding.set()

        holder = threading.Thread(target=hold)
        holder.start()
        try:
            assert holding.wait(patience), "the holder could not lock the quota rows"
            assert failed == []
            yield holding
        finally:
            done.set()
            holder.join(patience)
        assert failed == []

    def test_an_idempotent_backorder(self, stocked: Inventory) -> None:
        request = _request("o1", _line("TEA", 9), backorder="wait")
        first = stocked.reserve(request, idempotency_key="k")
        assert stocked.reserve(request, idempotency_key="k") == first
        assert [r.id for r in stocked.backorders()] == ["o1"]

    def test_modify_respects_the_channel_quota(self, stocked: Inventory) -> None:
        stocked.set_quota("MUG", "douyin", 4)
        stocked.reserve(_request("o1", _line("MUG", 3), channel="douyin"))
        with pytest.raises(InsufficientStock) as caught:
            stocked.modify("o1", _request("o1", _line("MUG", 5), channel="douyin"))
        assert caught.value.channel == "douyin" and caught.value.available == 1
        assert stocked.available("MUG", location="WH1") == 7
        stocked.modify("o1", _request("o1", _line("MUG", 1), channel="douyin"))
        assert stocked.available("MUG", channel="douyin") == 3
        with pytest.raises(ConfigurationError, match="channel"):
            stocked.modify("o1", _request("o1", _line("MUG", 1), channel="jd"))

    def test_a_batch_naming_an_unknown_location_writes_nothing(
        self, stocked: Inventory, stock_messages: Messages
    ) -> None:
        before = _snapshot(stocked, stock_messages)
        with pytest.raises(UnknownLocation):
            stocked.reserve_many(
                [_request("o1", _line("MUG", 1)), _request("o2", _line("MUG", 1, "MARS"))]
            )
        assert _snapshot(stocked, stock_messages) == before

    # -- returns, adjustments, transfers ---------------------------------------------------

    def test_returns_to_stock_and_damaged_returns(
        self, stocked: Inventory, stock_messages: Messages
    ) -> None:
        count = len(stock_messages(stocked))
        level = stocked.return_stock("MUG", "WH2", 2, damaged=True, actor=STAFF, reason="cracked")
        assert (level.on_hand, level.damaged, level.available) == (4, 2, 4)
        assert len(stock_messages(stocked)) == count  # damaged units are never available
        level = stocked.return_stock("MUG", "WH2", 1, actor=STAFF, ref="RMA-7")
        assert (level.on_hand, level.available) == (5, 5)
        kinds = [(e.kind, e.reservation_id) for e in stocked.ledger(sku="MUG", location="WH2")]
        assert kinds[-2:] == [(EntryKind.RETURN_DAMAGED, None), (EntryKind.RETURN_STOCK, "RMA-7")]
        assert stocked.verify() == []

    def test_adjustments_need_another_person_to_approve(
        self, stocked: Inventory, stock_messages: Messages
    ) -> None:
        proposed = stocked.propose_adjustment("MUG", "WH1", -3, reason="broken", actor=STAFF)
        assert proposed.status is AdjustmentStatus.PROPOSED
        assert stocked.available("MUG", location="WH1") == 10
        before = _snapshot(stocked, stock_messages)
        with pytest.raises(AdjustmentError) as caught:
            stocked.approve_adjustment(proposed.id, actor=STAFF)
        assert caught.value.adjustment_id == proposed.id and caught.value.status == "proposed"
        with pytest.raises(AdjustmentError):
            stocked.approve_adjustment(proposed.id, actor=ROBOT)
        assert _snapshot(stocked, stock_messages) == before
        approved = stocked.approve_adjustment(proposed.id, actor=MANAGER, note="seen it")
        assert approved.status is AdjustmentStatus.APPROVED and approved.decided_by == MANAGER
        assert approved.decision_note == "seen it"
        assert stocked.available("MUG", location="WH1") == 7
        entry = stocked.ledger()[-1]
        assert (entry.kind, entry.on_hand, entry.adjustment_id, entry.actor) == (
            EntryKind.ADJUST,
            -3,
            proposed.id,
            MANAGER,
        )
        assert entry.reason == "broken"
        with pytest.raises(AdjustmentError) as again:
            stocked.approve_adjustment(proposed.id, actor=MANAGER)
        assert again.value.status == "approved"
        assert stocked.adjustment(proposed.id) == approved

    def test_rejected_and_impossible_adjustments_change_nothing(
        self, stocked: Inventory, stock_messages: Messages
    ) -> None:
        gift = stocked.propose_adjustment("TEA", "WH1", -2, reason="gift out", actor=STAFF)
        rejected = stocked.reject_adjustment(gift.id, actor=MANAGER, note="no")
        assert rejected.status is AdjustmentStatus.REJECTED
        with pytest.raises(AdjustmentError):
            stocked.approve_adjustment(gift.id, actor=MANAGER)
        stocked.reserve(_request("o1", _line("TEA", 4)))
        too_much = stocked.propose_adjustment("TEA", "WH1", -2, reason="count", actor=STAFF)
        before = _snapshot(stocked, stock_messages)
        with pytest.raises(InsufficientStock) as caught:
            stocked.approve_adjustment(too_much.id, actor=MANAGER)
        assert (caught.value.requested, caught.value.available) == (2, 1)
        assert _snapshot(stocked, stock_messages) == before
        assert stocked.adjustment(too_much.id).status is AdjustmentStatus.PROPOSED
        with pytest.raises(ConfigurationError, match="reason"):
            stocked.propose_adjustment("TEA", "WH1", 1, reason=" ", actor=STAFF)
        with pytest.raises(ConfigurationError, match="delta"):
            stocked.propose_adjustment("TEA", "WH1", 0, reason="count", actor=STAFF)

    def test_approved_increase_serves_backorders(self, stocked: Inventory) -> None:
        stocked.reserve(_request("o1", _line("TEA", 6), backorder="wait"))
        found = stocked.propose_adjustment("TEA", "WH1", 1, reason="found one", actor=STAFF)
        stocked.approve_adjustment(found.id, actor=MANAGER)
        assert stocked.reservation("o1").status is ReservationStatus.ACTIVE

    def test_transfers(self, stocked: Inventory) -> None:
        sent = stocked.transfer("MUG", "WH1", "SHOP", 4, actor=STAFF)
        assert sent.status is TransferStatus.IN_TRANSIT
        source = stocked.stock("MUG", "WH1")[0]
        assert (source.on_hand, source.in_transfer, source.available) == (10, 4, 6)
        with pytest.raises(InsufficientStock) as caught:
            stocked.transfer("MUG", "WH1", "WH2", 7, actor=STAFF)
        assert (caught.value.location, caught.value.available) == ("WH1", 6)
        received = stocked.receive_transfer(sent.id, actor=MANAGER)
        assert received.status is TransferStatus.RECEIVED and received.received_at is not None
        source = stocked.stock("MUG", "WH1")[0]
        shop = stocked.stock("MUG", "SHOP")[0]
        assert (source.on_hand, source.in_transfer, shop.on_hand, shop.available) == (6, 0, 4, 4)
        with pytest.raises(TransferError) as again:
            stocked.receive_transfer(sent.id, actor=MANAGER)
        assert again.value.status == "received" and again.value.transfer_id == sent.id
        back = stocked.transfer("MUG", "SHOP", "WH1", 1, actor=STAFF)
        assert stocked.cancel_transfer(back.id, actor=STAFF).status is TransferStatus.CANCELLED
        assert stocked.available("MUG", location="SHOP") == 4
        with pytest.raises(TransferError):
            stocked.cancel_transfer(back.id, actor=STAFF)
        with pytest.raises(ConfigurationError):
            stocked.transfer("MUG", "WH1", "WH1", 1, actor=STAFF)
        kinds = [e.kind for e in stocked.ledger(sku="MUG") if e.transfer_id]
        assert kinds == [
            EntryKind.TRANSFER_OUT,
            EntryKind.TRANSFER_IN,
            EntryKind.TRANSFER_IN,
            EntryKind.TRANSFER_OUT,
            EntryKind.TRANSFER_CANCEL,
        ]
        assert stocked.transfer_record(sent.id) == received
        assert stocked.verify() == []

    # -- ledger, verify, repair, outbox ------------------------------------------------------

    def _every_operation(self, inventory: Inventory) -> None:
        now = utc_now()
        inventory.reserve(_request("a", _line("MUG", 2), ttl=timedelta(minutes=1)), now=now)
        inventory.reserve(_request("b", _line("MUG", 2), _line("TEA", 1)))
        inventory.commit("b", {"MUG": 1})
        inventory.modify("b", _request("b", _line("MUG", 3), _line("TEA", 2)))
        inventory.release("b")
        inventory.expire_due(now + timedelta(minutes=2))
        inventory.reserve(_request("c", _line("TEA", 9), backorder="wait"))
        inventory.return_stock("TEA", "WH1", 4, actor=STAFF)
        inventory.return_stock("TEA", "WH1", 1, damaged=True, actor=STAFF)
        adjustment = inventory.propose_adjustment("MUG", "WH2", -1, reason="lost", actor=STAFF)
        inventory.approve_adjustment(adjustment.id, actor=MANAGER)
        moving = inventory.transfer("MUG", "WH1", "WH2", 2, actor=STAFF)
        inventory.receive_transfer(moving.id, actor=STAFF)
        inventory.cancel_transfer(
            inventory.transfer("MUG", "WH2", "SHOP", 1, actor=STAFF).id, actor=STAFF
        )
        inventory.reserve_many([_request("d", _line("MUG", 1)), _request("e", _line("MUG", 99))])

    def test_verify_is_clean_after_every_kind_of_operation(self, stocked: Inventory) -> None:
        self._every_operation(stocked)
        assert stocked.verify() == []
        assert stocked.repair() == []
        kinds = {entry.kind for entry in stocked.ledger(limit=10_000)}
        assert kinds == set(EntryKind)

    def test_the_ledger_sums_to_the_counters(self, stocked: Inventory) -> None:
        self._every_operation(stocked)
        entries = stocked.ledger(limit=10_000)
        assert [e.seq for e in entries] == sorted({e.seq for e in entries})
        for sku in ("MUG", "TEA"):
            for level in stocked.stock(sku):
                mine = [e for e in entries if (e.sku, e.location) == (sku, level.location)]
                assert sum(e.on_hand for e in mine) == level.on_hand
                assert sum(e.reserved for e in mine) == level.reserved
                assert sum(e.in_transfer for e in mine) == level.in_transfer
                assert sum(e.damaged for e in mine) == level.damaged
        page = stocked.ledger(after_seq=entries[2].seq, limit=2)
        assert page == entries[3:5]
        assert all(e.actor.kind is ActorKind.PERSON for e in entries if e.kind is EntryKind.ADJUST)

    def test_verify_detects_drift_and_repair_rebuilds_counters(
        self, stocked: Inventory, corrupt: Corrupt, stock_messages: Messages
    ) -> None:
        stocked.reserve(_request("o1", _line("MUG", 2)))
        corrupt(stocked, "MUG", "WH1", "reserved", 5)
        corrupt(stocked, "TEA", "WH1", "on_hand", -1)
        drifts = stocked.verify()
        assert [(d.sku, d.location, d.field, d.counter, d.ledger) for d in drifts] == [
            ("MUG", "WH1", "reserved", 7, 2),
            ("TEA", "WH1", "on_hand", 4, 5),
        ]
        assert drifts[0].difference == 5
        count = len(stock_messages(stocked))
        assert stocked.repair(dry_run=True) == drifts
        assert stocked.verify() == drifts
        assert stocked.repair(dry_run=False) == drifts
        assert stocked.verify() == []
        assert stocked.stock("MUG", "WH1")[0].reserved == 2
        assert stocked.available("TEA") == 5
        assert len(stock_messages(stocked)) == count + 2

    def test_one_outbox_message_per_availability_change(
        self, stocked: Inventory, stock_messages: Messages
    ) -> None:
        messages = stock_messages(stocked)
        assert [aggregate for aggregate, _ in messages] == ["MUG@WH1", "MUG@WH2", "TEA@WH1"]
        assert messages[0][1] == {
            "sku": "MUG",
            "location": "WH1",
            "on_hand": 10,
            "reserved": 0,
            "in_transfer": 0,
            "damaged": 0,
            "available": 10,
            "cause": "receive",
        }
        stocked.reserve(_request("o1", _line("MUG", 2), _line("TEA", 1)))
        new = stock_messages(stocked)[3:]
        assert sorted((aggregate, body["available"], body["cause"]) for aggregate, body in new) == [
            ("MUG@WH1", 8, "reserve"),
            ("TEA@WH1", 4, "reserve"),
        ]
        stocked.transfer("MUG", "WH2", "WH1", 1, actor=STAFF)
        last = stock_messages(stocked)[-1]
        assert last[0] == "MUG@WH2" and last[1]["in_transfer"] == 1 and last[1]["available"] == 3

    def test_failed_operations_change_nothing(
        self, stocked: Inventory, stock_messages: Messages
    ) -> None:
        stocked.reserve(_request("o1", _line("MUG", 2)))
        before = _snapshot(stocked, stock_messages)
        failing: list[Callable[[], object]] = [
            lambda: stocked.reserve(_request("o2", _line("MUG", 1), _line("TEA", 50))),
            lambda: stocked.reserve(_request("o1", _line("MUG", 1))),
            lambda: stocked.commit("o1", {"MUG": 5}),
            lambda: stocked.commit("o1", {"TEA": 1}),
            lambda: stocked.modify("o1", _request("o1", _line("MUG", 40))),
            lambda: stocked.transfer("TEA", "WH1", "WH2", 6, actor=STAFF),
            lambda: stocked.release("missing"),
            lambda: stocked.receive("MUG", "NOWHERE", 1, actor=STAFF),
        ]
        for attempt in failing:
            with pytest.raises(
                (InsufficientStock, ReservationStateError, ReservationNotFound, UnknownLocation)
            ):
                attempt()
            assert _snapshot(stocked, stock_messages) == before
        assert stocked.reservation("o1").version == 1

    # -- concurrency and persistence -----------------------------------------------------

    def test_threads_racing_for_a_hot_sku_never_oversell(self, stocked: Inventory) -> None:
        stocked.receive("HOT", "WH1", 50, actor=STAFF)

        def attempt(n: int) -> bool:
            try:
                stocked.reserve(_request(f"t{n}", _line("HOT", 1 + n % 2)))
            except InsufficientStock:
                return False
            return True

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(attempt, range(80)))
        level = stocked.stock("HOT", "WH1")[0]
        held = sum(1 + n % 2 for n, ok in enumerate(results) if ok)
        assert level.reserved == held <= 50 and level.available >= 0
        assert level.available < 2  # refusals only when nearly nothing was left
        assert stocked.verify() == []

    def test_reopen_sees_the_same_stock(
        self, stocked: Inventory, reopen: Callable[[Inventory], Inventory]
    ) -> None:
        stocked.reserve(_request("o1", _line("MUG", 2)))
        other: Inventory = reopen(stocked)
        try:
            assert other.available("MUG", location="WH1") == 8
            assert other.reservation("o1").lines == stocked.reservation("o1").lines
            other.commit("o1")
            assert stocked.stock("MUG", "WH1")[0].on_hand == 8
            assert other.verify() == []
        finally:
            other.close()

    def test_processes_racing_for_a_hot_sku_never_oversell(
        self, stocked: Inventory, inventory_url: str
    ) -> None:
        """R1 (small): processes reserve, release and commit one hot SKU; none oversells."""
        initial = self.process_count * self.process_operations // 2
        stocked.receive("HOT", "WH1", initial, actor=STAFF)
        context = multiprocessing.get_context("spawn")
        with context.Pool(self.process_count) as pool:
            results = pool.starmap(
                _hot_worker,
                [
                    (inventory_url, "HOT", n, self.process_operations)
                    for n in range(self.process_count)
                ],
            )
        committed = sum(reserved for reserved, _ in results)
        level = stocked.stock("HOT", "WH1")[0]
        assert level.reserved == 0 and level.on_hand == initial - committed >= 0
        assert sum(failed for _, failed in results) > 0  # stock did run out
        assert stocked.verify() == []

    def test_a_closed_inventory_refuses_work(self, inventory: Inventory) -> None:
        inventory.close()
        with pytest.raises(StoreClosed):
            inventory.available("MUG")
