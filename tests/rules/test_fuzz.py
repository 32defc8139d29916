"""R13: fuzzing the rule language.

- Random text and token soup either loads or raises RuleLoadError, never anything else.
- A grammar of well-typed conditions over real order fields builds, for each condition, its text
  and an independent Python reference function; the loaded rule set must agree with the
  reference on every order of a fixed corpus, with and without ``explain``.
- Every generated module only uses the names, attributes and constructs the compiler itself
  emits, and no value from the rule text appears in it as source.
"""

from __future__ import annotations

import ast
import functools
import operator
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ordercore.errors import RuleEvaluationError, RuleLimitExceeded, RuleLoadError
from ordercore.money import Money
from ordercore.pii import Sensitive
from ordercore.rules import Limits, RuleContext, RuleOutcome, RuleSet
from ordercore.rules._compiler import BUILTINS, RUNTIME
from ordercore.rules._types import fields_of
from ordercore.schema import DiscountFunder, Order, OrderStatus, OrderType
from ordercore.testing import OrderFactory
from ordercore.timestamps import ChannelTime

FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
TODAY = (
    NOW.astimezone(ZoneInfo("Asia/Shanghai"))
    .replace(hour=0, minute=0, second=0, microsecond=0)
    .astimezone(UTC)
)
STOCK = {"PIL-001": 0, "SOF-2026-GREY": 5, "TEA-LJ-250": 12}
CONTEXT = RuleContext(now=NOW, stock=STOCK)


def _orders() -> tuple[Order, ...]:
    orders: list[Order] = []
    for seed in range(5):
        orders.extend(OrderFactory(seed=seed).orders(4))
    orders.append(
        orders[0].evolve(receiver=None, buyer_note="请尽快发货", tags=("urgent", "engraving"))
    )
    orders.append(orders[1].evolve(buyer_note="", tags=("urgent",), seller_flag=3))
    orders.append(OrderFactory(seed=9).order(channel="pos"))
    orders.append(OrderFactory(seed=9).order(status="pending_payment", lines=4))
    return tuple(orders)


ORDERS = _orders()


def _one_rule(when: str) -> dict[str, Any]:
    return {"ruleset": "fuzz", "version": 1, "rules": [{"name": "r", "when": when, "then": []}]}


def _attempt(action: Callable[[], Any], kind: type[Exception]) -> tuple[Any, Any]:
    """``(result, None)``, or ``(None, error)`` when ``action`` raised ``kind``."""
    try:
        return action(), None
    except kind as error:
        return None, error


def _evaluates_to_a_decision(rules: RuleSet, order: Order) -> None:
    """Evaluation gives a decision whose matches are rules of the set, or a typed error."""
    for explain in (False, True):
        decision, error = _attempt(
            functools.partial(rules.evaluate, order, CONTEXT, explain=explain),
            RuleEvaluationError,
        )
        if error is not None:
            assert error.rule in rules.names()
        else:
            assert set(decision.matched) <= set(rules.names())


# -- (a) random text and token soup ------------------------------------------------------------

SOUP_TOKENS = [
    *[
        "order",
        ".",
        "lines",
        "amounts",
        "paid",
        "channel",
        "receiver",
        "province",
        "sku",
        "quantity",
        "is_gift",
        "tags",
    ],
    *[
        "(",
        ")",
        "[",
        "]",
        ",",
        ".",
        ":",
        ";",
        "{",
        "}",
        "@",
        "\\",
        "`",
        "$",
        "#",
        "~",
        "^",
        "'",
        '"',
    ],
    *[
        "any",
        "all",
        "sum",
        "count",
        "min",
        "max",
        "len",
        "lower",
        "upper",
        "abs",
        "stock",
        "history_count",
        "carrier_success",
    ],
    *[
        "in",
        "not",
        "and",
        "or",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "+",
        "-",
        "*",
        "/",
        "**",
        "%",
        ":=",
        "=",
        "&&",
        "||",
        "!",
    ],
    *[
        "true",
        "false",
        "null",
        "contains",
        "starts_with",
        "ends_with",
        "matches",
        "now",
        "today",
        "combined",
    ],
    *[
        "line",
        "l",
        "x",
        "0",
        "1",
        "299",
        "1.5",
        "2h",
        "30m",
        "90s",
        "7d",
        "1e9",
        "0x1f",
        "9999999999999999999999999999999",
    ],
    *[
        "__class__",
        "__mro__",
        "_t1",
        "K0",
        "v_line",
        "o",
        "e",
        "T",
        "lambda",
        "for",
        "if",
        "else",
        "import",
        "__import__",
    ],
    *["getattr", "eval", "exec", "model_dump", "raw", "None", "True"],
    '"douyin"',
    "'x'",
    '"^a+$"',
    '"(a)\\\\1"',
    '"\\0"',
    "\x00",
    "\n",
    "\t",
    "é",
    "ｏ",
    "٣",
    "\u202e",
]
soups = st.builds(
    lambda tokens, glue, times: (glue.join(tokens)) * times,
    st.lists(st.sampled_from(SOUP_TOKENS), max_size=40),
    st.sampled_from(["", " ", "  "]),
    st.sampled_from([1, 1, 1, 2, 30, 200]),
)


def _load_or_refuse(when: str) -> RuleSet | None:
    rules: RuleSet | None
    rules, error = _attempt(lambda: RuleSet.from_dict(_one_rule(when)), RuleLoadError)
    if error is not None:
        assert error.code in ("rule-invalid", "rule-limit")
        assert "rule 'r'" in str(error)
    return rules


@FUZZ
@given(st.one_of(st.text(max_size=300), soups))
def test_any_text_either_loads_or_raises_rule_load_error(text: str) -> None:
    """No input makes loading raise anything but RuleLoadError; what loads evaluates."""
    rules = _load_or_refuse(text)
    event("loaded" if rules is not None else "refused")
    if rules is not None:
        assert_generated_source_is_allowed(rules, [text])
        for order in ORDERS[:3]:
            _evaluates_to_a_decision(rules, order)


@FUZZ
@given(st.one_of(st.text(max_size=400), soups.map(lambda soup: "rules:\n  - when: " + soup)))
def test_any_file_text_either_loads_or_raises_rule_load_error(text: str) -> None:
    """The same for whole files: YAML or JSON that is not a rule set is a RuleLoadError."""
    _, error = _attempt(lambda: RuleSet.from_text(text, source="fuzz.yaml"), RuleLoadError)
    assert error is None or "fuzz.yaml" in str(error)


_VALID_HEAD = "ruleset: t\nversion: 1\nrules:\n  - name: r\n    when: true\n    then: []\n"


