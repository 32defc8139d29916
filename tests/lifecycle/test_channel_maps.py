"""Channel status maps: native statuses -> canonical ones, never backwards, line after-sale."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]
from hypothesis import given
from hypothesis import strategies as st

import channel_samples
from channel_samples import ALL_SAMPLES, fixture_text, parse_payload
from ordercore.errors import ConfigurationError, LifecycleSpecError
from ordercore.lifecycle._channel_maps import (
    DEFAULT_CHANNEL_MAPS,
    MAIN_LINE,
    ChannelStatusMap,
    LineAfterSaleState,
    SkipReason,
    StatusMapping,
    channel_maps,
    is_forward,
    load_channel_maps,
    map_channel_status,
    map_order_status,
    next_status,
    replay_statuses,
)
from ordercore.schema import ChannelStatus, Order, OrderStatus

S = OrderStatus
State = LineAfterSaleState

# -- what FORMATS.md lists, copied by hand ----------------------------------------------------

#: Main status field of each platform, every value FORMATS.md lists for it.
FORMATS_STATUSES: dict[str, set[str]] = {
    "taobao": {
        "TRADE_NO_CREATE_PAY",
        "WAIT_BUYER_PAY",
        "SELLER_CONSIGNED_PART",
        "WAIT_SELLER_SEND_GOODS",
        "WAIT_BUYER_CONFIRM_GOODS",
        "TRADE_BUYER_SIGNED",
        "TRADE_FINISHED",
        "TRADE_CLOSED",
        "TRADE_CLOSED_BY_TAOBAO",
        "PAY_PENDING",
        "WAIT_PRE_AUTH_CONFIRM",
        "PAID_FORBID_CONSIGN",
    },
    "jd": {
        "WAIT_SELLER_STOCK_OUT",
        "SEND_TO_DISTRIBUTION_CENER",
        "DISTRIBUTION_CENTER_RECEIVED",
        "WAIT_GOODS_RECEIVE_CONFIRM",
        "RECEIPTS_CONFIRM",
        "WAIT_SELLER_DELIVERY",
        "FINISHED_L",
        "TRADE_CANCELED",
        "LOCKED",
        "PAUSE",
        "POP_ORDER_PAUSE",
    },
    "pdd": {"1", "2", "3"},
    "douyin": {"1", "105", "2", "101", "3", "4", "5"},
    "youzan": {
        "WAIT_BUYER_PAY",
        "TRADE_PAID",
        "WAIT_CONFIRM",
        "WAIT_SELLER_SEND_GOODS",
        "WAIT_BUYER_CONFIRM_GOODS",
        "TRADE_SUCCESS",
        "TRADE_CLOSED",
    },
    "wechat_channels": {"10", "12", "13", "17", "20", "21", "30", "100", "200", "250"},
    "xiaohongshu": {"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"},
    "woocommerce": {
        "pending",
        "processing",
        "on-hold",
        "completed",
        "cancelled",
        "refunded",
        "failed",
        "trash",
    },
}

#: The other status fields FORMATS.md lists whose values combine with the main one.
FORMATS_DETAILS: dict[tuple[str, str], set[str]] = {
    ("pdd", "refund_status"): {"1", "2", "3", "4"},
    ("pdd", "confirm_status"): {"0", "1", "2"},
    ("pdd", "group_status"): {"0", "1", "2"},
    ("pdd", "risk_control_status"): {"0", "1"},
    ("douyin", "main_status"): {
        "1",
        "103",
        "105",
        "2",
        "101",
        "3",
        "4",
        "5",
        "21",
        "22",
        "39",
    },
    ("taobao", "step_trade_status"): {
        "FRONT_NOPAID_FINAL_NOPAID",
        "FRONT_PAID_FINAL_NOPAID",
        "FRONT_PAID_FINAL_PAID",
    },
    ("youzan", "refund_state"): {"0", "1", "2", "11", "12"},
    ("xiaohongshu", "orderAfterSalesStatus"): {"1", "2", "3", "4", "5", "6", "7"},
}

#: Line-level after-sale values FORMATS.md lists.
FORMATS_LINE_STATES: dict[str, set[str]] = {
    "taobao": {
        "WAIT_SELLER_AGREE",
        "WAIT_BUYER_RETURN_GOODS",
        "WAIT_SELLER_CONFIRM_GOODS",
        "SELLER_REFUSE_BUYER",
        "CLOSED",
        "SUCCESS",
        "NO_REFUND",
    },
    "douyin": {"0", "6", "7", "27", "12", "28", "11", "29", "13", "14", "51", "53"},
    "pdd": {"1", "2", "3", "4"},
    "youzan": {"0", "1", "2", "11", "12"},
    "xiaohongshu": {"1", "2", "3", "4", "5", "6", "7"},
}


def _packaged() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_CHANNEL_MAPS.read_text(encoding="utf-8"))
    return data


#: What each sample maps to: channel_samples' status, and the node the maps give it.
SAMPLE_STATUSES: dict[str, tuple[OrderStatus, str | None]] = {
    "taobao": (S.COMPLETED, None),
    "taobao_closed": (S.CANCELLED, "closed_unpaid"),
    "jd": (S.PAID, None),
    "pdd": (S.PAID, None),
    "douyin": (S.AFTER_SALE, "refund_requested"),
    "youzan": (S.CANCELLED, "refunded_in_full"),
    "wechat_channels": (S.AFTER_SALE, "after_sale_requested"),
    "xiaohongshu": (S.PENDING_PAYMENT, None),
    "shopify": (S.PAID, None),
    "woocommerce": (S.PAID, None),
}


class TestSamplePayloads:
    """Every sample payload maps to the status tests/channel_samples.py gives it."""

    def test_every_sample_is_listed(self) -> None:
        """The table below covers every sample the mapping module has."""
        assert set(SAMPLE_STATUSES) == set(ALL_SAMPLES)

    @pytest.mark.parametrize("name", sorted(SAMPLE_STATUSES))
    def test_sample_maps_to_the_status_of_the_sample_mapping(self, name: str) -> None:
        """Status equals channel_samples' status; status and node are exactly as listed."""
        order = ALL_SAMPLES[name]()
        result = map_order_status(order)
        status, node = SAMPLE_STATUSES[name]
        assert result.status is order.status
        assert (result.status, result.node) == (status, node)
        assert result.channel_mapping.native == order.channel_status
        assert result.channel_mapping.known

    def test_douyin_sample_enters_after_sale_from_its_only_line(self) -> None:
        """The order says shipped; its single, shipped line has a refund applied for."""
        result = map_order_status(ALL_SAMPLES["douyin"]())
        assert result.channel_mapping.status is S.SHIPPED
        assert [(ln.state, ln.native) for ln in result.lines] == [(State.OPEN, "6")]
        assert result.after_sale_covers_order
        assert result.do_not_ship == ()


