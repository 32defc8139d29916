"""Channel statuses drive real orders through the lifecycle engine, stored for real."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import channel_samples
from channel_samples import fixture_text, parse_payload
from ordercore.errors import ConfigurationError
from ordercore.lifecycle import BLOCKED, TRANSITIONED, Lifecycle, default_lifecycle
from ordercore.lifecycle._channel_maps import (
    MAIN_LINE,
    SkipReason,
    map_channel_status,
    map_order_status,
)
from ordercore.lifecycle._follow import (
    DO_NOT_SHIP,
    HOLD_QUANTITY,
    LINE_AFTER_SALE,
    LINES_HELD,
    UNFOLLOWED,
    ChannelFollow,
    follow,
    follow_channel,
)
from ordercore.lifecycle._spec import expand_transitions
from ordercore.schema import Actor, ActorKind, Order, OrderEvent, OrderStatus
from ordercore.storage import SQLiteStore
from ordercore.timestamps import ChannelTime

S = OrderStatus
CONNECTOR = Actor(kind=ActorKind.CONNECTOR, id="channel-pull")
NOW = datetime(2026, 11, 11, 8, 0, tzinfo=UTC)
RANK = {status: rank for rank, status in enumerate(MAIN_LINE)}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(str(tmp_path / "o.db"))
    try:
        yield opened
    finally:
        opened.close()


def legal_table(lifecycle: Lifecycle) -> dict[tuple[str, str], str]:
    """``(source, trigger) -> dest`` exactly as the spec defines it."""
    return {
        (source, trigger): transition.dest
        for source, trigger, transition in expand_transitions(lifecycle.spec)
    }


def assert_legal(lifecycle: Lifecycle, events: list[OrderEvent]) -> None:
    """Every transition event names a transition of the spec and chains on the one before."""
    table = legal_table(lifecycle)
    before = None
    for event in events:
        if event.type != TRANSITIONED:
            continue
        assert event.from_status is not None and event.to_status is not None
        source = _ref(event.from_status.value, event.data["from_node"])
        dest = _ref(event.to_status.value, event.data["to_node"])
        assert table.get((source, str(event.data["trigger"]))) == dest, event.data
        if before is not None:
            assert source == before
        before = dest


def _ref(status: str, node: Any) -> str:
    return status if node is None else f"{status}.{node}"


def edited(fixture: str, mapper: Callable[..., Any], edit: Callable[[Any], None]) -> Order:
    """A real sample payload, edited, mapped as a connector maps it."""
    payload = parse_payload(fixture_text(fixture))
    edit(payload)
    result = mapper(payload, raw_text=json.dumps(payload, default=str))
    order: Order = result[0] if isinstance(result, list) else result
    return order


def pdd(order_status: int, refund_status: int = 1) -> Order:
    def edit(payload: Any) -> None:
        info = payload["order_info_get_response"]["order_info"]
        info.update(order_status=order_status, refund_status=refund_status)

    return edited("pdd_order.json", channel_samples.map_pdd, edit)


def douyin(order_status: int, main_status: int) -> Order:
    """The Douyin doc example with one sku order and no after-sale on it."""

    def edit(payload: Any) -> None:
        shop_order = payload["data"]["shop_order_list"][0]
        shop_order.update(order_status=order_status, main_status=main_status)
        unshipped = order_status in (1, 105, 2)
        if unshipped:
            shop_order["logistics_info"] = []
        for item in (shop_order, *shop_order["sku_order_list"]):
            item.update(order_status=order_status, main_status=main_status)
            if unshipped:  # the doc example sets every time; an unshipped order has none
                for key in ("ship_time", "finish_time", "logistics_receipt_time"):
                    item.pop(key, None)
                item.pop("confirm_receipt_time", None)
            if order_status == 1:
                item.pop("pay_time", None)
        for sku in shop_order["sku_order_list"]:
            sku["after_sale_info"] = {"after_sale_status": 0}

    return edited("douyin_order.json", channel_samples.map_douyin, edit)


def taobao_two_lines(trade_status: str, refunds: tuple[str, str]) -> Order:
    """The real Taobao payload with two unshipped sub-orders and their refund statuses."""

    def edit(payload: Any) -> None:
        trade = payload["trade_fullinfo_get_response"]["trade"]
        trade["status"] = trade_status
        template = trade["orders"]["order"][0]
        subs = []
        for index, refund in enumerate(refunds):
            sub = copy.deepcopy(template)
            sub["oid"] = 518073718172548 + index
            sub["status"] = trade_status
            sub["refund_status"] = refund
            if refund != "NO_REFUND":
                sub["refund_id"] = 9000 + index
            for key in ("invoice_no", "logistics_company", "consign_time", "end_time"):
                sub.pop(key, None)
            subs.append(sub)
        trade["orders"]["order"] = subs

    return edited("taobao_order.json", channel_samples.map_taobao, edit)


FIRST_LINE, SECOND_LINE = "518073718172548", "518073718172549"


def outbox_of(store: SQLiteStore, order_id: str) -> list[dict[str, Any]]:
    messages = store.claim_outbox(1000, lease_seconds=0.001)
    return [dict(m.payload) for m in messages if m.order_id == order_id]


class TestJumps:
    def test_paid_to_shipped_records_the_implied_transitions_in_order(self) -> None:
        """PDD says shipped with nothing seen since paid: allocate, pick, pack are implied."""
        lifecycle = default_lifecycle()
        order = pdd(1)
        assert lifecycle.state_of(order) == "paid"
        update = pdd(2)
        result = follow(lifecycle, order, update, actor=CONNECTOR, now=NOW)
        assert [done.trigger for done in result.transitions] == ["allocate", "pick", "pack", "ship"]
        assert result.implied == ("allocate", "pick", "pack")
        assert [e.data["implied"] for e in result.events] == [True, True, True, False]
        assert [e.to_status for e in result.events] == [S.ALLOCATED, S.PICKING, S.PACKED, S.SHIPPED]
        assert_legal(lifecycle, list(result.events))
        assert (result.order.status, result.order.node) == (S.SHIPPED, None)
        assert result.ignored is None and result.main is S.SHIPPED
        # the raw channel status is kept on the order and in every event
        assert result.order.channel_status == update.channel_status
        raw = update.channel_status.model_dump(mode="json")
        assert all(e.data["channel_status"] == raw for e in result.events)
        assert {e.data["channel"] for e in result.events} == {"pdd"}
        assert all(e.actor == CONNECTOR and e.at == NOW for e in result.events)
        # money is not touched; the order given is not changed (follow is pure)
        assert result.order.amounts == order.amounts
        assert (order.status, order.version) == (S.PAID, 0)

    def test_jump_from_unpaid_to_completed_passes_every_main_line_status(self) -> None:
        lifecycle = default_lifecycle()
        order = douyin(1, 1)
        result = follow(lifecycle, order, douyin(5, 5), actor=CONNECTOR, now=NOW)
        assert [e.to_status for e in result.events] == list(MAIN_LINE[1:])
        assert_legal(lifecycle, list(result.events))
        assert result.order.paid_at is not None and result.order.completed_at is not None

    def test_a_guard_is_routed_around_when_the_lifecycle_offers_a_legal_way(self) -> None:
        """A pooled B2B order may not be allocated alone: release_pool is taken instead."""
        lifecycle = default_lifecycle()
        order = pdd(1).evolve(node="awaiting_pool")
        assert not lifecycle.can(order, "allocate")
        result = follow(lifecycle, order, pdd(2), actor=CONNECTOR, now=NOW)
        assert [d.trigger for d in result.transitions] == ["release_pool", "pick", "pack", "ship"]
        assert_legal(lifecycle, list(result.events))


class TestSequences:
    def test_repeated_update_changes_nothing(self) -> None:
        lifecycle = default_lifecycle()
        shipped = follow(lifecycle, pdd(1), pdd(2), actor=CONNECTOR).order
        again = follow(lifecycle, shipped, pdd(2), actor=CONNECTOR)
        assert (again.ignored, again.events, again.order) == (SkipReason.REPEATED, (), shipped)
        assert not again.changed

    def test_late_update_is_ignored_as_backwards(self) -> None:
        """A 'paid' that arrives after 'shipped' does not take the order back."""
        lifecycle = default_lifecycle()
        shipped = follow(lifecycle, pdd(1), pdd(2), actor=CONNECTOR).order
        late = follow(lifecycle, shipped, pdd(1), actor=CONNECTOR)
        assert (late.ignored, late.events, late.order.status) == (
            SkipReason.BACKWARDS,
            (),
            S.SHIPPED,
        )

    def test_an_older_delivery_of_the_order_is_late_whatever_it_says(self) -> None:
        """channel_updated_at older than the order's: ignored, even though it is forward."""
        lifecycle = default_lifecycle()
        order = pdd(1)
        assert order.channel_updated_at is not None
        older = ChannelTime.from_datetime(order.channel_updated_at.utc - timedelta(minutes=5))
        stale = pdd(2).evolve(channel_updated_at=older)
        result = follow(lifecycle, order, stale, actor=CONNECTOR)
        assert (result.ignored, result.events) == (SkipReason.BACKWARDS, ())

    def test_out_of_order_sequence_never_goes_backwards(self) -> None:
        """Taobao statuses shuffled: every move is legal, forward, and the end is completed."""
        lifecycle = default_lifecycle()
        order = channel_samples.taobao_order().evolve(  # the finished sample, before payment
            status="pending_payment",
            channel_status={"value": "WAIT_BUYER_PAY"},
            paid_at=None,
            shipped_at=None,
            completed_at=None,
            shipments=(),
        )
        sequence = [
            "WAIT_SELLER_SEND_GOODS",
            "WAIT_BUYER_CONFIRM_GOODS",
            "WAIT_SELLER_SEND_GOODS",  # late
            "WAIT_BUYER_PAY",  # very late
            "TRADE_FINISHED",
            "WAIT_BUYER_CONFIRM_GOODS",  # late again
            "TRADE_FINISHED",  # repeated
        ]
        events: list[OrderEvent] = []
        outcomes = []
        main = None
        for value in sequence:
            result = follow(
                lifecycle,
                order,
                map_channel_status("taobao", value),
                actor=CONNECTOR,
                now=NOW,
                main=main,
            )
            outcomes.append(result.ignored)
            events.extend(result.events)
            order, main = result.order, result.main
        assert outcomes == [
            None,
            None,
            SkipReason.BACKWARDS,
            SkipReason.BACKWARDS,
            None,
            SkipReason.BACKWARDS,
            SkipReason.REPEATED,
        ]
        assert_legal(lifecycle, events)
        ranks = [RANK[e.to_status] for e in events if e.to_status is not None]
        assert ranks == sorted(ranks) and ranks == list(range(1, len(MAIN_LINE)))
        assert order.status is S.COMPLETED
        assert order.channel_status.value == "TRADE_FINISHED"

    def test_cancelled_is_final(self) -> None:
        """JD cancels a paid order; nothing the channel says afterwards moves it."""
        lifecycle = default_lifecycle()
        order = channel_samples.jd_order()
        assert order.status is S.PAID
        cancelled = follow(
            lifecycle, order, map_channel_status("jd", "TRADE_CANCELED"), actor=CONNECTOR
        )
        assert cancelled.order.status is S.CANCELLED
        assert [e.data["implied"] for e in cancelled.events] == [False]
        assert_legal(lifecycle, list(cancelled.events))
        for value in (
            "WAIT_GOODS_RECEIVE_CONFIRM",
            "FINISHED_L",
            "LOCKED",
            "WAIT_SELLER_STOCK_OUT",
        ):
            after = follow(
                lifecycle, cancelled.order, map_channel_status("jd", value), actor=CONNECTOR
            )
            assert (after.ignored, after.events) == (SkipReason.CLOSED, ()), value

    def test_unknown_native_status_changes_nothing(self) -> None:
        order = channel_samples.jd_order()
        result = follow(
            default_lifecycle(), order, map_channel_status("jd", "SOMETHING_NEW"), actor=CONNECTOR
        )
        assert (result.ignored, result.events, result.order) == (SkipReason.UNKNOWN, (), order)


