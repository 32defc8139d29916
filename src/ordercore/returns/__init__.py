"""Returns: checking what customers send back, starting with their photos.

:func:`load_photo` is the one way a return photo is read: it accepts JPEG, PNG
and WebP only, caps bytes and pixels before decoding, refuses truncated or broken
files with a :class:`PhotoRejected` naming the reason, and gives upright 8-bit RGB.

Example:
    >>> from ordercore.returns import PhotoRejected, load_photo
    >>> try:
    ...     load_photo(b"GIF89a...")
    ... except PhotoRejected as error:
    ...     error.reason
    'unsupported_format'
"""

from __future__ import annotations

from ordercore.returns._photos import (
    DEFAULT_LIMITS,
    REJECTION_REASONS,
    Photo,
    PhotoLimits,
    PhotoRejected,
    RejectionReason,
    load_photo,
)

__all__ = [
    "DEFAULT_LIMITS",
    "Photo",
    "PhotoLimits",
    "PhotoRejected",
    "REJECTION_REASONS",
    "RejectionReason",
    "load_photo",
]
