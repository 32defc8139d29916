"""Request signing and push verification for every channel, as pure functions.

Nothing here does I/O. :func:`sign_request` computes the ``sign`` parameter a
platform expects on an API call; :func:`verify_request` checks a signed request
a platform sends us (Taobao SPI, Douyin SPI and the like); :func:`verify_push`
checks a pushed message (webhook) against one or more secrets, so a secret can
be rotated without dropping deliveries. Each platform's rules live in a
:class:`SigningScheme` registered in :data:`SCHEMES`; a connector plugin adds
its own with :func:`register_scheme`.

Digests are compared with :func:`hmac.compare_digest`. A failure raises
:class:`SignatureError` naming the channel and the reason (``missing``,
``malformed``, ``mismatch``, ``stale``, ``unknown_scheme``), never the secret,
the signature received or the body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar, Final, Literal
from urllib.parse import parse_qsl, urlsplit

from ordercore.errors import SIGNATURE_REASONS, ConfigurationError, SignatureError
from ordercore.pii import redact

__all__ = [
    "DEFAULT_TOLERANCE",
    "PushCheck",
    "PushRequest",
    "REASONS",
    "SCHEMES",
    "Secret",
    "SignatureError",
    "SigningScheme",
    "VerifiedPush",
    "VerifiedRequest",
    "canonical_json",
    "register_scheme",
    "sign_request",
    "verify_push",
    "verify_request",
]

Reason = Literal["missing", "malformed", "mismatch", "stale", "unknown_scheme"]
#: The reasons a :class:`SignatureError` can give.
REASONS: Final[frozenset[str]] = frozenset(SIGNATURE_REASONS)
#: How far a signed timestamp may be from ``now`` (either way) by default.
DEFAULT_TOLERANCE: Final = timedelta(minutes=5)
#: Beijing time, in which Taobao, JD and Douyin write ``yyyy-MM-dd HH:mm:ss`` timestamps.
_CHINA: Final = timezone(timedelta(hours=8))


class Secret:
    """A signing secret that never shows itself: ``repr`` and ``str`` print ``***``.

    Args:
        value: The secret (app secret, client secret, webhook token), as text
            (encoded as UTF-8) or bytes. Empty secrets are refused.
        app_key: The public key paired with it (app_key, client_id), for schemes
            that sign it too (Douyin, Youzan); when given, a push naming another
            key does not match this secret.

    Example:
        >>> Secret("testsecret")
        Secret('***')
        >>> str(Secret(b"k", app_key="testkey"))
        '***'
    """

    __slots__ = ("_app_key", "_value")

    _value: bytes
    _app_key: str | None

    def __init__(self, value: str | bytes | Secret, *, app_key: str | None = None) -> None:
        if isinstance(value, Secret):
            app_key = value.app_key if app_key is None else app_key
            value = value.reveal()
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, bytes):
            raise ConfigurationError(f"a Secret takes str or bytes, got {type(value).__name__}")
        if not value:
            raise ConfigurationError("a Secret must not be empty")
        if app_key is not None and (not isinstance(app_key, str) or not app_key):
            raise ConfigurationError("a Secret's app_key must be a non-empty string when given")
        object.__setattr__(self, "_value", value)
        object.__setattr__(self, "_app_key", app_key)

    @property
    def app_key(self) -> str | None:
        """The public key paired with this secret, if one was given."""
        return self._app_key

    def reveal(self) -> bytes:
        """Return the secret's bytes. Call it only to compute a digest."""
        return self._value

    def __repr__(self) -> str:
        if self._app_key is None:
            return "Secret('***')"
        return f"Secret('***', app_key={redact(self._app_key)!r})"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True, slots=True)
class PushRequest:
    """A received push as a scheme reads it: headers (lower-case names), body, URL."""

    channel: str
    headers: Mapping[str, str]
    body: bytes
    url: str | None
    #: Whether one of the secrets carries an app_key (so the push need not name one).
    app_key_known: bool = False