@pytest.mark.parametrize(
    "text",
    [
        "0: =",
        "0: <<",
        _VALID_HEAD + "description: !foo bar\n",
        _VALID_HEAD + "description: !!int abc\n",
        _VALID_HEAD + "description: 2026-13-45\n",
    ],
)
def test_yaml_that_cannot_be_built_is_a_rule_load_error(text: str) -> None:
    """YAML that composes but whose values cannot be built names the place, as a load error."""
    with pytest.raises(RuleLoadError) as caught:
        RuleSet.from_text(text, source="tags.yaml")
    assert "tags.yaml" in str(caught.value)


def test_a_self_referencing_alias_is_a_rule_load_error() -> None:
    """``&a [*a]`` is refused as a load error, not a RecursionError."""
    with pytest.raises(RuleLoadError):
        RuleSet.from_text(_VALID_HEAD + "description: &a [*a]\n")


def test_an_alias_bomb_is_refused_naming_the_aliases() -> None:
    """Aliases that multiply (the "billion laughs") are refused when the file loads. The
    bomb here is small enough that expanding it fully is quick, so the test can fail."""
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [
        f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]" for level in (1, 2, 3)
    ]
    with pytest.raises(RuleLoadError) as caught:
        RuleSet.from_text("\n".join(lines) + "\n", source="bomb.yaml")
    assert "alias" in str(caught.value).lower()


# -- (b) a grammar of well-typed conditions with a reference evaluator -------------------------

Env = dict[str, Any]
OR, AND, NOT, CMP, ADD, MUL, UNARY, ATOM = range(1, 9)


class ReferenceFailure(Exception):
    """The reference evaluator's division by zero: the rule set must fail that rule too."""


@attrs.frozen
class Ex:
    """A generated expression: its text, precedence, type and reference function."""

    text: str
    prec: int
    kind: str  # bool, num, text, time, dur, enum, tags
    fn: Callable[[Env], Any]
    nullable: bool = False
    strings: tuple[str, ...] = ()  # the string literals it holds (for the source check)
    field: str | None = None  # the text field it reads as it is, for drawing real values


def _wrap(ex: Ex, need: int) -> str:
    return ex.text if ex.prec >= need else f"({ex.text})"


def _plain(value: Any) -> Any:
    if isinstance(value, Money):
        return value.amount
    if isinstance(value, ChannelTime):
        return value.utc
    if isinstance(value, Sensitive):
        return value.reveal()
    if isinstance(value, Enum):
        return value.value
    return value


def _reader(var: str, path: tuple[str, ...]) -> Callable[[Env], Any]:
    def read(env: Env) -> Any:
        value = env[var]
        for name in path:
            if value is None:
                return None
            value = getattr(value, name)
        return _plain(value)

    return read


# Fields of each element kind: kind -> value type -> [(path, nullable)].
FIELDS: dict[str, dict[str, list[tuple[tuple[str, ...], bool]]]] = {
    "order": {
        "num": [
            (("quantity",), False),
            (("amounts", "paid"), False),
            (("amounts", "goods"), False),
            (("amounts", "shipping"), False),
            (("amounts", "discount_total"), False),
            (("amounts", "expected_paid"), False),
            (("seller_flag",), True),
            (("version",), False),
        ],
        "text": [
            (("channel",), False),
            (("buyer_note",), True),
            (("receiver", "province"), True),
            (("receiver", "city"), True),
            (("receiver", "phone"), True),
            (("receiver", "name"), True),
            (("receiver", "country"), True),
            (("shop_id",), True),
            (("currency",), False),
            (("channel_order_id",), False),
        ],
        "time": [
            (("created_at",), False),
            (("paid_at",), True),
            (("shipped_at",), True),
            (("completed_at",), True),
        ],
        "bool": [(("amounts", "balances"), False)],
    },
    "line": {
        "num": [
            (("quantity",), False),
            (("unit_price",), False),
            (("paid",), True),
            (("subtotal",), True),
            (("goods",), False),
            (("discount_total",), False),
            (("adjustment",), False),
        ],
        "text": [
            (("sku",), False),
            (("title",), False),
            (("spec",), True),
            (("merchant_sku",), True),
        ],
        "bool": [(("is_gift",), False)],
    },
    "discount": {"num": [(("amount",), False)], "text": [(("name",), True)]},
    "tag": {},
}
# Money fields (read as their Decimal amount); the other "num" fields are plain numbers.
MONEY_FIELDS = frozenset(
    {"paid", "goods", "shipping", "discount_total", "expected_paid", "unit_price", "subtotal"}
    | {"adjustment", "amount"}
)
ENUMS: dict[str, list[tuple[tuple[str, ...], type[Enum]]]] = {
    "order": [(("status",), OrderStatus), (("order_type",), OrderType)],
    "discount": [(("funded_by",), DiscountFunder)],
}
LISTS: dict[str, list[tuple[tuple[str, ...], str]]] = {
    "order": [(("lines",), "line"), (("amounts", "discounts"), "discount"), (("tags",), "tag")],
}
LOOP_NAMES = ["line", "l", "x", "item", "e", "o", "T", "K0", "v", "d", "sum", "len", "stock"]
TEXTS = ["douyin", "taobao", "jd", "pos", "浙江省", "四川省", "SOF", "SOF-2026", "PIL-001", ""]
TEXTS += ["urgent", "engraving", "a", "沙发", "请尽快发货", "CNY", "CN", "1", 'say "hi"', "a\\b"]
TEXTS += ["tab\there", "two\nlines", "it's"]
# Pieces of the corpus's real values, so that prefix, suffix and substring tests differ.
FRAGMENTS = ["SOF", "SOF-2026-", "-GREY", "PIL", "-001", "TEA-", "-250", "MUG-ENG", "-W", "2026"]
FRAGMENTS += ["dou", "yin", "tao", "省", "浙", "市", "沙发", "请", "1", "13", "8", "urg", "CN"]
PATTERNS = ["^SOF", "-2026-", "[0-9]{3}", "省$", "^(jd|pdd)$", "(?i)^tea", "茶", "^[A-Z]+-", "a|e"]
_BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
free_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters=_BIDI), max_size=10
)


def _real_values() -> dict[str, list[str]]:
    """Each text field's values in the corpus, and pieces of them (prefix, middle, suffix)."""
    found: dict[str, set[str]] = {}

    def note(element: str, holder: Any) -> None:
        for path, _ in FIELDS[element].get("text", []):
            value = _reader("x", path)({"x": holder})
            if isinstance(value, str) and value:
                found.setdefault(f"{element}.{'.'.join(path)}", set()).add(value)

    for order in ORDERS:
        note("order", order)
        for line in order.lines:
            note("line", line)
        for discount in order.amounts.discounts:
            note("discount", discount)
        found.setdefault("tag", set()).update(order.tags)
    return {field: sorted(values) for field, values in found.items()}