class TestPinduoduoAndDouyin:
    def test_pdd_refund_in_progress_on_a_paid_order(self) -> None:
        """order_status 1 + refund_status 2: refund only, one transition."""
        lifecycle = default_lifecycle()
        result = follow(lifecycle, pdd(1), pdd(1, 2), actor=CONNECTOR, now=NOW)
        assert [(d.trigger, d.state) for d in result.transitions] == [
            ("request_refund_only", "after_sale.refund_only")
        ]
        assert result.events[0].data["channel_node"] == "after_sale_requested"
        assert result.order.channel_status.details["refund_status"] == "2"

    def test_pdd_refunded_before_shipping_goes_through_the_refund(self) -> None:
        """order_status 1 + refund_status 4: the refund is implied, the order cancelled."""
        lifecycle = default_lifecycle()
        result = follow(lifecycle, pdd(1), pdd(1, 4), actor=CONNECTOR, now=NOW)
        assert [(d.trigger, d.state) for d in result.transitions] == [
            ("request_refund_only", "after_sale.refund_only"),
            ("refund_before_shipping", "cancelled.refunded_before_shipping"),
        ]
        assert [d.event.data["implied"] for d in result.transitions] == [True, False]
        assert [e.type for e in result.events] == [TRANSITIONED, TRANSITIONED, LINES_HELD]
        assert result.order.attribute(DO_NOT_SHIP) == [result.order.lines[0].line_id]
        assert result.order.cancelled_at is not None
        assert_legal(lifecycle, list(result.events))

    def test_douyin_main_status_refunded_before_shipping(self) -> None:
        """order_status 2 with main_status 21: cancelled, refunded before shipping."""
        lifecycle = default_lifecycle()
        order = douyin(2, 2)
        assert lifecycle.state_of(order) == "paid"
        result = follow(lifecycle, order, douyin(2, 21), actor=CONNECTOR, now=NOW)
        assert result.order.status is S.CANCELLED
        assert result.order.node == "refunded_before_shipping"
        assert result.mapping.implied_from == "main_status"
        assert_legal(lifecycle, list(result.events))

    def test_douyin_refunded_after_receipt_picks_the_refund_node(self) -> None:
        """main_status 39 on a completed order: a return refund, not an exchange."""
        lifecycle = default_lifecycle()
        completed = follow(lifecycle, douyin(2, 2), douyin(5, 5), actor=CONNECTOR).order
        assert completed.status is S.COMPLETED
        result = follow(lifecycle, completed, douyin(5, 39), actor=CONNECTOR, now=NOW)
        assert [(d.trigger, d.state) for d in result.transitions] == [
            ("request_return_refund", "after_sale.return_refund")
        ]
        assert result.events[0].data["channel_node"] == "refunded_after_receipt"