class TestCoverage:
    """The packaged YAML lists exactly what FORMATS.md lists, spelled the same."""

    @pytest.mark.parametrize("channel", sorted(FORMATS_STATUSES))
    def test_yaml_lists_every_native_status(self, channel: str) -> None:
        statuses = set(_packaged()["channels"][channel]["statuses"])
        assert statuses == FORMATS_STATUSES[channel]
        assert set(channel_maps().native_statuses(channel)) == FORMATS_STATUSES[channel]

    @pytest.mark.parametrize(("channel", "field"), sorted(FORMATS_DETAILS))
    def test_yaml_lists_every_combined_field_value(self, channel: str, field: str) -> None:
        values = {str(v) for v in _packaged()["channels"][channel]["details"][field]}
        assert values == FORMATS_DETAILS[(channel, field)]
        assert set(channel_maps().detail_values(channel, field)) == values

    @pytest.mark.parametrize("channel", sorted(FORMATS_LINE_STATES))
    def test_yaml_lists_every_line_after_sale_value(self, channel: str) -> None:
        values = set(_packaged()["channels"][channel]["lines"]["states"])
        assert values == FORMATS_LINE_STATES[channel]

    @pytest.mark.parametrize(
        ("channel", "table"),
        [
            ("taobao", channel_samples.TAOBAO_STATUS),
            ("jd", channel_samples.JD_STATUS),
            ("pdd", channel_samples.PDD_STATUS),
            ("douyin", channel_samples.DOUYIN_STATUS),
            ("youzan", channel_samples.YOUZAN_STATUS),
            ("wechat_channels", channel_samples.WECHAT_STATUS),
            ("xiaohongshu", channel_samples.XHS_STATUS),
            ("shopify", channel_samples.SHOPIFY_FINANCIAL_STATUS),
            ("woocommerce", channel_samples.WOOCOMMERCE_STATUS),
        ],
    )
    def test_main_values_agree_with_the_sample_mapping(
        self, channel: str, table: dict[str, OrderStatus]
    ) -> None:
        """Each main value alone maps as tests/channel_samples.py maps it."""
        assert set(table) == set(channel_maps().native_statuses(channel))
        for value, status in table.items():
            assert map_channel_status(channel, value).status is status, value


