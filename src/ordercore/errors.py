"""Every error ordercore raises, in one tree.

Catch :class:`OrderCoreError` to handle anything the library raises on purpose.
Each class carries a short, stable ``code``; ``docs/errors.md`` has a section per
code saying what went wrong and what to do about it. Where the meaning fits, an
error also inherits a builtin (``ValueError``, ``LookupError``, ...) so code that
already catches those keeps working.

::

    OrderCoreError .................................... ordercore-error
    ├── FrozenModelError (AttributeError) ............. model-frozen
    ├── LineNotFound (KeyError) ....................... line-not-found
    ├── IdError (ValueError) .......................... id-invalid
    ├── PersonalDataError (ValueError) ................ personal-data-invalid
    ├── ConfigurationError (ValueError) ............... config-invalid
    │   ├── StoreURLError ............................. store-url-invalid
    │   └── LifecycleSpecError ........................ lifecycle-spec-invalid
    ├── PluginError ................................... plugin-failed
    │   ├── PluginNotFound (LookupError) .............. plugin-not-found
    │   └── PluginLoadError (ImportError) ............. plugin-load-failed
    ├── MoneyError (ValueError) ....................... money-invalid
    │   ├── FloatMoneyError (TypeError) ............... money-float
    │   ├── CurrencyMismatch .......................... money-currency-mismatch
    │   └── AllocationError ........................... money-allocation
    ├── TimeParseError (ValueError) ................... time-invalid
    ├── SchemaError (ValueError) ...................... schema-invalid
    │   └── SchemaVersionError ........................ schema-version-unsupported
    ├── InvalidTransition ............................. lifecycle-invalid-transition
    │   └── GuardFailed ............................... lifecycle-guard-failed
    ├── NotifyError ................................... notify-failed
    ├── RuleError ..................................... rule-failed
    │   ├── RuleLoadError (ValueError) ................ rule-invalid
    │   │   ├── RuleLimitExceeded ..................... rule-limit
    │   │   └── RuleVersionConflict ................... rule-version-conflict
    │   ├── RuleEvaluationError ....................... rule-evaluation
    │   ├── RuleConflict .............................. rule-conflict
    │   └── RuleVersionNotFound (LookupError) ......... rule-version-not-found
    ├── SignatureError (ValueError) ................... channel-signature
    ├── PhotoRejected (ValueError) .................... photo-rejected
    ├── InventoryError ................................ inventory-failed
    │   ├── InsufficientStock ......................... inventory-insufficient
    │   ├── ReservationNotFound (LookupError) ......... inventory-reservation-not-found
    │   ├── ReservationStateError ..................... inventory-reservation-state
    │   ├── UnknownLocation (LookupError) ............. inventory-unknown-location
    │   ├── AdjustmentError ........................... inventory-adjustment
    │   └── TransferError ............................. inventory-transfer
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
masked (``138****8000``) before they reach an error. Values an error echoes
(a channel order id, a field name) are cut to 64 characters and mobile numbers
and e-mail addresses in them are masked, so neither a 10 MB id nor a phone
number sent in the wrong field reaches a message or a log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, Protocol

__all__ = [
    "AdjustmentError",
    "AllocationError",
    "ConfigurationError",
    "CurrencyMismatch",
    "DuplicateOrder",
    "FieldProblem",
    "FloatMoneyError",
    "ForeignDatabase",
    "FrozenModelError",
    "GuardFailed",
    "IdError",
    "IdempotencyConflict",
    "InsufficientStock",
    "InvalidTransition",
    "InventoryError",
    "LifecycleSpecError",
    "LineNotFound",
    "MigrationError",
    "MoneyError",
    "NotifyError",
    "OrderCoreError",
    "OrderNotFound",
    "PHOTO_REASONS",
    "PersonalDataError",
    "PhotoRejected",
    "PluginError",
    "PluginLoadError",
    "PluginNotFound",
    "ReservationNotFound",
    "ReservationStateError",
    "RuleConflict",
    "RuleError",
    "RuleEvaluationError",
    "RuleLimitExceeded",
    "RuleLoadError",
    "RuleVersionConflict",
    "RuleVersionNotFound",
    "SIGNATURE_REASONS",
    "SchemaError",
    "SchemaVersionError",
    "SignatureError",
    "StoreClosed",
    "StoreError",
    "StoreReadOnly",
    "StoreURLError",
    "TimeParseError",
    "TransferError",
    "UnknownLocation",
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


class LifecycleSpecError(ConfigurationError):
    """A lifecycle spec (YAML, JSON or dict) is not valid.

    Attributes:
        source: The file (or ``"<dict>"``) the spec came from.
        line: The 1-based line of the problem in that file, when known.
        field: The dotted path of the offending field, when known.
    """

    code = "lifecycle-spec-invalid"

    def __init__(
        self,
        message: str,
        *,
        source: str = "<dict>",
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.source = source
        self.line = line
        self.field = field
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


#: How much of a value an error may echo, and how long one problem's text may be.
_ECHO_LIMIT = 64
_PROBLEM_LIMIT = 300


def _redact(text: str, limit: int) -> str:
    # ordercore.pii raises errors from this module, so it is imported when first used.
    from ordercore.pii import redact

    return redact(text, limit=limit)


class FieldProblem:
    """One thing wrong with one field of an input.

    The field path and the problem text are cut to a few hundred characters,
    and mobile numbers and e-mail addresses in them are masked, so a problem
    never carries a long or personal value.

    Attributes:
        field: Dotted path of the field (``lines.0.unit_price``).
        problem: What is wrong with it, without the offending value when that
            value could be personal data.
        kind: A machine-readable kind (pydantic's error type where it came from one).
    """

    __slots__ = ("field", "kind", "problem")

    def __init__(self, field: str, problem: str, kind: str = "invalid") -> None:
        self.field = _redact(field, 2 * _ECHO_LIMIT)
        self.problem = _redact(problem, _PROBLEM_LIMIT)
        self.kind = _redact(kind, _ECHO_LIMIT)

    def __repr__(self) -> str:
        return f"FieldProblem(field={self.field!r}, problem={self.problem!r}, kind={self.kind!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldProblem):
            return NotImplemented
        return (self.field, self.problem, self.kind) == (other.field, other.problem, other.kind)

    def __hash__(self) -> int:
        return hash((self.field, self.problem, self.kind))


class _ValidationFailure(Protocol):
    """The part of pydantic's ``ValidationError`` the bridge below reads."""

    def errors(
        self, *, include_url: bool = ..., include_context: bool = ..., include_input: bool = ...
    ) -> Sequence[Mapping[str, Any]]: ...


#: Pydantic error types whose message could echo a personal value; we drop the detail.
_PLAIN_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of this model",
}
#: What to do instead, when a plain value is given where one of these models is expected.
_MODEL_HINTS = {
    "ChannelTime": (
        "expected a ChannelTime, not a plain value: read channel times with "
        "ordercore.timestamps.parse_channel_time()"
    ),
}