@dataclass(frozen=True, slots=True)
class PushCheck:
    """What a scheme extracted from a push, for :func:`verify_push` to check.

    Attributes:
        signature: The signature the push carries.
        expected: For a secret, the signature it would produce, or None when the
            secret cannot apply (its app_key is not the one the push names).
        timestamp: The signed timestamp, when the scheme has one (checked for staleness).
        signed: The bytes the signature covers that a connector may read
            (the body, Youzan's ``msg``, WeChat's ``Encrypt``); empty when the
            scheme signs none of the body.
        body_signed: Whether ``signed`` is (part of) the body.
        case_insensitive: Whether the signature is hex (compared ignoring case).
    """

    scheme: str
    signature: str
    expected: Callable[[Secret], str | None]
    timestamp: datetime | None = None
    signed: bytes = b""
    body_signed: bool = True
    case_insensitive: bool = True


@dataclass(frozen=True, slots=True)
class VerifiedPush:
    """A push whose signature one of the secrets produced.

    Attributes:
        channel: The channel.
        scheme: The scheme that checked it (``douyin-event-sign``, ``shopify-hmac``...).
        secret_index: Which of the secrets matched (0 = the first), to see when an
            old secret can be dropped.
        timestamp: The signed timestamp (UTC), when the scheme has one.
        signed: The bytes the signature covers; read the payload from these only.
        body_signed: False when the scheme authenticates the sender but not the
            body (WeChat plain mode, Xiaohongshu): then re-fetch what the body names.
    """

    channel: str
    scheme: str
    secret_index: int
    timestamp: datetime | None
    signed: bytes = field(repr=False)
    body_signed: bool


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    """A signed request whose ``sign`` parameter one of the secrets produced."""

    channel: str
    method: str
    secret_index: int
    timestamp: datetime | None


# -- helpers -----------------------------------------------------------------------------

_HEX: Final = re.compile(r"[0-9A-Fa-f]+")
_BASE64: Final = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def _md5_hex(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _hmac_hex(key: bytes, data: bytes, algorithm: str) -> str:
    return hmac.new(key, data, algorithm).hexdigest()


def _hmac_b64(key: bytes, data: bytes) -> str:
    return base64.b64encode(hmac.new(key, data, hashlib.sha256).digest()).decode("ascii")


def _fail(channel: str, reason: Reason, message: str) -> SignatureError:
    return SignatureError(f"{redact(channel)}: {message}", channel=channel, reason=reason)


def _check_hex(channel: str, what: str, value: str, length: int) -> None:
    if len(value) != length or not value.isascii() or not _HEX.fullmatch(value):
        raise _fail(channel, "malformed", f"{what} is not {length} hex digits")


def _check_b64(channel: str, what: str, value: str, size: int) -> None:
    if not value.isascii() or not _BASE64.fullmatch(value):
        raise _fail(channel, "malformed", f"{what} is not base64")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(channel, "malformed", f"{what} is not base64") from None
    if len(raw) != size:
        raise _fail(channel, "malformed", f"{what} is not a base64 digest of {size} bytes")


def _utf8(channel: str, what: str, value: str) -> bytes:
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(channel, "malformed", f"{what} is not valid text") from None


def _parse_time(channel: str, what: str, value: str, *, epoch: str | None) -> datetime:
    """Read a signed timestamp: epoch digits (``s``/``ms``/``auto``) or Beijing wall time."""
    text = value.strip()
    if epoch is not None and text.isascii() and text.isdigit() and len(text) <= 16:
        number = int(text)
        millis = epoch == "ms" or (epoch == "auto" and len(text) >= 13)
        try:
            return datetime.fromtimestamp(number / 1000 if millis else number, UTC)
        except (OverflowError, OSError, ValueError):
            raise _fail(channel, "malformed", f"{what} is out of range") from None
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z"):
        try:
            parsed = datetime.strptime(text, pattern)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=_CHINA)
        return parsed.astimezone(UTC)
    raise _fail(channel, "malformed", f"{what} is not a timestamp the scheme knows")


def _fresh(
    channel: str, timestamp: datetime | None, now: datetime | None, tolerance: timedelta
) -> None:
    if timestamp is None:
        return
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        raise ConfigurationError("now must be an aware datetime (e.g. datetime.now(UTC))")
    if abs(now - timestamp) > tolerance:
        raise _fail(
            channel, "stale", f"the signed timestamp is more than {tolerance} away from now"
        )