REAL_VALUES = _real_values()


@attrs.frozen
class Scope:
    vars: tuple[tuple[str, str], ...]  # (loop or root name, element kind)
    level: int = 0

    def bind(self, name: str, kind: str) -> Scope:
        return Scope((*self.vars, (name, kind)), self.level + 1)


ROOT = Scope((("order", "order"),))


def _escape(value: str) -> str:
    """A literal piece of a pattern, read the same way by RE2 and by Python's re."""
    return re.sub(r"([.^$*+?()\[\]{}|\\])", r"\\\1", value)


def _quote(value: str, quote: str) -> str:
    body = value.replace("\\", "\\\\").replace(quote, "\\" + quote)
    return quote + body.replace("\n", "\\n").replace("\t", "\\t") + quote


def _none_if_null(function: Callable[..., Any]) -> Callable[..., Any]:
    def apply(*values: Any) -> Any:
        return None if any(value is None for value in values) else function(*values)

    return apply


def _divide(a: Any, b: Any) -> Any:
    if b == 0:
        raise ReferenceFailure("division by zero")
    return Decimal(a) / Decimal(b)


ARITHMETIC: dict[str, Callable[[Any, Any], Any]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": _divide,
}
ORDERING: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def _binary(op: str, left: Ex, right: Ex, kind: str) -> Ex:
    prec = ADD if op in "+-" else MUL
    text = f"{_wrap(left, prec)} {op} {_wrap(right, prec + 1)}"
    apply = _none_if_null(ARITHMETIC[op])
    return Ex(
        text,
        prec,
        kind,
        lambda env: apply(left.fn(env), right.fn(env)),
        left.nullable or right.nullable,
        left.strings + right.strings,
    )


def _compare(op: str, left: Ex, right: Ex) -> Ex:
    text = f"{_wrap(left, ADD)} {op} {_wrap(right, ADD)}"
    strings = left.strings + right.strings

    def test(env: Env) -> bool:
        a, b = left.fn(env), right.fn(env)
        if op == "==":
            return bool(a == b)
        if op == "!=":
            return bool(a != b)
        if a is None or b is None:
            return False
        return ORDERING[op](a, b)

    return Ex(text, CMP, "bool", test, strings=strings)


def _call(name: str, argument: Ex, kind: str, function: Callable[[Any], Any]) -> Ex:
    apply = _none_if_null(function)
    return Ex(
        f"{name}({argument.text})",
        ATOM,
        kind,
        lambda env: apply(argument.fn(env)),
        True if name in ("lower", "upper") else argument.nullable,
        argument.strings,
    )


def _fields(scope: Scope, kind: str) -> list[Ex]:
    found = []
    for var, element in scope.vars:
        for path, nullable in FIELDS[element].get(kind, []):
            typed = ("money" if path[-1] in MONEY_FIELDS else "number") if kind == "num" else kind
            found.append(
                Ex(
                    ".".join((var, *path)),
                    ATOM,
                    typed,
                    _reader(var, path),
                    nullable,
                    field=f"{element}.{'.'.join(path)}" if kind == "text" else None,
                )
            )
        if element == "tag" and kind == "text":
            found.append(Ex(var, ATOM, "text", _reader(var, ()), field="tag"))
    if kind == "time":
        found.append(Ex("now", ATOM, "time", lambda env: NOW))
        found.append(Ex("today", ATOM, "time", lambda env: TODAY))
    return found


def _lists(scope: Scope) -> list[tuple[str, Callable[[Env], Any], str]]:
    found: list[tuple[str, Callable[[Env], Any], str]] = [
        ("combined", lambda env: env["combined"], "order")
    ]
    for var, element in scope.vars:
        for path, inner in LISTS.get(element, []):
            found.append((".".join((var, *path)), _reader(var, path), inner))
    return found


