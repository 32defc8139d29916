"""Safety stock: thresholds, forecasts from the ledger's commits, one alert per crossing."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from ordercore.errors import (
    ConfigurationError,
    InsufficientStock,
    ReservationStateError,
    StoreError,
)
from ordercore.inventory import (
    BackorderPolicy,
    EntryKind,
    Inventory,
    LedgerEntry,
    Location,
    Reservation,
    ReservationLine,
    ReservationRequest,
    ReservationStatus,
    open_inventory,
)
from ordercore.inventory._memory import MemoryInventoryBackend
from ordercore.inventory._safety import (
    BELOW_SAFETY,
    CrossingState,
    CrossingStore,
    MemoryCrossingStore,
    SafetyLevel,
    SafetyStockMonitor,
    SafetyStockRule,
    SettingsCrossingStore,
    forecast,
    ledger_reader,
)
from ordercore.schema import Actor, ActorKind
from ordercore.storage import SQLiteStore
from ordercore.storage.kit import OutboxEntry

NOW = datetime(2026, 11, 11, 12, 0, tzinfo=UTC)
SYSTEM = Actor(kind=ActorKind.SYSTEM, id="ordercore")


def entry(
    seq: int, at: datetime, kind: EntryKind, on_hand: int, *, sku: str = "MUG-1", loc: str = "WH1"
) -> LedgerEntry:
    return LedgerEntry(
        seq=seq,
        at=at,
        sku=sku,
        location=loc,
        kind=kind,
        on_hand=on_hand,
        reserved=-on_hand if kind is EntryKind.COMMIT else 0,
        in_transfer=0,
        damaged=0,
        reservation_id=None,
        adjustment_id=None,
        transfer_id=None,
        actor=SYSTEM,
        reason=None,
    )


def ledger() -> list[LedgerEntry]:
    """14 days of history: 42 units committed in the window, noise around it."""
    day = timedelta(days=1)
    return [
        entry(1, NOW - 30 * day, EntryKind.RECEIVE, 500),
        entry(2, NOW - 20 * day, EntryKind.COMMIT, -100),  # before the window
        entry(3, NOW - 14 * day, EntryKind.COMMIT, -50),  # exactly at the start: outside
        entry(4, NOW - 13 * day, EntryKind.COMMIT, -10),
        entry(5, NOW - 13 * day, EntryKind.COMMIT, -5, loc="WH2"),  # every location counts
        entry(6, NOW - 7 * day, EntryKind.COMMIT, -20),
        entry(7, NOW - 7 * day, EntryKind.RESERVE, 0),
        entry(8, NOW - 6 * day, EntryKind.RETURN_STOCK, 4),  # not a commit
        entry(9, NOW - 2 * day, EntryKind.ADJUST, -30),  # not a sale
        entry(10, NOW - 1 * day, EntryKind.COMMIT, -7, sku="LID-1"),  # another SKU
        entry(11, NOW, EntryKind.COMMIT, -7),  # at now: inside
        entry(12, NOW + day, EntryKind.COMMIT, -99),  # after now: ignored
    ]


# -- rules --------------------------------------------------------------------------------


def test_a_rule_has_exactly_one_of_threshold_and_forecast() -> None:
    assert SafetyStockRule(sku="A", threshold=5).window_days == 14
    assert SafetyStockRule(sku="A", forecast_days=3, window_days=7).forecast_days == 3
    with pytest.raises(ConfigurationError, match="exactly one of threshold and forecast_days"):
        SafetyStockRule(sku="A")
    with pytest.raises(ConfigurationError, match="exactly one"):
        SafetyStockRule(sku="A", threshold=5, forecast_days=3)
    with pytest.raises(ConfigurationError, match="threshold must be a whole number >= 0"):
        SafetyStockRule(sku="A", threshold=-1)
    with pytest.raises(ConfigurationError, match="window_days must be a whole number >= 1"):
        SafetyStockRule(sku="A", forecast_days=3, window_days=0)
    with pytest.raises(ConfigurationError, match="two safety stock rules for SKU 'A'"):
        SafetyStockMonitor([SafetyStockRule(sku="A", threshold=1)] * 2)


# -- forecasts ----------------------------------------------------------------------------


def test_forecast_is_the_moving_average_of_daily_commits_times_the_days() -> None:
    found = forecast(ledger(), "MUG-1", days=3, window_days=14, now=NOW)

    assert found.committed_units == 10 + 5 + 20 + 7
    assert found.daily_average == Fraction(42, 14) == 3
    assert found.expected == 9 and found.threshold == 9
    assert (found.start, found.end) == (NOW - timedelta(days=14), NOW)


def test_a_fractional_forecast_rounds_the_threshold_up() -> None:
    found = forecast(ledger(), "MUG-1", days=2, window_days=4, now=NOW)

    assert found.committed_units == 7  # only the commit at now is in the last 4 days
    assert found.expected == Fraction(7, 2)
    assert found.threshold == 4  # available 3 is below 3.5, available 4 is not


def test_a_window_without_sales_forecasts_nothing_and_never_alerts() -> None:
    quiet = [entry(1, NOW - timedelta(days=40), EntryKind.COMMIT, -80)]
    found = forecast(quiet, "MUG-1", days=3, window_days=14, now=NOW)
    assert (found.committed_units, found.expected, found.threshold) == (0, Fraction(0), 0)

    monitor = SafetyStockMonitor(
        [SafetyStockRule(sku="MUG-1", forecast_days=3)], ledger=lambda sku: quiet
    )
    assert [monitor.check("MUG-1", n, now=NOW) for n in (5, 0)] == [None, None]


def test_forecast_refuses_bad_arguments() -> None:
    with pytest.raises(ConfigurationError, match="days must be a whole number >= 1"):
        forecast([], "A", days=0, window_days=14, now=NOW)
    with pytest.raises(ConfigurationError, match="timezone-aware"):
        forecast([], "A", days=1, window_days=14, now=datetime(2026, 11, 11))


# -- crossings ----------------------------------------------------------------------------


def test_a_threshold_crossing_alerts_once_and_rearms_at_the_threshold() -> None:
    sent: list[OutboxEntry] = []
    monitor = SafetyStockMonitor([SafetyStockRule(sku="MUG-1", threshold=10)], sink=sent.append)

    results = [monitor.check("MUG-1", n, now=NOW) for n in (15, 10, 9, 8, 2, 0, 9)]
    assert results[:2] == [None, None]  # at the threshold is not below
    assert results[2] is not None and results[3:] == [None] * 4  # once, not per reservation
    assert len(sent) == 1 and sent[0] is results[2]

    alert = sent[0]
    assert (alert.stream, alert.topic, alert.aggregate_id) == (
        "stock",
        BELOW_SAFETY,
        "safety:MUG-1",
    )
    assert alert.aggregate_version == 1
    assert alert.payload == {
        "sku": "MUG-1",
        "available": 9,
        "threshold": 10,
        "basis": {"kind": "threshold"},
        "crossing": 1,
        "at": NOW.isoformat(),
    }
    assert alert.payload_json  # the payload is JSON

    assert monitor.check("MUG-1", 10, now=NOW) is None  # back at the threshold: re-armed
    again = monitor.check("MUG-1", 4, now=NOW)
    assert again is not None and again.aggregate_version == 2 and again.payload["crossing"] == 2
    assert len(sent) == 2
    assert monitor.state.get("MUG-1") == CrossingState(below=True, alerts=2, since=NOW)


def test_a_forecast_rule_alerts_with_its_basis() -> None:
    sent: list[OutboxEntry] = []
    monitor = SafetyStockMonitor(
        [SafetyStockRule(sku="MUG-1", forecast_days=3)],
        sink=sent.append,
        ledger=lambda sku: ledger(),
        clock=lambda: NOW,
    )
    assert monitor.check("MUG-1", 9) is None  # 9 is not below the 9 expected
    alert = monitor.check("MUG-1", 8)
    assert alert is not None
    assert alert.payload["threshold"] == 9
    assert alert.payload["basis"] == {
        "kind": "forecast",
        "days": 3,
        "window_days": 14,
        "committed_units": 42,
        "daily_average": "3",
        "expected": "9",
        "window_start": (NOW - timedelta(days=14)).isoformat(),
        "window_end": NOW.isoformat(),
    }


def test_a_rising_forecast_is_a_crossing_too() -> None:
    history = [entry(1, NOW - timedelta(days=1), EntryKind.COMMIT, -14)]
    monitor = SafetyStockMonitor(
        [SafetyStockRule(sku="MUG-1", forecast_days=3)], ledger=lambda sku: history
    )
    assert monitor.check("MUG-1", 5, now=NOW) is None  # 1 a day: floor 3
    history.append(entry(2, NOW, EntryKind.COMMIT, -28))  # a burst: 3 a day, floor 9
    alert = monitor.check("MUG-1", 5, now=NOW)
    assert alert is not None and alert.payload["threshold"] == 9


def test_skus_without_a_rule_are_not_checked() -> None:
    monitor = SafetyStockMonitor([SafetyStockRule(sku="MUG-1", threshold=10)])
    assert monitor.check("LID-1", 0, now=NOW) is None
    assert monitor.level("LID-1") is None
    assert monitor.state.get("LID-1") is None


def test_a_forecast_rule_needs_a_ledger() -> None:
    monitor = SafetyStockMonitor([SafetyStockRule(sku="MUG-1", forecast_days=3)])
    with pytest.raises(ConfigurationError, match="give the monitor a ledger"):
        monitor.check("MUG-1", 1, now=NOW)
    assert monitor.check("MUG-1", 1, now=NOW, entries=ledger()) is not None


def test_an_alert_whose_sink_failed_is_published_by_the_next_check() -> None:
    sent: list[OutboxEntry] = []

    def flaky(alert: OutboxEntry) -> None:
        if not sent and not getattr(flaky, "failed", False):
            flaky.failed = True  # type: ignore[attr-defined]
            raise ConnectionError("outbox unavailable")
        sent.append(alert)

    monitor = SafetyStockMonitor([SafetyStockRule(sku="MUG-1", threshold=10)], sink=flaky)
    with pytest.raises(ConnectionError):
        monitor.check("MUG-1", 3, now=NOW)
    assert monitor.state.get("MUG-1") is None  # the crossing was not recorded
    assert monitor.check("MUG-1", 2, now=NOW) is not None
    assert [a.payload["available"] for a in sent] == [2]


def test_the_crossing_state_is_kept_in_the_store_it_is_given() -> None:
    store = MemoryCrossingStore()
    assert isinstance(store, CrossingStore)
    rules = [SafetyStockRule(sku="MUG-1", threshold=10)]
    assert SafetyStockMonitor(rules, state=store).check("MUG-1", 3, now=NOW) is not None
    # A new monitor over the same store (a restart) does not alert again for that crossing.
    restarted = SafetyStockMonitor(rules, state=store)
    assert restarted.check("MUG-1", 1, now=NOW) is None
    assert restarted.check("MUG-1", 11, now=NOW) is None
    assert store.get("MUG-1") == CrossingState(below=False, alerts=1)


def test_a_settings_crossing_store_lives_and_dies_with_the_transaction(tmp_path: Path) -> None:
    backend = open_inventory(f"sqlite:///{tmp_path}/c.db").backend
    try:
        rules = [SafetyStockRule(sku="MUG-1", threshold=10)]

        class RolledBack(Exception):
            pass

        try:
            with backend.transaction() as txn:
                store = SettingsCrossingStore(txn)
                assert isinstance(store, CrossingStore)
                assert SafetyStockMonitor(rules, state=store).check("MUG-1", 3, now=NOW)
                assert txn.get_setting("crossing:MUG-1") is not None
                raise RolledBack
        except RolledBack:
            pass
        with backend.transaction() as txn:
            assert txn.get_setting("crossing:MUG-1") is None  # rolled back with the change
            assert SafetyStockMonitor(rules, state=SettingsCrossingStore(txn)).check(
                "MUG-1", 3, now=NOW
            )
        with backend.reading() as txn:
            state = SettingsCrossingStore(txn, lock=False).get("MUG-1")
        assert state == CrossingState(below=True, alerts=1, since=NOW)
        assert CrossingState.from_json(state.to_json()) == state
        rule = SafetyStockRule(sku="MUG-1", forecast_days=2, window_days=3)
        assert SafetyStockRule.from_json(rule.to_json()) == rule
        with pytest.raises(ConfigurationError, match="not a stored safety stock rule"):
            SafetyStockRule.from_json('{"sku": "MUG-1"}')
        with pytest.raises(ConfigurationError, match="exactly one"):
            SafetyStockRule.from_json(
                '{"sku": "A", "threshold": null, "forecast_days": null, "window_days": 1}'
            )
    finally:
        backend.close()


class _Stock:
    """Reads like an inventory: available units and a paged ledger."""

    def __init__(self, available: dict[str, int], entries: list[LedgerEntry]) -> None:
        self.levels, self.entries, self.pages = available, entries, 0

    def available(
        self, sku: str, *, location: str | None = None, channel: str | None = None
    ) -> int:
        return self.levels.get(sku, 0)

    def ledger(
        self,
        *,
        sku: str | None = None,
        location: str | None = None,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[LedgerEntry]:
        self.pages += 1
        found = [e for e in self.entries if e.seq > after_seq and sku in (None, e.sku)]
        return found[:limit]


def test_checking_an_inventory_reads_its_availability_and_pages_its_ledger() -> None:
    stock = _Stock({"MUG-1": 8, "LID-1": 50}, ledger())
    monitor = SafetyStockMonitor(
        [SafetyStockRule(sku="MUG-1", forecast_days=3), SafetyStockRule(sku="LID-1", threshold=60)]
    )

    alerts = monitor.check_inventory(stock, now=NOW)

    assert [(a.payload["sku"], a.payload["threshold"]) for a in alerts] == [
        ("LID-1", 60),
        ("MUG-1", 9),
    ]
    assert monitor.check_inventory(stock, now=NOW) == []
    assert list(ledger_reader(stock, page=3)("MUG-1")) == [e for e in ledger() if e.sku == "MUG-1"]
    assert stock.pages > 4  # read in pages of 3


# -- end to end: a real Inventory's ledger and availability --------------------------------


class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture(params=["memory", "sqlite"])
def shop(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Inventory, _Clock]]:
    clock = _Clock(NOW - timedelta(days=10))
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/shop.db"
    inventory = open_inventory(url, clock=clock)
    inventory.add_location(Location(id="WH1"))
    inventory.add_location(Location(id="WH2"))
    with inventory:
        yield inventory, clock


def test_a_forecast_from_an_inventorys_commits_alerts_once_per_crossing(
    shop: tuple[Inventory, _Clock],
) -> None:
    inventory, clock = shop
    staff = Actor(kind=ActorKind.PERSON, id="li")
    inventory.receive("MUG-1", "WH1", 40, actor=staff)
    inventory.receive("MUG-1", "WH2", 10, actor=staff)
    for day, (units, where) in enumerate([(6, "WH1"), (4, "WH2"), (5, "WH1"), (3, "WH1")]):
        clock.at = NOW - timedelta(days=8 - 2 * day)
        inventory.reserve(
            ReservationRequest(
                reservation_id=f"o{day}",
                lines=[ReservationLine(sku="MUG-1", quantity=units)],
                location=where,
            )
        )
        inventory.commit(f"o{day}")
    clock.at = NOW
    sent: list[OutboxEntry] = []
    monitor = SafetyStockMonitor(
        [SafetyStockRule(sku="MUG-1", forecast_days=7, window_days=9)],
        sink=sent.append,
        ledger=ledger_reader(inventory, page=2),
        clock=clock,
    )

    level = monitor.level("MUG-1")
    assert level is not None
    assert level.basis["committed_units"] == 18  # 6 + 4 + 5 + 3 shipped over both locations
    assert level.basis["expected"] == "14"  # 18 / 9 days x 7 days
    assert inventory.available("MUG-1") == 32
    assert monitor.check_inventory(inventory) == []  # 32 is not below 14

    inventory.reserve(
        ReservationRequest(
            reservation_id="big", lines=[ReservationLine(sku="MUG-1", quantity=19)], location="WH1"
        )
    )
    first = monitor.check_inventory(inventory)
    assert [a.payload["available"] for a in first] == [13]
    inventory.reserve(
        ReservationRequest(
            reservation_id="more", lines=[ReservationLine(sku="MUG-1", quantity=1)], location="WH1"
        )
    )
    assert monitor.check_inventory(inventory) == []  # still below: no second alert
    inventory.release("big")
    assert monitor.check_inventory(inventory) == []  # back above: re-armed
    inventory.reserve(
        ReservationRequest(
            reservation_id="again",
            lines=[ReservationLine(sku="MUG-1", quantity=20)],
            location="WH1",
        )
    )
    again = monitor.check_inventory(inventory)
    assert [(a.aggregate_version, a.payload["available"]) for a in again] == [(2, 11)]
    assert len(sent) == 2


# -- the engine: rules as settings, checked in every stock-changing transaction --------------

STAFF = Actor(kind=ActorKind.PERSON, id="li")
BOSS = Actor(kind=ActorKind.PERSON, id="wang")


class Shop:
    """An inventory on one backend, its clock, and the safety alerts in its shared outbox."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.path = tmp_path / "s.db"
        self.url = "memory://" if kind == "memory" else f"sqlite:///{self.path}"
        self.clock = _Clock(NOW)
        self.inventory = self.open()
        self.inventory.add_location(Location(id="WH1"))
        self.inventory.add_location(Location(id="WH2"))
        self._store: SQLiteStore | None = None
        self._seen: list[tuple[str, str, int, dict[str, Any]]] = []

    def open(self) -> Inventory:
        return open_inventory(self.url, clock=self.clock)

    def messages(self) -> list[tuple[str, str, int, dict[str, Any]]]:
        """Every stock message so far: (topic, aggregate id, version, payload)."""
        if self.kind == "memory":
            backend = self.inventory.backend
            assert isinstance(backend, MemoryInventoryBackend)
            return [
                (m.topic, m.aggregate_id, m.aggregate_version, dict(m.payload))
                for m in backend.outbox
            ]
        if self._store is None:
            self._store = SQLiteStore(self.path)
        claimed = self._store.claim_outbox(10_000)
        self._store.ack_outbox([m.id for m in claimed])
        self._seen += [
            (m.topic, m.aggregate_id, m.aggregate_version, dict(m.payload))
            for m in claimed
            if m.stream == "stock"
        ]
        return list(self._seen)

    def alerts(self) -> list[tuple[int, dict[str, Any]]]:
        """The safety alerts so far: (alert number, payload)."""
        found = []
        for topic, aggregate, version, payload in self.messages():
            if topic == BELOW_SAFETY:
                assert aggregate == f"safety:{payload['sku']}"
                found.append((version, payload))
        return found

    def available(self) -> list[int]:
        return [payload["available"] for _, payload in self.alerts()]

    def reserve(
        self,
        rid: str,
        quantity: int,
        location: str = "WH1",
        *,
        idempotency_key: str | None = None,
        **kw: Any,
    ) -> Reservation:
        line = ReservationLine(sku="MUG-1", quantity=quantity, location=location)
        return self.inventory.reserve(
            ReservationRequest(reservation_id=rid, lines=[line], **kw),
            idempotency_key=idempotency_key,
        )

    def close(self) -> None:
        self.inventory.close()
        if self._store is not None:
            self._store.close()


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Shop]:
    shop = Shop(request.param, tmp_path)
    yield shop
    shop.close()


