"""GoRules JDM decision tables load as ordinary rule sets and decide what zen-engine decides."""

from __future__ import annotations

import doctest
import json
import re
from collections.abc import Iterator
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
import zen

from ordercore.errors import RuleLoadError
from ordercore.money import Money
from ordercore.rules import ACTIONS, Action, RuleOutcome, RuleSet, apply_decision
from ordercore.rules._actions import parse_action
from ordercore.rules._jdm import SUPPORTED_CELLS, load_jdm, rules_from_jdm, translate_cell
from ordercore.schema import Order
from ordercore.testing import OrderFactory

JDM = Path(__file__).parent.parent / "fixtures" / "rules" / "jdm"
#: Each fixture's decision tables and the group ordercore makes of each.
GROUPS = {
    "routing.json": {"Warehouse routing": "warehouse-routing"},
    "gifts.json": {"Gifts and tags": "gifts-and-tags"},
    "shipping.json": {"Free shipping": "free-shipping", "Review holds": "review-holds"},
    "service.json": {"Service notes": "service-notes"},
}


# -- running the same file through zen-engine ------------------------------------------------


def _zen_value(value: Any) -> Any:
    if isinstance(value, Money):
        return float(value.amount)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [_zen_value(item) for item in value]
    return value


def zen_input(order: Order, fields: list[str]) -> dict[str, Any]:
    """The zen-engine request for ``order``: each field path, money as numbers."""
    request: dict[str, Any] = {}
    for field in fields:
        parts = field.split(".")
        assert parts[0] == "order"
        value: Any = order
        for part in parts[1:]:
            value = None if value is None else getattr(value, part)
        target = request
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = _zen_value(value)
    return request


def _input_fields(graph: dict[str, Any]) -> list[str]:
    return sorted(
        {
            column["field"]
            for node in graph["nodes"]
            if node["type"] == "decisionTableNode"
            for column in node["content"]["inputs"]
        }
    )


def _actions_of(output: dict[str, Any]) -> list[Action]:
    """The actions a zen-engine output row stands for, read back through parse_action."""
    actions: list[Action] = []
    for name, value in output.items():
        cls = ACTIONS[name]
        if isinstance(value, dict):
            params = {key: _decimal(item) for key, item in value.items()}
        elif cls.shortcut is not None:
            params = {cls.shortcut: _decimal(value)}
        elif value is True:
            params = {}
        else:
            continue  # a flag set to false: no action
        actions.append(parse_action(name, params))
    return actions


def _decimal(value: Any) -> Any:
    return Decimal(str(value)) if isinstance(value, float) else value


def zen_rows(decision: Any, graph: dict[str, Any], request: dict[str, Any]) -> Iterator[Any]:
    """(table name, [(row index, actions)]) for each decision table, as zen-engine decided."""
    result = decision.evaluate(request, {"trace": True})
    for node in graph["nodes"]:
        if node["type"] != "decisionTableNode":
            continue
        trace = result["trace"][node["id"]]
        data, output = trace["traceData"], trace["output"]
        if node["content"]["hitPolicy"] == "first":
            rows = [] if not data else [(data["index"], _actions_of(output))]
        else:
            assert len(data) == len(output)
            rows = [(hit["index"], _actions_of(out)) for hit, out in zip(data, output, strict=True)]
        yield node["name"], rows