class Grammar:
    """Draws well-typed expressions; ``budget`` bounds how deep they grow."""

    def __init__(self, draw: Callable[[st.SearchStrategy[Any]], Any]) -> None:
        self.draw = draw

    def choose(self, options: list[str]) -> str:
        return str(self.draw(st.sampled_from(options)))

    def pick(self, options: list[Ex]) -> Ex:
        found: Ex = self.draw(st.sampled_from(options))
        return found

    def literal_text(self) -> Ex:
        value = self.draw(st.one_of(st.sampled_from(TEXTS), free_text))
        quote = self.choose(['"', "'"])
        return Ex(_quote(value, quote), ATOM, "text", lambda env: value, strings=(value,))

    def literal_num(self) -> Ex:
        value = self.draw(
            st.one_of(
                st.integers(0, 5).map(Decimal),
                st.integers(0, 1000).map(Decimal),
                st.integers(0, 100_000).map(Decimal),
                st.decimals(0, 100_000, places=2, allow_nan=False, allow_infinity=False),
            )
        )
        text = format(value, "f")
        return Ex(text, ATOM, "number", lambda env: Decimal(text))

    def literal_dur(self) -> Ex:
        amount = self.draw(st.sampled_from(["0", "1", "2", "7", "30", "90", "1.5", "100"]))
        unit = self.choose(["s", "m", "h", "d"])
        seconds = Decimal(amount) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
        value = timedelta(seconds=float(seconds))
        return Ex(f"{amount}{unit}", ATOM, "dur", lambda env: value)

    def quantified(self, scope: Scope) -> tuple[str, str, Callable[[Env], Any], Scope] | None:
        if scope.level >= 2:
            return None
        text, collection, element = self.draw(st.sampled_from(_lists(scope)))
        taken = {name for name, _ in scope.vars} | {"order", "now", "today", "combined"}
        name = self.draw(st.sampled_from([n for n in LOOP_NAMES if n not in taken]))
        return f"{name} in {text}", name, collection, scope.bind(name, element)

    # -- numbers --------------------------------------------------------------------------

    def num(self, scope: Scope, budget: int) -> Ex:
        options = ["field", "field", "literal", "count", "len_text", "stock"]
        if budget > 0:
            options += ["+", "-", "*", "/", "neg", "abs", "sum", "count_q", "min", "max"]
        choice = self.choose(options)
        if choice == "field":
            fields = _fields(scope, "num")
            if fields:
                return self.pick(fields)
            choice = "literal"
        if choice == "literal":
            return self.literal_num()
        if choice == "count":
            text, collection, _element = self.draw(st.sampled_from(_lists(scope)))
            how = self.choose(["count", "len"])
            return Ex(f"{how}({text})", ATOM, "number", lambda env: len(collection(env)))
        if choice == "len_text":
            return _call("len", self.text(scope, budget - 1), "number", len)
        if choice == "stock":
            sku = self.draw(st.sampled_from([*STOCK, "NOPE-1"]))
            return Ex(f'stock("{sku}")', ATOM, "number", lambda env: STOCK.get(sku), True, (sku,))
        if choice in ARITHMETIC:
            left, right = self.num(scope, budget - 1), self.num(scope, budget - 1)
            kinds = {left.kind, right.kind}
            if choice == "*" and kinds == {"money"}:
                right = self.literal_num()  # money times money is not a thing
            if choice == "/":
                kind = "number"
            else:
                kind = "money" if "money" in {left.kind, right.kind} else "number"
            return _binary(choice, left, right, kind)
        if choice == "neg":
            inner = self.num(scope, budget - 1)
            apply = _none_if_null(operator.neg)
            return Ex(
                f"-{_wrap(inner, UNARY)}",
                UNARY,
                inner.kind,
                lambda env: apply(inner.fn(env)),
                inner.nullable,
                inner.strings,
            )
        if choice == "abs":
            inner = self.num(scope, budget - 1)
            return _call("abs", inner, inner.kind, abs)
        loop = self.quantified(scope)
        if loop is None:
            return self.literal_num()
        head, name, collection, inner_scope = loop
        if choice == "count_q":
            body = self.boolean(inner_scope, budget - 1)

            def count(env: Env) -> Any:
                return sum(1 for item in collection(env) if body.fn({**env, name: item}))

            return Ex(f"count({head}, {body.text})", ATOM, "number", count, strings=body.strings)
        body = self.num(inner_scope, budget - 1)

        def values(env: Env) -> list[Any]:
            found = (body.fn({**env, name: item}) for item in collection(env))
            return [value for value in found if value is not None]

        if choice == "sum":
            return Ex(
                f"sum({head}, {body.text})",
                ATOM,
                body.kind,
                lambda env: sum(values(env), 0),
                strings=body.strings,
            )
        pick = min if choice == "min" else max
        return Ex(
            f"{choice}({head}, {body.text})",
            ATOM,
            body.kind,
            lambda env: pick(values(env)) if values(env) else None,
            True,
            body.strings,
        )

    # -- text, times and durations ------------------------------------------------------

    def text(self, scope: Scope, budget: int) -> Ex:
        options = ["field", "field", "literal"]
        if budget > 0:
            options += ["lower", "upper", "min_sku"]
        choice = self.choose(options)
        if choice == "field":
            fields = _fields(scope, "text")
            if fields:
                return self.pick(fields)
            choice = "literal"
        if choice == "literal":
            return self.literal_text()
        if choice in ("lower", "upper"):
            inner = self.text(scope, budget - 1)
            return _call(choice, inner, "text", str.lower if choice == "lower" else str.upper)
        loop = self.quantified(scope)
        if loop is None or not loop[0].endswith(".lines"):
            return self.literal_text()
        head, name, collection, _inner = loop
        pick = self.choose(["min", "max"])
        field = f"{name}.sku"

        def sku(env: Env) -> Any:
            found = [item.sku for item in collection(env)]
            return (min if pick == "min" else max)(found) if found else None

        return Ex(f"{pick}({head}, {field})", ATOM, "text", sku, True)

    def time(self, scope: Scope, budget: int) -> Ex:
        if budget > 0 and self.draw(st.booleans()):
            base, shift = self.time(scope, budget - 1), self.dur(scope, budget - 1)
            op = self.choose(["+", "-"])
            return _binary(op, base, shift, "time")
        return self.pick(_fields(scope, "time"))

    def dur(self, scope: Scope, budget: int) -> Ex:
        options = ["literal", "since"]
        if budget > 0:
            options += ["+", "-", "times", "neg", "abs"]
        choice = self.choose(options)
        if choice == "literal":
            return self.literal_dur()
        if choice == "since":
            return _binary("-", self.time(scope, budget - 1), self.time(scope, budget - 1), "dur")
        if choice in ("+", "-"):
            return _binary(choice, self.dur(scope, budget - 1), self.dur(scope, budget - 1), "dur")
        inner = self.dur(scope, budget - 1)
        if choice == "times":
            factor = self.draw(st.integers(0, 5))
            apply = _none_if_null(lambda value: value * factor)
            return Ex(
                f"{_wrap(inner, MUL)} * {factor}",
                MUL,
                "dur",
                lambda env: apply(inner.fn(env)),
                inner.nullable,
            )
        if choice == "abs":
            return _call("abs", inner, "dur", abs)
        apply = _none_if_null(operator.neg)
        return Ex(
            f"-{_wrap(inner, UNARY)}",
            UNARY,
            "dur",
            lambda env: apply(inner.fn(env)),
            inner.nullable,
        )

    # -- conditions ---------------------------------------------------------------------

    def boolean(self, scope: Scope, budget: int) -> Ex:
        leaves = ["num", "num", "text", "text_test", "in_list", "time", "dur", "enum", "flag"]
        leaves += ["null", "tags", "matches", "constant"]
        compound = ["and", "or", "not", "any", "all", "count", "eq_bool"]
        choice = self.choose(leaves + (compound if budget > 0 else []))
        sub = budget - 1
        if choice == "num":
            op = self.choose(["==", "!=", "<", "<=", ">", ">="])
            return _compare(op, self.num(scope, sub), self.num(scope, sub))
        if choice == "text":
            op = self.choose(["==", "!=", "<", ">="])
            return _compare(op, self.text(scope, sub), self.text(scope, sub))
        if choice == "time":
            op = self.choose(["<", "<=", ">", ">=", "==", "!="])
            return _compare(op, self.time(scope, sub), self.time(scope, sub))
        if choice == "dur":
            op = self.choose(["<", "<=", ">", ">="])
            return _compare(op, self.dur(scope, sub), self.dur(scope, sub))
        if choice == "text_test":
            return self.text_test(scope, sub)
        if choice == "in_list":
            return self.in_list(scope, sub)
        if choice == "enum":
            return self.enum_test(scope)
        if choice == "flag":
            flags = _fields(scope, "bool")
            if flags:
                return self.pick(flags)
            choice = "constant"
        if choice == "constant":
            value = self.draw(st.booleans())
            return Ex("true" if value else "false", ATOM, "bool", lambda env: value)
        if choice == "null":
            return self.null_test(scope, sub)
        if choice == "tags":
            return self.tags_test(scope)
        if choice == "matches":
            subject = self.text(scope, sub)
            piece = _escape(self.fragment(subject).fn({}))
            pattern = self.draw(
                st.sampled_from([*PATTERNS, piece, f"^{piece}", f"{piece}$", f"(?i){piece}"])
            )
            compiled = re.compile(pattern)

            def matches(env: Env) -> bool:
                value = subject.fn(env)
                return isinstance(value, str) and compiled.search(value) is not None

            text = f"{_wrap(subject, ADD)} matches " + _quote(pattern, '"')
            return Ex(text, CMP, "bool", matches, strings=subject.strings)
        if choice in ("and", "or"):
            parts = [self.boolean(scope, sub) for _ in range(self.draw(st.integers(2, 4)))]
            need = NOT if choice == "and" else AND
            join = all if choice == "and" else any
            return Ex(
                f" {choice} ".join(_wrap(part, need) for part in parts),
                AND if choice == "and" else OR,
                "bool",
                lambda env: join(part.fn(env) for part in parts),
                strings=sum((part.strings for part in parts), ()),
            )
        if choice == "not":
            inner = self.boolean(scope, sub)
            return Ex(
                f"not {_wrap(inner, NOT)}",
                NOT,
                "bool",
                lambda env: not inner.fn(env),
                strings=inner.strings,
            )
        if choice == "eq_bool":
            return _compare(
                self.choose(["==", "!="]), self.boolean(scope, sub), self.boolean(scope, sub)
            )
        if choice == "count":
            return _compare(
                self.choose(["<", ">=", "=="]), self.num(scope, sub), self.literal_num()
            )
        loop = self.quantified(scope)
        if loop is None:
            return self.boolean(scope, 0)
        head, name, collection, inner_scope = loop
        body = self.boolean(inner_scope, sub)
        join = any if choice == "any" else all
        return Ex(
            f"{choice}({head}, {body.text})",
            ATOM,
            "bool",
            lambda env: join(body.fn({**env, name: item}) for item in collection(env)),
            strings=body.strings,
        )

    def fragment(self, of: Ex | None = None) -> Ex:
        """A piece of a real value of ``of``'s field (or of any field): the whole value, a
        prefix, a middle or a suffix, so that every text test can go either way."""
        values = REAL_VALUES.get(of.field or "") if of is not None else None
        if values:
            whole = self.draw(st.sampled_from(values))
            start = self.draw(st.integers(0, len(whole) - 1))
            end = self.draw(st.integers(start + 1, len(whole)))
            value = self.draw(
                st.sampled_from([whole, whole[start:end], whole[:end], whole[start:]])
            )
        else:
            value = self.draw(st.sampled_from(FRAGMENTS))
        return Ex(_quote(value, '"'), ATOM, "text", lambda env: value, strings=(value,))

    def text_test(self, scope: Scope, budget: int) -> Ex:
        op = self.choose(["contains", "starts_with", "ends_with", "in", "not in"])
        left, right = self.text(scope, budget), self.text(scope, budget)
        if self.draw(st.integers(0, 3)):
            if op in ("in", "not in"):
                left = self.fragment(right)
            else:
                right = self.fragment(left)
        tests: dict[str, Callable[[str, str], bool]] = {
            "contains": lambda a, b: b in a,
            "starts_with": str.startswith,
            "ends_with": str.endswith,
            "in": lambda a, b: a in b,
            "not in": lambda a, b: a in b,
        }

        def test(env: Env) -> bool:
            a, b = left.fn(env), right.fn(env)
            found = isinstance(a, str) and isinstance(b, str) and tests[op](a, b)
            return not found if op == "not in" else found

        text = f"{_wrap(left, ADD)} {op} {_wrap(right, ADD)}"
        return Ex(text, CMP, "bool", test, strings=left.strings + right.strings)

    def in_list(self, scope: Scope, budget: int) -> Ex:
        subject = self.text(scope, budget) if self.draw(st.booleans()) else self.num(scope, budget)
        items = [
            (self.fragment(subject) if self.draw(st.booleans()) else self.literal_text())
            if subject.kind == "text"
            else self.literal_num()
            for _ in range(self.draw(st.integers(0, 4)))
        ]
        with_null = self.draw(st.booleans()) and bool(items)
        shown = [item.text for item in items] + (["null"] if with_null else [])
        negated = self.draw(st.booleans())
        text = f"{_wrap(subject, ADD)} {'not in' if negated else 'in'} [{', '.join(shown)}]"

        def test(env: Env) -> bool:
            value = subject.fn(env)
            values = [item.fn(env) for item in items] + ([None] if with_null else [])
            return (value not in values) if negated else (value in values)

        strings = subject.strings + sum((item.strings for item in items), ())
        return Ex(text, CMP, "bool", test, strings=strings)

    def enum_test(self, scope: Scope) -> Ex:
        choices = [
            (var, path, enum)
            for var, element in scope.vars
            for path, enum in ENUMS.get(element, [])
        ]
        if not choices:
            return self.boolean(scope, 0)
        var, path, enum = self.draw(st.sampled_from(choices))
        read = _reader(var, path)
        field = ".".join((var, *path))
        values = self.draw(
            st.lists(st.sampled_from([member.value for member in enum]), min_size=1, max_size=3)
        )
        op = self.choose(["==", "!=", "in", "not in"])
        if op in ("==", "!="):
            value = values[0]
            equal = op == "=="
            return Ex(
                f'{field} {op} "{value}"', CMP, "bool", lambda env: (read(env) == value) is equal
            )
        listed = ", ".join(f'"{value}"' for value in values)
        inside = op == "in"
        return Ex(
            f"{field} {op} [{listed}]", CMP, "bool", lambda env: (read(env) in values) is inside
        )

    def null_test(self, scope: Scope, budget: int) -> Ex:
        kind = self.choose(["num", "text", "time"])
        subject = {"num": self.num, "text": self.text, "time": self.time}[kind](scope, budget)
        op = self.choose(["==", "!="])
        is_null = op == "=="
        return Ex(
            f"{_wrap(subject, ADD)} {op} null",
            CMP,
            "bool",
            lambda env: (subject.fn(env) is None) is is_null,
            strings=subject.strings,
        )

    def tags_test(self, scope: Scope) -> Ex:
        owners = [var for var, element in scope.vars if element == "order"]
        if not owners:
            return self.boolean(scope, 0)
        owner = self.draw(st.sampled_from(owners))
        tag = self.literal_text()
        read = _reader(owner, ("tags",))
        if self.draw(st.booleans()):
            text = f"{owner}.tags contains {tag.text}"
        else:
            text = f"{tag.text} in {owner}.tags"
        value = tag.fn({})
        return Ex(text, CMP, "bool", lambda env: value in read(env), strings=tag.strings)