def test_rules_are_validated_kept_replaced_and_removed(store: Shop) -> None:
    inventory = store.inventory
    with pytest.raises(ConfigurationError, match="takes a SafetyStockRule"):
        inventory.set_safety_stock("MUG-1")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"rule\.sku must be a non-empty string"):
        inventory.set_safety_stock(SafetyStockRule(sku="M" * 300, threshold=1))
    assert inventory.safety_stock("MUG-1") is None and inventory.safety_rules() == []

    level = inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=5))
    assert (level.threshold, level.basis) == (5, {"kind": "threshold"})
    inventory.set_safety_stock(SafetyStockRule(sku="LID-1", forecast_days=3, window_days=7))
    inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=8))  # replaces

    assert inventory.safety_stock("MUG-1") == SafetyStockRule(sku="MUG-1", threshold=8)
    assert inventory.safety_rules() == [
        SafetyStockRule(sku="LID-1", forecast_days=3, window_days=7),
        SafetyStockRule(sku="MUG-1", threshold=8),
    ]
    assert inventory.safety_level("MUG-1") == SafetyLevel(
        sku="MUG-1", threshold=8, basis={"kind": "threshold"}
    )
    assert inventory.safety_level("CUP-1") is None
    assert inventory.remove_safety_stock("MUG-1") is True
    assert inventory.remove_safety_stock("MUG-1") is False
    assert inventory.safety_stock("MUG-1") is None and inventory.safety_crossing("MUG-1") is None
    assert [rule.sku for rule in inventory.safety_rules()] == ["LID-1"]


