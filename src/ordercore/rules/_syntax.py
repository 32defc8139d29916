"""The rule language's tokens, syntax tree and parser (no Python parsing is involved).

The parser is a small recursive-descent one over the language's own grammar; it
enforces the size caps while it reads, so an oversized or over-deep expression
is refused before anything else looks at it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Final

import attrs

__all__ = [
    "LIMITS",
    "Attr",
    "Binary",
    "Call",
    "Compare",
    "ExprSyntaxError",
    "Limits",
    "ListLit",
    "Literal",
    "Name",
    "Node",
    "Quant",
    "Unary",
    "parse_expression",
]


@attrs.frozen(slots=True)
class Limits:
    """The caps of the language; every one is checked when a rule set loads.

    Attributes:
        text: Characters in one expression.
        nodes: Syntax-tree nodes in one expression.
        depth: Nesting depth of one expression.
        string: Characters in one string literal.
        number: Digits in one number literal.
        list: Items in one list literal.
        regex: Characters in one ``matches`` pattern.
        nesting: Quantifiers (``any``, ``sum``, ...) inside one another.
        rules: Rules in one rule set.
        actions: Actions of one rule.
        items: Collection items one rule-set evaluation may visit in nested quantifiers.
    """

    text: int = 4000
    nodes: int = 400
    depth: int = 24
    string: int = 512
    number: int = 30
    list: int = 200
    regex: int = 200
    nesting: int = 2
    rules: int = 2000
    actions: int = 20
    items: int = 100_000


LIMITS: Final = Limits()


class ExprSyntaxError(Exception):
    """A problem at ``offset`` in the expression text (turned into RuleLoadError by the loader).

    Attributes:
        offset: 0-based character offset in the expression.
        expected: What would have been valid there.
        limit: The cap exceeded, for size problems.
    """

    def __init__(
        self, message: str, offset: int, *, expected: str | None = None, limit: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.expected = expected
        self.limit = limit


# -- the syntax tree --------------------------------------------------------------------


@attrs.define(slots=True, eq=False)
class Node:
    """A syntax-tree node; ``start``/``end`` are offsets into the expression text."""

    start: int
    end: int


@attrs.define(slots=True, eq=False)
class Literal(Node):
    """A number (Decimal), string, ``true``/``false``, ``null`` or duration."""

    value: object


@attrs.define(slots=True, eq=False)
class ListLit(Node):
    """``[a, b, c]``."""

    items: list[Node]


@attrs.define(slots=True, eq=False)
class Name(Node):
    """A root name (``order``, ``now``) or a loop variable."""

    name: str


@attrs.define(slots=True, eq=False)
class Attr(Node):
    """``obj.name``."""

    obj: Node
    name: str


@attrs.define(slots=True, eq=False)
class Unary(Node):
    """``not x`` or ``-x``."""

    op: str
    operand: Node


@attrs.define(slots=True, eq=False)
class Binary(Node):
    """``a + b``, ``a and b``: arithmetic and boolean operators."""

    op: str
    left: Node
    right: Node


@attrs.define(slots=True, eq=False)
class Compare(Node):
    """``a >= b``, ``a in b``, ``a contains b``, ``a matches "re"``."""

    op: str
    left: Node
    right: Node


@attrs.define(slots=True, eq=False)
class Call(Node):
    """``stock("PIL-001")``, ``len(order.lines)``, ``count(order.lines)``."""

    func: str
    args: list[Node]


@attrs.define(slots=True, eq=False)
class Quant(Node):
    """``any(line in order.lines, line.is_gift)`` and its kin (all, count, sum, min, max)."""

    func: str
    var: str
    collection: Node
    body: Node


QUANTIFIERS: Final = frozenset({"any", "all", "count", "sum", "min", "max"})
KEYWORDS: Final = frozenset(
    {
        "and",
        "or",
        "not",
        "in",
        "true",
        "false",
        "null",
        "contains",
        "starts_with",
        "ends_with",
        "matches",
    }
)
COMPARE_OPS: Final = ("==", "!=", "<=", ">=", "<", ">")
WORD_TESTS: Final = frozenset({"in", "contains", "starts_with", "ends_with", "matches"})
DURATION_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# -- tokens -------------------------------------------------------------------------------

_TOKEN: Final = re.compile(
    r"""
      (?P<space>\s+)
    | (?P<number>[0-9]+(?:\.[0-9]+)?)(?P<unit>[smhd](?![A-Za-z0-9_]))?
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
    | (?P<op>\*\*|:=|==|!=|<=|>=|&&|\|\||[<>+\-*/%()\[\],.:=!&|])
    """,
    re.VERBOSE,
)
# Control characters other than tab may not stand in a string literal as they are (YAML's
# and JSON's own escapes can put them there); the language's escapes are \n and \t.
# Nor may the bidirectional controls that make text read differently than it runs.
_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Python words a condition may not use, and what to say about them.
_PYTHON_WORDS: Final = {
    "lambda": "lambdas are not part of the rule language",
    "for": "comprehensions are not part of the rule language; write any(x in list, ...)",
    "if": "conditional expressions are not part of the rule language",
    "else": "conditional expressions are not part of the rule language",
    "elif": "conditional expressions are not part of the rule language",
    "is": "write '==' or '!='",
    "import": "imports are not part of the rule language",
    "from": "imports are not part of the rule language",
    "yield": "'yield' is not part of the rule language",
    "await": "'await' is not part of the rule language",
    "async": "'async' is not part of the rule language",
    "def": "definitions are not part of the rule language",
    "class": "definitions are not part of the rule language",
    "return": "a condition is one expression; 'return' is not part of the rule language",
    "del": "statements are not part of the rule language",
    "global": "statements are not part of the rule language",
    "nonlocal": "statements are not part of the rule language",
    "assert": "statements are not part of the rule language",
    "raise": "statements are not part of the rule language",
    "with": "statements are not part of the rule language",
    "while": "statements are not part of the rule language",
    "try": "statements are not part of the rule language",
    "except": "statements are not part of the rule language",
    "finally": "statements are not part of the rule language",
    "pass": "statements are not part of the rule language",
    "break": "statements are not part of the rule language",
    "continue": "statements are not part of the rule language",
    "as": "'as' is not part of the rule language",
    "None": "write 'null'",
    "True": "write 'true'",
    "False": "write 'false'",
}
_STRING_PREFIX: Final = re.compile(r"[bBfFrRuU]{1,2}")
_ESCAPES: Final = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}
_SUGGEST: Final = {
    "**": "powers are not part of the rule language",
    ":=": "assignments are not part of the rule language",
    "&&": "write 'and'",
    "||": "write 'or'",
    "!": "write 'not' or '!='",
    "=": "write '==' to compare",
    "%": "the remainder operator is not part of the rule language",
    "&": "write 'and'",
    "|": "write 'or'",
}


@attrs.define(slots=True)
class _Token:
    kind: str  # number, duration, string, name, op, end
    text: str
    start: int
    end: int
    value: object = None


def _tokens(text: str, limits: Limits) -> Iterator[_Token]:
    pos = 0
    size = len(text)
    while pos < size:
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            if char in "\"'":
                raise ExprSyntaxError("unterminated string", pos, expected=f"a closing {char}")
            raise ExprSyntaxError(
                f"unexpected character {char!r}", pos, expected="an operand or an operator"
            )
        kind = match.lastgroup
        start, end = match.span()
        pos = end
        if kind == "space":
            continue
        if kind in ("number", "unit"):
            digits = match.group("number")
            if sum(ch != "." for ch in digits) > limits.number:
                raise ExprSyntaxError(
                    f"number literal longer than {limits.number} digits",
                    start,
                    limit="number",
                )
            if end < size and (text[end].isalpha() or text[end] == "_"):
                raise ExprSyntaxError(
                    f"unexpected {text[start : end + 1]!r}",
                    end,
                    expected="an operator after a number (durations use s, m, h or d)",
                )
            unit = match.group("unit")
            if unit:
                seconds = Decimal(digits) * DURATION_UNITS[unit]
                if seconds > 10**9:
                    raise ExprSyntaxError(
                        "duration longer than 10^9 seconds", start, limit="number"
                    )
                yield _Token(
                    "duration", match.group(0), start, end, timedelta(seconds=float(seconds))
                )
            else:
                yield _Token("number", digits, start, end, Decimal(digits))
        elif kind == "string":
            raw = match.group("string")
            if len(raw) - 2 > limits.string:
                raise ExprSyntaxError(
                    f"string literal longer than {limits.string} characters",
                    start,
                    limit="string",
                )
            control = _CONTROL.search(raw)
            if control is not None:
                raise ExprSyntaxError(
                    f"control character U+{ord(control.group()):04X} in a string literal",
                    start + control.start(),
                    expected="printable text (write \\n or \\t for a newline or a tab)",
                )
            yield _Token("string", raw, start, end, _unescape(raw, start))
        elif kind == "name":
            word = match.group("name")
            if end < size and text[end] in "\"'" and _STRING_PREFIX.fullmatch(word):
                raise ExprSyntaxError(
                    f"string prefixes such as {word}{text[end]}...{text[end]} are not part of "
                    "the rule language",
                    start,
                    expected="a plain string in quotes",
                )
            yield _Token("name", word, start, end)
        else:
            op = match.group("op")
            if op in _SUGGEST:
                raise ExprSyntaxError(f"unexpected {op!r}: {_SUGGEST[op]}", start)
            yield _Token("op", op, start, end)
    yield _Token("end", "", size, size)


def _unescape(raw: str, start: int) -> str:
    body = raw[1:-1]
    if "\\" not in body:
        return body
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char == "\\":
            following = body[index + 1]
            if following not in _ESCAPES:
                raise ExprSyntaxError(
                    f"unknown escape \\{following} in a string",
                    start + 1 + index,
                    expected="one of \\\" \\' \\\\ \\n \\t",
                )
            out.append(_ESCAPES[following])
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


# -- the parser ---------------------------------------------------------------------------


class _Parser:
    __slots__ = ("depth", "index", "limits", "nodes", "text", "tokens")

    def __init__(self, text: str, limits: Limits) -> None:
        self.text = text
        self.limits = limits
        self.tokens = list(_tokens(text, limits))
        self.index = 0
        self.depth = 0
        self.nodes = 0

    # token helpers
    @property
    def tok(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def is_op(self, text: str) -> bool:
        token = self.tok
        return token.kind == "op" and token.text == text

    def is_word(self, word: str) -> bool:
        token = self.tok
        return token.kind == "name" and token.text == word

    def expect_op(self, text: str, what: str) -> _Token:
        if not self.is_op(text):
            raise self.error(f"expected {what}", expected=what)
        return self.advance()

    def error(self, message: str, *, expected: str | None = None) -> ExprSyntaxError:
        token = self.tok
        if token.kind == "name" and token.text in _PYTHON_WORDS:
            # Python where a condition was expected: say so rather than what was expected.
            return ExprSyntaxError(
                f"unexpected {token.text!r}: {_PYTHON_WORDS[token.text]}",
                token.start,
                expected=expected,
            )
        found = "the end of the expression" if token.kind == "end" else repr(token.text)
        return ExprSyntaxError(f"{message}, found {found}", token.start, expected=expected)

    def node(self, node: Node) -> Node:
        self.nodes += 1
        if self.nodes > self.limits.nodes:
            raise ExprSyntaxError(
                f"expression has more than {self.limits.nodes} parts", node.start, limit="nodes"
            )
        return node

    def enter(self) -> None:
        self.depth += 1
        if self.depth > self.limits.depth:
            raise ExprSyntaxError(
                f"expression nests deeper than {self.limits.depth} levels",
                self.tok.start,
                limit="depth",
            )

    # grammar
    def parse(self) -> Node:
        if self.tok.kind == "end":
            raise self.error("empty condition", expected="an expression")
        node = self.or_expr()
        if self.tok.kind != "end":
            raise self.error("unexpected text after the expression", expected="and, or, or the end")
        return node

    def or_expr(self) -> Node:
        self.enter()
        operands = [self.and_expr()]
        while self.is_word("or"):
            self.advance()
            operands.append(self.and_expr())
        node = self.balanced("or", operands)
        self.depth -= 1
        return node

    def and_expr(self) -> Node:
        self.enter()
        operands = [self.not_expr()]
        while self.is_word("and"):
            self.advance()
            operands.append(self.not_expr())
        node = self.balanced("and", operands)
        self.depth -= 1
        return node

    def balanced(self, op: str, operands: list[Node]) -> Node:
        """``a or b or c or d`` as ``(a or b) or (c or d)``: the same value, evaluated left to
        right with the same short cuts, but a chain of n operands nests log2(n) deep, not n."""
        if len(operands) == 1:
            return operands[0]
        height = (len(operands) - 1).bit_length()
        if self.depth + height > self.limits.depth:
            raise ExprSyntaxError(
                f"expression nests deeper than {self.limits.depth} levels",
                operands[0].start,
                limit="depth",
            )
        middle = (len(operands) + 1) // 2
        left = self.balanced(op, operands[:middle])
        right = self.balanced(op, operands[middle:])
        return self.node(Binary(left.start, right.end, op, left, right))

    def not_expr(self) -> Node:
        if self.is_word("not"):
            start = self.advance().start
            self.enter()
            operand = self.not_expr()
            self.depth -= 1
            return self.node(Unary(start, operand.end, "not", operand))
        return self.comparison()

    def comparison_op(self) -> str | None:
        token = self.tok
        if token.kind == "op" and token.text in COMPARE_OPS:
            return token.text
        if token.kind == "name":
            if token.text in WORD_TESTS:
                return token.text
            if token.text == "not":
                following = self.tokens[self.index + 1]
                if following.kind == "name" and following.text == "in":
                    return "not in"
        return None

    def comparison(self) -> Node:
        left = self.additive()
        op = self.comparison_op()
        if op is None:
            return left
        self.advance()
        if op == "not in":
            self.advance()
        right = self.additive()
        if self.comparison_op() is not None:
            raise self.error(
                "comparisons do not chain (write 'a < b and b < c')", expected="and, or"
            )
        return self.node(Compare(left.start, right.end, op, left, right))

    # ``a + b + c`` is ``(a + b) + c``: every operator of a chain nests the tree one level
    # deeper, so each counts against the depth cap like a parenthesis would.
    def additive(self) -> Node:
        entered = self.depth
        self.enter()
        left = self.term()
        while self.tok.kind == "op" and self.tok.text in ("+", "-"):
            op = self.advance().text
            self.enter()
            right = self.term()
            left = self.node(Binary(left.start, right.end, op, left, right))
        self.depth = entered
        return left

    def term(self) -> Node:
        entered = self.depth
        self.enter()
        left = self.unary()
        while self.tok.kind == "op" and self.tok.text in ("*", "/"):
            op = self.advance().text
            self.enter()
            right = self.unary()
            left = self.node(Binary(left.start, right.end, op, left, right))
        self.depth = entered
        return left

    def unary(self) -> Node:
        if self.is_op("-"):
            start = self.advance().start
            self.enter()
            operand = self.unary()
            self.depth -= 1
            return self.node(Unary(start, operand.end, "-", operand))
        return self.postfix()

    def postfix(self) -> Node:
        node = self.primary()
        entered = self.depth
        try:
            return self._postfix(node)
        finally:
            self.depth = entered

    def _postfix(self, node: Node) -> Node:
        while True:
            if self.is_op("."):
                self.advance()
                token = self.tok
                if token.kind != "name":
                    raise self.error("expected a field name after '.'", expected="a field name")
                if token.text.startswith("_"):
                    raise ExprSyntaxError(
                        f"names starting with '_' are not allowed ({token.text!r})",
                        token.start,
                        expected="a field name",
                    )
                self.advance()
                node = self.node(Attr(node.start, token.end, node, token.text))
                self.enter()
            elif self.is_op("["):
                raise self.error(
                    "indexing with [...] is not part of the rule language",
                    expected="'.field', an operator",
                )
            elif self.is_op("("):
                raise self.error(
                    "only the language's functions can be called", expected="an operator"
                )
            else:
                return node

    def primary(self) -> Node:
        token = self.tok
        if token.kind in ("number", "string", "duration"):
            self.advance()
            return self.node(Literal(token.start, token.end, token.value))
        if token.kind == "op":
            if token.text == "(":
                self.advance()
                self.enter()
                inner = self.or_expr()
                self.depth -= 1
                self.expect_op(")", "')'")
                return inner
            if token.text == "[":
                return self.list_literal()
            raise self.error("expected an operand", expected="a value, a field or a function")
        if token.kind == "name":
            word = token.text
            if word == "true" or word == "false":
                self.advance()
                return self.node(Literal(token.start, token.end, word == "true"))
            if word == "null":
                self.advance()
                return self.node(Literal(token.start, token.end, None))
            if word in KEYWORDS:
                raise self.error(f"'{word}' needs an operand before it", expected="an operand")
            if word in _PYTHON_WORDS:
                raise self.error("expected an operand", expected="a value, a field or a function")
            if word.startswith("_"):
                raise ExprSyntaxError(
                    f"names starting with '_' are not allowed ({word!r})",
                    token.start,
                    expected="a field name",
                )
            self.advance()
            if self.is_op("("):
                return self.call(token)
            return self.node(Name(token.start, token.end, word))
        raise self.error("expected an operand", expected="a value, a field or a function")

    def list_literal(self) -> Node:
        start = self.advance().start
        items: list[Node] = []
        self.enter()
        while not self.is_op("]"):
            items.append(self.or_expr())
            if len(items) > self.limits.list:
                raise ExprSyntaxError(
                    f"list literal longer than {self.limits.list} items", start, limit="list"
                )
            if self.is_op(","):
                self.advance()
            elif not self.is_op("]"):
                raise self.error("expected ',' or ']' in a list", expected="',' or ']'")
        end = self.advance().end
        self.depth -= 1
        return self.node(ListLit(start, end, items))

    def call(self, name: _Token) -> Node:
        self.advance()  # (
        self.enter()
        func = name.text
        if func in QUANTIFIERS and self.tok.kind == "name":
            following = self.tokens[self.index + 1]
            if following.kind == "name" and following.text == "in":
                var = self.tok
                if var.text in KEYWORDS or var.text in _PYTHON_WORDS or var.text.startswith("_"):
                    raise self.error("expected a loop variable name", expected="a name")
                self.advance()
                self.advance()  # in
                collection = self.additive()
                self.expect_op(",", "',' after the collection")
                body = self.or_expr()
                end = self.expect_op(")", "')'").end
                self.depth -= 1
                return self.node(Quant(name.start, end, func, var.text, collection, body))
        args: list[Node] = []
        while not self.is_op(")"):
            args.append(self.or_expr())
            if self.is_op(","):
                self.advance()
            elif not self.is_op(")"):
                raise self.error("expected ',' or ')' in a call", expected="',' or ')'")
            if len(args) > 8:
                raise ExprSyntaxError("too many arguments", name.start, limit="nodes")
        end = self.advance().end
        self.depth -= 1
        return self.node(Call(name.start, end, func, args))


def parse_expression(text: str, limits: Limits = LIMITS) -> Node:
    """Parse ``text`` into the language's syntax tree.

    Raises:
        ExprSyntaxError: the text is not a valid expression or exceeds a cap.
    """
    if len(text) > limits.text:
        raise ExprSyntaxError(
            f"expression longer than {limits.text} characters", limits.text, limit="text"
        )
    return _Parser(text, limits).parse()