def _shown_id(value: object) -> str | None:
    """An id or channel as an error may show it: text, cut and masked."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return f"<{type(value).__name__}>"
    if isinstance(value, int):
        if value.bit_length() > 4 * _ECHO_LIMIT:  # str() of a huge int raises
            return f"<int of {value.bit_length()} bits>"
        value = str(value)
    return _redact(value, _ECHO_LIMIT)


class SchemaError(OrderCoreError, ValueError):
    """Input does not fit the canonical schema.

    The channel and channel order id the message names are cut to 64
    characters and masked where they look like personal data (a phone number
    sent as the order id), like every value an error shows.

    Attributes:
        problems: Every :class:`FieldProblem` found, in input order.
        field: The first offending field (a shortcut for ``problems[0].field``).
        channel: The channel the input came from, when known (as shown).
        channel_order_id: The channel's order id, when known (as shown).
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
        self.channel = _shown_id(channel)
        self.channel_order_id = _shown_id(channel_order_id)
        self.field = self.problems[0].field if self.problems else None
        where = model
        if self.channel_order_id is not None:
            where += f" {self.channel or '?'}:{self.channel_order_id}"
        elif self.channel is not None:
            where += f" from {self.channel}"
        count = len(self.problems)
        lines = [f"{where}: {count} invalid field{'s' if count != 1 else ''}"]
        lines.extend(f"  {p.field}: {p.problem}" for p in self.problems)
        super().__init__("\n".join(lines))

    @staticmethod
    def problems_from(failure: _ValidationFailure) -> list[FieldProblem]:
        """Turn a pydantic ``ValidationError`` into FieldProblems that carry no input values.

        An ordercore error raised inside a validator keeps its message and its
        code as the problem's kind.
        """
        problems = []
        for error in failure.errors(include_input=False, include_url=False, include_context=True):
            field = ".".join(str(part) for part in error["loc"]) or "<root>"
            kind = str(error["type"])
            context = error.get("ctx") or {}
            cause = context.get("error")
            if isinstance(cause, OrderCoreError):
                message, kind = cause.message, cause.code
            elif (
                kind in ("model_type", "model_attributes_type")
                and context.get("class_name") in _MODEL_HINTS
            ):
                message = _MODEL_HINTS[context["class_name"]]
            else:
                message = _PLAIN_MESSAGES.get(kind, str(error["msg"]))
                message = message.removeprefix("Value error, ")
            problems.append(FieldProblem(field, message, kind))
        return problems

    @classmethod
    def from_validation_error(
        cls, failure: _ValidationFailure, *, model: str, data: object = None
    ) -> SchemaError:
        """Build a SchemaError from pydantic's error; ``data`` may name the channel order."""
        channel = channel_order_id = None
        if isinstance(data, Mapping):
            channel = data.get("channel")
            channel_order_id = data.get("channel_order_id")
        return cls(
            cls.problems_from(failure),
            model=model,
            channel=channel,
            channel_order_id=channel_order_id,
        )


