"""R5: a stateful model test of the lifecycle over real stores.

Hypothesis drives a :class:`~hypothesis.stateful.RuleBasedStateMachine` against the
default lifecycle and a store (a SQLite file, then the memory store): it creates orders
of every mapped channel and status, fires every trigger of the spec (valid or not) with
random actors, reasons and guard facts, and follows random native channel statuses
(with random detail fields). After every step:

* every stored order is in a state of the spec, and every ``order.transitioned`` event
  ever recorded is a transition of the spec's table (source, trigger, destination);
* a successful change bumps the version by exactly one and adds exactly one outbox
  message, which carries exactly the change's events, one ``order.transitioned`` per
  transition (a single trigger: one event, one message);
* a refused transition (InvalidTransition, GuardFailed) changes nothing: not the order,
  not its version, not its events or the outbox, except the documented
  ``order.transition_blocked`` alert (one event, one message, same version);
* versions only grow, and the events' versions are 1..N without a gap;
* transitions never touch money: order amounts and every line's amounts are unchanged.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml  # type: ignore[import-untyped, unused-ignore]
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
)

from ordercore.errors import GuardFailed, InvalidTransition
from ordercore.lifecycle import BLOCKED, TRANSITIONED, Lifecycle, default_lifecycle
from ordercore.lifecycle._channel_maps import (
    DEFAULT_CHANNEL_MAPS,
    channel_maps,
    map_channel_status,
)
from ordercore.lifecycle._follow import UNFOLLOWED, follow_channel
from ordercore.lifecycle._spec import expand_transitions
from ordercore.money import Money
from ordercore.schema import Actor, ActorKind, Order, OrderStatus
from ordercore.storage import MemoryStore, OrderStore, SQLiteStore
from ordercore.testing import OrderFactory

LIFECYCLE: Lifecycle = default_lifecycle()
SPEC = LIFECYCLE.spec
#: ``(source, trigger) -> dest``: the only transitions that may ever be recorded.
TABLE: dict[tuple[str, str], str] = {
    (source, trigger): transition.dest for source, trigger, transition in expand_transitions(SPEC)
}
STATE_REFS = frozenset(SPEC.state_refs())
#: Every trigger the spec has, read from it: new triggers are exercised without edits here.
TRIGGERS = sorted(SPEC.triggers)
#: Factory channels that have a status map (``pos`` has none).
CHANNELS = [
    name
    for name in ("douyin", "taobao", "pdd", "jd", "wechat_channels", "xiaohongshu", "youzan")
    if name in channel_maps().channels
]
#: Each channel's declared detail status fields (Pinduoduo ``refund_status``...).
DETAIL_FIELDS: dict[str, list[str]] = {
    name: sorted(entry.get("details") or {})
    for name, entry in yaml.safe_load(DEFAULT_CHANNEL_MAPS.read_text(encoding="utf-8"))[
        "channels"
    ].items()
}
STATUSES = [status for status in OrderStatus if status in SPEC.states]
FACT_NAMES = ["stock_locked", "parcel_picked_up", "custom_made", "unrelated"]
ACTORS = [
    Actor(kind=ActorKind.PERSON, id="staff-7"),
    Actor(kind=ActorKind.RULE, id="auto-flow"),
    Actor(kind=ActorKind.CONNECTOR, id="channel-pull"),
    Actor(kind=ActorKind.TIMER, id="sla"),
    Actor.system(),
]
CONNECTOR = ACTORS[2]
#: Event types recorded without a version bump.
ALERTS = frozenset({BLOCKED, UNFOLLOWED})

facts = st.dictionaries(st.sampled_from(FACT_NAMES), st.booleans(), max_size=3)
reasons = st.one_of(st.none(), st.sampled_from(["checked", "  ", "buyer called"]))


def _ref(status: str, node: Any) -> str:
    return status if node is None else f"{status}.{node}"


def _money(order: Order) -> tuple[Any, ...]:
    """Every amount of the order: its totals and each line's amounts."""
    lines: list[tuple[Money, ...]] = [line.money() for line in order.lines]
    return (order.amounts, tuple(lines))


