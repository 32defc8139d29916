"""ordercore's own ids: ULIDs, sortable by creation time.

A ULID is 26 Crockford base32 characters: 48 bits of milliseconds since the
epoch, then 80 random bits. Ids made in the same millisecond by one process
are strictly increasing, so sorting ids sorts by creation.

Example:
    >>> a, b = new_id(), new_id()
    >>> len(a), a < b
    (26, True)
"""

from __future__ import annotations

import os
import threading
import time
from typing import Final

from ordercore.errors import IdError
from ordercore.pii import safe_repr

__all__ = ["id_time_ms", "is_valid_id", "new_id"]

_ALPHABET: Final = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE: Final = {c: i for i, c in enumerate(_ALPHABET)}
_RANDOM_MAX: Final = (1 << 80) - 1

_lock = threading.Lock()
_last_ms = -1
_last_random = 0


def _forget_last_id() -> None:
    """Start a forked child afresh, so it cannot repeat the ids its parent makes next."""
    global _lock, _last_ms, _last_random
    _lock = threading.Lock()
    _last_ms, _last_random = -1, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_last_id)


#: Every pair of base32 digits, indexed by the 10 bits they encode.
_PAIRS: Final = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_SHIFTS: Final = tuple(range(120, -1, -10))  # 13 ten-bit groups = 26 digits = 130 bits


def _encode(value: int) -> str:
    pairs = _PAIRS
    return "".join([pairs[(value >> shift) & 1023] for shift in _SHIFTS])


def new_id() -> str:
    """Return a new ULID string, strictly greater than the previous one from this process."""
    global _last_ms, _last_random
    with _lock:
        now = time.time_ns() // 1_000_000
        if now <= _last_ms:
            now = _last_ms
            random_part = _last_random + 1
            if random_part > _RANDOM_MAX:  # 2^80 ids in one ms: move to the next ms
                now += 1
                random_part = int.from_bytes(os.urandom(10), "big") >> 1
        else:
            random_part = int.from_bytes(os.urandom(10), "big") >> 1
        _last_ms, _last_random = now, random_part
    return _encode((now << 80) | random_part)


def is_valid_id(value: object) -> bool:
    """Return whether ``value`` is a well-formed ULID string."""
    return (
        isinstance(value, str)
        and len(value) == 26
        and value[0] in "01234567"
        and all(c in _DECODE for c in value)
    )


def id_time_ms(value: str) -> int:
    """Return the creation time (epoch milliseconds) encoded in a ULID.

    Raises:
        IdError: ``value`` is not a well-formed ULID string.
    """
    if not is_valid_id(value):
        if isinstance(value, str):
            shown = safe_repr(value, limit=32)
            raise IdError(f"not a ULID (26 Crockford base32 characters): {shown}")
        raise IdError(f"not a ULID: expected a str, got {type(value).__name__}")
    number = 0
    for char in value[:10]:
        number = number * 32 + _DECODE[char]
    return number
