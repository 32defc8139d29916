"""R13: the escape corpus. Every entry is refused when the rule set loads, with the typed error
the guide documents (``RuleLoadError``, or ``RuleLimitExceeded`` naming the cap) and a message
that says what is wrong."""

from __future__ import annotations

from typing import Any

import pytest

from ordercore.errors import RuleLimitExceeded, RuleLoadError
from ordercore.rules import LIMITS, Limits, RuleSet
from ordercore.testing import OrderFactory

_UNKNOWN_FUNCTION = "unknown function"
_UNDERSCORE = "names starting with '_' are not allowed"
_NO_CALLS = "only the language's functions can be called"
_NO_INDEXING = "indexing with [...] is not part of the rule language"
_NO_FIELDS = "which has no fields"
_BAD_PATTERN = "invalid pattern"

# (expression, message fragment). Each is a plain RuleLoadError (no cap involved).
REFUSED: list[tuple[str, str]] = [
    # dunder and private attribute walks
    ("order.__class__", _UNDERSCORE),
    ("order.__class__.__mro__", _UNDERSCORE),
    ("order.__class__.__mro__[1].__subclasses__()", _UNDERSCORE),
    ("order.lines.__class__", _UNDERSCORE),
    ("order.amounts.__dict__", _UNDERSCORE),
    ("order.status.__class__", _UNDERSCORE),
    ('"".__class__ == "x"', _UNDERSCORE),
    ("order._derived_from", _UNDERSCORE),
    ("any(line in order.lines, line.__class__)", _UNDERSCORE),
    ("any(line in order.lines, line._private)", _UNDERSCORE),
    ("any(__x in order.lines, true)", "expected a loop variable name"),
    ('__import__("os")', _UNDERSCORE),
    ("__builtins__", _UNDERSCORE),
    ("_t1", _UNDERSCORE),
    ("_add(1, 2) == 3", _UNDERSCORE),
    ("().__class__", "expected an operand"),
    # the model's methods and the fields the language hides
    ("order.model_dump", "unknown field 'model_dump' of Order"),
    ("order.model_dump()", _NO_CALLS),
    ("order.model_copy", "unknown field 'model_copy' of Order"),
    ("order.model_fields", "unknown field 'model_fields' of Order"),
    ("order.model_validate", "unknown field 'model_validate' of Order"),
    ("order.evolve", "unknown field 'evolve' of Order"),
    ("order.raw", "unknown field 'raw' of Order"),
    ('order.raw == "x"', "unknown field 'raw' of Order"),
    ("order.schema_version", "unknown field 'schema_version' of Order"),
    ("order.lines.count", _NO_FIELDS),
    ("order.amounts.paid.amount > 1", _NO_FIELDS),
    ("order.created_at.tzinfo == null", _NO_FIELDS),
    ('order.status.value == "paid"', _NO_FIELDS),
    ('order.receiver.phone.reveal == "x"', _NO_FIELDS),
    ("order.attributes.engraving.text == 1", "cannot read field 'text' of a custom attribute"),
    # calls on attributes and on values, and Python's builtins
    ('order.attribute("warehouse") == "x"', _NO_CALLS),
    ('order.channel.upper() == "X"', _NO_CALLS),
    ('order.channel.startswith("x")', _NO_CALLS),
    ("len(order.lines)() > 1", _NO_CALLS),
    ("T.append(1)", _NO_CALLS),
    ('getattr(order, "raw")', _UNKNOWN_FUNCTION),
    ('setattr(order, "channel", "x")', _UNKNOWN_FUNCTION),
    ("vars(order)", _UNKNOWN_FUNCTION),
    ("dir(order)", _UNKNOWN_FUNCTION),
    ("type(order)", _UNKNOWN_FUNCTION),
    ('eval("1")', _UNKNOWN_FUNCTION),
    ('exec("1")', _UNKNOWN_FUNCTION),
    ('compile("1", "", "eval")', _UNKNOWN_FUNCTION),
    ('open("/etc/passwd")', _UNKNOWN_FUNCTION),
    ("globals()", _UNKNOWN_FUNCTION),
    ("breakpoint()", _UNKNOWN_FUNCTION),
    ('print("x")', _UNKNOWN_FUNCTION),
    # builtins the generated code itself may call are not callable from a rule
    ("bool(1)", _UNKNOWN_FUNCTION),
    ("tuple(order.lines)", _UNKNOWN_FUNCTION),
    ("any(order.lines)", "any() needs a loop"),
    ("sum(order.lines) > 1", "sum() needs a loop"),
    ("getattr", "unknown name 'getattr'"),
    # names the generated code uses are not names of the language
    ('o.channel == "x"', "unknown name 'o'"),
    ("e.now > order.created_at", "unknown name 'e'"),
    ("K0", "unknown name 'K0'"),
    ("v_line", "unknown name 'v_line'"),
    ("rule_0(o, e)", "unknown name 'o'"),
    # lambdas, comprehensions, conditionals and other Python
    ("lambda: 1", "lambdas are not part of the rule language"),
    ("lambda x: x", "lambdas are not part of the rule language"),
    ("not lambda", "lambdas are not part of the rule language"),
    ("[x for x in order.lines]", "comprehensions are not part of the rule language"),
    ("(x for x in order.lines)", "comprehensions are not part of the rule language"),
    ("any(x for x in order.lines)", "comprehensions are not part of the rule language"),
    ("{x for x in order.lines}", "unexpected character '{'"),
    ("{1: 2}", "unexpected character '{'"),
    ("1 if true else 2", "conditional expressions are not part of the rule language"),
    ("import os", "imports are not part of the rule language"),
    ('order.channel is "x"', "write '==' or '!='"),
    ("order.paid_at == None", "write 'null'"),
    ("True", "write 'true'"),
    ("any(lambda in order.lines, true)", "lambdas are not part of the rule language"),
    ('f"{order}" == "x"', "string prefixes"),
    ('order.channel == r"x"', "string prefixes"),
    ('order.channel == b"x"', "string prefixes"),
    ("(x := 1) == 1", "assignments are not part of the rule language"),
    ("order.channel; 1", "unexpected character ';'"),
    ('order.channel = "x"', "write '==' to compare"),
    ("1 < 2 < 3", "comparisons do not chain"),
    ("!true", "write 'not'"),
    ("true && false", "write 'and'"),
    ("true || false", "write 'or'"),
    ("`ls`", "unexpected character '`'"),
    ("$x", "unexpected character '$'"),
    ("@x", "unexpected character '@'"),
    ("#x", "unexpected character '#'"),
    ("~1 == 1", "unexpected character '~'"),
    ("order.quantity ^ 2 > 1", "unexpected character '^'"),
    ("order.quantity % 2 > 1", "the remainder operator is not part of the rule language"),
    ("order.quantity // 2 > 1", "expected an operand"),
    ("order.quantity << 2 > 1", "expected an operand"),
    ('order.channel == "x" \\', "unexpected character '\\\\'"),
    ("...", "expected an operand"),
    ("", "empty condition"),
    # powers and number syntax Python has and the language does not
    ("9**9**9", "powers are not part of the rule language"),
    ("2 ** 99999 > 1", "powers are not part of the rule language"),
    ("sum(line in order.lines, line.quantity) ** 2 > 1", "powers are not part of"),
    ("1e999 > 1", "unexpected '1e'"),
    ("1E5 > 1", "unexpected '1E'"),
    ("0x10 > 1", "unexpected '0x'"),
    ("0b1 > 1", "unexpected '0b'"),
    ("1_000 > 1", "unexpected '1_'"),
    ("1j > 1", "unexpected '1j'"),
    # indexing
    ("order.lines[0]", _NO_INDEXING),
    ('order.tags[0] == "x"', _NO_INDEXING),
    ('"abc"[0] == "a"', _NO_INDEXING),
    ('order.attributes["x"] == 1', _NO_INDEXING),
    # string escapes beyond the language's five, null bytes and control characters
    ('order.channel == "a\\0b"', "unknown escape \\0"),
    ('order.channel == "a\\x00b"', "unknown escape \\x"),
    ('order.channel == "\\u0000"', "unknown escape \\u"),
    ('order.channel == "\\N{NULL}"', "unknown escape \\N"),
    ('order.channel == "\\x1b[2J"', "unknown escape \\x"),
    ('order.channel == "\\r"', "unknown escape \\r"),
    ('order.channel == "a\x00b"', "control character U+0000 in a string literal"),
    ('order.channel == "\x1b[2J"', "control character U+001B in a string literal"),
    ('order.channel == "\x7f"', "control character U+007F in a string literal"),
    ('order.buyer_note matches "a\x00"', "control character U+0000 in a string literal"),
    ('order.channel == "\u202egnirts"', "control character U+202E in a string literal"),
    ('order.channel == "a\nb"', "unterminated string"),
    ('order.channel == "abc', "unterminated string"),
    ("order.channel == 'abc", "unterminated string"),
    ('order.channel == "a\x00b', "unterminated string"),
    # unicode lookalikes: only ASCII names, digits and operators
    ('ordеr.channel == "x"', "unexpected character 'е'"),  # Cyrillic e
    ('оrder.channel == "x"', "unexpected character 'о'"),  # Cyrillic o
    ('order.сhannel == "x"', "unexpected character 'с'"),  # Cyrillic s
    ('ｏｒｄｅｒ.channel == "x"', "unexpected character 'ｏ'"),  # fullwidth
    ('order.channel ＝＝ "x"', "unexpected character '＝'"),
    ("order.channel == “x”", "unexpected character '“'"),
    ("order.quantity > ３", "unexpected character '３'"),  # fullwidth three
    ("order.quantity > ٣", "unexpected character '٣'"),  # Arabic-Indic three
    ("order.quantity > 1٣", "unexpected character '٣'"),
    ('or\u200bder.channel == "x"', "unexpected character '\\u200b'"),
    # patterns: RE2 only, so no backreferences, lookaround or other backtracking syntax
    ('order.buyer_note matches "(a)\\\\1"', _BAD_PATTERN),
    ('order.buyer_note matches "(?P<x>a)(?P=x)"', _BAD_PATTERN),
    ('order.buyer_note matches "(?=a)"', _BAD_PATTERN),
    ('order.buyer_note matches "(?!a)"', _BAD_PATTERN),
    ('order.buyer_note matches "(?<=a)b"', _BAD_PATTERN),
    ('order.buyer_note matches "(?<!a)b"', _BAD_PATTERN),
    ('order.buyer_note matches "(?>a)"', _BAD_PATTERN),
    ('order.buyer_note matches "a++"', _BAD_PATTERN),
    ('order.buyer_note matches "(?(1)a|b)"', _BAD_PATTERN),
    ('order.buyer_note matches "("', _BAD_PATTERN),
    ('order.buyer_note matches "a{1001}"', _BAD_PATTERN),
    ('order.buyer_note matches "((a{100}){100}){100}"', _BAD_PATTERN),
    ("order.buyer_note matches order.channel", "'matches' needs a string literal pattern"),
    ('order.buyer_note matches "x" + "y"', "cannot compute text + text"),
    # types: the checks that keep generated code from doing anything but comparing
    ('"abc" * 10000000 == "x"', "cannot compute text * a number"),
    ("true == 1", "cannot compare true/false with a number"),
    ('order.status == "payed"', "'payed' is not a OrderStatus"),
    ('order.tags < ["a"]', "cannot order a list of text against a list of text"),
    ("count(line in order.lines, line.quantity) > 1", "count() needs a test"),
    ("sum(line in order.lines, line.sku) > 1", "sum() adds numbers or money"),
    ("order.amounts.paid", "a condition must be true or false"),
    ("any(order in combined, true)", "'order' is already a name here"),
]


