"""Typed holds: hold, escalate, release and forced approval, read back from the audit trail."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ordercore.errors import ConfigurationError, GuardFailed, InvalidTransition, VersionConflict
from ordercore.lifecycle import default_lifecycle
from ordercore.lifecycle._holds import (
    Hold,
    HoldReason,
    current_hold,
    force_approve,
    hold,
    holds_of,
    release,
)
from ordercore.schema import Actor, ActorKind, Order, OrderStatus
from ordercore.storage import MemoryStore, OrderStore, SQLiteStore
from ordercore.testing import OrderFactory

RULE = Actor(kind=ActorKind.RULE, id="amount-check")
CLERK = Actor(kind=ActorKind.PERSON, id="staff-7")
NOW = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrderStore]:
    opened: OrderStore = (
        MemoryStore() if request.param == "memory" else SQLiteStore(str(tmp_path / "o.db"))
    )
    with opened:
        yield opened


@pytest.fixture
def paid(store: OrderStore) -> Order:
    return store.put(OrderFactory(seed=5).order(channel="jd", status="paid"))


class TestHoldReason:
    @pytest.mark.parametrize(
        ("reason", "node", "trigger"),
        [
            ("risk", "risk_review", "hold_for_risk_review"),
            ("customer_service", "cs_review", "hold_for_cs_review"),
            ("finance", "finance_review", "hold_for_finance_review"),
            ("address", "address_check", "hold_for_address_check"),
            ("amount", "amount_check", "hold_for_amount_check"),
            ("interception", "recall_requested", "request_recall"),
        ],
    )
    def test_each_reason_names_its_node_and_trigger(
        self, reason: str, node: str, trigger: str
    ) -> None:
        """A reason maps to an under_review node and the trigger that leads there, and back."""
        typed = HoldReason(reason)
        assert (typed.node, typed.trigger) == (node, trigger)
        assert HoldReason.of_node(node) is typed

    def test_every_node_but_the_recall_is_in_the_default_lifecycle(self) -> None:
        """The default spec has the node and the trigger of every reason made with hold()."""
        spec = default_lifecycle().spec
        for reason in HoldReason:
            if reason is HoldReason.INTERCEPTION:
                continue
            assert f"under_review.{reason.node}" in spec.state_refs()
            assert reason.trigger in spec.triggers


class TestHold:
    @pytest.mark.parametrize("reason", [r for r in HoldReason if r is not HoldReason.INTERCEPTION])
    def test_a_hold_records_its_reason_holder_and_note(
        self, store: OrderStore, paid: Order, reason: HoldReason
    ) -> None:
        """hold() moves the order to the reason's node and keeps the Hold in the event data."""
        done = hold(
            default_lifecycle(),
            store,
            paid,
            reason,
            actor=RULE,
            note="amount over 20000",
            source_event="jd-msg-17",
            now=NOW,
        )
        assert (done.order.status, done.order.node) == (OrderStatus.UNDER_REVIEW, reason.node)
        event = store.events(paid.id)[-1]
        assert event.data["hold"] == {
            "reason": reason.value,
            "node": reason.node,
            "note": "amount over 20000",
            "held_by": {"kind": "rule", "id": "amount-check"},
            "held_at": "2026-11-11T08:00:00Z",
            "source_event": "jd-msg-17",
        }
        assert event.reason == "amount over 20000"
        found = current_hold(store.get(paid.id), store.events(paid.id))
        assert found == Hold(
            reason=reason,
            node=reason.node,
            held_by=RULE,
            held_at=NOW,
            note="amount over 20000",
            source_event="jd-msg-17",
            event_id=event.event_id,
        )
        assert found.state == f"under_review.{reason.node}"

    def test_a_finance_hold_in_cs_review_is_an_escalation(
        self, store: OrderStore, paid: Order
    ) -> None:
        """From customer-service review, a finance hold uses escalate_to_finance."""
        lifecycle = default_lifecycle()
        held = hold(lifecycle, store, paid, "customer_service", actor=RULE, now=NOW).order
        done = hold(lifecycle, store, held, HoldReason.FINANCE, actor=CLERK, note="invoice")
        assert done.event.data["trigger"] == "escalate_to_finance"
        assert done.order.node == "finance_review"
        trail = holds_of(store.events(paid.id))
        assert [(h.reason, h.held_by) for h in trail] == [
            (HoldReason.CUSTOMER_SERVICE, RULE),
            (HoldReason.FINANCE, CLERK),
        ]
        assert current_hold(done.order, store.events(paid.id)) == trail[-1]

    def test_an_unknown_reason_is_a_configuration_error(
        self, store: OrderStore, paid: Order
    ) -> None:
        """A reason outside HoldReason is refused, naming the known ones; nothing is written."""
        with pytest.raises(ConfigurationError, match=r"unknown hold reason 'weather'.*risk"):
            hold(default_lifecycle(), store, paid, "weather", actor=RULE)
        assert store.get(paid.id).version == 1

    def test_an_interception_hold_is_made_by_intercept(
        self, store: OrderStore, paid: Order
    ) -> None:
        """hold() refuses the interception reason: intercept() also asks for the recall."""
        with pytest.raises(ConfigurationError, match="intercept"):
            hold(default_lifecycle(), store, paid, HoldReason.INTERCEPTION, actor=RULE)

    def test_a_naive_time_is_refused(self, store: OrderStore, paid: Order) -> None:
        """A hold's time must be aware."""
        with pytest.raises(ConfigurationError, match="timezone-aware"):
            hold(default_lifecycle(), store, paid, "risk", actor=RULE, now=datetime(2026, 1, 1))

    def test_a_hold_from_a_state_without_the_trigger_is_invalid(self, store: OrderStore) -> None:
        """A shipped order cannot be held: InvalidTransition names the trigger."""
        shipped = store.put(OrderFactory(seed=6).order(channel="jd", status="shipped"))
        with pytest.raises(InvalidTransition) as caught:
            hold(default_lifecycle(), store, shipped, "risk", actor=RULE)
        assert caught.value.trigger == "hold_for_risk_review"

    def test_a_stale_order_writes_no_hold(self, store: OrderStore, paid: Order) -> None:
        """A hold based on an old version raises VersionConflict and records nothing."""
        store.update(paid.evolve(seller_note="call first"))
        with pytest.raises(VersionConflict):
            hold(default_lifecycle(), store, paid, "risk", actor=RULE)
        assert holds_of(store.events(paid.id)) == []
        assert store.get(paid.id).status is OrderStatus.PAID