class TestLineAfterSale:
    def test_one_line_refund_keeps_the_order_in_fulfilment(self, store: SQLiteStore) -> None:
        """A refund on one sub-order of two: the order stays paid, that line is held."""
        lifecycle = default_lifecycle()
        order = store.put(taobao_two_lines("WAIT_SELLER_SEND_GOODS", ("NO_REFUND", "NO_REFUND")))
        order = store.update(order.evolve(status="paid"), actor=CONNECTOR)
        update = taobao_two_lines("WAIT_SELLER_SEND_GOODS", ("NO_REFUND", "WAIT_SELLER_AGREE"))
        assert map_order_status(update).status is S.PAID
        result = follow_channel(lifecycle, store, order, update, actor=CONNECTOR, now=NOW)
        assert result.transitions == () and result.ignored is SkipReason.REPEATED
        assert (result.order.status, result.order.version) == (S.PAID, order.version + 1)
        assert result.do_not_ship == (SECOND_LINE,)
        stored = store.get(order.id)
        assert stored.attribute(DO_NOT_SHIP) == [SECOND_LINE]
        first, second = stored.lines
        assert LINE_AFTER_SALE not in first.attributes and HOLD_QUANTITY not in first.attributes
        assert second.attributes[LINE_AFTER_SALE].value == "open"
        assert second.attributes[HOLD_QUANTITY].value == second.quantity
        (event,) = [e for e in store.events(order.id) if e.type == LINES_HELD]
        assert event.data["do_not_ship"] == [SECOND_LINE]
        assert event.data["lines"] == {SECOND_LINE: "open"}
        assert event.order_version == stored.version
        # the same delivery again holds what is held already: nothing is written
        again = follow_channel(lifecycle, store, stored, update, actor=CONNECTOR)
        assert (again.events, store.get(order.id).version) == ((), stored.version)
        assert store.integrity_check() == []

    def test_refund_covering_every_line_moves_the_order(self) -> None:
        lifecycle = default_lifecycle()
        order = taobao_two_lines("WAIT_SELLER_SEND_GOODS", ("NO_REFUND", "NO_REFUND")).evolve(
            status="paid"
        )
        held = follow(
            lifecycle,
            order,
            taobao_two_lines("WAIT_SELLER_SEND_GOODS", ("NO_REFUND", "WAIT_SELLER_AGREE")),
            actor=CONNECTOR,
        ).order
        result = follow(
            lifecycle,
            held,
            taobao_two_lines("WAIT_SELLER_SEND_GOODS", ("WAIT_SELLER_AGREE", "WAIT_SELLER_AGREE")),
            actor=CONNECTOR,
        )
        assert [(d.trigger, d.state) for d in result.transitions] == [
            ("request_refund_only", "after_sale.refund_only")
        ]
        assert [e.type for e in result.events] == [TRANSITIONED, LINES_HELD]
        assert result.order.attribute(DO_NOT_SHIP) == [FIRST_LINE, SECOND_LINE]

    def test_a_closed_refund_releases_the_line(self) -> None:
        lifecycle = default_lifecycle()
        order = taobao_two_lines("WAIT_SELLER_SEND_GOODS", ("NO_REFUND", "NO_REFUND")).evolve(
            status="paid"
        )
        held = follow(
            lifecycle,
            order,
            taobao_two_lines("WAIT_SELLER_SEND_GOODS", ("NO_REFUND", "WAIT_SELLER_AGREE")),
            actor=CONNECTOR,
        ).order
        released = follow(
            lifecycle,
            held,
            taobao_two_lines("WAIT_SELLER_SEND_GOODS", ("NO_REFUND", "CLOSED")),
            actor=CONNECTOR,
        )
        assert released.order.attribute(DO_NOT_SHIP) is None
        assert released.do_not_ship == ()
        second = released.order.lines[1]
        assert second.attributes[LINE_AFTER_SALE].value == "closed"
        assert HOLD_QUANTITY not in second.attributes