def _load(when: Any, *, limits: Limits = LIMITS) -> RuleSet:
    return RuleSet.from_dict(
        {"ruleset": "corpus", "version": 1, "rules": [{"name": "r", "when": when, "then": []}]},
        limits=limits,
    )


@pytest.mark.parametrize(("expression", "fragment"), REFUSED)
def test_the_escape_corpus_is_refused_when_the_rule_set_loads(
    expression: str, fragment: str
) -> None:
    """Each entry raises RuleLoadError (not a cap) whose message names the problem."""
    with pytest.raises(RuleLoadError) as caught:
        _load(expression)
    error = caught.value
    assert type(error) is RuleLoadError
    assert error.code == "rule-invalid"
    assert fragment in str(error)
    assert error.rule == "r"


def _nested_quantifiers(levels: int) -> str:
    names = [f"l{level}" for level in range(levels)]
    text = "true"
    for name in reversed(names):
        text = f"any({name} in order.lines, {text})"
    return text


# (expression, cap, message fragment): the caps of the guide's table, each at its default.
OVER_CAPS: list[tuple[str, str, str]] = [
    ("1 == 1 and " * 400 + "true", "text", "expression longer than 4000 characters"),
    (" or ".join(["order.paid_at == null"] * 140), "nodes", "has more than 400 parts"),
    ("(" * 60 + "true" + ")" * 60, "depth", "nests deeper than 24 levels"),
    ("not " * 40 + "true", "depth", "nests deeper than 24 levels"),
    ("-" * 40 + "order.quantity > 1", "depth", "nests deeper than 24 levels"),
    ("[" * 30 + "1" + "]" * 30 + " == []", "depth", "nests deeper than 24 levels"),
    ("abs(" * 30 + "order.quantity" + ")" * 30 + " > 1", "depth", "nests deeper than 24"),
    # a long chain of operators nests the tree as deep as it is long
    (" + ".join(["1"] * 199) + " > 0", "depth", "nests deeper than 24 levels"),
    (" * ".join(["order.quantity"] * 40) + " > 0", "depth", "nests deeper than 24 levels"),
    ("now - " + " - ".join(["1h"] * 40) + " > order.created_at", "depth", "nests deeper"),
    ('order.channel == "' + "x" * 513 + '"', "string", "longer than 512 characters"),
    ("order.quantity > " + "9" * 31, "number", "longer than 30 digits"),
    ("order.quantity > 1." + "9" * 30, "number", "longer than 30 digits"),
    ("now - order.created_at > 99999999999d", "number", "duration longer than 10^9 seconds"),
    ("order.quantity in [" + ", ".join(["1"] * 201) + "]", "list", "longer than 200 items"),
    ('order.buyer_note matches "' + "a" * 201 + '"', "regex", "pattern longer than 200"),
    (_nested_quantifiers(3), "nesting", "quantifiers nest deeper than 2"),
]


