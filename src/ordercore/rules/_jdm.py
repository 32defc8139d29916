"""Rule sets authored as GoRules JDM decision tables (the zen-engine visual editor).

A JDM file is a graph: an ``inputNode``, one or more ``decisionTableNode`` and an
``outputNode``. Each decision table becomes one group of an ordinary :class:`RuleSet`
(hit policy ``first`` -> group mode ``first``, ``collect`` -> ``all``) and each of its
rows one rule, named ``<table>-<row number>``, with priorities falling in row order.

Input cells are ZEN unary tests; a documented subset is translated into ordercore's
rule language and type-checked like any rule. Output columns name actions
(``tag``, ``route.warehouse``, ``add_gift.sku``). Anything outside the subset is a
:class:`~ordercore.errors.RuleLoadError` naming the table, row, column and cell.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from ordercore.errors import RuleLoadError
from ordercore.rules._action_base import ACTIONS
from ordercore.rules._actions import parse_action
from ordercore.rules._compiler import ExprCompiler
from ordercore.rules._ruleset import RuleSet
from ordercore.rules._syntax import LIMITS, ExprSyntaxError, Limits, parse_expression

__all__ = ["load_jdm", "rules_from_jdm"]

CONTENT_TYPE: Final = "application/vnd.gorules.decision"
HIT_POLICIES: Final = {"first": "first", "collect": "all"}
NODE_TYPES: Final = ("inputNode", "decisionTableNode", "outputNode")

#: What an input cell may hold, as said in load errors.
SUPPORTED_CELLS: Final = (
    'an empty cell (any value), a literal ("douyin", 299, true, null), a list ("a", "b"), '
    'a comparison (> 299, >= 299, < 5, <= 5, == "a", != "a"), an interval '
    "([1..10], (1..10), [1..10), (1..10]), the same with $ ($ > 299), "
    'contains($, "x"), startsWith($, "x") or endsWith($, "x"), '
    "several of these separated by commas (< 10, > 50)"
)
_SUPPORTED_OUTPUTS: Final = 'a literal: "text", a number, true, false, null or ["a", "b"]'

_INPUT_FIELD: Final = re.compile(r"order(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_OUTPUT_FIELD: Final = re.compile(r"([a-z][a-z0-9_]*)(?:\.([a-z][a-z0-9_]*))?")
_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<string>"[^"]*"|'[^']*')
      | (?P<number>-?\d[\d_]*(?:\.\d[\d_]*)?)
      | (?P<dots>\.\.)
      | (?P<op>>=|<=|==|!=|>|<)
      | (?P<punct>[\[\](),$])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<other>\S)
    )""",
    re.VERBOSE,
)
_TEXT_TESTS: Final = {"contains": "contains", "startsWith": "starts_with", "endsWith": "ends_with"}
_NAME_BAD: Final = re.compile(r"[^a-z0-9_.-]+")


class _Unsupported(Exception):
    """A cell is outside the translated subset of ZEN."""