@attrs.frozen
class Spec:
    """A generated rule set and, for each rule, its reference function."""

    conditions: tuple[Ex, ...]
    priorities: tuple[int, ...]
    on_error: str

    @property
    def names(self) -> list[str]:
        return [f"r{index}" for index in range(len(self.conditions))]

    def data(self) -> dict[str, Any]:
        return {
            "ruleset": "fuzz",
            "version": 1,
            "on_error": self.on_error,
            "rules": [
                {"name": name, "priority": priority, "when": condition.text, "then": []}
                for name, priority, condition in zip(
                    self.names, self.priorities, self.conditions, strict=True
                )
            ],
        }

    def expect(self, order: Order, context: RuleContext) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The rules that match and the rules that fail, both in evaluation order."""
        env = {"order": order, "combined": tuple(context.combined) or (order,)}
        ranked = sorted(range(len(self.conditions)), key=lambda i: (-self.priorities[i], i))
        matched, failed = [], []
        for index in ranked:
            try:
                result = self.conditions[index].fn(env)
            except ReferenceFailure:
                failed.append(self.names[index])
                continue
            assert isinstance(result, bool)
            if result:
                matched.append(self.names[index])
        return tuple(matched), tuple(failed)


@st.composite
def conditions(draw: Callable[[st.SearchStrategy[Any]], Any]) -> Ex:
    return Grammar(draw).boolean(ROOT, draw(st.integers(1, 3)))


rule_sets = st.builds(
    Spec,
    st.lists(conditions(), min_size=1, max_size=4).map(tuple),
    st.lists(st.integers(-2, 2), min_size=4, max_size=4).map(tuple),
    st.sampled_from(["raise", "skip"]),
).map(lambda spec: attrs.evolve(spec, priorities=spec.priorities[: len(spec.conditions)]))


def _check_against_reference(
    spec: Spec, rules: RuleSet, order: Order, *, explain: bool, context: RuleContext = CONTEXT
) -> None:
    matched, failed = spec.expect(order, context)
    if failed and spec.on_error == "raise":
        with pytest.raises(RuleEvaluationError) as caught:
            rules.evaluate(order, context, explain=explain)
        assert caught.value.rule == failed[0]
        return
    decision = rules.evaluate(order, context, explain=explain)
    assert decision.matched == matched, [c.text for c in spec.conditions]
    assert tuple(name for name, _ in decision.errors) == failed
    if explain:
        assert decision.trace is not None
        outcomes = {trace.rule: trace.outcome for trace in decision.trace}
        for name in spec.names:
            expected = (
                RuleOutcome.MATCHED
                if name in matched
                else RuleOutcome.ERROR
                if name in failed
                else RuleOutcome.NOT_MATCHED
            )
            assert outcomes[name] is expected


@FUZZ
@given(rule_sets)
def test_generated_conditions_agree_with_the_reference_evaluator(spec: Spec) -> None:
    """Each generated rule set loads (or exceeds a cap), and on every order of the corpus
    matches exactly the rules the reference says, failing exactly where it divides by zero;
    explain=True gives the same result as explain=False."""
    rules, error = _attempt(lambda: RuleSet.from_dict(spec.data()), RuleLimitExceeded)
    if error is not None:
        event(f"cap {error.limit}")
        assert error.limit in ("depth", "nodes")
        return
    assert_generated_source_is_allowed(
        rules,
        [condition.text for condition in spec.conditions],
        strings=[value for condition in spec.conditions for value in condition.strings],
    )
    for order in ORDERS:
        _check_against_reference(spec, rules, order, explain=False)
        _check_against_reference(spec, rules, order, explain=True)
    # orders shipping together: ``combined`` is the context's, and the order one of them
    together = (ORDERS[2], ORDERS[5], ORDERS[-2])
    shipping = RuleContext(now=NOW, stock=STOCK, combined=together)  # type: ignore[arg-type]
    for order in shipping.combined:
        _check_against_reference(spec, rules, order, explain=False, context=shipping)
        _check_against_reference(spec, rules, order, explain=True, context=shipping)


@FUZZ
@given(conditions())
def test_one_condition_agrees_with_the_reference_in_a_single_rule_set(condition: Ex) -> None:
    """The same, one rule at a time, so a disagreement shows the condition alone."""
    spec = Spec((condition,), (0,), "skip")
    rules, error = _attempt(lambda: RuleSet.from_dict(spec.data()), RuleLimitExceeded)
    if error is not None:
        assert error.limit in ("depth", "nodes")
        return
    for order in ORDERS:
        _check_against_reference(spec, rules, order, explain=False)


@st.composite
def loose_conditions(draw: Callable[[st.SearchStrategy[Any]], Any]) -> str:
    """Pieces of every type joined by any operator: type errors and all."""
    grammar = Grammar(draw)
    makers = [grammar.num, grammar.text, grammar.time, grammar.dur, grammar.boolean]
    pieces = [draw(st.sampled_from(makers))(ROOT, 1) for _ in range(draw(st.integers(1, 4)))]
    ops = ["and", "or", "==", "<", "+", "-", "*", "/", "contains", "in", "matches", ","]
    text = pieces[0].text
    for piece in pieces[1:]:
        text = f"{text} {draw(st.sampled_from(ops))} {piece.text}"
    wrapper: str = draw(
        st.sampled_from(["{}", "not ({})", "any(l in order.lines, {})", "({}) > 1"])
    )
    return wrapper.format(text)


@FUZZ
@given(loose_conditions())
def test_ill_typed_conditions_are_refused_or_evaluate(text: str) -> None:
    """A condition mixing types is a RuleLoadError naming the problem, or it loads and each
    evaluation gives a decision or a RuleEvaluationError."""
    rules = _load_or_refuse(text)
    event("loaded" if rules is not None else "refused")
    if rules is not None:
        assert_generated_source_is_allowed(rules, [text])
        for order in ORDERS[:6]:
            _evaluates_to_a_decision(rules, order)


# -- bugs the fuzzing found in the compiler ----------------------------------------------------


def test_a_list_field_equals_a_list_literal_with_the_same_items() -> None:
    """``order.tags == ["urgent"]`` is true for an order tagged exactly urgent."""
    order = ORDERS[0].evolve(tags=("urgent",))
    equal = RuleSet.from_dict(_one_rule('order.tags == ["urgent"]'))
    different = RuleSet.from_dict(_one_rule('order.tags != ["urgent"]'))
    assert equal.evaluate(order).matched == ("r",)
    assert different.evaluate(order).matched == ()


def test_explain_spends_the_same_items_budget_as_a_plain_evaluation() -> None:
    """A rule that fits the items budget without explain fits it with explain too."""
    when = "any(l in order.lines, any(m in order.lines, m.quantity > 100) or l.quantity >= 1)"
    order = OrderFactory(seed=1).order(lines=3)
    rules = RuleSet.from_dict(_one_rule(when) | {"on_error": "skip"}, limits=Limits(items=3))
    plain = rules.evaluate(order)
    traced = rules.evaluate(order, explain=True)
    assert plain.matched == ("r",)
    assert plain.errors == ()
    assert traced.matched == plain.matched
    assert traced.errors == plain.errors


# -- (3) what the generated code may contain ---------------------------------------------------


def _reachable_fields() -> frozenset[str]:
    names: set[str] = set()
    pending: list[Any] = [Order]
    seen: set[Any] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, field in fields_of(model).items():
            names.add(name)
            kind = field.type.elem if field.type.kind == "list" else field.type
            if kind is not None and kind.model is not None:
                pending.append(kind.model)
    return frozenset(names)


FIELD_NAMES = _reachable_fields()
FRAME_ATTRIBUTES = frozenset(
    {"now", "today", "combined", "visit", "stock", "history_count", "history_orders"}
    | {"carrier_success", "replay"}
)
VALUE_ATTRIBUTES = frozenset({"utc", "reveal", "amount", "startswith", "endswith"})
CALLABLE_NAMES = frozenset(RUNTIME) | frozenset(BUILTINS)
# The expression nodes the compiler emits, and the few statements of ``fused`` (one function
# testing every rule, a bit per match: ``m = 0``, ``if <rule>: m |= <bit>``, ``return m``).
ALLOWED_NODES = (
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Call,
    ast.Attribute,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.Tuple,
    ast.GeneratorExp,
    ast.comprehension,
    ast.NamedExpr,
    ast.Lambda,
    ast.arguments,
    ast.arg,
    ast.Subscript,
)
_CONSTANT = re.compile(r"K[0-9]+")
_TEMPORARY = re.compile(r"_t[0-9]+")
_LOOP = re.compile(r"v_([A-Za-z][A-Za-z0-9_]*)")
_FUNCTION = re.compile(r"(rule|traced)_[0-9]+")
_HEADER = re.compile(
    r"# rule set [a-z0-9_.-]+: generated by ordercore\.rules from its own syntax tree"
)
_METHODS = frozenset({"append", "startswith", "endswith", "reveal"}) | (
    FRAME_ATTRIBUTES - {"now", "today", "combined"}
)


def _expressions_of(function: ast.FunctionDef) -> list[ast.expr]:
    """The expressions of a generated function, checking its statements' shape on the way."""
    args = function.args
    assert not function.decorator_list and not args.defaults and not args.kwonlyargs
    assert args.vararg is None and args.kwarg is None and not args.posonlyargs
    params = [arg.arg for arg in args.args]
    if function.name == "fused":
        assert params == ["o", "e"]
        first, *tests, last = function.body
        assert isinstance(first, ast.Assign) and len(first.targets) == 1
        assert isinstance(first.targets[0], ast.Name) and first.targets[0].id == "m"
        assert isinstance(first.value, ast.Constant) and first.value.value == 0
        assert isinstance(last, ast.Return)
        assert isinstance(last.value, ast.Name) and last.value.id == "m"
        found = []
        for test in tests:
            assert isinstance(test, ast.If) and not test.orelse and len(test.body) == 1
            (update,) = test.body
            assert isinstance(update, ast.AugAssign) and isinstance(update.op, ast.BitOr)
            assert isinstance(update.target, ast.Name) and update.target.id == "m"
            assert isinstance(update.value, ast.Constant) and type(update.value.value) is int
            found.append(test.test)
        return found
    assert _FUNCTION.fullmatch(function.name), function.name
    assert params == (["o", "e", "T"] if function.name.startswith("traced") else ["o", "e"])
    (statement,) = function.body
    assert isinstance(statement, ast.Return) and statement.value is not None
    return [statement.value]