def _lower_headers(channel: str, headers: Mapping[str, str]) -> dict[str, str]:
    if not isinstance(headers, Mapping):
        raise _fail(channel, "malformed", "headers must be a mapping of names to values")
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise _fail(channel, "malformed", "header names and values must be text")
        key = name.strip().lower()
        if key in lowered and lowered[key] != value:
            raise _fail(channel, "malformed", "a header is given twice with different values")
        lowered[key] = value
    return lowered


def _header(request: PushRequest, name: str) -> str:
    value = request.headers.get(name)
    if value is None or not value.strip():
        raise _fail(request.channel, "missing", f"header {name!r} is missing")
    return value.strip()


def _json_object(channel: str, body: bytes, what: str = "the body") -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise _fail(channel, "malformed", f"{what} is not JSON") from None


def canonical_json(value: object) -> str:
    """Serialise business parameters as Douyin signs them: keys sorted, no spaces, UTF-8.

    Example:
        >>> canonical_json({"size": 20, "page": 0})
        '{"page":0,"size":20}'
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- the scheme protocol -----------------------------------------------------------------


class SigningScheme:
    """One channel's signing rules. Subclass it and :func:`register_scheme` an instance.

    Override :meth:`request_signature` (and list ``request_methods``) when the
    channel signs API calls, :meth:`request_time` when those calls carry a
    timestamp, and :meth:`push_check` when the channel signs pushes. The base
    class raises ``unknown_scheme`` for whatever the channel does not have.

    Attributes:
        channel: The channel name (lower snake case, as in ``Order.channel``).
        request_methods: The sign methods of API calls, default first.
        signature_param: The parameter that carries a request's signature.
    """

    channel: str = ""
    request_methods: tuple[str, ...] = ()
    signature_param: str = "sign"

    def signature_length(self, method: str) -> int:
        """How many hex digits a request signature made with ``method`` has."""
        return 64 if method == "hmac-sha256" else 32

    def request_method(self, params: Mapping[str, str], method: str | None) -> str:
        """The sign method to use: ``method``, else the request's own, else the default."""
        if not self.request_methods:
            raise _fail(self.channel, "unknown_scheme", "the channel has no request signature")
        chosen = method or self.request_methods[0]
        if chosen not in self.request_methods:
            raise _fail(self.channel, "unknown_scheme", f"no sign method {redact(chosen)!r}")
        return chosen

    def request_signature(self, params: Mapping[str, str], secret: Secret, method: str) -> str:
        """The signature of ``params`` (without their own ``sign``) under ``secret``."""
        raise _fail(self.channel, "unknown_scheme", "the channel has no request signature")

    def request_time(self, params: Mapping[str, str]) -> datetime | None:
        """The signed timestamp of a request, or None when the scheme has none."""
        return None

    def push_check(self, request: PushRequest) -> PushCheck:
        """Read the signature and what it covers from a push."""
        raise _fail(self.channel, "unknown_scheme", "the channel does not sign pushes")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(channel={self.channel!r})"


def _param(channel: str, params: Mapping[str, str], name: str) -> str:
    value = params.get(name)
    if value is None or value == "":
        raise _fail(channel, "missing", f"parameter {name!r} is missing")
    if not isinstance(value, str):
        raise _fail(channel, "malformed", f"parameter {name!r} is not text")
    return value


def _sorted_concat(
    channel: str, params: Mapping[str, str], *, exclude: Iterable[str], skip_empty: bool
) -> bytes:
    excluded = set(exclude)
    items = list(params.items())
    if not all(isinstance(n, str) and (v is None or isinstance(v, str)) for n, v in items):
        raise _fail(channel, "malformed", "parameter names and values must be text")
    parts = [
        name + value
        for name, value in sorted(items)
        if name not in excluded and value is not None and not (skip_empty and value == "")
    ]
    return _utf8(channel, "a parameter", "".join(parts))


