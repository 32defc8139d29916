"""The one-function evaluation of a rule set decides exactly as evaluating rule by rule.

``RuleSet.evaluate`` tests every enabled rule in one generated function and reuses the
outcome of a match set whose winners resolve nothing against the context; when any
rule raises, it evaluates rule by rule. These tests build the same rule set twice,
one of them made to evaluate rule by rule only, and compare their decisions (and
errors) on many orders, contexts and random rule sets, including rules that fail.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ordercore import Money
from ordercore.errors import RuleConflict, RuleEvaluationError
from ordercore.rules import Decision, Limits, RuleContext, RuleSet
from ordercore.rules._compiler import _discount_total, _searcher
from ordercore.schema import Discount, DiscountFunder, Order
from ordercore.testing import OrderFactory

NOW = datetime(2026, 11, 20, 8, tzinfo=UTC)

#: Conditions of every kind the compiler writes; some of them fail on some orders or
#: contexts (a stock provider that raises for BOOM, a division by a zero shipping fee,
#: nested loops beyond a small item budget).
CONDITIONS = [
    'order.channel == "douyin" and any(line in order.lines, line.sku contains "SOF-2026")',
    'any(line in order.lines, line.sku starts_with "SOF") and stock("PIL-001") < 1',
    "sum(o in combined, o.amounts.goods - o.amounts.discount_total) >= 299",
    "order.amounts.discount_total * 2 > order.amounts.goods",
    "order.amounts.discount_total == 0",
    'order.channel in ["pdd", "xiaohongshu"] and order.amounts.paid < 49',
    "any(line in order.lines, stock(line.sku) < line.quantity)",
    '"urgent" in order.tags',
    'order.receiver.province in ["浙江省", "江苏省", "上海市"]',
    "order.amounts.paid > 1000",
    'order.receiver.detail matches "^[^0-9]{1,40}$" or order.receiver.detail contains "路"',
    'order.buyer_note matches "周末|尽快"',
    "sum(line in order.lines, line.quantity) >= 3",
    "count(line in order.lines, line.unit_price >= 100) >= 2",
    'history_count("returns", order.receiver.phone, 24h) > 2',
    'order.status in ["paid", "allocated"] and now - order.paid_at > 2h',
    'carrier_success("SF", 24h) < 0.65',
    "max(line in order.lines, line.unit_price) >= 1000",
    "order.amounts.paid / order.amounts.shipping > 10",
    'stock("BOOM") > 0 or order.quantity > 2',
    "any(o in combined, any(l in o.lines, l.quantity >= 2))",
    "true",
    "false",
]
ACTIONS: list[Any] = [
    [{"tag": "a"}],
    [{"tag": "b"}, {"route": {"warehouse": "WH-A"}}],
    [{"route": {"warehouse": "WH-B"}}],
    [{"set_carrier": {"carrier": "SF"}}],
    [{"add_gift": {"sku": "PIL-001", "quantity": 1}}],
    [{"tag": "a"}, {"free_shipping": {}}],
    [{"hold": {"reason": "amount"}}],
]


class BoomStock:
    """Stock levels that fail for the SKU BOOM, as a provider whose backend is down."""

    def __init__(self, levels: dict[str, int]) -> None:
        self.levels = levels

    def available(self, sku: str, location: str | None = None) -> int | None:
        if sku == "BOOM":
            raise OSError("inventory down")
        return self.levels.get(sku)


def _orders(count: int, seed: int) -> list[Order]:
    return list(OrderFactory(seed=seed).orders(count))


def _contexts(orders: list[Order], seed: int) -> list[RuleContext | None]:
    rnd = random.Random(seed)
    healthy = {"SF": "0.93"}
    down = {"SF": "0.60"}
    contexts: list[RuleContext | None] = []
    for index, order in enumerate(orders):
        if rnd.random() < 0.1:
            contexts.append(None)
            continue
        phone = order.receiver.phone.reveal() if order.receiver and order.receiver.phone else ""
        combined: tuple[Order, ...] = ()
        if rnd.random() < 0.3:
            combined = (order, orders[(index + 1) % len(orders)])
        contexts.append(
            RuleContext(
                now=NOW + timedelta(minutes=rnd.randrange(600)),
                stock=BoomStock({"PIL-001": rnd.choice((0, 5)), "SOF-2026-GREY": 1}),
                history={"returns": {phone: rnd.choice((0, 3))}},
                carriers=rnd.choice((healthy, down)),
                combined=combined,
            )
        )
    return contexts


def _random_set(rnd: random.Random, on_error: str, conflicts: str = "priority") -> dict[str, Any]:
    rules = []
    for index in range(rnd.randrange(1, 12)):
        rules.append(
            {
                "name": f"r{index}",
                "priority": rnd.choice((0, 0, 5, 10)),
                "group": rnd.choice(("g1", "g2", "routing")),
                "enabled": rnd.random() > 0.1,
                "when": rnd.choice(CONDITIONS),
                "then": rnd.choice(ACTIONS),
            }
        )
    return {
        "ruleset": "fast",
        "version": 1,
        "groups": {"routing": {"mode": "first"}, "g2": {"mode": rnd.choice(("first", "all"))}},
        "conflicts": conflicts,
        "on_error": on_error,
        "rules": rules,
    }


def _pair(data: dict[str, Any], limits: Limits | None = None) -> tuple[RuleSet, RuleSet]:
    """The rule set, and the same one made to evaluate rule by rule only."""
    kwargs: dict[str, Any] = {} if limits is None else {"limits": limits}
    fast = RuleSet.from_dict(data, **kwargs)
    slow = RuleSet.from_dict(data, **kwargs)
    slow._fused = None
    assert fast._fused is not None
    return fast, slow


def _outcome(rules: RuleSet, order: Order, context: RuleContext | None) -> Any:
    try:
        return rules.evaluate(order, context)
    except (RuleEvaluationError, RuleConflict) as error:
        return type(error), str(error)


def _agree(fast: RuleSet, slow: RuleSet, orders: list[Order], contexts: list[Any]) -> int:
    """Compare both on every order, twice (the second time from the kept outcomes)."""
    errors = 0
    for _ in range(2):
        for order, context in zip(orders, contexts, strict=True):
            if context is None:
                # without a context both read the clock: compare what does not depend on it
                got, want = _outcome(fast, order, None), _outcome(slow, order, None)
                if isinstance(got, Decision) and isinstance(want, Decision):
                    got, want = got.summary(), want.summary()
                assert got == want
                continue
            got, want = _outcome(fast, order, context), _outcome(slow, order, context)
            assert got == want
            if isinstance(got, tuple) or got.errors:
                errors += 1
    return errors


ORDERS = _orders(160, seed=11)
CONTEXTS = _contexts(ORDERS, seed=11)


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("on_error", ["skip", "raise"])
def test_random_rule_sets_decide_as_rule_by_rule(seed: int, on_error: str) -> None:
    """Matched, shadowed and overridden rules, actions, resolved gifts and errors agree."""
    rnd = random.Random(seed)
    fast, slow = _pair(_random_set(rnd, on_error, rnd.choice(("priority", "error"))))
    _agree(fast, slow, ORDERS, CONTEXTS)


def test_rules_that_fail_are_listed_as_rule_by_rule() -> None:
    """With on_error skip, a failing rule is listed and the others still decide."""
    data = {
        "ruleset": "failing",
        "version": 1,
        "on_error": "skip",
        "rules": [
            {"name": "boom", "when": 'stock("BOOM") > 0', "then": [{"tag": "x"}]},
            {"name": "div", "when": CONDITIONS[18], "then": [{"tag": "y"}]},
            {"name": "big", "when": "order.amounts.paid > 100", "then": [{"tag": "z"}]},
        ],
    }
    fast, slow = _pair(data)
    errors = _agree(fast, slow, ORDERS, CONTEXTS)
    assert errors > 0
    context = CONTEXTS[1] or RuleContext(now=NOW, stock=BoomStock({}))
    decision = fast.evaluate(ORDERS[1], context)
    assert "boom" in dict(decision.errors)
    assert "boom" not in decision.matched


def test_on_error_raise_names_the_first_failing_rule() -> None:
    """With on_error raise, the error names the same rule as rule by rule."""
    data = {
        "ruleset": "failing",
        "version": 1,
        "rules": [
            {"name": "fine", "priority": 9, "when": "true", "then": [{"tag": "x"}]},
            {"name": "boom", "when": 'stock("BOOM") > 0', "then": [{"tag": "y"}]},
        ],
    }
    fast, _ = _pair(data)
    context = RuleContext(now=NOW, stock=BoomStock({}))
    with pytest.raises(RuleEvaluationError, match="'boom'") as caught:
        fast.evaluate(ORDERS[0], context)
    assert caught.value.rule == "boom"


def test_the_item_budget_fails_the_same_rules() -> None:
    """Nested loops beyond the item budget fail as rule by rule, counted from zero again."""
    nested = "any(o in combined, any(l in o.lines, l.quantity >= 9))"
    data = {
        "ruleset": "budget",
        "version": 1,
        "on_error": "skip",
        "rules": [
            {"name": f"n{index}", "when": nested, "then": [{"tag": f"t{index}"}]}
            for index in range(3)
        ],
    }
    fast, slow = _pair(data, Limits(items=5))
    errors = _agree(fast, slow, ORDERS, CONTEXTS)
    assert errors > 0


def test_a_resolved_action_sees_each_context() -> None:
    """A gift's stock is settled per evaluation, never taken from an earlier decision."""
    data = {
        "ruleset": "gift",
        "version": 1,
        "rules": [{"name": "gift", "when": "true", "then": [{"add_gift": {"sku": "PIL-001"}}]}],
    }
    rules = RuleSet.from_dict(data)
    order = ORDERS[0]
    seen = []
    for units in (0, 7, 3):
        decision = rules.evaluate(order, RuleContext(now=NOW, stock={"PIL-001": units}))
        (gift,) = decision.actions_named("add_gift")
        seen.append(gift.available)  # type: ignore[attr-defined]
    assert seen == [0, 7, 3]


