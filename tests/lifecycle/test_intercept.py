"""Interception (截单): hold at once, recall from the warehouse, its answer, never ship twice."""

from __future__ import annotations

import doctest
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ordercore.errors import ConfigurationError, GuardFailed, InvalidTransition, VersionConflict
from ordercore.lifecycle import Lifecycle, default_lifecycle, default_spec
from ordercore.lifecycle._holds import HoldReason, current_hold, force_approve, release
from ordercore.lifecycle._intercept import (
    AFTER_SALE_FOLLOW_UP,
    INTERCEPTED,
    INTERCEPTION_GUARDS,
    RECALL_REQUESTED,
    InterceptCause,
    InterceptionStats,
    InterceptOutcome,
    accept_recall,
    intercept,
    interception_latencies,
    interception_lifecycle,
    interception_spec,
    interception_stats,
    refuse_recall,
)
from ordercore.schema import Actor, ActorKind, Order, OrderEvent, OrderStatus, Shipment
from ordercore.storage import MemoryStore, OrderStore, SQLiteStore
from ordercore.testing import OrderFactory
from ordercore.timestamps import ChannelTime

BOT = Actor(kind=ActorKind.CONNECTOR, id="taobao-push")
WMS = Actor(kind=ActorKind.CONNECTOR, id="wms")
CLERK = Actor(kind=ActorKind.PERSON, id="staff-7")
NOW = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)
RECEIVED = NOW - timedelta(milliseconds=8300)
GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "lifecycle.md"

#: Where an order released to the warehouse can be, as (status, node).
WAREHOUSE_STATES = [
    ("allocated", None),
    ("allocated", "custom_made"),
    ("allocated", "engraving"),
    ("picking", None),
    ("packed", None),
    ("packed", "awaiting_outbound"),
]


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    opened: OrderStore = (
        MemoryStore() if request.param == "memory" else SQLiteStore(str(tmp_path / "o.db"))
    )
    with opened:
        yield opened


@pytest.fixture(scope="module")
def lifecycle() -> Lifecycle:
    return interception_lifecycle()


def put(store: OrderStore, status: str, node: str | None = None, **fields: Any) -> Order:
    order = OrderFactory(seed=21).order(channel="taobao", status=status)
    return store.put(order.evolve(node=node, **fields))


def drain(store: OrderStore) -> list[dict[str, Any]]:
    """Claim and acknowledge every pending outbox message; their payloads, oldest first."""
    messages = store.claim_outbox(1000)
    store.ack_outbox(m.id for m in messages)
    return [dict(m.payload) for m in messages]


def recalled(lifecycle: Lifecycle, store: OrderStore, order: Order, cause: str) -> Order:
    return intercept(lifecycle, store, order, cause, received_at=RECEIVED, actor=BOT, now=NOW).order