class _SortedConcatScheme(SigningScheme):
    """``secret + sorted(name+value) + secret`` (md5) or an HMAC of the concatenation."""

    skip_empty: bool = True
    method_param: str | None = None
    epoch: str | None = None

    def request_method(self, params: Mapping[str, str], method: str | None) -> str:
        own = params.get(self.method_param) if self.method_param else None
        if method is not None and own not in (None, "") and own != method:
            raise _fail(
                self.channel, "malformed", f"method= disagrees with parameter {self.method_param!r}"
            )
        return super().request_method(params, method or own or None)

    def request_signature(self, params: Mapping[str, str], secret: Secret, method: str) -> str:
        concat = _sorted_concat(
            self.channel, params, exclude=(self.signature_param,), skip_empty=self.skip_empty
        )
        key = secret.reveal()
        if method == "md5":
            digest = _md5_hex(key + concat + key)
        elif method == "hmac":
            digest = _hmac_hex(key, concat, "md5")
        elif method == "hmac-sha256":
            digest = _hmac_hex(key, concat, "sha256")
        else:  # pragma: no cover - request_method() only lets listed methods through
            raise _fail(self.channel, "unknown_scheme", "unknown sign method")
        return digest.upper()

    def request_time(self, params: Mapping[str, str]) -> datetime | None:
        value = _param(self.channel, params, "timestamp")
        return _parse_time(self.channel, "parameter 'timestamp'", value, epoch=self.epoch)


class TaobaoScheme(_SortedConcatScheme):
    """Taobao TOP: sorted ``name+value`` (``sign`` and empty values left out), upper hex.

    ``md5`` wraps the concatenation in the secret; ``hmac`` is HMAC-MD5 and
    ``hmac-sha256`` HMAC-SHA256 keyed with it. The request's ``sign_method``
    picks the method when ``method=`` is not given.
    """

    channel = "taobao"
    request_methods = ("md5", "hmac", "hmac-sha256")
    method_param = "sign_method"
    epoch = "auto"


class JDScheme(_SortedConcatScheme):
    """JD JOS: md5 of ``secret + sorted(name+value) + secret``, empty values skipped, upper hex."""

    channel = "jd"
    request_methods = ("md5",)


class PinduoduoScheme(_SortedConcatScheme):
    """Pinduoduo: md5 of ``client_secret + sorted(name+value) + client_secret``, upper hex."""

    channel = "pdd"
    request_methods = ("md5",)
    skip_empty = False
    epoch = "s"


class DouyinScheme(SigningScheme):
    """Douyin doudian: API calls and ``event-sign`` pushes.

    Calls sign ``secret + "app_key"…"method"…"param_json"…"timestamp"…"v"… + secret``
    (HMAC-SHA256 keyed with the secret, or md5), lower-case hex. Pushes carry
    ``event-sign = md5_hex(app_key + body + secret)`` and ``app-id``.
    """

    channel = "douyin"
    request_methods = ("hmac-sha256", "md5")
    _SIGNED: ClassVar[tuple[str, ...]] = ("app_key", "method", "param_json", "timestamp", "v")

    def request_method(self, params: Mapping[str, str], method: str | None) -> str:
        own = params.get("sign_method")
        if method is not None and own not in (None, "") and own != method:
            raise _fail(self.channel, "malformed", "method= disagrees with 'sign_method'")
        return super().request_method(params, method or own or None)

    def request_signature(self, params: Mapping[str, str], secret: Secret, method: str) -> str:
        text = "".join(name + _param(self.channel, params, name) for name in self._SIGNED)
        key = secret.reveal()
        wrapped = key + _utf8(self.channel, "a parameter", text) + key
        if method == "md5":
            return _md5_hex(wrapped)
        return _hmac_hex(key, wrapped, "sha256")

    def request_time(self, params: Mapping[str, str]) -> datetime | None:
        value = _param(self.channel, params, "timestamp")
        return _parse_time(self.channel, "parameter 'timestamp'", value, epoch="s")

    def push_check(self, request: PushRequest) -> PushCheck:
        signature = _header(request, "event-sign")
        method = request.headers.get("sign-method", "md5").strip().lower() or "md5"
        if method != "md5":
            raise _fail(self.channel, "unknown_scheme", "only md5 event-sign pushes are known")
        _check_hex(self.channel, "header 'event-sign'", signature, 32)
        named = request.headers.get("app-id", "").strip() or None
        if named is not None:
            _utf8(self.channel, "header 'app-id'", named)
        body = request.body

        def expected(secret: Secret) -> str | None:
            if secret.app_key is not None and named is not None and named != secret.app_key:
                return None
            app_key = secret.app_key or named
            if app_key is None:
                return None
            return _md5_hex(app_key.encode("utf-8") + body + secret.reveal())

        if named is None and not request.app_key_known:
            raise _fail(self.channel, "missing", "header 'app-id' is missing")
        return PushCheck("douyin-event-sign", signature, expected, signed=body)


