"""SLA timers: armed and cancelled with transitions, run by the SLA service, escalated."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ordercore.errors import ConfigurationError, NotifyError, VersionConflict
from ordercore.lifecycle import BREACHED, Lifecycle, SlaService, default_lifecycle
from ordercore.notify import Notification
from ordercore.schema import Actor, ActorKind, Order, OrderStatus
from ordercore.storage import MemoryStore, OrderStore, SQLiteStore
from ordercore.testing import OrderFactory
from ordercore.timestamps import ChannelTime

T0 = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)
STAFF = Actor(kind=ActorKind.PERSON, id="staff-7")
_SEEDS = itertools.count(5)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Inbox:
    """A notifier that keeps what it is sent, and can be told to fail."""

    def __init__(self) -> None:
        self.sent: list[Notification] = []
        self.fail = False

    def notify(self, message: Notification) -> None:
        if self.fail:
            raise NotifyError("the robot refused the message", notifier="inbox", status=500)
        self.sent.append(message)


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    opened: OrderStore = (
        SQLiteStore(str(tmp_path / "orders.db")) if request.param == "sqlite" else MemoryStore()
    )
    with opened:
        yield opened


@pytest.fixture
def lifecycle() -> Lifecycle:
    return default_lifecycle()


def _stored(store: OrderStore, status: str = "picking", **fields: object) -> Order:
    fields.setdefault("channel", "taobao")
    return store.put(OrderFactory(seed=next(_SEEDS)).order(status=status, **fields))


class TestTimersFollowTransitions:
    def test_entering_a_node_with_an_sla_arms_its_timer_in_the_same_write(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        order = _stored(store)
        done = lifecycle.transition(store, order, "pack", actor=STAFF, now=T0)
        assert done.timers is not None and done.timers.arm[0].name == "sla:packed.awaiting_outbound"
        [timer] = store.timers(order.id)
        assert (timer.name, timer.due_at, timer.level) == (
            "sla:packed.awaiting_outbound",
            T0 + timedelta(hours=4),
            1,
        )

    def test_leaving_the_state_cancels_its_timer(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        order = _stored(store, status="paid")
        done = lifecycle.transition(store, order, "allocate", actor=STAFF, now=T0)
        assert [t.name for t in store.timers(order.id)] == ["sla:allocated"]
        done = lifecycle.transition(store, done.order, "pick", actor=STAFF, now=T0)
        assert [(t.name, t.due_at) for t in store.timers(order.id)] == [
            ("sla:picking", T0 + timedelta(hours=2))
        ]
        done = lifecycle.transition(store, done.order, "pack", actor=STAFF, now=T0)
        lifecycle.transition(store, done.order, "ship", actor=STAFF, now=T0)
        assert store.timers(order.id) == []  # shipped has no SLA

    def test_nodes_sharing_their_states_sla_keep_its_clock_running(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        order = _stored(store, status="paid")
        held = lifecycle.transition(store, order, "hold_for_cs_review", actor=STAFF, now=T0)
        later = T0 + timedelta(hours=1)
        lifecycle.transition(store, held.order, "escalate_to_finance", actor=STAFF, now=later)
        assert [(t.name, t.due_at) for t in store.timers(order.id)] == [
            ("sla:under_review", T0 + timedelta(hours=4))
        ]

    def test_a_node_with_its_own_sla_replaces_the_states(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        order = _stored(store, status="paid")
        done = lifecycle.transition(store, order, "allocate", actor=STAFF, now=T0)
        later = T0 + timedelta(minutes=30)
        lifecycle.transition(store, done.order, "start_engraving", actor=STAFF, now=later)
        assert [(t.name, t.due_at) for t in store.timers(order.id)] == [
            ("sla:allocated.engraving", later + timedelta(days=2))
        ]

    def test_a_deadline_sla_counts_to_the_orders_own_field(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        pay_by = ChannelTime.from_datetime(T0 + timedelta(minutes=30), zone="UTC")
        order = _stored(store, status="pending_payment", pay_by=pay_by)
        assert lifecycle.arm_timers(store, [order], now=T0) == 1
        assert [(t.name, t.due_at) for t in store.timers(order.id)] == [
            ("sla:pending_payment", T0 + timedelta(minutes=30))
        ]
        lifecycle.transition(store, order, "pay", actor=STAFF, now=T0)
        assert [t.name for t in store.timers(order.id)] == ["sla:paid"]
        no_deadline = _stored(store, status="pending_payment", pay_by=None)
        assert lifecycle.arm_timers(store, [no_deadline], now=T0) == 0

    def test_a_failed_transition_arms_nothing(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        order = _stored(store)
        store.update(order)  # someone else changed it
        with pytest.raises(VersionConflict):
            lifecycle.transition(store, order, "pack", actor=STAFF, now=T0)
        assert store.timers(order.id) == []

    def test_transition_many_writes_all_or_nothing(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        orders = [_stored(store) for _ in range(3)]
        store.update(orders[1])
        with pytest.raises(VersionConflict):
            lifecycle.transition_many(store, [(o, "pack") for o in orders], actor=STAFF, now=T0)
        assert [store.get(o.id).status for o in orders] == [OrderStatus.PICKING] * 3
        assert all(store.timers(o.id) == [] for o in orders)
        fresh = [store.get(o.id) for o in orders]
        done = lifecycle.transition_many(store, [(o, "pack") for o in fresh], actor=STAFF, now=T0)
        assert [t.order.version for t in done] == [o.version + 1 for o in fresh]
        assert all(len(store.timers(o.id)) == 1 for o in orders)


class TestSlaService:
    def _packed(self, store: OrderStore, lifecycle: Lifecycle) -> Order:
        order = _stored(store)
        return lifecycle.transition(store, order, "pack", actor=STAFF, now=T0).order

    def test_a_breach_notifies_the_owner_then_escalates_then_stops(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        order = self._packed(store, lifecycle)
        clock, inbox = Clock(T0 + timedelta(hours=3, minutes=59)), Inbox()
        service = SlaService(store, lifecycle, inbox, clock=clock)
        assert service.run_once() == []
        clock.advance(minutes=1, seconds=2)
        [breach] = service.run_once()
        assert (breach.level, breach.notify, breach.state) == (
            1,
            "warehouse_lead",
            "packed.awaiting_outbound",
        )
        assert breach.latency == timedelta(seconds=2)
        assert breach.next_due == T0 + timedelta(hours=6)
        assert [(t.level, t.due_at) for t in store.timers(order.id)] == [
            (2, T0 + timedelta(hours=6))
        ]
        assert service.run_once() == []  # the next rung is not due yet
        clock.now = T0 + timedelta(hours=6, seconds=1)
        [second] = service.run_once()
        assert (second.level, second.notify, second.next_due) == (
            2,
            "warehouse_manager_phone",
            None,
        )
        assert store.timers(order.id) == []
        assert [m.level for m in inbox.sent] == ["warning", "critical"]
        assert inbox.sent[0].order_ids == (order.id,)
        assert inbox.sent[0].title == (
            f"SLA breached: order taobao/{order.channel_order_id} in packed.awaiting_outbound"
        )
        breaches = [e for e in store.events(order.id) if e.type == BREACHED]
        assert [e.data["level"] for e in breaches] == [1, 2]
        assert breaches[0].actor.kind is ActorKind.TIMER
        assert breaches[0].data["latency_ms"] == 2000.0
        assert store.get(order.id).version == order.version  # breaches do not change the order
        assert list(service.latencies) == [2.0, 1.0]
        assert service.latency_quantile(0.99) == 2.0

    def test_moving_on_before_the_deadline_means_no_breach(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        order = self._packed(store, lifecycle)
        lifecycle.transition(store, order, "ship", actor=STAFF, now=T0 + timedelta(hours=1))
        inbox = Inbox()
        service = SlaService(store, lifecycle, inbox, clock=Clock(T0 + timedelta(days=3)))
        assert service.run_once() == [] and inbox.sent == []

    def test_a_failed_notification_is_retried_later_and_records_nothing(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        order = self._packed(store, lifecycle)
        clock, inbox = Clock(T0 + timedelta(hours=4)), Inbox()
        inbox.fail = True
        service = SlaService(store, lifecycle, inbox, clock=clock, retry_after=30)
        assert service.run_once() == []
        assert service.stats["failed"] == 1
        assert not any(e.type == BREACHED for e in store.events(order.id))
        inbox.fail = False
        clock.advance(seconds=29)
        assert service.run_once() == []
        clock.advance(seconds=1)
        [breach] = service.run_once()
        assert breach.latency == timedelta(seconds=30)
        assert len(inbox.sent) == 1

    def test_a_timer_left_behind_by_a_plain_update_is_dropped(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        order = self._packed(store, lifecycle)
        store.update(order.evolve(status=OrderStatus.SHIPPED, node=None))  # not via the lifecycle
        inbox = Inbox()
        service = SlaService(store, lifecycle, inbox, clock=Clock(T0 + timedelta(hours=5)))
        assert service.run_once() == []
        assert service.stats["dropped"] == 1 and inbox.sent == []
        assert store.timers(order.id) == []

    def test_notifiers_are_chosen_by_target_with_a_fallback(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        self._packed(store, lifecycle)
        lead, rest = Inbox(), Inbox()
        clock = Clock(T0 + timedelta(hours=4))
        service = SlaService(store, lifecycle, {"warehouse_lead": lead, "*": rest}, clock=clock)
        service.run_once()
        clock.advance(hours=2)
        service.run_once()
        assert (len(lead.sent), len(rest.sent)) == (1, 1)
        only = SlaService(store, lifecycle, {"cs_lead": Inbox()})
        with pytest.raises(ConfigurationError, match="warehouse_lead"):
            only.notifier_for("warehouse_lead")

    def test_run_handles_what_falls_due_while_it_runs(
        self, store: OrderStore, lifecycle: Lifecycle
    ) -> None:
        for _ in range(3):
            self._packed(store, lifecycle)
        clock = Clock(T0 + timedelta(hours=5))
        service = SlaService(store, lifecycle, Inbox(), clock=clock, batch_size=2)
        assert service.run(stop_after=0.2) == 3

    def test_bad_settings_are_refused(self, store: OrderStore, lifecycle: Lifecycle) -> None:
        with pytest.raises(ConfigurationError, match="batch_size"):
            SlaService(store, lifecycle, batch_size=0)
        with pytest.raises(ConfigurationError, match="at least one notifier"):
            SlaService(store, lifecycle, {})


def test_escalation_levels_read_from_the_spec(lifecycle: Lifecycle) -> None:
    sla = lifecycle.sla_named("sla:packed.awaiting_outbound")
    assert sla is not None
    assert lifecycle.escalation_after(sla, 1) == ("warehouse_lead", timedelta(0), 2)
    assert lifecycle.escalation_after(sla, 2) == (
        "warehouse_manager_phone",
        timedelta(hours=2),
        None,
    )
    with pytest.raises(ConfigurationError, match="level 3"):
        lifecycle.escalation_after(sla, 3)
    assert lifecycle.sla_of("shipped") is None
