"""The lifecycle engine: a shared machine, guards, effects, and transitions stored for real."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ordercore import Money, open_store
from ordercore.errors import (
    ConfigurationError,
    GuardFailed,
    InvalidTransition,
    LifecycleSpecError,
    OrderCoreError,
    VersionConflict,
)
from ordercore.ids import new_id
from ordercore.lifecycle import (
    BLOCKED,
    TRANSITIONED,
    Lifecycle,
    TransitionContext,
    default_lifecycle,
    default_spec,
)
from ordercore.schema import (
    Actor,
    ActorKind,
    B2BInfo,
    Order,
    OrderEvent,
    OrderStatus,
    Presale,
    PresalePhase,
    attribute,
)
from ordercore.storage import OrderStore
from ordercore.testing import OrderFactory
from ordercore.timestamps import ChannelTime

RULE = Actor(kind=ActorKind.RULE, id="auto-flow")
CLERK = Actor(kind=ActorKind.PERSON, id="staff-7")
NOW = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[OrderStore]:
    with open_store(f"sqlite:///{tmp_path / 'orders.db'}") as opened:
        yield opened


@pytest.fixture
def factory() -> OrderFactory:
    return OrderFactory(seed=11)


def stored(store: OrderStore, order: Order) -> Order:
    return store.put(order)


def order_messages(store: OrderStore, order_id: str) -> list[dict[str, Any]]:
    """Every outbox message of one order, oldest first (claimed and left unacknowledged)."""
    messages = store.claim_outbox(1000, lease_seconds=0.001)
    return [dict(m.payload) for m in messages if m.order_id == order_id]


def walk(store: OrderStore, order: Order, triggers: list[str], **options: Any) -> Order:
    lifecycle = default_lifecycle()
    for trigger in triggers:
        order = lifecycle.transition(store, order, trigger, actor=RULE, **options).order
    return order


class TestReading:
    def test_triggers_lists_what_the_state_allows(self, factory: OrderFactory) -> None:
        """triggers() lists the state's own triggers and its status-level ones, sorted."""
        lifecycle = default_lifecycle()
        order = factory.order(channel="taobao", status="packed").evolve(node="awaiting_outbound")
        assert lifecycle.state_of(order) == "packed.awaiting_outbound"
        assert lifecycle.triggers(order) == [
            "request_recall",
            "request_refund_only",
            "ship",
            "ship_partially",
        ]

    def test_an_unknown_node_counts_as_the_status(self, factory: OrderFactory) -> None:
        """An order at a node the lifecycle does not know gets its status's transitions."""
        order = factory.order(channel="taobao", status="paid").evolve(node="from_an_old_spec")
        assert default_lifecycle().state_of(order) == "paid"
        assert "allocate" in default_lifecycle().triggers(order)

    def test_can_asks_routes_and_guards(self, factory: OrderFactory) -> None:
        """can() is False for a missing route and for a failing guard, True otherwise."""
        lifecycle = default_lifecycle()
        packed = factory.order(channel="taobao", status="packed")
        assert lifecycle.can(packed, "ship")
        assert not lifecycle.can(packed, "deliver")
        assert not lifecycle.can(packed, "request_refund_only")
        assert lifecycle.can(
            packed, "request_refund_only", facts={"stock_locked": True, "parcel_picked_up": False}
        )
        assert not lifecycle.can(packed, "no_such_trigger")


