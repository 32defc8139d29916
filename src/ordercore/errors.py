"""Every error ordercore raises, in one tree.

Catch :class:`OrderCoreError` to handle anything the library raises on purpose.
Each class carries a short, stable ``code``; ``docs/errors.md`` has a section per
code saying what went wrong and what to do about it. Where the meaning fits, an
error also inherits a builtin (``ValueError``, ``LookupError``, ...) so code that
already catches those keeps working.

::

    OrderCoreError .................................... ordercore-error
    ├── ConfigurationError (ValueError) ............... config-invalid
    │   └── StoreURLError ............................. store-url-invalid
    ├── PluginError ................................... plugin-failed
    │   ├── PluginNotFound (LookupError) .............. plugin-not-found
    │   └── PluginLoadError (ImportError) ............. plugin-load-failed
    ├── MoneyError (ValueError) ....................... money-invalid
    │   ├── FloatMoneyError (TypeError) ............... money-float
    │   ├── CurrencyMismatch .......................... money-currency-mismatch
    │   └── AllocationError ........................... money-allocation
    ├── TimeParseError (ValueError) ................... time-invalid
    ├── SchemaError (ValueError) ...................... schema-invalid
    └── StoreError .................................... store-failed
        ├── OrderNotFound (LookupError) ............... order-not-found
        ├── DuplicateOrder ............................ order-duplicate
        ├── VersionConflict ........................... order-version-conflict
        ├── IdempotencyConflict ....................... idempotency-conflict
        ├── MigrationError ............................ store-migration
        ├── ForeignDatabase ........................... store-foreign-database
        ├── StoreReadOnly ............................. store-read-only
        └── StoreClosed ............................... store-closed

Messages never contain personal data: receiver names, phones and addresses are
masked (``138****8000``) before they reach an error.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

__all__ = [
    "AllocationError",
    "ConfigurationError",
    "CurrencyMismatch",
    "DuplicateOrder",
    "FieldProblem",
    "FloatMoneyError",
    "ForeignDatabase",
    "IdempotencyConflict",
    "MigrationError",
    "MoneyError",
    "OrderCoreError",
    "OrderNotFound",
    "PluginError",
    "PluginLoadError",
    "PluginNotFound",
    "SchemaError",
    "StoreClosed",
    "StoreError",
    "StoreReadOnly",
    "StoreURLError",
    "TimeParseError",
    "VersionConflict",
    "all_error_classes",
]

DOCS_URL = "https://github.com/ordercore/ordercore/blob/main/docs/errors.md"


class OrderCoreError(Exception):
    """The root of every error ordercore raises on purpose.

    Attributes:
        code: A short stable identifier; ``docs/errors.md`` has a section for it.
        message: The human-readable explanation, without the docs link.
    """

    code: ClassVar[str] = "ordercore-error"

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} [{self.code}] (see {DOCS_URL}#{self.code})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take keyword-only context; rebuild from the message and the
        # attributes so errors survive pickling (process pools, multiprocessing).
        return (_restore, (type(self), self.message, dict(self.__dict__)))


# -- configuration and plugins ----------------------------------------------------


class ConfigurationError(OrderCoreError, ValueError):
    """A setting, URL or option passed to ordercore is not valid."""

    code = "config-invalid"


class StoreURLError(ConfigurationError):
    """A store URL could not be understood (``open_store("sqlite:///orders.db")``)."""

    code = "store-url-invalid"

    def __init__(self, message: str, *, url: str) -> None:
        self.url = url
        super().__init__(message)


class PluginError(OrderCoreError):
    """Something went wrong finding or loading a plugin."""

    code = "plugin-failed"

    def __init__(self, message: str, *, group: str, plugin: str) -> None:
        self.group = group
        self.plugin = plugin
        super().__init__(message)


class PluginNotFound(PluginError, LookupError):
    """No plugin of that name is installed in that entry-point group.

    Attributes:
        hint: The distribution to install, when ordercore knows it.
    """

    code = "plugin-not-found"

    def __init__(self, message: str, *, group: str, plugin: str, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(message, group=group, plugin=plugin)


class PluginLoadError(PluginError, ImportError):
    """A plugin is installed but importing it failed."""

    code = "plugin-load-failed"


# -- money and time --------------------------------------------------------------------


class MoneyError(OrderCoreError, ValueError):
    """An amount of money is not valid (not a number, sub-fen precision, negative...)."""

    code = "money-invalid"


class FloatMoneyError(MoneyError, TypeError):
    """A float was offered as money; floats cannot hold 0.1 exactly and are refused."""

    code = "money-float"


class CurrencyMismatch(MoneyError):
    """Two amounts in different currencies were combined."""

    code = "money-currency-mismatch"


class AllocationError(MoneyError):
    """An amount could not be split over the given weights."""

    code = "money-allocation"


class TimeParseError(OrderCoreError, ValueError):
    """A channel timestamp could not be read as a point in time."""

    code = "time-invalid"

    def __init__(self, message: str, *, value: object = None) -> None:
        self.value = value
        super().__init__(message)


# -- schema ------------------------------------------------------------------------------


class FieldProblem:
    """One thing wrong with one field of an input.

    Attributes:
        field: Dotted path of the field (``lines.0.unit_price``).
        problem: What is wrong with it, without the offending value when that
            value could be personal data.
        kind: A machine-readable kind (pydantic's error type where it came from one).
    """

    __slots__ = ("field", "kind", "problem")

    def __init__(self, field: str, problem: str, kind: str = "invalid") -> None:
        self.field = field
        self.problem = problem
        self.kind = kind

    def __repr__(self) -> str:
        return f"FieldProblem(field={self.field!r}, problem={self.problem!r}, kind={self.kind!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldProblem):
            return NotImplemented
        return (self.field, self.problem, self.kind) == (other.field, other.problem, other.kind)

    def __hash__(self) -> int:
        return hash((self.field, self.problem, self.kind))


class SchemaError(OrderCoreError, ValueError):
    """Input does not fit the canonical schema.

    Attributes:
        problems: Every :class:`FieldProblem` found, in input order.
        field: The first offending field (a shortcut for ``problems[0].field``).
        channel: The channel the input came from, when known.
        channel_order_id: The channel's order id, when known.
    """

    code = "schema-invalid"

    def __init__(
        self,
        problems: Iterable[FieldProblem],
        *,
        model: str = "Order",
        channel: str | None = None,
        channel_order_id: str | None = None,
    ) -> None:
        self.problems = tuple(problems)
        self.model = model
        self.channel = channel
        self.channel_order_id = channel_order_id
        self.field = self.problems[0].field if self.problems else None
        where = model
        if channel_order_id is not None:
            where += f" {channel or '?'}:{channel_order_id}"
        elif channel is not None:
            where += f" from {channel}"
        count = len(self.problems)
        lines = [f"{where}: {count} invalid field{'s' if count != 1 else ''}"]
        lines.extend(f"  {p.field}: {p.problem}" for p in self.problems)
        super().__init__("\n".join(lines))


# -- storage -----------------------------------------------------------------------------


class StoreError(OrderCoreError):
    """A store could not carry out an operation."""

    code = "store-failed"


class StoreClosed(StoreError):
    """The store was closed and cannot be used any more."""

    code = "store-closed"


class OrderNotFound(StoreError, LookupError):
    """No stored order has that id (or channel reference)."""

    code = "order-not-found"

    def __init__(self, message: str, *, order_id: str | None = None) -> None:
        self.order_id = order_id
        super().__init__(message)


class DuplicateOrder(StoreError):
    """An order with the same id or the same ``(channel, channel_order_id)`` is already stored."""

    code = "order-duplicate"

    def __init__(
        self,
        message: str,
        *,
        order_id: str,
        channel: str | None = None,
        channel_order_id: str | None = None,
        existing_id: str | None = None,
    ) -> None:
        self.order_id = order_id
        self.channel = channel
        self.channel_order_id = channel_order_id
        self.existing_id = existing_id
        super().__init__(message)


class VersionConflict(StoreError):
    """Someone else changed the order since it was read (optimistic concurrency).

    Re-read the order, re-apply the change and try again.

    Attributes:
        order_id: The order that changed.
        expected: The version the caller based the change on.
        actual: The version now stored (``None`` if not known).
    """

    code = "order-version-conflict"

    def __init__(self, message: str, *, order_id: str, expected: int, actual: int | None) -> None:
        self.order_id = order_id
        self.expected = expected
        self.actual = actual
        super().__init__(message)


class IdempotencyConflict(StoreError):
    """An idempotency key was reused for a different request."""

    code = "idempotency-conflict"

    def __init__(self, message: str, *, key: str) -> None:
        self.key = key
        super().__init__(message)


class MigrationError(StoreError):
    """The store's schema could not be brought to the version this ordercore needs."""

    code = "store-migration"


class ForeignDatabase(StoreError):
    """The database holds tables that are not ordercore's; it is left untouched.

    Pass ``adopt=True`` (``?adopt=1`` in the URL) to add ordercore's tables beside
    the application's own, or use a file of its own for the store.

    Attributes:
        path: The database file.
        tables: Some of the foreign tables found (at most ten).
    """

    code = "store-foreign-database"

    def __init__(self, message: str, *, path: str, tables: Iterable[str] = ()) -> None:
        self.path = path
        self.tables = tuple(tables)
        super().__init__(message)


class StoreReadOnly(StoreError):
    """A write was attempted on a store opened read-only (``?mode=ro``)."""

    code = "store-read-only"


def _restore(cls: type[OrderCoreError], message: str, state: dict[str, Any]) -> OrderCoreError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


def all_error_classes() -> list[type[OrderCoreError]]:
    """Return every error class defined here, root first (used to check the docs)."""
    found: list[type[OrderCoreError]] = []
    pending: list[type[OrderCoreError]] = [OrderCoreError]
    while pending:
        cls = pending.pop(0)
        if cls not in found:
            found.append(cls)
            pending.extend(sorted(cls.__subclasses__(), key=lambda c: c.__name__))
    return [c for c in found if c.__module__ == __name__]
