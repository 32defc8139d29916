"""Robot webhooks over httpx: bounded retries, and secrets kept out of every message."""

from __future__ import annotations

import email.utils
import json
import logging
import math
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, NoReturn
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit, urlunsplit

import httpx
import tenacity

from ordercore.errors import ConfigurationError, NotifyError
from ordercore.notify._protocol import Notification
from ordercore.pii import redact

logger = logging.getLogger("ordercore.notify")

#: At most this much of a reply is read; robot replies are a few dozen bytes.
_MAX_REPLY_BYTES: Final = 64 * 1024
#: An attempt is not started with less time than this left in the budget.
_MIN_ATTEMPT_SECONDS: Final = 0.05
_BADGES: Final[Mapping[str, str]] = {"info": "", "warning": "[WARNING] ", "critical": "[CRITICAL] "}


def _positive(name: str, value: object, *, allow_zero: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not allow_zero)
    ):
        bound = "zero or more" if allow_zero else "more than zero"
        raise ConfigurationError(f"RetryPolicy.{name} must be a finite number {bound}")
    return float(value)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a webhook notifier retries: bounded in attempts and in total time.

    Retried: connection failures, timeouts, HTTP 5xx, HTTP 429 and the
    platform's "busy" or rate-limit error codes. Never retried: any other HTTP
    4xx, and a platform's refusal (a wrong signature, an unknown token, a bad
    message). Waits grow from ``backoff`` (doubling, with jitter, at most
    ``max_backoff``); a ``Retry-After`` header is honoured up to
    ``retry_after_cap`` seconds. No attempt starts when the wait before it
    would leave the ``total_seconds`` budget, and each request's timeout is cut
    to what is left of it, so :meth:`notify` returns or raises within about
    ``total_seconds``.

    Attributes:
        attempts: Requests made at most (1 means no retry).
        total_seconds: The time budget for all attempts and waits together.
        timeout: The timeout of one request, in seconds.
        backoff: The first wait between attempts, in seconds.
        max_backoff: The longest wait between attempts, in seconds.
        retry_after_cap: The longest wait a ``Retry-After`` header may ask for.
        resend_when_unsure: Whether to resend after a failure that may have
            come after the platform received the message (a read timeout, a
            dropped connection): a duplicate alert is usually better than a lost
            one. With ``False`` only failures that surely sent nothing (cannot
            connect, 429, 5xx, rate-limit codes) are retried.

    Raises:
        ConfigurationError: a value is not a finite positive number.

    Example:
        >>> RetryPolicy(attempts=5, total_seconds=30.0).attempts
        5
    """

    attempts: int = 3
    total_seconds: float = 10.0
    timeout: float = 5.0
    backoff: float = 0.5
    max_backoff: float = 4.0
    retry_after_cap: float = 5.0
    resend_when_unsure: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise ConfigurationError("RetryPolicy.attempts must be an int of 1 or more")
        if self.attempts < 1:
            raise ConfigurationError("RetryPolicy.attempts must be an int of 1 or more")
        _positive("total_seconds", self.total_seconds)
        _positive("timeout", self.timeout)
        _positive("backoff", self.backoff, allow_zero=True)
        _positive("max_backoff", self.max_backoff, allow_zero=True)
        _positive("retry_after_cap", self.retry_after_cap, allow_zero=True)
        if not isinstance(self.resend_when_unsure, bool):
            raise ConfigurationError("RetryPolicy.resend_when_unsure must be a bool")


class _TryAgain(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(
        self,
        reason: str,
        *,
        status: str | None = None,
        retry_after: float | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason, self.status, self.retry_after, self.cause = reason, status, retry_after, cause


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class SecretMask:
    """Replaces known secret values (and their URL-encoded forms) with ``***``."""

    __slots__ = ("_values",)

    def __init__(self, secrets: Iterable[str | None]) -> None:
        values: set[str] = set()
        for secret in secrets:
            if secret:
                values.update({secret, quote(secret, safe=""), quote_plus(secret)})
        # Longest first, so a secret containing another is replaced whole.
        self._values = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self._values:
            text = text.replace(value, "***")
        return text

    def __repr__(self) -> str:
        return f"SecretMask(<{len(self._values)} values>)"


def split_robot_url(
    url: str,
    *,
    scheme: str,
    default_endpoint: str,
    known: Iterable[str],
) -> tuple[str, dict[str, str]]:
    """Split ``scheme://?a=b`` or ``scheme+https://host/path?a=b`` into endpoint and query.

    Raises:
        ConfigurationError: the URL is malformed or has an unknown parameter; the
            message names the parameter, never its value or the URL.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"a {scheme} URL must be a string, got {type(url).__name__}")
    # The registry chose this notifier by the scheme (or an alias of it); only the part
    # after '+', the webhook's own scheme, is read here.
    given, sep, rest = url.partition("://")
    if not sep:
        raise ConfigurationError(f"a {scheme} URL starts with {scheme}:// or {scheme}+https://")
    _, plus, transport = given.lower().partition("+")
    parts = urlsplit(f"https://{rest}")
    if parts.fragment:
        raise ConfigurationError(f"a {scheme} URL has no #fragment")
    if plus:
        if transport not in {"http", "https"}:
            raise ConfigurationError(
                f"a {scheme}+ URL names the webhook's own scheme after '+', http or https"
            )
        if not parts.netloc:
            raise ConfigurationError(f"a {scheme}+{transport} URL needs a host")
        endpoint = urlunsplit((transport, parts.netloc, parts.path or "/", "", ""))
    else:
        if parts.netloc or parts.path not in {"", "/"}:
            raise ConfigurationError(
                f"a {scheme}:// URL has no host or path; to send elsewhere write the "
                f"webhook's address as {scheme}+https://host/path?..."
            )
        endpoint = default_endpoint
    query: dict[str, str] = {}
    allowed = set(known)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in allowed:
            names = ", ".join(sorted(allowed))
            raise ConfigurationError(
                f"a {scheme} URL has the unknown parameter {redact(key, limit=32)!r} "
                f"(known: {names})"
            )
        if key in query:
            raise ConfigurationError(f"a {scheme} URL gives {key} twice")
        query[key] = value
    return endpoint, query