def test_one_alert_per_crossing_across_many_reservations(store: Shop) -> None:
    inventory = store.inventory
    inventory.receive("MUG-1", "WH1", 30, actor=STAFF)
    inventory.receive("MUG-1", "WH2", 10, actor=STAFF)
    inventory.receive("LID-1", "WH1", 1, actor=STAFF)  # no rule: never checked
    inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=12))
    assert store.alerts() == []  # 40 available

    for n in range(16):  # 40 -> 8, over both locations
        store.reserve(f"o{n}", 2, "WH2" if n % 4 == 0 else "WH1")
    assert inventory.available("MUG-1") == 8

    assert store.alerts() == [
        (
            1,
            {
                "sku": "MUG-1",
                "available": 10,  # the first availability seen below 12
                "threshold": 12,
                "basis": {"kind": "threshold"},
                "crossing": 1,
                "at": NOW.isoformat(),
            },
        )
    ]
    assert inventory.safety_crossing("MUG-1") == CrossingState(below=True, alerts=1, since=NOW)
    assert inventory.safety_crossing("LID-1") is None
    # The alert follows the stock message of the reservation that crossed, same stream.
    messages = store.messages()
    at = [m[0] for m in messages].index(BELOW_SAFETY)
    assert messages[at - 1][:2] == ("stock.changed", "MUG-1@WH1")
    assert messages[at - 1][3]["available"] == 8  # WH1's 30 less 11 reservations of 2


