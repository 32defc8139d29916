"""The conformance suite every order store passes.

A backend's test module subclasses :class:`StoreConformance` and provides a
``store`` fixture (a fresh, empty store) and, if the backend can be opened
twice, a ``reopen`` fixture (a callable giving another handle on the same
database)::

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store(self, tmp_path):
            return open_store(f"mystore://{tmp_path}")
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest

from ordercore.errors import (
    ConfigurationError,
    DuplicateOrder,
    IdempotencyConflict,
    OrderNotFound,
    StoreClosed,
    StoreReadOnly,
    VersionConflict,
)
from ordercore.ids import new_id
from ordercore.money import Money
from ordercore.schema import Actor, ActorKind, AnomalyCode, Order, OrderEvent, OrderStatus
from ordercore.storage import (
    OrderQuery,
    OrderStore,
    OrderUpdate,
    OutboxEntry,
    Outcome,
    TimerArm,
    TimerFinish,
    TimerPlan,
)
from ordercore.testing._factory import OrderFactory
from ordercore.timestamps import parse_channel_time

__all__ = ["StoreConformance"]

_START = datetime(2026, 11, 1, tzinfo=UTC)


class StoreConformance:
    """Tests that hold for every :class:`~ordercore.storage.OrderStore`.

    A backend says what it supports in :attr:`capabilities` (as SQLAlchemy's
    suite does with its requirements); tests of anything else are skipped with
    the capability named as the reason.

    Attributes:
        r6_trials: How many two-writer races the optimistic-concurrency test runs.
        capabilities: What the backend supports beyond the protocol:
            ``"reopen"`` (the ``reopen`` fixture gives another, independent handle
            on the same data), ``"read_only"`` (the ``read_only`` fixture gives a
            read-only handle on it), ``"persistent"`` (data outlives the handle).
    """

    r6_trials: ClassVar[int] = 1000
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def require(self, capability: str) -> None:
        """Skip the calling test unless the backend declares ``capability``."""
        if capability not in self.capabilities:
            pytest.skip(f"{type(self).__name__} does not declare the {capability!r} capability")

    @pytest.fixture
    def store(self) -> OrderStore:  # pragma: no cover - always overridden
        pytest.fail("a StoreConformance test class must define a 'store' fixture")

    @pytest.fixture
    def reopen(self, store: OrderStore) -> Callable[[], OrderStore]:
        """Another handle on the same database; backends that can, override it."""
        return lambda: store

    @pytest.fixture
    def read_only(self, store: OrderStore) -> Callable[[], OrderStore]:
        """A read-only handle on the same data; backends with ``"read_only"`` override it."""
        return lambda: pytest.fail("a 'read_only' backend must override the read_only fixture")

    @pytest.fixture
    def factory(self) -> OrderFactory:
        return OrderFactory(seed=20261122, start=_START, span=timedelta(days=10))

    # -- put / get -------------------------------------------------------------------------

    def test_put_returns_version_one_and_get_returns_the_same_order(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A stored order comes back equal, at version 1, with its record times set."""
        order = factory.order()
        stored = store.put(order)
        assert stored.version == 1
        assert stored.recorded_at is not None and stored.updated_at == stored.recorded_at
        assert stored.model_dump(
            exclude={"version", "recorded_at", "updated_at", "status_since"}
        ) == order.model_dump(exclude={"version", "recorded_at", "updated_at", "status_since"})
        assert stored.status_since == stored.recorded_at
        assert store.get(stored.id) == stored
        assert store.get(order.id) == stored

    def test_personal_data_survives_the_round_trip(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Masked in repr, personal fields are stored and read back in full."""
        order = factory.order(
            receiver={"name": "王小明", "phone": "13800138000", "detail": "文三路100号"}
        )
        store.put(order)
        back = store.get(order.id)
        assert back.receiver is not None and back.receiver.phone is not None
        assert back.receiver.phone.reveal() == "13800138000"
        assert "13800138000" not in repr(back)

    def test_get_of_unknown_id_raises_order_not_found(self, store: OrderStore) -> None:
        """A missing order is a typed, catchable LookupError naming the id."""
        with pytest.raises(OrderNotFound) as caught:
            store.get("01NOSUCHORDER0000000000000")
        assert caught.value.order_id == "01NOSUCHORDER0000000000000"
        assert isinstance(caught.value, LookupError)

    def test_find_by_channel_reference(self, store: OrderStore, factory: OrderFactory) -> None:
        """(channel, channel_order_id) finds the order; an unknown one finds nothing."""
        order = store.put(factory.order(channel="pdd"))
        assert store.find("pdd", order.channel_order_id) == order
        assert store.find("pdd", "no-such-order") is None
        assert store.find("jd", order.channel_order_id) is None

    def test_putting_the_same_channel_order_twice_is_refused(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A second order with the same channel reference is a DuplicateOrder naming the first."""
        first = store.put(factory.order(channel="taobao"))
        again = factory.order(channel="taobao", channel_order_id=first.channel_order_id)
        with pytest.raises(DuplicateOrder) as caught:
            store.put(again)
        assert caught.value.existing_id == first.id
        assert store.count() == 1
        assert [e.type for e in store.events(first.id)] == ["order.created"]
        assert store.events(again.id) == []

    def test_putting_the_same_id_twice_is_refused(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A second put of one order object is refused and changes nothing."""
        order = factory.order()
        store.put(order)
        pending = store.outbox_pending()
        with pytest.raises(DuplicateOrder):
            store.put(order)
        assert store.outbox_pending() == pending
        assert store.get(order.id).version == 1

    def test_put_of_an_already_versioned_order_is_refused(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """put() only stores new orders; a versioned one must go through update()."""
        stored = store.put(factory.order())
        with pytest.raises(VersionConflict):
            store.put(stored.evolve(id="01ANOTHERORDER000000000000", channel_order_id="other"))
        assert store.count() == 1

    # -- put_many ---------------------------------------------------------------------------

    def test_put_many_stores_every_order(self, store: OrderStore, factory: OrderFactory) -> None:
        """A batch is stored whole, each order at version 1 with one outbox message."""
        orders = list(factory.orders(50))
        result = store.put_many(orders)
        assert result.counts() == {"created": 50}
        assert len(result) == 50
        stored = result.orders
        assert [(o.outcome, o.order, o.stored_id, o.stored_version) for o in result] == [
            (Outcome.CREATED, s, s.id, 1) for s in stored
        ]
        assert result[-1].order == stored[-1] and result.of("created")[0].order == stored[0]
        assert [o.id for o in stored] == [o.id for o in orders]
        assert {o.version for o in stored} == {1}
        assert store.count() == 50
        assert store.outbox_pending() == 50

    def test_put_many_is_all_or_nothing(self, store: OrderStore, factory: OrderFactory) -> None:
        """One clashing order in a batch leaves the store exactly as it was."""
        existing = store.put(factory.order(channel="jd"))
        batch = list(factory.orders(20))
        batch.insert(13, factory.order(channel="jd", channel_order_id=existing.channel_order_id))
        with pytest.raises(DuplicateOrder) as caught:
            store.put_many(batch)
        assert caught.value.channel_order_id == existing.channel_order_id
        assert store.count() == 1
        assert store.outbox_pending() == 1
        for order in batch[:13]:
            with pytest.raises(OrderNotFound):
                store.get(order.id)

    def test_put_many_refuses_a_channel_order_repeated_within_the_batch(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Two orders with one channel reference in a single batch store nothing."""
        first = factory.order(channel="douyin")
        second = factory.order(channel="douyin", channel_order_id=first.channel_order_id)
        with pytest.raises(DuplicateOrder):
            store.put_many([first, second])
        assert store.count() == 0

    def test_put_many_of_nothing_is_a_no_op(self, store: OrderStore) -> None:
        """An empty batch stores nothing and does not fail."""
        assert list(store.put_many([])) == []
        assert store.count() == 0

    # -- ingest-ready batches --------------------------------------------------------------

    def test_put_many_skip_leaves_stored_orders_alone(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """An overlapping re-poll with on_existing="skip" stores only the new orders."""
        first = list(factory.orders(5))
        store.put_many(first)
        fresh = list(factory.orders(3))
        repoll = [
            factory.order(channel=o.channel, channel_order_id=o.channel_order_id) for o in first[3:]
        ]
        result = store.put_many([*repoll, *fresh], on_existing="skip")
        assert [o.outcome for o in result] == [Outcome.SKIPPED] * 2 + [Outcome.CREATED] * 3
        assert result.counts() == {"skipped": 2, "created": 3}
        assert first[3].id in (result[0].reason or "")
        assert [(o.stored_id, o.stored_version) for o in result[:2]] == [
            (first[3].id, 1),
            (first[4].id, 1),
        ]
        assert [o.id for o in result.orders] == [o.id for o in fresh]
        assert store.count() == 8
        assert store.outbox_pending() == 8
        assert store.find(first[3].channel, first[3].channel_order_id) == store.get(first[3].id)

    def test_put_many_replace_if_newer_follows_the_channel_modified_time(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Newer deliveries replace (stored id kept, version + 1), the same time is unchanged,
        older or undated ones are skipped, and what cannot be stored is rejected alone."""
        t0 = datetime(2026, 11, 20, 8, tzinfo=UTC)
        base = [
            factory.order(
                channel="taobao", status="paid", channel_updated_at=parse_channel_time(t0)
            )
            for _ in range(4)
        ]
        stored = store.put_many(base).orders

        def again(order: Order, minutes: int | None, **changes: Any) -> Order:
            when = None if minutes is None else parse_channel_time(t0 + timedelta(minutes=minutes))
            return factory.order(
                channel=order.channel,
                channel_order_id=order.channel_order_id,
                channel_updated_at=when,
                **changes,
            )

        newer = again(base[0], 5, status="shipped")
        versioned = factory.order().evolve(version=3)
        stolen_id = factory.order().evolve(id=stored[3].id)
        result = store.put_many(
            [
                newer,
                again(base[1], 0),
                again(base[2], -5, status="cancelled"),
                again(base[3], None, status="cancelled"),
                again(base[0], 9, status="completed"),  # repeated within the batch
                versioned,
                stolen_id,
            ],
            on_existing="replace_if_newer",
        )
        assert [o.outcome for o in result] == [
            Outcome.UPDATED,
            Outcome.UNCHANGED,
            Outcome.SKIPPED,
            Outcome.SKIPPED,
            Outcome.SKIPPED,
            Outcome.REJECTED,
            Outcome.REJECTED,
        ]
        replaced = store.get(stored[0].id)
        assert (replaced.id, replaced.version, replaced.status) == (stored[0].id, 2, "shipped")
        assert replaced.recorded_at == stored[0].recorded_at
        before = stored[0].recorded_at
        assert replaced.status_since is not None and before is not None
        assert replaced.status_since > before
        assert result[0].order == replaced
        assert [(o.stored_id, o.stored_version) for o in result] == [
            (stored[0].id, 2),
            (stored[1].id, 1),
            (stored[2].id, 1),
            (stored[3].id, 1),
            (None, None),
            (None, None),
            (None, None),
        ]
        assert [e.type for e in store.events(stored[0].id)] == ["order.created", "order.updated"]
        for original in stored[1:]:
            assert store.get(original.id) == original
        assert store.count() == 4
        assert store.outbox_pending() == 5

    def test_put_many_reports_every_outcome_under_skip_even_when_nothing_is_new(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A page seen before is all skipped, and the store and outbox stay as they were."""
        orders = list(factory.orders(4))
        store.put_many(orders)
        again = store.put_many(orders, on_existing="skip")
        assert again.counts() == {"skipped": 4}
        assert again.orders == []
        assert store.outbox_pending() == 4

    def test_put_many_refuses_an_unknown_policy(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """on_existing takes error, skip or replace_if_newer."""
        with pytest.raises(ConfigurationError, match="upsert"):
            store.put_many([factory.order()], on_existing="upsert")
        assert store.count() == 0

    # -- time in state and sub-states -------------------------------------------------------

    def test_status_since_moves_only_when_the_status_changes(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """status_since starts at the first write, stays through same-status edits, and moves
        on a status change; queries select by it."""
        stored = store.put(factory.order(channel="jd", status="paid"))
        assert stored.status_since == stored.recorded_at
        edited = store.update(stored.evolve(seller_note="call before delivery"))
        assert edited.status_since == stored.status_since
        moved = store.update(edited.evolve(status=OrderStatus.ALLOCATED))
        assert moved.status_since is not None and stored.status_since is not None
        assert moved.status_since == moved.updated_at
        assert moved.status_since > stored.status_since
        waiting = store.put(factory.order(channel="jd", status="paid"))
        assert waiting.status_since is not None
        cut = waiting.status_since + timedelta(microseconds=1)
        assert [o.id for o in store.query(status="paid", status_since_to=cut)] == [waiting.id]
        assert [o.id for o in store.query(status_since_from=cut)] == []
        assert store.count(status_since_from=moved.status_since) == 2

    def test_orders_are_queried_by_node(self, store: OrderStore, factory: OrderFactory) -> None:
        """The atomic node (lifecycle sub-state) is stored and filters queries."""
        held = store.put(factory.order(channel="jd", status="allocated", node="awaiting_outbound"))
        store.put(factory.order(channel="jd", status="allocated"))
        assert [o.id for o in store.query(node="awaiting_outbound")] == [held.id]
        assert store.count(node="qc_failed") == 0

    def test_orders_are_queried_by_anomaly(self, store: OrderStore, factory: OrderFactory) -> None:
        """An order whose amounts do not balance is stored, marked and found by its anomaly."""
        plain = factory.order(channel="jd")
        amounts = plain.amounts
        off = plain.evolve(
            channel_order_id=f"{plain.channel_order_id}-x",
            id=new_id(),
            amounts=amounts.model_copy(update={"paid": amounts.paid + Money("1.00")}),
        )
        assert off.has_anomaly("amounts_unbalanced") and not plain.anomalies
        store.put_many([plain, off])
        found = store.query(anomaly="amounts_unbalanced")
        assert [o.id for o in found] == [off.id]
        assert found[0].anomalies == off.anomalies
        assert store.count(anomaly=AnomalyCode.AMOUNTS_UNBALANCED) == 1
        with pytest.raises(ConfigurationError, match="unknown anomaly"):
            store.query(anomaly="too_cheap")

    def test_the_raw_payload_comes_back_byte_for_byte(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """The payload as received (escapes, big numbers, odd spacing) is kept exactly."""
        text = '{"tid": 3918273640987654321, "note":"\\u4f60 好", "amt" : 12.30}\n'
        order = factory.order().evolve(raw={"text": text, "content_type": "application/json"})
        stored = store.put(order)
        back = store.get(stored.id)
        assert back.raw is not None and back.raw.text == text
        assert back == stored
        assert store.query(channel=order.channel)[0].raw == back.raw

    # -- one outbox for every aggregate ------------------------------------------------------

    def test_order_messages_are_keyed_by_stream_aggregate_and_event_id(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Order messages say stream "order", the order id and version, and a unique event id
        equal to the id of the change's first event."""
        stored = store.put(factory.order(status="paid"))
        store.update(stored.evolve(status=OrderStatus.ALLOCATED))
        store.put_many(list(factory.orders(3)))
        messages = store.claim_outbox(10)
        assert {m.stream for m in messages} == {"order"}
        assert [(m.aggregate_id, m.aggregate_version) for m in messages[:2]] == [
            (stored.id, 1),
            (stored.id, 2),
        ]
        assert len({m.event_id for m in messages}) == 5
        for message in messages:
            assert message.event_id == message.payload["events"][0]["event_id"]
        assert [e.event_id for e in store.events(stored.id)] == [m.event_id for m in messages[:2]]

    def test_other_aggregates_publish_through_the_same_outbox(self, store: OrderStore) -> None:
        """publish() writes messages of other streams, idempotently per event id."""
        entries = [
            OutboxEntry(
                stream="stock",
                aggregate_id="SKU-1@WH1",
                aggregate_version=v,
                topic="stock.reserved",
                payload={"available": 10 - v},
            )
            for v in (1, 2)
        ]
        ids = store.publish(entries)
        assert len(ids) == 2 and ids[0] < ids[1]
        assert store.publish(entries[:1]) == ids[:1]
        assert store.outbox_pending() == 2
        messages = store.claim_outbox(10)
        assert [(m.stream, m.aggregate_id, m.aggregate_version, m.event_id) for m in messages] == [
            ("stock", "SKU-1@WH1", v, e.event_id) for v, e in zip((1, 2), entries, strict=True)
        ]
        assert messages[1].payload == {"available": 8}
        assert store.integrity_check() == []

    def test_messages_of_one_aggregate_are_handed_out_in_order(
        self, store: OrderStore, reopen: Callable[[], OrderStore], factory: OrderFactory
    ) -> None:
        """While one worker holds an aggregate's message, nobody gets its later ones; other
        aggregates' messages flow meanwhile."""
        other = reopen()
        first = store.put(factory.order(status="paid"))
        store.update(first.evolve(status=OrderStatus.ALLOCATED))
        second = store.put(factory.order(status="paid"))
        held = store.claim_outbox(1, lease_seconds=60)
        assert [(m.aggregate_id, m.aggregate_version) for m in held] == [(first.id, 1)]
        meanwhile = other.claim_outbox(10, lease_seconds=60)
        assert [(m.aggregate_id, m.aggregate_version) for m in meanwhile] == [(second.id, 1)]
        store.ack_outbox([held[0].id])
        after = other.claim_outbox(10, lease_seconds=60)
        assert [(m.aggregate_id, m.aggregate_version) for m in after] == [(first.id, 2)]

    def test_outbox_entries_are_validated(self) -> None:
        """An entry must name a stream of its own, an aggregate and a JSON payload."""
        with pytest.raises(ConfigurationError):
            OutboxEntry(
                stream="order", aggregate_id="x", aggregate_version=1, topic="t", payload={}
            )
        with pytest.raises(ConfigurationError):
            OutboxEntry(
                stream="st ock", aggregate_id="x", aggregate_version=1, topic="t", payload={}
            )
        with pytest.raises(ConfigurationError):
            OutboxEntry(stream="stock", aggregate_id="", aggregate_version=1, topic="t", payload={})
        bad = OutboxEntry(
            stream="stock", aggregate_id="x", aggregate_version=1, topic="t", payload={"d": {1, 2}}
        )
        with pytest.raises(ConfigurationError):
            _ = bad.payload_json

    # -- integrity -----------------------------------------------------------------------------

    def test_integrity_check_passes_after_every_kind_of_write(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """The same integrity rules hold on every backend after puts, batches, updates,
        replacements, events and published messages."""
        stored = store.put(factory.order(status="paid"))
        store.update(stored.evolve(status=OrderStatus.ALLOCATED))
        store.put_many(list(factory.orders(5)))
        store.append_events(
            stored.id, [OrderEvent(order_id=stored.id, type="order.noted", actor=Actor.system())]
        )
        store.publish(
            [
                OutboxEntry(
                    stream="timer",
                    aggregate_id="t1",
                    aggregate_version=1,
                    topic="timer.due",
                    payload={},
                )
            ]
        )
        assert store.integrity_check() == []

    # -- read-only handles ---------------------------------------------------------------------

    def test_a_read_only_handle_reads_but_never_writes(
        self, store: OrderStore, read_only: Callable[[], OrderStore], factory: OrderFactory
    ) -> None:
        """Queries work on a read-only handle; every write raises StoreReadOnly."""
        self.require("read_only")
        stored = store.put(factory.order(channel="jd", status="paid"))
        viewer = read_only()
        assert viewer.get(stored.id) == stored
        assert viewer.count(status="paid") == 1
        assert [e.type for e in viewer.events(stored.id)] == ["order.created"]
        assert viewer.outbox_pending() == 1
        for write in (
            lambda: viewer.put(factory.order()),
            lambda: viewer.put_many([factory.order()]),
            lambda: viewer.update(stored.evolve(status=OrderStatus.ALLOCATED)),
            lambda: viewer.claim_outbox(1),
            lambda: viewer.ack_outbox([1]),
            lambda: viewer.remember("k", "f", {}),
        ):
            with pytest.raises(StoreReadOnly):
                write()
        assert store.get(stored.id) == stored
        assert store.outbox_pending() == 1

    def test_a_second_handle_sees_the_first_ones_writes(
        self, store: OrderStore, reopen: Callable[[], OrderStore], factory: OrderFactory
    ) -> None:
        """Another handle on the same data reads what the first committed."""
        self.require("reopen")
        stored = store.put(factory.order())
        assert reopen().get(stored.id) == stored

    # -- update / optimistic concurrency ---------------------------------------------------

    def test_update_bumps_the_version_by_one(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Each successful update stores version + 1 and the new content."""
        stored = store.put(factory.order(status="paid"))
        allocated = store.update(stored.evolve(status=OrderStatus.ALLOCATED))
        assert allocated.version == 2
        packed = store.update(allocated.evolve(status=OrderStatus.PACKED))
        assert packed.version == 3
        assert store.get(stored.id).status is OrderStatus.PACKED
        assert store.get(stored.id).version == 3
        assert packed.recorded_at == stored.recorded_at

    def test_update_from_a_stale_version_conflicts_and_changes_nothing(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A change based on an old version is refused; version, events and outbox are untouched."""
        stored = store.put(factory.order(status="paid"))
        store.update(stored.evolve(status=OrderStatus.ALLOCATED))
        pending, events = store.outbox_pending(), store.events(stored.id)
        with pytest.raises(VersionConflict) as caught:
            store.update(stored.evolve(status=OrderStatus.CANCELLED))
        assert (caught.value.expected, caught.value.actual) == (1, 2)
        now = store.get(stored.id)
        assert (now.version, now.status) == (2, OrderStatus.ALLOCATED)
        assert store.outbox_pending() == pending
        assert store.events(stored.id) == events

    def test_update_of_a_never_stored_order_is_refused(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """update() needs a stored version; version 0 is a conflict, an unknown id not found."""
        with pytest.raises(VersionConflict):
            store.update(factory.order())
        ghost = factory.order().model_copy(update={"version": 3})
        with pytest.raises(OrderNotFound):
            store.update(ghost)

    def test_update_cannot_take_another_orders_channel_reference(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Changing channel_order_id onto another stored order's is a DuplicateOrder."""
        first = store.put(factory.order(channel="youzan"))
        second = store.put(factory.order(channel="youzan"))
        with pytest.raises(DuplicateOrder):
            store.update(second.evolve(channel_order_id=first.channel_order_id))
        assert store.get(second.id).version == 1

    def test_two_writers_on_one_version_exactly_one_wins(
        self, store: OrderStore, reopen: Callable[[], OrderStore], factory: OrderFactory
    ) -> None:
        """R6: of two concurrent updates on one version, one wins and one conflicts, every time."""
        other = reopen()
        orders = store.put_many(list(factory.orders(self.r6_trials, status="paid"))).orders
        barrier = threading.Barrier(2)

        def write(handle: OrderStore, order: Order, status: OrderStatus) -> str:
            barrier.wait(timeout=30)
            try:
                handle.update(order.evolve(status=status))
            except VersionConflict:
                return "conflict"
            return "won"

        outcomes = []
        with ThreadPoolExecutor(max_workers=2) as pool:
            for order in orders:
                a = pool.submit(write, store, order, OrderStatus.ALLOCATED)
                b = pool.submit(write, other, order, OrderStatus.CANCELLED)
                outcomes.append(sorted((a.result(), b.result())))
        assert outcomes == [["conflict", "won"]] * len(orders)
        for order in orders[:50]:
            assert store.get(order.id).version == 2

    # -- queries ---------------------------------------------------------------------------

    @pytest.fixture
    def populated(self, store: OrderStore, factory: OrderFactory) -> list[Order]:
        orders = list(factory.orders(120))
        return store.put_many(orders).orders

    @staticmethod
    def _ids(orders: list[Order]) -> list[str]:
        return [o.id for o in orders]

    @staticmethod
    def _expected(orders: list[Order], query: OrderQuery) -> list[str]:
        return [o.id for o in sorted(orders, key=Order.sort_key) if query.matches(o)][: query.limit]

    @pytest.mark.parametrize(
        "filters",
        [
            {},
            {"channel": "douyin"},
            {"status": "paid"},
            {"status": ["completed", "cancelled"]},
            {"tag": "urgent"},
            {"shop_id": "taobao-shop-1"},
            {"channel": "taobao", "status": ["paid", "completed"]},
            {"created_from": _START + timedelta(days=2), "created_to": _START + timedelta(days=5)},
            {"channel": "pdd", "created_from": _START + timedelta(days=3)},
            {"limit": 7},
        ],
    )
    def test_query_filters_and_sorts_like_the_reference(
        self, store: OrderStore, populated: list[Order], filters: dict[str, Any]
    ) -> None:
        """Each filter combination returns exactly the matching orders, by placement time, id."""
        query = OrderQuery(**filters)
        assert self._ids(store.query(query)) == self._expected(populated, query)
        assert self._ids(store.query(**filters)) == self._expected(populated, query)
        unlimited = OrderQuery(**{**filters, "limit": 100_000})
        assert store.count(query) == len(self._expected(populated, unlimited))

    def test_query_pages_with_a_keyset_cursor(
        self, store: OrderStore, populated: list[Order]
    ) -> None:
        """Paging with after=<last sort key> visits every order once, in order."""
        seen: list[str] = []
        after = None
        while True:
            page = store.query(OrderQuery(limit=17, after=after))
            if not page:
                break
            seen.extend(o.id for o in page)
            after = page[-1].sort_key()
        assert seen == [o.id for o in sorted(populated, key=Order.sort_key)]

    def test_query_sees_updates(self, store: OrderStore, factory: OrderFactory) -> None:
        """Status and tags written by update() are what queries filter on."""
        stored = store.put(factory.order(status="paid", tags=()))
        store.update(stored.evolve(status=OrderStatus.UNDER_REVIEW, tags=("risk",)))
        assert self._ids(store.query(status="under_review")) == [stored.id]
        assert self._ids(store.query(tag="risk")) == [stored.id]
        assert store.query(status="paid") == []

    # -- events and outbox -------------------------------------------------------------------

    def test_every_change_is_an_event_with_actor_and_version(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """put records order.created; update records its events, stamped with the new version."""
        actor = Actor(kind=ActorKind.CONNECTOR, id="douyin")
        stored = store.put(factory.order(status="paid"), actor=actor)
        moved = OrderEvent(
            order_id=stored.id,
            type="order.status_changed",
            actor=Actor(kind=ActorKind.RULE, id="route-urgent"),
            from_status=OrderStatus.PAID,
            to_status=OrderStatus.ALLOCATED,
            reason="urgent orders go to warehouse A",
        )
        store.update(stored.evolve(status=OrderStatus.ALLOCATED), events=[moved])
        store.update(store.get(stored.id).evolve(seller_note="checked"))
        events = store.events(stored.id)
        assert [(e.type, e.order_version) for e in events] == [
            ("order.created", 1),
            ("order.status_changed", 2),
            ("order.updated", 3),
        ]
        assert events[0].actor == actor
        assert events[1].reason == "urgent orders go to warehouse A"
        assert events[1].event_id == moved.event_id

    def test_append_events_records_without_changing_the_order(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """append_events adds history and one outbox message but leaves the version alone."""
        stored = store.put(factory.order())
        note = OrderEvent(
            order_id=stored.id, type="order.alerted", actor=Actor.system(), reason="SLA"
        )
        store.append_events(stored.id, [note])
        assert store.get(stored.id).version == 1
        assert [e.type for e in store.events(stored.id)] == ["order.created", "order.alerted"]
        assert store.outbox_pending() == 2
        with pytest.raises(OrderNotFound):
            store.append_events("01NOSUCHORDER0000000000000", [note])

    def test_outbox_has_one_message_per_change(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Each committed put/update is exactly one outbox message carrying the new version."""
        stored = store.put(factory.order(status="paid"))
        store.update(stored.evolve(status=OrderStatus.ALLOCATED))
        messages = store.claim_outbox(10)
        assert [(m.topic, m.order_id, m.order_version) for m in messages] == [
            ("order.created", stored.id, 1),
            ("order.updated", stored.id, 2),
        ]
        assert messages[1].payload["status"] == "allocated"
        assert messages[0].payload["events"][0]["type"] == "order.created"
        assert messages[0].id < messages[1].id

    def test_claimed_messages_are_not_handed_out_again_until_the_lease_ends(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A claim hides messages from others; acked ones never return; expired leases do."""
        store.put_many(list(factory.orders(5)))
        first = store.claim_outbox(3, lease_seconds=60)
        assert len(first) == 3
        second = store.claim_outbox(10, lease_seconds=0)
        assert len(second) == 2
        assert not {m.id for m in first} & {m.id for m in second}
        store.ack_outbox([m.id for m in first])
        again = store.claim_outbox(10, lease_seconds=60)
        assert sorted(m.id for m in again) == sorted(m.id for m in second)
        assert all(m.attempts == 2 for m in again)
        store.ack_outbox([m.id for m in again])
        assert store.outbox_pending() == 0
        assert store.claim_outbox(10) == []

    def test_concurrent_claimers_get_each_message_once(
        self, store: OrderStore, reopen: Callable[[], OrderStore], factory: OrderFactory
    ) -> None:
        """Several workers draining the outbox at once are handed every message exactly once."""
        store.put_many(list(factory.orders(300)))
        handles = [store, reopen(), reopen(), reopen()]

        def drain(handle: OrderStore) -> list[int]:
            got: list[int] = []
            while batch := handle.claim_outbox(7, lease_seconds=300):
                got.extend(m.id for m in batch)
                handle.ack_outbox([m.id for m in batch])
            return got

        with ThreadPoolExecutor(max_workers=len(handles)) as pool:
            results = list(pool.map(drain, handles))
        everything = [message_id for result in results for message_id in result]
        assert len(everything) == 300
        assert len(set(everything)) == 300
        assert store.outbox_pending() == 0

    # -- idempotency ---------------------------------------------------------------------------

    def test_remember_returns_the_first_result_for_the_same_request(
        self, store: OrderStore
    ) -> None:
        """R9: same key and fingerprint gives back the first recorded result."""
        first = store.remember("webhook:1", "fp-a", {"order_id": "A", "n": 1})
        second = store.remember("webhook:1", "fp-a", {"order_id": "B", "n": 2})
        assert second.result == {"order_id": "A", "n": 1}
        assert second.created_at == first.created_at
        recalled = store.recall("webhook:1")
        assert recalled is not None and recalled.result == {"order_id": "A", "n": 1}
        assert store.recall("webhook:2") is None

    def test_remember_with_a_different_request_conflicts(self, store: OrderStore) -> None:
        """R9: reusing a key for a different request is an IdempotencyConflict naming the key."""
        store.remember("req-9", "fp-a", {"ok": True})
        with pytest.raises(IdempotencyConflict) as caught:
            store.remember("req-9", "fp-b", {"ok": True})
        assert caught.value.key == "req-9"

    def test_concurrent_use_of_one_key_records_one_result(
        self, store: OrderStore, reopen: Callable[[], OrderStore]
    ) -> None:
        """R9: racing writers of one key all see the single result that won."""
        handles = [store, reopen(), reopen(), reopen()]
        barrier = threading.Barrier(len(handles))

        def use(args: tuple[int, OrderStore]) -> Any:
            index, handle = args
            barrier.wait(timeout=30)
            return handle.remember("race-key", "same-request", {"writer": index}).result

        with ThreadPoolExecutor(max_workers=len(handles)) as pool:
            results = list(pool.map(use, enumerate(handles)))
        assert len({r["writer"] for r in results}) == 1

    def test_put_with_an_idempotency_key_is_applied_once(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A replayed delivery (same content, fresh id) returns the stored order, writes nothing."""
        order = factory.order(channel="douyin")
        stored = store.put(order, idempotency_key="douyin:msg:42")
        replay = order.model_copy(update={"id": "01REPLAYEDDELIVERY00000000"})
        assert store.put(replay, idempotency_key="douyin:msg:42") == stored
        assert store.count() == 1
        assert store.outbox_pending() == 1
        different = factory.order(channel="douyin")
        with pytest.raises(IdempotencyConflict):
            store.put(different, idempotency_key="douyin:msg:42")
        assert store.count() == 1

    def test_update_with_an_idempotency_key_is_applied_once(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Retrying an update with its key returns the first result instead of a conflict."""
        stored = store.put(factory.order(status="paid"))
        change = stored.evolve(status=OrderStatus.ALLOCATED)
        first = store.update(change, idempotency_key="alloc-1")
        again = store.update(change, idempotency_key="alloc-1")
        assert again == first
        assert store.get(stored.id).version == 2

    # -- many operations against a reference model ---------------------------------------------

    random_steps: ClassVar[int] = 300

    def test_random_operations_agree_with_a_reference_model(
        self, store: OrderStore, reopen: Callable[[], OrderStore], factory: OrderFactory
    ) -> None:
        """Random puts, batches, fresh and stale updates, events and outbox work, through two
        handles, leave the store equal to a plain model of what should have happened."""
        rnd = random.Random(20261122)
        handles = [store, reopen()]
        versions: dict[str, int] = {}  # order id -> stored version
        statuses: dict[str, OrderStatus] = {}
        events: dict[str, int] = {}  # order id -> events recorded
        copies: dict[str, Order] = {}  # the last copy read of each order (may go stale)
        messages = stale = 0
        acked: set[int] = set()
        statuses_to_pick = list(OrderStatus)

        def stored(order: Order) -> None:
            versions[order.id] = order.version
            statuses[order.id] = order.status
            if order.id not in copies or rnd.random() < 0.3:
                copies[order.id] = order  # otherwise the kept copy goes stale

        for step in range(self.random_steps):
            handle = rnd.choice(handles)
            action = rnd.choices(
                ["put", "put_many", "update", "events", "outbox", "duplicate"], [3, 2, 5, 2, 2, 1]
            )[0]
            if action == "put":
                order = handle.put(factory.order())
                stored(order)
                events[order.id] = 1
                messages += 1
            elif action == "put_many":
                batch = list(factory.orders(rnd.randrange(1, 6)))
                clash = bool(versions) and rnd.random() < 0.3
                if clash:
                    taken = handle.get(rnd.choice(sorted(versions)))
                    batch.append(
                        factory.order(
                            channel=taken.channel, channel_order_id=taken.channel_order_id
                        )
                    )
                    with pytest.raises(DuplicateOrder):
                        handle.put_many(batch)
                else:
                    for order in handle.put_many(batch).orders:
                        stored(order)
                        events[order.id] = 1
                        messages += 1
            elif action == "duplicate" and versions:
                taken = handle.get(rnd.choice(sorted(versions)))
                with pytest.raises(DuplicateOrder):
                    handle.put(
                        factory.order(
                            channel=taken.channel, channel_order_id=taken.channel_order_id
                        )
                    )
            elif action == "update" and versions:
                order_id = rnd.choice(sorted(versions))
                base = copies[order_id] if rnd.random() < 0.4 else handle.get(order_id)
                status = rnd.choice(statuses_to_pick)
                if base.version != versions[order_id]:
                    with pytest.raises(VersionConflict):
                        handle.update(base.evolve(status=status))
                    stale += 1
                else:
                    stored(handle.update(base.evolve(status=status)))
                    events[order_id] += 1
                    messages += 1
            elif action == "events" and versions:
                order_id = rnd.choice(sorted(versions))
                note = OrderEvent(order_id=order_id, type="order.noted", actor=Actor.system())
                handle.append_events(order_id, [note])
                events[order_id] += 1
                messages += 1
            elif action == "outbox":
                claimed = handle.claim_outbox(rnd.randrange(1, 20), lease_seconds=0)
                done = [m.id for m in claimed if rnd.random() < 0.7]
                handle.ack_outbox(done)
                acked.update(done)

            if step % 25 == 0 or step == self.random_steps - 1:
                assert store.count() == len(versions), f"step {step}"
                assert store.outbox_pending() == messages - len(acked), f"step {step}"
                for order_id in rnd.sample(sorted(versions), min(10, len(versions))):
                    current = store.get(order_id)
                    assert (current.version, current.status) == (
                        versions[order_id],
                        statuses[order_id],
                    ), f"step {step}"
                    assert len(store.events(order_id)) == events[order_id], f"step {step}"
        assert stale > 10, "the sequence should include stale updates"

    # -- update_many ---------------------------------------------------------------------------

    def test_update_many_writes_every_order_with_its_events(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """One call updates many orders: each at version + 1, one outbox message each."""
        stored = store.put_many(list(factory.orders(5, status="paid"))).orders
        store.claim_outbox(100, lease_seconds=300)
        actor = Actor(kind=ActorKind.RULE, id="alloc")
        updates = [
            OrderUpdate(
                order.evolve(status=OrderStatus.ALLOCATED),
                events=[
                    OrderEvent(
                        order_id=order.id,
                        type="order.allocated",
                        actor=actor,
                        from_status=OrderStatus.PAID,
                        to_status=OrderStatus.ALLOCATED,
                    )
                ],
            )
            for order in stored
        ]
        done = store.update_many(updates, actor=actor)
        assert [o.id for o in done] == [o.id for o in stored]
        assert all(o.version == 2 and o.status is OrderStatus.ALLOCATED for o in done)
        for order in stored:
            assert store.get(order.id).version == 2
            last = store.events(order.id)[-1]
            assert (last.type, last.order_version) == ("order.allocated", 2)
        assert store.update_many([]) == []

    def test_update_many_is_all_or_nothing(self, store: OrderStore, factory: OrderFactory) -> None:
        """A stale version, a missing order or a repeated id anywhere writes nothing at all."""
        stored = store.put_many(list(factory.orders(4, status="paid"))).orders
        store.update(stored[2].evolve(status=OrderStatus.ALLOCATED))
        pending = store.outbox_pending()
        plans = [TimerPlan(o.id, arm=[TimerArm("t", _START)]) for o in stored]
        stale = [
            OrderUpdate(o.evolve(status=OrderStatus.CANCELLED), timers=plan)
            for o, plan in zip(stored, plans, strict=True)
        ]
        with pytest.raises(VersionConflict) as caught:
            store.update_many(stale)
        assert caught.value.order_id == stored[2].id
        ghost = factory.order().model_copy(update={"version": 1})
        with pytest.raises(OrderNotFound):
            store.update_many([OrderUpdate(stored[0]), OrderUpdate(ghost)])
        with pytest.raises(ConfigurationError, match="twice"):
            store.update_many([OrderUpdate(stored[0]), OrderUpdate(stored[0])])
        with pytest.raises(ConfigurationError, match="timer plan"):
            store.update_many([OrderUpdate(stored[0], timers=plans[1])])
        first = store.put(factory.order(channel="youzan"))
        second = store.put(factory.order(channel="youzan"))
        with pytest.raises(DuplicateOrder):
            store.update_many(
                [
                    OrderUpdate(stored[0].evolve(status=OrderStatus.ALLOCATED)),
                    OrderUpdate(second.evolve(channel_order_id=first.channel_order_id)),
                ]
            )
        pending += 2
        assert store.outbox_pending() == pending
        assert [store.get(o.id).version for o in stored] == [1, 1, 2, 1]
        assert all(store.timers(o.id) == [] for o in stored)

    # -- timers --------------------------------------------------------------------------------

    def test_timers_are_armed_and_cancelled_with_the_order_change(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A timer plan in an update applies in its transaction: cancel first, then arm."""
        order = store.put(factory.order(status="paid"))
        due = _START + timedelta(hours=2)
        store.set_timers([TimerPlan(order.id, arm=[TimerArm("sla:paid", due)])])
        assert [(t.name, t.due_at, t.level) for t in store.timers(order.id)] == [
            ("sla:paid", due, 1)
        ]
        plan = TimerPlan(
            order.id,
            cancel=["sla:paid", "sla:never-armed"],
            arm=[TimerArm("sla:allocated", due + timedelta(hours=4))],
        )
        store.update_many([OrderUpdate(order.evolve(status=OrderStatus.ALLOCATED), timers=plan)])
        assert [t.name for t in store.timers(order.id)] == ["sla:allocated"]
        assert store.timer_count() == 1
        assert store.timer_count(due_before=due + timedelta(hours=4)) == 0
        assert store.timer_count(due_before=due + timedelta(hours=5)) == 1
        rearm = TimerPlan(order.id, arm=[TimerArm("sla:allocated", due, level=2)])
        store.set_timers([rearm])
        assert [(t.due_at, t.level) for t in store.timers(order.id)] == [(due, 2)]

    def test_timer_arguments_are_checked(self) -> None:
        """A naive due time or an empty name is refused when the timer is described."""
        with pytest.raises(ConfigurationError, match="timezone-aware"):
            TimerArm("x", datetime(2026, 1, 1))
        with pytest.raises(ConfigurationError, match="timer name"):
            TimerArm("", _START)

    def test_due_timers_are_claimed_once_until_finished_or_retried(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """claim_timers hands out due timers earliest first and not again during the lease."""
        orders = store.put_many(list(factory.orders(3, status="paid"))).orders
        store.set_timers(
            [
                TimerPlan(o.id, arm=[TimerArm("sla", _START + timedelta(minutes=i))])
                for i, o in enumerate(orders)
            ]
        )
        now = _START + timedelta(minutes=1)
        claimed = store.claim_timers(now, limit=10)
        assert [t.order_id for t in claimed] == [orders[0].id, orders[1].id]
        assert all(t.claim and t.attempts == 1 for t in claimed)
        assert store.claim_timers(now, limit=10) == []
        event = OrderEvent(
            order_id=orders[0].id, type="order.sla_breached", actor=Actor.system("timers")
        )
        later = now + timedelta(hours=1)
        assert store.finish_timer(claimed[0], events=[event], next_due=later, next_level=2)
        assert not store.finish_timer(claimed[0])  # the claim was used up
        assert [(t.due_at, t.level, t.claim) for t in store.timers(orders[0].id)] == [
            (later, 2, None)
        ]
        assert store.events(orders[0].id)[-1].type == "order.sla_breached"
        assert store.get(orders[0].id).version == 1
        assert store.retry_timer(claimed[1], now + timedelta(minutes=5))
        third = store.claim_timers(now + timedelta(minutes=4), limit=10, lease_seconds=600)
        assert [(t.order_id, t.attempts) for t in third] == [(orders[2].id, 1)]
        again = store.claim_timers(now + timedelta(minutes=5), limit=10)
        assert [(t.order_id, t.attempts) for t in again] == [(orders[1].id, 2)]
        assert store.finish_timer(again[0]) and store.timers(orders[1].id) == []
        with pytest.raises(ConfigurationError, match="claim_timers"):
            store.finish_timer(store.timers(orders[0].id)[0])

    def test_a_timer_cancelled_or_rearmed_after_its_claim_is_not_finished(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A transition that cancels a claimed timer wins; the late finish writes nothing."""
        order = store.put(factory.order(status="paid"))
        gone = store.put(factory.order(status="paid"))
        store.set_timers(
            [
                TimerPlan(order.id, arm=[TimerArm("sla", _START)]),
                TimerPlan(gone.id, arm=[TimerArm("sla", _START)]),
                TimerPlan("01NOSUCHORDER0000000000000", arm=[TimerArm("sla", _START)]),
            ]
        )
        claimed = {t.order_id: t for t in store.claim_timers(_START, limit=10)}
        assert len(claimed) == 3
        store.set_timers([TimerPlan(order.id, arm=[TimerArm("sla", _START + timedelta(days=1))])])
        store.update_many([OrderUpdate(gone, timers=TimerPlan(gone.id, cancel=["sla"]))])
        event = OrderEvent(order_id=order.id, type="order.sla_breached", actor=Actor.system())
        events_before = len(store.events(order.id))
        assert not store.finish_timer(claimed[order.id], events=[event])
        assert not store.retry_timer(claimed[gone.id], _START)
        assert len(store.events(order.id)) == events_before
        assert [t.due_at for t in store.timers(order.id)] == [_START + timedelta(days=1)]
        orphan = claimed["01NOSUCHORDER0000000000000"]
        lost = OrderEvent(order_id=orphan.order_id, type="order.sla_breached", actor=Actor.system())
        assert not store.finish_timer(orphan, events=[lost])
        assert store.timers(orphan.order_id) == []

    def test_claims_carry_the_timers_data_and_their_orders_state(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A claimed timer says where its order is (or that it is gone) and what was armed."""
        order = store.put(factory.order(status="packed", channel="taobao"))
        armed = TimerArm("sla", _START, data={"channel": order.channel, "ref": "T-1"})
        store.set_timers(
            [
                TimerPlan(order.id, arm=[armed]),
                TimerPlan("01NOSUCHORDER0000000000000", arm=[TimerArm("sla", _START)]),
            ]
        )
        assert store.timers(order.id)[0].data == {"channel": order.channel, "ref": "T-1"}
        claimed = {t.order_id: t for t in store.claim_timers(_START)}
        assert claimed[order.id].order_state == (order.status.value, order.node)
        assert order.status.value == "packed"
        assert claimed[order.id].data == {"channel": order.channel, "ref": "T-1"}
        assert claimed["01NOSUCHORDER0000000000000"].order_state is None
        assert claimed["01NOSUCHORDER0000000000000"].data is None

    def test_finish_timers_writes_a_batch_in_one_call(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Each finish of a batch is applied or refused on its own merits, in order."""
        orders = store.put_many(list(factory.orders(3, status="paid"))).orders
        store.set_timers([TimerPlan(o.id, arm=[TimerArm("sla", _START)]) for o in orders])
        claimed = {t.order_id: t for t in store.claim_timers(_START, limit=10)}
        store.set_timers([TimerPlan(orders[2].id, cancel=["sla"])])
        breach = [
            OrderEvent(order_id=o.id, type="order.sla_breached", actor=Actor.system())
            for o in orders
        ]
        later = _START + timedelta(hours=1)
        results = store.finish_timers(
            [
                TimerFinish(claimed[orders[0].id], events=[breach[0]]),
                TimerFinish(claimed[orders[1].id], events=[breach[1]], next_due=later),
                TimerFinish(claimed[orders[2].id], events=[breach[2]]),
            ]
        )
        assert results == [True, True, False]
        assert store.timers(orders[0].id) == []
        assert [(t.level, t.due_at) for t in store.timers(orders[1].id)] == [(2, later)]
        kinds = [[e.type for e in store.events(o.id)] for o in orders]
        assert kinds == [
            ["order.created", "order.sla_breached"],
            ["order.created", "order.sla_breached"],
            ["order.created"],
        ]
        assert store.events(orders[0].id)[-1].order_version == 1
        assert store.integrity_check() == []
        assert store.finish_timers([]) == []

    def test_concurrent_timer_claimers_get_each_timer_once(
        self, store: OrderStore, reopen: Callable[[], OrderStore], factory: OrderFactory
    ) -> None:
        """Several workers claiming due timers at once each get a disjoint share of them."""
        store.set_timers(
            [
                TimerPlan(f"order-{i:04d}", arm=[TimerArm("sla", _START + timedelta(seconds=i))])
                for i in range(200)
            ]
        )
        handles = [store, reopen(), reopen(), reopen()]
        now = _START + timedelta(days=1)

        def drain(handle: OrderStore) -> list[str]:
            got: list[str] = []
            while batch := handle.claim_timers(now, limit=7, lease_seconds=300):
                got.extend(t.order_id for t in batch)
                for timer in batch:
                    assert handle.finish_timer(timer)
            return got

        with ThreadPoolExecutor(max_workers=len(handles)) as pool:
            results = list(pool.map(drain, handles))
        everything = [order_id for result in results for order_id in result]
        assert len(everything) == 200 and len(set(everything)) == 200
        assert store.timer_count() == 0

    # -- lifecycle -----------------------------------------------------------------------------

    def test_a_closed_store_refuses_work(self, store: OrderStore, factory: OrderFactory) -> None:
        """After close() every call raises StoreClosed; closing twice is fine."""
        store.close()
        store.close()
        with pytest.raises(StoreClosed):
            store.put(factory.order())
        with pytest.raises(StoreClosed):
            store.count()