def badge(message: Notification) -> str:
    """The level tag a chat message starts with (none for ``info``)."""
    return _BADGES[message.level]


def markdown_content(message: Notification, mention_tokens: Iterable[str] = ()) -> str:
    """The Markdown a robot posts: a heading, the text, the orders and the @-mentions."""
    blocks = [f"#### {badge(message)}{message.title}"]
    if message.text:
        blocks.append(message.text)
    if message.order_ids:
        blocks.append(f"> Orders: {', '.join(message.order_ids)}")
    tokens = " ".join(mention_tokens)
    if tokens:
        blocks.append(tokens)
    return "\n\n".join(blocks)


def plain_content(message: Notification, mention_tokens: Iterable[str] = ()) -> str:
    """The plain text a robot posts for a ``text`` message."""
    lines = [f"{badge(message)}{message.title}"]
    if message.text:
        lines.append(message.text)
    if message.order_ids:
        lines.append(f"Orders: {', '.join(message.order_ids)}")
    tokens = " ".join(mention_tokens)
    if tokens:
        lines.append(tokens)
    return "\n".join(lines)


def cut_utf8(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes, ending with ``…`` when cut."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    ellipsis = "…"
    room = limit - len(ellipsis.encode("utf-8"))
    return encoded[:room].decode("utf-8", errors="ignore") + ellipsis


class WebhookNotifier(ABC):
    """The shared part of the robot notifiers: one JSON POST, retried within a budget.

    Subclasses set :attr:`name`, :attr:`retry_errcodes` and :attr:`hints`, and
    implement :meth:`body` and :meth:`request_url`.
    """

    name: ClassVar[str] = "webhook"
    #: Error codes in a reply that mean "busy or rate limited: try again".
    retry_errcodes: ClassVar[frozenset[int]] = frozenset()
    #: What a refusal's error code means, for the error message.
    hints: ClassVar[Mapping[int, str]] = {}

    def __init__(
        self,
        endpoint: str,
        *,
        secrets: Iterable[str | None],
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        if transport is not None and not isinstance(transport, httpx.BaseTransport):
            raise ConfigurationError(
                f"transport must be an httpx.BaseTransport, got {type(transport).__name__}"
            )
        self._endpoint = endpoint
        self._mask = SecretMask(secrets)
        self._retry = retry if retry is not None else RetryPolicy()
        self._own_transport = transport is None
        # The transport is used directly rather than through httpx.Client, whose
        # request log line (logger "httpx", INFO) would carry the full URL, token included.
        self._transport = transport if transport is not None else httpx.HTTPTransport()
        self._sleep = sleep
        self._monotonic = monotonic
        self._closed = False

    @property
    def endpoint(self) -> str:
        """The webhook's address without its query (no token in it)."""
        return self._endpoint

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy in force."""
        return self._retry

    @abstractmethod
    def body(self, message: Notification) -> dict[str, Any]:
        """The JSON body posted for ``message``."""

    @abstractmethod
    def request_url(self) -> str:
        """The URL of one attempt, credentials included (never logged)."""

    def notify(self, message: Notification) -> None:
        """Post ``message`` to the robot, retrying as the :class:`RetryPolicy` says.

        Raises:
            NotifyError: the platform refused the message (``status`` is its
                ``errcode`` or the HTTP status), or it could not be delivered
                within the attempts and the time budget. The message never holds
                the token, key or secret.
        """
        if not isinstance(message, Notification):
            raise ConfigurationError(
                f"{self.name}.notify() takes a Notification, got {type(message).__name__}"
            )
        if self._closed:
            raise NotifyError(f"the {self.name} notifier is closed", notifier=self.name)
        content = json.dumps(self.body(message), ensure_ascii=False).encode("utf-8")
        self._deliver(content)

    def close(self) -> None:
        """Close the connections this notifier opened (not a transport passed in)."""
        if not self._closed:
            self._closed = True
            if self._own_transport:
                self._transport.close()

    def __enter__(self) -> WebhookNotifier:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- delivery ------------------------------------------------------------------------

    def _deliver(self, content: bytes) -> None:
        policy = self._retry
        started = self._monotonic()
        deadline = started + policy.total_seconds
        planned: dict[int, float] = {}

        def wait_for(state: tenacity.RetryCallState) -> float:
            number = state.attempt_number
            if number not in planned:
                planned[number] = self._wait_after(state, number)
            return planned[number]

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= policy.attempts:
                return True
            left = deadline - self._monotonic()
            return wait_for(state) + _MIN_ATTEMPT_SECONDS >= left

        def before_sleep(state: tenacity.RetryCallState) -> None:
            failure = self._failure(state)
            logger.warning(
                "%s notification attempt %d of %d failed (%s); retrying in %.2f s",
                self.name,
                state.attempt_number,
                policy.attempts,
                failure.reason if failure is not None else "unknown",
                wait_for(state),
            )

        retrying = tenacity.Retrying(
            stop=stop,
            wait=wait_for,
            retry=tenacity.retry_if_exception_type(_TryAgain),
            before_sleep=before_sleep,
            sleep=self._sleep,
            reraise=True,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    self._attempt(content, deadline)
        except _TryAgain as last:
            elapsed = self._monotonic() - started
            raise NotifyError(
                f"{self.name} could not deliver the notification: {last.reason}; gave up after "
                f"{attempts} attempt{'s' if attempts != 1 else ''} in {elapsed:.1f} s (at most "
                f"{policy.attempts} attempts within {policy.total_seconds:g} s)",
                notifier=self.name,
                status=last.status,
            ) from last.cause

    def _failure(self, state: tenacity.RetryCallState) -> _TryAgain | None:
        outcome = state.outcome
        failure = outcome.exception() if outcome is not None else None
        return failure if isinstance(failure, _TryAgain) else None

    def _wait_after(self, state: tenacity.RetryCallState, number: int) -> float:
        policy = self._retry
        failure = self._failure(state)
        if failure is not None and failure.retry_after is not None:
            return min(failure.retry_after, policy.retry_after_cap)
        wait = min(policy.backoff * 2.0 ** (number - 1), policy.max_backoff)
        return wait / 2 + random.uniform(0, wait / 2)  # equal jitter: spread out retries

    def _attempt(self, content: bytes, deadline: float) -> None:
        policy = self._retry
        timeout = max(_MIN_ATTEMPT_SECONDS, min(policy.timeout, deadline - self._monotonic()))
        request = httpx.Request(
            "POST",
            self.request_url(),
            content=content,
            headers={"Content-Type": "application/json; charset=utf-8"},
            extensions={"timeout": httpx.Timeout(timeout).as_dict()},
        )
        try:
            response = self._transport.handle_request(request)
            try:
                reply = self._read(response)
            finally:
                response.close()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise _TryAgain(f"could not connect ({type(exc).__name__})", cause=exc) from None
        except httpx.TransportError as exc:
            reason = (
                "timed out waiting for the reply"
                if isinstance(exc, httpx.TimeoutException)
                else f"the connection failed ({type(exc).__name__})"
            )
            if policy.resend_when_unsure:
                raise _TryAgain(reason, cause=exc) from None
            raise NotifyError(
                f"{self.name} may not have received the notification: {reason}; not resent, "
                "since it may have arrived (RetryPolicy.resend_when_unsure is off)",
                notifier=self.name,
            ) from exc
        self._check(response, reply)

    def _read(self, response: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > _MAX_REPLY_BYTES:
                break
        return b"".join(chunks)[:_MAX_REPLY_BYTES]

    def _check(self, response: httpx.Response, reply: bytes) -> None:
        status = response.status_code
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise _TryAgain(f"HTTP {status}", status=str(status), retry_after=retry_after)
        if not 200 <= status < 300:
            self._refuse(f"{self.name} refused the notification with HTTP {status}", str(status))
        try:
            answer = json.loads(reply)
        except ValueError:
            answer = None
        errcode = answer.get("errcode") if isinstance(answer, dict) else None
        if isinstance(errcode, bool) or not isinstance(errcode, int):
            self._refuse(
                f"{self.name} answered HTTP {status} without its JSON reply "
                '({"errcode": ..., "errmsg": ...}); is the webhook address right?',
                str(status),
            )
        if errcode == 0:
            return
        assert isinstance(answer, dict)
        errmsg = redact(self._mask(str(answer.get("errmsg", ""))), limit=160)
        if errcode in self.retry_errcodes:
            raise _TryAgain(
                f"errcode {errcode} ({errmsg}): {self.hints.get(errcode, 'busy; try again')}",
                status=str(errcode),
            )
        hint = self.hints.get(errcode)
        self._refuse(
            f"{self.name} refused the notification: errcode {errcode} ({errmsg})"
            + (f": {hint}" if hint else ""),
            str(errcode),
        )

    def _refuse(self, message: str, status: str) -> NoReturn:
        raise NotifyError(self._mask(message), notifier=self.name, status=status)