def test_a_receipt_rearms_and_the_next_fall_alerts_again(store: Shop) -> None:
    inventory = store.inventory
    inventory.receive("MUG-1", "WH1", 12, actor=STAFF)
    inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=10))
    store.reserve("o1", 3)  # 9: alert 1
    store.reserve("o2", 3)  # 6: still below
    inventory.receive("MUG-1", "WH2", 3, actor=STAFF)  # 9: still below, still tripped
    assert store.available() == [9]
    inventory.receive("MUG-1", "WH2", 1, actor=STAFF)  # 10: at the floor, re-armed silently
    assert inventory.safety_crossing("MUG-1") == CrossingState(below=False, alerts=1)
    assert store.available() == [9]
    store.reserve("o3", 4)  # 6: alert 2
    inventory.release("o3")  # 10: re-armed
    store.reserve("o4", 1)  # 9: alert 3
    assert store.alerts()[1][0] == 2 and store.alerts()[1][1]["crossing"] == 2
    assert store.available() == [9, 6, 9]


def test_no_alert_when_the_operation_fails_or_rolls_back(store: Shop) -> None:
    inventory = store.inventory
    inventory.receive("MUG-1", "WH1", 13, actor=STAFF)
    inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=12))

    with pytest.raises(InsufficientStock):
        store.reserve("big", 20)
    # A batch whose refused request would have crossed: the rest is reserved, no alert.
    results = inventory.reserve_many(
        [
            ReservationRequest(
                reservation_id="b1", lines=[ReservationLine(sku="MUG-1", quantity=14)]
            ),
            ReservationRequest(
                reservation_id="b2", lines=[ReservationLine(sku="MUG-1", quantity=1)]
            ),
        ]
    )
    assert isinstance(results[0], InsufficientStock) and not isinstance(results[1], Exception)
    # A batch that crosses and then fails whole (a taken id) rolls the alert back too.
    with pytest.raises(ReservationStateError):
        inventory.reserve_many(
            [
                ReservationRequest(
                    reservation_id="b3", lines=[ReservationLine(sku="MUG-1", quantity=5)]
                ),
                ReservationRequest(
                    reservation_id="b2", lines=[ReservationLine(sku="MUG-1", quantity=1)]
                ),
            ]
        )
    assert inventory.available("MUG-1") == 12
    assert store.alerts() == []
    assert inventory.safety_crossing("MUG-1") == CrossingState()

    store.reserve("o1", 1)  # 11: the first real crossing alerts
    assert store.available() == [11]