class TestRecall:
    @pytest.mark.parametrize("cause", list(InterceptCause))
    @pytest.mark.parametrize(("status", "node"), WAREHOUSE_STATES)
    def test_a_warehouse_order_is_held_at_once_and_recalled(
        self,
        store: OrderStore,
        lifecycle: Lifecycle,
        cause: InterceptCause,
        status: str,
        node: str | None,
    ) -> None:
        """Every cause, from every warehouse state: held at recall_requested, recall recorded."""
        order = put(store, status, node)
        where = status if node is None else f"{status}.{node}"
        done = intercept(
            lifecycle,
            store,
            order,
            cause,
            received_at=RECEIVED,
            actor=BOT,
            now=NOW,
            detail="buyer asked",
            source_event="tb-9",
        )
        assert done.outcome is InterceptOutcome.RECALL_REQUESTED
        assert (done.order.status, done.order.node) == (
            OrderStatus.UNDER_REVIEW,
            "recall_requested",
        )
        assert (done.intercepted_from, done.latency_ms, done.cause) == (where, 8300, cause)
        assert done.order.attribute("intercepted_from") == where
        *_, transition, request = store.events(order.id)
        assert transition == done.event and request == done.recall_event
        assert transition.data["interception"] == {
            "cause": cause.value,
            "received_at": "2026-11-11T07:59:51.700000Z",
            "held_at": "2026-11-11T08:00:00Z",
            "latency_ms": 8300,
            "intercepted_from": where,
            "detail": "buyer asked",
            "source_event": "tb-9",
        }
        hold = current_hold(done.order, store.events(order.id))
        assert hold is not None and hold.reason is HoldReason.INTERCEPTION
        assert (request.type, request.data["cause"], request.data["intercepted_from"]) == (
            RECALL_REQUESTED,
            cause.value,
            where,
        )
        assert transition.order_version == request.order_version == done.order.version == 2

    def test_the_recall_goes_out_in_the_same_outbox_message_as_the_hold(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """One write: one outbox message carrying the transition and the recall request."""
        order = put(store, "packed", "awaiting_outbound")
        drain(store)
        done = intercept(lifecycle, store, order, "cancel", received_at=RECEIVED, actor=BOT)
        (message,) = drain(store)
        assert message["version"] == done.order.version
        assert message["status"] == "under_review"
        assert [e["type"] for e in message["events"]] == ["order.transitioned", RECALL_REQUESTED]
        assert done.recall_event is not None
        assert message["events"][1]["event_id"] == done.recall_event.event_id

    def test_the_recall_moves_the_sla_timers_in_the_same_write(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """The packed node's timer is cancelled and the recall's 30-minute timer armed."""
        order = lifecycle.transition(store, put(store, "picking"), "pack", actor=WMS, now=NOW).order
        assert [t.name for t in store.timers(order.id)] == ["sla:packed.awaiting_outbound"]
        recalled(lifecycle, store, order, "refund")
        (timer,) = store.timers(order.id)
        assert (timer.name, timer.due_at) == (
            "sla:under_review.recall_requested",
            NOW + timedelta(minutes=30),
        )

    def test_a_stale_order_writes_neither_hold_nor_recall(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """A version conflict leaves the order, its events and the outbox as they were."""
        order = put(store, "picking")
        store.update(order.evolve(seller_note="fragile"))
        before = store.events(order.id)
        drain(store)
        with pytest.raises(VersionConflict):
            intercept(lifecycle, store, order, "refund", received_at=RECEIVED, actor=BOT)
        assert store.events(order.id) == before
        assert store.outbox_pending() == 0
        kept = store.get(order.id)
        assert (kept.status, kept.attribute("intercepted_from")) == (OrderStatus.PICKING, None)

    def test_a_second_interception_is_noted_not_recalled_again(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """While a recall is pending another cause is recorded with its latency, no new recall."""
        order = recalled(lifecycle, store, put(store, "picking"), "address_change")
        again = intercept(
            lifecycle,
            store,
            order,
            "refund",
            received_at=NOW,
            actor=BOT,
            now=NOW + timedelta(seconds=1),
        )
        assert again.outcome is InterceptOutcome.ALREADY_HELD
        assert again.latency_ms == 1000 and again.recall_event is None
        assert [e.type for e in store.events(order.id)].count(RECALL_REQUESTED) == 1
        assert store.events(order.id)[-1].type == INTERCEPTED
        assert again.order.node == "recall_requested"


class TestNotInTheWarehouse:
    @pytest.mark.parametrize(
        ("cause", "node"),
        [
            ("refund", "cs_review"),
            ("cancel", "cs_review"),
            ("address_change", "address_check"),
            ("memo_change", "cs_review"),
            ("shipped_elsewhere", "cs_review"),
        ],
    )
    def test_a_paid_order_gets_an_ordinary_hold(
        self, store: OrderStore, lifecycle: Lifecycle, cause: str, node: str
    ) -> None:
        """Not released yet: a review hold with the interception and latency, no recall."""
        order = put(store, "paid")
        done = intercept(lifecycle, store, order, cause, received_at=RECEIVED, actor=BOT, now=NOW)
        assert done.outcome is InterceptOutcome.HELD
        assert (done.order.status, done.order.node) == (OrderStatus.UNDER_REVIEW, node)
        assert done.recall_event is None and done.latency_ms == 8300
        events = store.events(order.id)
        assert RECALL_REQUESTED not in [e.type for e in events]
        assert events[-1].data["interception"]["intercepted_from"] is None  # type: ignore[index,call-overload]

    def test_the_default_lifecycle_holds_a_paid_order_too(self, store: OrderStore) -> None:
        """A paid order needs nothing beyond the default lifecycle."""
        order = put(store, "paid")
        done = intercept(
            default_lifecycle(), store, order, "memo_change", received_at=RECEIVED, actor=BOT
        )
        assert done.order.node == "cs_review"

    def test_an_order_under_review_is_already_held(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """Under review: an order.intercepted event records it; status and node stay."""
        order = lifecycle.transition(
            store, put(store, "paid"), "hold_for_risk_review", actor=BOT
        ).order
        done = intercept(
            lifecycle, store, order, "cancel", received_at=RECEIVED, actor=BOT, now=NOW
        )
        assert done.outcome is InterceptOutcome.ALREADY_HELD
        assert (done.order.node, done.order.version) == ("risk_review", order.version + 1)
        assert done.event is not None and done.event.type == INTERCEPTED

    @pytest.mark.parametrize("status", ["shipped", "in_transit", "delivered", "completed"])
    def test_a_refund_after_shipment_is_an_after_sale(
        self, store: OrderStore, lifecycle: Lifecycle, status: str
    ) -> None:
        """A refund for a shipped order writes nothing and says the after-sale follows."""
        order = put(store, status)
        done = intercept(lifecycle, store, order, "refund", received_at=RECEIVED, actor=BOT)
        assert done.outcome is InterceptOutcome.AFTER_SALE
        assert done.order == order and done.event is None and done.latency_ms is None
        assert store.get(order.id).version == 1

    @pytest.mark.parametrize(
        "cause", ["cancel", "address_change", "memo_change", "shipped_elsewhere"]
    )
    def test_other_causes_after_shipment_are_invalid(
        self, store: OrderStore, lifecycle: Lifecycle, cause: str
    ) -> None:
        """Any other cause for a shipped order is InvalidTransition: the after-sale path applies."""
        order = put(store, "shipped", "partially_shipped")
        with pytest.raises(InvalidTransition, match="after-sale") as caught:
            intercept(lifecycle, store, order, cause, received_at=RECEIVED, actor=BOT)
        assert (caught.value.trigger, caught.value.state) == (
            "request_recall",
            "shipped.partially_shipped",
        )

    @pytest.mark.parametrize("status", ["pending_payment", "cancelled"])
    def test_an_unpaid_or_closed_order_has_nothing_to_intercept(
        self, store: OrderStore, lifecycle: Lifecycle, status: str
    ) -> None:
        """Unpaid or cancelled: InvalidTransition, nothing written."""
        order = put(store, status)
        with pytest.raises(InvalidTransition, match="nothing to intercept"):
            intercept(lifecycle, store, order, "cancel", received_at=RECEIVED, actor=BOT)
        assert store.get(order.id).version == 1

    def test_bad_arguments_are_configuration_errors(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """An unknown cause or a naive time is refused before anything is written."""
        order = put(store, "picking")
        with pytest.raises(ConfigurationError, match="unknown interception cause 'hail'"):
            intercept(lifecycle, store, order, "hail", received_at=RECEIVED, actor=BOT)
        with pytest.raises(ConfigurationError, match="received_at"):
            intercept(
                lifecycle, store, order, "refund", received_at=datetime(2026, 1, 1), actor=BOT
            )
        assert store.get(order.id).version == 1

    def test_a_lifecycle_without_the_recall_refuses_warehouse_orders(
        self, store: OrderStore
    ) -> None:
        """A lifecycle without request_recall: InvalidTransition names the trigger."""
        spec = default_spec()
        without = spec.model_copy(
            update={
                "transitions": tuple(t for t in spec.transitions if t.trigger != "request_recall")
            }
        )
        order = put(store, "picking")
        with pytest.raises(InvalidTransition) as caught:
            intercept(Lifecycle(without), store, order, "refund", received_at=RECEIVED, actor=BOT)
        assert caught.value.trigger == "request_recall"
        assert store.get(order.id).version == 1


class TestAnswers:
    def test_an_accepted_recall_returns_to_customer_service_review(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """accept_recall() -> under_review.cs_review, recall answered, attribute cleared."""
        order = recalled(
            lifecycle, store, put(store, "packed", "awaiting_outbound"), "address_change"
        )
        done = accept_recall(lifecycle, store, order, actor=WMS, note="parcel pulled", now=NOW)
        assert (done.order.status, done.order.node) == (OrderStatus.UNDER_REVIEW, "cs_review")
        assert done.order.attribute("intercepted_from") is None
        recall = done.event.data["recall"]
        assert isinstance(recall, dict)
        assert (recall["answer"], recall["intercepted_from"], recall["causes"]) == (
            "accepted",
            "packed.awaiting_outbound",
            ["address_change"],
        )
        hold = current_hold(done.order, store.events(order.id))
        assert hold is not None and (hold.reason, hold.held_by) == (
            HoldReason.CUSTOMER_SERVICE,
            WMS,
        )
        released = release(lifecycle, store, done.order, actor=CLERK)
        assert released.order.status is OrderStatus.PAID

    def test_a_recall_cannot_be_accepted_once_the_parcel_is_picked_up(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """parcel_not_picked_up refuses the acceptance; the recall stays pending."""
        order = recalled(lifecycle, store, put(store, "packed"), "cancel")
        with pytest.raises(GuardFailed) as caught:
            accept_recall(lifecycle, store, order, actor=WMS, facts={"parcel_picked_up": True})
        assert caught.value.guard == "parcel_not_picked_up"
        assert store.get(order.id).node == "recall_requested"

    @pytest.mark.parametrize(("status", "node"), WAREHOUSE_STATES)
    def test_a_refused_recall_resumes_where_the_order_was(
        self, store: OrderStore, lifecycle: Lifecycle, status: str, node: str | None
    ) -> None:
        """refuse_recall() puts the order back at its state and node."""
        order = recalled(lifecycle, store, put(store, status, node), "memo_change")
        done = refuse_recall(lifecycle, store, order, actor=WMS, now=NOW)
        assert (done.order.status.value, done.order.node) == (status, node)
        assert done.order.attribute("intercepted_from") is None
        assert AFTER_SALE_FOLLOW_UP not in done.event.data
        assert AFTER_SALE_FOLLOW_UP not in done.order.tags

    @pytest.mark.parametrize(
        ("cause", "follow_up"),
        [
            ("refund", True),
            ("cancel", True),
            ("shipped_elsewhere", True),
            ("address_change", False),
            ("memo_change", False),
        ],
    )
    def test_a_refused_recall_records_the_after_sale_that_follows(
        self, store: OrderStore, lifecycle: Lifecycle, cause: str, follow_up: bool
    ) -> None:
        """Refund, cancel and a second parcel need an after-sale: event data and a tag."""
        order = recalled(lifecycle, store, put(store, "picking"), cause)
        done = refuse_recall(lifecycle, store, order, actor=WMS)
        assert (AFTER_SALE_FOLLOW_UP in done.order.tags) is follow_up
        if follow_up:
            assert done.event.data[AFTER_SALE_FOLLOW_UP] == {"causes": [cause]}
            assert [o.id for o in store.query(tag=AFTER_SALE_FOLLOW_UP)] == [order.id]

    def test_every_cause_since_the_recall_counts(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """An address change then a refund: the refusal lists both, and follows up the refund."""
        order = recalled(lifecycle, store, put(store, "picking"), "address_change")
        order = intercept(lifecycle, store, order, "refund", received_at=RECEIVED, actor=BOT).order
        done = refuse_recall(lifecycle, store, order, actor=WMS)
        assert done.event.data["recall"]["causes"] == ["address_change", "refund"]  # type: ignore[index,call-overload]
        assert done.event.data[AFTER_SALE_FOLLOW_UP] == {"causes": ["refund"]}

    def test_a_parcel_that_already_left_is_shipped(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """refuse_recall(shipped=True) -> shipped, shipped_at stamped, after-sale follows."""
        order = recalled(lifecycle, store, put(store, "packed", "awaiting_outbound"), "refund")
        done = refuse_recall(lifecycle, store, order, actor=WMS, shipped=True, now=NOW)
        assert (done.order.status, done.order.node) == (OrderStatus.SHIPPED, None)
        assert done.order.shipped_at is not None and done.order.shipped_at.utc == NOW
        assert done.event.data["recall"]["answer"] == "refused_shipped"  # type: ignore[index,call-overload]
        assert AFTER_SALE_FOLLOW_UP in done.order.tags

    def test_answers_without_a_pending_recall_are_invalid(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """accept or refuse for an order not recalled: InvalidTransition."""
        order = put(store, "picking")
        with pytest.raises(InvalidTransition) as caught:
            accept_recall(lifecycle, store, order, actor=WMS)
        assert caught.value.trigger == "accept_recall"
        with pytest.raises(InvalidTransition) as caught:
            refuse_recall(lifecycle, store, order, actor=WMS)
        assert caught.value.trigger == "refuse_recall"

    def test_a_refusal_resumes_only_where_the_order_was(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """Another resume trigger than the order's is refused by resumes_where_intercepted."""
        order = recalled(lifecycle, store, put(store, "picking"), "cancel")
        with pytest.raises(GuardFailed) as caught:
            lifecycle.transition(store, order, "refuse_recall_awaiting_outbound", actor=WMS)
        assert caught.value.guard == "resumes_where_intercepted"

    def test_a_stale_answer_writes_nothing(self, store: OrderStore, lifecycle: Lifecycle) -> None:
        """An answer based on an old version raises VersionConflict; the recall stays pending."""
        order = recalled(lifecycle, store, put(store, "picking"), "cancel")
        store.update(order.evolve(seller_note="call"))
        with pytest.raises(VersionConflict):
            refuse_recall(lifecycle, store, order, actor=WMS)
        kept = store.get(order.id)
        assert (kept.node, kept.attribute("intercepted_from")) == ("recall_requested", "picking")


class TestNeverShippedTwice:
    @pytest.mark.parametrize(
        "trigger",
        ["release", "force_approve", "cancel_by_buyer", "cancel_by_seller", "request_refund_only"],
    )
    def test_nothing_moves_a_pending_recall_but_the_warehouse(
        self, store: OrderStore, lifecycle: Lifecycle, trigger: str
    ) -> None:
        """While the recall is pending, release, approval, cancel and refund are refused."""
        order = recalled(lifecycle, store, put(store, "packed"), "cancel")
        with pytest.raises(GuardFailed) as caught:
            lifecycle.transition(store, order, trigger, actor=CLERK, reason="buyer insists")
        assert caught.value.guard == "no_recall_pending"
        assert store.get(order.id).version == order.version

    @pytest.mark.parametrize("trigger", ["ship", "ship_partially"])
    def test_a_pending_recall_cannot_ship(
        self, store: OrderStore, lifecycle: Lifecycle, trigger: str
    ) -> None:
        """ship and ship_partially have no route from recall_requested."""
        order = recalled(lifecycle, store, put(store, "packed"), "refund")
        with pytest.raises(InvalidTransition):
            lifecycle.transition(store, order, trigger, actor=WMS)

    def test_the_no_recall_pending_guard_refuses_a_ship_from_the_recall_node(
        self, store: OrderStore
    ) -> None:
        """In a lifecycle that would let a recalled order ship, no_recall_pending still stops it."""
        spec = interception_spec().extend(
            {
                "transitions": [
                    {
                        "trigger": "ship",
                        "sources": "under_review.recall_requested",
                        "dest": "shipped",
                    }
                ],
                "guards": {"ship": ["no_recall_pending"]},
            }
        )
        loose = Lifecycle(spec, guards=INTERCEPTION_GUARDS)
        order = recalled(loose, store, put(store, "packed"), "refund")
        with pytest.raises(GuardFailed) as caught:
            loose.transition(store, order, "ship", actor=WMS)
        assert caught.value.guard == "no_recall_pending"

    def test_a_shipped_order_does_not_ship_again(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """A recall refused because the parcel left: the warehouse's own ship is refused after."""
        order = recalled(lifecycle, store, put(store, "packed"), "cancel")
        shipped = refuse_recall(lifecycle, store, order, actor=WMS, shipped=True).order
        with pytest.raises(InvalidTransition):
            lifecycle.transition(store, shipped, "ship", actor=WMS)

    def test_an_order_with_a_shipment_time_is_not_shipped_in_full_again(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """not_shipped_twice: a packed order already stamped shipped_at is refused."""
        stamp = ChannelTime.from_datetime(NOW, zone="UTC")
        order = put(store, "packed", "awaiting_outbound", shipped_at=stamp)
        for trigger in ("ship", "ship_partially"):
            with pytest.raises(GuardFailed) as caught:
                lifecycle.apply(order, trigger, actor=WMS)
            assert caught.value.guard == "not_shipped_twice"

    def test_the_rest_of_a_partial_shipment_still_ships(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """ship_partially then ship: the second shipment is the rest, allowed."""
        order = put(store, "packed", "awaiting_outbound")
        order = lifecycle.transition(store, order, "ship_partially", actor=WMS, now=NOW).order
        done = lifecycle.transition(store, order, "ship", actor=WMS)
        assert (done.order.status, done.order.node) == (OrderStatus.SHIPPED, None)

    def test_an_accepted_recall_ships_once_after_review(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """Accepted, reviewed, released: the order goes through the warehouse and ships once."""
        order = recalled(
            lifecycle, store, put(store, "packed", "awaiting_outbound"), "address_change"
        )
        order = accept_recall(lifecycle, store, order, actor=WMS).order
        order = force_approve(lifecycle, store, order, actor=CLERK, reason="address fixed").order
        for trigger in ("allocate", "pick", "pack", "ship"):
            order = lifecycle.transition(store, order, trigger, actor=WMS).order
        assert order.status is OrderStatus.SHIPPED
        with pytest.raises(InvalidTransition):
            lifecycle.transition(store, order, "ship", actor=WMS)

    def test_a_parcel_recorded_as_collected_cannot_be_accepted_back(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """A shipment with a pick-up status makes the acceptance fail: it ships once."""
        order = recalled(lifecycle, store, put(store, "packed"), "cancel")
        order = store.update(order.evolve(shipments=(Shipment(status="picked_up"),)))
        with pytest.raises(GuardFailed) as caught:
            accept_recall(lifecycle, store, order, actor=WMS)
        assert caught.value.guard == "parcel_not_picked_up"


class TestTheLifecycle:
    def test_the_extension_is_idempotent(self) -> None:
        """Extending an extended spec again changes nothing."""
        once = interception_spec()
        assert interception_spec(once) == once
        assert "under_review.recall_requested" in once.state_refs()

    def test_the_default_lifecycle_already_has_the_extension(self) -> None:
        """The default spec includes interception: extending it changes nothing."""
        assert "under_review.recall_requested" in default_spec().state_refs()
        assert interception_spec() == default_spec()

    def test_the_interception_guards_are_built_in(self) -> None:
        """Every lifecycle knows the interception guards by name, as the default's own guards."""
        from ordercore.lifecycle import BUILTIN_GUARDS

        assert all(BUILTIN_GUARDS[name] is guard for name, guard in INTERCEPTION_GUARDS.items())
        assert Lifecycle(interception_spec()).spec == default_spec()

    def test_the_recall_node_has_a_short_sla(self) -> None:
        """The warehouse has 30 minutes to answer; then the operations manager is told."""
        sla = interception_spec().sla_of("under_review", "recall_requested")
        assert sla is not None and sla.limit == timedelta(minutes=30)
        assert [step.notify for step in sla.escalation] == ["operations_manager"]


class TestLatency:
    def test_latencies_are_read_back_from_the_events(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """Recall, hold and already-held interceptions all count; p50/p99 over the orders."""
        events: list[OrderEvent] = []
        for index, (status, delay_ms) in enumerate(
            [("picking", 1200), ("paid", 300), ("packed", 15000), ("allocated", 800)]
        ):
            order = put(store, status, channel_order_id=f"tb-{index}")
            intercept(
                lifecycle,
                store,
                order,
                "refund",
                received_at=NOW - timedelta(milliseconds=delay_ms),
                actor=BOT,
                now=NOW,
            )
            events.extend(store.events(order.id))
        assert sorted(interception_latencies(events)) == [300, 800, 1200, 15000]
        assert interception_stats(events) == InterceptionStats(
            count=4, p50_ms=800, p99_ms=15000, max_ms=15000
        )

    def test_a_channel_clock_ahead_counts_as_no_latency(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        """received_at after the hold: latency 0, not negative."""
        order = put(store, "picking")
        done = intercept(
            lifecycle,
            store,
            order,
            "cancel",
            received_at=NOW + timedelta(seconds=3),
            actor=BOT,
            now=NOW,
        )
        assert done.latency_ms == 0

    def test_no_interceptions_give_empty_stats(self) -> None:
        """Nothing recorded: count 0 and no percentiles."""
        assert InterceptionStats.of([]) == InterceptionStats(
            count=0, p50_ms=None, p99_ms=None, max_ms=None
        )
        assert InterceptionStats.of([5]).p99_ms == 5


class TestGuide:
    def test_the_guide_examples_run(self) -> None:
        """The guide's pycon blocks on holds and interception run as written."""
        blocks = re.findall(r"```pycon\n(.*?)```", GUIDE.read_text(encoding="utf-8"), re.S)
        assert len(blocks) >= 2
        parser = doctest.DocTestParser()
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        globs: dict[str, Any] = {}
        for index, block in enumerate(blocks):
            test = parser.get_doctest(block, globs, f"lifecycle.md[{index}]", str(GUIDE), 0)
            runner.run(test)
        assert runner.failures == 0 and runner.tries > 5
