"""Personal data that never shows itself: receiver names, phones and addresses.

Values of :class:`PersonName`, :class:`PhoneNumber` and :class:`AddressText` print
masked in ``repr``, ``str``, f-strings, logs and error messages
(``138****8000``); the real value is only returned by :meth:`Sensitive.reveal`
and written by JSON serialisation (so stores keep it).

A phone value that is not shaped like a phone number (``王小明-13800138000x``) is
masked entirely, never half-shown; an :class:`EmailAddress` must be an e-mail
address (one ``@``, a dotted domain) or platform ciphertext, else
:class:`~ordercore.errors.PersonalDataError`. :func:`redact` and :func:`safe_repr`
make any other value safe to put in a message: mobile numbers and e-mail
addresses in it masked, cut to 64 characters with the original length.

Platforms increasingly send these fields encrypted (Douyin ``##…#1##``, Youzan
``$…$1$``, JD TDE base64). Such ciphertext is kept exactly as it came, opaque:
``is_ciphertext`` tells it apart and nothing in ordercore needs the plaintext.

Example:
    >>> phone = PhoneNumber("13800138000")
    >>> phone, f"{phone}"
    (PhoneNumber('138****8000'), '138****8000')
    >>> phone.reveal()
    '13800138000'
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Final

from ordercore.errors import FrozenModelError, PersonalDataError

if TYPE_CHECKING:
    from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

__all__ = [
    "AddressText",
    "EmailAddress",
    "PersonName",
    "PhoneNumber",
    "Sensitive",
    "is_email_address",
    "looks_like_ciphertext",
    "mask_phone",
    "redact",
    "safe_repr",
]

_CIPHERTEXT_WRAPPED: Final = re.compile(
    r"""^(?:
        \$\$[^$]+\$\d+\$\$        # Douyin phone   $$<b64>*<b64>$1$$
      | \#\#[^#]+\#\d+\#\#        # Douyin name    ##<b64>*<b64>#1##
      | \$[^$]+\$\d+\$            # Youzan         $<b64>$1$
      | ~[^~]+~\d*~?              # Pinduoduo      ~<b64>~
      | \#[A-Za-z0-9+/=_-]{16,}   # open ids       #<b64>
    )$""",
    re.VERBOSE,
)
_BASE64ISH: Final = re.compile(r"^[A-Za-z0-9+/=_-]{20,}$")
#: Base64 of random bytes has digits or ``+ / =`` and letters; romanised names and
#: words written without spaces ("zhangsanfengwangxiaoming") have only letters.
_NOT_ONLY_LETTERS: Final = re.compile(r"[0-9+/=]")
_A_LETTER: Final = re.compile(r"[A-Za-z]")


def looks_like_ciphertext(value: str) -> bool:
    """Return whether ``value`` looks like a platform's encrypted personal field."""
    if _CIPHERTEXT_WRAPPED.match(value):
        return True
    return bool(
        _BASE64ISH.match(value) and _NOT_ONLY_LETTERS.search(value) and _A_LETTER.search(value)
    )