def _check_expression(expression: ast.expr, words: set[str]) -> None:
    parents = {child: node for node in ast.walk(expression) for child in ast.iter_child_nodes(node)}
    for node in ast.walk(expression):
        assert isinstance(node, ALLOWED_NODES), ast.dump(node)
        if isinstance(node, ast.Name):
            name = node.id
            loop = _LOOP.fullmatch(name)
            if isinstance(node.ctx, ast.Store):
                assert _TEMPORARY.fullmatch(name) or loop, name
            else:
                assert (
                    name in CALLABLE_NAMES
                    or name in ("o", "e", "T")
                    or _CONSTANT.fullmatch(name)
                    or _TEMPORARY.fullmatch(name)
                    or loop
                ), name
            if loop:
                assert loop.group(1) in words, name
        elif isinstance(node, ast.Attribute):
            assert not node.attr.startswith("_"), node.attr
            base = node.value
            if isinstance(base, ast.Name) and base.id == "e":
                assert node.attr in FRAME_ATTRIBUTES, node.attr
            elif isinstance(base, ast.Name) and base.id == "T":
                assert node.attr == "append"
            else:
                assert node.attr in FIELD_NAMES | VALUE_ATTRIBUTES, node.attr
        elif isinstance(node, ast.Call):
            assert not node.keywords
            assert not any(isinstance(arg, ast.Starred) for arg in node.args)
            func = node.func
            if isinstance(func, ast.Name):
                # RUNTIME helpers and the few builtins, or a constant the compiler built to
                # be called (a compiled pattern's search)
                assert func.id in CALLABLE_NAMES or _CONSTANT.fullmatch(func.id), func.id
            elif isinstance(func, ast.Attribute):
                assert func.attr in _METHODS, func.attr
            else:
                assert isinstance(func, ast.Lambda)
        elif isinstance(node, ast.Lambda):
            params = [arg.arg for arg in node.args.args]
            # The compiler's lambdas: the witness test of any/all (one loop variable), a
            # collection read that needs its own scope, called on the spot, and the replay
            # of a traced witness, handed to e.replay().
            if params:
                assert len(params) == 1 and _LOOP.fullmatch(params[0])
            else:
                parent = parents.get(node)
                assert isinstance(parent, ast.Call)
                called_here = parent.func is node and not parent.args
                replayed = (
                    isinstance(parent.func, ast.Attribute)
                    and parent.func.attr == "replay"
                    and isinstance(parent.func.value, ast.Name)
                    and parent.func.value.id == "e"
                    and parent.args == [node]
                )
                assert called_here or replayed
            assert not node.args.defaults and node.args.vararg is None
        elif isinstance(node, ast.comprehension):
            assert isinstance(node.target, ast.Name) and _LOOP.fullmatch(node.target.id)
            assert not node.is_async and len(node.ifs) <= 1
        elif isinstance(node, ast.GeneratorExp):
            assert len(node.generators) == 1
        elif isinstance(node, ast.NamedExpr):
            assert _TEMPORARY.fullmatch(node.target.id)
        elif isinstance(node, ast.Subscript):
            assert isinstance(node.value, ast.Name) and _TEMPORARY.fullmatch(node.value.id)
            assert isinstance(node.slice, ast.Name) and _TEMPORARY.fullmatch(node.slice.id)
        elif isinstance(node, ast.Constant):
            value = node.value
            assert value is None or type(value) in (bool, int), repr(value)
            assert not isinstance(value, int) or value >= 0