def test_a_database_failure_after_the_check_rolls_the_alert_and_the_crossing_back(
    tmp_path: Path,
) -> None:
    shop = Shop("sqlite", tmp_path)
    try:
        inventory = shop.inventory
        inventory.receive("MUG-1", "WH1", 10, actor=STAFF)
        inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=10))
        with sqlite3.connect(shop.path) as db:  # the idempotency record is written last
            db.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON ordercore_stock_idempotency "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        with pytest.raises(StoreError):
            shop.reserve("o1", 4, idempotency_key="k1")
        assert inventory.available("MUG-1") == 10
        assert shop.alerts() == [] and inventory.safety_crossing("MUG-1") == CrossingState()
        with sqlite3.connect(shop.path) as db:
            db.execute("DROP TRIGGER refuse")
        shop.reserve("o1", 4, idempotency_key="k1")
        shop.reserve("o1", 4, idempotency_key="k1")  # a replay changes nothing
        assert shop.available() == [6]
    finally:
        shop.close()


def test_every_kind_of_stock_change_is_checked(store: Shop) -> None:
    inventory = store.inventory
    inventory.receive("MUG-1", "WH1", 10, actor=STAFF)
    inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=10))

    moved = inventory.transfer("MUG-1", "WH1", "WH2", 1, actor=STAFF)  # in transit: 9
    inventory.cancel_transfer(moved.id, actor=STAFF)  # 10
    down = inventory.propose_adjustment("MUG-1", "WH1", -2, reason="broken", actor=STAFF)
    inventory.approve_adjustment(down.id, actor=BOSS)  # 8
    inventory.return_stock("MUG-1", "WH1", 5, damaged=True, actor=STAFF)  # damaged: still 8
    up = inventory.propose_adjustment("MUG-1", "WH1", 2, reason="found", actor=STAFF)
    inventory.approve_adjustment(up.id, actor=BOSS)  # 10
    store.reserve("ttl", 3, ttl=timedelta(minutes=15))  # 7
    inventory.expire_due(NOW + timedelta(minutes=16))  # 10
    store.reserve("edit", 1)  # 9
    edit = ReservationLine(sku="MUG-1", quantity=3, location="WH1")
    inventory.modify("edit", ReservationRequest(reservation_id="edit", lines=[edit]))  # 7
    inventory.release("edit")  # 10
    inventory.set_quota("MUG-1", "live", 2)  # a channel's view does not count
    store.reserve("ship", 2, channel="live")  # 8
    inventory.commit("ship")  # still 8: shipped units were not available already
    inventory.return_stock("MUG-1", "WH2", 2, actor=STAFF)  # 10
    moved = inventory.transfer("MUG-1", "WH1", "WH2", 4, actor=STAFF)  # 6
    inventory.receive_transfer(moved.id, actor=STAFF)  # 10 again, now 4 of them at WH2

    assert store.available() == [9, 8, 7, 9, 8, 6]
    assert [p["crossing"] for _, p in store.alerts()] == [1, 2, 3, 4, 5, 6]
    assert inventory.safety_crossing("MUG-1") == CrossingState(below=False, alerts=6)


