"""Hardened loading of return photos: allow-listed formats, byte and pixel caps, full decodes.

Every photo a customer uploads goes through :func:`load_photo` before anything
else looks at it. The checks run cheapest first, so a hostile file is turned away
before it costs memory or time:

1. the byte count, against :attr:`PhotoLimits.max_bytes`, before the input is read
   whole (a stream is read at most ``max_bytes + 1`` bytes);
2. the magic bytes: JPEG, PNG or WebP, before any Pillow decoder runs (Pillow is
   also told to try only the one format the signature names);
3. the width and height the header declares, against
   :attr:`PhotoLimits.max_pixels`, before the pixels are decoded; Pillow's own
   process-wide ``Image.MAX_IMAGE_PIXELS`` is left as it is;
4. a full decode: a truncated or broken file is rejected, never padded with grey.

Then the EXIF orientation is applied and the pixels become 8-bit RGB.
"""

from __future__ import annotations

import io
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import IO, Final, Literal, TypeAlias, cast

import attrs
from PIL import Image

from ordercore.errors import PHOTO_REASONS, ConfigurationError, PhotoRejected

__all__ = [
    "DEFAULT_LIMITS",
    "REJECTION_REASONS",
    "Photo",
    "PhotoLimits",
    "PhotoRejected",
    "RejectionReason",
    "load_photo",
]

RejectionReason: TypeAlias = Literal[
    "unsupported_format", "empty", "too_large", "too_many_pixels", "truncated", "corrupt"
]
#: Every value :attr:`PhotoRejected.reason` can take (the error's own list).
REJECTION_REASONS: Final[tuple[RejectionReason, ...]] = cast(
    "tuple[RejectionReason, ...]", PHOTO_REASONS
)

PhotoInput: TypeAlias = "bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]"

_CHUNK: Final = 1 << 20
_ACCEPTED: Final = "JPEG, PNG or WebP"


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(
            f"PhotoLimits.{attribute.name} must be a positive integer, not {value!r}"
        )


@attrs.frozen
class PhotoLimits:
    """How big a photo :func:`load_photo` accepts.

    Attributes:
        max_bytes: The largest file, in bytes (default 20 MB). Larger input is
            refused after reading at most ``max_bytes + 1`` bytes of it.
        max_pixels: The most pixels (width x height) the header may declare
            (default 40 million, a 7,700 x 5,200 photo). Checked before decoding.
            Decoding takes about 4 bytes per pixel, two to three times that while
            rotating, converting or flattening, so this cap also bounds memory.
    """

    max_bytes: int = attrs.field(default=20_000_000, validator=_positive)
    max_pixels: int = attrs.field(default=40_000_000, validator=_positive)


#: The limits :func:`load_photo` uses unless given others.
DEFAULT_LIMITS: Final = PhotoLimits()


@attrs.frozen(eq=False)
class Photo:
    """A photo that passed every check, as 8-bit RGB.

    Attributes:
        image: The pixels, a Pillow image of mode ``"RGB"``, upright.
        format: ``"JPEG"``, ``"PNG"`` or ``"WEBP"``, from the file's signature.
        original_size: (width, height) as the file's header declares them, before
            the EXIF orientation was applied and before any reduction to ``target``.
        size: (width, height) of :attr:`image`.
        decoded_size: (width, height) the pixels were decoded at, in the file's own
            orientation: ``original_size`` unless JPEG draft decoding for a
            ``target`` decoded at 1/2, 1/4 or 1/8 scale.
        orientation_applied: The EXIF orientation (1-8) that was applied; 1 when the
            photo had none or it said "upright".
        mode_converted_from: The Pillow mode the file decoded to (``"CMYK"``,
            ``"I;16"``, ``"RGBA"``, ``"P"``, ...) when its pixels were converted
            (an ``"RGB"`` PNG with a transparent colour is flattened too); None when
            they were already opaque 8-bit RGB.
        bytes: The size of the file in bytes.
    """

    image: Image.Image
    format: str
    original_size: tuple[int, int]
    size: tuple[int, int]
    decoded_size: tuple[int, int]
    orientation_applied: int
    mode_converted_from: str | None
    bytes: int


