"""Typed custom attributes: channel-specific facts that no fixed column holds (D2)."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, TypeAlias

from pydantic import AwareDatetime, Field, JsonValue, StrictBool, StrictInt, StrictStr

from ordercore.errors import FieldProblem, SchemaError
from ordercore.money import Money
from ordercore.pii import safe_repr
from ordercore.schema._base import CanonicalModel

__all__ = [
    "ATTRIBUTE_NAME",
    "Attributes",
    "BoolAttribute",
    "CustomAttribute",
    "DecimalAttribute",
    "IntAttribute",
    "JsonAttribute",
    "MoneyAttribute",
    "StringAttribute",
    "TimeAttribute",
    "attribute",
]

#: Attribute names: lower snake case, e.g. ``service_package``, ``invoice_type``.
ATTRIBUTE_NAME = r"^[a-z][a-z0-9_]{0,63}$"
_NAME = re.compile(ATTRIBUTE_NAME)


class StringAttribute(CanonicalModel):
    """A text attribute (``invoice_type = "VAT special"``)."""

    type: Literal["string"] = "string"
    value: StrictStr


class IntAttribute(CanonicalModel):
    """A whole-number attribute (``referrer_level = 2``)."""

    type: Literal["int"] = "int"
    value: StrictInt


class DecimalAttribute(CanonicalModel):
    """An exact decimal attribute that is not money (``weight_kg = "1.25"``)."""

    type: Literal["decimal"] = "decimal"
    value: Decimal


class BoolAttribute(CanonicalModel):
    """A yes/no attribute (``needs_installation = true``)."""

    type: Literal["bool"] = "bool"
    value: StrictBool


class MoneyAttribute(CanonicalModel):
    """An amount of money (``insurance_fee``)."""

    type: Literal["money"] = "money"
    value: Money


class TimeAttribute(CanonicalModel):
    """A point in time, aware (``install_appointment``)."""

    type: Literal["time"] = "time"
    value: AwareDatetime


class JsonAttribute(CanonicalModel):
    """Structured data kept as JSON (``service_package = {"id": .., "name": ..}``)."""

    type: Literal["json"] = "json"
    value: JsonValue


CustomAttribute: TypeAlias = Annotated[
    StringAttribute
    | IntAttribute
    | DecimalAttribute
    | BoolAttribute
    | MoneyAttribute
    | TimeAttribute
    | JsonAttribute,
    Field(discriminator="type"),
]

Attributes: TypeAlias = dict[Annotated[str, Field(pattern=ATTRIBUTE_NAME)], CustomAttribute]


def attribute(value: Any) -> CustomAttribute:
    """Wrap a Python value in the custom attribute of the matching type.

    ``str`` -> string, ``bool`` -> bool, ``int`` -> int, ``Decimal`` -> decimal,
    :class:`~ordercore.money.Money` -> money, aware ``datetime`` -> time, and
    dicts/lists -> json. Floats are refused: use ``Decimal`` or a string.

    Raises:
        SchemaError: the value has no attribute type (a float, a naive datetime...).
    """
    if isinstance(value, bool):
        return BoolAttribute(value=value)
    if isinstance(value, str):
        return StringAttribute(value=value)
    if isinstance(value, int):
        return IntAttribute(value=value)
    if isinstance(value, Decimal):
        return DecimalAttribute(value=value)
    if isinstance(value, Money):
        return MoneyAttribute(value=value)
    if isinstance(value, datetime):
        return TimeAttribute(value=value)
    if isinstance(value, dict | list) or value is None:
        return JsonAttribute(value=value)
    raise SchemaError(
        [FieldProblem("value", f"no custom attribute type holds a {type(value).__name__}")],
        model="CustomAttribute",
    )


def check_attribute_name(name: str) -> str:
    """Return ``name`` if it is a valid attribute name, else raise SchemaError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        shown = safe_repr(name, limit=32)
        raise SchemaError(
            [FieldProblem("name", f"{shown} is not lower_snake_case (max 64 characters)")],
            model="CustomAttribute",
        )
    return name