class YouzanScheme(SigningScheme):
    """Youzan pushes: ``Event-Sign`` header over the body, or the legacy in-body ``sign``.

    Both are ``md5_hex(client_id + X + client_secret)``: X is the raw body for
    ``Event-Sign`` and the still URL-encoded ``msg`` field for the legacy
    ``sign``. Youzan API calls are not signed (the access token is the credential).
    """

    channel = "youzan"

    def push_check(self, request: PushRequest) -> PushCheck:
        channel = self.channel
        header = request.headers.get("event-sign", "").strip()
        if header:
            _check_hex(channel, "header 'Event-Sign'", header, 32)
            body = request.body
            named = request.headers.get("client-id", "").strip() or None
            if named is None and not request.app_key_known:
                data = _json_object(channel, body)
                value = data.get("client_id") if isinstance(data, dict) else None
                if not isinstance(value, str) or not value:
                    raise _fail(
                        channel, "missing", "no client id: header 'Client-Id' or body 'client_id'"
                    )
                named = value
            if named is not None:
                _utf8(channel, "the client id", named)

            def expected_header(secret: Secret) -> str | None:
                if secret.app_key is not None and named is not None and named != secret.app_key:
                    return None
                client_id = secret.app_key or named
                if client_id is None:
                    return None
                return _md5_hex(client_id.encode("utf-8") + body + secret.reveal())

            return PushCheck("youzan-event-sign", header, expected_header, signed=body)
        data = _json_object(channel, request.body)
        if not isinstance(data, dict):
            raise _fail(channel, "malformed", "the body is not a JSON object")
        sign = data.get("sign")
        if sign is None or sign == "":
            raise _fail(channel, "missing", "neither header 'Event-Sign' nor body field 'sign'")
        msg, client = data.get("msg"), data.get("client_id")
        if not isinstance(sign, str):
            raise _fail(channel, "malformed", "body field 'sign' is not text")
        _check_hex(channel, "body field 'sign'", sign, 32)
        if msg is None or client is None or client == "":
            raise _fail(channel, "missing", "body fields 'msg' and 'client_id' are required")
        if not isinstance(msg, str) or not isinstance(client, str):
            raise _fail(channel, "malformed", "body fields 'msg' and 'client_id' must be text")
        signed = _utf8(channel, "body field 'msg'", msg)
        client_bytes = _utf8(channel, "body field 'client_id'", client)

        def expected_legacy(secret: Secret) -> str | None:
            if secret.app_key is not None and secret.app_key != client:
                return None
            return _md5_hex(client_bytes + signed + secret.reveal())

        return PushCheck("youzan-legacy-sign", sign, expected_legacy, signed=signed)


def _query(channel: str, request: PushRequest) -> tuple[str, list[tuple[str, str]]]:
    if request.url is None or not request.url.strip():
        raise _fail(channel, "missing", "the request URL (path and query) is required")
    try:
        parts = urlsplit(request.url.strip())
        pairs = parse_qsl(parts.query, keep_blank_values=True, errors="strict")
    except (ValueError, UnicodeDecodeError):
        raise _fail(channel, "malformed", "the request URL cannot be read") from None
    return parts.path, pairs


