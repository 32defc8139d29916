"""Safety stock: thresholds, forecasts from the ledger's commits, one alert per crossing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest

from ordercore.errors import ConfigurationError
from ordercore.inventory import (
    EntryKind,
    Inventory,
    LedgerEntry,
    Location,
    ReservationLine,
    ReservationRequest,
    open_inventory,
)
from ordercore.inventory._safety import (
    BELOW_SAFETY,
    CrossingState,
    CrossingStore,
    MemoryCrossingStore,
    SafetyStockMonitor,
    SafetyStockRule,
    forecast,
    ledger_reader,
)
from ordercore.schema import Actor, ActorKind
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