def _orders() -> list[Order]:
    """Factory orders plus orders on the tables' edges: thresholds, provinces, no address."""
    factory = OrderFactory(seed=20261202)
    orders = list(factory.orders(300))
    edges = ["59.99", "60.00", "98.99", "99.00", "99.01", "299.00", "1000.00", "4999.99"]
    edges += ["5000.00", "5000.01", "8000.00", "8000.01"]
    provinces = ["新疆维吾尔自治区", "福建省", "广西壮族自治区", "广东省", "上海市", "天津市", None]
    channels = ["douyin", "xiaohongshu", "taobao", "jd", "pos", "wechat_channels"]
    notes = [None, "请尽快发货", "周末送货", "送货前请电话联系", "", "尽快"]
    tags: list[tuple[str, ...]] = [(), ("urgent",), ("engraving", "urgent"), ("urgent_vip",)]
    for index, amount in enumerate(edges * 3):
        base = factory.order(channel=channels[index % len(channels)])
        money = Money(amount, base.currency)
        shipping = Money("12.00" if index % 3 else "0.00", base.currency)
        amounts = base.amounts.evolve(goods=money, paid=money, shipping=shipping, discounts=())
        province = provinces[index % len(provinces)]
        receiver = None
        if province is not None and base.receiver is not None:
            receiver = base.receiver.evolve(province=province)
        changed = base.evolve(
            amounts=amounts,
            receiver=receiver,
            buyer_note=notes[index % len(notes)],
            tags=tags[index % len(tags)],
        )
        if index % 5 == 0:  # "POS" inside an id, not at its start
            changed = changed.evolve(channel_order_id=f"WX-POS-{index}")
        orders.append(changed)
    return orders


ORDERS = _orders()


@pytest.mark.parametrize("fixture", sorted(GROUPS))
def test_ordercore_decides_what_zen_engine_decides(fixture: str) -> None:
    text = (JDM / fixture).read_text("utf-8")
    graph = json.loads(text)
    rules = load_jdm(JDM / fixture)
    decision_zen = zen.ZenEngine().create_decision(text)
    fields = _input_fields(graph)
    hits: set[str] = set()
    for order in ORDERS:
        decision = rules.evaluate(order)
        zen_actions: list[Action] = []
        for table, rows in zen_rows(decision_zen, graph, zen_input(order, fields)):
            group = GROUPS[fixture][table]
            expected = [f"{group}-{index + 1}" for index, _ in rows]
            matched = [name for name in decision.matched if rules.rule(name).group == group]
            assert matched == expected, (order.id, table, zen_input(order, fields))
            for name, (_, actions) in zip(expected, rows, strict=True):
                assert list(rules.rule(name).actions) == actions, (name, order.id)
                zen_actions.extend(actions)
            hits.update(expected)
        assert set(zen_actions) == {planned.action for planned in decision.actions}, order.id
    # every row of every table matched some order, so every cell was compared both ways
    assert sorted(hits) == sorted(rules.names())


def test_routing_first_row_wins_and_the_rest_is_shadowed() -> None:
    rules = load_jdm(JDM / "routing.json")
    assert rules.name == "routing"
    assert rules.groups == {"warehouse-routing": "first"}
    assert rules.names()[:3] == [
        "warehouse-routing-1",
        "warehouse-routing-2",
        "warehouse-routing-3",
    ]
    order = OrderFactory(seed=1).order(channel="douyin")
    assert order.receiver is not None
    order = order.evolve(receiver=order.receiver.evolve(province="广东省"))
    decision = rules.evaluate(order, explain=True)
    assert decision.matched == ("warehouse-routing-2",)
    assert decision.shadowed == ("warehouse-routing-5",)
    applied = apply_decision(order, decision)
    assert applied.attributes["warehouse"].value == "WH-GZ-LIVE"
    assert "live" in applied.tags
    text = decision.explain()
    assert 'order.receiver.province = "广东省" == "广东省"' in text
    assert decision.trace is not None
    outcomes = {trace.rule: trace.outcome for trace in decision.trace}
    assert outcomes["warehouse-routing-5"] is RuleOutcome.SHADOWED
    assert outcomes["warehouse-routing-1"] is RuleOutcome.NOT_MATCHED


def test_collect_table_applies_every_matching_row() -> None:
    rules = load_jdm(JDM / "gifts.json")
    assert rules.groups == {"gifts-and-tags": "all"}
    base = OrderFactory(seed=3).order(channel="douyin", lines=3)
    money = Money("9000.00", base.currency)
    order = base.evolve(amounts=base.amounts.evolve(goods=money, paid=money, discounts=()))
    decision = rules.evaluate(order)
    assert set(decision.matched) >= {"gifts-and-tags-1", "gifts-and-tags-3", "gifts-and-tags-9"}
    applied = apply_decision(order, decision)
    assert {"big", "vip", "whale"} <= set(applied.tags)
    # row 9 has no output set: it matches and asks for nothing
    assert rules.rule("gifts-and-tags-9").actions == ()