# -- reading cells -------------------------------------------------------------------------


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        position = 0
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None:  # only trailing whitespace is left
                break
            kind = match.lastgroup
            if kind is None:
                break
            if kind == "other":
                raise _Unsupported(f"{match.group(kind)!r} is not understood here")
            self.items.append((kind, match.group(kind)))
            position = match.end()
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.position] if self.position < len(self.items) else None

    def take(self, kind: str | None = None, text: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _Unsupported("the cell ends too early")
        if (kind is not None and token[0] != kind) or (text is not None and token[1] != text):
            raise _Unsupported(f"{token[1]!r} is not expected here")
        self.position += 1
        return token

    def done(self) -> bool:
        return self.position >= len(self.items)


def _literal(tokens: _Tokens) -> tuple[str, Any]:
    """The next literal as (ordercore text, Python value)."""
    kind, text = tokens.take()
    if kind == "string":
        value = text[1:-1]
        return _quote(value), value
    if kind == "number":
        plain = text.replace("_", "")
        return plain, (int(plain) if "." not in plain else Decimal(plain))
    if kind == "word" and text in ("true", "false", "null"):
        return text, {"true": True, "false": False, "null": None}[text]
    raise _Unsupported(f"{text!r} is not a literal")


def _quote(value: str) -> str:
    if any(ord(char) < 32 and char not in "\n\t" for char in value):
        raise _Unsupported("the string holds a control character")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t") + '"'


def _test(tokens: _Tokens, field: str) -> tuple[str, str | None]:
    """One unary test: (ordercore condition, the literal's text when it is plain equality)."""
    token = tokens.peek()
    assert token is not None
    kind, text = token
    if kind == "punct" and text == "$":
        tokens.take()
        token = tokens.peek()
        if token is None or token[0] != "op":
            raise _Unsupported("$ must be followed by a comparison such as $ > 299")
        kind, text = token
    if kind == "op":
        tokens.take()
        literal, _ = _literal(tokens)
        return f"{field} {text} {literal}", None
    if kind == "punct" and text in "[(":
        tokens.take()
        low, low_value = _literal(tokens)
        tokens.take("dots")
        high, high_value = _literal(tokens)
        closing = tokens.take("punct")[1]
        numbers = (int, Decimal)
        if closing not in "])" or not (
            isinstance(low_value, numbers) and isinstance(high_value, numbers)
        ):
            raise _Unsupported("an interval is [low..high] with numbers and [ ] ( ) as ends")
        low_op = ">=" if text == "[" else ">"
        high_op = "<=" if closing == "]" else "<"
        return f"{field} {low_op} {low} and {field} {high_op} {high}", None
    if kind == "word" and text in _TEXT_TESTS:
        tokens.take()
        tokens.take("punct", "(")
        tokens.take("punct", "$")
        tokens.take("punct", ",")
        argument = tokens.take("string")[1]
        tokens.take("punct", ")")
        return f"{field} {_TEXT_TESTS[text]} {_quote(argument[1:-1])}", None
    literal, value = _literal(tokens)
    if value is None:
        return f"{field} == null", None
    return f"{field} == {literal}", literal


def translate_cell(cell: str, field: str) -> str | None:
    """The ordercore condition for a ZEN unary-test cell on ``field``; ``None`` for any value.

    Raises:
        ValueError: the cell is outside the supported subset (see :data:`SUPPORTED_CELLS`).
    """
    text = cell.strip()
    if text == "":
        return None
    if text == "-":
        # DMN's "any value"; zen-engine fails to parse it, so the row would never match there.
        raise ValueError("zen-engine does not read '-' as any value; leave the cell empty")
    try:
        tokens = _Tokens(text)
        tests: list[tuple[str, str | None]] = []
        while True:
            if tokens.done():
                raise _Unsupported("a test is missing")
            tests.append(_test(tokens, field))
            if tokens.done():
                break
            tokens.take("punct", ",")
    except _Unsupported as error:
        raise ValueError(str(error)) from None
    equal = [literal for _, literal in tests]
    if len(tests) > 1 and all(literal is not None for literal in equal):
        return f"{field} in [{', '.join(str(literal) for literal in equal)}]"
    if len(tests) == 1:
        return tests[0][0]
    return " or ".join(f"({test})" if " and " in test else test for test, _ in tests)


def _output_value(cell: str) -> Any:
    """The Python value of a literal output cell; ``None`` when it is empty or null."""
    text = cell.strip()
    if text == "":
        return None
    try:
        tokens = _Tokens(text)
        if tokens.peek() == ("punct", "["):
            tokens.take()
            items: list[Any] = []
            while tokens.peek() != ("punct", "]"):
                if items:
                    tokens.take("punct", ",")
                items.append(_literal(tokens)[1])
            tokens.take("punct", "]")
            value: Any = items
        else:
            value = _literal(tokens)[1]
        if not tokens.done():
            raise _Unsupported(f"{tokens.take()[1]!r} after the value")
    except _Unsupported as error:
        raise ValueError(str(error)) from None
    return value


# -- reading the graph -----------------------------------------------------------------------


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[tuple[str, str | None, str | None]] = []

    def add(
        self, where: str, message: str, *, rule: str | None = None, expected: str | None = None
    ) -> None:
        text = f"{self.source}: {where}: {message}" if where else f"{self.source}: {message}"
        if expected:
            text += f"; expected {expected}"
        self.items.append((text, rule, expected))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        texts = [text for text, _, _ in self.items]
        _, rule, expected = self.items[0]
        if len(texts) == 1:
            message = texts[0]
        else:
            message = f"{len(texts)} problems in {self.source}:\n" + "\n".join(texts)
        raise RuleLoadError(
            message, source=self.source, rule=rule, expected=expected, problems=texts
        )


def _slug(text: str, fallback: str, width: int = 48) -> str:
    slug = _NAME_BAD.sub("-", text.strip().lower()).strip("-.")[:width].strip("-.")
    return slug or fallback


class _Column:
    def __init__(self, spec: Mapping[str, Any], index: int) -> None:
        self.id = str(spec.get("id", ""))
        field = spec.get("field")
        self.field: str = field if isinstance(field, str) else ""
        name = spec.get("name")
        self.label = str(name) if isinstance(name, str) and name.strip() else str(self.field)
        self.index = index

    def where(self) -> str:
        return f"column {self.label!r} ({self.field})"


class _Output:
    def __init__(self, column: _Column, action: str, param: str | None) -> None:
        self.column = column
        self.action = action
        self.param = param  # None: the action's flag (an action without parameters)


def _load(content: str | bytes | Mapping[str, Any], source: str) -> Mapping[str, Any]:
    if isinstance(content, Mapping):
        return content
    try:
        text = content.decode("utf-8") if isinstance(content, bytes) else content
        data = json.loads(text)
    except UnicodeDecodeError as error:
        raise RuleLoadError(f"{source}: cannot read the JDM file: {error}", source=source) from None
    except json.JSONDecodeError as error:
        raise RuleLoadError(
            f"{source}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}",
            source=source,
            line=error.lineno,
            column=error.colno,
            expected="a JDM decision (a JSON object)",
        ) from None
    if not isinstance(data, dict):
        raise RuleLoadError(
            f"{source}: a JDM decision is a JSON object, not {type(data).__name__}",
            source=source,
            expected='{"contentType": "' + CONTENT_TYPE + '", "nodes": [...], "edges": [...]}',
        )
    return data


def _tables(graph: Mapping[str, Any], problems: _Problems) -> list[Mapping[str, Any]]:
    """The decision-table nodes, in file order, after checking the graph's shape."""
    content_type = graph.get("contentType")
    if content_type is not None and content_type != CONTENT_TYPE:
        problems.add(
            "", f"contentType {content_type!r} is not a JDM decision", expected=CONTENT_TYPE
        )
    nodes = graph.get("nodes")
    edges = graph.get("edges", [])
    if not isinstance(nodes, list) or not isinstance(edges, list):
        problems.add("", "nodes and edges must be lists", expected='"nodes": [...], "edges": [...]')
        return []
    kinds: dict[str, str] = {}
    tables: list[Mapping[str, Any]] = []
    for node in nodes:
        if not isinstance(node, dict):
            problems.add("", "a node must be an object")
            continue
        kind, name = node.get("type"), node.get("name", node.get("id"))
        if kind not in NODE_TYPES:
            problems.add(
                f"node {name!r}",
                f"{kind} nodes cannot be translated",
                expected="only " + ", ".join(NODE_TYPES),
            )
            continue
        kinds[str(node.get("id"))] = kind
        if kind == "decisionTableNode":
            tables.append(node)
    if "inputNode" not in kinds.values():
        problems.add("", "the graph has no inputNode", expected="one inputNode")
    if not tables:
        problems.add(
            "", "the graph has no decisionTableNode", expected="at least one decision table"
        )
    sources: dict[str, list[str]] = {}
    targets: dict[str, list[str]] = {}
    for edge in edges:
        if not isinstance(edge, dict):
            problems.add("", "an edge must be an object")
            continue
        source_id, target_id = str(edge.get("sourceId")), str(edge.get("targetId"))
        targets.setdefault(source_id, []).append(kinds.get(target_id, "?"))
        sources.setdefault(target_id, []).append(kinds.get(source_id, "?"))
    for node in tables:
        node_id, name = str(node.get("id")), node.get("name", node.get("id"))
        before, after = sources.get(node_id, []), targets.get(node_id, [])
        if not before or any(kind != "inputNode" for kind in before):
            problems.add(
                f"table {name!r}",
                "its input must come straight from the inputNode",
                expected="an edge inputNode -> table and no other edge into it",
            )
        if not after or any(kind != "outputNode" for kind in after):
            problems.add(
                f"table {name!r}",
                "its output must go straight to the outputNode",
                expected="an edge table -> outputNode and no other edge out of it",
            )
    return tables


def _input_columns(
    specs: Any, where: str, problems: _Problems, compiler: ExprCompiler, limits: Limits
) -> list[_Column]:
    columns: list[_Column] = []
    if not isinstance(specs, list):
        problems.add(where, "inputs must be a list of columns")
        return columns
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            problems.add(where, f"input {index + 1} must be an object")
            continue
        column = _Column(spec, index)
        field = column.field
        if not isinstance(field, str) or not _INPUT_FIELD.fullmatch(field.strip()):
            problems.add(
                f"{where}, input {column.where()}",
                f"the field {field!r} is not a path into the order",
                expected="a field such as order.channel, order.amounts.paid or "
                "order.receiver.province",
            )
            continue
        column.field = field.strip()
        probe = f"{column.field} == null"
        try:
            compiler.compile(probe, parse_expression(probe, limits))
        except ExprSyntaxError as error:
            problems.add(
                f"{where}, input {column.where()}",
                error.message,
                expected=error.expected,
            )
            continue
        columns.append(column)
    return columns


def _output_columns(specs: Any, where: str, problems: _Problems) -> list[_Output]:
    outputs: list[_Output] = []
    if not isinstance(specs, list):
        problems.add(where, "outputs must be a list of columns")
        return outputs
    seen: dict[tuple[str, str | None], str] = {}
    for index, spec in enumerate(specs):
        if not isinstance(spec, dict):
            problems.add(where, f"output {index + 1} must be an object")
            continue
        column = _Column(spec, index)
        field = column.field.strip()
        match = _OUTPUT_FIELD.fullmatch(field)
        place = f"{where}, output {column.where()}"
        if match is None:
            problems.add(
                place,
                f"the field {field!r} does not name an action",
                expected="<action> or <action>.<parameter>, such as tag, route.warehouse "
                "or add_gift.sku",
            )
            continue
        action, param = match.group(1), match.group(2)
        cls = ACTIONS.get(action)
        if cls is None:
            problems.add(
                place,
                f"unknown action {action!r}",
                expected="one of: " + ", ".join(sorted(ACTIONS)),
            )
            continue
        fields = [name for name in cls.model_fields if name not in cls.settled]
        if param is None:
            param = cls.shortcut
        elif param not in fields:
            problems.add(
                place,
                f"{action} has no parameter {param!r}",
                expected="one of: " + ", ".join(fields) if fields else "no parameters",
            )
            continue
        key = (action, param)
        if key in seen:
            problems.add(place, f"{field} is also set by column {seen[key]!r}")
            continue
        seen[key] = column.label
        outputs.append(_Output(column, action, param))
    return outputs


def _row_actions(
    row: Mapping[str, Any], outputs: list[_Output], where: str, rule: str, problems: _Problems
) -> list[dict[str, Any]]:
    params: dict[str, dict[str, Any]] = {}
    columns: dict[str, list[_Output]] = {}
    for output in outputs:
        cell = row.get(output.column.id, "")
        place = f"{where}, output {output.column.where()}"
        if not isinstance(cell, str):
            problems.add(place, f"the cell must be text, not {cell!r}", rule=rule)
            continue
        try:
            value = _output_value(cell)
        except ValueError as error:
            problems.add(
                place,
                f"cell {cell!r} is not supported: {error}",
                rule=rule,
                expected=_SUPPORTED_OUTPUTS,
            )
            continue
        if value is None:
            continue
        columns.setdefault(output.action, []).append(output)
        if output.param is None:
            if not isinstance(value, bool):
                problems.add(
                    place,
                    f"cell {cell!r}: {output.action} has no parameters",
                    rule=rule,
                    expected="true (take the action), false or empty",
                )
            elif value:
                params.setdefault(output.action, {})
            continue
        params.setdefault(output.action, {})[output.param] = value
    then: list[dict[str, Any]] = []
    for action, values in params.items():
        try:
            parse_action(action, values)
        except (ValueError, TypeError) as error:
            named = [o for o in columns[action] if o.param and f": {o.param}" in str(error)]
            shown = ", ".join(o.column.where() for o in (named or columns[action]))
            problems.add(f"{where}, output {shown}", str(error), rule=rule)
            continue
        then.append({action: values})
    return then


def rules_from_jdm(
    content: str | bytes | Mapping[str, Any],
    *,
    source: str = "<jdm>",
    ruleset: str | None = None,
    version: int = 1,
    limits: Limits = LIMITS,
) -> RuleSet:
    """Build a rule set from a GoRules JDM decision (the JSON the zen-engine editor exports).

    Args:
        content: The JDM file's text or bytes, or the decoded mapping.
        source: Where it came from, for error messages and :attr:`RuleSet.source`.
        ruleset: The rule set's name; by default the source file's stem, else ``jdm``.
        version: The rule set's version.
        limits: The caps of the rule language.

    Returns:
        An ordinary :class:`RuleSet`: one group per decision table, one rule per row.

    Raises:
        RuleLoadError: the graph, a column, a cell or an action is outside what can be
            translated; every problem is listed, each naming its table, row and column.

    Example:
        >>> rules = load_jdm("tests/fixtures/rules/jdm/routing.json")  # doctest: +SKIP
        >>> rules.names()[:2]  # doctest: +SKIP
        ['warehouse-routing-1', 'warehouse-routing-2']
    """
    graph = _load(content, source)
    problems = _Problems(source)
    tables = _tables(graph, problems)
    compiler = ExprCompiler(limits)
    groups: dict[str, dict[str, str]] = {}
    rules: list[dict[str, Any]] = []
    total = sum(
        len(rows)
        for node in tables
        if isinstance(node.get("content"), dict)
        and isinstance(rows := node["content"].get("rules"), list)
    )
    for number, node in enumerate(tables, start=1):
        title = str(node.get("name") or f"table {number}")
        where = f"table {title!r}"
        content_node = node.get("content")
        if not isinstance(content_node, dict):
            problems.add(where, "the table has no content")
            continue
        group = _slug(title, f"table{number}")
        while group in groups:
            group = f"{group}-{number}"
        policy = content_node.get("hitPolicy", "first")
        if policy not in HIT_POLICIES:
            problems.add(where, f"hitPolicy {policy!r} is not known", expected="first or collect")
            continue
        groups[group] = {"mode": HIT_POLICIES[policy]}
        for key in ("inputField", "outputPath"):
            if content_node.get(key):
                problems.add(
                    where, f"{key} {content_node[key]!r} is not supported", expected=f"no {key}"
                )
        mode = content_node.get("executionMode")
        if mode not in (None, "single"):
            problems.add(where, f"executionMode {mode!r} is not supported", expected="single")
        inputs = _input_columns(content_node.get("inputs"), where, problems, compiler, limits)
        outputs = _output_columns(content_node.get("outputs"), where, problems)
        rows = content_node.get("rules")
        if not isinstance(rows, list):
            problems.add(where, "rules must be a list of rows")
            continue
        for index, row in enumerate(rows, start=1):
            name = f"{group}-{index}"
            row_where = f"{where} row {index}"
            if not isinstance(row, dict):
                problems.add(row_where, "a row must be an object", rule=name)
                continue
            conditions: list[str] = []
            for column in inputs:
                cell = row.get(column.id, "")
                place = f"{row_where}, input {column.where()}"
                if not isinstance(cell, str):
                    problems.add(place, f"the cell must be text, not {cell!r}", rule=name)
                    continue
                try:
                    condition = translate_cell(cell, column.field)
                except ValueError as error:
                    problems.add(
                        place,
                        f"cell {cell!r} is not supported: {error}",
                        rule=name,
                        expected=SUPPORTED_CELLS,
                    )
                    continue
                if condition is None:
                    continue
                try:
                    compiler.compile(condition, parse_expression(condition, limits))
                except ExprSyntaxError as error:
                    problems.add(
                        place,
                        f"cell {cell!r} (read as {condition}): {error.message}",
                        rule=name,
                        expected=error.expected,
                    )
                    continue
                conditions.append(f"({condition})" if " or " in condition else condition)
            then = _row_actions(row, outputs, row_where, name, problems)
            description = f"{title} row {index}"
            if row.get("_id"):
                description += f" (_id {row['_id']})"
            if isinstance(row.get("_description"), str) and row["_description"].strip():
                description += f": {row['_description'].strip()}"
            rules.append(
                {
                    "name": name,
                    "description": description,
                    "priority": total - len(rules),
                    "group": group,
                    "when": " and ".join(conditions) or "true",
                    "then": then,
                }
            )
    problems.raise_if_any()
    if ruleset is None:
        stem = Path(source).stem if not source.startswith("<") else ""
        ruleset = _slug(stem, "jdm", width=64)
    data = {"ruleset": ruleset, "version": version, "groups": groups, "rules": rules}
    return RuleSet.from_dict(data, source=source, limits=limits)


def load_jdm(
    path: str | Path,
    *,
    ruleset: str | None = None,
    version: int = 1,
    limits: Limits = LIMITS,
) -> RuleSet:
    """Load a rule set from a GoRules JDM file (see :func:`rules_from_jdm`).

    Raises:
        RuleLoadError: the file cannot be read or cannot be translated.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RuleLoadError(
            f"{path}: cannot read the JDM file: {error}", source=str(path)
        ) from None
    return rules_from_jdm(data, source=str(path), ruleset=ruleset, version=version, limits=limits)
