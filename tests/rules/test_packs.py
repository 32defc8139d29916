"""The built-in packs (D13-D19) on realistic orders: merged, presale, multi-line same-SKU."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ordercore import Money
from ordercore.errors import ConfigurationError
from ordercore.rules import (
    PACKS,
    RuleContext,
    RuleSet,
    apply_decision,
    load_pack,
    load_packs,
    load_rules,
    pack_text,
)
from ordercore.schema import Presale
from ordercore.testing import OrderFactory
from rule_orders import build_order

NOW = datetime(2026, 11, 11, 6, 0, tzinfo=UTC)
SOFA = ("SOF-2026-GREY", 1, "2999.00")
PILLOW = ("PIL-001", 1, "39.90")
TEA = ("TEA-LJ-250", 1, "268.00")


def _presale(order, phase: str = "deposit_paid"):  # type: ignore[no-untyped-def]
    deposit = Money("300.00")
    return order.evolve(
        order_type="presale",
        presale=Presale(
            phase=phase,
            deposit=deposit,
            balance=order.amounts.paid - deposit,
            promised_ship_by=order.created_at,
        ),
    )


class TestEveryPack:
    @pytest.mark.parametrize("name", list(PACKS))
    def test_each_pack_loads_and_names_its_scenarios(self, name: str) -> None:
        rules = load_pack(name)
        assert rules.name == f"ordercore.{name}"
        text = pack_text(name)
        for scenario in PACKS[name].scenarios.split(","):
            assert scenario.strip() in text

    def test_the_combined_set_holds_every_rule_once(self) -> None:
        combined = load_packs()
        names = [rule for name in PACKS for rule in load_pack(name).names()]
        assert sorted(combined.names()) == sorted(names)
        assert combined.mode_of("routing") == "first"

    def test_an_unknown_pack_names_the_known_ones(self) -> None:
        with pytest.raises(ConfigurationError, match="gifts, shipping"):
            load_pack("gift")

    def test_a_copied_pack_loads_from_a_file(self, tmp_path) -> None:  # type: ignore[no-untyped-def]
        path = tmp_path / "gifts.yaml"
        path.write_text(pack_text("gifts").replace("PIL-001", "PIL-002"), "utf-8")
        rules = load_rules(path)
        decision = rules.evaluate(build_order([SOFA]))
        assert decision.actions_named("add_gift")[0].sku == "PIL-002"  # type: ignore[attr-defined]

    def test_factory_orders_all_evaluate_and_apply(self) -> None:
        """Three hundred varied orders: every decision applies to a valid order."""
        rules = load_packs()
        context = RuleContext(now=NOW, stock={"PIL-001": 0}, carriers={"SF": "0.5"})
        orders = list(OrderFactory(seed=21).orders(300))
        matched = set()
        for order in orders:
            decision = rules.evaluate(order, context)
            matched.update(decision.matched)
            changed = apply_decision(order, decision)
            assert changed.id == order.id
        assert {"unhealthy-carrier-switch", "east-china-to-hangzhou", "high-value"} <= matched


class TestGifts:
    rules = load_pack("gifts")

    def test_one_pillow_for_a_multi_line_sofa_order(self) -> None:
        """Two sofa lines (grey and beige) and a sofa line repeated: still one pillow."""
        order = build_order([SOFA, ("SOF-2026-BEIGE", 1, "2999.00"), SOFA])
        changed = self.rules.evaluate(order).apply(order)
        assert [line.sku for line in changed.lines if line.is_gift] == ["PIL-001"]
        assert self.rules.evaluate(changed).actions == ()  # re-evaluating adds no second one

    def test_merged_with_a_mini_program_order(self) -> None:
        """D5/D13: the Douyin sofa order and a WeChat tea order ship together."""
        sofa = build_order([SOFA])
        tea = build_order([TEA], channel="wechat_channels", seed=4)
        context = RuleContext(now=NOW, combined=(sofa, tea))
        assert self.rules.evaluate(tea, context).actions == ()
        changed = self.rules.evaluate(sofa, context).apply(sofa)
        (gift,) = [line for line in changed.lines if line.is_gift]
        assert gift.attributes["gift_for_order"].value == sofa.id

    def test_presale_sofa_gets_its_pillow(self) -> None:
        order = _presale(build_order([SOFA]))
        assert self.rules.evaluate(order).matched == ("douyin-sofa-pillow",)

    def test_pillow_out_of_stock_ships_the_sofa_now(self) -> None:
        """D15: the gift waits, the sofa goes."""
        order = build_order([SOFA])
        decision = self.rules.evaluate(order, RuleContext(stock={"PIL-001": 0}))
        changed = decision.apply(order)
        assert "split" in changed.tags
        assert "backorder" not in changed.line("1").attributes
        gift = next(line for line in changed.lines if line.is_gift)
        assert gift.attributes["backorder"].value is True

    def test_unpaid_and_other_channels_get_nothing(self) -> None:
        assert self.rules.evaluate(build_order([SOFA], status="pending_payment")).actions == ()
        assert self.rules.evaluate(build_order([SOFA], channel="jd")).actions == ()


class TestShipping:
    rules = load_pack("shipping")

    def test_coupon_brings_it_under_the_threshold(self) -> None:
        order = build_order([TEA], shipping="10.00", coupon="20.00")  # 268 - 20 = 248
        assert self.rules.evaluate(order).actions == ()

    def test_combined_orders_across_stores_reach_it(self) -> None:
        tea = build_order([TEA], shipping="10.00", coupon="20.00")
        mugs = build_order([("MUG-ENG-01", 1, "59.00")], shipping="8.00", channel="youzan", seed=9)
        context = RuleContext(combined=(tea, mugs))  # 248 + 59 = 307
        for order in (tea, mugs):
            changed = self.rules.evaluate(order, context).apply(order)
            assert changed.amounts.shipping == Money("0.00")
            assert changed.amounts.balances

    def test_presale_counts_the_full_price_not_the_deposit(self) -> None:
        order = _presale(build_order([TEA, TEA], shipping="10.00"))
        assert self.rules.evaluate(order).matched == ("free-shipping-over-299",)


class TestFulfilment:
    rules = load_pack("fulfilment")

    def test_same_sku_lines_are_summed_before_the_stock_check(self) -> None:
        order = build_order([SOFA, PILLOW, PILLOW])
        context = RuleContext(stock={"SOF-2026-GREY": 2, "PIL-001": 1})
        decision = self.rules.evaluate(order, context)
        changed = decision.apply(order)
        later = sorted(line.line_id for line in changed.lines if "backorder" in line.attributes)
        assert later == ["2", "3"]

    def test_enough_stock_for_repeated_lines_splits_nothing(self) -> None:
        order = build_order([SOFA, PILLOW, PILLOW])
        context = RuleContext(stock={"SOF-2026-GREY": 2, "PIL-001": 2})
        changed = self.rules.evaluate(order, context).apply(order)
        assert "split" not in changed.tags

    def test_presale_orders_are_not_split(self) -> None:
        order = _presale(build_order([SOFA]))
        decision = self.rules.evaluate(order, RuleContext(stock={"SOF-2026-GREY": 0}))
        assert "split-short-stock" not in decision.matched

    @pytest.mark.parametrize(
        ("tags", "province", "warehouse"),
        [(("urgent",), "广东省", "WH-A"), ((), "江苏省", "WH-HZ"), (("urgent",), "浙江省", "WH-A")],
    )
    def test_routing_takes_the_first_match(self, tags, province, warehouse) -> None:  # type: ignore[no-untyped-def]
        order = build_order([TEA], tags=tags, province=province)
        assert self.rules.evaluate(order).apply(order).attribute("warehouse") == warehouse

    def test_no_route_outside_east_china(self) -> None:
        order = build_order([TEA], province="四川省")
        assert self.rules.evaluate(order).apply(order).attribute("warehouse") is None

    def test_engraved_mugs_go_to_line_c(self) -> None:
        order = build_order([("MUG-ENG-01", 2, "59.00")], province="广东省")
        assert self.rules.evaluate(order).apply(order).attribute("production_line") == "C"


class TestReview:
    rules = load_pack("review")

    @pytest.mark.parametrize("detail", ["小区附近", "不详", "中山路"])
    def test_vague_addresses_are_held(self, detail: str) -> None:
        order = build_order([TEA])
        order = order.evolve(receiver=order.receiver.evolve(detail=detail))  # type: ignore[union-attr]
        changed = self.rules.evaluate(order).apply(order)
        assert changed.attribute("hold_reason") == "address" and "review" in changed.tags

    def test_a_clear_address_passes(self) -> None:
        order = build_order([TEA])
        order = order.evolve(receiver=order.receiver.evolve(detail="文三路 90 号 3 幢 1201 室"))  # type: ignore[union-attr]
        assert self.rules.evaluate(order).actions == ()

    def test_unbalanced_amounts_are_held(self) -> None:
        order = build_order([TEA])
        order = order.evolve(amounts=order.amounts.evolve(paid=Money("26.80")))
        assert self.rules.evaluate(order).matched == ("abnormal-amount",)

    def test_high_value_presale_counts_its_whole_price(self) -> None:
        order = _presale(build_order([SOFA, SOFA]))
        decision = self.rules.evaluate(order)
        assert decision.matched == ("high-value",)
        traced = self.rules.evaluate(order, explain=True)
        assert "5998.00" in traced.explain()

    def test_traces_mask_the_receiver(self) -> None:
        order = build_order([TEA])
        order = order.evolve(receiver=order.receiver.evolve(detail="文三路附近"))  # type: ignore[union-attr]
        text = self.rules.evaluate(order, explain=True).explain()
        assert "文三路附近" not in text and "vague-address: matched" in text


class TestRisk:
    rules = load_pack("risk")

    def test_d18_freezes_the_phone(self) -> None:
        order = build_order([TEA], phone="13912345678")
        history = {"returns": {"13912345678": (6, 3)}}
        decision = self.rules.evaluate(order, RuleContext(now=NOW, history=history))
        assert [a.name for a in (p.action for p in decision.actions)] == [
            "freeze",
            "hold",
            "notify",
        ]
        changed = decision.apply(order)
        assert changed.attribute("frozen_until") == NOW + timedelta(hours=24)
        assert {"frozen", "review"} <= set(changed.tags)
        assert (
            "13912345678"
            not in self.rules.evaluate(
                order, RuleContext(now=NOW, history=history), explain=True
            ).explain()
        )

    @pytest.mark.parametrize("counts", [(5, 3), (9, 2)])
    def test_below_either_threshold_nothing_happens(self, counts: tuple[int, int]) -> None:
        order = build_order([TEA], phone="13912345678")
        context = RuleContext(history={"returns": {"13912345678": counts}})
        assert self.rules.evaluate(order, context).actions == ()


class TestCarriers:
    rules = load_pack("carriers")

    def test_healthy_sf_keeps_sf(self) -> None:
        order = build_order([TEA])
        decision = self.rules.evaluate(order, RuleContext(carriers={"SF": "0.93"}))
        assert decision.apply(order).attribute("carrier") == "SF"
        assert decision.matched == ("default-carrier",)

    def test_unhealthy_sf_switches_to_the_backup(self) -> None:
        """D19: SF at 61 % -> ZTO, and the default rule's SF is overridden."""
        order = build_order([TEA])
        context = RuleContext(now=NOW, carriers={"SF": "0.61", "ZTO": "0.88"})
        decision = self.rules.evaluate(order, context)
        assert decision.apply(order).attribute("carrier") == "ZTO"
        assert decision.overridden[0].dropped.rule == "default-carrier"
        assert decision.actions_named("notify")


def test_packs_are_plain_rule_sets() -> None:
    """A pack is the same kind of file users write: it round-trips through to_dict."""
    for name in PACKS:
        rules = load_pack(name)
        again = RuleSet.from_dict(rules.to_dict())
        assert again.names() == rules.names()
