"""The canonical order schema (pydantic v2) and its JSON Schema export.

Every channel's order is read into :class:`Order`; the channel's own values
stay reachable (``channel_status``, ``attributes``, ``raw``). Bad input raises
:class:`~ordercore.errors.SchemaError` naming each offending field; data that is
valid but inconsistent (amounts that do not balance) is kept and recorded in
``Order.anomalies``. Stored bodies of older schema versions are read with
:func:`load_order_json`.
"""

from __future__ import annotations

import json
from typing import Any

from ordercore.schema._attributes import (
    ATTRIBUTE_NAME,
    BoolAttribute,
    CustomAttribute,
    DecimalAttribute,
    IntAttribute,
    JsonAttribute,
    MoneyAttribute,
    StringAttribute,
    TimeAttribute,
    attribute,
)
from ordercore.schema._base import CanonicalModel
from ordercore.schema._events import Actor, ActorKind, OrderEvent
from ordercore.schema._evolution import load_order_json, upcast_order
from ordercore.schema._order import (
    SCHEMA_VERSION,
    STRICT_AMOUNTS,
    Address,
    AfterSaleKind,
    AfterSaleRef,
    AnomalyCode,
    B2BInfo,
    Buyer,
    ChannelStatus,
    Discount,
    DiscountFunder,
    LineComponent,
    Order,
    OrderAmounts,
    OrderAnomaly,
    OrderLine,
    OrderStatus,
    OrderType,
    Package,
    PackageLine,
    Payment,
    Presale,
    PresalePhase,
    RawPayload,
    Shipment,
    Source,
    SourceKind,
)

__all__ = [
    "ATTRIBUTE_NAME",
    "Actor",
    "ActorKind",
    "Address",
    "AfterSaleKind",
    "AfterSaleRef",
    "AnomalyCode",
    "B2BInfo",
    "BoolAttribute",
    "Buyer",
    "CanonicalModel",
    "ChannelStatus",
    "CustomAttribute",
    "DecimalAttribute",
    "Discount",
    "DiscountFunder",
    "IntAttribute",
    "JsonAttribute",
    "LineComponent",
    "MoneyAttribute",
    "Order",
    "OrderAmounts",
    "OrderAnomaly",
    "OrderEvent",
    "OrderLine",
    "OrderStatus",
    "OrderType",
    "Package",
    "PackageLine",
    "Payment",
    "Presale",
    "PresalePhase",
    "RawPayload",
    "SCHEMA_VERSION",
    "STRICT_AMOUNTS",
    "Shipment",
    "Source",
    "SourceKind",
    "StringAttribute",
    "TimeAttribute",
    "attribute",
    "json_schema",
    "json_schema_text",
    "load_order_json",
    "upcast_order",
]

_SCHEMA_ID = "https://ordercore.dev/schema/order-v{version}.json"


def json_schema(model: type[CanonicalModel] = Order) -> dict[str, Any]:
    """Return the JSON Schema (draft 2020-12) of ``model`` as stored and exchanged.

    The schema describes the JSON form (``model_dump_json``): money as
    ``{"amount": "12.34", "currency": "CNY"}``, times as
    ``{"utc": ..., "original": ..., "zone": ...}``, personal fields as strings.
    """
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": _SCHEMA_ID.format(version=SCHEMA_VERSION),
        **model.model_json_schema(mode="validation"),
    }


def json_schema_text(model: type[CanonicalModel] = Order, *, indent: int = 2) -> str:
    """Return :func:`json_schema` as JSON text (what ``ordercore schema`` prints)."""
    return json.dumps(json_schema(model), indent=indent, ensure_ascii=False, sort_keys=False)
