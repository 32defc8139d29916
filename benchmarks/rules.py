"""How fast a 20-rule set evaluates, beside hand-written Python and other rule engines.

Usage::

    python benchmarks/rules.py [--quick] [--orders N] [--repeat R] [--json-only]

The rule set is ``benchmarks/rules_fixture.yaml``: 20 rules of the kind the built-in
packs hold (D13-D19): gifts (``any(line in order.lines, line.sku contains ...)``, a gift
out of stock), free shipping over the orders shipping together (``sum(o in combined,
...) >= 299``), a small-order fee, splitting lines the stock cannot cover, routing by
tag and by ``order.receiver.province in [...]``, engraved lines, review holds on
amounts, discounts and vague addresses (``contains`` and an RE2 ``matches``), bulk and
pricey-line counts, risk (``history_count`` / ``history_orders``), a paid-not-shipped
time check (``now - order.paid_at > 2h``), carrier health (``carrier_success("SF",
24h) < 0.65``), a pricey-to-Shanghai carrier, a JD VAT invoice attribute, presale
orders waiting for their balance and a buyer note ``matches`` test.

The orders are ``ordercore.testing.OrderFactory`` orders from every channel, made a
little richer so that every rule matches some of them: engraving attributes on most
engraved mugs, a few vague addresses, a few clearance discounts of 60 % of the goods,
a few phones with many returns, one order in ten shipping together with another.
Each order has its own context (its time a few hours after it was placed; the stock
levels; one of two carrier-health snapshots, SF healthy or not; the return counters).

Contenders, all timed in the same run on the same orders (rule-set evaluations per
second, one evaluation = all 20 conditions on one order):

1. ``RuleSet.evaluate(order, context)``, returning the :class:`Decision` (actions
   resolved against the context, conflicts settled), and with ``explain=True``
   (plus, for reference, reading every trace line).
2. The floor: the same 20 conditions as hand-written Python lambdas over the order
   and the same context providers (the regular expression with the same RE2 pattern),
   returning the matched rules' indices. Two of them read ``amounts.discount_total``,
   a property that adds Money objects on every read; for reference, the same lambdas
   with those sums written by hand over the discounts' amounts (what the compiled rules
   do) run beside them.
3. Peers: a zen-engine decision table (hit policy ``collect``, one row per rule),
   the same conditions as 20 compiled zen expressions, ``rule_engine`` rules and
   ``json_logic`` (panzi-json-logic) rules. The peers get each order as the plain
   mapping they work on, built before timing, with the context's lookups (stock,
   counters, carrier rates, the order's age) already done and money in fen: they do
   less work than ordercore and the lambdas do. With ``--quick`` the peers' timed runs
   go over the first 500 orders only (the agreement check covers them all).

4. For reference, a lighter set of 20 single comparisons (no quantifiers, patterns or
   lookups) beside the same comparisons as lambdas: where the work per rule is least,
   what is left is the fixed cost of a decision (``simple_*`` in the JSON line).

Before timing, every contender's matched rules are compared with ordercore's for
every order (ordercore's matched plus shadowed rules, which are the rules whose
condition held); any difference stops the run with the orders and rules that differ.

Targets, printed met or not: at least 250,000 evaluations/s; at least 0.8 of the
lambdas' rate; with ``explain=True`` at least 0.3 of the lambdas' rate. The last line
is one JSON object with every figure. Nothing is asserted; the exit status is 0 (1
when the engines disagree).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from _harness import Rate, Report, compare, stopwatch

import ordercore
from ordercore.money import Money
from ordercore.rules import RuleContext, RuleSet, load_rules
from ordercore.schema import Discount, DiscountFunder, Order, attribute
from ordercore.testing import OrderFactory

FIXTURE = Path(__file__).resolve().parent / "rules_fixture.yaml"
SEED = 20261202
QUICK_ORDERS, FULL_ORDERS = 2_000, 10_000
QUICK_REPEAT, FULL_REPEAT = 3, 5
#: With --quick the peers' timed runs go over this many orders.
QUICK_PEER_ORDERS = 500
#: A timed run of a contender goes over the orders as many times as makes it last about
#: this long (at least once).
RUN_S = 0.25

TARGET_RATE = 250_000
TARGET_RATIO = 0.8
TARGET_EXPLAIN_RATIO = 0.3

STOCK = {
    "SOF-2026-GREY": 40,
    "SOF-2026-BEIGE": 2,
    "PIL-001": 0,
    "TEA-LJ-250": 120,
    "TEA-PE-357": 80,
    "MUG-ENG-01": 300,
    "LMP-DESK-W": 60,
    "TWL-BATH-2": 1,
    "KNF-SET-5": 25,
    "RCK-CHAIR": 1,
}
CARRIERS_HEALTHY = {"SF": "0.93", "ZTO": "0.90", "YTO": "0.88"}
CARRIERS_SF_DOWN = {"SF": "0.61", "ZTO": "0.90", "YTO": "0.88"}
VAGUE_ADDRESSES = ("人民公园对面", "火车站附近的小卖部", "幸福小区东门")
EAST_CHINA = ("浙江省", "江苏省", "上海市", "安徽省", "福建省", "江西省", "山东省")
H2 = timedelta(hours=2)
H24 = timedelta(hours=24)


# -- the orders and their contexts -----------------------------------------------------------


def build_orders(count: int, seed: int) -> list[tuple[Order, RuleContext]]:
    """``count`` factory orders, each with its own context (see the module docstring)."""
    rnd = random.Random(seed)
    orders = list(OrderFactory(seed=seed).orders(count))
    enriched: list[Order] = []
    for order in orders:
        changes: dict[str, Any] = {}
        if any(line.sku.startswith("MUG-ENG") for line in order.lines) and rnd.random() < 0.7:
            changes["lines"] = tuple(
                line.evolve(attributes={"engraving": attribute(rnd.choice(("福", "LOVE", "陈")))})
                if line.sku.startswith("MUG-ENG")
                else line
                for line in order.lines
            )
        if order.receiver is not None and rnd.random() < 0.03:
            changes["receiver"] = order.receiver.evolve(detail=rnd.choice(VAGUE_ADDRESSES))
        if rnd.random() < 0.02:
            amounts = order.amounts
            extra = Money.from_minor(amounts.goods.minor * 6 // 10, amounts.currency)
            clearance = Discount(funded_by=DiscountFunder.PLATFORM, amount=extra, name="清仓")
            changes["amounts"] = amounts.evolve(
                discounts=(*amounts.discounts, clearance), paid=amounts.paid - extra
            )
        enriched.append(order.evolve(**changes) if changes else order)
    returns: dict[str, tuple[int, int]] = {}
    for order in enriched:
        phone = order.receiver.phone if order.receiver is not None else None
        if phone is not None and rnd.random() < 0.03:
            returns[order.receiver.phone.reveal()] = rnd.choice(((6, 3), (7, 2), (9, 4)))
    stock = RuleContext(stock=STOCK).stock
    history = RuleContext(history={"returns": returns}).history
    healthy = RuleContext(carriers=CARRIERS_HEALTHY).carriers
    sf_down = RuleContext(carriers=CARRIERS_SF_DOWN).carriers
    pairs: list[tuple[Order, RuleContext]] = []
    for index, order in enumerate(enriched):
        now = order.created_at.utc + timedelta(minutes=rnd.randrange(1, 360))
        combined: tuple[Order, ...] = ()
        if rnd.random() < 0.1:
            combined = (order, enriched[(index + 1) % len(enriched)])
        context = RuleContext(
            now=now,
            stock=stock,
            history=history,
            carriers=sf_down if rnd.random() < 0.2 else healthy,
            combined=combined,
        )
        pairs.append((order, context))
    return pairs


def peer_data(order: Order, context: RuleContext) -> dict[str, Any]:
    """The order as the peers see it: a plain mapping, lookups done, money in fen."""
    assert context.now is not None
    stock, history, carriers = context.stock, context.history, context.carriers
    assert stock is not None and history is not None and carriers is not None
    receiver = order.receiver
    phone = receiver.phone.reveal() if receiver is not None and receiver.phone else None
    detail = receiver.detail.reveal() if receiver is not None and receiver.detail else None
    invoice = order.attributes.get("invoice_type")
    sf = carriers.success_rate("SF", H24, context.now)
    return {
        "channel": order.channel,
        "status": order.status.value,
        "order_type": order.order_type.value,
        "presale_phase": order.presale.phase.value if order.presale is not None else None,
        "tags": list(order.tags),
        "province": receiver.province if receiver is not None else None,
        "city": receiver.city if receiver is not None else None,
        "detail": detail,
        "buyer_note": order.buyer_note,
        "invoice_type": invoice.value if invoice is not None else None,
        "paid": order.amounts.paid.minor,
        "goods": order.amounts.goods.minor,
        "discount": order.amounts.discount_total.minor,
        "lines": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": line.unit_price.minor,
                "engraving": line.attributes.get("engraving") is not None,
                "stock": stock.available(line.sku),
            }
            for line in order.lines
        ],
        "combined": [
            {"goods": o.amounts.goods.minor, "discount": o.amounts.discount_total.minor}
            for o in (context.combined or (order,))
        ],
        "stock_pil": stock.available("PIL-001"),
        "returns_count": history.count("returns", phone, H24, context.now) if phone else 0,
        "returns_orders": (
            history.distinct_orders("returns", phone, H24, context.now) if phone else 0
        ),
        "sf_success": None if sf is None else float(sf),
        "paid_age_s": (
            None if order.paid_at is None else (context.now - order.paid_at.utc).total_seconds()
        ),
    }


# -- the same 20 conditions, for every engine ------------------------------------------------


def _regex(pattern: str) -> Any:
    import re2

    options = re2.Options()
    options.max_mem = 1 << 20
    options.log_errors = False
    return re2.compile(pattern, options)


VAGUE = _regex("^[^0-9]{1,40}$")
WEEKEND = _regex("周末|星期[六日天]")
D299, D49, D5000, D1000, D100 = Decimal(299), Decimal(49), Decimal(5000), Decimal(1000), 100
SF_MIN = Decimal("0.65")


def _text(value: Any) -> str | None:
    return None if value is None else value.reveal()


def _lt(value: Any, bound: Any) -> bool:
    return value is not None and value < bound


def _attr(mapping: Mapping[str, Any], name: str) -> Any:
    found = mapping.get(name)
    return None if found is None else found.value


def _vague(o: Order) -> bool:
    detail = _text(o.receiver.detail) if o.receiver is not None else None
    if detail is None:
        return False
    return "附近" in detail or "对面" in detail or VAGUE.search(detail) is not None


def _returns(o: Order, c: RuleContext) -> bool:
    phone = _text(o.receiver.phone) if o.receiver is not None else None
    history = c.history
    if phone is None or history is None:
        return False
    now = c.clock()
    return (
        history.count("returns", phone, H24, now) > 5
        and history.distinct_orders("returns", phone, H24, now) >= 3
    )


def _stock(c: RuleContext, sku: str) -> int | None:
    return None if c.stock is None else c.stock.available(sku)


def _carrier(c: RuleContext, name: str) -> Decimal | None:
    return None if c.carriers is None else c.carriers.success_rate(name, H24, c.clock())


#: Rule name -> the condition as a Python function of the order and its context.
LAMBDAS: dict[str, Callable[[Order, RuleContext], bool]] = {
    "sofa-pillow-gift": lambda o, c: (
        o.channel == "douyin" and any("SOF-2026" in line.sku for line in o.lines)
    ),
    "pillow-gift-short": lambda o, c: (
        o.channel == "douyin"
        and any(line.sku.startswith("SOF-2026") for line in o.lines)
        and _lt(_stock(c, "PIL-001"), 1)
    ),
    "many-returns-same-phone": _returns,
    "free-shipping-over-299": lambda o, c: (
        sum(x.amounts.goods.amount - x.amounts.discount_total.amount for x in c.combined or (o,))
        >= D299
    ),
    "small-order-fee": lambda o, c: (
        o.channel in ("pdd", "xiaohongshu") and o.amounts.paid.amount < D49
    ),
    "split-short-lines": lambda o, c: any(
        _lt(_stock(c, line.sku), line.quantity) for line in o.lines
    ),
    "urgent-to-warehouse-a": lambda o, c: "urgent" in o.tags,
    "engraving-to-line-c": lambda o, c: any(
        _attr(line.attributes, "engraving") is not None for line in o.lines
    ),
    "east-china-to-hangzhou": lambda o, c: (
        o.receiver is not None and o.receiver.province in EAST_CHINA
    ),
    "high-value-review": lambda o, c: o.amounts.paid.amount > D5000,
    "vague-address": lambda o, c: _vague(o),
    "abnormal-discount": lambda o, c: o.amounts.discount_total.amount * 2 > o.amounts.goods.amount,
    "bulk-quantity": lambda o, c: sum(line.quantity for line in o.lines) >= 6,
    "many-pricey-lines": lambda o, c: (
        sum(1 for line in o.lines if line.unit_price.amount >= D100) >= 3
    ),
    "paid-not-shipped-2h": lambda o, c: (
        o.status in ("paid", "allocated")
        and o.paid_at is not None
        and c.clock() - o.paid_at.utc > H2
    ),
    "pricey-shanghai-by-sf": lambda o, c: (
        max(line.unit_price.amount for line in o.lines) >= D1000
        and o.receiver is not None
        and o.receiver.city == "上海市"
    ),
    "sf-unhealthy": lambda o, c: (
        _lt(_carrier(c, "SF"), SF_MIN) and o.status in ("paid", "allocated", "picking")
    ),
    "jd-vat-invoice": lambda o, c: (
        o.channel == "jd" and _attr(o.attributes, "invoice_type") == "增值税专用发票"
    ),
    "presale-balance-due": lambda o, c: (
        o.order_type == "presale" and o.presale is not None and o.presale.phase == "deposit_paid"
    ),
    "weekend-delivery-note": lambda o, c: (
        o.buyer_note is not None
        and WEEKEND.search(o.buyer_note) is not None
        and o.status not in ("cancelled", "completed")
    ),
}


def _discounts(amounts: Any) -> Decimal:
    return sum((d.amount.amount for d in amounts.discounts), Decimal("0.00"))


#: The lambdas with the one slow read, ``amounts.discount_total`` (a property adding
#: Money objects), replaced by adding the discounts' amounts by hand.
TUNED_LAMBDAS: dict[str, Callable[[Order, RuleContext], bool]] = {
    **LAMBDAS,
    "free-shipping-over-299": lambda o, c: (
        sum(x.amounts.goods.amount - _discounts(x.amounts) for x in c.combined or (o,)) >= D299
    ),
    "abnormal-discount": lambda o, c: _discounts(o.amounts) * 2 > o.amounts.goods.amount,
}

_EAST_ZEN = "[" + ", ".join(f"'{p}'" for p in EAST_CHINA) + "]"
#: Rule name -> the condition as a zen expression over :func:`peer_data`.
ZEN: dict[str, str] = {
    "sofa-pillow-gift": "channel == 'douyin' and some(lines, contains(#.sku, 'SOF-2026'))",
    "pillow-gift-short": (
        "channel == 'douyin' and some(lines, startsWith(#.sku, 'SOF-2026')) "
        "and stock_pil != null and stock_pil < 1"
    ),
    "many-returns-same-phone": "returns_count > 5 and returns_orders >= 3",
    "free-shipping-over-299": "sum(map(combined, #.goods - #.discount)) >= 29900",
    "small-order-fee": "channel in ['pdd', 'xiaohongshu'] and paid < 4900",
    "split-short-lines": "some(lines, #.stock != null and #.stock < #.quantity)",
    "urgent-to-warehouse-a": "'urgent' in tags",
    "engraving-to-line-c": "some(lines, #.engraving)",
    "east-china-to-hangzhou": f"province in {_EAST_ZEN}",
    "high-value-review": "paid > 500000",
    "vague-address": (
        "detail != null and (contains(detail, '附近') or contains(detail, '对面') "
        "or matches(detail, '^[^0-9]{1,40}$'))"
    ),
    "abnormal-discount": "discount * 2 > goods",
    "bulk-quantity": "sum(map(lines, #.quantity)) >= 6",
    "many-pricey-lines": "count(lines, #.unit_price >= 10000) >= 3",
    "paid-not-shipped-2h": (
        "status in ['paid', 'allocated'] and paid_age_s != null and paid_age_s > 7200"
    ),
    "pricey-shanghai-by-sf": "max(map(lines, #.unit_price)) >= 100000 and city == '上海市'",
    "sf-unhealthy": (
        "sf_success != null and sf_success < 0.65 and status in ['paid', 'allocated', 'picking']"
    ),
    "jd-vat-invoice": "channel == 'jd' and invoice_type == '增值税专用发票'",
    "presale-balance-due": "order_type == 'presale' and presale_phase == 'deposit_paid'",
    "weekend-delivery-note": (
        "buyer_note != null and matches(buyer_note, '周末|星期[六日天]') "
        "and not (status in ['cancelled', 'completed'])"
    ),
}

_EAST_RE = "[" + ", ".join(f"'{p}'" for p in EAST_CHINA) + "]"
#: Rule name -> the condition in rule_engine's language over :func:`peer_data`.
RULE_ENGINE: dict[str, str] = {
    "sofa-pillow-gift": "channel == 'douyin' and $any([('SOF-2026' in l['sku']) for l in lines])",
    "pillow-gift-short": (
        "channel == 'douyin' and $any([(l['sku'] =~ 'SOF-2026') for l in lines]) "
        "and stock_pil != null and stock_pil < 1"
    ),
    "many-returns-same-phone": "returns_count > 5 and returns_orders >= 3",
    "free-shipping-over-299": "$sum([x['goods'] - x['discount'] for x in combined]) >= 29900",
    "small-order-fee": "channel in ['pdd', 'xiaohongshu'] and paid < 4900",
    "split-short-lines": (
        "$any([(l['stock'] != null and l['stock'] < l['quantity']) for l in lines])"
    ),
    "urgent-to-warehouse-a": "'urgent' in tags",
    "engraving-to-line-c": "$any([l['engraving'] for l in lines])",
    "east-china-to-hangzhou": f"province in {_EAST_RE}",
    "high-value-review": "paid > 500000",
    "vague-address": (
        "detail != null and ('附近' in detail or '对面' in detail or detail =~~ '^[^0-9]{1,40}$')"
    ),
    "abnormal-discount": "discount * 2 > goods",
    "bulk-quantity": "$sum([l['quantity'] for l in lines]) >= 6",
    "many-pricey-lines": "$sum([1 for l in lines if l['unit_price'] >= 10000]) >= 3",
    "paid-not-shipped-2h": (
        "status in ['paid', 'allocated'] and paid_age_s != null and paid_age_s > 7200"
    ),
    "pricey-shanghai-by-sf": (
        "$max([l['unit_price'] for l in lines]) >= 100000 and city == '上海市'"
    ),
    "sf-unhealthy": (
        "sf_success != null and sf_success < 0.65 and status in ['paid', 'allocated', 'picking']"
    ),
    "jd-vat-invoice": "channel == 'jd' and invoice_type == '增值税专用发票'",
    "presale-balance-due": "order_type == 'presale' and presale_phase == 'deposit_paid'",
    "weekend-delivery-note": (
        "buyer_note != null and buyer_note =~~ '周末|星期[六日天]' "
        "and not (status in ['cancelled', 'completed'])"
    ),
}


def _v(name: str) -> dict[str, Any]:
    return {"var": name}


def _sum_of(items: str, value: Any) -> dict[str, Any]:
    return {"reduce": [_v(items), {"+": [_v("accumulator"), value]}, 0]}


#: Rule name -> the condition as JsonLogic over :func:`peer_data`.
JSON_LOGIC: dict[str, Any] = {
    "sofa-pillow-gift": {
        "and": [
            {"==": [_v("channel"), "douyin"]},
            {"some": [_v("lines"), {"contains": [_v("sku"), "SOF-2026"]}]},
        ]
    },
    "pillow-gift-short": {
        "and": [
            {"==": [_v("channel"), "douyin"]},
            {"some": [_v("lines"), {"starts_with": [_v("sku"), "SOF-2026"]}]},
            {"!==": [_v("stock_pil"), None]},
            {"<": [_v("stock_pil"), 1]},
        ]
    },
    "many-returns-same-phone": {
        "and": [{">": [_v("returns_count"), 5]}, {">=": [_v("returns_orders"), 3]}]
    },
    "free-shipping-over-299": {
        ">=": [
            _sum_of("combined", {"-": [_v("current.goods"), _v("current.discount")]}),
            29900,
        ]
    },
    "small-order-fee": {
        "and": [{"in": [_v("channel"), ["pdd", "xiaohongshu"]]}, {"<": [_v("paid"), 4900]}]
    },
    "split-short-lines": {
        "some": [
            _v("lines"),
            {"and": [{"!==": [_v("stock"), None]}, {"<": [_v("stock"), _v("quantity")]}]},
        ]
    },
    "urgent-to-warehouse-a": {"in": ["urgent", _v("tags")]},
    "engraving-to-line-c": {"some": [_v("lines"), _v("engraving")]},
    "east-china-to-hangzhou": {"in": [_v("province"), list(EAST_CHINA)]},
    "high-value-review": {">": [_v("paid"), 500000]},
    "vague-address": {
        "and": [
            {"!==": [_v("detail"), None]},
            {
                "or": [
                    {"contains": [_v("detail"), "附近"]},
                    {"contains": [_v("detail"), "对面"]},
                    {"matches": [_v("detail"), "^[^0-9]{1,40}$"]},
                ]
            },
        ]
    },
    "abnormal-discount": {">": [{"*": [_v("discount"), 2]}, _v("goods")]},
    "bulk-quantity": {">=": [_sum_of("lines", _v("current.quantity")), 6]},
    "many-pricey-lines": {
        ">=": [_sum_of("lines", {"if": [{">=": [_v("current.unit_price"), 10000]}, 1, 0]}), 3]
    },
    "paid-not-shipped-2h": {
        "and": [
            {"in": [_v("status"), ["paid", "allocated"]]},
            {"!==": [_v("paid_age_s"), None]},
            {">": [_v("paid_age_s"), 7200]},
        ]
    },
    "pricey-shanghai-by-sf": {
        "and": [
            {
                ">=": [
                    {
                        "reduce": [
                            _v("lines"),
                            {"max": [_v("accumulator"), _v("current.unit_price")]},
                            0,
                        ]
                    },
                    100000,
                ]
            },
            {"==": [_v("city"), "上海市"]},
        ]
    },
    "sf-unhealthy": {
        "and": [
            {"!==": [_v("sf_success"), None]},
            {"<": [_v("sf_success"), 0.65]},
            {"in": [_v("status"), ["paid", "allocated", "picking"]]},
        ]
    },
    "jd-vat-invoice": {
        "and": [{"==": [_v("channel"), "jd"]}, {"==": [_v("invoice_type"), "增值税专用发票"]}]
    },
    "presale-balance-due": {
        "and": [
            {"==": [_v("order_type"), "presale"]},
            {"==": [_v("presale_phase"), "deposit_paid"]},
        ]
    },
    "weekend-delivery-note": {
        "and": [
            {"!==": [_v("buyer_note"), None]},
            {"matches": [_v("buyer_note"), "周末|星期[六日天]"]},
            {"!": {"in": [_v("status"), ["cancelled", "completed"]]}},
        ]
    },
}


# -- the engines, each as "one order -> the matched rules" ------------------------------------


Matcher = Callable[[Any], Any]


def ours(rules: RuleSet, *, explain: bool = False, read: bool = False) -> Matcher:
    evaluate = rules.evaluate
    if read:

        def run_read(pair: tuple[Order, RuleContext]) -> Any:
            decision = evaluate(pair[0], pair[1], explain=True)
            return decision.explain()

        return run_read
    if explain:
        return lambda pair: evaluate(pair[0], pair[1], explain=True)
    return lambda pair: evaluate(pair[0], pair[1])


def ours_matches(rules: RuleSet, pair: tuple[Order, RuleContext], explain: bool) -> set[str]:
    decision = rules.evaluate(pair[0], pair[1], explain=explain)
    return set(decision.matched) | set(decision.shadowed)


def lambdas(names: Sequence[str], table: Mapping[str, Any] = LAMBDAS) -> Matcher:
    tests = tuple(table[name] for name in names)
    indices = tuple(range(len(tests)))

    def run(pair: tuple[Order, RuleContext]) -> list[int]:
        order, context = pair
        return [i for i in indices if tests[i](order, context)]

    return run


def zen_table(names: Sequence[str]) -> Matcher:
    import zen

    content = {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "order", "position": {"x": 0, "y": 0}},
            {
                "id": "rules",
                "type": "decisionTableNode",
                "name": "rules",
                "position": {"x": 200, "y": 0},
                "content": {
                    "hitPolicy": "collect",
                    "inputs": [{"id": "when", "name": "when"}],
                    "outputs": [{"id": "rule", "name": "rule", "field": "rule"}],
                    "rules": [
                        {"_id": f"r{i}", "when": ZEN[name], "rule": json.dumps(name)}
                        for i, name in enumerate(names)
                    ],
                },
            },
            {"id": "out", "type": "outputNode", "name": "decision", "position": {"x": 400, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "rules", "type": "edge"},
            {"id": "e2", "sourceId": "rules", "targetId": "out", "type": "edge"},
        ],
    }
    decision = zen.ZenEngine().create_decision(json.dumps(content))
    evaluate = decision.evaluate
    return lambda data: evaluate(data)["result"]


def zen_table_matches(matcher: Matcher, data: dict[str, Any]) -> set[str]:
    return {row["rule"] for row in matcher(data)}


def zen_expressions(names: Sequence[str]) -> Matcher:
    import zen

    compiled = tuple(zen.compile_expression(ZEN[name]).evaluate for name in names)
    indices = tuple(range(len(compiled)))

    def run(data: dict[str, Any]) -> list[int]:
        return [i for i in indices if compiled[i](data) is True]

    return run


def rule_engine_rules(names: Sequence[str]) -> Matcher:
    import rule_engine

    context = rule_engine.Context(default_value=None)
    compiled = tuple(rule_engine.Rule(RULE_ENGINE[name], context=context).matches for name in names)
    indices = tuple(range(len(compiled)))

    def run(data: dict[str, Any]) -> list[int]:
        return [i for i in indices if compiled[i](data)]

    return run


def json_logic_rules(names: Sequence[str]) -> Matcher:
    from json_logic import jsonLogic
    from json_logic.builtins import BUILTINS

    patterns: dict[str, re.Pattern[str]] = {}

    def matches(data: Any, text: Any, pattern: Any) -> bool:
        if not isinstance(text, str):
            return False
        found = patterns.get(pattern)
        if found is None:
            found = patterns[pattern] = re.compile(pattern)
        return found.search(text) is not None

    operations = {
        **BUILTINS,
        "contains": lambda data, a, b: isinstance(a, str) and isinstance(b, str) and b in a,
        "starts_with": lambda data, a, b: isinstance(a, str) and a.startswith(b),
        "matches": matches,
    }
    logic = tuple(JSON_LOGIC[name] for name in names)
    indices = tuple(range(len(logic)))

    def run(data: dict[str, Any]) -> list[int]:
        return [i for i in indices if jsonLogic(logic[i], data, operations) is True]

    return run


# -- agreement ----------------------------------------------------------------------------------


class Disagreement(Exception):
    """Two engines matched different rules for some orders."""


def check_agreement(
    rules: RuleSet,
    pairs: Sequence[tuple[Order, RuleContext]],
    data: Sequence[dict[str, Any]],
    engines: Mapping[str, Matcher],
) -> Counter[str]:
    """Every engine's matched rules for every order, against ordercore's; the match counts."""
    names = rules.names()
    expected = [ours_matches(rules, pair, False) for pair in pairs]
    counts: Counter[str] = Counter()
    for found in expected:
        counts.update(found)
    problems: list[str] = []
    traced = [ours_matches(rules, pair, True) for pair in pairs]
    for number, (want, got) in enumerate(zip(expected, traced, strict=True)):
        if want != got:
            problems.append(f"explain=True, order {number}: {sorted(want ^ got)}")
    for engine, matcher in engines.items():
        for number, (pair, item) in enumerate(zip(pairs, data, strict=True)):
            if engine.startswith("lambdas"):
                got = {names[i] for i in matcher(pair)}
            elif engine == "zen_table":
                got = zen_table_matches(matcher, item)
            else:
                got = {names[i] for i in matcher(item)}
            if got != expected[number]:
                problems.append(
                    f"{engine}, order {number} ({pair[0].channel}): differs on "
                    f"{sorted(got ^ expected[number])}"
                )
    if problems:
        shown = "\n".join(problems[:20])
        more = f"\n... {len(problems) - 20} more" if len(problems) > 20 else ""
        raise Disagreement(f"{len(problems)} disagreements with ordercore:\n{shown}{more}")
    return counts


# -- timing -------------------------------------------------------------------------------------


# A second, lighter set: 20 single comparisons (no quantifiers, patterns or lookups), the
# kind of workload where per-rule work is smallest and the fixed cost of a decision shows.
SIMPLE: Final[tuple[tuple[str, Callable[[Order], bool]], ...]] = (
    ("order.amounts.paid >= 299", lambda o: o.amounts.paid.amount >= 299),
    ('order.channel == "douyin"', lambda o: o.channel == "douyin"),
    ("order.quantity >= 3", lambda o: o.quantity >= 3),
    ('order.status == "paid"', lambda o: o.status == "paid"),
    ("order.amounts.shipping > 0", lambda o: o.amounts.shipping.amount > 0),
    ('order.channel in ["taobao", "jd"]', lambda o: o.channel in ("taobao", "jd")),
    ("order.amounts.paid < 50", lambda o: o.amounts.paid.amount < 50),
    ('order.order_type == "presale"', lambda o: o.order_type == "presale"),
    ("order.buyer_note != null", lambda o: o.buyer_note is not None),
    (
        'order.receiver.province == "浙江省"',
        lambda o: o.receiver is not None and o.receiver.province == "浙江省",
    ),
    ('order.tags contains "urgent"', lambda o: "urgent" in o.tags),
    ("order.amounts.goods >= 1000", lambda o: o.amounts.goods.amount >= 1000),
    ('order.shop_id == "douyin-shop-1"', lambda o: o.shop_id == "douyin-shop-1"),
    ("order.paid_at == null", lambda o: o.paid_at is None),
    ("order.amounts.paid >= 5000", lambda o: o.amounts.paid.amount >= 5000),
    ('order.channel == "pos"', lambda o: o.channel == "pos"),
    ("order.quantity == 1", lambda o: o.quantity == 1),
    ('order.status == "cancelled"', lambda o: o.status == "cancelled"),
    ("order.amounts.shipping == 0", lambda o: o.amounts.shipping.amount == 0),
    (
        'order.receiver.city == "杭州市"',
        lambda o: o.receiver is not None and o.receiver.city == "杭州市",
    ),
)


def simple_rules() -> RuleSet:
    """SIMPLE as a rule set, each rule tagging the order."""
    return RuleSet.from_dict(
        {
            "ruleset": "bench.simple",
            "version": 1,
            "rules": [
                {"name": f"simple-{i}", "when": text, "then": [{"tag": f"t{i % 5}"}]}
                for i, (text, _) in enumerate(SIMPLE)
            ],
        },
        source="benchmarks/rules.py SIMPLE",
    )


def simple_lambdas() -> Matcher:
    tests = [(f"simple-{i}", test) for i, (_, test) in enumerate(SIMPLE)]

    def match(pair: tuple[Order, RuleContext]) -> list[str]:
        order = pair[0]
        return [name for name, test in tests if test(order)]

    return match


def timed_run(function: Matcher, items: Sequence[Any]) -> tuple[Callable[[], float], int]:
    """A run over ``items`` repeated to last about RUN_S; returns seconds per item."""
    with stopwatch() as watch:
        for item in items:
            function(item)
    passes = max(1, math.ceil(RUN_S / max(watch.seconds, 1e-9)))
    count = passes * len(items)

    def run() -> float:
        with stopwatch() as timer:
            for _ in range(passes):
                for item in items:
                    function(item)
        return timer.seconds / count

    return run, passes


CONTENDERS = {
    "ours": "RuleSet.evaluate",
    "explain": "RuleSet.evaluate(explain=True)",
    "explain_read": "explain=True, every trace line read (reference)",
    "lambdas": "hand-written Python lambdas (floor)",
    "lambdas_tuned": "the lambdas, discount_total added by hand (reference)",
    "zen_table": "zen-engine decision table (peer)",
    "zen_expressions": "zen-engine compiled expressions (peer)",
    "json_logic": "json_logic, panzi-json-logic (peer)",
    "rule_engine": "rule_engine (peer)",
    "simple": "RuleSet.evaluate",
    "simple_lambdas": "hand-written Python lambdas (floor)",
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer orders and runs")
    parser.add_argument(
        "--orders",
        type=int,
        help=f"orders (default {FULL_ORDERS:,}; {QUICK_ORDERS:,} with --quick)",
    )
    parser.add_argument("--repeat", type=int, help="timed runs per contender (default 3 / 5)")
    parser.add_argument(
        "--json-only", action="store_true", help="print only the JSON line on stdout"
    )
    args = parser.parse_args(argv)
    if args.orders is None:
        args.orders = QUICK_ORDERS if args.quick else FULL_ORDERS
    if args.repeat is None:
        args.repeat = QUICK_REPEAT if args.quick else FULL_REPEAT
    if args.orders < 100 or args.repeat < 1:
        parser.error("--orders must be at least 100, --repeat at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = sys.stderr if args.json_only else sys.stdout
    started = time.perf_counter()
    load = os.getloadavg()
    cpus = os.cpu_count() or 1
    rules = load_rules(FIXTURE)
    names = rules.names()
    missing = sorted(set(names) ^ set(LAMBDAS))
    if missing:
        print(f"the fixture and the lambdas name different rules: {missing}", file=sys.stderr)
        return 1
    print(
        f"ordercore {ordercore.__version__} rules benchmark: {len(names)} rules of "
        f"{FIXTURE.name} over {args.orders:,} orders, median of {args.repeat} runs after a "
        f"warm-up; Python {platform.python_version()}, {cpus} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the start",
        file=out,
    )
    pairs = build_orders(args.orders, SEED)
    data = [peer_data(order, context) for order, context in pairs]
    peers = {
        "zen_table": zen_table(names),
        "zen_expressions": zen_expressions(names),
        "json_logic": json_logic_rules(names),
        "rule_engine": rule_engine_rules(names),
    }
    engines = {
        "lambdas": lambdas(names),
        "lambdas_tuned": lambdas(names, TUNED_LAMBDAS),
        **peers,
    }
    try:
        counts = check_agreement(rules, pairs, data, engines)
    except Disagreement as problem:
        print(problem, file=sys.stderr)
        return 1
    print(
        f"every engine matched the same rules on every order ({sum(counts.values()):,} "
        f"matches; every rule matched at least once: {len(counts) == len(names)})",
        file=out,
    )
    simple = simple_rules()
    simple_floor = simple_lambdas()
    for pair in pairs:
        if set(simple_floor(pair)) != set(simple.evaluate(*pair).matched):
            print(f"the simple set disagrees on order {pair[0].id}", file=sys.stderr)
            return 1
    functions: dict[str, tuple[Matcher, Sequence[Any]]] = {
        "ours": (ours(rules), pairs),
        "simple": (ours(simple), pairs),
        "simple_lambdas": (simple_floor, pairs),
        "explain": (ours(rules, explain=True), pairs),
        "explain_read": (ours(rules, read=True), pairs),
        "lambdas": (engines["lambdas"], pairs),
        "lambdas_tuned": (engines["lambdas_tuned"], pairs),
        **{
            name: (matcher, data[:QUICK_PEER_ORDERS] if args.quick else data)
            for name, matcher in peers.items()
        },
    }
    runs: dict[str, Callable[[], float]] = {}
    passes: dict[str, int] = {}
    for name, (function, items) in functions.items():
        # The first pass (untimed) sizes the runs and warms the contender up.
        runs[name], passes[name] = timed_run(function, items)
    nothing: Callable[[], float] = lambda: 0.0  # noqa: E731 - warmed up above
    # Each run returns the seconds of one pass over its orders: the rates are per order.
    rates: dict[str, Rate] = compare(
        runs, items=1, repeat=args.repeat, warmups=dict.fromkeys(runs, nothing)
    )

    report = Report()
    ours_rate, floor, table = rates["ours"], rates["lambdas"], rates["zen_table"]
    report.section(f"rule-set evaluations per second, {len(names)} rules, one order each")
    report.contender(
        CONTENDERS["ours"],
        ours_rate,
        target=report.target("evals_per_s", TARGET_RATE, ours_rate.median),
    )
    report.contender(CONTENDERS["explain"], rates["explain"])
    report.contender(CONTENDERS["explain_read"], rates["explain_read"])
    report.contender(
        CONTENDERS["lambdas"],
        floor,
        ours=ours_rate,
        target=report.target("ratio_vs_lambdas", TARGET_RATIO, ours_rate.median / floor.median),
    )
    report.line(
        "explain=True beside the lambdas",
        f"{rates['explain'].median / floor.median:.2f}",
        target=report.target(
            "explain_ratio_vs_lambdas", TARGET_EXPLAIN_RATIO, rates["explain"].median / floor.median
        ),
    )
    report.contender(CONTENDERS["lambdas_tuned"], rates["lambdas_tuned"], ours=ours_rate)
    for name in peers:
        report.contender(CONTENDERS[name], rates[name], ours=ours_rate)
    report.section(f"the same, {len(SIMPLE)} single comparisons (reference)")
    report.contender(CONTENDERS["simple"], rates["simple"])
    report.contender(CONTENDERS["simple_lambdas"], rates["simple_lambdas"], ours=rates["simple"])
    report.figures.update(
        {
            "evals_per_s": round(ours_rate.median),
            "explain_evals_per_s": round(rates["explain"].median),
            "explain_read_evals_per_s": round(rates["explain_read"].median),
            "lambdas_per_s": round(floor.median),
            "lambdas_tuned_per_s": round(rates["lambdas_tuned"].median),
            "ratio_vs_lambdas_tuned": round(ours_rate.median / rates["lambdas_tuned"].median, 3),
            "ratio_vs_lambdas": round(ours_rate.median / floor.median, 3),
            "explain_ratio_vs_lambdas": round(rates["explain"].median / floor.median, 3),
            "ratio_vs_zen_table": round(ours_rate.median / table.median, 2),
            **{f"{name}_per_s": round(rates[name].median) for name in peers},
            **{
                f"ratio_vs_{name}": round(ours_rate.median / rates[name].median, 2)
                for name in peers
                if name != "zen_table"
            },
            "simple_evals_per_s": round(rates["simple"].median),
            "simple_lambdas_per_s": round(rates["simple_lambdas"].median),
            "simple_ratio_vs_lambdas": round(
                rates["simple"].median / rates["simple_lambdas"].median, 3
            ),
            "spread": {name: round(rate.spread, 3) for name, rate in rates.items()},
            "passes": passes,
            "python": platform.python_version(),
            "ordercore": ordercore.__version__,
            "cpus": cpus,
            "load_average_start": [round(value, 2) for value in load],
            "orders": args.orders,
            "repeat": args.repeat,
            "quick": args.quick,
            "rules": len(names),
            "matches": {name: counts.get(name, 0) for name in names},
        }
    )
    report.figures["load_average_end"] = [round(value, 2) for value in os.getloadavg()]
    report.figures["seconds"] = round(time.perf_counter() - started, 1)
    if not args.json_only:
        print(report.table())
        print()
        print(
            "Targets: evals_per_s is RuleSet.evaluate's rate; ratio_vs_lambdas and "
            "explain_ratio_vs_lambdas are beside the hand-written lambdas in the same run:"
        )
        print(report.targets_table())
    print(report.json_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