class SchemaVersionError(SchemaError):
    """A stored order body has a ``schema_version`` this ordercore cannot read.

    Either the body was written by a newer ordercore (upgrade this one), or no
    upcaster leads from its version to the current one.

    Attributes:
        version: The body's schema version (``None`` if it has none or not a number).
        supported: The schema version this ordercore writes.
    """

    code = "schema-version-unsupported"

    def __init__(
        self,
        problem: str,
        *,
        version: int | None,
        supported: int,
        channel: str | None = None,
        channel_order_id: str | None = None,
    ) -> None:
        self.version = version
        self.supported = supported
        super().__init__(
            [FieldProblem("schema_version", problem, self.code)],
            channel=channel,
            channel_order_id=channel_order_id,
        )


# -- models, lines, ids and personal values ---------------------------------------------


class FrozenModelError(OrderCoreError, AttributeError):
    """A field of an immutable value (an order, a ChannelTime, Money) was assigned to.

    Canonical models are frozen: ``order.evolve(status="cancelled")`` returns a
    changed, validated copy.

    Attributes:
        model: The class of the value.
        field: The field that was assigned, when there was one.
    """

    code = "model-frozen"

    def __init__(self, message: str, *, model: str, field: str | None = None) -> None:
        self.model = model
        self.field = field
        super().__init__(message)


class LineNotFound(OrderCoreError, KeyError):
    """An order has no line with the given line id (``order.line("9")``).

    Attributes:
        order_id: The order that was searched.
        line_id: The line id asked for (as shown: cut and masked).
    """

    code = "line-not-found"

    def __init__(self, message: str, *, order_id: str, line_id: str) -> None:
        self.order_id = order_id
        self.line_id = line_id
        super().__init__(message)


class IdError(OrderCoreError, ValueError):
    """A value is not an ordercore id (a ULID) where one is needed (``id_time_ms``)."""

    code = "id-invalid"


class PersonalDataError(OrderCoreError, ValueError):
    """A personal value is not what its type holds (an e-mail address without ``@``).

    The message never contains the value.

    Attributes:
        kind: What the value should have been (``"e-mail address"``).
    """

    code = "personal-data-invalid"

    def __init__(self, message: str, *, kind: str) -> None:
        self.kind = kind
        super().__init__(message)


# -- lifecycle and notifications ----------------------------------------------------------


class InvalidTransition(OrderCoreError):
    """A trigger cannot be applied to an order in its current state.

    Attributes:
        order_id: The order.
        state: Its current state (canonical status, and node when it has one).
        trigger: The trigger that was refused.
    """

    code = "lifecycle-invalid-transition"

    def __init__(self, message: str, *, order_id: str | None, state: str, trigger: str) -> None:
        self.order_id = order_id
        self.state = state
        self.trigger = trigger
        super().__init__(message)


class GuardFailed(InvalidTransition):
    """A transition's guard refused it (stock not locked, parcel already picked up...).

    Attributes:
        guard: The name of the guard that failed.
    """

    code = "lifecycle-guard-failed"

    def __init__(
        self, message: str, *, order_id: str | None, state: str, trigger: str, guard: str
    ) -> None:
        self.guard = guard
        super().__init__(message, order_id=order_id, state=state, trigger=trigger)


