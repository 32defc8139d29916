"""The context providers: history counters, carrier health and stock over real components."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ordercore import open_store
from ordercore.errors import ConfigurationError
from ordercore.inventory import Location, ReservationLine, ReservationRequest, open_inventory
from ordercore.rules import RuleContext, RuleSet, apply_decision
from ordercore.rules._providers import CarrierHealth, InventoryStock, OrderHistory, normalise_key
from ordercore.schema import Actor, AfterSaleRef, Order, Shipment
from ordercore.storage import OrderStore
from ordercore.testing import OrderFactory
from ordercore.timestamps import parse_channel_time

KEY = b"a test secret of 32 bytes.......".ljust(32, b".")
OTHER_KEY = b"another secret, also long enough"
PHONE = "13912345678"
START = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
STAFF = Actor(kind="person", id="staff-1")

FREEZE = """\
ruleset: risk
version: 1
rules:
  - name: return-abuse
    when: >
      history_count("returns", order.receiver.phone, 24h) > 5
      and history_orders("returns", order.receiver.phone, 24h) >= 3
    then: [{tag: frozen}]
"""

CARRIER_RULE = """\
ruleset: carriers
version: 1
rules:
  - name: carrier-sick
    when: carrier_success("shunfeng", 24h) < 0.65
    then: [{tag: backup_carrier}]