# -- reading ---------------------------------------------------------------------


def _too_large(limit: int, size: int | None = None) -> PhotoRejected:
    what = f"photo is larger than {limit:,} bytes" if size is None else f"photo is {size:,} bytes"
    return PhotoRejected(
        f"{what}; the limit is {limit:,} bytes (PhotoLimits.max_bytes)", reason="too_large"
    )


def _read_stream(stream: IO[bytes], limit: int) -> bytes:
    """Read until end of stream or ``limit + 1`` bytes, whichever comes first."""
    parts: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = stream.read(min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise TypeError(f"load_photo needs a binary stream, and read() gave {type(chunk)}")
        parts.append(bytes(chunk))
        total += len(chunk)
    if total > limit:
        raise _too_large(limit)
    return b"".join(parts)


def _read(data: object, limit: int) -> bytes:
    if isinstance(data, bytes | bytearray | memoryview):
        size = memoryview(data).nbytes
        if size > limit:
            raise _too_large(limit, size)
        return bytes(data)
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        size = path.stat().st_size
        if size > limit:
            raise _too_large(limit, size)
        with path.open("rb") as file:
            return _read_stream(file, limit)
    if callable(getattr(data, "read", None)):
        return _read_stream(data, limit)  # type: ignore[arg-type]
    raise TypeError(f"load_photo takes bytes, a path or a binary stream, not {type(data).__name__}")


# -- signatures ------------------------------------------------------------------


def _sniff(data: bytes) -> str | None:
    """The accepted format the signature names, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    return None


_OTHER_SIGNATURES: Final[tuple[tuple[Callable[[bytes], bool], str], ...]] = (
    (lambda d: d[:6] in (b"GIF87a", b"GIF89a"), "a GIF"),
    (lambda d: d[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"), "a TIFF"),
    (lambda d: d[:2] == b"BM", "a BMP"),
    (lambda d: d[:4] in (b"\x00\x00\x01\x00", b"\x00\x00\x02\x00"), "an ICO/CUR"),
    (lambda d: d[:5] == b"%PDF-", "a PDF"),
    (lambda d: d[:4] in (b"%!PS", b"\xc5\xd0\xd3\xc6"), "a PostScript/EPS"),
    (lambda d: d[4:8] == b"ftyp" and d[8:12] in (b"heic", b"heix", b"mif1", b"heim"), "a HEIC"),
    (lambda d: d[4:8] == b"ftyp" and d[8:12] in (b"avif", b"avis"), "an AVIF"),
    (lambda d: d[:4] == b"RIFF", "a RIFF (not WebP)"),
    (lambda d: d[4:8] == b"jP  " or d[:4] == b"\xff\x4f\xff\x51", "a JPEG 2000"),
    (lambda d: d[:3] == b"\xef\xbb\xbf" or d.lstrip()[:1] == b"<", "a text (SVG, HTML or XML)"),
)


def _describe_other(data: bytes) -> str:
    head = data[:64]
    for test, name in _OTHER_SIGNATURES:
        if test(head):
            return f"photo is {name} file"
    return "photo does not start with a known image signature (its bytes are not shown)"


# -- declared size ---------------------------------------------------------------

#: JPEG start-of-frame markers (every SOFn except DHT C4, JPG C8 and DAC CC).
_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    at = 2
    end = len(data)
    while at + 4 <= end:
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in _SOF:
            if at + 9 > end:
                return None
            height, width = struct.unpack(">HH", data[at + 5 : at + 9])
            return width, height
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header first
            return None
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            at += 2
            continue
        (length,) = struct.unpack(">H", data[at + 2 : at + 4])
        at += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8X" and len(data) >= 30:
        return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _declared_size(fmt: str, data: bytes) -> tuple[int, int] | None:
    """(width, height) from the file's header, read without Pillow; None if not found.

    Pillow's own reading of the header is checked against the cap too, so None only
    means that this early check is skipped.
    """
    if fmt == "PNG":
        if data[12:16] != b"IHDR" or len(data) < 24:
            return None
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    if fmt == "JPEG":
        return _jpeg_size(data)
    return _webp_size(data)


# -- truncation ------------------------------------------------------------------


_PNG_END: Final = b"\x00\x00\x00\x00IEND\xaeB`\x82"


def _looks_cut(fmt: str, data: bytes) -> bool:
    """Whether the file ends before its container says it does (used once a decode failed)."""
    if fmt == "JPEG":
        return not data.rstrip(b"\x00").endswith(b"\xff\xd9")
    if fmt == "PNG":
        return _PNG_END not in data
    declared = int.from_bytes(data[4:8], "little") + 8
    return len(data) < declared


def _decode_failure(fmt: str, data: bytes, error: BaseException) -> PhotoRejected:
    text = str(error).lower()
    cut = isinstance(error, EOFError) or "truncat" in text or _looks_cut(fmt, data)
    if cut:
        return PhotoRejected(
            f"photo is a truncated {fmt} file ({len(data):,} bytes): the file ends before its "
            "image data does",
            reason="truncated",
        )
    return PhotoRejected(
        f"photo is a {fmt} file ({len(data):,} bytes) that cannot be decoded "
        f"({type(error).__name__})",
        reason="corrupt",
    )


# -- pixels ----------------------------------------------------------------------

_TRANSPOSE: Final[dict[int, list[Image.Transpose]]] = {
    # The same table as PIL.ImageOps.exif_transpose.
    2: [Image.Transpose.FLIP_LEFT_RIGHT],
    3: [Image.Transpose.ROTATE_180],
    4: [Image.Transpose.FLIP_TOP_BOTTOM],
    5: [Image.Transpose.TRANSPOSE],
    6: [Image.Transpose.ROTATE_270],
    7: [Image.Transpose.TRANSVERSE],
    8: [Image.Transpose.ROTATE_90],
}
_EXIF_ORIENTATION: Final = 0x0112


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag, 1 when absent, unreadable or out of range."""
    try:
        value = image.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block is no reason to refuse a photo
        return 1
    return value if isinstance(value, int) and value in _TRANSPOSE else 1


def _flatten_on_white(image: Image.Image) -> Image.Image:
    rgba = image.convert("RGBA")
    white = Image.new("RGB", rgba.size, (255, 255, 255))
    white.paste(rgba, mask=rgba.getchannel("A"))
    return white


def _to_rgb(image: Image.Image) -> Image.Image:
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode.startswith("I;16") or mode == "I":
        # 16-bit grey: 0..65535 scaled to 0..255 (a plain convert would clip to white).
        grey = image.convert("I").point(lambda v: v * (1 / 257) + 0.5).convert("L")
        return grey.convert("RGB")
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info:
        return _flatten_on_white(image)
    return image.convert("RGB")


# -- the entry point ---------------------------------------------------------------


def _check_target(target: tuple[int, int] | None) -> tuple[int, int] | None:
    if target is None:
        return None
    ok = (
        isinstance(target, tuple)
        and len(target) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in target)
    )
    if not ok:
        raise ConfigurationError(
            f"target must be (width, height) with two positive integers, not {target!r}"
        )
    return target