def test_rows_keep_file_order_as_priority_and_carry_their_description() -> None:
    rules = load_jdm(JDM / "shipping.json")
    priorities = [rule.priority for rule in rules.rules]
    assert priorities == sorted(priorities, reverse=True)
    assert rules.names() == [
        "free-shipping-1",
        "free-shipping-2",
        "free-shipping-3",
        "free-shipping-4",
        "review-holds-1",
        "review-holds-2",
        "review-holds-3",
    ]
    first = rules.rule("free-shipping-1")
    assert first.description == (
        "Free shipping row 1 (_id 0486a2c1-e395-4112-8fd5-768192031401): "
        "remote provinces always pay"
    )
    assert rules.rule("free-shipping-4").when == "true"
    assert rules.rule("review-holds-3").when == (
        "(order.amounts.paid < 60 or order.amounts.paid > 8000)"
    )
    # the flag column set to false asks for no free shipping, only the fee
    assert [a.name for a in rules.rule("free-shipping-4").actions] == ["shipping_fee"]
    # an ordinary rule set: it round-trips through from_dict
    again = RuleSet.from_dict(rules.to_dict(), source="again")
    assert again.names() == rules.names()
    assert again.groups == {"free-shipping": "first", "review-holds": "all"}


def test_name_version_and_source() -> None:
    text = (JDM / "gifts.json").read_text("utf-8")
    rules = rules_from_jdm(text, ruleset="promo", version=4)
    assert (rules.name, rules.version, rules.source) == ("promo", 4, "<jdm>")
    assert rules_from_jdm(text.encode()).name == "jdm"
    assert rules_from_jdm(json.loads(text), source="rules/Gifts 2026.json").name == "gifts-2026"


# -- translating cells -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "condition"),
    [
        ("", None),
        ("  ", None),
        ('"douyin"', 'F == "douyin"'),
        ("'douyin'", 'F == "douyin"'),
        ("299", "F == 299"),
        ("1_000.50", "F == 1000.50"),
        ("true", "F == true"),
        ("null", "F == null"),
        ('"a", "b"', 'F in ["a", "b"]'),
        ("4, 5, 6", "F in [4, 5, 6]"),
        ("> 299", "F > 299"),
        (">= 299", "F >= 299"),
        ("< -5", "F < -5"),
        ("<= 5", "F <= 5"),
        ('== "a"', 'F == "a"'),
        ('!= "a"', 'F != "a"'),
        ("$ > 299", "F > 299"),
        ("[1..10]", "F >= 1 and F <= 10"),
        ("(1..10)", "F > 1 and F < 10"),
        ("[1..10)", "F >= 1 and F < 10"),
        ("(1.5..10]", "F > 1.5 and F <= 10"),
        ("< 10, > 50", "F < 10 or F > 50"),
        ("< 10, [20..30]", "F < 10 or (F >= 20 and F <= 30)"),
        ('"a", null', 'F == "a" or F == null'),
        ('contains($, "SOF")', 'F contains "SOF"'),
        ('startsWith($, "WX")', 'F starts_with "WX"'),
        ('endsWith($, "-VIP")', 'F ends_with "-VIP"'),
        ('"a\\b"', 'F == "a\\\\b"'),
    ],
)
def test_translate_cell(cell: str, condition: str | None) -> None:
    assert translate_cell(cell, "F") == condition


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("[1..10)", 10),
        ("[1..10)", 1),
        ("< 3, > 5", 6),
        ("< 3, > 5", 4),
        ("(1..3]", 1),
        ('"a", "b"', None),
        ('"a", "b"', "b"),
        ('!= "a"', None),
        ('!= "a"', "a"),
        ('contains($, "x")', "axb"),
        ('contains($, "x")', None),
        ('startsWith($, "ax")', "axb"),
    ],
)
def test_a_cell_matches_when_zen_engine_says_it_does(cell: str, value: Any) -> None:
    field = "order.quantity" if isinstance(value, int) else "order.buyer_note"
    order = OrderFactory(seed=9).order(lines=1)
    if isinstance(value, int):
        order = order.evolve(lines=(order.lines[0].evolve(quantity=value),))
    else:
        order = order.evolve(buyer_note=value)
    graph = _graph(rows=[{"in": cell, "out": '"hit"'}], field=field)
    result = zen.ZenEngine().create_decision(json.dumps(graph)).evaluate(zen_input(order, [field]))
    expected = result["result"] == {"tag": "hit"}
    assert rules_from_jdm(graph).evaluate(order).matched == (("t-1",) if expected else ())