def test_serving_a_backorder_is_checked_after_the_receipt(store: Shop) -> None:
    inventory = store.inventory
    inventory.receive("MUG-1", "WH1", 10, actor=STAFF)
    inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=5))
    store.reserve("wait", 14, backorder=BackorderPolicy.WAIT)  # queued: nothing held
    assert store.alerts() == []

    inventory.receive("MUG-1", "WH1", 6, actor=STAFF)  # 16, then 14 served: 2

    assert inventory.reservation("wait").status is ReservationStatus.ACTIVE
    assert store.available() == [2]  # the receipt's transaction saw 2, never 16


def test_setting_a_rule_below_the_stock_alerts_at_once_and_a_new_rule_keeps_the_state(
    store: Shop,
) -> None:
    inventory = store.inventory
    inventory.receive("MUG-1", "WH1", 4, actor=STAFF)
    inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=5))
    assert store.available() == [4]
    inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=6))  # still below
    assert store.available() == [4]
    inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=4))  # not below: re-armed
    assert inventory.safety_crossing("MUG-1") == CrossingState(below=False, alerts=1)
    inventory.remove_safety_stock("MUG-1")
    inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=9))  # a fresh start
    assert [(n, p["available"], p["threshold"]) for n, p in store.alerts()] == [
        (1, 4, 5),
        (1, 4, 9),
    ]