class NotifyError(OrderCoreError):
    """A notifier could not deliver a message (the robot webhook refused it, or kept failing).

    Attributes:
        notifier: Which notifier (``dingtalk``, ``wecom``, ``log``...).
        status: The platform's error code or HTTP status, when it gave one.
    """

    code = "notify-failed"

    def __init__(self, message: str, *, notifier: str, status: str | None = None) -> None:
        self.notifier = notifier
        self.status = status
        super().__init__(message)


# -- rules ---------------------------------------------------------------------------


class RuleError(OrderCoreError):
    """Something went wrong loading or evaluating a rule set (``ordercore.rules``)."""

    code = "rule-failed"


class RuleLoadError(RuleError, ValueError):
    """A rule set (YAML, JSON or dict) is not valid; nothing of it was loaded.

    The message lists every problem found, each with its place. The attributes
    describe the first one.

    Attributes:
        source: The file (or ``"<dict>"``, ``"<text>"``) the rule set came from.
        rule: The name of the rule with the problem, when it is inside a rule.
        line: The 1-based line in the file, when known.
        column: The 1-based column in the file, when known.
        expected: What would have been valid there, when it can be said.
        problems: Every problem found, as one-line texts with their places.
    """

    code = "rule-invalid"

    def __init__(
        self,
        message: str,
        *,
        source: str = "<dict>",
        rule: str | None = None,
        line: int | None = None,
        column: int | None = None,
        expected: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        self.source = source
        self.rule = rule
        self.line = line
        self.column = column
        self.expected = expected
        self.problems = tuple(problems) or (message,)
        super().__init__(message)


class RuleLimitExceeded(RuleLoadError):
    """A rule expression is bigger, deeper or costlier than the language allows.

    Attributes:
        limit: Which cap was exceeded (``depth``, ``nodes``, ``text``, ``string``,
            ``number``, ``list``, ``regex``, ``nesting``, ``rules``, ``actions``).
    """

    code = "rule-limit"

    def __init__(self, message: str, *, limit: str, **place: Any) -> None:
        self.limit = limit
        super().__init__(message, **place)


class RuleVersionConflict(RuleLoadError):
    """A rule set cannot join a rule book: another rule set's name, or a version number the
    book already holds with different rules.

    Attributes:
        ruleset: The name of the rule set offered.
        version: Its version.
    """

    code = "rule-version-conflict"

    def __init__(self, message: str, *, ruleset: str, version: int, source: str = "<dict>") -> None:
        self.ruleset = ruleset
        self.version = version
        super().__init__(message, source=source, expected="a new version number")


class RuleEvaluationError(RuleError):
    """A rule could not be evaluated (its work budget ran out, or a context lookup failed).

    Attributes:
        ruleset: The rule set's name.
        rule: The rule being evaluated.
    """

    code = "rule-evaluation"

    def __init__(self, message: str, *, ruleset: str, rule: str) -> None:
        self.ruleset = ruleset
        self.rule = rule
        super().__init__(message)


class RuleConflict(RuleError):
    """Two matched rules set the same exclusive slot and the rule set says ``conflicts: error``.

    Attributes:
        slot: The slot both set (``shipping``, ``route``, ``production_line``, ``carrier``).
        rules: The two rules, higher priority first.
    """

    code = "rule-conflict"

    def __init__(self, message: str, *, slot: str, rules: tuple[str, str]) -> None:
        self.slot = slot
        self.rules = rules
        super().__init__(message)


class RuleVersionNotFound(RuleError, LookupError):
    """A rule book has no such version of the rule set (activate, roll back).

    Attributes:
        ruleset: The rule set's name.
        version: The version asked for (``None`` when there is nothing to roll back to).
    """

    code = "rule-version-not-found"

    def __init__(self, message: str, *, ruleset: str, version: int | None) -> None:
        self.ruleset = ruleset
        self.version = version
        super().__init__(message)


# -- channels and returns ------------------------------------------------------------------

#: The reasons a :class:`SignatureError` can give.
SIGNATURE_REASONS: tuple[str, ...] = ("missing", "malformed", "mismatch", "stale", "unknown_scheme")
#: The reasons a :class:`PhotoRejected` can give.
PHOTO_REASONS: tuple[str, ...] = (
    "unsupported_format",
    "empty",
    "too_large",
    "too_many_pixels",
    "truncated",
    "corrupt",
)


class SignatureError(OrderCoreError, ValueError):
    """A request or push is not signed as its channel's scheme requires.

    The message names the channel and what was wrong, never the secret, the
    signature received or the body.

    Attributes:
        channel: The channel whose scheme was checked (cut to 64 characters).
        reason: ``missing`` (no signature, or a field the scheme signs is absent),
            ``malformed`` (the signature or a signed field is not shaped as the scheme
            says: wrong length, not hex, not JSON...), ``mismatch`` (well formed but
            no secret produces it), ``stale`` (authentic, but its timestamp is
            further from now than the tolerance) or ``unknown_scheme`` (no such
            channel, sign method or push scheme).
    """

    code = "channel-signature"

    def __init__(self, message: str, *, channel: str, reason: str) -> None:
        if reason not in SIGNATURE_REASONS:
            raise ValueError(f"unknown signature failure reason {reason!r}")
        self.channel = _redact(str(channel), 64)
        self.reason = reason
        super().__init__(message)


class PhotoRejected(OrderCoreError, ValueError):
    """A return photo was refused by :func:`ordercore.returns.load_photo`.

    The message names what was wrong and the sizes involved; it never quotes the
    file's bytes or its path.

    Attributes:
        reason: ``unsupported_format``, ``empty``, ``too_large``, ``too_many_pixels``,
            ``truncated`` or ``corrupt``.
    """

    code = "photo-rejected"

    def __init__(self, message: str, *, reason: str) -> None:
        if reason not in PHOTO_REASONS:
            raise ValueError(f"unknown photo rejection reason {reason!r}")
        self.reason = reason
        super().__init__(message)


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


# -- inventory --------------------------------------------------------------------------


class InventoryError(OrderCoreError):
    """An inventory operation could not be carried out; nothing was changed."""

    code = "inventory-failed"


class InsufficientStock(InventoryError):
    """A reservation (or a commit, transfer or adjustment) needs more stock than is available.

    Attributes:
        sku: The merchant SKU.
        location: The location checked (``None``: all locations together).
        requested: Units asked for (the lines of one SKU summed).
        available: Units available there when it was checked.
        channel: The channel whose quota limited it, when a quota did.
    """

    code = "inventory-insufficient"

    def __init__(
        self,
        message: str,
        *,
        sku: str,
        location: str | None,
        requested: int,
        available: int,
        channel: str | None = None,
    ) -> None:
        self.sku = sku
        self.location = location
        self.requested = requested
        self.available = available
        self.channel = channel
        super().__init__(message)


class ReservationNotFound(InventoryError, LookupError):
    """No reservation has that id."""

    code = "inventory-reservation-not-found"

    def __init__(self, message: str, *, reservation_id: str) -> None:
        self.reservation_id = reservation_id
        super().__init__(message)


class ReservationStateError(InventoryError):
    """The reservation is not in a state that allows the operation (commit a released one).

    Attributes:
        reservation_id: The reservation.
        status: Its status now.
        operation: What was attempted (``commit``, ``release``, ``modify``...).
    """

    code = "inventory-reservation-state"

    def __init__(self, message: str, *, reservation_id: str, status: str, operation: str) -> None:
        self.reservation_id = reservation_id
        self.status = status
        self.operation = operation
        super().__init__(message)


class UnknownLocation(InventoryError, LookupError):
    """A stock location that the inventory does not know."""

    code = "inventory-unknown-location"

    def __init__(self, message: str, *, location: str) -> None:
        self.location = location
        super().__init__(message)


class AdjustmentError(InventoryError):
    """A stock adjustment cannot be approved, rejected or applied (wrong state or actor).

    Attributes:
        adjustment_id: The adjustment.
        status: Its status now.
    """

    code = "inventory-adjustment"

    def __init__(self, message: str, *, adjustment_id: str, status: str) -> None:
        self.adjustment_id = adjustment_id
        self.status = status
        super().__init__(message)


class TransferError(InventoryError):
    """A stock transfer cannot be received or cancelled in its state.

    Attributes:
        transfer_id: The transfer.
        status: Its status now.
    """

    code = "inventory-transfer"

    def __init__(self, message: str, *, transfer_id: str, status: str) -> None:
        self.transfer_id = transfer_id
        self.status = status
        super().__init__(message)


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