def assert_generated_source_is_allowed(
    rules: RuleSet, texts: Iterable[str], *, strings: Iterable[str] = ()
) -> None:
    """Every name in the generated module is one the compiler chose, every attribute a field,
    a frame lookup or a value accessor, and no value of the rule text is in it as source."""
    source = rules.generated_source
    header, _, body = source.partition("\n")
    assert _HEADER.fullmatch(header), header
    assert body.isascii()
    assert '"' not in body and "'" not in body and "#" not in body
    for value in strings:
        # a value that could not be a piece of generated code (identifiers, operators and
        # punctuation make up all of it) is certainly not in it
        if re.search(r"[^A-Za-z0-9_ ().,:=<>!+*/|&\[\]-]", value):
            assert value not in body
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", " ".join(texts)))
    tree = ast.parse(source)
    assert all(isinstance(node, ast.FunctionDef) for node in tree.body)
    names = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    expected = [
        f"{kind}_{index}" for index in range(len(rules.rules)) for kind in ("rule", "traced")
    ]
    assert [name for name in names if name != "fused"] == expected
    assert names.count("fused") <= 1
    for function in tree.body:
        assert isinstance(function, ast.FunctionDef)
        for expression in _expressions_of(function):
            _check_expression(expression, words)


DOCUMENTED = [
    'order.channel == "douyin" and any(line in order.lines, line.sku contains "SOF-2026")',
    "sum(o in combined, o.amounts.goods - o.amounts.discount_total) >= 299",
    'order.receiver.province in ["浙江省", "江苏省", "上海市", "安徽省"]',
    'order.amounts.paid >= 299 and order.channel in ["douyin", "taobao"]',
    "sum(line in order.lines, line.quantity) >= 3",
    'history_count("returns", order.receiver.phone, 24h) > 5 and '
    'history_orders("returns", order.receiver.phone, 24h) >= 3',
    'stock("PIL-001") < 1 and carrier_success("SF", 24h) < 0.65',
    "now - order.paid_at > 2h",
    'order.tags contains "urgent" or "urgent" not in order.tags',
    'order.attributes.service_package != null and order.attributes.invoice_type == "电子发票"',
    'any(l in order.lines, l.attributes.engraving matches "^[A-Z]")',
    'any(o in combined, all(l in o.lines, l.is_gift or l.sku starts_with "SOF"))',
    "min(l in order.lines, l.paid) > 1 and max(l in order.lines, l.unit_price) <= 5000",
    'count(l in order.lines, lower(l.sku) ends_with "-w") == 0 and len(order.tags) < 3',
    'order.buyer_note matches "(a+)+$" and order.presale.phase == "deposit_paid"',
    "abs(-order.amounts.paid / 2) > 1 and order.created_at + 7d > today",
    "any(s in order.shipments, any(p in s.packages, count(p.lines) > 1))",
]