class TestRelease:
    def test_release_records_the_hold_it_lifted(self, store: OrderStore, paid: Order) -> None:
        """release() goes back to paid; its event names the hold; no hold is current after."""
        lifecycle = default_lifecycle()
        held = hold(lifecycle, store, paid, "address", actor=RULE, note="no street", now=NOW)
        done = release(lifecycle, store, held.order, actor=CLERK, note="buyer confirmed")
        assert done.order.status is OrderStatus.PAID
        lifted = done.event.data["released_hold"]
        assert isinstance(lifted, dict)
        assert (lifted["reason"], lifted["event_id"]) == ("address", held.event.event_id)
        assert current_hold(done.order, store.events(paid.id)) is None

    def test_a_hold_made_by_a_plain_transition_is_read_back(
        self, store: OrderStore, paid: Order
    ) -> None:
        """A hold without hold data is rebuilt from its event: node, actor, time and reason."""
        lifecycle = default_lifecycle()
        done = lifecycle.transition(
            store, paid, "hold_for_risk_review", actor=RULE, reason="5 returns in 24h", now=NOW
        )
        (found,) = holds_of(store.events(paid.id))
        assert found == Hold(
            reason=HoldReason.RISK,
            node="risk_review",
            held_by=RULE,
            held_at=NOW,
            note="5 returns in 24h",
            event_id=done.event.event_id,
        )

    def test_release_of_an_order_not_held_is_invalid(self, store: OrderStore, paid: Order) -> None:
        """A paid order has no release."""
        with pytest.raises(InvalidTransition) as caught:
            release(default_lifecycle(), store, paid, actor=CLERK)
        assert caught.value.trigger == "release"

    def test_current_hold_is_none_when_the_events_are_behind_the_order(
        self, store: OrderStore, paid: Order
    ) -> None:
        """Events that do not lead to the order's node give no current hold."""
        lifecycle = default_lifecycle()
        held = hold(lifecycle, store, paid, "risk", actor=RULE).order
        assert current_hold(held.evolve(node="finance_review"), store.events(paid.id)) is None
        assert current_hold(paid, store.events(paid.id)) is None