class TestStored:
    def test_one_version_several_events_one_outbox_message(self, store: SQLiteStore) -> None:
        lifecycle = default_lifecycle()
        order = store.put(pdd(1))
        before = len(store.events(order.id))
        result = follow_channel(lifecycle, store, order, pdd(2), actor=CONNECTOR, now=NOW)
        stored = store.get(order.id)
        assert stored == result.order
        assert (stored.version, stored.status) == (order.version + 1, S.SHIPPED)
        events = store.events(order.id)[before:]
        assert [e.data["trigger"] for e in events] == ["allocate", "pick", "pack", "ship"]
        assert [e.event_id for e in events] == [e.event_id for e in result.events]
        assert {e.order_version for e in events} == {stored.version}
        assert_legal(lifecycle, events)
        messages = outbox_of(store, order.id)
        assert [m["version"] for m in messages] == [1, 2]  # one message per stored change
        assert [e["event_id"] for e in messages[1]["events"]] == [e.event_id for e in events]
        assert store.integrity_check() == []

    def test_main_is_read_from_the_stored_events(self, store: SQLiteStore) -> None:
        """After-sale then 'refund closed': fulfilment resumes where it stood (paid)."""
        lifecycle = default_lifecycle()
        order = store.put(pdd(1))
        refund = follow_channel(lifecycle, store, order, pdd(1, 2), actor=CONNECTOR)
        assert refund.order.status is S.AFTER_SALE
        # without main, an after-sale cannot tell where fulfilment stood
        assert follow(lifecycle, refund.order, pdd(1), actor=CONNECTOR).ignored is (
            SkipReason.AFTER_SALE_OPEN
        )
        closed = follow_channel(lifecycle, store, refund.order, pdd(1), actor=CONNECTOR)
        assert [d.trigger for d in closed.transitions] == ["withdraw_refund"]
        assert store.get(order.id).status is S.PAID

    def test_a_blocked_refund_alerts_and_changes_nothing(self, store: SQLiteStore) -> None:
        """D9: the platform's refund on a packed order whose stock is not locked."""
        lifecycle = default_lifecycle()
        order = store.put(taobao_two_lines("WAIT_SELLER_SEND_GOODS", ("NO_REFUND", "NO_REFUND")))
        order = store.update(order.evolve(status="paid"), actor=CONNECTOR)
        for trigger in ("allocate", "pick", "pack"):
            order = lifecycle.transition(store, order, trigger, actor=CONNECTOR).order
        refund = taobao_two_lines(
            "WAIT_SELLER_SEND_GOODS", ("WAIT_SELLER_AGREE", "WAIT_SELLER_AGREE")
        )
        result = follow_channel(lifecycle, store, order, refund, actor=CONNECTOR, now=NOW)
        assert result.blocked is not None
        assert (result.blocked.trigger, result.blocked.guard) == (
            "request_refund_only",
            "stock_locked",
        )
        stored = store.get(order.id)
        assert (stored.status, stored.node) == (S.PACKED, "awaiting_outbound")
        assert not any(e.type == TRANSITIONED and e.at == NOW for e in store.events(order.id))
        (alert,) = [e for e in store.events(order.id) if e.type == BLOCKED]
        assert alert.data["notify"] == "warehouse_lead"
        assert alert.data["channel"] == "taobao"
        # both lines are held even though the order could not move
        assert stored.attribute(DO_NOT_SHIP) == [FIRST_LINE, SECOND_LINE]
        assert stored.version == order.version + 1
        # with the stock known to be locked, the same update is followed
        unlocked = follow_channel(
            lifecycle, store, stored, refund, actor=CONNECTOR, facts={"stock_locked": True}
        )
        assert [d.trigger for d in unlocked.transitions] == ["request_refund_only"]
        assert store.integrity_check() == []

    def test_no_legal_route_is_recorded_not_faked(self, store: SQLiteStore) -> None:
        """A lifecycle reaching after_sale only through delivered does not fake a delivery."""
        lifecycle = Lifecycle(
            {
                "name": "small",
                "initial": ["paid"],
                "states": {"paid": {}, "shipped": {}, "delivered": {}, "after_sale": {}},
                "transitions": [
                    {"trigger": "ship", "sources": "paid", "dest": "shipped"},
                    {"trigger": "deliver", "sources": "shipped", "dest": "delivered"},
                    {"trigger": "refund", "sources": "delivered", "dest": "after_sale"},
                ],
            }
        )
        order = store.put(pdd(1))
        order = follow_channel(lifecycle, store, order, pdd(2), actor=CONNECTOR).order
        assert order.status is S.SHIPPED
        refund = map_channel_status("pdd", {"order_status": 2, "refund_status": 2})
        result = follow_channel(lifecycle, store, order, refund, actor=CONNECTOR)
        assert result.unfollowed is not None and "'shipped'" in result.unfollowed
        assert result.events == ()
        assert store.get(order.id).version == order.version
        (alert,) = [e for e in store.events(order.id) if e.type == UNFOLLOWED]
        assert (alert.from_status, alert.to_status) == (S.SHIPPED, S.AFTER_SALE)
        assert alert.data["channel_status"] == {
            "value": "2",
            "details": {"refund_status": "2"},
        }
        assert store.integrity_check() == []