def load_photo(
    data: PhotoInput,
    *,
    limits: PhotoLimits = DEFAULT_LIMITS,
    target: tuple[int, int] | None = None,
) -> Photo:
    """Check and decode one photo into upright 8-bit RGB.

    Args:
        data: The file: its bytes, a path (``str`` or :class:`~pathlib.Path`), or a
            binary stream (read from its current position, at most
            ``limits.max_bytes + 1`` bytes; it is not closed).
        limits: The byte and pixel caps.
        target: (width, height) to reduce the photo to fit within, aspect kept,
            never enlarged. A JPEG is then decoded at 1/2, 1/4 or 1/8 scale in the
            DCT (Pillow's ``draft``), the smallest that is still at least
            ``target``, which is several times faster, before the final resize.

    Returns:
        The :class:`Photo`.

    Raises:
        PhotoRejected: ``error.reason`` says why: ``empty``, ``too_large``,
            ``unsupported_format``, ``too_many_pixels``, ``truncated``, ``corrupt``.
        ConfigurationError: ``target`` is not two positive integers.
        OSError: ``data`` is a path that cannot be read.

    Example:
        >>> import io
        >>> from PIL import Image
        >>> buffer = io.BytesIO()
        >>> Image.new("RGBA", (40, 20), (255, 0, 0, 0)).save(buffer, "PNG")
        >>> photo = load_photo(buffer.getvalue())
        >>> photo.format, photo.size, photo.mode_converted_from, photo.image.getpixel((0, 0))
        ('PNG', (40, 20), 'RGBA', (255, 255, 255))
    """
    wanted = _check_target(target)
    raw = _read(data, limits.max_bytes)
    if not raw:
        raise PhotoRejected("photo is empty (0 bytes)", reason="empty")
    fmt = _sniff(raw)
    if fmt is None:
        raise PhotoRejected(
            f"{_describe_other(raw)}; accepted formats are {_ACCEPTED}",
            reason="unsupported_format",
        )
    image = _open(raw, fmt, limits)
    try:
        return _decode(image, raw, fmt, wanted)
    finally:
        image.close()