@pytest.mark.parametrize(("expression", "cap", "fragment"), OVER_CAPS)
def test_giant_and_deep_expressions_exceed_a_named_cap(
    expression: str, cap: str, fragment: str
) -> None:
    """Huge literals, deep nesting and long chains raise RuleLimitExceeded naming the cap."""
    with pytest.raises(RuleLimitExceeded) as caught:
        _load(expression)
    assert caught.value.limit == cap
    assert caught.value.code == "rule-limit"
    assert fragment in str(caught.value)


def test_a_long_or_chain_stays_within_the_depth_cap() -> None:
    """``or`` / ``and`` chains are as deep as log2 of their length, so a long list of
    alternatives (up to the node cap) loads and means what it says."""
    provinces = [f"P{number}" for number in range(60)]
    text = " or ".join(f'order.receiver.province == "{province}"' for province in provinces)
    rules = _load(text + ' or order.channel == "taobao"')
    order = OrderFactory(seed=11).order(channel="taobao")
    assert rules.evaluate(order).matched == ("r",)
    assert rules.evaluate(order.evolve(channel="jd")).matched == ()
    both = _load(" and ".join(["order.quantity >= 1"] * 60) + " and order.channel == 'jd'")
    assert both.evaluate(order.evolve(channel="jd")).matched == ("r",)
    assert both.evaluate(order).matched == ()