#: What a phone number looks like: digits with ``+ ( ) - . space`` (and ``*`` where the
#: platform masked it), optionally an extension (``-1234`` is covered, ``转123``, ``x12``).
_PHONE_SHAPE: Final = re.compile(
    r"^\+?[0-9*(][0-9*() .\-]{2,30}[0-9*](?:\s*(?:转|ext\.?|x|#)\s*[0-9]{1,6})?$"
)
#: A Chinese mobile number inside other text, with an optional +86 / 86 prefix, written
#: as one run of digits or in 3-4-4 groups split by spaces or hyphens.
_MOBILE_IN_TEXT: Final = re.compile(
    r"(?<![0-9])(?:\+?86[ -]?)?1[3-9][0-9](?:[0-9]{8}|[ -][0-9]{4}[ -][0-9]{4})(?![0-9])"
)
#: An e-mail address inside other text (loosely: anything@dotted.domain).
_EMAIL_IN_TEXT: Final = re.compile(r"[^\s@'\"<>(),;:]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_EMAIL_LOCAL: Final = r"[^\s@<>()\[\]\\,;:\"]{1,64}"
_EMAIL_LABEL: Final = r"[^\W_](?:[\w-]{0,61}[^\W_])?"
_EMAIL: Final = re.compile(
    rf"{_EMAIL_LOCAL}@(?=.{{1,253}}$)(?:{_EMAIL_LABEL}\.)+(?:[^\W\d_]{{2,63}}|xn--[a-z0-9-]{{1,59}})",
    re.IGNORECASE,
)
_LONG_INT_BITS: Final = 256


def is_email_address(value: str) -> bool:
    """Return whether ``value`` is an e-mail address by ordercore's simple rule.

    The rule: one ``@``; before it 1-64 characters without spaces or any of
    ``<>()[]\\,;:"`` (``*`` is allowed, for addresses the platform masked); after
    it a domain of at most 253 characters with at least two dot-separated labels
    of letters, digits and inner hyphens, the last one letters (or ``xn--``).
    """
    return _EMAIL.fullmatch(value) is not None


def _mask_email(value: str) -> str:
    local, _, domain = value.rpartition("@")
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str) -> str:
    """Mask a phone number, keeping the first 3 and last 4 digits (``138****8000``).

    At least four characters are always hidden: a short number keeps only its
    last four (``****5678``), a very short one nothing. A value that is not
    shaped like a phone number (``王小明-13800138000x``) is masked entirely.
    """
    digits = value.strip()
    if not _PHONE_SHAPE.fullmatch(digits):
        return "*" * min(len(digits), 8)
    if "*" in digits:  # already masked by the platform
        return digits
    if len(digits) >= 11:
        return f"{digits[:3]}****{digits[-4:]}"
    if len(digits) >= 8:
        return f"****{digits[-4:]}"
    return "*" * len(digits)


def redact(text: str, *, limit: int = 64) -> str:
    """Return ``text`` made safe for a message or a log line.

    Mobile numbers and e-mail addresses in it are masked (``138****8000``,
    ``w***@example.com``) and text longer than ``limit`` characters is cut, with
    the original length: ``"ABCD…(10485760 chars)"``.

    Example:
        >>> redact("order 13800138000")
        'order 138****8000'
    """
    head = text[: limit + 256]  # enough to see a whole number or address across the cut
    head = _MOBILE_IN_TEXT.sub(lambda found: mask_phone(found.group()), head)
    head = _EMAIL_IN_TEXT.sub(lambda found: _mask_email(found.group()), head)
    if len(text) <= limit:
        return head
    return f"{head[:limit]}…({len(text)} chars)"


def safe_repr(value: object, *, limit: int = 64) -> str:
    """Return a repr of ``value`` for an error message: short, with personal data masked.

    Example:
        >>> safe_repr("x" * 100)
        "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…(100 chars)'"
    """
    if isinstance(value, str):
        return repr(redact(value, limit=limit))
    if isinstance(value, Sensitive):
        return repr(value)
    if isinstance(value, int) and value.bit_length() > _LONG_INT_BITS:
        # repr() of an int above 4300 digits raises; the size is what matters here.
        return f"<int of {value.bit_length()} bits>"
    return redact(repr(value), limit=limit)


class Sensitive:
    """A personal string that masks itself everywhere except :meth:`reveal`.

    Equal values compare equal and hash alike, so they can be used as keys
    (e.g. to find orders to the same receiver) without revealing them.
    """

    __slots__ = ("_value",)

    kind: ClassVar[str] = "personal data"
    #: Whether :meth:`_problem` checks values of this kind (skipped otherwise: hot path).
    _checked: ClassVar[bool] = False
    _value: str

    def __init__(self, value: str | Sensitive) -> None:
        if isinstance(value, Sensitive):
            value = value.reveal()
        if not isinstance(value, str):
            raise PersonalDataError(
                f"{type(self).__name__} takes a str, got {type(value).__name__}", kind=self.kind
            )
        if self._checked:
            problem = self._problem(value)
            if problem is not None:
                raise PersonalDataError(problem, kind=self.kind)
        object.__setattr__(self, "_value", value)

    def _problem(self, value: str) -> str | None:
        """What is wrong with ``value`` for this kind, or None; never echoes the value."""
        return None

    def reveal(self) -> str:
        """Return the real value. Call it only where the plaintext is needed."""
        return self._value

    @property
    def is_ciphertext(self) -> bool:
        """Whether the value is a platform's ciphertext rather than plaintext."""
        return looks_like_ciphertext(self._value)

    @property
    def masked(self) -> str:
        """The masked form shown in reprs, logs and errors."""
        if not self._value:
            return ""
        if self.is_ciphertext:
            return "<encrypted>"
        return self._mask(self._value)

    def _mask(self, value: str) -> str:
        return "*" * min(len(value), 8)

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenModelError(
            f"{type(self).__name__} is immutable; make a new one", model=type(self).__name__
        )

    def __delattr__(self, name: str) -> None:
        raise FrozenModelError(
            f"{type(self).__name__} is immutable; make a new one", model=type(self).__name__
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.masked!r})"

    def __str__(self) -> str:
        return self.masked

    def __format__(self, spec: str) -> str:
        return format(self.masked, spec)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sensitive):
            return type(other) is type(self) and other._value == self._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self._value,))

    @classmethod
    def _coerce(cls, value: object) -> Sensitive:
        if type(value) is cls:
            return value
        if isinstance(value, Sensitive):
            return cls(value.reveal())
        if isinstance(value, str):
            if len(value) > 4096:
                raise ValueError(f"a {cls.kind} must be at most 4096 characters")
            return cls(value)
        raise ValueError(f"a {cls.kind} must be a string, got {type(value).__name__}")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        from pydantic_core import core_schema as cs

        return cs.json_or_python_schema(
            json_schema=cs.no_info_after_validator_function(cls, cs.str_schema(max_length=4096)),
            python_schema=cs.no_info_plain_validator_function(cls._coerce),
            serialization=cs.plain_serializer_function_ser_schema(cls.reveal, when_used="json"),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "string",
            "maxLength": 4096,
            "description": f"{cls.kind}: masked in logs and reprs; may be platform ciphertext",
        }


