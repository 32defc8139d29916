"""The static types of the rule language, read from the canonical models' own fields.

A rule can reach only what these tables list: the fields of the canonical models
and a few of their properties. Everything else (``__class__``, methods, private
names) does not exist for the language, so it cannot be named.
"""

from __future__ import annotations

import enum
import types
import typing
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Final, Union, get_args, get_origin

import attrs
from pydantic import BaseModel

from ordercore.money import Money
from ordercore.pii import Sensitive
from ordercore.timestamps import ChannelTime

__all__ = ["ANY", "BOOL", "DURATION", "MONEY", "NULL", "NUMBER", "TEXT", "TIME", "Field", "T"]


@attrs.frozen(slots=True)
class T:
    """A type of the language.

    ``kind`` is one of bool, number, money, text, time, duration, list, record,
    enum, map (custom attributes, string maps), any (dynamic) or null.
    """

    kind: str
    nullable: bool = False
    elem: T | None = None
    model: type[BaseModel] | None = None
    enum: type[enum.Enum] | None = None
    pii: type[Sensitive] | None = None
    attributes: bool = False  # a map of typed custom attributes (order.attributes)

    def optional(self) -> T:
        return self if self.nullable else attrs.evolve(self, nullable=True)

    def required(self) -> T:
        return attrs.evolve(self, nullable=False) if self.nullable else self

    def describe(self) -> str:
        if self.kind == "list" and self.elem is not None:
            text = f"a list of {self.elem.describe_bare()}"
        else:
            text = self.describe_bare()
        return f"{text} (or null)" if self.nullable and self.kind not in ("null", "any") else text

    def describe_bare(self) -> str:
        if self.kind == "record" and self.model is not None:
            return f"a {self.model.__name__}"
        if self.kind == "enum" and self.enum is not None:
            return f"a {self.enum.__name__} value"
        if self.kind == "list" and self.elem is not None:
            return f"a list of {self.elem.describe_bare()}"
        return {
            "bool": "true/false",
            "number": "a number",
            "money": "money",
            "text": "text",
            "time": "a time",
            "duration": "a duration",
            "map": "a map",
            "any": "a value",
            "null": "null",
        }.get(self.kind, self.kind)

    @property
    def is_numeric(self) -> bool:
        return self.kind in ("number", "money")


BOOL: Final = T("bool")
NUMBER: Final = T("number")
MONEY: Final = T("money")
TEXT: Final = T("text")
TIME: Final = T("time")
DURATION: Final = T("duration")
NULL: Final = T("null", nullable=True)
ANY: Final = T("any", nullable=True)


@attrs.frozen(slots=True)
class Field:
    """One reachable field: its type and how to read it.

    ``access`` is ``attr`` (plain attribute), ``utc`` (a ChannelTime read as its UTC
    instant), ``reveal`` (personal text, revealed for tests and masked in traces)
    or ``attribute`` (a custom attribute's plain value).
    """

    name: str
    type: T
    access: str = "attr"


_SKIPPED: Final = frozenset({"raw", "schema_version"})
# Properties a rule may read, by model name: name -> type.
_PROPERTIES: Final[dict[str, dict[str, T]]] = {
    "Order": {"quantity": NUMBER, "currency": TEXT},
    "OrderAmounts": {
        "currency": TEXT,
        "discount_total": MONEY,
        "expected_paid": MONEY,
        "balances": BOOL,
    },
    "OrderLine": {"goods": MONEY, "discount_total": MONEY},
}

_FIELDS: dict[type[BaseModel], dict[str, Field]] = {}


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """Strip Annotated and Optional; return the bare annotation and whether it is nullable."""
    nullable = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) < len(get_args(annotation)):
                nullable = True
            if len(members) == 1:
                annotation = members[0]
                continue
            return annotation, nullable
        return annotation, nullable


def _type_of(annotation: Any) -> tuple[T, str] | None:
    bare, nullable = _unwrap(annotation)
    origin = get_origin(bare)
    found: tuple[T, str] | None
    if origin is tuple:
        args = get_args(bare)
        inner = _type_of(args[0]) if args else None
        if inner is None:
            return None
        found = (T("list", elem=inner[0]), "attr")
    elif origin is dict:
        _key, value = get_args(bare)
        value_bare, _ = _unwrap(value)
        is_attributes = get_origin(value_bare) in (Union, types.UnionType)
        found = (T("map", attributes=is_attributes), "attr")
    elif not isinstance(bare, type):
        return None
    elif issubclass(bare, bool):
        found = (BOOL, "attr")
    elif issubclass(bare, enum.Enum):
        found = (T("enum", enum=bare), "attr")
    elif issubclass(bare, int | Decimal):
        found = (NUMBER, "attr")
    elif issubclass(bare, str):
        found = (TEXT, "attr")
    elif issubclass(bare, Money):
        found = (MONEY, "attr")
    elif issubclass(bare, Sensitive):
        found = (T("text", pii=bare), "reveal")
    elif issubclass(bare, ChannelTime):
        found = (TIME, "utc")
    elif issubclass(bare, datetime):
        found = (TIME, "attr")
    elif issubclass(bare, timedelta):
        found = (DURATION, "attr")
    elif issubclass(bare, BaseModel):
        found = (T("record", model=bare), "attr")
    else:
        return None
    kind, access = found
    return (kind.optional() if nullable else kind), access


def fields_of(model: type[BaseModel]) -> dict[str, Field]:
    """The fields a rule may read on ``model``, by name (cached)."""
    known = _FIELDS.get(model)
    if known is not None:
        return known
    hints = typing.get_type_hints(model, include_extras=True)
    table: dict[str, Field] = {}
    for name in model.model_fields:
        if name in _SKIPPED or name.startswith("_"):
            continue
        found = _type_of(hints[name])
        if found is not None:
            table[name] = Field(name, found[0], found[1])
    for name, kind in _PROPERTIES.get(model.__name__, {}).items():
        table[name] = Field(name, kind)
    _FIELDS[model] = table
    return table