def _ship_history(shop: Shop) -> None:
    """18 units shipped over 8 days, from both locations."""
    inventory = shop.inventory
    inventory.receive("MUG-1", "WH1", 40, actor=STAFF)
    inventory.receive("MUG-1", "WH2", 10, actor=STAFF)
    for day, (units, where) in enumerate([(6, "WH1"), (4, "WH2"), (5, "WH1"), (3, "WH1")]):
        shop.clock.at = NOW - timedelta(days=8 - 2 * day)
        shop.reserve(f"h{day}", units, where)
        inventory.commit(f"h{day}")
    shop.clock.at = NOW


def test_a_forecast_rule_from_real_commits_alerts_once_per_crossing(store: Shop) -> None:
    inventory = store.inventory
    _ship_history(store)

    level = inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", forecast_days=7, window_days=9))
    assert level.threshold == 14  # 18 units / 9 days x 7 days
    assert level.basis["committed_units"] == 18 and level.basis["expected"] == "14"
    assert inventory.available("MUG-1") == 32 and store.alerts() == []

    store.reserve("big", 19)  # 13
    store.reserve("more", 1)  # 12: still below
    inventory.release("big")  # 31: re-armed
    store.reserve("again", 20)  # 11

    assert [(n, p["available"], p["threshold"]) for n, p in store.alerts()] == [
        (1, 13, 14),
        (2, 11, 14),
    ]
    assert store.alerts()[0][1]["basis"] == {
        "kind": "forecast",
        "days": 7,
        "window_days": 9,
        "committed_units": 18,
        "daily_average": "2",
        "expected": "14",
        "window_start": (NOW - timedelta(days=9)).isoformat(),
        "window_end": NOW.isoformat(),
    }