def test_kept_outcomes_give_each_order_its_own_decision() -> None:
    """A match set's outcome is shared; the order id and time are each evaluation's own."""
    data = {
        "ruleset": "kept",
        "version": 1,
        "rules": [{"name": "all", "when": "true", "then": [{"tag": "seen"}]}],
    }
    rules = RuleSet.from_dict(data)
    first = rules.evaluate(ORDERS[0], RuleContext(now=NOW))
    second = rules.evaluate(ORDERS[1], RuleContext(now=NOW + timedelta(hours=1)))
    assert (first.order_id, second.order_id) == (ORDERS[0].id, ORDERS[1].id)
    assert second.evaluated_at == NOW + timedelta(hours=1)
    assert first.actions == second.actions and first.matched == second.matched == ("all",)


class TestTraces:
    def test_traces_read_later_are_the_traces_of_that_evaluation(self) -> None:
        """explain=True gives the same traces whether read at once or after other evaluations."""
        rules = RuleSet.from_dict(_random_set(random.Random(3), "skip"))
        context = CONTEXTS[2]
        early = [rules.evaluate(order, context, explain=True) for order in ORDERS[:30]]
        texts = [decision.explain() for decision in early]
        again = [rules.evaluate(order, context, explain=True) for order in ORDERS[:30]]
        assert [decision.explain() for decision in again] == texts
        assert again == early
        assert all(decision.trace is not None for decision in again)

    def test_explain_text_shows_values_and_masks_personal_data(self) -> None:
        """The words of a trace are built from the values recorded at evaluation time."""
        data = {
            "ruleset": "words",
            "version": 1,
            "rules": [
                {
                    "name": "phone",
                    "when": 'order.receiver.phone == "13800138000" and order.amounts.paid > 1',
                    "then": [{"tag": "p"}],
                },
                {"name": "off", "enabled": False, "when": "true", "then": [{"tag": "q"}]},
            ],
        }
        rules = RuleSet.from_dict(data)
        order = ORDERS[0]
        receiver = order.receiver.evolve(phone="13800138000")  # type: ignore[union-attr]
        decision = rules.evaluate(order.evolve(receiver=receiver), explain=True)
        text = decision.explain()
        assert "13800138000" not in text and "138****8000" in text
        assert f"order.amounts.paid = {order.amounts.paid.amount} > 1" in text
        assert decision.trace is not None
        assert [trace.outcome.value for trace in decision.trace] == ["matched", "disabled"]
        assert "trace=(RuleTrace(" in repr(decision)

    def test_a_plain_evaluation_has_no_trace(self) -> None:
        rules = RuleSet.from_dict(_random_set(random.Random(5), "skip"))
        decision = rules.evaluate(ORDERS[0], CONTEXTS[0])
        assert decision.trace is None
        assert Decision("x", 1, "o", NOW) == Decision("x", 1, "o", NOW, trace=None)