class WechatChannelsScheme(SigningScheme):
    """WeChat Channels pushes: ``signature`` (or ``msg_signature``) in the query string.

    Plain mode: ``sha1(join(sorted([token, timestamp, nonce])))``, which covers
    no part of the body. Safe mode adds the body's ``Encrypt`` to the sorted list
    and sends ``msg_signature``. The token is the secret.
    """

    channel = "wechat_channels"
    _ENCRYPT_XML: ClassVar[re.Pattern[bytes]] = re.compile(
        rb"<Encrypt>\s*(?:<!\[CDATA\[(.*?)\]\]>|([^<]*))\s*</Encrypt>", re.S
    )

    def _encrypt(self, body: bytes) -> str:
        stripped = body.lstrip()
        if stripped.startswith(b"<"):
            match = self._ENCRYPT_XML.search(body)
            value: object = None
            if match is not None:
                raw = match.group(1) if match.group(1) is not None else match.group(2)
                value = raw.decode("utf-8", "strict") if raw.isascii() else None
        else:
            data = _json_object(self.channel, body)
            value = data.get("Encrypt") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise _fail(self.channel, "missing", "the body has no 'Encrypt' field")
        return value

    def push_check(self, request: PushRequest) -> PushCheck:
        channel = self.channel
        _, pairs = _query(channel, request)
        query = dict(pairs)
        signed_keys = ("signature", "msg_signature", "timestamp", "nonce")
        if any(sum(k == key for k, _ in pairs) > 1 for key in signed_keys):
            raise _fail(channel, "malformed", "a signed query parameter is given twice")
        safe = "msg_signature" in query
        signature = query.get("msg_signature" if safe else "signature", "")
        if not signature:
            raise _fail(channel, "missing", "query parameter 'signature' is missing")
        _check_hex(channel, "the signature", signature, 40)
        timestamp_text, nonce = query.get("timestamp", ""), query.get("nonce", "")
        if not timestamp_text or not nonce:
            raise _fail(channel, "missing", "query parameters 'timestamp' and 'nonce' are required")
        timestamp = _parse_time(channel, "query parameter 'timestamp'", timestamp_text, epoch="s")
        extra = [self._encrypt(request.body)] if safe else []

        def expected(secret: Secret) -> str:
            try:
                token = secret.reveal().decode("utf-8")
            except UnicodeDecodeError:
                token = secret.reveal().decode("latin-1")
            joined = "".join(sorted([token, timestamp_text, nonce, *extra]))
            return hashlib.sha1(_utf8(channel, "a query parameter", joined)).hexdigest()

        signed = extra[0].encode("utf-8") if safe else b""
        scheme = "wechat-msg-signature" if safe else "wechat-signature"
        return PushCheck(scheme, signature, expected, timestamp, signed, body_signed=safe)


class XiaohongshuScheme(SigningScheme):
    """Xiaohongshu: API calls and pushes, both md5, lower-case hex.

    Calls sign ``method + "?appId=…&timestamp=…&version=…" + appSecret``. Pushes
    carry headers ``app-key``, ``timestamp`` and ``sign`` = md5 of the URL path,
    ``?``, the query parameters plus ``app-key`` and ``timestamp`` sorted and
    joined ``k=v`` with ``&``, and the secret. The body is not signed.
    """

    channel = "xiaohongshu"
    request_methods = ("md5",)

    def request_signature(self, params: Mapping[str, str], secret: Secret, method: str) -> str:
        c = self.channel
        text = (
            f"{_param(c, params, 'method')}?appId={_param(c, params, 'appId')}"
            f"&timestamp={_param(c, params, 'timestamp')}&version={_param(c, params, 'version')}"
        )
        return _md5_hex(_utf8(c, "a parameter", text) + secret.reveal())

    def request_time(self, params: Mapping[str, str]) -> datetime | None:
        value = _param(self.channel, params, "timestamp")
        return _parse_time(self.channel, "parameter 'timestamp'", value, epoch="s")

    def push_check(self, request: PushRequest) -> PushCheck:
        channel = self.channel
        signature = _header(request, "sign")
        app_key = _header(request, "app-key")
        timestamp_text = _header(request, "timestamp")
        _check_hex(channel, "header 'sign'", signature, 32)
        timestamp = _parse_time(channel, "header 'timestamp'", timestamp_text, epoch="s")
        path, pairs = _query(channel, request)
        pairs = [(k, v) for k, v in pairs if k not in ("app-key", "timestamp")]
        pairs += [("app-key", app_key), ("timestamp", timestamp_text)]
        text = path + "?" + "&".join(f"{k}={v}" for k, v in sorted(pairs))
        data = _utf8(channel, "the URL", text)

        def expected(secret: Secret) -> str | None:
            if secret.app_key is not None and secret.app_key != app_key:
                return None
            return _md5_hex(data + secret.reveal())

        return PushCheck("xiaohongshu-sign", signature, expected, timestamp, b"", False)


