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

import base64
import os
import threading
import time
from typing import Final

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


_FROM_RFC4648: Final = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET)


def _encode(value: int) -> str:
    # 26 base32 digits are 130 bits; base64.b32encode works on 160 (20 bytes -> 32
    # digits), so encode with 30 leading zero bits and keep the last 26 digits.
    digits = base64.b32encode(value.to_bytes(20, "big")).decode("ascii")[6:]
    return digits.translate(_FROM_RFC4648)


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
    """Return the creation time (epoch milliseconds) encoded in a ULID."""
    if not is_valid_id(value):
        raise ValueError(f"not a ULID: {value!r}")
    number = 0
    for char in value[:10]:
        number = number * 32 + _DECODE[char]
    return number