class PersonName(Sensitive):
    """A person's name (receiver, buyer); shown as ``张*`` or ``王**``."""

    kind = "person name"

    def _mask(self, value: str) -> str:
        return value[0] + "*" * min(len(value) - 1, 8) if len(value) > 1 else "*"


class PhoneNumber(Sensitive):
    """A phone number; shown as ``138****8000``."""

    kind = "phone number"

    def _mask(self, value: str) -> str:
        return mask_phone(value)


class EmailAddress(Sensitive):
    """An e-mail address; shown as ``w***@example.com``.

    It must be an e-mail address by :func:`is_email_address` (or platform
    ciphertext, kept opaque); anything else raises
    :class:`~ordercore.errors.PersonalDataError`.
    """

    kind = "e-mail address"
    _checked = True

    def _problem(self, value: str) -> str | None:
        if is_email_address(value) or looks_like_ciphertext(value):
            return None
        return (
            "an e-mail address needs one @ between a name and a dotted domain "
            "(name@example.com); this value is not one"
        )

    def _mask(self, value: str) -> str:
        local, at, domain = value.partition("@")
        if not at:
            return "*" * min(len(value), 8)
        return f"{local[:1]}***@{domain}"


class AddressText(Sensitive):
    """The street part of an address; shown as its first few characters then ``****``."""

    kind = "street address"

    def _mask(self, value: str) -> str:
        keep = min(len(value) // 4, 4)
        return value[:keep] + "****"