class TestApply:
    def test_apply_returns_the_changed_order_and_its_event(self, factory: OrderFactory) -> None:
        """apply() is pure: a new order with the new status and node, and the event to record."""
        order = factory.order(channel="taobao", status="picking")
        done = default_lifecycle().apply(
            order, "pack", actor=RULE, reason="scanned", data={"station": 4}, now=NOW
        )
        assert (done.order.status, done.order.node) == (OrderStatus.PACKED, "awaiting_outbound")
        assert done.order.version == order.version and done.order.id == order.id
        assert (order.status, order.node) == (OrderStatus.PICKING, None)
        assert done.state == "packed.awaiting_outbound"
        event = done.event
        assert (event.type, event.order_id, event.at, event.actor) == (
            TRANSITIONED,
            order.id,
            NOW,
            RULE,
        )
        assert (event.from_status, event.to_status, event.reason) == (
            OrderStatus.PICKING,
            OrderStatus.PACKED,
            "scanned",
        )
        assert event.data == {
            "station": 4,
            "trigger": "pack",
            "from_node": None,
            "to_node": "awaiting_outbound",
        }

    def test_an_unknown_trigger_is_an_invalid_transition(self, factory: OrderFactory) -> None:
        """A trigger the lifecycle does not have raises InvalidTransition naming it."""
        order = factory.order(channel="taobao", status="paid")
        with pytest.raises(InvalidTransition) as caught:
            default_lifecycle().apply(order, "teleport", actor=RULE)
        error = caught.value
        assert type(error) is InvalidTransition
        assert (error.order_id, error.state, error.trigger) == (order.id, "paid", "teleport")
        assert "unknown trigger 'teleport'" in error.message

    def test_a_trigger_from_the_wrong_state_is_an_invalid_transition(
        self, factory: OrderFactory
    ) -> None:
        """A known trigger with no transition from the order's state names what is available."""
        order = factory.order(channel="taobao", status="pending_payment").evolve(node="deposit_due")
        with pytest.raises(InvalidTransition) as caught:
            default_lifecycle().apply(order, "deliver", actor=RULE)
        error = caught.value
        assert type(error) is InvalidTransition
        assert (error.state, error.trigger) == ("pending_payment.deposit_due", "deliver")
        assert "available: cancel_by_buyer" in error.message

    def test_a_failed_guard_names_the_guard_and_the_order(self, factory: OrderFactory) -> None:
        """D9: refund only at packed needs locked stock; the guard that failed is named."""
        order = factory.order(channel="taobao", status="packed")
        with pytest.raises(GuardFailed) as caught:
            default_lifecycle().apply(order, "request_refund_only", actor=RULE)
        error = caught.value
        assert (error.guard, error.order_id, error.state, error.trigger) == (
            "stock_locked",
            order.id,
            "packed",
            "request_refund_only",
        )
        assert f"order {order.id}" in error.message

    def test_refund_only_guards_run_in_order(self, factory: OrderFactory) -> None:
        """With stock locked, a collected parcel blocks; then a custom-made line blocks."""
        lifecycle = default_lifecycle()
        order = factory.order(channel="taobao", status="packed").with_attribute(
            "stock_locked", True
        )
        collected = {"parcel_picked_up": True}
        with pytest.raises(GuardFailed) as caught:
            lifecycle.apply(order, "request_refund_only", actor=RULE, facts=collected)
        assert caught.value.guard == "parcel_not_picked_up"
        first = order.lines[0]
        made = first.evolve(attributes={**first.attributes, "custom_made": attribute(True)})
        engraved = order.evolve(lines=(made, *order.lines[1:]))
        with pytest.raises(GuardFailed) as caught:
            lifecycle.apply(engraved, "request_refund_only", actor=RULE)
        assert caught.value.guard == "not_custom_made"
        done = lifecycle.apply(order, "request_refund_only", actor=RULE)
        assert done.state == "after_sale.refund_only"

    def test_a_guard_raising_an_ordercore_error_keeps_its_message(
        self, factory: OrderFactory
    ) -> None:
        """A guard may raise an ordercore error; it becomes GuardFailed with that message."""

        def credit_ok(order: Order, context: TransitionContext) -> bool:
            raise OrderCoreError("credit limit reached")

        spec = default_spec().extend({"guards": {"allocate": ["credit_ok"]}})
        lifecycle = Lifecycle(spec, guards={"credit_ok": credit_ok})
        with pytest.raises(GuardFailed) as caught:
            lifecycle.apply(factory.order(channel="taobao", status="paid"), "allocate", actor=RULE)
        assert caught.value.guard == "credit_ok"
        assert caught.value.message.endswith(": credit limit reached")

    def test_an_unregistered_guard_is_refused_when_the_lifecycle_is_built(self) -> None:
        """A spec naming a guard nobody registered does not build."""
        spec = default_spec().extend({"guards": {"allocate": ["credit_ok"]}})
        with pytest.raises(LifecycleSpecError) as caught:
            Lifecycle(spec)
        assert caught.value.field is not None and caught.value.field.endswith(".guards.1")

    def test_an_effect_may_not_change_the_status(self, factory: OrderFactory) -> None:
        """Effects change the order's data, never its state."""

        def sneaky(order: Order, context: TransitionContext) -> Order:
            return order.model_copy(update={"status": OrderStatus.COMPLETED})

        spec = default_spec().extend({"effects": {"allocate": ["sneaky"]}})
        lifecycle = Lifecycle(spec, effects={"sneaky": sneaky})
        with pytest.raises(ConfigurationError, match="effect 'sneaky' changed the order's status"):
            lifecycle.apply(factory.order(channel="taobao", status="paid"), "allocate", actor=RULE)

    def test_data_may_not_overwrite_what_the_engine_records(self, factory: OrderFactory) -> None:
        """The event's trigger and nodes come from the engine only."""
        with pytest.raises(ConfigurationError, match="may not set trigger"):
            default_lifecycle().apply(
                factory.order(channel="taobao", status="paid"),
                "allocate",
                actor=RULE,
                data={"trigger": "x"},
            )

    def test_a_naive_time_is_refused(self, factory: OrderFactory) -> None:
        """The time of a change must be aware."""
        with pytest.raises(ConfigurationError, match="timezone-aware"):
            default_lifecycle().apply(
                factory.order(channel="taobao", status="paid"),
                "allocate",
                actor=RULE,
                now=datetime(2026, 1, 1),
            )