class TestPinduoduoCombinations:
    """Pinduoduo's order_status combined with refund_status, every pair."""

    @pytest.mark.parametrize(
        ("order_status", "refund_status", "status", "node"),
        [
            ("1", "1", S.PAID, None),
            ("1", "2", S.AFTER_SALE, "after_sale_requested"),
            ("1", "3", S.AFTER_SALE, "refunding"),
            ("1", "4", S.CANCELLED, "refunded_before_shipping"),
            ("2", "1", S.SHIPPED, None),
            ("2", "2", S.AFTER_SALE, "after_sale_requested"),
            ("2", "3", S.AFTER_SALE, "refunding"),
            ("2", "4", S.AFTER_SALE, "refunded"),
            ("3", "1", S.COMPLETED, None),
            ("3", "2", S.AFTER_SALE, "after_sale_requested"),
            ("3", "3", S.AFTER_SALE, "refunding"),
            ("3", "4", S.AFTER_SALE, "refunded"),
        ],
    )
    def test_pair(
        self, order_status: str, refund_status: str, status: OrderStatus, node: str | None
    ) -> None:
        mapping = map_channel_status(
            "pdd", {"order_status": int(order_status), "refund_status": int(refund_status)}
        )
        assert (mapping.status, mapping.node) == (status, node)
        assert mapping.base_status is channel_samples.PDD_STATUS[order_status]
        assert mapping.implied_from == (None if refund_status == "1" else "refund_status")