class TestForceApprove:
    def test_a_forced_approval_records_who_why_and_the_hold_overridden(
        self, store: OrderStore, paid: Order
    ) -> None:
        """A person with a reason approves; the event says who, why and which hold."""
        lifecycle = default_lifecycle()
        held = hold(lifecycle, store, paid, "amount", actor=RULE, now=NOW)
        done = force_approve(
            lifecycle, store, held.order, actor=CLERK, reason="known B2B buyer", now=NOW
        )
        assert done.order.status is OrderStatus.PAID
        event = store.events(paid.id)[-1]
        assert (event.actor, event.reason) == (CLERK, "known B2B buyer")
        audit = event.data["forced_approval"]
        assert isinstance(audit, dict)
        assert audit["by"] == {"kind": "person", "id": "staff-7"}
        assert audit["why"] == "known B2B buyer"
        overrode = audit["overrode"]
        assert isinstance(overrode, dict)
        assert (overrode["reason"], overrode["event_id"]) == ("amount", held.event.event_id)

    @pytest.mark.parametrize(
        "actor",
        [
            RULE,
            Actor.system(),
            Actor(kind=ActorKind.CONNECTOR, id="jd"),
            Actor(kind="timer", id="t"),
        ],
    )
    def test_only_a_person_may_force_an_approval(
        self, store: OrderStore, paid: Order, actor: Actor
    ) -> None:
        """Any other actor is refused by person_actor, and nothing is written."""
        lifecycle = default_lifecycle()
        held = hold(lifecycle, store, paid, "risk", actor=RULE).order
        with pytest.raises(GuardFailed) as caught:
            force_approve(lifecycle, store, held, actor=actor, reason="looks fine")
        assert (caught.value.guard, caught.value.trigger) == ("person_actor", "force_approve")
        assert store.get(paid.id).version == held.version

    @pytest.mark.parametrize("reason", [None, "", "   "])
    def test_a_forced_approval_needs_a_reason(
        self, store: OrderStore, paid: Order, reason: str | None
    ) -> None:
        """No reason (or a blank one) is refused by reason_given."""
        lifecycle = default_lifecycle()
        held = hold(lifecycle, store, paid, "risk", actor=RULE).order
        with pytest.raises(GuardFailed) as caught:
            force_approve(lifecycle, store, held, actor=CLERK, reason=reason)
        assert caught.value.guard == "reason_given"
        assert store.get(paid.id).status is OrderStatus.UNDER_REVIEW

    def test_a_forced_approval_of_an_order_not_held_is_invalid(
        self, store: OrderStore, paid: Order
    ) -> None:
        """Not under review: InvalidTransition, not a guard failure."""
        with pytest.raises(InvalidTransition) as caught:
            force_approve(default_lifecycle(), store, paid, actor=RULE, reason="x")
        assert not isinstance(caught.value, GuardFailed)

    def test_a_lifecycle_without_the_guards_still_needs_a_person(
        self, store: OrderStore, paid: Order
    ) -> None:
        """force_approve() checks the person and reason even when the spec does not."""
        from ordercore.lifecycle import Lifecycle, default_spec

        loose = default_spec().model_dump(mode="python")
        for transition in loose["transitions"]:
            if transition["trigger"] == "force_approve":
                transition["guards"] = ()
        lifecycle = Lifecycle(loose)
        held = hold(lifecycle, store, paid, "risk", actor=RULE).order
        with pytest.raises(GuardFailed) as caught:
            force_approve(lifecycle, store, held, actor=RULE, reason="ok")
        assert caught.value.guard == "person_actor"
        later = NOW + timedelta(minutes=5)
        done = force_approve(lifecycle, store, held, actor=CLERK, reason="ok", now=later)
        assert done.event.at == later


class TestHoldRecord:
    def test_a_hold_survives_its_json(self) -> None:
        """to_json() and from_json() round-trip."""
        record = Hold(
            reason=HoldReason.FINANCE,
            node="finance_review",
            held_by=CLERK,
            held_at=NOW,
            note="invoice",
            source_event="e-1",
            event_id="01HZZ",
        )
        assert Hold.from_json(record.to_json()) == record

    def test_data_that_is_not_a_hold_is_a_configuration_error(self) -> None:
        """from_json() of something else says so."""
        with pytest.raises(ConfigurationError, match="not a hold record"):
            Hold.from_json({"reason": "weather"})