class _Base64HmacScheme(SigningScheme):
    header: str = ""
    scheme: str = ""

    def push_check(self, request: PushRequest) -> PushCheck:
        signature = _header(request, self.header)
        _check_b64(self.channel, f"header {self.header!r}", signature, 32)
        body = request.body
        return PushCheck(
            self.scheme,
            signature,
            lambda secret: _hmac_b64(secret.reveal(), body),
            signed=body,
            case_insensitive=False,
        )


class ShopifyScheme(_Base64HmacScheme):
    """Shopify webhooks: ``X-Shopify-Hmac-SHA256`` = base64(HMAC-SHA256(secret, body))."""

    channel = "shopify"
    header = "x-shopify-hmac-sha256"
    scheme = "shopify-hmac"


class WooCommerceScheme(_Base64HmacScheme):
    """WooCommerce webhooks: ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(secret, body))."""

    channel = "woocommerce"
    header = "x-wc-webhook-signature"
    scheme = "woocommerce-hmac"


#: The signing scheme of every channel ordercore knows, by channel name.
SCHEMES: dict[str, SigningScheme] = {}


def register_scheme(scheme: SigningScheme, *, replace: bool = False) -> SigningScheme:
    """Add a channel's scheme to :data:`SCHEMES` (a connector plugin calls this on import).

    Raises:
        ConfigurationError: The scheme has no channel name, or the channel has a
            scheme already and ``replace`` is false.
    """
    if not isinstance(scheme, SigningScheme):
        raise ConfigurationError("register_scheme() takes a SigningScheme instance")
    name = scheme.channel
    if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ConfigurationError("a scheme's channel must be a lower snake case name")
    if name in SCHEMES and not replace:
        raise ConfigurationError(f"channel {name!r} has a signing scheme already")
    SCHEMES[name] = scheme
    return scheme


for _scheme in (
    TaobaoScheme(),
    JDScheme(),
    PinduoduoScheme(),
    DouyinScheme(),
    YouzanScheme(),
    WechatChannelsScheme(),
    XiaohongshuScheme(),
    ShopifyScheme(),
    WooCommerceScheme(),
):
    register_scheme(_scheme)


def _scheme_for(channel: str) -> SigningScheme:
    if not isinstance(channel, str):
        raise _fail(str(type(channel).__name__), "unknown_scheme", "the channel must be text")
    scheme = SCHEMES.get(channel)
    if scheme is None:
        raise _fail(channel, "unknown_scheme", "no signing scheme is registered for the channel")
    return scheme


def _secrets(channel: str, secrets: Sequence[Secret]) -> list[Secret]:
    if isinstance(secrets, Secret):
        return [secrets]
    listed = list(secrets)
    if not listed or not all(isinstance(s, Secret) for s in listed):
        raise ConfigurationError(f"{channel}: pass one or more Secret objects")
    return listed


# -- the public functions ----------------------------------------------------------------


def sign_request(
    channel: str, params: Mapping[str, str], secret: Secret, *, method: str | None = None
) -> str:
    """Return the ``sign`` value of an API call to ``channel`` with ``params``.

    Args:
        channel: ``taobao``, ``jd``, ``pdd``, ``douyin``, ``xiaohongshu`` or a
            registered channel.
        params: Every parameter the call sends (a ``sign`` among them is ignored).
        secret: The app secret.
        method: The sign method (Taobao ``md5``/``hmac``/``hmac-sha256``, Douyin
            ``hmac-sha256``/``md5``); by default the request's ``sign_method``, else
            the scheme's first.

    Raises:
        SignatureError: ``unknown_scheme`` (no such channel or method, or the
            channel does not sign calls), ``missing`` (a parameter the scheme signs
            is absent) or ``malformed``.

    Example:
        >>> sign_request("pdd", {"type": "pdd.order.information.get", "client_id": "testclient",
        ...     "access_token": "testtoken", "timestamp": "1700000000", "data_type": "JSON",
        ...     "version": "V1", "order_sn": "180831-481803633911509"}, Secret("testsecret"))
        'D5E671E004892EAC8787D695C1C45218'
    """
    scheme = _scheme_for(channel)
    if not isinstance(secret, Secret):
        raise ConfigurationError(f"{channel}: the secret must be a Secret")
    if not isinstance(params, Mapping):
        raise _fail(channel, "malformed", "params must be a mapping of names to values")
    chosen = scheme.request_method(params, method)
    return scheme.request_signature(params, secret, chosen)


