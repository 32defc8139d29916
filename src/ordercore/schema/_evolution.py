"""Schema evolution: stored order bodies of older schema versions, brought up to date.

Stores keep each order as the JSON ``Order.model_dump_json()`` wrote, tagged with
its ``schema_version``. When the canonical schema changes, :data:`SCHEMA_VERSION`
goes up by one and an upcaster is registered here that turns a body of the
previous version into one of the new version (a plain dict -> dict function).
:func:`load_order_json` reads a body of any known version: a current body takes
one ``Order.model_validate_json`` call, an older one is parsed, passed through
the upcasters in order and validated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from ordercore.errors import SchemaError, SchemaVersionError
from ordercore.pii import safe_repr
from ordercore.schema._order import SCHEMA_VERSION, Order

__all__ = ["load_order_json", "upcast_order"]

#: A function that turns a stored body of version N into one of version N + 1.
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

#: Upcasters by the version they read. Filled below, in this module only: the schema
#: belongs to ordercore, so nothing outside registers steps.
_UPCASTERS: Final[dict[int, Upcaster]] = {}


def _upcaster(from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(step: Upcaster) -> Upcaster:
        if from_version in _UPCASTERS:  # pragma: no cover - a mistake in this module
            raise RuntimeError(f"two upcasters from schema version {from_version}")
        _UPCASTERS[from_version] = step
        return step

    return register


@_upcaster(1)
def _v1_to_v2(body: dict[str, Any]) -> dict[str, Any]:
    """Version 2 added ``node``, ``status_since`` and ``anomalies`` to the order.

    A version 1 body does not know when its status began: the last write
    (``updated_at``, else ``recorded_at``) is the best bound it has. Anomalies
    are left out; validation computes them from the amounts.
    """
    body.pop("anomalies", None)
    if body.get("status_since") is None:
        body["status_since"] = body.get("updated_at") or body.get("recorded_at")
    body.setdefault("node", None)
    return body


def _reference(body: Mapping[str, Any]) -> dict[str, Any]:
    """The channel order a body is about, for error messages."""
    channel = body.get("channel")
    order_id = body.get("channel_order_id")
    return {
        "channel": channel if isinstance(channel, str) else None,
        "channel_order_id": order_id if isinstance(order_id, str | int) else None,
    }


def upcast_order(body: Mapping[str, Any]) -> dict[str, Any]:
    """Bring a stored order body (parsed JSON) up to the current schema version.

    The upcasters run in order, one version at a time; the result carries
    ``schema_version`` :data:`SCHEMA_VERSION` and is ready for
    ``Order.model_validate``. A body without ``schema_version`` is taken to be
    current, as the model's default says. ``body`` itself is not changed.

    Args:
        body: The order body as stored, parsed (``json.loads(text)``).

    Returns:
        A new dict in the current schema.

    Raises:
        SchemaVersionError: the body is not a JSON object, its version is not a
            whole number from 1, it was written by a newer ordercore, or no
            upcaster leads from its version to the current one.
    """
    if not isinstance(body, Mapping):
        raise SchemaVersionError(
            f"a stored order body is a JSON object, not a {type(body).__name__}",
            version=None,
            supported=SCHEMA_VERSION,
        )
    where = _reference(body)
    version = body.get("schema_version", SCHEMA_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SchemaVersionError(
            f"schema_version must be a whole number from 1, got {safe_repr(version)}",
            version=None,
            supported=SCHEMA_VERSION,
            **where,
        )
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"schema version {safe_repr(version)} is newer than this ordercore's "
            f"({SCHEMA_VERSION}): upgrade ordercore to read it",
            version=version,
            supported=SCHEMA_VERSION,
            **where,
        )
    data = dict(body)
    while version < SCHEMA_VERSION:
        step = _UPCASTERS.get(version)
        if step is None:
            raise SchemaVersionError(
                f"no upcaster from schema version {version} to {version + 1}: "
                f"this ordercore cannot read version {body.get('schema_version')} bodies",
                version=body.get("schema_version"),
                supported=SCHEMA_VERSION,
                **where,
            )
        data = step(data)
        version += 1
        data["schema_version"] = version
    return data


def load_order_json(text: str | bytes) -> Order:
    """Read a stored order body of any schema version this ordercore knows.

    The stores call this for every read. A body of the current version is one
    ``Order.model_validate_json`` call (pydantic-core's JSON path); only an older
    body is parsed into a dict, upcast (:func:`upcast_order`) and validated.
    Anomalies are always computed afresh.

    Args:
        text: The body as ``Order.model_dump_json()`` wrote it (with or without ``raw``).

    Returns:
        The order, in the current schema.

    Raises:
        SchemaVersionError: the body was written by a newer ordercore, or no
            upcaster leads from its version to the current one.
        SchemaError: the body is not a valid order (of its version).

    Example:
        >>> from ordercore.testing import OrderFactory
        >>> order = OrderFactory(seed=1).order()
        >>> load_order_json(order.model_dump_json()) == order
        True
    """
    try:
        return Order.model_validate_json(text)
    except SchemaError as error:
        if not any(problem.field == "schema_version" for problem in error.problems):
            raise
        failure = error
    # Only bodies whose schema_version was refused get here, so the JSON itself parsed.
    body = json.loads(text)
    upcast = upcast_order(body)
    if upcast.get("schema_version") == body.get("schema_version"):
        raise failure  # current version after all: the version problem is something else
    return Order.model_validate_json(json.dumps(upcast, ensure_ascii=False))
