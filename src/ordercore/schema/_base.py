"""The base class of every canonical model and the pydantic -> SchemaError bridge."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, ValidationError

from ordercore.errors import FrozenModelError, SchemaError


def schema_error_from(exc: ValidationError, model: str, data: object = None) -> SchemaError:
    """Build a SchemaError that names the fields and, when known, the channel order."""
    return SchemaError.from_validation_error(exc, model=model, data=data)


class CanonicalModel(BaseModel):
    """Base of the canonical models: frozen, strict about unknown fields, typed errors.

    Constructing or validating any canonical model raises
    :class:`~ordercore.errors.SchemaError` (a ``ValueError``) on bad input, with
    one :class:`~ordercore.errors.FieldProblem` per offending field and no
    personal values in the message. Assigning to a field raises
    :class:`~ordercore.errors.FrozenModelError`: use :meth:`evolve`.
    """

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        hide_input_in_errors=True,
        validate_default=False,
        use_enum_values=False,
        ser_json_inf_nan="strings",
    )

    #: Field names whose value is derived from the others during validation; an
    #: update through ``model_copy`` that touches one of ``_derived_from`` is validated.
    _derived_from: ClassVar[frozenset[str]] = frozenset()

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

    @classmethod
    def model_validate_strings(cls, obj: Any, **options: Any) -> Self:
        """Validate string data; raises SchemaError instead of pydantic's error."""
        try:
            return super().model_validate_strings(obj, **options)
        except ValidationError as exc:
            raise schema_error_from(exc, cls.__name__, obj) from None

    def __setattr__(self, name: str, value: Any) -> None:
        model = type(self).__name__
        raise FrozenModelError(
            f"{model} is immutable: use {model[:1].lower()}{model[1:]}.evolve({name}=...) "
            "to get a changed, validated copy",
            model=model,
            field=name,
        )

    def __delattr__(self, name: str) -> None:
        model = type(self).__name__
        raise FrozenModelError(f"{model} is immutable: use evolve()", model=model, field=name)

    @classmethod
    def _trusted_new(cls, fields: dict[str, Any]) -> Self:
        """A model from a complete dict of known-good field values, unvalidated.

        For library code that builds many models from values it has checked
        (the lifecycle's transition events). ``fields`` must name every field.
        """
        made = cls.__new__(cls)
        setter = object.__setattr__
        setter(made, "__dict__", {name: fields[name] for name in cls.__pydantic_fields__})
        setter(made, "__pydantic_fields_set__", set(fields))
        setter(made, "__pydantic_extra__", None)
        setter(made, "__pydantic_private__", None)
        return made

    def _trusted_copy(self, changes: Mapping[str, Any]) -> Self:
        """A shallow copy with ``changes`` set, unvalidated: for library code's known-good values.

        The fast path of :meth:`model_copy` (no ``__copy__`` machinery). Fields
        other fields derive from may not be changed this way.
        """
        if not self._derived_from.isdisjoint(changes):
            raise ValueError(f"{type(self).__name__}: derived fields need evolve()")
        cls = type(self)
        copied = cls.__new__(cls)
        fields = self.__dict__.copy()
        fields.update(changes)
        setter = object.__setattr__
        setter(copied, "__dict__", fields)
        fields_set = self.__pydantic_fields_set__
        if not fields_set.issuperset(changes):
            fields_set = fields_set.union(changes)
        setter(copied, "__pydantic_fields_set__", fields_set)
        setter(copied, "__pydantic_extra__", self.__pydantic_extra__)
        setter(copied, "__pydantic_private__", self.__pydantic_private__)
        return copied

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """Return a copy; pydantic's unvalidated copy, for code that sets trusted values.

        An update that touches a field other fields are derived from (an order's
        ``amounts``, which its ``anomalies`` follow) goes through :meth:`evolve`
        instead, so derived fields always match the data.

        Raises:
            SchemaError: such an update is not valid.
        """
        if update and not self._derived_from.isdisjoint(update):
            return self.evolve(**update)
        return super().model_copy(update=update, deep=deep)

    def evolve(self, **changes: Any) -> Self:
        """Return a validated copy with ``changes`` applied (models are immutable).

        Raises:
            SchemaError: the changed model is not valid.
        """
        data = {name: getattr(self, name) for name in type(self).model_fields}
        data.update(changes)
        return type(self).model_validate(data)