def verify_request(
    channel: str,
    params: Mapping[str, str],
    secrets: Sequence[Secret],
    *,
    method: str | None = None,
    now: datetime | None = None,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> VerifiedRequest:
    """Check the ``sign`` of a request a platform sent us, against any of ``secrets``.

    Raises:
        SignatureError: The reason says why; ``stale`` when the signature is right
            but the request's timestamp is more than ``tolerance`` from ``now``.
    """
    scheme = _scheme_for(channel)
    listed = _secrets(channel, secrets)
    if not isinstance(params, Mapping):
        raise _fail(channel, "malformed", "params must be a mapping of names to values")
    received = params.get(scheme.signature_param)
    if received is None or received == "":
        raise _fail(channel, "missing", f"parameter {scheme.signature_param!r} is missing")
    if not isinstance(received, str):
        raise _fail(channel, "malformed", f"parameter {scheme.signature_param!r} is not text")
    chosen = scheme.request_method(params, method)
    _check_hex(
        channel, f"parameter {scheme.signature_param!r}", received, scheme.signature_length(chosen)
    )
    timestamp = scheme.request_time(params)
    given = received.lower().encode("ascii")
    matched = _first_match(
        given, (scheme.request_signature(params, s, chosen).lower() for s in listed)
    )
    if matched is None:
        raise _fail(channel, "mismatch", f"the signature matches none of the {len(listed)} secrets")
    _fresh(channel, timestamp, now, tolerance)
    return VerifiedRequest(channel, chosen, matched, timestamp)


def _first_match(given: bytes, candidates: Iterable[str | None]) -> int | None:
    """Index of the first candidate equal to ``given`` (every candidate is compared)."""
    found: int | None = None
    for index, candidate in enumerate(candidates):
        if candidate is None:
            continue
        if hmac.compare_digest(given, candidate.encode("ascii")) and found is None:
            found = index
    return found


def verify_push(
    channel: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[Secret],
    *,
    url: str | None = None,
    now: datetime | None = None,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> VerifiedPush:
    """Check a pushed message's signature against any of ``secrets`` (rotation).

    Args:
        channel: ``douyin``, ``youzan``, ``wechat_channels``, ``xiaohongshu``,
            ``shopify``, ``woocommerce`` or a registered channel.
        headers: The request headers; names are matched ignoring case.
        body: The raw body, exactly as received (never a re-serialised copy).
        secrets: The secrets to try, newest first; any one matching accepts.
        url: The request target (path and query, or the full URL), for schemes
            that sign it (WeChat Channels, Xiaohongshu).
        now: The time to check signed timestamps against (default: the clock).
        tolerance: How far a signed timestamp may be from ``now``, either way.

    Raises:
        SignatureError: The reason says why. Nothing else escapes for any headers
            or body.
    """
    scheme = _scheme_for(channel)
    listed = _secrets(channel, secrets)
    lowered = _lower_headers(channel, headers)
    raw: object = body
    if isinstance(raw, bytearray | memoryview):
        raw = bytes(raw)
    if not isinstance(raw, bytes):
        raise _fail(channel, "malformed", "the body must be bytes, exactly as received")
    target: object = url
    if target is not None and not isinstance(target, str):
        raise _fail(channel, "malformed", "the URL must be text")
    known = any(s.app_key for s in listed)
    check = scheme.push_check(PushRequest(channel, lowered, raw, url, known))
    signature = check.signature
    if not signature.isascii():
        raise _fail(channel, "malformed", "the signature is not ASCII")
    if check.case_insensitive:
        given = signature.lower().encode("ascii")
        candidates = (_lower_or_none(check.expected(s)) for s in listed)
    else:
        given = signature.encode("ascii")
        candidates = (check.expected(s) for s in listed)
    matched = _first_match(given, candidates)
    if matched is None:
        raise _fail(channel, "mismatch", f"the signature matches none of the {len(listed)} secrets")
    _fresh(channel, check.timestamp, now, tolerance)
    return VerifiedPush(
        channel, check.scheme, matched, check.timestamp, check.signed, check.body_signed
    )


def _lower_or_none(value: str | None) -> str | None:
    return None if value is None else value.lower()
