"""Rule sets load, evaluate, explain and refuse bad or unsafe input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ordercore import Money
from ordercore.errors import RuleEvaluationError, RuleLimitExceeded, RuleLoadError
from ordercore.rules import RuleContext, RuleOutcome, RuleSet, apply_decision
from ordercore.testing import OrderFactory

SET = """\
ruleset: test
version: 2
groups: {routing: {mode: first}}
rules:
  - name: big
    priority: 10
    when: order.amounts.paid >= 299 and order.channel in ["douyin", "taobao"]
    then: [{tag: big}]
  - name: east
    group: routing
    when: order.receiver.province in ["浙江省", "上海市"]
    then: [{route: {warehouse: WH-HZ}}]
  - name: anywhere
    group: routing
    priority: -1
    when: true
    then: [{route: WH-XX}]
  - name: gift-short
    when: stock("PIL-001") < 1 and carrier_success("SF", 24h) < 0.65
    then: [tag: gift_short]
  - name: vip-phone
    when: order.receiver.phone == "13800138000"
    then: [tag: vip]
"""


def _order(**fields: object):  # type: ignore[no-untyped-def]
    base = OrderFactory(seed=3).order(channel="taobao", lines=1)
    receiver = base.receiver.evolve(province="浙江省", phone="13800138000")  # type: ignore[union-attr]
    amounts = base.amounts.evolve(paid=Money("312.00"))
    return base.evolve(receiver=receiver, amounts=amounts, tags=(), **fields)


class TestEvaluate:
    def test_matching_rules_and_first_group(self) -> None:
        """Matched rules apply in priority order; a first-mode group keeps only its winner."""
        rules = RuleSet.from_text(SET, source="t.yaml")
        order = _order()
        decision = rules.evaluate(order)
        assert decision.matched == ("big", "east", "vip-phone")
        assert decision.shadowed == ("anywhere",)
        changed = apply_decision(order, decision)
        assert changed.tags == ("big", "vip")
        assert changed.attribute("warehouse") == "WH-HZ"

    def test_the_order_is_never_changed_by_evaluation(self) -> None:
        """Evaluating returns a decision; the order keeps its tags."""
        order = _order()
        RuleSet.from_text(SET).evaluate(order)
        assert order.tags == ()

    def test_context_lookups(self) -> None:
        """stock() and carrier_success() read the context; without one they are null."""
        rules = RuleSet.from_text(SET)
        ctx = RuleContext(stock={"PIL-001": 0}, carriers={"SF": "0.61"})
        assert "gift-short" in rules.evaluate(_order(), ctx).matched
        assert "gift-short" not in rules.evaluate(_order()).matched

    def test_trace_shows_values_and_masks_phones(self) -> None:
        """Traces give the values behind each test, personal data masked."""
        decision = RuleSet.from_text(SET).evaluate(_order(), explain=True)
        text = decision.explain()
        assert "order.amounts.paid = 312.00 >= 299" in text
        assert "13800138000" not in text
        assert "138****8000" in text
        assert decision.trace is not None
        outcomes = {trace.rule: trace.outcome for trace in decision.trace}
        assert outcomes["anywhere"] is RuleOutcome.SHADOWED

    def test_durations_against_now(self) -> None:
        """now - order.paid_at compares with a duration; a missing time is never late."""
        rules = RuleSet.from_text(
            "ruleset: t\nversion: 1\nrules:\n  - name: late\n"
            "    when: now - order.paid_at > 2h\n    then: [tag: late]\n"
        )
        order = _order()
        assert order.paid_at is not None
        later = RuleContext(now=order.paid_at.utc + timedelta(hours=3))
        sooner = RuleContext(now=order.paid_at.utc + timedelta(hours=1))
        assert rules.evaluate(order, later).matched == ("late",)
        assert rules.evaluate(order, sooner).matched == ()
        assert rules.evaluate(order.evolve(paid_at=None), later).matched == ()

    def test_failing_rule_raises_typed_error(self) -> None:
        """A rule whose lookup fails raises RuleEvaluationError naming it."""

        class Broken:
            def available(self, sku: str, location: str | None = None) -> int | None:
                raise OSError("inventory down")

        with pytest.raises(RuleEvaluationError, match="gift-short"):
            RuleSet.from_text(SET).evaluate(_order(), RuleContext(stock=Broken()))


class TestLoadErrors:
    def test_unknown_field_names_line_column_and_choices(self) -> None:
        """An unknown field is reported with its place and the fields that exist."""
        text = (
            "ruleset: t\nversion: 1\nrules:\n  - name: r\n"
            "    when: order.chanel == 'x'\n    then: []\n"
        )
        with pytest.raises(RuleLoadError) as caught:
            RuleSet.from_text(text, source="t.yaml")
        error = caught.value
        assert (error.source, error.rule, error.line, error.column) == ("t.yaml", "r", 5, 17)
        assert error.expected is not None and "channel" in error.expected

    def test_enum_literal_is_checked(self) -> None:
        """Comparing the status with a value it cannot have is a load error."""
        text = (
            "ruleset: t\nversion: 1\nrules:\n  - name: r\n"
            "    when: order.status == 'payed'\n    then: []\n"
        )
        with pytest.raises(RuleLoadError, match="not a OrderStatus"):
            RuleSet.from_text(text)

    @pytest.mark.parametrize(
        ("expression", "limit"),
        [
            ("(" * 60 + "true" + ")" * 60, "depth"),
            ('order.channel == "' + "x" * 600 + '"', "string"),
            ("order.quantity > " + "9" * 40, "number"),
            ("order.channel in [" + ", ".join(['"a"'] * 300) + "]", "list"),
        ],
    )
    def test_caps_raise_limit_exceeded(self, expression: str, limit: str) -> None:
        """Oversized expressions are refused at load time, naming the cap."""
        with pytest.raises(RuleLimitExceeded) as caught:
            RuleSet.from_dict(
                {
                    "ruleset": "t",
                    "version": 1,
                    "rules": [{"name": "r", "when": expression, "then": []}],
                }
            )
        assert caught.value.limit == limit

    @pytest.mark.parametrize(
        "expression",
        [
            "order.__class__",
            "order._derived_from",
            "order.model_dump",
            "lambda: 1",
            "[x for x in order.lines]",
            '__import__("os")',
            'eval("1")',
            "2 ** 99999",
            "1e999",
            "order.lines[0]",
            'order.buyer_note matches "(a)\\\\1"',
        ],
    )
    def test_escape_corpus_is_rejected(self, expression: str) -> None:
        """R13: attribute walks, lambdas, comprehensions, calls and powers never load."""
        with pytest.raises(RuleLoadError):
            RuleSet.from_dict(
                {
                    "ruleset": "t",
                    "version": 1,
                    "rules": [{"name": "r", "when": expression, "then": []}],
                }
            )


def test_generated_time_is_aware() -> None:
    """The decision records the time the rules saw."""
    now = datetime(2026, 11, 11, tzinfo=UTC)
    decision = RuleSet.from_text(SET).evaluate(_order(), RuleContext(now=now))
    assert decision.evaluated_at == now