class TestHelpers:
    @pytest.mark.parametrize("index", range(0, 160, 7))
    def test_discount_total_adds_as_the_property(self, index: int) -> None:
        """The generated read of discount_total is the property's amount, places included."""
        amounts = ORDERS[index].amounts
        assert str(_discount_total(amounts)) == str(amounts.discount_total.amount)

    def test_discount_total_without_discounts_keeps_its_places(self) -> None:
        amounts = ORDERS[0].amounts.evolve(discounts=())
        assert str(_discount_total(amounts)) == "0.00"
        many = ORDERS[0].amounts.evolve(
            discounts=tuple(
                Discount(funded_by=DiscountFunder.SELLER, amount=Money("0.10"), name=f"d{n}")
                for n in range(3)
            )
        )
        assert str(_discount_total(many)) == str(many.discount_total.amount) == "0.30"

    @pytest.mark.parametrize(
        ("pattern", "text"),
        [
            ("^[^0-9]{1,40}$", "人民公园对面"),
            ("^[^0-9]{1,40}$", "文三路12号"),
            ("周末|星期[六日天]", "请周末送货"),
            ("周末|星期[六日天]", "星期一"),
            ("^$", ""),
            ("a", ""),
            ("é$", "café"),
            ("b", "a\nb"),
            ("^b", "a\nb"),
            ("x", None),
            ("x", 12),
        ],
    )
    def test_searcher_answers_as_search(self, pattern: str, text: Any) -> None:
        import re2

        options = re2.Options()
        options.log_errors = False
        compiled = re2.compile(pattern, options)
        expected = isinstance(text, str) and compiled.search(text) is not None
        assert _searcher(compiled)(text) is expected