"""


def _ct(at: datetime) -> Any:
    return parse_channel_time(at)


def _phone_orders(count: int, *, phone: str = PHONE, seed: int = 1) -> list[Order]:
    """``count`` orders to one phone, placed an hour apart from START."""
    factory = OrderFactory(seed=seed, start=START - timedelta(days=3), span=timedelta(days=1))
    orders = list(factory.orders(count, channel="taobao", status="delivered"))
    return [
        order.evolve(
            receiver=order.receiver.evolve(phone=phone),  # type: ignore[union-attr]
            created_at=_ct(START - timedelta(days=3) + timedelta(hours=index)),
        )
        for index, order in enumerate(orders)
    ]


def _with_cases(order: Order, kinds: list[str], at: datetime, *, prefix: str = "") -> Order:
    cases = tuple(
        AfterSaleRef(channel_after_sale_id=f"{order.channel_order_id}-{prefix}{i}", kind=kind)
        for i, kind in enumerate(kinds)
    )
    return order.evolve(after_sales=(*order.after_sales, *cases), channel_updated_at=_ct(at))


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/orders.db"
    with open_store(url) as opened:
        yield opened


def _store_d18(store: OrderStore, kinds_per_order: list[list[str]]) -> list[Order]:
    """Store orders to PHONE, then update each with its return / exchange cases."""
    stored = []
    for index, (order, kinds) in enumerate(
        zip(_phone_orders(len(kinds_per_order)), kinds_per_order, strict=True)
    ):
        first = store.put(order)
        stored.append(store.update(_with_cases(first, kinds, START + timedelta(hours=index))))
    return stored


def _walk(value: object, seen: set[int] | None = None) -> Iterator[object]:
    """Every object reachable from ``value`` through containers, __dict__ and __slots__."""
    seen = set() if seen is None else seen
    if id(value) in seen:
        return
    seen.add(id(value))
    yield value
    children: list[object] = []
    if isinstance(value, dict):
        children = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple, set, frozenset)):
        children = list(value)
    elif not isinstance(value, (str, bytes, int, float, datetime, timedelta, Decimal)):
        children = list(getattr(value, "__dict__", {}).values())
        for klass in type(value).__mro__:
            for name in getattr(klass, "__slots__", ()):
                if hasattr(value, name):
                    children.append(getattr(value, name))
    for child in children:
        yield from _walk(child, seen)


# -- OrderHistory -------------------------------------------------------------------------


class TestD18:
    def test_six_returns_over_three_orders_freeze(self, store: OrderStore) -> None:
        """6 return / exchange cases on 3 orders of one phone in 24 h: the rule freezes."""
        _store_d18(store, [["return", "return"], ["exchange", "return"], ["return", "exchange"]])
        history = OrderHistory.from_store(store, key=KEY)
        rules = RuleSet.from_text(FREEZE)
        new = _phone_orders(1, seed=9)[0]
        now = START + timedelta(hours=3)

        decision = rules.evaluate(new, RuleContext(history=history, now=now))

        assert decision.matched == ("return-abuse",)
        assert "frozen" in apply_decision(new, decision).tags
        assert history.count("returns", PHONE, timedelta(hours=24), now) == 6
        assert history.distinct_orders("returns", PHONE, timedelta(hours=24), now) == 3

    def test_outside_the_window_nothing_fires(self, store: OrderStore) -> None:
        """A day after the first case, it has left the 24 h window: 5 cases, no freeze."""
        _store_d18(store, [["return", "return"], ["exchange", "return"], ["return", "exchange"]])
        history = OrderHistory.from_store(store, key=KEY)
        new = _phone_orders(1, seed=9)[0]
        later = START + timedelta(hours=24)  # the first order's cases are at START exactly

        decision = RuleSet.from_text(FREEZE).evaluate(new, RuleContext(history=history, now=later))

        assert decision.matched == ()
        assert history.count("returns", PHONE, timedelta(hours=24), later) == 4
        before = START - timedelta(minutes=1)
        assert history.count("returns", PHONE, timedelta(hours=24), before) == 0

    def test_refunds_and_two_orders_do_not_freeze(self, store: OrderStore) -> None:
        """Refunds are not returns; six returns on only two orders are not 3+ orders."""
        _store_d18(store, [["return", "return", "return"], ["return", "return", "return"]])
        stored = store.put(_phone_orders(1, seed=5)[0])
        store.update(_with_cases(stored, ["refund", "refund", "repair"], START))
        history = OrderHistory.from_store(store, key=KEY)
        now = START + timedelta(hours=3)

        decision = RuleSet.from_text(FREEZE).evaluate(
            _phone_orders(1, seed=9)[0], RuleContext(history=history, now=now)
        )

        assert history.count("returns", PHONE, timedelta(hours=24), now) == 6
        assert history.distinct_orders("returns", PHONE, timedelta(hours=24), now) == 2
        assert decision.matched == ()

    def test_since_drops_earlier_cases(self, store: OrderStore) -> None:
        """from_store(since=...) counts only what happened from then on."""
        _store_d18(store, [["return", "return"], ["exchange", "return"], ["return", "exchange"]])
        history = OrderHistory.from_store(store, key=KEY, since=START + timedelta(hours=1))
        assert history.count("returns", PHONE, timedelta(hours=24), START + timedelta(hours=3)) == 4


class TestPrivacy:
    def test_the_plain_phone_is_never_stored(self, store: OrderStore) -> None:
        """Nothing reachable from the history holds the phone, its digits or the address."""
        orders = _store_d18(store, [["return", "return"], ["exchange"], ["return"]])
        history = OrderHistory.from_store(store, key=KEY)
        assert history.entries > 0
        detail = orders[0].receiver.detail.reveal()  # type: ignore[union-attr]
        secrets = (PHONE, detail, orders[0].buyer.channel_buyer_id or "")
        for found in _walk(history):
            if isinstance(found, str):
                assert not any(secret in found for secret in secrets), found
            if isinstance(found, bytes) and found != KEY:
                assert not any(secret.encode() in found for secret in secrets)
        assert PHONE not in repr(history)
        assert history.digest(PHONE) in history._series["returns"]

    def test_different_keys_give_different_digests(self) -> None:
        """The digest depends on the secret; the same secret gives the same digest."""
        one, same, other = (
            OrderHistory(key=KEY),
            OrderHistory(key=bytes(KEY)),
            OrderHistory(key=OTHER_KEY),
        )
        assert one.digest(PHONE) == same.digest(PHONE)
        assert one.digest(PHONE) != other.digest(PHONE)
        assert one.digest(PHONE) != one.digest("13912345679")
        assert len(one.digest(PHONE) or b"") == 32

    def test_counts_are_read_with_the_same_key(self) -> None:
        """Each history finds its own entries for the plain key under its own secret."""
        order = _with_cases(_phone_orders(1)[0], ["return"], START)
        for secret in (KEY, OTHER_KEY):
            history = OrderHistory(key=secret)
            history.observe(order)
            assert history.count("returns", PHONE, timedelta(hours=1), START) == 1

    @pytest.mark.parametrize(
        ("key", "problem"),
        [(b"short", "at least 16 bytes"), ("a str key that is long", "bytes"), (None, "bytes")],
    )
    def test_a_bad_key_is_refused(self, key: Any, problem: str) -> None:
        with pytest.raises(ConfigurationError, match=problem):
            OrderHistory(key=key)

    def test_cannot_be_pickled(self) -> None:
        import pickle

        with pytest.raises(TypeError, match="secret"):
            pickle.dumps(OrderHistory(key=KEY))

    def test_masked_phones_are_not_counted(self) -> None:
        """A platform-masked phone names many people: it is neither counted nor found."""
        order = _with_cases(_phone_orders(1, phone="139****5678")[0], ["return"], START)
        history = OrderHistory(key=KEY)
        history.observe(order)
        assert history.count("returns", "139****5678", timedelta(hours=1), START) == 0
        assert history.digest("139****5678") is None


class TestObserve:
    def test_same_version_again_counts_nothing(self) -> None:
        order = _with_cases(_phone_orders(1)[0].evolve(version=2), ["return", "exchange"], START)
        history = OrderHistory(key=KEY)
        assert history.observe(order) > 0
        assert history.observe(order) == 0
        assert history.count("returns", PHONE, timedelta(hours=1), START) == 2

    def test_an_update_adds_only_its_new_case(self, store: OrderStore) -> None:
        """Version 2 with two cases, then version 3 with one more: three, not five."""
        first = store.put(_phone_orders(1)[0])
        two = store.update(_with_cases(first, ["return", "return"], START))
        history = OrderHistory(key=KEY)
        history.observe(two)
        three = store.update(_with_cases(two, ["exchange"], START + timedelta(hours=1), prefix="x"))
        history.observe(three)
        history.observe(two)  # an older version arriving late changes nothing

        now = START + timedelta(hours=2)
        assert history.count("returns", PHONE, timedelta(hours=24), now) == 3
        assert history.distinct_orders("returns", PHONE, timedelta(hours=24), now) == 1
        assert history.count("returns", PHONE, timedelta(minutes=90), now) == 1
        assert history.count("orders", PHONE, timedelta(days=7), now) == 1

    def test_an_older_version_arriving_late_is_ignored(self) -> None:
        """Version 2 showed a case the newer version 3 no longer has: it is not counted."""
        base = _phone_orders(1)[0]
        newer = base.evolve(version=3, channel_updated_at=_ct(START + timedelta(hours=1)))
        older = _with_cases(base.evolve(version=2), ["return"], START)
        history = OrderHistory(key=KEY)
        history.observe(newer)
        assert history.observe(older) == 0
        assert history.count("returns", PHONE, timedelta(hours=24), START + timedelta(hours=2)) == 0

    def test_a_case_that_becomes_a_return_is_counted_once(self) -> None:
        """A case first seen as a refund counts when it turns into a return, once."""
        base = _phone_orders(1)[0]
        refund = base.evolve(
            after_sales=(AfterSaleRef(channel_after_sale_id="R1", kind="refund"),),
            channel_updated_at=_ct(START),
        )
        turned = refund.evolve(
            after_sales=(AfterSaleRef(channel_after_sale_id="R1", kind="return"),),
            channel_updated_at=_ct(START + timedelta(hours=1)),
        )
        history = OrderHistory(key=KEY)
        for order in (refund, turned, turned):
            history.observe(order)
        assert history.count("returns", PHONE, timedelta(hours=24), START + timedelta(hours=2)) == 1

    def test_the_window_is_open_at_its_start_and_closed_at_now(self) -> None:
        order = _with_cases(_phone_orders(1)[0], ["return"], START)
        history = OrderHistory(key=KEY)
        history.observe(order)
        day = timedelta(hours=24)
        assert history.count("returns", PHONE, day, START) == 1
        assert history.count("returns", PHONE, day, START + day - timedelta(microseconds=1)) == 1
        assert history.count("returns", PHONE, day, START + day) == 0
        assert history.count("returns", PHONE, day, START - timedelta(microseconds=1)) == 0

    def test_explicit_case_time(self) -> None:
        order = _phone_orders(1)[0].evolve(
            after_sales=(AfterSaleRef(channel_after_sale_id="A", kind="return"),)
        )
        history = OrderHistory(key=KEY)
        history.observe(order, at=START + timedelta(hours=5))
        assert history.count("returns", PHONE, timedelta(hours=1), START + timedelta(hours=5)) == 1
        assert history.count("returns", PHONE, timedelta(hours=1), START + timedelta(hours=4)) == 0

    def test_buyer_phone_counts_too(self) -> None:
        base = _phone_orders(1, phone="13700000000")[0]
        order = _with_cases(base.evolve(buyer=base.buyer.evolve(phone=PHONE)), ["return"], START)
        history = OrderHistory(key=KEY)
        history.observe(order)
        for phone in (PHONE, "13700000000"):
            assert history.count("returns", phone, timedelta(hours=1), START) == 1

    def test_lookups_normalise_like_observation(self) -> None:
        """The rule's key may be written with spaces, hyphens or +86."""
        history = OrderHistory(key=KEY)
        history.observe(_with_cases(_phone_orders(1)[0], ["return"], START))
        for written in (
            "139 1234 5678",
            "+86 139-1234-5678",
            "0086 13912345678",
            "１３９１２３４５６７８",
        ):
            assert history.count("returns", written, timedelta(hours=1), START) == 1, written
        assert normalise_key("+86 139-1234-5678") == PHONE

    def test_orders_per_address_and_buyer(self) -> None:
        """Orders count per street text (however spaced), full address and buyer id."""
        orders = _phone_orders(3)
        street = orders[0].receiver.detail.reveal()  # type: ignore[union-attr]
        spaced = " ".join(street)
        moved = [
            order.evolve(
                receiver=order.receiver.evolve(  # type: ignore[union-attr]
                    phone=f"1390000000{index}",
                    detail=street if index != 1 else spaced,
                    province="浙江省",
                    city="杭州市",
                    district="西湖区",
                ),
                buyer=order.buyer.evolve(channel_buyer_id="taobao_buyer_7"),
            )
            for index, order in enumerate(orders)
        ]
        history = OrderHistory(key=KEY)
        history.observe_many(moved)
        now = START
        week = timedelta(days=7)
        assert history.count("orders", street, week, now) == 3
        assert history.count("orders", "浙江省 杭州市 西湖区 " + street, week, now) == 3
        assert history.count("orders", "taobao_buyer_7", week, now) == 3
        assert history.count("orders", "13900000001", week, now) == 1
        assert history.distinct_orders("orders", street, week, now) == 3
        assert history.count("returns", street, week, now) == 0

    def test_from_store_reads_every_page(self, store: OrderStore) -> None:
        """Orders over several pages are all counted."""
        for order in _phone_orders(7):
            store.put(order)
        history = OrderHistory.from_store(store, key=KEY, page_size=3)
        assert history.count("orders", PHONE, timedelta(days=7), START) == 7

    def test_a_bad_page_size_is_refused(self, store: OrderStore) -> None:
        with pytest.raises(ConfigurationError, match="page_size"):
            OrderHistory.from_store(store, key=KEY, page_size=0)
        with pytest.raises(ConfigurationError, match="page_size"):
            CarrierHealth.from_store(store, page_size=0)

    def test_observers_on_many_threads(self) -> None:
        """Concurrent observations lose nothing and count nothing twice."""
        orders = [
            _with_cases(order, ["return"], START + timedelta(minutes=index))
            for index, order in enumerate(_phone_orders(40))
        ]
        history = OrderHistory(key=KEY)
        threads = [threading.Thread(target=history.observe_many, args=(orders,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        now = START + timedelta(hours=1)
        assert history.count("returns", PHONE, timedelta(hours=2), now) == 40
        assert history.distinct_orders("returns", PHONE, timedelta(hours=2), now) == 40


class TestRetention:
    def test_old_entries_are_evicted(self) -> None:
        """As time moves on, entries older than the retention go; evict(now) drops them at once."""
        day = timedelta(days=1)
        history = OrderHistory(key=KEY, retention=day)
        old, new = _phone_orders(2)
        history.observe(_with_cases(old, ["return"], START))
        assert history.entries == 1  # its placement, 3 days before its return, went already
        assert history.count("returns", PHONE, day, START) == 1
        history.observe(_with_cases(new, ["return"], START + 2 * day, prefix="n"))
        assert history.entries == 1
        assert history.count("returns", PHONE, day, START + 2 * day) == 1
        assert history.evict(now=START + 4 * day) == 1
        assert history.entries == 0 and history.keys == 0
        # Anything older than the retention before the newest entry is not even added.
        stale = _with_cases(_phone_orders(1, seed=4)[0], ["return"], START)
        assert history.observe(stale) == 0

    def test_a_far_future_time_does_not_evict_the_history(self) -> None:
        """A time far past the clock moves the horizon only to the clock plus a day."""
        history = OrderHistory(key=KEY, clock=lambda: START)
        history.observe(_with_cases(_phone_orders(1)[0], ["return"], START))
        wrong = _with_cases(_phone_orders(1, seed=4)[0], ["return"], START + timedelta(days=900))
        history.observe(wrong)
        history.evict()
        assert history.count("returns", PHONE, timedelta(hours=1), START) == 1

    def test_a_window_longer_than_the_retention_is_refused(self) -> None:
        history = OrderHistory(key=KEY, retention=timedelta(days=1))
        with pytest.raises(ConfigurationError, match="longer than the history kept"):
            history.count("returns", PHONE, timedelta(days=2), START)

    @pytest.mark.parametrize(
        ("call", "problem"),
        [
            (lambda h: h.count("refunds", PHONE, timedelta(hours=1), START), "unknown history"),
            (lambda h: h.count("returns", PHONE, timedelta(0), START), "positive timedelta"),
            (
                lambda h: h.count("returns", PHONE, timedelta(hours=1), START.replace(tzinfo=None)),
                "timezone-aware",
            ),
            (lambda h: OrderHistory(key=KEY, retention=timedelta(-1)), "retention"),
        ],
    )
    def test_bad_lookups_are_refused(self, call: Any, problem: str) -> None:
        with pytest.raises(ConfigurationError, match=problem):
            call(OrderHistory(key=KEY))


# -- CarrierHealth ------------------------------------------------------------------------


class TestCarrierHealth:
    def test_rate_over_the_window(self) -> None:
        health = CarrierHealth(min_samples=5)
        for minute in range(7):
            health.record("SF", None, True, START + timedelta(minutes=minute))
        for minute in range(3):
            health.record("sf ", None, False, START + timedelta(minutes=10 + minute))
        health.record("SF", None, False, START - timedelta(days=2))  # outside 24 h

        now = START + timedelta(hours=1)
        assert health.success_rate("SF", timedelta(hours=24), now) == Decimal("0.7")
        assert health.outcomes("sf", timedelta(hours=24), now) == (7, 3)
        assert health.outcomes("SF", timedelta(days=7), now) == (7, 4)
        assert health.success_rate("SF", timedelta(minutes=55), now) is None  # only 3 in it
        assert health.success_rate("ZTO", timedelta(hours=24), now) is None

    def test_too_few_samples_is_unknown(self) -> None:
        health = CarrierHealth(min_samples=11)
        for minute in range(10):
            health.record("SF", None, minute < 2, START + timedelta(minutes=minute))
        assert health.success_rate("SF", timedelta(hours=24), START + timedelta(hours=1)) is None
        health.record("SF", None, True, START + timedelta(minutes=30))
        assert health.success_rate(
            "SF", timedelta(hours=24), START + timedelta(hours=1)
        ) == Decimal(3) / Decimal(11)

    def test_a_parcel_recorded_again_counts_once(self) -> None:
        """In transit, then delivered: one delivery; failed then redelivered: its last outcome."""
        health = CarrierHealth(min_samples=1)
        health.record("SF", START, None, START, parcel="SF1")
        assert health.outcomes("SF", timedelta(hours=24), START + timedelta(hours=1)) == (0, 0)
        health.record("SF", START, True, START + timedelta(minutes=30), parcel="SF1")
        health.record("SF", START, False, START + timedelta(minutes=10), parcel="SF2")
        health.record("SF", START, True, START + timedelta(minutes=40), parcel="SF2")
        assert health.outcomes("SF", timedelta(hours=24), START + timedelta(hours=1)) == (2, 0)

    def test_old_outcomes_are_evicted_and_not_taken(self) -> None:
        day = timedelta(days=1)
        health = CarrierHealth(min_samples=1, retention=day)
        health.record("SF", None, False, START, parcel="SF1")
        health.record("SF", None, True, START + 3 * day, parcel="SF2")
        assert health.outcomes("SF", day, START + day / 2) == (0, 0)  # SF1 went
        health.record("SF", None, False, START, parcel="SF3")  # too old to take
        assert health.outcomes("SF", day, START + day / 2) == (0, 0)
        assert health.evict(now=START + 5 * day) == 1
        assert health.outcomes("SF", day, START + 3 * day) == (0, 0)

    def test_a_tracking_feed_and_observed_orders_share_parcels(self) -> None:
        """observe() files a shipment under its tracking number, the parcel record() takes."""
        order = OrderFactory(seed=6).order(status="shipped")
        shipment = order.shipments[0].evolve(status="failure", carrier_code="SF", carrier_name=None)
        failed = order.evolve(shipments=(shipment,), channel_updated_at=_ct(START))
        health = CarrierHealth(min_samples=1)
        health.observe(failed)
        health.record("SF", None, True, START + timedelta(minutes=5), parcel=shipment.tracking_no)
        assert health.outcomes("SF", timedelta(hours=1), START + timedelta(minutes=10)) == (1, 0)

    def test_overdue_parcels_count_as_failed(self) -> None:
        health = CarrierHealth(min_samples=1, overdue=timedelta(hours=48))
        health.record("SF", START - timedelta(hours=50), None, START - timedelta(hours=50))
        health.record("SF", START - timedelta(hours=10), None, START - timedelta(hours=10))
        health.record("SF", None, True, START)
        assert health.outcomes("SF", timedelta(hours=24), START) == (1, 1)

    @pytest.mark.parametrize(
        ("make", "problem"),
        [
            (lambda: CarrierHealth(min_samples=0), "min_samples"),
            (lambda: CarrierHealth(min_samples=True), "min_samples"),
            (lambda: CarrierHealth(overdue=timedelta(0)), "overdue"),
            (lambda: CarrierHealth().record("", None, True, START), "carrier"),
            (
                lambda: CarrierHealth().record("SF", None, "yes", START),  # type: ignore[arg-type]
                "delivered",
            ),
            (lambda: CarrierHealth().record("SF", None, True, START.replace(tzinfo=None)), "at"),
            (
                lambda: CarrierHealth(retention=timedelta(days=1)).success_rate(
                    "SF", timedelta(days=2), START
                ),
                "longer than the history",
            ),
        ],
    )
    def test_bad_input_is_refused(self, make: Any, problem: str) -> None:
        with pytest.raises(ConfigurationError, match=problem):
            make()

    def test_from_store_and_the_d19_rule(self, store: OrderStore) -> None:
        """Shipments of stored orders feed the rate; below 65% the rule switches carrier."""
        factory = OrderFactory(seed=2, start=START - timedelta(days=2), span=timedelta(hours=12))
        outcomes = ["delivered"] * 6 + ["failure"] * 4 + [None] * 2
        for index, (order, outcome) in enumerate(
            zip(factory.orders(len(outcomes), status="shipped"), outcomes, strict=True)
        ):
            shipment = order.shipments[0].evolve(
                carrier_code="shunfeng", carrier_name="顺丰速运", status=outcome
            )
            at = _ct(START + timedelta(minutes=index))
            changed = order.evolve(shipments=(shipment,), channel_updated_at=at)
            if outcome == "delivered":
                changed = changed.evolve(delivered_at=at)
            store.put(changed)

        health = CarrierHealth.from_store(store, min_samples=10)
        now = START + timedelta(hours=2)
        assert health.outcomes("shunfeng", timedelta(hours=24), now) == (6, 4)
        assert health.outcomes("顺丰速运", timedelta(hours=24), now) == (6, 4)
        assert health.success_rate("shunfeng", timedelta(hours=24), now) == Decimal("0.6")
        again = CarrierHealth.from_store(store, min_samples=10)
        for order in store.query():
            again.observe(order)  # observing again replaces, never adds
        assert again.outcomes("shunfeng", timedelta(hours=24), now) == (6, 4)

        rules = RuleSet.from_text(CARRIER_RULE)
        order = factory.order(status="paid")
        sick = rules.evaluate(order, RuleContext(carriers=health, now=now))
        assert sick.matched == ("carrier-sick",)
        assert "backup_carrier" in apply_decision(order, sick).tags
        unknown = RuleContext(carriers=CarrierHealth.from_store(store, min_samples=11), now=now)
        assert rules.evaluate(order, unknown).matched == ()

    def test_delivered_orders_without_a_shipment_status(self) -> None:
        """A shipment with no status counts as delivered when its order was."""
        order = OrderFactory(seed=3).order(status="delivered")
        shipment: Shipment = order.shipments[0].evolve(status=None)
        delivered = order.evolve(shipments=(shipment,), delivered_at=_ct(START))
        in_transit = OrderFactory(seed=4).order(status="shipped")
        health = CarrierHealth(min_samples=1)
        assert health.observe(delivered) == 1
        assert health.observe(in_transit.evolve(shipments=(in_transit.shipments[0],))) == 1
        carrier = shipment.carrier_code or ""
        assert health.outcomes(carrier, timedelta(hours=1), START) == (1, 0)


# -- InventoryStock -----------------------------------------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def inventory_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/stock.db"


class TestInventoryStock:
    def test_reservations_reduce_availability(self, inventory_url: str) -> None:
        with open_inventory(inventory_url) as inventory:
            for location in ("WH-HZ", "WH-SH", "WH-BJ"):
                inventory.add_location(Location(id=location))
            inventory.receive("PIL-001", "WH-HZ", 5, actor=STAFF)
            inventory.receive("PIL-001", "WH-SH", 2, actor=STAFF)
            inventory.receive("MUG-001", "WH-BJ", 1, actor=STAFF)
            stock = InventoryStock(inventory)
            assert stock.available("PIL-001") == 7
            assert stock.available("PIL-001", "WH-HZ") == 5

            inventory.reserve(
                ReservationRequest(
                    reservation_id="o-1",
                    lines=[ReservationLine(sku="PIL-001", quantity=4, location="WH-HZ")],
                )
            )
            assert stock.available("PIL-001") == 3
            assert stock.available("PIL-001", "WH-HZ") == 1
            assert stock.available("PIL-001", "WH-SH") == 2
            assert stock.available("PIL-001", "WH-BJ") == 0  # known SKU, none there
            assert stock.available("NOPE-1") is None
            assert stock.available("PIL-001", "WH-NOWHERE") is None

    def test_the_stock_rule_reads_the_inventory(self, inventory_url: str) -> None:
        rules = RuleSet.from_text(
            "ruleset: s\nversion: 1\nrules:\n  - name: short\n"
            '    when: stock("PIL-001") < 1\n    then: [{tag: short}]\n'
        )
        order = OrderFactory(seed=5).order(status="paid")
        with open_inventory(inventory_url) as inventory:
            inventory.add_location(Location(id="WH-HZ"))
            inventory.receive("PIL-001", "WH-HZ", 1, actor=STAFF)
            context = RuleContext(stock=InventoryStock(inventory))
            assert rules.evaluate(order, context).matched == ()
            inventory.reserve(
                ReservationRequest(
                    reservation_id="o-2", lines=[ReservationLine(sku="PIL-001", quantity=1)]
                )
            )
            assert rules.evaluate(order, context).matched == ("short",)

    def test_open_by_url(self, tmp_path: Path) -> None:
        stock = InventoryStock.open(f"sqlite:///{tmp_path}/stock.db")
        try:
            stock.inventory.add_location(Location(id="WH-HZ"))
            stock.inventory.receive("PIL-001", "WH-HZ", 3, actor=STAFF)
            assert stock.available("PIL-001") == 3
        finally:
            stock.inventory.close()

    def test_not_an_inventory_is_refused(self) -> None:
        with pytest.raises(ConfigurationError, match="Inventory"):
            InventoryStock({"PIL-001": 3})  # type: ignore[arg-type]

    def test_the_rules_package_does_not_import_the_inventory(self) -> None:
        code = (
            "import sys, ordercore.rules._providers\n"
            "assert 'ordercore.inventory' not in sys.modules, 'inventory imported'\n"
        )
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