def _chain_limit(length: int) -> str | None:
    try:
        _load(" + ".join(["order.quantity"] * length) + " > 0")
    except RuleLimitExceeded as error:
        return error.limit
    return None


def test_a_chain_at_the_depth_cap_loads_and_one_more_operator_does_not() -> None:
    """The depth cap counts each operator of an arithmetic chain like one level of nesting."""
    limits = [_chain_limit(length) for length in range(2, 40)]
    longest = 1 + limits.index("depth")
    assert 15 <= longest < 24
    assert set(limits[: longest - 1]) == {None}
    assert set(limits[longest - 1 :]) == {"depth"}


@pytest.mark.parametrize(
    "text",
    [
        # YAML's own escapes can put a null byte or a bidi control into the condition
        "ruleset: t\nversion: 1\nrules:\n  - name: r\n    when: \"order.channel == 'a\\0b'\"\n"
        "    then: []\n",
        "ruleset: t\nversion: 1\nrules:\n  - name: r\n    when: \"order.channel == '\\u202e'\"\n"
        "    then: []\n",
        '{"ruleset": "t", "version": 1, "rules": [{"name": "r", '
        '"when": "order.channel == \'a\\u0000b\'", "then": []}]}',
    ],
)
def test_control_characters_from_yaml_or_json_escapes_are_refused(text: str) -> None:
    """A control character the file's own escapes produced is named, with its place."""
    with pytest.raises(RuleLoadError) as caught:
        RuleSet.from_text(text, source="escapes.yaml")
    assert "control character U+" in str(caught.value)
    assert "escapes.yaml" in str(caught.value)


