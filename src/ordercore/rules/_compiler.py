"""Type-check a rule expression and turn it into a Python function.

The checked syntax tree is written out as Python source that the library itself
generates: every name in it is one this module chose, every field one the type
tables list, and every value from the rule text travels as a constant in the
function's namespace, never as source. The source is compiled once per rule set
with no builtins but the few it calls. Each rule gets two functions: a plain one
and one that also records the values behind each test, for explain traces.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any, Final

import attrs

from ordercore.money import Money, minor_digits
from ordercore.pii import redact
from ordercore.rules._syntax import (
    LIMITS,
    Attr,
    Binary,
    Call,
    Compare,
    ExprSyntaxError,
    Limits,
    ListLit,
    Literal,
    Name,
    Node,
    Quant,
    Unary,
)
from ordercore.rules._types import (
    ANY,
    BOOL,
    DURATION,
    MONEY,
    NULL,
    NUMBER,
    TEXT,
    TIME,
    T,
    fields_of,
)
from ordercore.schema import Order, OrderAmounts

if TYPE_CHECKING:
    import re2

__all__ = ["Check", "CompiledExpr", "ExprCompiler", "RUNTIME"]

ORDER_T: Final = T("record", model=Order)
ROOTS: Final = {
    "order": (ORDER_T, "o"),
    "now": (TIME, "e.now"),
    "today": (TIME, "e.today"),
    "combined": (T("list", elem=ORDER_T), "e.combined"),
}
FUNCTIONS: Final = (
    "any, all, count, sum, min, max, len, lower, upper, abs, stock, history_count, "
    "history_orders, carrier_success"
)
HISTORY_COUNTERS: Final = ("returns", "orders")
_ORDERABLE: Final = frozenset({"number", "money", "text", "time", "duration"})


# -- runtime helpers the generated code calls ---------------------------------------------


def _money_of(value: Any, like: Money) -> Money:
    return value if isinstance(value, Money) else Money(value, like.currency)


def _add(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, Money):
        return a + _money_of(b, a)
    if isinstance(b, Money):
        return _money_of(a, b) + b
    return a + b


def _sub(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, Money):
        return a - _money_of(b, a)
    if isinstance(b, Money):
        return _money_of(a, b) - b
    return a - b


def _mul(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(b, Money):
        a, b = b, a
    if isinstance(a, Money):
        places = Decimal(1).scaleb(-minor_digits(a.currency))
        return Money((a.amount * Decimal(b)).quantize(places, ROUND_HALF_UP), a.currency)
    if isinstance(a, timedelta):
        return timedelta(seconds=float(Decimal(a.total_seconds()) * Decimal(b)))
    if isinstance(b, timedelta):
        return timedelta(seconds=float(Decimal(b.total_seconds()) * Decimal(a)))
    return a * b


def _div(a: Any, b: Any) -> Any:
    if a is None or b is None:
        return None
    if isinstance(a, Money):
        a = a.amount
    if isinstance(b, Money):
        b = b.amount
    if isinstance(a, timedelta):
        if isinstance(b, timedelta):
            return Decimal(a.total_seconds()) / Decimal(b.total_seconds())
        return timedelta(seconds=float(Decimal(a.total_seconds()) / Decimal(b)))
    return Decimal(a) / Decimal(b)


def _neg(a: Any) -> Any:
    return None if a is None else -a


def _plain(value: Any) -> Any:
    return value.amount if isinstance(value, Money) else value


_COLLECTIONS: Final = (tuple, list, frozenset, set)


def _same_items(a: Any, b: Any) -> bool:
    """Lists are equal when they hold the same items, in any order, repeats not counted."""
    try:
        return frozenset(a) == frozenset(b)
    except TypeError:  # unhashable items: each must be in the other
        return all(item in b for item in a) and all(item in a for item in b)


def _eq(a: Any, b: Any) -> bool:
    if isinstance(a, _COLLECTIONS) and isinstance(b, _COLLECTIONS):
        return _same_items(a, b)
    if isinstance(a, Money) and not isinstance(b, Money) and b is not None:
        return bool(a.amount == b)
    if isinstance(b, Money) and not isinstance(a, Money) and a is not None:
        return bool(b.amount == a)
    return bool(a == b)


def _ordered(a: Any, b: Any) -> tuple[Any, Any] | None:
    if a is None or b is None:
        return None
    if isinstance(a, Money) != isinstance(b, Money):
        return _plain(a), _plain(b)
    return a, b


def _lt(a: Any, b: Any) -> bool:
    pair = _ordered(a, b)
    try:
        return pair is not None and bool(pair[0] < pair[1])
    except TypeError:
        return False


def _le(a: Any, b: Any) -> bool:
    pair = _ordered(a, b)
    try:
        return pair is not None and bool(pair[0] <= pair[1])
    except TypeError:
        return False


def _gt(a: Any, b: Any) -> bool:
    pair = _ordered(a, b)
    try:
        return pair is not None and bool(pair[0] > pair[1])
    except TypeError:
        return False


def _ge(a: Any, b: Any) -> bool:
    pair = _ordered(a, b)
    try:
        return pair is not None and bool(pair[0] >= pair[1])
    except TypeError:
        return False


def _within(a: Any, b: Any) -> bool:
    """``a in b`` that is false (not an error) when either side is null or of another type."""
    if b is None or a is None:
        return False
    try:
        return a in b
    except TypeError:
        return False


def _text_test(method: str) -> Callable[[Any, Any], bool]:
    def test(a: Any, b: Any) -> bool:
        if not isinstance(a, str) or not isinstance(b, str):
            return False
        return bool(getattr(a, method)(b))

    return test


def _len(a: Any) -> Any:
    return None if a is None else len(a)


def _lower(a: Any) -> Any:
    return a.lower() if isinstance(a, str) else None


def _upper(a: Any) -> Any:
    return a.upper() if isinstance(a, str) else None


def _abs(a: Any) -> Any:
    return None if a is None else abs(a)


def _attribute(mapping: Any, name: str) -> Any:
    if mapping is None:
        return None
    found = mapping.get(name)
    if found is None:
        return None
    value = getattr(found, "value", found)
    return value.amount if isinstance(value, Money) else value


def _sum_numbers(values: Iterable[Any]) -> Any:
    total: Any = 0
    for value in values:
        if value is not None:
            total = total + value
    return total


def _least(values: Iterable[Any]) -> Any:
    found = [value for value in values if value is not None]
    return min(found) if found else None


def _most(values: Iterable[Any]) -> Any:
    found = [value for value in values if value is not None]
    return max(found) if found else None


def _matches(pattern: re2._Regexp, text: Any) -> bool:
    return isinstance(text, str) and pattern.search(text) is not None


def _searcher(pattern: re2._Regexp) -> Callable[[Any], bool]:
    """``_matches(pattern, text)`` as one function of the text.

    It asks the compiled RE2 program for the first match's span directly, which is
    what ``pattern.search`` does before it builds a match object; where the binding
    does not offer that call, it uses ``pattern.search``.
    """
    import re2

    try:
        regexp = pattern._regexp
        anchor = re2._Anchor.UNANCHORED
        null = re2._NULL_SPAN
        if (regexp.Match(anchor, b"", 0, 0)[0] == null) is not (pattern.search("") is None):
            raise TypeError("the RE2 binding answers differently")  # pragma: no cover
    except Exception:  # pragma: no cover - another binding of RE2

        def search_text(text: Any) -> bool:
            return isinstance(text, str) and pattern.search(text) is not None

        return search_text
    match = regexp.Match

    def search(text: Any) -> bool:
        if not isinstance(text, str):
            return False
        data = text.encode("utf-8")
        return bool(match(anchor, data, 0, len(data))[0] != null)

    return search


def _discount_total(amounts: Any) -> Any:
    """``amounts.discount_total.amount``, adding the discounts' amounts without building Money.

    The order model keeps every discount in the order's currency, so the sum is the
    one ``discount_total`` computes; anything unusual (another class, another
    currency, a huge total) reads the property itself.
    """
    if type(amounts) is not OrderAmounts:
        return amounts.discount_total.amount
    currency = amounts.goods.currency
    total = _ZERO.get(currency)
    if total is None:
        return amounts.discount_total.amount
    for discount in amounts.discounts:
        money = discount.amount
        if money.currency != currency:
            return amounts.discount_total.amount
        total = total + money.amount
    if total.adjusted() > 20:  # pragma: no cover - far beyond any order
        return amounts.discount_total.amount
    return total + 0


_ZERO: Final[dict[str, Decimal]] = {"CNY": Money.zero("CNY").amount}


def _witness(collection: Iterable[Any], predicate: Callable[[Any], Any], want: bool) -> int:
    """The index of the first item whose test is ``want`` (-1 if none)."""
    for index, item in enumerate(collection):
        if bool(predicate(item)) is want:
            return index
    return -1


RUNTIME: Final[dict[str, Any]] = {
    "_add": _add,
    "_sub": _sub,
    "_mul": _mul,
    "_div": _div,
    "_neg": _neg,
    "_eq": _eq,
    "_lt": _lt,
    "_le": _le,
    "_gt": _gt,
    "_ge": _ge,
    "_within": _within,
    "_starts": _text_test("startswith"),
    "_ends": _text_test("endswith"),
    "_contains_text": _text_test("__contains__"),
    "_len": _len,
    "_lower": _lower,
    "_upper": _upper,
    "_abs": _abs,
    "_attribute": _attribute,
    "_sum_numbers": _sum_numbers,
    "_least": _least,
    "_most": _most,
    "_matches": _matches,
    "_discount_total": _discount_total,
    "_witness": _witness,
}
BUILTINS: Final = {"any": any, "all": all, "sum": sum, "len": len, "bool": bool, "tuple": tuple}


# -- what the trace formatter needs to know about each test ------------------------------


@attrs.frozen(slots=True)
class Check:
    """One test of a condition, as the trace shows it.

    Attributes:
        index: Its number within the rule.
        text: The test as written.
        left: The left operand as written (``None`` for quantifiers).
        op: The operator (``>=``, ``contains``; ``any`` / ``all`` for quantifiers).
        right: The right operand as written.
        left_type: The left operand's type (for masking personal values).
        right_type: The right operand's type.
        right_literal: Whether the right operand is a literal (shown once, not as ``x = x``).
        level: Quantifier nesting level the test sits in (0 at the top).
        collection: For quantifiers, the collection as written.
    """

    index: int
    text: str
    left: str | None
    op: str
    right: str | None
    left_type: T | None = None
    right_type: T | None = None
    right_literal: bool = False
    level: int = 0
    collection: str | None = None


@attrs.define(slots=True)
class CompiledExpr:
    """The Python source of one condition, plain and traced, and what it uses."""

    plain: str
    traced: str
    checks: list[Check]
    uses_now: bool
    uses_today: bool


# -- the compiler ---------------------------------------------------------------------------


class _Problem(ExprSyntaxError):
    pass


@attrs.define(slots=True)
class _Scope:
    names: dict[str, tuple[T, str]]
    level: int = 0


class ExprCompiler:
    """Compiles the expressions of one rule set; constants are shared in :attr:`constants`."""

    def __init__(self, limits: Limits = LIMITS) -> None:
        self.limits = limits
        self.constants: dict[str, Any] = {}
        self._constant_ids: dict[tuple[type, Any], str] = {}
        self._temp = 0

    # constants and temporaries
    def const(self, value: Any) -> str:
        try:
            key: tuple[type, Any] | None = (type(value), value)
            hash(key)
        except TypeError:
            key = None
        if key is not None and key in self._constant_ids:
            return self._constant_ids[key]
        name = f"K{len(self.constants)}"
        self.constants[name] = value
        if key is not None:
            self._constant_ids[key] = name
        return name

    def temp(self) -> str:
        self._temp += 1
        return f"_t{self._temp}"

    def compile(self, text: str, node: Node) -> CompiledExpr:
        """Type-check ``node`` (parsed from ``text``) and generate its two Python forms.

        Raises:
            ExprSyntaxError: a type error, an unknown name or field, or a cap exceeded.
        """
        self._text = text
        self._uses = {"now": False, "today": False}
        scope = _Scope(dict(ROOTS))
        self._checks: list[Check] = []
        plain, kind = self.gen(node, scope, traced=False)
        self._checks = []
        traced, _ = self.gen(node, scope, traced=True)
        if kind.kind not in ("bool", "any"):
            raise _Problem(
                f"a condition must be true or false; this is {kind.describe()}",
                node.start,
                expected="a comparison or a test",
            )
        return CompiledExpr(plain, traced, self._checks, self._uses["now"], self._uses["today"])

    def snippet(self, node: Node) -> str:
        return self._text[node.start : node.end]

    # -- code generation -------------------------------------------------------------------

    def gen(self, node: Node, scope: _Scope, *, traced: bool) -> tuple[str, T]:
        if isinstance(node, Literal):
            return self.gen_literal(node)
        if isinstance(node, ListLit):
            return self.gen_list(node, scope, traced=traced)
        if isinstance(node, Name):
            return self.gen_name(node, scope)
        if isinstance(node, Attr):
            return self.gen_attr(node, scope, traced=traced)
        if isinstance(node, Unary):
            return self.gen_unary(node, scope, traced=traced)
        if isinstance(node, Binary):
            return self.gen_binary(node, scope, traced=traced)
        if isinstance(node, Compare):
            return self.gen_compare(node, scope, traced=traced)
        if isinstance(node, Quant):
            return self.gen_quant(node, scope, traced=traced)
        if isinstance(node, Call):
            return self.gen_call(node, scope, traced=traced)
        raise _Problem("unsupported expression", node.start)  # pragma: no cover

    def gen_literal(self, node: Literal) -> tuple[str, T]:
        value = node.value
        if value is None:
            return "None", NULL
        if isinstance(value, bool):
            return ("True" if value else "False"), BOOL
        if isinstance(value, Decimal):
            return self.const(value), NUMBER
        if isinstance(value, timedelta):
            return self.const(value), DURATION
        return self.const(value), TEXT

    def gen_list(self, node: ListLit, scope: _Scope, *, traced: bool) -> tuple[str, T]:
        if not node.items:
            return "()", T("list", elem=ANY)
        items = [self.gen(item, scope, traced=False) for item in node.items]
        kinds = {kind.kind for _, kind in items if kind.kind != "null"}
        if len(kinds) > 1 and not kinds <= {"number", "money"}:
            raise _Problem(
                "a list literal mixes " + " and ".join(sorted(kinds)),
                node.start,
                expected="items of one type",
            )
        elem = next((kind for _, kind in items if kind.kind != "null"), NULL)
        if all(isinstance(item, Literal) for item in node.items):
            values = [item.value for item in node.items if isinstance(item, Literal)]
            try:
                return self.const(frozenset(values)), T("list", elem=elem)
            except TypeError:  # pragma: no cover - literals are hashable
                pass
        return "(" + ", ".join(code for code, _ in items) + ",)", T("list", elem=elem)

    def gen_name(self, node: Name, scope: _Scope) -> tuple[str, T]:
        found = scope.names.get(node.name)
        if found is None:
            known = ", ".join(sorted(scope.names))
            if node.name in {"lambda", "import", "for", "if", "def", "class", "exec", "eval"}:
                message = f"'{node.name}' is not part of the rule language"
            else:
                message = f"unknown name {node.name!r}"
            raise _Problem(message, node.start, expected=f"one of: {known}")
        kind, code = found
        if node.name in self._uses:
            self._uses[node.name] = True
        return code, kind

    def gen_attr(self, node: Attr, scope: _Scope, *, traced: bool) -> tuple[str, T]:
        base, kind = self.gen(node.obj, scope, traced=traced)
        name = node.name
        if kind.kind == "map":
            if kind.attributes:
                return f"_attribute({base}, {self.const(name)})", ANY
            return f"_attribute({base}, {self.const(name)})", TEXT.optional()
        if kind.kind == "any":
            raise _Problem(
                f"cannot read field {name!r} of a custom attribute's value",
                node.start,
                expected="a comparison",
            )
        if kind.kind != "record" or kind.model is None:
            raise _Problem(
                f"{self.snippet(node.obj)} is {kind.describe()}, which has no fields",
                node.start,
                expected="an operator",
            )
        table = fields_of(kind.model)
        found = table.get(name)
        if found is None:
            known = ", ".join(sorted(table))
            raise _Problem(
                f"unknown field {name!r} of {kind.model.__name__}",
                node.end - len(name),
                expected=f"one of: {known}",
            )
        if not name.isidentifier() or keyword.iskeyword(name):  # pragma: no cover
            raise _Problem(f"field {name!r} cannot be read", node.start)
        result = found.type.optional() if kind.nullable else found.type
        # Money is read as its Decimal amount: every amount of an order is in the order's
        # currency (the model checks it), so arithmetic stays exact and needs no Money objects.
        if found.access == "attr" and found.type.kind != "money":
            if not kind.nullable:
                return f"{base}.{name}", result
            holder = self.temp()
            return f"(None if ({holder} := {base}) is None else {holder}.{name})", result
        if kind.model is OrderAmounts and name == "discount_total" and found.type.kind == "money":
            if not kind.nullable:
                return f"_discount_total({base})", result
            holder = self.temp()
            return f"(None if ({holder} := {base}) is None else _discount_total({holder}))", result
        tail = {"utc": ".utc", "reveal": ".reveal()"}.get(found.access, ".amount")
        if kind.nullable:
            holder = self.temp()
            read = f"{holder}.{name}"
            prefix, suffix = f"(None if ({holder} := {base}) is None else ", ")"
        else:
            read, prefix, suffix = f"{base}.{name}", "", ""
        if found.type.nullable:
            value = self.temp()
            inner = f"(None if ({value} := {read}) is None else {value}{tail})"
        else:
            inner = f"{read}{tail}"
        return prefix + inner + suffix, result

    def gen_unary(self, node: Unary, scope: _Scope, *, traced: bool) -> tuple[str, T]:
        code, kind = self.gen(node.operand, scope, traced=traced)
        if node.op == "not":
            self.require(kind, ("bool", "any"), node.operand, "'not' needs true/false")
            return f"(not {code})", BOOL
        self.require(
            kind, ("number", "money", "duration", "any"), node.operand, "'-' needs a number"
        )
        if kind.nullable:
            return f"_neg({code})", kind
        return f"(-{code})", kind

    def require(self, kind: T, kinds: Sequence[str], node: Node, message: str) -> None:
        if kind.kind not in kinds:
            raise _Problem(
                f"{message}; {self.snippet(node)} is {kind.describe()}",
                node.start,
                expected=" or ".join(_KIND_WORDS.get(k, k) for k in kinds if k != "any"),
            )

    def gen_binary(self, node: Binary, scope: _Scope, *, traced: bool) -> tuple[str, T]:
        left, lt = self.gen(node.left, scope, traced=traced)
        right, rt = self.gen(node.right, scope, traced=traced)
        op = node.op
        if op in ("and", "or"):
            self.require(lt, ("bool", "any"), node.left, f"'{op}' needs true/false on both sides")
            self.require(rt, ("bool", "any"), node.right, f"'{op}' needs true/false on both sides")
            return f"({left} {op} {right})", BOOL
        result = _arithmetic(op, lt, rt)
        if result is None:
            raise _Problem(
                f"cannot compute {lt.describe()} {op} {rt.describe()} "
                f"({self.snippet(node.left)} {op} {self.snippet(node.right)})",
                node.start,
                expected=_ARITHMETIC_HINT[op],
            )
        nullable = lt.nullable or rt.nullable
        kinds = (lt.kind, rt.kind)
        plain_python = not nullable and (
            (op in "+-*" and lt.is_numeric and rt.is_numeric)
            or (op in "+-" and kinds in (("duration", "duration"), ("time", "duration")))
            or (op == "-" and kinds == ("time", "time"))
        )
        if plain_python:
            return f"({left} {op} {right})", result
        helper = {"+": "_add", "-": "_sub", "*": "_mul", "/": "_div"}[op]
        return f"{helper}({left}, {right})", (result.optional() if nullable else result)

    # comparisons --------------------------------------------------------------------------

    def gen_compare(self, node: Compare, scope: _Scope, *, traced: bool) -> tuple[str, T]:
        left, lt = self.gen(node.left, scope, traced=traced)
        right, rt = self.gen(node.right, scope, traced=traced)
        op = node.op
        self.check_compare(node, lt, rt)
        if not traced:
            return self.compare_code(node, left, lt, right, rt), BOOL
        index = len(self._checks)
        self._checks.append(
            Check(
                index=index,
                text=self.snippet(node),
                left=self.snippet(node.left),
                op=op,
                right=self.snippet(node.right),
                left_type=lt,
                right_type=rt,
                right_literal=isinstance(node.right, Literal | ListLit),
                level=scope.level,
            )
        )
        a, b, r = self.temp(), self.temp(), self.temp()
        test = self.compare_code(node, a, lt, b, rt)
        return (
            f"(T.append(({index}, ({a} := {left}), ({b} := {right}), ({r} := {test}))) or {r})",
            BOOL,
        )

    def check_compare(self, node: Compare, lt: T, rt: T) -> None:
        op = node.op
        where = node.start
        if op in ("==", "!="):
            if "any" in (lt.kind, rt.kind) or "null" in (lt.kind, rt.kind):
                pass
            elif lt.kind == "enum" or rt.kind == "enum":
                self.check_enum(node, lt, rt)
            elif lt.kind != rt.kind and not (lt.is_numeric and rt.is_numeric):
                raise _Problem(
                    f"cannot compare {lt.describe()} with {rt.describe()}",
                    where,
                    expected=f"{lt.describe_bare()} on both sides",
                )
        elif op in ("<", "<=", ">", ">="):
            if "null" in (lt.kind, rt.kind):
                raise _Problem(
                    f"'{op}' with null is never true", where, expected="'== null' or '!= null'"
                )
            if "any" not in (lt.kind, rt.kind):
                same = lt.kind == rt.kind or (lt.is_numeric and rt.is_numeric)
                if not same or lt.kind not in _ORDERABLE:
                    raise _Problem(
                        f"cannot order {lt.describe()} against {rt.describe()}",
                        where,
                        expected="numbers, money, texts, times or durations on both sides",
                    )
        elif op in ("in", "not in"):
            if rt.kind == "list":
                elem = rt.elem or ANY
                if lt.kind == "enum" and isinstance(node.right, ListLit):
                    for item in node.right.items:
                        if isinstance(item, Literal):
                            self.check_enum_value(lt, item)
                elif (
                    "any" not in (lt.kind, elem.kind, "null")
                    and elem.kind != "null"
                    and not (lt.kind == elem.kind or (lt.is_numeric and elem.is_numeric))
                    and not (lt.kind in ("text", "enum") and elem.kind in ("text", "enum"))
                ):
                    raise _Problem(
                        f"cannot look for {lt.describe()} in {rt.describe()}",
                        where,
                        expected=f"a list of {lt.describe_bare()}",
                    )
            elif rt.kind in ("text", "any"):
                if lt.kind not in ("text", "any"):
                    raise _Problem(
                        f"'{op}' text needs text on the left; this is {lt.describe()}",
                        where,
                        expected="text",
                    )
            else:
                raise _Problem(
                    f"'{op}' needs a list or text on the right; this is {rt.describe()}",
                    node.right.start,
                    expected="a list or text",
                )
        elif op == "contains":
            if lt.kind not in ("list", "text", "any"):
                raise _Problem(
                    f"'contains' needs a list or text on the left; this is {lt.describe()}",
                    where,
                    expected="a list or text",
                )
            if lt.kind == "text" and rt.kind not in ("text", "any"):
                raise _Problem(
                    f"text contains only text; this is {rt.describe()}",
                    node.right.start,
                    expected="text",
                )
        elif op in ("starts_with", "ends_with", "matches"):
            if lt.kind not in ("text", "any"):
                raise _Problem(
                    f"'{op}' needs text on the left; this is {lt.describe()}",
                    where,
                    expected="text",
                )
            if op == "matches":
                if not isinstance(node.right, Literal) or not isinstance(node.right.value, str):
                    raise _Problem(
                        "'matches' needs a string literal pattern",
                        node.right.start,
                        expected='a pattern in quotes, such as "^SOF-"',
                    )
            elif rt.kind not in ("text", "any"):
                raise _Problem(
                    f"'{op}' needs text on the right; this is {rt.describe()}",
                    node.right.start,
                    expected="text",
                )

    def check_enum(self, node: Compare, lt: T, rt: T) -> None:
        enum_side, other_node = (lt, node.right) if lt.kind == "enum" else (rt, node.left)
        other = rt if lt.kind == "enum" else lt
        if other.kind == "enum":
            if other.enum is not enum_side.enum:
                raise _Problem(f"cannot compare {lt.describe()} with {rt.describe()}", node.start)
            return
        if other.kind != "text":
            raise _Problem(
                f"cannot compare {enum_side.describe()} with {other.describe()}",
                node.start,
                expected="one of its values in quotes",
            )
        if isinstance(other_node, Literal):
            self.check_enum_value(enum_side, other_node)

    def check_enum_value(self, kind: T, literal: Literal) -> None:
        assert kind.enum is not None
        values = [member.value for member in kind.enum]
        if literal.value not in values:
            raise _Problem(
                f"{literal.value!r} is not a {kind.enum.__name__}",
                literal.start,
                expected="one of: " + ", ".join(str(v) for v in values),
            )

    def compare_code(self, node: Compare, left: str, lt: T, right: str, rt: T) -> str:
        op = node.op
        dynamic = "any" in (lt.kind, rt.kind)
        if op in ("==", "!="):
            if rt.kind == "null" and isinstance(node.right, Literal):
                # Nothing a rule reads equals null but null itself (texts, numbers, Money,
                # times, enums, custom attribute values): the same answer as _eq.
                return f"({left} is None)" if op == "==" else f"({left} is not None)"
            if dynamic or "list" in (lt.kind, rt.kind):
                code = f"_eq({left}, {right})"
                return code if op == "==" else f"(not {code})"
            return f"({left} {op} {right})"
        if op in ("<", "<=", ">", ">="):
            if dynamic or lt.nullable or rt.nullable:
                helper = {"<": "_lt", "<=": "_le", ">": "_gt", ">=": "_ge"}[op]
                return f"{helper}({left}, {right})"
            return f"({left} {op} {right})"
        if op in ("in", "not in"):
            safe = rt.kind == "list" and not rt.nullable and not dynamic and lt.kind != "any"
            code = f"({left} in {right})" if safe else f"_within({left}, {right})"
            return code if op == "in" else f"(not {code})"
        if op == "contains":
            if lt.kind == "list" and not lt.nullable:
                return f"({right} in {left})"
            if lt.kind == "text" and not lt.nullable and rt.kind == "text" and not rt.nullable:
                return f"({right} in {left})"
            return f"_within({right}, {left})"
        if op in ("starts_with", "ends_with"):
            if lt.nullable or rt.nullable or dynamic:
                return f"{'_starts' if op == 'starts_with' else '_ends'}({left}, {right})"
            method = "startswith" if op == "starts_with" else "endswith"
            return f"{left}.{method}({right})"
        assert op == "matches" and isinstance(node.right, Literal)
        pattern = self.regex(node.right)
        return f"{pattern}({left})"

    def regex(self, literal: Literal) -> str:
        import re2

        text = str(literal.value)
        if len(text) > self.limits.regex:
            raise ExprSyntaxError(
                f"pattern longer than {self.limits.regex} characters",
                literal.start,
                limit="regex",
            )
        options = re2.Options()
        options.max_mem = 1 << 20
        options.log_errors = False
        try:
            compiled = re2.compile(text, options)
        except re2.error as error:
            raise _Problem(
                f"invalid pattern: {error}",
                literal.start,
                expected="an RE2 regular expression (no backreferences or lookaround)",
            ) from None
        return self.const(_searcher(compiled))

    # quantifiers and calls ----------------------------------------------------------------

    def gen_quant(self, node: Quant, scope: _Scope, *, traced: bool) -> tuple[str, T]:
        collection, ct = self.gen(node.collection, scope, traced=False)
        if ct.kind != "list":
            raise _Problem(
                f"{node.func}() goes over a list; {self.snippet(node.collection)} is "
                f"{ct.describe()}",
                node.collection.start,
                expected="a list such as order.lines",
            )
        if node.var in scope.names:
            raise _Problem(
                f"{node.var!r} is already a name here",
                node.start + len(node.func) + 1,
                expected="another loop variable name",
            )
        level = scope.level + 1
        if level > self.limits.nesting:
            raise ExprSyntaxError(
                f"quantifiers nest deeper than {self.limits.nesting}",
                node.start,
                limit="nesting",
            )
        var = f"v_{node.var}"
        inner = _Scope({**scope.names, node.var: ((ct.elem or ANY), var)}, level)
        body, bt = self.gen(node.body, inner, traced=False)
        if ct.nullable or ":=" in collection:
            collection = f"({collection} or ())"
            if ":=" in collection:
                collection = f"(lambda: {collection})()"
        if level > 1:
            collection = f"e.visit({collection})"
        func = node.func
        if func in ("any", "all", "count"):
            self.require(bt, ("bool", "any"), node.body, f"{func}() needs a test")
        elif func == "sum":
            self.require(bt, ("number", "money"), node.body, "sum() adds numbers or money")
        else:
            self.require(
                bt,
                ("number", "money", "time", "duration", "text"),
                node.body,
                f"{func}() needs values that order",
            )
        if func == "any":
            code, kind = f"any({body} for {var} in {collection})", BOOL
        elif func == "all":
            code, kind = f"all({body} for {var} in {collection})", BOOL
        elif func == "count":
            code, kind = f"sum(1 for {var} in {collection} if {body})", NUMBER
        elif func == "sum":
            if bt.nullable:
                code, kind = f"_sum_numbers({body} for {var} in {collection})", bt.required()
            else:
                code, kind = f"sum(({body} for {var} in {collection}), 0)", bt.required()
        else:
            helper = "_least" if func == "min" else "_most"
            code, kind = f"{helper}({body} for {var} in {collection})", bt.optional()
        if not traced or func not in ("any", "all"):
            return code, kind
        # Traced: find the witness (first match for any, first failure for all) with the
        # plain test, then run the traced test on it alone so its values are recorded.
        index = len(self._checks)
        self._checks.append(
            Check(
                index=index,
                text=self.snippet(node),
                left=None,
                op=func,
                right=None,
                level=scope.level,
                collection=self.snippet(node.collection),
            )
        )
        traced_body, _ = self.gen(node.body, inner, traced=True)
        items, found, result = self.temp(), self.temp(), self.temp()
        want = "True" if func == "any" else "False"
        # (lambda v: body) keeps the loop variable local to the witness search.
        search = f"_witness({items}, lambda {var}: {body}, {want})"
        replay = f"e.replay(lambda: (lambda {var}: {traced_body})({items}[{found}]))"
        result_code = f"({found} >= 0)" if func == "any" else f"({found} < 0)"
        return (
            f"(T.append(({index}, len({items} := tuple({collection})), "
            f"({found} := {search}), ({result} := {result_code}))) "
            f"or ({found} < 0 or {replay} or True) and {result})",
            BOOL,
        )

    def gen_call(self, node: Call, scope: _Scope, *, traced: bool) -> tuple[str, T]:
        func = node.func
        args = [self.gen(arg, scope, traced=traced) for arg in node.args]

        def arity(low: int, high: int | None = None) -> None:
            high = low if high is None else high
            if not low <= len(args) <= high:
                count = f"{low}" if low == high else f"{low} to {high}"
                raise _Problem(
                    f"{func}() takes {count} argument{'s' if high != 1 else ''}, got {len(args)}",
                    node.start,
                    expected=f"{count} arguments",
                )

        if func == "count" and len(args) == 1:
            code, kind = args[0]
            self.require(kind, ("list",), node.args[0], "count() needs a list")
            return (f"_len({code})" if kind.nullable else f"len({code})"), NUMBER
        if func in ("any", "all", "sum", "min", "max", "count"):
            raise _Problem(
                f"{func}() needs a loop: {func}(x in collection, ...)",
                node.start,
                expected=f"{func}(line in order.lines, ...)",
            )
        if func == "len":
            arity(1)
            code, kind = args[0]
            self.require(kind, ("list", "text", "any"), node.args[0], "len() needs a list or text")
            return f"_len({code})", NUMBER.optional() if kind.nullable else NUMBER
        if func in ("lower", "upper"):
            arity(1)
            code, kind = args[0]
            self.require(kind, ("text", "any"), node.args[0], f"{func}() needs text")
            return f"_{func}({code})", TEXT.optional()
        if func == "abs":
            arity(1)
            code, kind = args[0]
            self.require(
                kind, ("number", "money", "duration", "any"), node.args[0], "abs() needs a number"
            )
            return f"_abs({code})", kind
        if func == "stock":
            arity(1, 2)
            self.require(args[0][1], ("text", "any"), node.args[0], "stock() needs a SKU")
            location = args[1][0] if len(args) == 2 else "None"
            if len(args) == 2:
                self.require(args[1][1], ("text", "any"), node.args[1], "a location is text")
            return f"e.stock({args[0][0]}, {location})", NUMBER.optional()
        if func in ("history_count", "history_orders"):
            arity(3)
            counter = node.args[0]
            if not isinstance(counter, Literal) or counter.value not in HISTORY_COUNTERS:
                raise _Problem(
                    f"{func}() counts one of {', '.join(HISTORY_COUNTERS)}",
                    counter.start,
                    expected='"returns" or "orders"',
                )
            self.require(args[1][1], ("text", "any"), node.args[1], f"{func}() needs a key")
            self.require(args[2][1], ("duration",), node.args[2], f"{func}() needs a window")
            method = "history_count" if func == "history_count" else "history_orders"
            return f"e.{method}({args[0][0]}, {args[1][0]}, {args[2][0]})", NUMBER
        if func == "carrier_success":
            arity(2)
            self.require(
                args[0][1], ("text", "any"), node.args[0], "carrier_success() needs a carrier"
            )
            self.require(
                args[1][1], ("duration",), node.args[1], "carrier_success() needs a window"
            )
            return f"e.carrier_success({args[0][0]}, {args[1][0]})", NUMBER.optional()
        raise _Problem(f"unknown function {func!r}", node.start, expected=f"one of: {FUNCTIONS}")


_KIND_WORDS: Final = {
    "bool": "true/false",
    "number": "a number",
    "money": "money",
    "duration": "a duration",
    "text": "text",
    "list": "a list",
    "time": "a time",
}
_ARITHMETIC_HINT: Final = {
    "+": "numbers, money, a time plus a duration, or durations",
    "-": "numbers, money, times, a time minus a duration, or durations",
    "*": "numbers, or money or a duration times a number",
    "/": "numbers, money divided by a number or money, or durations",
}


def _arithmetic(op: str, lt: T, rt: T) -> T | None:
    a, b = lt.kind, rt.kind
    if "any" in (a, b):
        return ANY
    if op in "+-":
        if {a, b} <= {"number"}:
            return NUMBER
        if {a, b} <= {"number", "money"}:
            return MONEY
        if a == b == "duration":
            return DURATION
        if a == "time" and b == "duration":
            return TIME
        if op == "-" and a == b == "time":
            return DURATION
        return None
    if op == "*":
        if a == b == "number":
            return NUMBER
        if {a, b} == {"money", "number"}:
            return MONEY
        if {a, b} == {"duration", "number"}:
            return DURATION
        return None
    if a in ("number", "money") and b in ("number", "money"):
        return NUMBER
    if a == "duration" and b == "number":
        return DURATION
    if a == b == "duration":
        return NUMBER
    return None


# -- formatting trace values ------------------------------------------------------------------


def show_value(value: Any, kind: T | None) -> str:
    """A value as a trace shows it: money with its places, personal data masked."""
    if value is None:
        return "null"
    if kind is not None and kind.pii is not None and isinstance(value, str):
        return str(kind.pii(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Money):
        return str(value.amount)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return _show_duration(value)
    if isinstance(value, str):
        return '"' + redact(value, limit=80) + '"'
    if isinstance(value, frozenset | tuple | list):
        items = sorted(value, key=str) if isinstance(value, frozenset) else list(value)
        shown = ", ".join(show_value(item, None) for item in items[:8])
        more = f", ... {len(items) - 8} more" if len(items) > 8 else ""
        return f"[{shown}{more}]"
    if hasattr(value, "value") and not isinstance(value, Decimal | int):
        return show_value(value.value, None)
    return redact(str(value), limit=80)


def _show_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds != value.total_seconds() or seconds <= 0:
        return f"{value.total_seconds():g}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


def describe_records(
    checks: Sequence[Check], records: Sequence[tuple[Any, ...]]
) -> Iterator[tuple[Check, bool | None, str]]:
    """Turn recorded values into ``(check, result, detail)`` lines."""
    for record in records:
        check = checks[record[0]]
        indent = "  " * check.level
        if check.left is None:  # a quantifier
            count, found, result = record[1], record[2], record[3]
            if found >= 0:
                which = f"item {found + 1} of {count}"
                verdict = "matches" if check.op == "any" else "fails"
                detail = f"{check.op}({check.collection}): {which} {verdict}"
            else:
                detail = (
                    f"{check.op}({check.collection}): none of {count} items matches"
                    if check.op == "any"
                    else f"{check.op}({check.collection}): all {count} items pass"
                )
            yield check, bool(result), indent + detail
            continue
        left_value, right_value, result = record[1], record[2], record[3]
        left = f"{check.left} = {show_value(left_value, check.left_type)}"
        if check.right_literal:
            right = show_value(right_value, check.right_type)
        else:
            right = f"{check.right} = {show_value(right_value, check.right_type)}"
        yield check, bool(result), f"{indent}{left} {check.op} {right}"