def test_a_forecast_is_cached_for_an_hour_and_refreshed_on_demand(store: Shop) -> None:
    inventory = store.inventory
    _ship_history(store)
    inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", forecast_days=7, window_days=9))
    store.reserve("burst", 9)
    store.clock.at = NOW + timedelta(minutes=30)
    inventory.commit("burst")  # 27 shipped now, but the cached floor of 14 stands

    cached = inventory.safety_level("MUG-1")
    assert cached is not None and cached.threshold == 14
    assert cached.basis["window_end"] == NOW.isoformat()  # computed when the rule was set
    store.reserve("o1", 11)  # 12 < 14: below the cached floor
    assert store.available() == [12]
    inventory.release("o1")  # 23: re-armed

    # On demand: the burst raises the floor to ceil(27 / 9 x 7) = 21; 23 is not below it.
    [fresh] = inventory.refresh_safety_forecasts()
    assert (fresh.threshold, fresh.basis["committed_units"]) == (21, 27)
    assert fresh.basis["window_end"] == (NOW + timedelta(minutes=30)).isoformat()
    assert inventory.safety_level("MUG-1") == fresh
    store.reserve("o2", 3)  # 20 < 21
    assert store.available() == [12, 20]

    # A floor that rises while the stock stays put is a crossing, found by the refresh.
    inventory.release("o2")  # 23: re-armed
    store.reserve("burst2", 6)  # 17 ... below 21: alert 3
    inventory.commit("burst2")
    inventory.receive("MUG-1", "WH2", 10, actor=STAFF)  # 27: re-armed against 21
    assert inventory.refresh_safety_forecasts(["MUG-1", "LID-1"])[0].threshold == 26  # 33 / 9 x 7
    assert store.available() == [12, 20, 17]  # 27 is not below 26
    store.clock.at = NOW + timedelta(hours=2)  # the cache is stale: the next change recomputes
    inventory.receive("MUG-1", "WH2", 1, actor=STAFF)
    level = inventory.safety_level("MUG-1")
    assert level is not None
    assert level.basis["window_end"] == (NOW + timedelta(hours=2)).isoformat()
    assert inventory.refresh_safety_forecasts(["LID-1"]) == []  # no forecast rule: nothing


def test_rules_and_crossings_survive_a_reopen(tmp_path: Path) -> None:
    shop = Shop("sqlite", tmp_path)
    try:
        shop.inventory.receive("MUG-1", "WH1", 10, actor=STAFF)
        shop.inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=8))
        shop.inventory.set_safety_stock(
            SafetyStockRule(sku="LID-1", forecast_days=2, window_days=5)
        )
        shop.reserve("o1", 3)  # 7: alert 1
        shop.inventory.close()

        shop.inventory = shop.open()
        assert shop.inventory.safety_rules() == [
            SafetyStockRule(sku="LID-1", forecast_days=2, window_days=5),
            SafetyStockRule(sku="MUG-1", threshold=8),
        ]
        assert shop.inventory.safety_crossing("MUG-1") == CrossingState(
            below=True, alerts=1, since=NOW
        )
        shop.reserve("o2", 1)  # 6: the reopened inventory does not alert again
        shop.inventory.release("o1")  # 9: re-armed
        shop.reserve("o3", 2)  # 7: alert 2
        assert [(n, p["available"]) for n, p in shop.alerts()] == [(1, 7), (2, 7)]
    finally:
        shop.close()


#: A process reserving ``count`` units of MUG-1 one by one (argv: url, worker, count). It is run
#: as its own interpreter, so it needs nothing from the test suite's import path.
_RESERVER = """
import sys
from ordercore.inventory import ReservationLine, ReservationRequest, open_inventory

url, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open_inventory(url) as inventory:
    for n in range(count):
        line = ReservationLine(sku="MUG-1", quantity=1, location="WH1")
        inventory.reserve(ReservationRequest(reservation_id=f"p{worker}-{n}", lines=[line]))
"""


def test_processes_racing_through_one_crossing_alert_once(tmp_path: Path) -> None:
    shop = Shop("sqlite", tmp_path)
    try:
        shop.inventory.receive("MUG-1", "WH1", 100, actor=STAFF)
        shop.inventory.set_safety_stock(SafetyStockRule(sku="MUG-1", threshold=70))
        workers = [
            subprocess.Popen([sys.executable, "-c", _RESERVER, shop.url, str(worker), "15"])
            for worker in range(4)
        ]
        for process in workers:
            assert process.wait(timeout=120) == 0
        assert shop.inventory.available("MUG-1") == 40
        assert shop.available() == [69]  # once, by whichever process took unit 31
    finally:
        shop.close()