def test_catastrophic_patterns_load_and_decide_long_adversarial_text() -> None:
    """``(a+)+$`` is RE2, not backtracking: it loads (the guide says so) and decides a long
    adversarial text correctly."""
    rules = _load('order.buyer_note matches "(a+)+$"')
    order = OrderFactory(seed=5).order()
    assert rules.evaluate(order.evolve(buyer_note="a" * 1990 + "b")).matched == ()
    assert rules.evaluate(order.evolve(buyer_note="b" + "a" * 1990)).matched == ("r",)
    nested = _load('order.buyer_note matches "^(a|aa)+$" or order.buyer_note matches "(.*a){20}"')
    assert nested.evaluate(order.evolve(buyer_note="a" * 1990 + "!")).matched == ("r",)
    assert nested.evaluate(order.evolve(buyer_note="b" * 1990)).matched == ()


def test_an_escape_in_any_rule_leaves_nothing_loaded() -> None:
    """One bad rule among good ones fails the whole set: no RuleSet comes back, every problem
    is listed with its rule, and loading the good rules alone still works."""
    good = [
        {"name": "big", "when": "order.amounts.paid >= 299", "then": [{"tag": "big"}]},
        {"name": "gift", "when": "any(l in order.lines, l.is_gift)", "then": [{"tag": "g"}]},
    ]
    bad = [
        {"name": "escape", "when": "order.__class__.__mro__", "then": [{"tag": "x"}]},
        {"name": "power", "when": "9**9**9 > 1", "then": [{"tag": "y"}]},
    ]
    result: RuleSet | None = None
    with pytest.raises(RuleLoadError) as caught:
        result = RuleSet.from_dict(
            {"ruleset": "mixed", "version": 1, "rules": [good[0], bad[0], good[1], bad[1]]}
        )
    assert result is None
    error = caught.value
    assert len(error.problems) == 2
    assert "rule 'escape'" in error.problems[0] and _UNDERSCORE in error.problems[0]
    assert "rule 'power'" in error.problems[1] and "powers" in error.problems[1]
    assert "2 problems" in str(error)
    loaded = RuleSet.from_dict({"ruleset": "mixed", "version": 1, "rules": good})
    assert loaded.names() == ["big", "gift"]
    assert "__class__" not in loaded.generated_source


def test_a_cap_in_one_rule_fails_the_whole_set_as_a_limit() -> None:
    """A cap exceeded by any rule makes the set's error a RuleLimitExceeded naming it."""
    rules = [
        {"name": "fine", "when": "true", "then": []},
        {"name": "deep", "when": "(" * 60 + "true" + ")" * 60, "then": []},
    ]
    with pytest.raises(RuleLimitExceeded) as caught:
        RuleSet.from_dict({"ruleset": "capped", "version": 1, "rules": rules})
    assert caught.value.limit == "depth"
    assert "rule 'deep'" in str(caught.value)


def test_too_many_rules_and_actions_are_caps() -> None:
    """The set-level caps are RuleLimitExceeded too."""
    many = [{"name": f"r{index}", "when": "true", "then": []} for index in range(4)]
    with pytest.raises(RuleLimitExceeded) as caught:
        RuleSet.from_dict({"ruleset": "t", "version": 1, "rules": many}, limits=Limits(rules=3))
    assert caught.value.limit == "rules"
    actions = [{"tag": f"t{index}"} for index in range(4)]
    with pytest.raises(RuleLimitExceeded) as caught:
        RuleSet.from_dict(
            {
                "ruleset": "t",
                "version": 1,
                "rules": [{"name": "r", "when": "true", "then": actions}],
            },
            limits=Limits(actions=3),
        )
    assert caught.value.limit == "actions"


@pytest.mark.parametrize(
    "expression",
    ["not " * 250 + "true", "-" * 250 + "order.quantity > 0", " + ".join(["1"] * 250) + " > 0"],
)
def test_raised_caps_still_give_a_typed_error_for_what_python_cannot_compile(
    expression: str,
) -> None:
    """With caps raised far above the defaults, the generated code may nest deeper than
    Python compiles; that must still be a RuleLimitExceeded, not a SyntaxError."""
    generous = Limits(depth=1000, nodes=10_000, text=100_000)
    with pytest.raises(RuleLimitExceeded) as caught:
        _load(expression, limits=generous)
    assert caught.value.limit == "depth"