class TestRefusals:
    def test_only_a_connector_follows_a_channel(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            follow(default_lifecycle(), pdd(1), pdd(2), actor=Actor(kind="person", id="s-1"))
        assert "connector" in caught.value.message

    def test_the_status_of_another_order_is_refused(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            follow(default_lifecycle(), pdd(1), channel_samples.jd_order(), actor=CONNECTOR)
        assert "another order" in caught.value.message

    def test_a_status_of_another_channel_is_refused(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            follow(
                default_lifecycle(), pdd(1), map_channel_status("jd", "FINISHED_L"), actor=CONNECTOR
            )
        assert "'jd'" in caught.value.message

    def test_result_type(self) -> None:
        result = follow(default_lifecycle(), pdd(1), pdd(1), actor=CONNECTOR)
        assert isinstance(result, ChannelFollow) and not result.changed


class TestAfterSaleOnShippedOrders:
    def test_a_refund_on_a_shipped_pdd_order_keeps_the_shipment(self) -> None:
        """PDD order_status 2 (shipped) with refund_status 2 seen first from paid: the shipment
        is walked through (implied), then the order enters after-sale from shipped."""
        lifecycle = default_lifecycle()
        order = pdd(1)
        assert order.status is OrderStatus.PAID
        result = follow(lifecycle, order, pdd(2, 2), actor=CONNECTOR, now=NOW)
        moves = [e for e in result.events if e.type == TRANSITIONED]
        assert_legal(lifecycle, moves)
        assert [e.data["trigger"] for e in moves] == [
            "allocate",
            "pick",
            "pack",
            "ship",
            "request_return_refund",
        ]
        assert [e.data["implied"] for e in moves] == [True, True, True, True, False]
        assert result.order.status is OrderStatus.AFTER_SALE
