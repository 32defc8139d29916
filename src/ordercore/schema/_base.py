"""The base class of every canonical model and the pydantic -> SchemaError bridge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from ordercore.errors import FieldProblem, OrderCoreError, SchemaError

#: Pydantic error types whose message could echo a personal value; we drop the detail.
_PLAIN_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this model",
}


def problems_from(exc: ValidationError) -> list[FieldProblem]:
    """Turn a pydantic ValidationError into FieldProblems that carry no input values."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False, include_context=True):
        field = ".".join(str(part) for part in error["loc"]) or "<root>"
        kind = error["type"]
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, OrderCoreError):
            message, kind = cause.message, cause.code
        else:
            message = _PLAIN_MESSAGES.get(kind, error["msg"])
            message = message.removeprefix("Value error, ")
        problems.append(FieldProblem(field, message, kind))
    return problems


def schema_error_from(exc: ValidationError, model: str, data: object = None) -> SchemaError:
    """Build a SchemaError that names the fields and, when known, the channel order."""
    channel = channel_order_id = None
    if isinstance(data, Mapping):
        channel = data.get("channel")
        channel_order_id = data.get("channel_order_id")
    return SchemaError(
        problems_from(exc),
        model=model,
        channel=channel if isinstance(channel, str) else None,
        channel_order_id=str(channel_order_id) if channel_order_id is not None else None,
    )


class CanonicalModel(BaseModel):
    """Base of the canonical models: frozen, strict about unknown fields, typed errors.

    Constructing or validating any canonical model raises
    :class:`~ordercore.errors.SchemaError` (a ``ValueError``) on bad input, with
    one :class:`~ordercore.errors.FieldProblem` per offending field and no
    personal values in the message.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        validate_default=False,
        use_enum_values=False,
        ser_json_inf_nan="strings",
    )

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise schema_error_from(exc, type(self).__name__, data) from None

    # Tell pydantic this __init__ only translates errors, so nested models are still
    # validated by pydantic-core directly instead of through Python.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def model_validate(cls, obj: Any, **options: Any) -> Self:
        """Validate a Python object; raises SchemaError instead of pydantic's error."""
        try:
            return super().model_validate(obj, **options)
        except ValidationError as exc:
            raise schema_error_from(exc, cls.__name__, obj) from None

    @classmethod
    def model_validate_json(cls, json_data: str | bytes | bytearray, **options: Any) -> Self:
        """Validate JSON text; raises SchemaError instead of pydantic's error."""
        try:
            return super().model_validate_json(json_data, **options)
        except ValidationError as exc:
            raise schema_error_from(exc, cls.__name__) from None

    def evolve(self, **changes: Any) -> Self:
        """Return a validated copy with ``changes`` applied (models are immutable).

        Raises:
            SchemaError: the changed model is not valid.
        """
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(changes)
        return type(self).model_validate(data)