def _too_many_pixels(fmt: str, size: tuple[int, int], limits: PhotoLimits) -> PhotoRejected:
    width, height = size
    return PhotoRejected(
        f"photo is a {fmt} file whose header declares {width:,} x {height:,} = "
        f"{width * height:,} pixels; the limit is {limits.max_pixels:,} pixels "
        "(PhotoLimits.max_pixels)",
        reason="too_many_pixels",
    )


def _open(raw: bytes, fmt: str, limits: PhotoLimits) -> Image.Image:
    declared = _declared_size(fmt, raw)
    if declared is not None and declared[0] * declared[1] > limits.max_pixels:
        # Refused from our own reading of the header, before Pillow parses anything.
        raise _too_many_pixels(fmt, declared, limits)
    try:
        image = Image.open(io.BytesIO(raw), formats=[fmt])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Only reached with a cap above Pillow's own limit (or warnings made errors).
        raise PhotoRejected(
            f"photo is a {fmt} file whose header declares more pixels than Pillow will "
            f"decode at all; the limit is {limits.max_pixels:,} pixels (PhotoLimits.max_pixels)",
            reason="too_many_pixels",
        ) from None
    except MemoryError:
        raise
    except Exception as error:  # any failure to parse the header is a rejection
        raise _decode_failure(fmt, raw, error) from None
    width, height = image.size
    if width * height > limits.max_pixels:
        image.close()
        raise _too_many_pixels(fmt, image.size, limits)
    return image


def _decode(image: Image.Image, raw: bytes, fmt: str, target: tuple[int, int] | None) -> Photo:
    original_size = image.size
    # A JPEG's EXIF is read with its header; a PNG's eXIf chunk may follow the pixels.
    orientation = _orientation(image) if fmt == "JPEG" else 1
    if target is not None and fmt == "JPEG":
        # The draft size is in the file's own orientation: swap for quarter turns.
        file_target = target[::-1] if orientation in (5, 6, 7, 8) else target
        image.draft("RGB", (file_target[0], file_target[1]))
    try:
        image.load()
    except MemoryError:
        raise
    except Exception as error:  # every decoder failure is a rejection
        raise _decode_failure(fmt, raw, error) from None
    if fmt != "JPEG" and _looks_cut(fmt, raw):
        # Every pixel decoded, but the file stops before its end chunk.
        raise _decode_failure(fmt, raw, EOFError())
    if fmt != "JPEG":
        orientation = _orientation(image)
    source_mode = image.mode
    decoded_size = image.size
    pixels: Image.Image = image
    for method in _TRANSPOSE.get(orientation, []):
        pixels = pixels.transpose(method)
    upright = pixels
    pixels = _to_rgb(upright)
    converted = pixels is not upright
    del upright
    if pixels is image:
        pixels = image.copy()  # the caller's Photo must outlive the closed file object
    if target is not None:
        pixels.thumbnail(target)
    return Photo(
        image=pixels,
        format=fmt,
        original_size=original_size,
        size=pixels.size,
        decoded_size=decoded_size,
        orientation_applied=orientation,
        mode_converted_from=source_mode if converted else None,
        bytes=len(raw),
    )