class LifecycleModel(RuleBasedStateMachine):
    """The default lifecycle over one store; subclasses choose the store."""

    orders = Bundle("orders")
    backend: ClassVar[str] = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.directory: Path | None = None
        self.store: OrderStore
        if self.backend == "sqlite":
            self.directory = Path(tempfile.mkdtemp(prefix="ordercore-r5-"))
            self.store = SQLiteStore(str(self.directory / "o.db"))
        else:
            self.store = MemoryStore()
        self.factory = OrderFactory(seed=5)
        self.versions: dict[str, int] = {}
        self.money: dict[str, tuple[Any, ...]] = {}
        self.pending = 0
        #: What the run exercised (refused, fired <trigger>, followed...), to look at.
        self.counts: Counter[str] = Counter()

    def teardown(self) -> None:
        try:
            assert self.store.integrity_check() == []
        finally:
            self.store.close()
            if self.directory is not None:
                shutil.rmtree(self.directory, ignore_errors=True)

    # -- helpers -------------------------------------------------------------------------

    def _snapshot(self, order_id: str) -> tuple[Order, int, int]:
        return (
            self.store.get(order_id),
            len(self.store.events(order_id)),
            self.store.outbox_pending(),
        )

    def _unchanged(self, order_id: str, before: Order, events: int, pending: int) -> None:
        """Nothing but alert events (same version, one outbox message each) was written."""
        after = self.store.get(order_id)
        assert after == before
        added = self.store.events(order_id)[events:]
        assert all(event.type in ALERTS for event in added), [e.type for e in added]
        assert all(event.order_version == before.version for event in added)
        assert self.store.outbox_pending() == pending + (1 if added else 0)
        self.pending = self.store.outbox_pending()

    def _changed(
        self, order_id: str, before: Order, events: int, pending: int, expected: list[str]
    ) -> Order:
        """One version, one outbox message, exactly the ``expected`` event ids."""
        after = self.store.get(order_id)
        assert after.version == before.version + 1
        added = self.store.events(order_id)[events:]
        assert [event.event_id for event in added] == expected
        assert {event.order_version for event in added} == {after.version}
        assert self.store.outbox_pending() == pending + 1
        assert _money(after) == _money(before)
        self.pending = self.store.outbox_pending()
        self.versions[order_id] = after.version
        return after

    # -- rules ---------------------------------------------------------------------------

    @initialize(target=orders)
    def first_order(self) -> str:
        return self._create("pdd", OrderStatus.PAID)

    @rule(target=orders, channel=st.sampled_from(CHANNELS), status=st.sampled_from(STATUSES))
    def create(self, channel: str, status: OrderStatus) -> str:
        return self._create(channel, status)

    def _create(self, channel: str, status: OrderStatus) -> str:
        order = self.store.put(self.factory.order(channel=channel, status=status))
        assert order.version == 1
        self.versions[order.id] = 1
        self.money[order.id] = _money(order)
        self.pending += 1
        assert self.store.outbox_pending() == self.pending
        return order.id

    @rule(
        order_id=orders,
        trigger=st.sampled_from(TRIGGERS),
        actor=st.sampled_from(ACTORS),
        reason=reasons,
        facts=facts,
    )
    def fire(
        self,
        order_id: str,
        trigger: str,
        actor: Actor,
        reason: str | None,
        facts: Mapping[str, bool],
    ) -> None:
        before, events, pending = self._snapshot(order_id)
        legal = (LIFECYCLE.state_of(before), trigger) in TABLE
        refused: InvalidTransition | None = None
        try:
            done = LIFECYCLE.transition(
                self.store, before, trigger, actor=actor, reason=reason, facts=facts
            )
        except InvalidTransition as failure:  # GuardFailed included
            refused = failure
        if refused is not None:
            self.counts["refused"] += 1
            # a guard can only refuse a transition the table has; a missing route is no guard
            assert isinstance(refused, GuardFailed) == legal
            assert refused.trigger == trigger
            self._unchanged(order_id, before, events, pending)
            if not isinstance(refused, GuardFailed):
                assert self.store.events(order_id)[events:] == []
            return
        assert legal
        self.counts[f"fired {trigger}"] += 1
        after = self._changed(order_id, before, events, pending, [done.event.event_id])
        assert done.event.type == TRANSITIONED
        assert LIFECYCLE.state_of(after) == TABLE[(LIFECYCLE.state_of(before), trigger)]

    @rule(order_id=orders, data=st.data(), actor=st.sampled_from(ACTORS), facts=facts)
    def advance(
        self, order_id: str, data: st.DataObject, actor: Actor, facts: Mapping[str, bool]
    ) -> None:
        """Fire one of the triggers the order's state has (guards may still refuse it)."""
        available = LIFECYCLE.triggers(self.store.get(order_id))
        if available:
            trigger = data.draw(st.sampled_from(available), label="trigger")
            self.fire(order_id, trigger, actor, "advanced", facts)

    @rule(order_id=orders, data=st.data(), facts=facts)
    def follow_status(self, order_id: str, data: st.DataObject, facts: Mapping[str, bool]) -> None:
        before, events, pending = self._snapshot(order_id)
        maps = channel_maps()
        channel = before.channel
        value = data.draw(st.sampled_from(maps.native_statuses(channel)), label="value")
        details: dict[str, str] = {}
        for field in DETAIL_FIELDS[channel]:
            if data.draw(st.booleans(), label=f"has {field}"):
                details[field] = data.draw(
                    st.sampled_from(maps.detail_values(channel, field)), label=field
                )
        mapping = map_channel_status(channel, value, details=details)
        result = follow_channel(
            LIFECYCLE, self.store, before, mapping, actor=CONNECTOR, facts=facts
        )
        self.counts["followed" if result.transitions else "not followed"] += 1
        if not result.events:
            self._unchanged(order_id, before, events, pending)
            assert len(self.store.events(order_id)) - events == len(result.alerts)
            return
        after = self._changed(
            order_id, before, events, pending, [event.event_id for event in result.events]
        )
        moved = [event for event in result.events if event.type == TRANSITIONED]
        assert len(moved) == len(result.transitions)
        assert [event.data["implied"] for event in moved] == [True] * (len(moved) - 1) + [False]
        assert all(
            event.data["channel_status"] == mapping.native.model_dump(mode="json")
            for event in moved
        )
        if moved:
            assert after.status is result.step.status
            assert after.channel_status == mapping.native

    # -- invariants ------------------------------------------------------------------------

    @invariant()
    def orders_are_in_spec_states_with_legal_histories(self) -> None:
        for order_id, version in self.versions.items():
            order = self.store.get(order_id)
            assert order.version == version
            assert LIFECYCLE.state_of(order) in STATE_REFS
            assert order.node is None or _ref(order.status.value, order.node) in STATE_REFS
            assert _money(order) == self.money[order_id]
            history = self.store.events(order_id)
            stamped = [event.order_version for event in history]
            assert all(isinstance(v, int) for v in stamped)
            assert stamped == sorted(stamped)  # type: ignore[type-var]
            assert set(stamped) == set(range(1, version + 1))
            for event in history:
                if event.type != TRANSITIONED:
                    continue
                assert event.from_status is not None and event.to_status is not None
                source = _ref(event.from_status.value, event.data["from_node"])
                dest = _ref(event.to_status.value, event.data["to_node"])
                assert TABLE.get((source, str(event.data["trigger"]))) == dest, event.data

    @invariant()
    def outbox_counts_every_change(self) -> None:
        assert self.store.outbox_pending() == self.pending


R5_SETTINGS = settings(
    max_examples=20,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


class MemoryModel(LifecycleModel):
    backend: ClassVar[str] = "memory"


TestR5SQLite = LifecycleModel.TestCase
TestR5SQLite.settings = R5_SETTINGS
TestR5Memory = MemoryModel.TestCase
TestR5Memory.settings = R5_SETTINGS