# -- what is refused -----------------------------------------------------------------------------


def _graph(
    *,
    rows: list[dict[str, str]],
    field: str = "order.channel",
    output: str = "tag",
    hit: str = "first",
    name: str = "T",
    extra_outputs: list[dict[str, str]] = (),  # type: ignore[assignment]
) -> dict[str, Any]:
    """A one-table JDM graph in the editor's shape; rows give "in" and "out" cells."""
    outputs = [{"id": "out", "name": "Result", "type": "expression", "field": output}]
    outputs += list(extra_outputs)
    return {
        "contentType": "application/vnd.gorules.decision",
        "nodes": [
            {"id": "n-in", "type": "inputNode", "name": "Request", "position": {"x": 0, "y": 0}},
            {
                "id": "n-t",
                "type": "decisionTableNode",
                "name": name,
                "position": {"x": 200, "y": 0},
                "content": {
                    "hitPolicy": hit,
                    "inputs": [
                        {"id": "in", "name": "Channel", "type": "expression", "field": field}
                    ],
                    "outputs": outputs,
                    "rules": [{"_id": f"r{i}", **row} for i, row in enumerate(rows, start=1)],
                },
            },
            {
                "id": "n-out",
                "type": "outputNode",
                "name": "Response",
                "position": {"x": 400, "y": 0},
            },
        ],
        "edges": [
            {"id": "e1", "sourceId": "n-in", "targetId": "n-t", "type": "edge"},
            {"id": "e2", "sourceId": "n-t", "targetId": "n-out", "type": "edge"},
        ],
    }


UNSUPPORTED = [
    "-",
    'not("pos")',
    "]1..10[",
    "pos",
    "$ > 5 and $ < 10",
    "`douyin`",
    '[1.."z"]',
    "sum($)",
    "1e6",
    "> ",
    '"a",',
    "contains($, 5)",
    'lower($) == "pos"',
]


@pytest.mark.parametrize("cell", UNSUPPORTED)
def test_unsupported_cells_name_table_row_column_and_cell(cell: str) -> None:
    graph = _graph(rows=[{"in": '"douyin"', "out": '"a"'}, {"in": cell, "out": '"b"'}])
    with pytest.raises(RuleLoadError) as caught:
        rules_from_jdm(graph, source="t.json")
    error = caught.value
    message = str(error)
    assert message.startswith("t.json: table 'T' row 2, input column 'Channel' (order.channel)")
    assert f"cell {cell!r} is not supported" in message
    assert error.rule == "t-2"
    assert error.expected == SUPPORTED_CELLS
    assert error.source == "t.json"


def test_a_cell_of_the_wrong_type_is_refused_with_its_reading() -> None:
    graph = _graph(rows=[{"in": '"douyin"', "out": '"a"'}], field="order.amounts.paid")
    with pytest.raises(RuleLoadError) as caught:
        rules_from_jdm(graph)
    message = str(caught.value)
    assert "table 'T' row 1, input column 'Channel' (order.amounts.paid)" in message
    assert 'read as order.amounts.paid == "douyin"' in message
    graph = _graph(rows=[{"in": '"payed"', "out": '"a"'}], field="order.status")
    with pytest.raises(RuleLoadError, match="'payed' is not a OrderStatus") as caught:
        rules_from_jdm(graph)
    assert "pending_payment" in str(caught.value.expected)


