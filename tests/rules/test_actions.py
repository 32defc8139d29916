"""Every action: its parameters are validated on load, resolving settles the context, and
applying returns a changed copy of exactly the order that matched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from ordercore import Money
from ordercore.errors import RuleConflict, RuleLoadError
from ordercore.rules import RuleContext, RuleSet, apply_decision
from rule_orders import build_order

NOW = datetime(2026, 11, 11, 6, 0, tzinfo=UTC)


def _rules(body: str, **header: str) -> RuleSet:
    head = "".join(f"{key}: {value}\n" for key, value in header.items())
    return RuleSet.from_text(f"ruleset: t\nversion: 1\n{head}rules:\n{body}", source="t.yaml")


def _one(action: str, when: str = "true") -> RuleSet:
    return _rules(f"  - name: r\n    when: {when}\n    then:\n      - {action}\n")


class TestGift:
    SOFA_GIFT = (
        '{add_gift: {sku: PIL-001, quantity: 1, title: "抱枕"}}',
        'order.channel == "douyin" and any(line in order.lines, line.sku contains "SOF-2026")',
    )

    def test_a_zero_price_gift_line_goes_to_the_qualifying_order(self) -> None:
        """D13: a Douyin sofa order gets one pillow at zero; the amounts still balance."""
        rules = _one(*self.SOFA_GIFT)
        order = build_order([("SOF-2026-GREY", 1, "2999.00")], shipping="0.00")
        decision = rules.evaluate(order, RuleContext(now=NOW))
        changed = apply_decision(order, decision)
        gifts = [line for line in changed.lines if line.is_gift]
        assert len(gifts) == 1
        gift = gifts[0]
        assert (gift.sku, gift.quantity, gift.title) == ("PIL-001", 1, "抱枕")
        assert gift.unit_price == Money("0.00") and gift.paid == Money("0.00")
        assert gift.attributes["gift_for_order"].value == order.id
        assert gift.attributes["gift_rule"].value == "r"
        assert changed.amounts == order.amounts and changed.amounts.balances
        assert len(order.lines) == 1  # the evaluated order is untouched

    def test_other_channels_and_skus_get_no_gift(self) -> None:
        rules = _one(*self.SOFA_GIFT)
        taobao = build_order([("SOF-2026-GREY", 1, "2999.00")], channel="taobao")
        chair = build_order([("CHR-2026", 1, "899.00")])
        for order in (taobao, chair):
            assert rules.evaluate(order).actions == ()

    def test_merged_orders_keep_the_gift_on_the_qualifying_one(self) -> None:
        """D5: a Douyin sofa order and a WeChat order ship together; only the sofa order
        gets the pillow, and its decision cannot be applied to the other order."""
        rules = _one(*self.SOFA_GIFT)
        sofa = build_order([("SOF-2026-GREY", 1, "2999.00")])
        tea = build_order([("TEA-LJ-250", 2, "88.00")], channel="wechat_channels", seed=12)
        context = RuleContext(now=NOW, combined=(sofa, tea))
        sofa_decision = rules.evaluate(sofa, context)
        tea_decision = rules.evaluate(tea, context)
        assert [a.name for a in sofa_decision.actions_named("add_gift")] == ["add_gift"]
        assert tea_decision.actions == ()
        with pytest.raises(ValueError, match="the decision is for order"):
            apply_decision(tea, sofa_decision)

    def test_applying_twice_adds_one_gift(self) -> None:
        rules = _one(*self.SOFA_GIFT)
        order = build_order()
        decision = rules.evaluate(order)
        once = apply_decision(order, decision)
        twice = apply_decision(once, decision)
        assert sum(line.is_gift for line in twice.lines) == 1

    @pytest.mark.parametrize(
        ("policy", "gift_lines", "tags"),
        [("ship_later", 1, ("split",)), ("drop", 0, ()), ("block", 1, ("blocked",))],
    )
    def test_out_of_stock_policies(self, policy: str, gift_lines: int, tags: tuple) -> None:
        """D15: with no pillow in stock the gift ships later, is dropped, or blocks."""
        rules = _one(f"{{add_gift: {{sku: PIL-001, if_out_of_stock: {policy}}}}}")
        order = build_order()
        decision = rules.evaluate(order, RuleContext(now=NOW, stock={"PIL-001": 0}))
        (gift,) = decision.actions_named("add_gift")
        assert gift.available == 0  # type: ignore[attr-defined]
        assert "out of stock: 0 available" in decision.explain()
        changed = apply_decision(order, decision)
        assert sum(line.is_gift for line in changed.lines) == gift_lines
        assert changed.tags == tags
        if policy == "ship_later":
            assert changed.attribute("ship_later") is True
            (line,) = [line for line in changed.lines if line.is_gift]
            assert line.attributes["backorder"].value is True
            sofa = changed.line("1")
            assert "backorder" not in sofa.attributes  # the sofa ships now

    def test_stock_settled_at_evaluation_is_kept_by_the_decision(self) -> None:
        """Applying later gives the same order even if the stock has changed since."""
        rules = _one("{add_gift: {sku: PIL-001}}")
        order = build_order()
        stock = {"PIL-001": 5}
        decision = rules.evaluate(order, RuleContext(stock=stock))
        stock["PIL-001"] = 0
        changed = apply_decision(order, decision)
        assert "split" not in changed.tags

    def test_gift_parameters_are_checked_on_load(self) -> None:
        with pytest.raises(RuleLoadError, match="quantity"):
            _one("{add_gift: {sku: PIL-001, quantity: 0}}")
        with pytest.raises(RuleLoadError, match="if_out_of_stock"):
            _one("{add_gift: {sku: PIL-001, if_out_of_stock: later}}")
        with pytest.raises(RuleLoadError, match="unknown parameter 'available'"):
            _one("{add_gift: {sku: PIL-001, available: 3}}")


class TestShipping:
    def test_free_shipping_counts_coupons_and_combined_orders(self) -> None:
        """D14: over 299 after coupons, across the orders shipping together."""
        rules = _one(
            "{free_shipping: }",
            "sum(o in combined, o.amounts.goods - o.amounts.discount_total) >= 299",
        )
        small = build_order([("TEA-LJ-250", 2, "88.00")], shipping="10.00", coupon="10.00")
        other = build_order([("MUG-001", 2, "69.00")], shipping="8.00", seed=5)
        assert rules.evaluate(small).actions == ()  # 166 alone
        context = RuleContext(combined=(small, other))  # 166 + 138 = 304
        decision = rules.evaluate(small, context)
        changed = apply_decision(small, decision)
        assert changed.amounts.shipping == Money("0.00")
        assert changed.amounts.paid == small.amounts.paid - Money("10.00")
        assert changed.amounts.balances
        assert changed.attribute("shipping_rule") == "r"

    def test_coupons_that_bring_it_under_299_keep_the_shipping(self) -> None:
        rules = _one(
            "{free_shipping: }", "order.amounts.goods - order.amounts.discount_total >= 299"
        )
        order = build_order([("TEA-LJ-250", 4, "80.00")], shipping="10.00", coupon="30.00")
        assert rules.evaluate(order).actions == ()  # 320 - 30 = 290

    def test_shipping_fee_moves_paid_by_the_difference(self) -> None:
        rules = _one("{shipping_fee: 12.50}")
        order = build_order([("TEA-LJ-250", 1, "88.00")], shipping="8.00")
        changed = rules.evaluate(order).apply(order)
        assert changed.amounts.shipping == Money("12.50")
        assert changed.amounts.paid == Money("100.50")
        assert changed.amounts.balances

    def test_two_shipping_rules_conflict(self) -> None:
        body = (
            "  - {name: free, priority: 5, when: 'true', then: [free_shipping: ]}\n"
            "  - {name: fee, when: 'true', then: [{shipping_fee: 8}]}\n"
        )
        order = build_order()
        decision = _rules(body).evaluate(order)
        assert [p.rule for p in decision.actions] == ["free"]
        assert decision.overridden[0].dropped.rule == "fee"
        with pytest.raises(RuleConflict) as raised:
            _rules(body, conflicts="error").evaluate(order)
        assert raised.value.rules == ("free", "fee") and raised.value.slot == "shipping"

    def test_a_negative_fee_is_refused(self) -> None:
        with pytest.raises(RuleLoadError, match="amount"):
            _one("{shipping_fee: -1}")


class TestSplit:
    def test_split_by_stock_sums_lines_of_one_sku(self) -> None:
        """D15: two lines of the same SKU need 2 units; 1 in stock makes both ship later."""
        rules = _one("{split: stock}")
        order = build_order(
            [("SOF-2026-GREY", 1, "2999.00"), ("PIL-001", 1, "59.00"), ("PIL-001", 1, "59.00")]
        )
        context = RuleContext(stock={"SOF-2026-GREY": 3, "PIL-001": 1})
        decision = rules.evaluate(order, context)
        (split,) = decision.actions_named("split")
        assert split.later == ("2", "3")  # type: ignore[attr-defined]
        changed = apply_decision(order, decision)
        backordered = [ln.line_id for ln in changed.lines if "backorder" in ln.attributes]
        assert backordered == ["2", "3"]
        assert changed.tags == ("split",) and changed.attribute("ship_later") is True

    def test_split_with_everything_in_stock_changes_nothing(self) -> None:
        rules = _one("{split: stock}")
        order = build_order([("SOF-2026-GREY", 1, "2999.00")])
        decision = rules.evaluate(order, RuleContext(stock={"SOF-2026-GREY": 1}))
        assert apply_decision(order, decision) == order

    def test_backorder_a_sku(self) -> None:
        rules = _one("{backorder: {sku: PIL-001}}")
        order = build_order([("SOF-2026-GREY", 1, "2999.00"), ("PIL-001", 2, "59.00")])
        changed = rules.evaluate(order).apply(order)
        assert changed.line("2").attributes["backorder"].value is True
        assert "backorder" not in changed.line("1").attributes
        assert "split" in changed.tags


class TestRoutingReviewRisk:
    def test_production_line_and_route(self) -> None:
        body = (
            "  - {name: engraving, when: 'order.tags contains \"engraving\"',"
            " then: [{production_line: C}]}\n"
            "  - {name: east, when: 'order.receiver.province == \"浙江省\"',"
            " then: [{route: WH-HZ}]}\n"
        )
        order = build_order(tags=("engraving",))
        changed = _rules(body).evaluate(order).apply(order)
        assert changed.attribute("production_line") == "C"
        assert changed.attribute("warehouse") == "WH-HZ"

    def test_hold_records_the_reason(self) -> None:
        rules = _one('{hold: {reason: address, note: "vague address"}}')
        order = build_order()
        changed = rules.evaluate(order).apply(order)
        assert changed.tags == ("review",)
        assert changed.attribute("hold_reason") == "address"
        assert changed.attribute("hold_note") == "vague address"

    def test_hold_reasons_are_the_lifecycles(self) -> None:
        with pytest.raises(RuleLoadError) as raised:
            _one("{hold: {reason: vibes}}")
        assert "'risk'" in str(raised.value) and "'address'" in str(raised.value)

    def test_freeze_settles_its_end_from_the_evaluation_time(self) -> None:
        rules = _one('{freeze: {subject: phone, alert: "6 returns", hours: 48}}')
        order = build_order()
        changed = rules.evaluate(order, RuleContext(now=NOW)).apply(order)
        assert changed.tags == ("frozen",)
        assert changed.attribute("frozen_subject") == "phone"
        assert changed.attribute("frozen_until") == NOW + timedelta(hours=48)
        assert changed.attribute("freeze_alert") == "6 returns"

    def test_notify_changes_nothing(self) -> None:
        rules = _one('{notify: {notifier: warehouse_lead, message: "gift short", level: critical}}')
        order = build_order()
        decision = rules.evaluate(order)
        (note,) = decision.actions_named("notify")
        assert (note.notifier, note.level) == ("warehouse_lead", "critical")  # type: ignore[attr-defined]
        assert apply_decision(order, decision) == order


class TestCarriers:
    CHOOSE = "{choose_carrier: {candidates: [SF, JD, YTO], min_success_rate: 0.65, window: 24h}}"

    @pytest.mark.parametrize(
        ("rates", "chosen"),
        [
            ({"SF": "0.91", "JD": "0.95"}, "SF"),
            ({"SF": "0.61", "JD": "0.95"}, "JD"),  # D19: below 65 % -> the backup
            ({"SF": "0.61", "JD": "0.40"}, "YTO"),  # no figure counts as healthy
            ({"SF": "0.61", "JD": "0.40", "YTO": "0.50"}, "SF"),  # none healthy: the best
        ],
    )
    def test_choose_carrier_by_health(self, rates: dict, chosen: str) -> None:
        order = build_order()
        decision = _one(self.CHOOSE).evaluate(order, RuleContext(now=NOW, carriers=rates))
        changed = apply_decision(order, decision)
        assert changed.attribute("carrier") == chosen
        assert f"-> {chosen}" in decision.actions[0].describe()

    def test_set_carrier_and_choose_share_a_slot(self) -> None:
        body = (
            f"  - {{name: healthy, priority: 9, when: 'true', then: [{self.CHOOSE}]}}\n"
            "  - {name: fixed, when: 'true', then: [{set_carrier: ZTO}]}\n"
        )
        decision = _rules(body).evaluate(build_order(), RuleContext(carriers={"SF": "0.9"}))
        assert [p.rule for p in decision.actions] == ["healthy"]
        assert decision.overridden[0].slot == "carrier"

    def test_window_and_rate_are_validated(self) -> None:
        with pytest.raises(RuleLoadError, match="24h, 30m"):
            _one("{choose_carrier: {candidates: [SF], window: soon}}")
        with pytest.raises(RuleLoadError, match="min_success_rate"):
            _one("{choose_carrier: {candidates: [SF], min_success_rate: 1.5}}")
        with pytest.raises(RuleLoadError, match="distinct"):
            _one("{choose_carrier: {candidates: [SF, SF]}}")

    def test_rates_are_exact_decimals(self) -> None:
        order = build_order()
        decision = _one(self.CHOOSE).evaluate(order, RuleContext(carriers={"SF": "0.65"}))
        (action,) = decision.actions_named("choose_carrier")
        assert action.rates[0] == ("SF", Decimal("0.65"))  # type: ignore[attr-defined]
        assert action.chosen == "SF"  # type: ignore[attr-defined]  # 0.65 >= 0.65


class TestParameters:
    def test_unknown_parameters_list_the_valid_ones(self) -> None:
        with pytest.raises(RuleLoadError) as raised:
            _one("{hold: {reason: risk, colour: red}}")
        assert "unknown parameter 'colour'" in str(raised.value)
        assert "reason, note" in str(raised.value)

    def test_actions_without_parameters_refuse_them(self) -> None:
        with pytest.raises(RuleLoadError, match="no parameters"):
            _one("{free_shipping: {over: 299}}")