class TestMapChannelStatus:
    def test_forms_of_a_status_agree(self) -> None:
        """ChannelStatus, its dict shape, native fields and value+details map alike."""
        forms: list[Any] = [
            ChannelStatus(value="2", details={"main_status": "21"}),
            {"value": "2", "details": {"main_status": "21"}},
            {"order_status": 2, "main_status": 21},
        ]
        results = [map_channel_status("douyin", form) for form in forms]
        results.append(map_channel_status("douyin", "2", details={"main_status": 21}))
        assert {(r.status, r.node, r.implied_from) for r in results} == {
            (S.CANCELLED, "refunded_before_shipping", "main_status")
        }
        assert [r.native for r in results] == [
            ChannelStatus(value="2", details={"main_status": "21"})
        ] * len(results)

    def test_alias_names_the_same_map(self) -> None:
        mapping = map_channel_status("tmall", "WAIT_SELLER_SEND_GOODS")
        assert (mapping.channel, mapping.status) == ("taobao", S.PAID)

    def test_taobao_presale_balance_due(self) -> None:
        mapping = map_channel_status(
            "taobao", "WAIT_BUYER_PAY", details={"step_trade_status": "FRONT_PAID_FINAL_NOPAID"}
        )
        assert (mapping.status, mapping.node) == (S.PENDING_PAYMENT, "balance_due")
        assert mapping.implied_from == "step_trade_status"

    def test_youzan_closed_on_timeout(self) -> None:
        mapping = map_channel_status("youzan", {"status": "TRADE_CLOSED", "close_type": 1})
        assert (mapping.status, mapping.node) == (S.CANCELLED, "payment_timeout")

    def test_unknown_native_value_is_reported_not_raised(self) -> None:
        """known=False, no status, the raw status kept."""
        mapping = map_channel_status("jd", "SOMETHING_NEW", details={"orderStateRemark": "x"})
        assert (mapping.known, mapping.status, mapping.node) == (False, None, None)
        assert mapping.native == ChannelStatus(
            value="SOMETHING_NEW", details={"orderStateRemark": "x"}
        )

    def test_unknown_detail_value_is_listed(self) -> None:
        mapping = map_channel_status("pdd", {"order_status": "1", "refund_status": "9"})
        assert (mapping.status, mapping.unknown_details) == (S.PAID, ("refund_status",))

    def test_unknown_channel_raises_configuration_error(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            map_channel_status("amazon", "Shipped")
        assert "'amazon'" in caught.value.message
        assert "taobao" in caught.value.message

    def test_native_fields_without_the_main_field_raise(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            map_channel_status("pdd", {"refund_status": 2})
        assert "'order_status'" in caught.value.message

    def test_a_value_that_is_not_text_or_a_number_raises(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            map_channel_status("pdd", {"order_status": 1, "refund_status": True})
        assert "refund_status" in caught.value.message


def _mapping(channel: str, value: str, **details: str) -> StatusMapping:
    return map_channel_status(channel, value, details=details)


class TestNextStatus:
    def test_jump_reports_the_statuses_between(self) -> None:
        step = next_status(S.PAID, S.SHIPPED)
        assert (step.status, step.implied, step.ignored) == (
            S.SHIPPED,
            (S.ALLOCATED, S.PICKING, S.PACKED),
            None,
        )

    def test_jump_from_unpaid_to_completed(self) -> None:
        step = next_status(S.PENDING_PAYMENT, _mapping("pdd", "3"))
        assert step.implied == (
            S.PAID,
            S.ALLOCATED,
            S.PICKING,
            S.PACKED,
            S.SHIPPED,
            S.IN_TRANSIT,
            S.DELIVERED,
        )

    def test_paid_after_shipped_changes_nothing(self) -> None:
        step = next_status(S.SHIPPED, _mapping("taobao", "WAIT_SELLER_SEND_GOODS"))
        assert (step.status, step.changed, step.ignored) == (
            S.SHIPPED,
            False,
            SkipReason.BACKWARDS,
        )
        assert not is_forward(S.SHIPPED, S.PAID)
        assert is_forward(S.PAID, S.SHIPPED)

    def test_repeat_changes_nothing(self) -> None:
        step = next_status(S.SHIPPED, S.SHIPPED)
        assert (step.changed, step.ignored) == (False, SkipReason.REPEATED)

    def test_a_word_that_is_no_status_raises(self) -> None:
        with pytest.raises(ConfigurationError) as caught:
            next_status(S.PAID, "sent")  # type: ignore[arg-type]
        assert "'sent' is not a canonical order status" in caught.value.message
        assert next_status("paid", "shipped").status is S.SHIPPED  # type: ignore[arg-type]

    def test_unknown_status_changes_nothing(self) -> None:
        step = next_status(S.PAID, _mapping("jd", "SOMETHING_NEW"))
        assert (step.status, step.ignored) == (S.PAID, SkipReason.UNKNOWN)

    def test_taobao_sequence_with_a_late_and_a_repeated_update(self) -> None:
        updates = [
            _mapping("taobao", value)
            for value in (
                "WAIT_BUYER_PAY",
                "WAIT_SELLER_SEND_GOODS",
                "WAIT_BUYER_CONFIRM_GOODS",
                "WAIT_SELLER_SEND_GOODS",  # late
                "WAIT_BUYER_CONFIRM_GOODS",  # repeated
                "TRADE_FINISHED",
            )
        ]
        steps = replay_statuses(S.PENDING_PAYMENT, updates)
        assert [(s.status, s.implied, s.ignored) for s in steps] == [
            (S.PENDING_PAYMENT, (), SkipReason.REPEATED),
            (S.PAID, (), None),
            (S.SHIPPED, (S.ALLOCATED, S.PICKING, S.PACKED), None),
            (S.SHIPPED, (), SkipReason.BACKWARDS),
            (S.SHIPPED, (), SkipReason.REPEATED),
            (S.COMPLETED, (S.IN_TRANSIT, S.DELIVERED), None),
        ]

    def test_cancelled_is_final(self) -> None:
        steps = replay_statuses(S.PAID, [S.CANCELLED, S.SHIPPED, S.AFTER_SALE, S.PAID])
        assert [(s.status, s.ignored) for s in steps] == [
            (S.CANCELLED, None),
            (S.CANCELLED, SkipReason.CLOSED),
            (S.CANCELLED, SkipReason.CLOSED),
            (S.CANCELLED, SkipReason.CLOSED),
        ]

    def test_cancelled_after_shipping_implies_after_sale(self) -> None:
        assert next_status(S.SHIPPED, S.CANCELLED).implied == (S.AFTER_SALE,)
        assert next_status(S.PAID, S.CANCELLED).implied == ()
        assert next_status(S.AFTER_SALE, S.CANCELLED).implied == ()

    def test_after_sale_ends_where_fulfilment_stood(self) -> None:
        """main is carried: the after-sale closes back to shipped, never to paid."""
        steps = replay_statuses(S.SHIPPED, [S.AFTER_SALE, S.PAID, S.SHIPPED, S.COMPLETED])
        assert [(s.status, s.implied, s.ignored) for s in steps] == [
            (S.AFTER_SALE, (), None),
            (S.AFTER_SALE, (), SkipReason.BACKWARDS),
            (S.SHIPPED, (), None),
            (S.COMPLETED, (S.IN_TRANSIT, S.DELIVERED), None),
        ]

    def test_after_sale_with_unknown_fulfilment_only_ends_completed_or_cancelled(self) -> None:
        assert next_status(S.AFTER_SALE, S.SHIPPED).ignored is SkipReason.AFTER_SALE_OPEN
        assert next_status(S.AFTER_SALE, S.COMPLETED).status is S.COMPLETED
        assert next_status(S.AFTER_SALE, S.CANCELLED).status is S.CANCELLED

    def test_refund_on_an_unpaid_order_implies_paid(self) -> None:
        step = next_status(S.PENDING_PAYMENT, S.AFTER_SALE)
        assert (step.status, step.implied, step.main) == (S.AFTER_SALE, (S.PAID,), S.PAID)

    def test_hold_only_before_goods_leave(self) -> None:
        paused = _mapping("jd", "PAUSE")
        held = next_status(S.PACKED, paused)
        assert (held.status, held.node, held.main) == (S.UNDER_REVIEW, "channel_paused", S.PACKED)
        assert next_status(S.SHIPPED, paused).ignored is SkipReason.BACKWARDS
        released = next_status(S.UNDER_REVIEW, S.SHIPPED, main=S.PACKED)
        assert (released.status, released.implied) == (S.SHIPPED, ())
        assert next_status(S.UNDER_REVIEW, S.PAID, main=S.PACKED).ignored is SkipReason.BACKWARDS
        assert next_status(S.UNDER_REVIEW, S.SHIPPED).implied == (
            S.ALLOCATED,
            S.PICKING,
            S.PACKED,
        )

    def test_node_of_the_channel_is_cleared_own_nodes_stay(self) -> None:
        """Part shipped -> all shipped clears partially_shipped; logistics_stuck stays."""
        part = _mapping("taobao", "SELLER_CONSIGNED_PART")
        whole = _mapping("taobao", "WAIT_BUYER_CONFIRM_GOODS")
        step = next_status(S.PAID, part)
        assert (step.status, step.node) == (S.SHIPPED, "partially_shipped")
        cleared = next_status(S.SHIPPED, whole, node="partially_shipped")
        assert (cleared.node, cleared.changed, cleared.moved) == (None, True, False)
        kept = next_status(S.SHIPPED, whole, node="logistics_stuck")
        assert (kept.node, kept.ignored) == ("logistics_stuck", SkipReason.REPEATED)

    @given(st.lists(st.sampled_from(list(OrderStatus)), max_size=25))
    def test_random_sequences_never_go_backwards(self, updates: list[OrderStatus]) -> None:
        """Main-line rank never drops, cancelled is final, implied statuses are contiguous."""
        rank = {status: index for index, status in enumerate(MAIN_LINE)}
        steps = replay_statuses(S.PENDING_PAYMENT, updates)
        furthest = 0
        for update, step in zip(updates, steps, strict=True):
            if step.previous is S.CANCELLED:
                assert step.status is S.CANCELLED
            if step.status in rank:
                assert rank[step.status] >= furthest or step.previous not in rank
                if step.previous in rank:
                    assert rank[step.status] >= rank[step.previous]
            if step.main is not None:
                assert rank[step.main] >= furthest
                furthest = rank[step.main]
            if step.moved:
                assert step.status is update
                on_line = [s for s in step.implied if s in rank]
                assert on_line == sorted(on_line, key=rank.__getitem__)
            else:
                assert step.implied == ()


def _write_maps(tmp_path: Path, old: str, new: str) -> Path:
    text = DEFAULT_CHANNEL_MAPS.read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / "maps.yaml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def _line_of(path: Path, needle: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, start=1) if needle in line)


class TestMapFileErrors:
    def test_packaged_maps_load_and_are_cached(self) -> None:
        assert channel_maps() is channel_maps()
        assert set(channel_maps().channels) >= set(FORMATS_STATUSES)

    def test_bad_status_names_file_line_channel_and_entry(self, tmp_path: Path) -> None:
        path = _write_maps(
            tmp_path,
            '"2": {status: shipped, meaning: "shipped, awaiting receipt"}',
            '"2": {status: sent, meaning: "shipped, awaiting receipt"}',
        )
        with pytest.raises(LifecycleSpecError) as caught:
            load_channel_maps(path)
        error = caught.value
        assert error.source == str(path)
        assert error.field == "channels.pdd.statuses.2.status"
        assert error.line == _line_of(path, "status: sent")
        assert f"{path}, line {error.line}" in error.message
        assert "channel 'pdd', entry statuses.2.status" in error.message

    def test_combination_with_an_undeclared_value(self, tmp_path: Path) -> None:
        path = _write_maps(tmp_path, '- when: {main_status: "39"}', '- when: {main_status: "40"}')
        with pytest.raises(LifecycleSpecError) as caught:
            load_channel_maps(path)
        error = caught.value
        assert error.field == "channels.douyin.combinations.2.when.main_status"
        assert error.line == _line_of(path, 'main_status: "40"')
        assert "value '40' of 'main_status' is not declared" in error.message

    def test_combination_with_an_undeclared_field(self, tmp_path: Path) -> None:
        path = _write_maps(
            tmp_path, "- when: {fulfillment_status: restocked}", "- when: {restock: restocked}"
        )
        with pytest.raises(LifecycleSpecError) as caught:
            load_channel_maps(path)
        assert caught.value.field == "channels.shopify.combinations.2.when.restock"
        assert "channel 'shopify'" in caught.value.message

    def test_duplicate_native_status(self, tmp_path: Path) -> None:
        path = _write_maps(
            tmp_path,
            '      "3": {status: completed, meaning: "received"}',
            '      "3": {status: completed, meaning: "received"}\n'
            '      "3": {status: shipped, meaning: "again"}',
        )
        with pytest.raises(LifecycleSpecError) as caught:
            load_channel_maps(path)
        assert caught.value.field == "channels.pdd.statuses.3"
        assert caught.value.line == _line_of(path, 'meaning: "again"')
        assert "is given twice" in caught.value.message

    def test_bad_node_name(self, tmp_path: Path) -> None:
        path = _write_maps(tmp_path, "node: channel_locked", "node: Channel-Locked")
        with pytest.raises(LifecycleSpecError) as caught:
            load_channel_maps(path)
        assert caught.value.field == "channels.jd.statuses.LOCKED.node"
        assert caught.value.line == _line_of(path, "Channel-Locked")

    def test_alias_taken_by_another_channel(self, tmp_path: Path) -> None:
        path = _write_maps(tmp_path, "aliases: [tmall]", "aliases: [jd]")
        with pytest.raises(LifecycleSpecError) as caught:
            load_channel_maps(path)
        assert caught.value.field == "channels.taobao.aliases.0"
        assert "alias 'jd' is already 'jd'" in caught.value.message

    def test_line_counts_without_open_field(self, tmp_path: Path) -> None:
        path = _write_maps(tmp_path, "      open_field: on_aftersale_sku_cnt\n", "")
        with pytest.raises(LifecycleSpecError) as caught:
            load_channel_maps(path)
        assert caught.value.field == "channels.wechat_channels.lines"
        assert "needs open_field" in caught.value.message

    def test_unknown_key_in_an_entry(self, tmp_path: Path) -> None:
        path = _write_maps(tmp_path, "value_field: orderState", "value_feild: orderState")
        with pytest.raises(LifecycleSpecError) as caught:
            load_channel_maps(path)
        assert caught.value.field is not None
        assert caught.value.field.startswith("channels.jd.")
        assert "channel 'jd'" in caught.value.message

    def test_yaml_syntax_error_names_the_line(self, tmp_path: Path) -> None:
        path = _write_maps(tmp_path, "  jd:\n", "  jd: [\n")
        with pytest.raises(LifecycleSpecError) as caught:
            load_channel_maps(path)
        assert caught.value.source == str(path)
        assert caught.value.line is not None
        assert "not valid YAML" in caught.value.message

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(LifecycleSpecError) as caught:
            load_channel_maps(tmp_path / "absent.yaml")
        assert caught.value.source == str(tmp_path / "absent.yaml")
        assert "cannot read" in caught.value.message

    def test_dict_errors_name_the_entry_without_a_line(self) -> None:
        data = _packaged()
        data["channels"]["jd"]["statuses"]["LOCKED"]["status"] = "frozen"
        with pytest.raises(LifecycleSpecError) as caught:
            ChannelStatusMap.from_dict(data)
        assert (caught.value.source, caught.value.line) == ("<dict>", None)
        assert caught.value.field == "channels.jd.statuses.LOCKED.status"

    def test_wrong_format_version(self) -> None:
        with pytest.raises(LifecycleSpecError) as caught:
            ChannelStatusMap.from_yaml("format: 2\nchannels: {}\n", source="mine.yaml")
        assert (caught.value.field, caught.value.line) == ("format", 1)

    def test_a_seller_file_replaces_the_map(self, tmp_path: Path) -> None:
        path = _write_maps(
            tmp_path,
            "      PAUSE: {status: under_review, node: channel_paused",
            "      PAUSE: {status: under_review, node: seller_hold",
        )
        maps = load_channel_maps(path)
        assert map_channel_status("jd", "PAUSE", maps=maps).node == "seller_hold"
        assert map_channel_status("jd", "PAUSE").node == "channel_paused"


# -- line-level after-sale ---------------------------------------------------------------------


def _taobao_two_lines(trade_status: str, lines: list[tuple[str, str, str | None]]) -> Order:
    """The real Taobao payload with sub-orders (status, refund_status, tracking no) of choice."""
    payload = parse_payload(fixture_text("taobao_order.json"))
    trade = payload["trade_fullinfo_get_response"]["trade"]
    trade["status"] = trade_status
    template = trade["orders"]["order"][0]
    subs = []
    for index, (status, refund_status, tracking) in enumerate(lines):
        sub = copy.deepcopy(template)
        sub["oid"] = 518073718172548 + index
        sub["status"] = status
        sub["refund_status"] = refund_status
        if refund_status != "NO_REFUND":
            sub["refund_id"] = 9000 + index
        if tracking is None:
            for key in ("invoice_no", "logistics_company", "consign_time", "end_time"):
                sub.pop(key, None)
        else:
            sub["invoice_no"] = tracking
        subs.append(sub)
    trade["orders"]["order"] = subs
    return channel_samples.map_taobao(payload, raw_text=json.dumps(payload, default=str))


def _edited(
    fixture: str, mapper: Callable[..., Any], edit: Callable[[dict[str, Any]], None]
) -> Order:
    payload = parse_payload(fixture_text(fixture))
    edit(payload)
    result = mapper(payload, raw_text=json.dumps(payload, default=str))
    order: Order = result[0] if isinstance(result, list) else result
    return order


class TestLineAfterSale:
    def test_shopify_fulfilled_order_counts_every_line_shipped(self) -> None:
        """fulfillment_status decides shipping even though the main value is financial."""
        order = _edited(
            "shopify_order.json",
            channel_samples.map_shopify,
            lambda payload: payload["order"].update(fulfillment_status="fulfilled"),
        )
        result = map_order_status(order)
        assert result.status is S.SHIPPED
        assert all(ln.unshipped_quantity == 0 for ln in result.lines)

    def test_one_refunded_line_of_two_keeps_the_order_in_fulfilment(self) -> None:
        """A refund asked for one sub-order: the order stays paid, that line is held."""
        order = _taobao_two_lines(
            "WAIT_SELLER_SEND_GOODS",
            [
                ("WAIT_SELLER_SEND_GOODS", "NO_REFUND", None),
                ("WAIT_SELLER_SEND_GOODS", "WAIT_SELLER_AGREE", None),
            ],
        )
        assert order.status is S.AFTER_SALE  # the sample mapping's whole-order rule
        result = map_order_status(order)
        assert (result.status, result.node) == (S.PAID, None)
        assert [(ln.line_id, ln.state, ln.node) for ln in result.lines] == [
            ("518073718172548", State.NONE, None),
            ("518073718172549", State.OPEN, "refund_requested"),
        ]
        assert result.do_not_ship == ("518073718172549",)
        assert not result.after_sale_covers_order
        assert [ln.to_ship_quantity for ln in result.lines] == [2, 0]

    def test_refund_on_every_line_moves_the_order(self) -> None:
        order = _taobao_two_lines(
            "WAIT_SELLER_SEND_GOODS",
            [
                ("WAIT_SELLER_SEND_GOODS", "WAIT_SELLER_AGREE", None),
                ("WAIT_SELLER_SEND_GOODS", "WAIT_BUYER_RETURN_GOODS", None),
            ],
        )
        result = map_order_status(order)
        assert (result.status, result.node) == (S.AFTER_SALE, "refund_requested")
        assert result.after_sale_covers_order
        assert result.do_not_ship == ("518073718172548", "518073718172549")

    def test_refund_covering_what_is_left_after_a_partial_shipment(self) -> None:
        """One line shipped, the other's refund open: nothing left to ship -> after-sale."""
        order = _taobao_two_lines(
            "SELLER_CONSIGNED_PART",
            [
                ("WAIT_BUYER_CONFIRM_GOODS", "NO_REFUND", "550281136794"),
                ("WAIT_SELLER_SEND_GOODS", "WAIT_SELLER_AGREE", None),
            ],
        )
        result = map_order_status(order)
        assert result.channel_mapping.status is S.SHIPPED
        assert [ln.shipped_quantity for ln in result.lines] == [2, 0]
        assert (result.status, result.do_not_ship) == (S.AFTER_SALE, ("518073718172549",))

    def test_refund_on_the_shipped_line_of_a_partial_shipment(self) -> None:
        """The unshipped line still ships: the order stays shipped (in part)."""
        order = _taobao_two_lines(
            "SELLER_CONSIGNED_PART",
            [
                ("WAIT_BUYER_CONFIRM_GOODS", "WAIT_SELLER_AGREE", "550281136794"),
                ("WAIT_SELLER_SEND_GOODS", "NO_REFUND", None),
            ],
        )
        result = map_order_status(order)
        assert (result.status, result.node) == (S.SHIPPED, "partially_shipped")
        assert result.do_not_ship == ()
        assert result.lines[0].state is State.OPEN

    def test_closed_refund_ships_as_usual(self) -> None:
        order = _taobao_two_lines(
            "WAIT_SELLER_SEND_GOODS",
            [
                ("WAIT_SELLER_SEND_GOODS", "CLOSED", None),
                ("WAIT_SELLER_SEND_GOODS", "NO_REFUND", None),
            ],
        )
        result = map_order_status(order)
        assert (result.status, result.do_not_ship) == (S.PAID, ())
        assert result.lines[0].state is State.CLOSED

    def test_douyin_one_sku_order_of_two_in_after_sale(self) -> None:
        def edit(payload: dict[str, Any]) -> None:
            shop_order = payload["data"]["shop_order_list"][0]
            shop_order.update(order_status=2, main_status=2, logistics_info=[])
            first = shop_order["sku_order_list"][0]
            second = copy.deepcopy(first)
            second["order_id"] = "4781320682406083641"
            first.update(order_status=2, main_status=2)
            second.update(order_status=2, main_status=2)
            first["after_sale_info"] = {"after_sale_status": 0}
            shop_order["sku_order_list"].append(second)

        order = _edited("douyin_order.json", channel_samples.map_douyin, edit)
        result = map_order_status(order)
        assert (result.status, result.node) == (S.PAID, None)
        assert result.do_not_ship == ("4781320682406083641",)
        assert [ln.state for ln in result.lines] == [State.NONE, State.OPEN]

    def test_youzan_partial_refund_of_one_line(self) -> None:
        """refund_state 1 (partial refund) names one oid of two: the order stays paid."""

        def edit(payload: dict[str, Any]) -> None:
            data = payload["data"]
            info = data["full_order_info"]["order_info"]
            info.update(status="WAIT_SELLER_SEND_GOODS", refund_state=1, close_type=0)
            data["refund_order"] = data["refund_order"][:1]
            data["delivery_order"] = []

        order = _edited("youzan_order.json", channel_samples.map_youzan, edit)
        result = map_order_status(order)
        assert result.channel_mapping.status is S.AFTER_SALE
        assert (result.status, result.node) == (S.PAID, None)
        assert result.do_not_ship == ("1507387350277163963",)
        assert [ln.state for ln in result.lines] == [State.OPEN, State.NONE]

    def test_xiaohongshu_order_after_sale_on_one_sku(self) -> None:
        def edit(payload: dict[str, Any]) -> None:
            data = payload["data"]
            data.update(orderStatus=4, orderAfterSalesStatus=2)
            first = data["skuList"][0]
            second = copy.deepcopy(first)
            second["skuId"] = "603c****0b0b"
            first["skuAfterSaleStatus"] = 2
            data["skuList"].append(second)

        order = _edited("xiaohongshu_order.json", channel_samples.map_xiaohongshu, edit)
        result = map_order_status(order)
        assert result.channel_mapping.status is S.AFTER_SALE
        assert (result.status, result.do_not_ship) == (S.PAID, ("603c****0b0a",))

    def test_wechat_units_in_after_sale(self) -> None:
        """3 of 10 units in an open after-sale, none shipped: hold 3, ship 7."""

        def edit(payload: dict[str, Any]) -> None:
            order = payload["order"]
            order["order_detail"]["product_infos"][0]["on_aftersale_sku_cnt"] = 3
            order["order_detail"]["delivery_info"]["delivery_product_info"] = []

        order = _edited("wechat_channels_order.json", channel_samples.map_wechat_channels, edit)
        result = map_order_status(order)
        (line,) = result.lines
        assert (line.state, line.hold_quantity, line.to_ship_quantity) == (State.OPEN, 3, 7)
        assert (result.status, result.do_not_ship) == (S.PAID, ("23424",))

    def test_unknown_line_value_holds_the_line_but_not_the_order(self) -> None:
        order = _taobao_two_lines(
            "WAIT_SELLER_SEND_GOODS",
            [
                ("WAIT_SELLER_SEND_GOODS", "SOMETHING_NEW", None),
                ("WAIT_SELLER_SEND_GOODS", "SOMETHING_NEW", None),
            ],
        )
        result = map_order_status(order)
        assert [ln.state for ln in result.lines] == [State.UNKNOWN, State.UNKNOWN]
        assert result.status is S.PAID
        assert result.do_not_ship == ("518073718172548", "518073718172549")

    def test_effective_mapping_feeds_next_status(self) -> None:
        order = _taobao_two_lines(
            "WAIT_SELLER_SEND_GOODS",
            [
                ("WAIT_SELLER_SEND_GOODS", "WAIT_SELLER_AGREE", None),
                ("WAIT_SELLER_SEND_GOODS", "WAIT_SELLER_AGREE", None),
            ],
        )
        step = next_status(S.PACKED, map_order_status(order))
        assert (step.status, step.node, step.main) == (S.AFTER_SALE, "refund_requested", S.PACKED)