@pytest.mark.parametrize(
    ("field", "problem"),
    [
        ("customer.country", "the field 'customer.country' is not a path into the order"),
        ("sum(map(order.lines, #.quantity))", "is not a path into the order"),
        ("", "the field '' is not a path into the order"),
        ("order.nope", "unknown field 'nope' of Order"),
        ("order.receiver._secret", "_secret"),
    ],
)
def test_bad_input_columns_are_named(field: str, problem: str) -> None:
    with pytest.raises(RuleLoadError) as caught:
        rules_from_jdm(_graph(rows=[{"in": "", "out": '"a"'}], field=field))
    message = str(caught.value)
    assert f"table 'T', input column 'Channel' ({field})" in message
    assert problem in message


@pytest.mark.parametrize(
    ("output", "problem"),
    [
        ("gift.sku", "unknown action 'gift'"),
        ("route.dock", "route has no parameter 'dock'"),
        ("add_gift.available", "add_gift has no parameter 'available'"),
        ("Tag", "does not name an action"),
        ("add_gift.sku.code", "does not name an action"),
    ],
)
def test_bad_output_columns_are_named(output: str, problem: str) -> None:
    with pytest.raises(RuleLoadError) as caught:
        rules_from_jdm(_graph(rows=[{"in": "", "out": '"a"'}], output=output))
    message = str(caught.value)
    assert f"table 'T', output column 'Result' ({output})" in message
    assert problem in message


def test_two_columns_for_one_parameter_are_refused() -> None:
    extra = [{"id": "o2", "name": "Tags", "type": "expression", "field": "tag.tags"}]
    with pytest.raises(RuleLoadError, match=r"tag\.tags is also set by column 'Result'"):
        rules_from_jdm(_graph(rows=[{"in": "", "out": '"a"'}], extra_outputs=extra))


@pytest.mark.parametrize(
    ("output", "cell", "column", "problem"),
    [
        ("tag", "price * 2", "'Result' (tag)", "cell 'price * 2' is not supported"),
        ("tag", 'upper("a")', "'Result' (tag)", "is not supported"),
        ("add_gift.quantity", "0", "'Result' (add_gift.quantity)", "quantity"),
        ("hold.reason", '"sleepy"', "'Result' (hold.reason)", "hold: reason"),
        ("free_shipping", '"yes"', "'Result' (free_shipping)", "free_shipping has no parameters"),
        ("route", "299", "'Result' (route)", "warehouse"),
    ],
)
def test_bad_output_cells_name_row_and_column(
    output: str, cell: str, column: str, problem: str
) -> None:
    extra = []
    if output == "add_gift.quantity":
        extra = [{"id": "sku", "name": "SKU", "type": "expression", "field": "add_gift.sku"}]
    rows = [{"in": "", "out": '"a"' if output == "tag" else "", "sku": '"PIL-001"'}]
    rows.append({"in": "", "out": cell, "sku": '"PIL-001"'})
    graph = _graph(rows=rows, output=output, extra_outputs=extra)
    with pytest.raises(RuleLoadError) as caught:
        rules_from_jdm(graph)
    message = str(caught.value)
    assert f"table 'T' row 2, output column {column}" in message
    assert problem in message
    assert caught.value.rule == "t-2"


def test_every_problem_is_listed_at_once() -> None:
    graph = _graph(rows=[{"in": "pos", "out": "x"}, {"in": "]1..2[", "out": '"ok"'}])
    with pytest.raises(RuleLoadError) as caught:
        rules_from_jdm(graph, source="many.json")
    error = caught.value
    assert len(error.problems) == 3
    assert str(error).startswith("3 problems in many.json:")
    assert [p.split(",")[0] for p in error.problems] == [
        "many.json: table 'T' row 1",
        "many.json: table 'T' row 1",
        "many.json: table 'T' row 2",
    ]