def test_decimal_answers_are_unchanged() -> None:
    """A condition on discount_total reads the same value as the order model."""
    data = {
        "ruleset": "dec",
        "version": 1,
        "rules": [
            {
                "name": "d",
                "when": "order.amounts.discount_total >= 0.01",
                "then": [{"tag": "d"}],
            }
        ],
    }
    rules = RuleSet.from_dict(data)
    for order in ORDERS[:60]:
        want = order.amounts.discount_total.amount >= Decimal("0.01")
        assert (rules.evaluate(order, RuleContext(now=NOW)).matched == ("d",)) is want


def test_equal_actions_of_two_rules_apply_once() -> None:
    """An additive action two rules ask for alike is planned once, resolved or not."""
    data = {
        "ruleset": "twice",
        "version": 1,
        "rules": [
            {"name": "a", "priority": 2, "when": "true", "then": [{"tag": "x"}, {"tag": "y"}]},
            {"name": "b", "priority": 1, "when": "true", "then": [{"tag": "x"}]},
            {"name": "c", "when": "true", "then": [{"add_gift": {"sku": "PIL-001"}}]},
            {"name": "d", "when": "true", "then": [{"add_gift": {"sku": "PIL-001"}}]},
            {"name": "e", "when": "true", "then": [{"add_gift": {"sku": "TEA-LJ-250"}}]},
        ],
    }
    rules = RuleSet.from_dict(data)
    for _ in range(2):
        decision = rules.evaluate(ORDERS[0], RuleContext(now=NOW, stock={"PIL-001": 2}))
        assert [(p.rule, p.action.describe()) for p in decision.actions] == [
            ("a", "tag tags=['x']"),
            ("a", "tag tags=['y']"),
            ("c", decision.actions[2].action.describe()),
            ("e", decision.actions[3].action.describe()),
        ]
        assert [p.action.sku for p in decision.actions[2:]] == ["PIL-001", "TEA-LJ-250"]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("when", "truth"),
    [
        ("order.presale == null", lambda o: o.presale is None),
        ("order.buyer_note != null", lambda o: o.buyer_note is not None),
        ("order.attributes.invoice_type == null", lambda o: "invoice_type" not in o.attributes),
        ("order.paid_at != null", lambda o: o.paid_at is not None),
        ("not (order.presale.phase == null)", lambda o: o.presale is not None),
    ],
)
def test_comparisons_with_null(when: str, truth: Any) -> None:
    """``== null`` holds exactly for what is missing, ``!= null`` for what is there."""
    data = {"ruleset": "n", "version": 1, "rules": [{"name": "n", "when": when, "then": []}]}
    rules = RuleSet.from_dict(data)
    results = [rules.evaluate(order, RuleContext(now=NOW)).matched == ("n",) for order in ORDERS]
    assert results == [bool(truth(order)) for order in ORDERS]
    assert len(set(results)) == 2  # the orders have both
