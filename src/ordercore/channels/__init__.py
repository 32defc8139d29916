"""Channels: what ordercore knows about each sales platform's wire protocol.

So far, signing: :func:`sign_request` signs an API call the way the platform
checks it, :func:`verify_request` and :func:`verify_push` check what a platform
sends us against one or more :class:`Secret` values (so secrets can rotate).
Every platform's rules are a :class:`SigningScheme` in :data:`SCHEMES`; a
connector adds its own with :func:`register_scheme`. Failures raise
:class:`SignatureError` with a ``reason`` and never show a secret, a signature
or a body. See ``docs/guides/channels-signing.md``.

Example:
    >>> from ordercore.channels import Secret, verify_push
    >>> body = b'{"id":727,"status":"processing"}'
    >>> headers = {"X-WC-Webhook-Signature": "xqMnJTjHw7H8Td+BQnmCqsVmZO5N8EkSnExG0z9BtzY="}
    >>> verify_push("woocommerce", headers, body, [Secret("testsecret")]).secret_index
    0
"""

from __future__ import annotations

from ordercore.channels._signing import (
    DEFAULT_TOLERANCE,
    REASONS,
    SCHEMES,
    PushCheck,
    PushRequest,
    Secret,
    SignatureError,
    SigningScheme,
    VerifiedPush,
    VerifiedRequest,
    canonical_json,
    register_scheme,
    sign_request,
    verify_push,
    verify_request,
)

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