def test_graph_shapes_that_cannot_be_translated() -> None:
    graph = _graph(rows=[{"in": "", "out": '"a"'}])
    graph["nodes"].append(
        {"id": "n-f", "type": "functionNode", "name": "Score", "content": {"source": "..."}}
    )
    with pytest.raises(RuleLoadError, match="node 'Score': functionNode nodes cannot be"):
        rules_from_jdm(graph)

    graph = _graph(rows=[{"in": "", "out": '"a"'}], hit="unique")
    with pytest.raises(RuleLoadError, match="table 'T': hitPolicy 'unique' is not known"):
        rules_from_jdm(graph)

    graph = _graph(rows=[{"in": "", "out": '"a"'}])
    graph["edges"] = [graph["edges"][1]]
    with pytest.raises(RuleLoadError, match="its input must come straight from the inputNode"):
        rules_from_jdm(graph)

    graph = _graph(rows=[{"in": "", "out": '"a"'}])
    graph["nodes"][1]["content"]["inputField"] = "order"
    with pytest.raises(RuleLoadError, match="inputField 'order' is not supported"):
        rules_from_jdm(graph)

    graph = _graph(rows=[{"in": "", "out": '"a"'}])
    graph["contentType"] = "application/json"
    with pytest.raises(RuleLoadError, match="is not a JDM decision"):
        rules_from_jdm(graph)


def test_tables_chained_one_after_another_are_refused() -> None:
    graph = _graph(rows=[{"in": "", "out": '"a"'}])
    second = json.loads(json.dumps(graph["nodes"][1]))
    second.update(id="n-t2", name="Second")
    graph["nodes"].insert(2, second)
    graph["edges"] = [
        {"id": "e1", "sourceId": "n-in", "targetId": "n-t"},
        {"id": "e2", "sourceId": "n-t", "targetId": "n-t2"},
        {"id": "e3", "sourceId": "n-t2", "targetId": "n-out"},
    ]
    with pytest.raises(RuleLoadError) as caught:
        rules_from_jdm(graph)
    assert caught.value.problems == (
        "<jdm>: table 'T': its output must go straight to the outputNode; expected an edge "
        "table -> outputNode and no other edge out of it",
        "<jdm>: table 'Second': its input must come straight from the inputNode; expected an "
        "edge inputNode -> table and no other edge into it",
    )


def test_files_that_are_not_jdm() -> None:
    with pytest.raises(RuleLoadError) as caught:
        rules_from_jdm('{"nodes": [', source="broken.json")
    assert caught.value.line == 1
    assert str(caught.value).startswith("broken.json:1:")
    with pytest.raises(RuleLoadError, match="a JDM decision is a JSON object, not list"):
        rules_from_jdm("[]")
    with pytest.raises(RuleLoadError, match="cannot read the JDM file"):
        load_jdm(JDM / "missing.json")
    with pytest.raises(RuleLoadError, match=r"x\.json: cannot read the JDM file"):
        rules_from_jdm(b"\xff\xfe{}", source="x.json")


# -- the guide -------------------------------------------------------------------------------

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "rules-jdm.md"


def test_the_guide_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The guide's JDM file loads in both engines and its pycon blocks print what they show."""
    text = GUIDE.read_text(encoding="utf-8")
    (example,) = re.findall(r"```json\n(.*?)```", text, re.S)
    zen.ZenEngine().create_decision(example)  # zen-engine accepts the file as shown
    (tmp_path / "routing.json").write_text(example, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```pycon\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    globs: dict[str, Any] = {}
    parser = doctest.DocTestParser()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    runner = doctest.DocTestRunner(optionflags=flags)
    for index, block in enumerate(blocks):
        test = parser.get_doctest(block, globs, f"rules-jdm.md[{index}]", str(GUIDE), 0)
        runner.run(test, clear_globs=False)
        globs = test.globs  # the next block sees this one's names
    assert runner.failures == 0
    assert runner.tries >= 8