class TestSharedMachine:
    def test_applying_to_many_orders_does_not_grow_the_machine(self, factory: OrderFactory) -> None:
        """One machine per spec with no models: 10,000 orders attach nothing to it."""
        lifecycle = Lifecycle(default_spec())
        machine = lifecycle.machine
        states, events = len(machine.states), len(machine.events)
        base = factory.order(channel="taobao", status="paid")
        for _ in range(10_000):
            order = base.model_copy(update={"id": new_id()})
            assert lifecycle.apply(order, "allocate", actor=RULE).order.status is (
                OrderStatus.ALLOCATED
            )
        assert lifecycle.machine is machine
        assert machine.models == []
        assert (len(machine.states), len(machine.events)) == (states, events)

    def test_the_default_lifecycle_is_built_once(self) -> None:
        """default_lifecycle() returns the same engine every time."""
        assert default_lifecycle() is default_lifecycle()
        assert default_lifecycle().spec is default_spec()


class TestStoredWalks:
    def test_a_typical_order_walks_from_payment_to_completion(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Each transition bumps the version once, records one event and one outbox message."""
        order = stored(store, factory.order(channel="taobao", status="pending_payment"))
        triggers = ["pay", "allocate", "pick", "pack", "ship", "start_transit", "deliver"]
        triggers.append("complete")
        lifecycle = default_lifecycle()
        states = []
        for number, trigger in enumerate(triggers, start=2):
            done = lifecycle.transition(store, order, trigger, actor=RULE, now=NOW)
            assert done.order.version == number == store.get(order.id).version
            assert done.event.order_version == number
            order = done.order
            states.append(done.state)
        assert states == [
            "paid",
            "allocated",
            "picking",
            "packed.awaiting_outbound",
            "shipped",
            "in_transit",
            "delivered",
            "completed",
        ]
        final = store.get(order.id)
        assert (final.status, final.node) == (OrderStatus.COMPLETED, None)
        for field in ("paid_at", "shipped_at", "delivered_at", "completed_at"):
            assert getattr(final, field) is not None
        events = store.events(order.id)
        assert [e.type for e in events] == ["order.created"] + [TRANSITIONED] * len(triggers)
        assert [e.data["trigger"] for e in events[1:]] == triggers
        assert [e.order_version for e in events] == list(range(1, len(triggers) + 2))
        assert [(e.from_status, e.to_status) for e in events[1:3]] == [
            (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID),
            (OrderStatus.PAID, OrderStatus.ALLOCATED),
        ]
        assert events[4].data == {
            "trigger": "pack",
            "from_node": None,
            "to_node": "awaiting_outbound",
        }
        assert all(e.actor == RULE for e in events[1:])
        messages = order_messages(store, order.id)
        assert [m["version"] for m in messages] == list(range(1, len(triggers) + 2))
        assert [len(m["events"]) for m in messages] == [1] * (len(triggers) + 1)
        assert [m["events"][0]["data"].get("trigger") for m in messages[1:]] == triggers
        assert messages[-1]["status"] == "completed"
        assert store.integrity_check() == []

    def test_an_unpaid_order_closes_on_payment_timeout(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """close_unpaid moves an unpaid order to cancelled.payment_timeout and stamps it."""
        order = stored(store, factory.order(channel="taobao", status="pending_payment"))
        done = default_lifecycle().transition(
            store, order, "close_unpaid", actor=Actor.system("sla-timer"), reason="pay_by passed"
        )
        assert done.state == "cancelled.payment_timeout"
        kept = store.get(order.id)
        assert (kept.status, kept.node, kept.version) == (
            OrderStatus.CANCELLED,
            "payment_timeout",
            2,
        )
        assert kept.cancelled_at is not None
        event = store.events(order.id)[-1]
        assert (event.reason, event.actor.id, event.data["to_node"]) == (
            "pay_by passed",
            "sla-timer",
            "payment_timeout",
        )
        assert len(order_messages(store, order.id)) == 2

    def test_an_after_sale_return_walks_to_completion(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A delivered order goes through return and refund and ends completed."""
        order = stored(store, factory.order(channel="taobao", status="delivered"))
        order = walk(store, order, ["request_return_refund"])
        assert (order.status, order.node) == (OrderStatus.AFTER_SALE, "return_refund")
        order = walk(store, order, ["resolve_after_sale"])
        assert (order.status, order.node, order.version) == (OrderStatus.COMPLETED, None, 3)
        events = store.events(order.id)
        assert [e.data.get("trigger") for e in events] == [
            None,
            "request_return_refund",
            "resolve_after_sale",
        ]
        assert len(order_messages(store, order.id)) == 3

    def test_refund_only_before_shipping_cancels_the_order(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A paid order refunded before shipment ends cancelled.refunded_before_shipping."""
        order = stored(store, factory.order(channel="taobao", status="paid"))
        order = walk(store, order, ["request_refund_only", "refund_before_shipping"])
        assert (order.status, order.node, order.version) == (
            OrderStatus.CANCELLED,
            "refunded_before_shipping",
            3,
        )

    def test_a_presale_order_pays_deposit_then_balance(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """D10: deposit_due -> balance_due -> paid.balance_paid with the promised date kept."""
        promised = ChannelTime.from_datetime(NOW + timedelta(days=15), zone="UTC")
        presale = Presale(
            phase=PresalePhase.DEPOSIT_PENDING,
            deposit=Money("50.00"),
            balance=Money("150.00"),
            promised_ship_by=promised,
        )
        order = factory.order(channel="taobao", status="pending_payment").evolve(
            order_type="presale", presale=presale, node="deposit_due"
        )
        order = stored(store, order)
        order = walk(store, order, ["pay_deposit"], now=NOW)
        assert (order.node, order.presale.phase) == (  # type: ignore[union-attr]
            "balance_due",
            PresalePhase.DEPOSIT_PAID,
        )
        order = walk(store, order, ["pay_balance"], now=NOW)
        kept = store.get(order.id)
        assert (kept.status, kept.node, kept.version) == (OrderStatus.PAID, "balance_paid", 3)
        assert kept.presale is not None and kept.presale.phase is PresalePhase.BALANCE_PAID
        assert kept.promised_ship_by == promised
        sla = default_spec().sla_of(kept.status, kept.node)
        assert sla is not None and sla.deadline == "promised_ship_by"

    def test_a_presale_step_needs_a_presale_order(self, factory: OrderFactory) -> None:
        """pay_deposit on an order without presale data is refused by its guard."""
        order = factory.order(channel="taobao", status="pending_payment").evolve(node="deposit_due")
        with pytest.raises(GuardFailed) as caught:
            default_lifecycle().apply(order, "pay_deposit", actor=RULE)
        assert caught.value.guard == "presale_order"

    def test_a_hold_is_escalated_and_force_approved_with_an_audit(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A forced approval needs a person and a reason, and records both."""
        order = stored(store, factory.order(channel="taobao", status="paid"))
        order = walk(store, order, ["hold_for_cs_review", "escalate_to_finance"])
        assert (order.status, order.node) == (OrderStatus.UNDER_REVIEW, "finance_review")
        lifecycle = default_lifecycle()
        with pytest.raises(GuardFailed) as caught:
            lifecycle.transition(store, order, "force_approve", actor=RULE, reason="ok")
        assert caught.value.guard == "person_actor"
        with pytest.raises(GuardFailed) as caught:
            lifecycle.transition(store, order, "force_approve", actor=CLERK)
        assert caught.value.guard == "reason_given"
        done = lifecycle.transition(
            store, order, "force_approve", actor=CLERK, reason="customer verified by phone"
        )
        assert (done.order.status, done.order.node, done.order.version) == (
            OrderStatus.PAID,
            None,
            4,
        )
        event = store.events(order.id)[-1]
        assert (event.actor, event.reason, event.data["from_node"]) == (
            CLERK,
            "customer verified by phone",
            "finance_review",
        )

    def test_a_b2b_pool_is_released_together(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """D12: pooled purchase orders wait; allocate is refused; release_pool moves them all."""
        pool = []
        for number in range(3):
            b2b = B2BInfo(customer_id="cust-9", purchase_order_no=f"PO-{number}", pool_id="P-1")
            order = stored(
                store,
                factory.order(channel="taobao", status="paid").evolve(order_type="b2b", b2b=b2b),
            )
            pool.append(walk(store, order, ["pool_purchase_order"]))
        assert {o.node for o in pool} == {"awaiting_pool"}
        with pytest.raises(GuardFailed) as caught:
            default_lifecycle().apply(pool[0], "allocate", actor=RULE)
        assert caught.value.guard == "pool_released"
        done = default_lifecycle().transition_many(
            store, [(o, "release_pool") for o in pool], actor=RULE, reason="pool P-1 complete"
        )
        assert [d.order.version for d in done] == [3, 3, 3]
        for order in pool:
            kept = store.get(order.id)
            assert (kept.status, kept.node) == (OrderStatus.ALLOCATED, None)
            assert store.events(order.id)[-1].reason == "pool P-1 complete"

    def test_a_plain_order_cannot_join_a_pool(self, factory: OrderFactory) -> None:
        """pool_purchase_order needs a B2B order with a pool id."""
        with pytest.raises(GuardFailed) as caught:
            default_lifecycle().apply(
                factory.order(channel="taobao", status="paid"), "pool_purchase_order", actor=RULE
            )
        assert caught.value.guard == "b2b_pooled"


class TestFailuresChangeNothing:
    def snapshot(self, store: OrderStore, order_id: str) -> tuple[Any, ...]:
        kept = store.get(order_id)
        return (kept, len(store.events(order_id)), store.outbox_pending())

    def test_an_invalid_transition_writes_nothing(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """A refused trigger leaves the order, its events and the outbox as they were."""
        order = stored(store, factory.order(channel="taobao", status="paid"))
        before = self.snapshot(store, order.id)
        with pytest.raises(InvalidTransition):
            default_lifecycle().transition(store, order, "deliver", actor=RULE)
        assert self.snapshot(store, order.id) == before

    def test_a_stale_order_writes_nothing(self, store: OrderStore, factory: OrderFactory) -> None:
        """A transition based on an old version raises VersionConflict and writes nothing."""
        order = stored(store, factory.order(channel="taobao", status="paid"))
        newer = walk(store, order, ["allocate"])
        before = self.snapshot(store, order.id)
        with pytest.raises(VersionConflict) as caught:
            default_lifecycle().transition(store, order, "hold_for_risk_review", actor=RULE)
        assert (caught.value.expected, caught.value.actual) == (1, 2)
        assert self.snapshot(store, order.id) == before
        assert store.get(order.id) == newer

    def test_a_blocked_refund_only_records_an_alert_and_changes_nothing_else(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """D9: the blocked action alerts the warehouse lead; the order itself is unchanged."""
        order = stored(store, factory.order(channel="taobao", status="picking"))
        with pytest.raises(GuardFailed) as caught:
            default_lifecycle().transition(
                store, order, "request_refund_only", actor=CLERK, reason="buyer asked"
            )
        assert caught.value.guard == "stock_locked"
        kept = store.get(order.id)
        assert (kept.status, kept.version) == (OrderStatus.PICKING, 1)
        alert = store.events(order.id)[-1]
        assert (alert.type, alert.actor, alert.from_status, alert.to_status) == (
            BLOCKED,
            CLERK,
            OrderStatus.PICKING,
            None,
        )
        assert alert.data == {
            "trigger": "request_refund_only",
            "guard": "stock_locked",
            "node": None,
            "notify": "warehouse_lead",
        }
        assert alert.reason == caught.value.message
        messages = order_messages(store, order.id)
        assert [m["events"][0]["type"] for m in messages] == ["order.created", BLOCKED]

    def test_a_guard_without_an_alert_records_nothing(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Only transitions that name an alert record the blocked attempt."""
        order = stored(store, factory.order(channel="taobao", status="paid"))
        before = self.snapshot(store, order.id)
        with pytest.raises(GuardFailed):
            default_lifecycle().transition(store, order, "pool_purchase_order", actor=RULE)
        assert self.snapshot(store, order.id) == before

    def test_a_batch_with_one_invalid_transition_writes_nothing(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """transition_many applies everything before writing: one refusal, no writes."""
        good = stored(store, factory.order(channel="taobao", status="paid"))
        bad = stored(store, factory.order(channel="taobao", status="completed"))
        before = [self.snapshot(store, good.id), self.snapshot(store, bad.id)]
        with pytest.raises(InvalidTransition) as caught:
            default_lifecycle().transition_many(
                store, [(good, "allocate"), (bad, "allocate")], actor=RULE
            )
        assert caught.value.order_id == bad.id
        assert [self.snapshot(store, good.id), self.snapshot(store, bad.id)] == before

    def test_a_batch_may_not_name_an_order_twice(
        self, store: OrderStore, factory: OrderFactory
    ) -> None:
        """Two transitions of one order in one batch are refused before anything runs."""
        order = stored(store, factory.order(channel="taobao", status="paid"))
        with pytest.raises(ConfigurationError, match="appears twice"):
            default_lifecycle().transition_many(
                store, [(order, "allocate"), (order, "hold_for_risk_review")], actor=RULE
            )
        assert store.get(order.id).version == 1


class TestShippingAndRefundsAfterShipment:
    def test_a_held_line_stops_a_full_shipment_but_not_a_partial_one(self) -> None:
        """no_line_held: with do_not_ship lines, only the rest may leave (ship_partially)."""
        lifecycle = default_lifecycle()
        packed = OrderFactory(seed=31).order(channel="taobao", status="packed")
        held = packed.with_attribute("do_not_ship", [packed.lines[0].line_id])
        with pytest.raises(GuardFailed) as caught:
            lifecycle.apply(held, "ship", actor=RULE, now=NOW)
        assert caught.value.guard == "no_line_held"
        assert lifecycle.apply(held, "ship_partially", actor=RULE, now=NOW).to_node == (
            "partially_shipped"
        )
        reported = lifecycle.apply(
            held, "ship", actor=RULE, now=NOW, data={"channel_status": {"value": "SHIPPED"}}
        )
        assert reported.to_status is OrderStatus.SHIPPED  # the platform already shipped it
        assert lifecycle.apply(packed, "ship", actor=RULE, now=NOW).to_status is (
            OrderStatus.SHIPPED
        )

    def test_a_refund_on_the_way_returns_the_parcel_and_a_full_refund_closes_the_order(
        self,
    ) -> None:
        """shipped / in_transit -> after_sale.return_refund -> cancelled.refunded_after_shipping."""
        lifecycle = default_lifecycle()
        for status in ("shipped", "in_transit"):
            order = OrderFactory(seed=32).order(channel="taobao", status=status)
            back = lifecycle.apply(order, "request_return_refund", actor=RULE, now=NOW)
            assert back.state == "after_sale.return_refund"
            closed = lifecycle.apply(back.order, "close_refunded", actor=RULE, now=NOW)
            assert closed.state == "cancelled.refunded_after_shipping"
            assert closed.order.cancelled_at is not None


class TestFastPaths:
    def test_an_event_built_without_validation_equals_a_validated_one(self) -> None:
        """apply() builds its event from known-good values; it is the event validation gives."""
        lifecycle = default_lifecycle()
        order = OrderFactory(seed=33).order(channel="taobao", status="paid")
        for kwargs in ({}, {"reason": "auto"}, {"data": {"rule": "r-9"}}):
            done = lifecycle.apply(order, "allocate", actor=RULE, now=NOW, **kwargs)
            again = OrderEvent.model_validate(done.event.model_dump())
            assert done.event == again
            assert done.event.model_dump_json() == again.model_dump_json()
            assert done.order == order.model_copy(
                update={"status": OrderStatus.ALLOCATED, "node": None}
            )

    def test_timer_plans_are_skipped_only_where_no_sla_changes(self) -> None:
        """Routes flagged as leaving every timer alone really change none."""
        lifecycle = default_lifecycle()
        factory = OrderFactory(seed=34)
        for status in OrderStatus:
            order = factory.order(channel="taobao", status=status.value)
            for trigger in lifecycle.triggers(order):
                try:
                    done = lifecycle.apply(
                        order, trigger, actor=CLERK, reason="check", now=NOW, facts=_ALL_FACTS
                    )
                except GuardFailed:
                    continue
                assert done.timers == lifecycle.timer_plan(order, done.order, NOW), trigger


_ALL_FACTS = {"stock_locked": True, "parcel_picked_up": False, "custom_made": False}