def test_documented_conditions_compile_to_allowed_code_only() -> None:
    """The guide's own kinds of conditions, all in one set, pass the allow-list."""
    rules = RuleSet.from_dict(
        {
            "ruleset": "documented",
            "version": 1,
            "rules": [
                {"name": f"r{index}", "when": when, "then": []}
                for index, when in enumerate(DOCUMENTED)
            ],
        }
    )
    assert_generated_source_is_allowed(
        rules, DOCUMENTED, strings=["SOF-2026", "浙江省", "电子发票"]
    )
    source = rules.generated_source
    assert "lambda" in source and " for v_" in source  # the compiler's own forms are exercised
    for order in ORDERS:
        _evaluates_to_a_decision(rules, order)


@pytest.mark.parametrize(
    "bad",
    [
        "import os\ndef rule_0(o, e):\n    return True\n",
        "def rule_0(o, e):\n    return o.__class__\n",
        "def rule_0(o, e):\n    return getattr(o, K0)\n",
        "def rule_0(o, e):\n    return [v_l for v_l in o.lines]\n",
        "def rule_0(o, e):\n    return (lambda q: q)(o)\n",
        "def rule_0(o, e):\n    return o.channel == 'douyin'\n",
        "def rule_0(o, e):\n    return o.model_dump()\n",
        "def rule_0(o, e):\n    return (lambda: o)\n",
        "def rule_0(o, e):\n    return o.lines[0]\n",
    ],
)
def test_the_allow_list_catches_what_the_compiler_must_never_emit(bad: str) -> None:
    """The check itself fails on each construct it is meant to keep out."""

    class Forged:
        rules = (None,)
        generated_source = (
            "# rule set forged: generated by ordercore.rules from its own syntax tree\n"
            + bad
            + "def traced_0(o, e, T):\n    return True\n"
        )

    with pytest.raises(AssertionError):
        assert_generated_source_is_allowed(Forged(), ["l"])  # type: ignore[arg-type]


PAYLOADS = [
    "__import__('os').system('id')",
    '"); import os; ("',
    "') or __import__('os') or ('",
    "\\'; o.__class__ #",
    "K0) or (o.raw",
    "_t1 := o.raw",
    "lambda: 1",
    "{v_x for v_x in o.lines}",
    "\n    return o.raw\ndef x():",
]


def test_values_that_look_like_code_travel_as_constants() -> None:
    """String literals that are Python code (quotes, newlines, names of the generated code)
    reach the generated module only as K<n> constants and compare as plain text."""
    double = [_quote(payload, '"') for payload in PAYLOADS]
    single = [_quote(payload, "'") for payload in PAYLOADS]
    conditions = [f"order.buyer_note == {literal}" for literal in double]
    conditions += [f"order.channel contains {literal}" for literal in single]
    conditions += ['order.buyer_note matches "K0"', 'order.buyer_note matches "_t1"']
    rules = RuleSet.from_dict(
        {
            "ruleset": "payloads",
            "version": 1,
            "rules": [
                {"name": f"r{index}", "when": when, "then": []}
                for index, when in enumerate(conditions)
            ],
        }
    )
    assert_generated_source_is_allowed(rules, conditions, strings=PAYLOADS)
    body = rules.generated_source.partition("\n")[2]
    for value in PAYLOADS:
        assert value not in body
    for index, value in enumerate(PAYLOADS):
        order = ORDERS[0].evolve(buyer_note=value)
        assert f"r{index}" in rules.evaluate(order, CONTEXT).matched
        assert f"r{index}" not in rules.evaluate(ORDERS[1], CONTEXT).matched
