"""R14: return photos are loaded through allow-listed formats, caps and full decodes.

The corpus is generated here with Pillow and raw bytes: bombs, truncated and
broken files, formats outside the allow-list renamed ``.jpg``, CMYK, 16-bit,
every EXIF orientation and transparency.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import typing
import warnings
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from ordercore.errors import ConfigurationError, OrderCoreError
from ordercore.returns import (
    DEFAULT_LIMITS,
    REJECTION_REASONS,
    Photo,
    PhotoLimits,
    PhotoRejected,
    RejectionReason,
    load_photo,
)
from ordercore.returns._photos import _declared_size

PILLOW_MAX_PIXELS = Image.MAX_IMAGE_PIXELS


@pytest.fixture(autouse=True)
def _pillow_globals_untouched() -> Iterator[None]:
    """No load changes Pillow's process-wide settings."""
    yield
    assert Image.MAX_IMAGE_PIXELS == PILLOW_MAX_PIXELS
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# -- making files ------------------------------------------------------------------


def encode(image: Image.Image, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def noise(size: tuple[int, int] = (400, 300)) -> Image.Image:
    return Image.merge(
        "RGB", [Image.effect_noise(size, 60 + 10 * i).convert("L") for i in range(3)]
    )


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def raw_png(
    width: int, height: int, bit_depth: int, colour_type: int, rows: Iterator[bytes]
) -> bytes:
    """A PNG written byte by byte (filter 0 on every row)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(b"\x00" + row) for row in rows) + packer.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )


def png_bomb(side: int = 30_000) -> bytes:
    """A valid 1-bit grey PNG of side x side pixels, all black: a few hundred KB."""
    row = bytes((side + 7) // 8)
    return raw_png(side, side, 1, 0, (row for _ in range(side)))


def webp_declaring(kind: str, width: int, height: int) -> bytes:
    """A small real WebP (lossy, lossless or extended) patched to declare width x height."""
    picture = Image.new("RGBA" if kind == "VP8X" else "RGB", (16, 16), (200, 10, 10, 128))
    data = bytearray(encode(picture, "WEBP", lossless=kind == "VP8L"))
    assert data[12:16].decode() == kind.ljust(4)
    if kind == "VP8X":
        data[24:27] = (width - 1).to_bytes(3, "little")
        data[27:30] = (height - 1).to_bytes(3, "little")
    elif kind == "VP8":
        data[26:30] = struct.pack("<HH", width, height)
    else:
        bits = int.from_bytes(data[21:25], "little") & ~((1 << 28) - 1)
        bits |= (width - 1) | ((height - 1) << 14)
        data[21:25] = bits.to_bytes(4, "little")
    return bytes(data)


def jpeg_declaring(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF header is patched to declare width x height."""
    data = bytearray(encode(Image.new("RGB", (16, 16), "red"), "JPEG"))
    at = data.index(b"\xff\xc0")
    data[at + 5 : at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


class CappedStream(io.RawIOBase):
    """An endless JPEG-looking stream that fails the test if read past ``allowed`` bytes."""

    def __init__(self, allowed: int) -> None:
        self.allowed = allowed
        self.given = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        if self.given + size > self.allowed:
            raise AssertionError(f"read past {self.allowed} bytes")
        head = b"\xff\xd8\xff\xe0" if self.given == 0 else b""
        chunk = (head + bytes(size))[:size]
        buffer[:size] = chunk
        self.given += size
        return size


def with_orientation(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


def reason_of(data: Any, **kwargs: Any) -> str:
    with pytest.raises(PhotoRejected) as caught:
        load_photo(data, **kwargs)
    return caught.value.reason


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


# -- the error -------------------------------------------------------------------


class TestPhotoRejected:
    def test_is_an_ordercore_value_error_with_a_family_code(self) -> None:
        error = PhotoRejected("photo is empty (0 bytes)", reason="empty")
        assert isinstance(error, OrderCoreError)
        assert isinstance(error, ValueError)
        assert PhotoRejected.code == "photo-rejected"
        assert error.reason == "empty"
        assert "[photo-rejected]" in str(error)
        assert str(error).startswith("photo is empty")

    def test_survives_pickling_with_its_reason(self) -> None:
        error = PhotoRejected("photo is a truncated PNG file", reason="truncated")
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is PhotoRejected
        assert copy.reason == "truncated"
        assert copy.message == error.message

    def test_reasons_are_the_documented_six(self) -> None:
        assert set(REJECTION_REASONS) == {
            "unsupported_format",
            "empty",
            "too_large",
            "too_many_pixels",
            "truncated",
            "corrupt",
        }
        assert set(typing.get_args(RejectionReason)) == set(REJECTION_REASONS)

    def test_messages_never_quote_contents_or_paths(self, tmp_path: Path) -> None:
        secret = "13800138000 Zhang San, 1 Long Road"
        path = tmp_path / f"{secret}.jpg"
        path.write_bytes(f"<html><body>{secret}</body></html>".encode())
        with pytest.raises(PhotoRejected) as caught:
            load_photo(path)
        assert "13800138000" not in str(caught.value)
        assert "Zhang" not in str(caught.value)
        assert "SVG, HTML or XML" in str(caught.value)


# -- reading and byte cap ----------------------------------------------------------


class TestInputAndByteCap:
    def test_bytes_bytearray_memoryview_path_and_stream_read_alike(self, tmp_path: Path) -> None:
        data = encode(noise((64, 48)), "PNG")
        path = tmp_path / "photo.png"
        path.write_bytes(data)
        stream = io.BytesIO(b"junk" + data)
        stream.seek(4)
        inputs = [data, bytearray(data), memoryview(data), str(path), path, stream]
        photos = [load_photo(item) for item in inputs]
        first = photos[0].image.tobytes()
        for photo in photos:
            assert photo.image.tobytes() == first
            assert photo.bytes == len(data)
        assert not stream.closed

    def test_empty_input_is_empty(self, tmp_path: Path) -> None:
        path = tmp_path / "empty.jpg"
        path.write_bytes(b"")
        for data in (b"", path, io.BytesIO()):
            assert reason_of(data) == "empty"

    def test_a_stream_is_read_no_further_than_the_cap_plus_one(self) -> None:
        stream = CappedStream(allowed=5_001)
        with pytest.raises(PhotoRejected) as caught:
            load_photo(stream, limits=PhotoLimits(max_bytes=5_000))
        assert caught.value.reason == "too_large"
        assert stream.given == 5_001
        assert "5,000 bytes" in str(caught.value)

    def test_a_stream_bigger_than_the_default_cap_stops_at_it(self) -> None:
        stream = CappedStream(allowed=DEFAULT_LIMITS.max_bytes + 1)
        assert reason_of(stream) == "too_large"

    def test_a_large_file_is_refused_from_its_size(self, tmp_path: Path) -> None:
        path = tmp_path / "big.jpg"
        with path.open("wb") as file:
            file.write(b"\xff\xd8\xff\xe0")
            file.truncate(DEFAULT_LIMITS.max_bytes + 1)  # sparse: nothing to read
        with pytest.raises(PhotoRejected) as caught:
            load_photo(path)
        assert caught.value.reason == "too_large"
        assert f"{DEFAULT_LIMITS.max_bytes + 1:,} bytes" in str(caught.value)

    def test_large_bytes_are_refused_with_their_size(self) -> None:
        data = encode(noise((64, 48)), "JPEG")
        with pytest.raises(PhotoRejected) as caught:
            load_photo(data, limits=PhotoLimits(max_bytes=len(data) - 1))
        assert caught.value.reason == "too_large"
        assert f"{len(data):,} bytes" in str(caught.value)
        assert load_photo(data, limits=PhotoLimits(max_bytes=len(data))).bytes == len(data)

    def test_a_text_stream_or_other_object_is_a_type_error(self) -> None:
        with pytest.raises(TypeError):
            load_photo(io.StringIO("hello"))  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            load_photo(12)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "limits", [{"max_bytes": 0}, {"max_pixels": -1}, {"max_bytes": 1.5}, {"max_pixels": True}]
    )
    def test_bad_limits_are_a_configuration_error(self, limits: dict[str, Any]) -> None:
        with pytest.raises(ConfigurationError):
            PhotoLimits(**limits)

    @pytest.mark.parametrize("target", [(0, 10), (10,), (10, -1), (1.5, 2), [10, 10]])
    def test_a_bad_target_is_a_configuration_error(self, target: Any) -> None:
        with pytest.raises(ConfigurationError):
            load_photo(encode(noise((8, 8)), "PNG"), target=target)


# -- formats ---------------------------------------------------------------------


def _other_formats() -> dict[str, bytes]:
    picture = noise((32, 24))
    return {
        "GIF": encode(picture, "GIF"),
        "TIFF": encode(picture, "TIFF"),
        "BMP": encode(picture, "BMP"),
        "ICO/CUR": encode(picture, "ICO"),
        "PDF": encode(picture, "PDF"),
        "PostScript/EPS": encode(picture, "EPS"),
        "SVG, HTML or XML": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>',
        "HEIC": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64),
    }


OTHER_FORMATS = _other_formats()


class TestFormats:
    @pytest.mark.parametrize("name", sorted(OTHER_FORMATS))
    def test_other_formats_renamed_jpg_are_unsupported(self, name: str, tmp_path: Path) -> None:
        path = tmp_path / "photo.jpg"
        path.write_bytes(OTHER_FORMATS[name])
        with pytest.raises(PhotoRejected) as caught:
            load_photo(path)
        assert caught.value.reason == "unsupported_format"
        assert name in str(caught.value)
        assert "JPEG, PNG or WebP" in str(caught.value)

    def test_html_with_leading_space_is_unsupported(self) -> None:
        assert reason_of(b"  \n<!DOCTYPE html><html></html>") == "unsupported_format"

    @pytest.mark.parametrize("data", [b"hello", b"\x00" * 100, os.urandom(256), b"\xff\xd8"])
    def test_wrong_magic_is_unsupported(self, data: bytes) -> None:
        if data.startswith(b"\xff\xd8\xff"):
            pytest.skip("random bytes happened to start like a JPEG")
        assert reason_of(data) == "unsupported_format"

    @pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
    def test_accepted_formats_load_as_rgb(self, fmt: str) -> None:
        photo = load_photo(encode(noise((120, 80)), fmt))
        assert isinstance(photo, Photo)
        assert photo.format == fmt
        assert photo.image.mode == "RGB"
        assert photo.size == photo.original_size == photo.decoded_size == (120, 80)
        assert photo.orientation_applied == 1
        assert photo.mode_converted_from is None

    @pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
    def test_very_small_images_load(self, fmt: str) -> None:
        photo = load_photo(encode(Image.new("RGB", (1, 1), (10, 200, 30)), fmt))
        assert photo.size == (1, 1)
        assert close(photo.image.getpixel((0, 0)), (10, 200, 30), 8)

    def test_animated_webp_gives_its_first_frame(self) -> None:
        frames = [Image.new("RGB", (20, 20), colour) for colour in ("red", "blue")]
        data = encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
        assert close(load_photo(data).image.getpixel((10, 10)), (255, 0, 0), 2)


# -- pixel cap -------------------------------------------------------------------


BOMBS = {
    "png-30000x30000": png_bomb(),
    "jpeg-60000x60000": jpeg_declaring(60_000, 60_000),  # over Pillow's own hard limit
    "jpeg-10000x10000": jpeg_declaring(10_000, 10_000),  # over Pillow's warning limit
    "jpeg-7000x6000": jpeg_declaring(7_000, 6_000),  # over ours only
    "webp-vp8x-16000x16000": webp_declaring("VP8X", 16_000, 16_000),
    "webp-vp8-16000x16000": webp_declaring("VP8", 16_000, 16_000),
    "webp-vp8l-16000x16000": webp_declaring("VP8L", 16_000, 16_000),
}


class TestPixelCap:
    def test_the_png_bomb_is_small_on_disk(self) -> None:
        assert len(BOMBS["png-30000x30000"]) < 1_000_000

    @pytest.mark.parametrize("name", sorted(BOMBS))
    def test_bombs_are_refused_before_decoding(self, name: str) -> None:
        tracemalloc.start()
        try:
            with pytest.raises(PhotoRejected) as caught:
                load_photo(BOMBS[name])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert caught.value.reason == "too_many_pixels"
        assert peak < 5 * len(BOMBS[name]) + 2_000_000
        assert "40,000,000 pixels" in str(caught.value)

    @pytest.mark.parametrize(
        ("fmt", "options"),
        [
            ("JPEG", {}),
            ("JPEG", {"progressive": True, "exif": with_orientation(6)}),
            ("JPEG", {"icc_profile": bytes(70_000)}),  # APP2 segments before the frame
            ("PNG", {}),
            ("WEBP", {}),
            ("WEBP", {"lossless": True}),
            ("WEBP", {"exif": with_orientation(3)}),  # extended (VP8X)
        ],
    )
    def test_the_header_is_read_without_pillow_as_pillow_reads_it(
        self, fmt: str, options: dict[str, Any]
    ) -> None:
        data = encode(noise((321, 123)), fmt, **options)
        assert _declared_size(fmt, data) == (321, 123)
        with pytest.raises(PhotoRejected) as caught:
            load_photo(data, limits=PhotoLimits(max_pixels=321 * 123 - 1))
        assert "321 x 123 = 39,483 pixels" in str(caught.value)
        photo = load_photo(data, limits=PhotoLimits(max_pixels=321 * 123))
        assert photo.original_size == (321, 123)

    def test_a_header_not_found_early_is_left_to_pillow(self) -> None:
        assert _declared_size("JPEG", b"\xff\xd8\xff\xe0\x00\x10JFIF") is None
        assert _declared_size("PNG", b"\x89PNG\r\n\x1a\n") is None
        assert _declared_size("WEBP", b"RIFF\x00\x00\x00\x00WEBPVP8Z") is None

    def test_the_message_gives_the_declared_size(self) -> None:
        with pytest.raises(PhotoRejected) as caught:
            load_photo(BOMBS["jpeg-7000x6000"])
        assert "7,000 x 6,000 = 42,000,000 pixels" in str(caught.value)

    def test_the_cap_is_ours_to_set(self) -> None:
        data = encode(noise((20, 20)), "PNG")
        assert reason_of(data, limits=PhotoLimits(max_pixels=399)) == "too_many_pixels"
        assert load_photo(data, limits=PhotoLimits(max_pixels=400)).size == (20, 20)

    def test_pillows_warning_does_not_escape_and_our_cap_decides(self) -> None:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            with pytest.raises(PhotoRejected) as caught:
                load_photo(BOMBS["jpeg-10000x10000"])
        assert caught.value.reason == "too_many_pixels"
        assert "10,000 x 10,000 = 100,000,000 pixels" in str(caught.value)
        assert not [w for w in seen if issubclass(w.category, Image.DecompressionBombWarning)]

    def test_every_corpus_file_stays_under_200_mb_of_memory(self, tmp_path: Path) -> None:
        """A fresh process loads the whole hostile corpus; its peak RSS stays small."""
        corpus = tmp_path / "corpus"
        corpus.mkdir()
        files = {**BOMBS, **{f"other-{i}": d for i, d in enumerate(OTHER_FORMATS.values())}}
        files["cmyk"] = encode(Image.new("CMYK", (1600, 1200), (0, 255, 255, 0)), "JPEG")
        files["truncated"] = encode(noise((1600, 1200)), "JPEG")[:50_000]
        for name, data in files.items():
            (corpus / name).write_bytes(data)
        script = textwrap.dedent(
            """
            import resource, sys
            from pathlib import Path
            from ordercore.returns import PhotoRejected, load_photo
            for path in sorted(Path(sys.argv[1]).iterdir()):
                try:
                    load_photo(path)
                except PhotoRejected:
                    pass
            # VmHWM is this program's own peak; ru_maxrss can carry over the peak of
            # the (large) process that started it, on Linux.
            status = Path("/proc/self/status")
            if status.exists():
                line = next(l for l in status.read_text().splitlines() if l.startswith("VmHWM:"))
                print(int(line.split()[1]))
            else:
                print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            """
        )
        done = subprocess.run(
            [sys.executable, "-c", script, str(corpus)], capture_output=True, text=True, check=True
        )
        peak_kib = int(done.stdout.split()[-1])
        assert peak_kib < 200 * 1024


# -- truncated and broken files ------------------------------------------------------


def _complete_files() -> dict[str, bytes]:
    picture = noise((400, 300))
    return {
        "JPEG": encode(picture, "JPEG", quality=85),
        "JPEG progressive": encode(picture, "JPEG", quality=85, progressive=True),
        "PNG": encode(picture, "PNG"),
        "WEBP": encode(picture, "WEBP", quality=80),
    }


COMPLETE = _complete_files()
CUTS = [12, 30, 200, 0.1, 0.5, 0.9, -200, -16]


class TestTruncatedAndCorrupt:
    @pytest.mark.parametrize("name", sorted(COMPLETE))
    @pytest.mark.parametrize("cut", CUTS)
    def test_cut_files_are_truncated(self, name: str, cut: float) -> None:
        data = COMPLETE[name]
        end = int(len(data) * cut) if isinstance(cut, float) else cut
        with pytest.raises(PhotoRejected) as caught:
            load_photo(data[:end])
        assert caught.value.reason == "truncated"
        assert "truncated" in str(caught.value)

    def test_a_png_with_every_pixel_but_no_end_chunk_is_truncated(self) -> None:
        data = COMPLETE["PNG"]
        assert data.endswith(b"IEND\xaeB`\x82")
        assert reason_of(data[:-12]) == "truncated"
        assert load_photo(data + b"trailing bytes").size == (400, 300)

    def test_a_jpeg_missing_only_its_end_marker_is_truncated(self) -> None:
        assert reason_of(COMPLETE["JPEG"][:-2]) == "truncated"

    def test_a_png_with_a_broken_header_checksum_is_corrupt(self) -> None:
        data = bytearray(COMPLETE["PNG"])
        data[29] ^= 0xFF  # the CRC of IHDR
        assert reason_of(bytes(data)) == "corrupt"

    def test_a_png_with_garbage_pixel_data_is_corrupt(self) -> None:
        header = struct.pack(">IIBBBBB", 50, 50, 8, 2, 0, 0, 0)
        data = (
            b"\x89PNG\r\n\x1a\n"
            + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", b"this is not zlib data at all" * 10)
            + png_chunk(b"IEND", b"")
        )
        assert reason_of(data) == "corrupt"

    def test_a_jpeg_with_only_a_signature_is_truncated(self) -> None:
        assert reason_of(b"\xff\xd8\xff\xe0") == "truncated"


# -- colour ----------------------------------------------------------------------


class TestColour:
    @pytest.mark.parametrize(
        ("cmyk", "rgb"),
        [
            ((0, 255, 255, 0), (255, 0, 0)),
            ((255, 0, 0, 0), (0, 255, 255)),
            ((0, 0, 0, 255), (0, 0, 0)),
            ((0, 0, 0, 0), (255, 255, 255)),
            ((0, 128, 255, 64), (191, 95, 0)),
        ],
    )
    def test_cmyk_jpeg_becomes_the_right_rgb(
        self, cmyk: tuple[int, ...], rgb: tuple[int, ...]
    ) -> None:
        data = encode(Image.new("CMYK", (32, 32), cmyk), "JPEG", quality=95)
        assert b"Adobe" in data  # Adobe APP14: the inverted CMYK convention
        photo = load_photo(data)
        assert photo.mode_converted_from == "CMYK"
        assert close(photo.image.getpixel((16, 16)), rgb, 6)

    def test_16_bit_grey_png_is_scaled_not_clipped(self) -> None:
        values = [0xFFFF, 0x8000, 257 * 100, 0]
        grey = Image.new("I;16", (4, 1))
        for x, value in enumerate(values):
            grey.putpixel((x, 0), value)
        photo = load_photo(encode(grey, "PNG"))
        assert photo.mode_converted_from == "I;16"
        got = [photo.image.getpixel((x, 0)) for x in range(4)]
        assert got[0] == (255, 255, 255)
        assert close(got[1], (128, 128, 128), 1)
        assert got[2] == (100, 100, 100)
        assert got[3] == (0, 0, 0)

    def test_16_bit_grey_png_written_by_hand_is_scaled(self) -> None:
        row = struct.pack(">3H", 0xFFFF, 0x8000, 0x0101)
        photo = load_photo(raw_png(3, 1, 16, 0, iter([row])))
        assert [photo.image.getpixel((x, 0))[0] for x in range(3)] in ([255, 128, 1], [255, 127, 1])

    def test_48_bit_rgb_png_is_scaled(self) -> None:
        row = struct.pack(">6H", 0xFFFF, 0x8000, 0x0000, 0x0000, 0x4000, 0xFFFF)
        photo = load_photo(raw_png(2, 1, 16, 2, iter([row])))
        assert close(photo.image.getpixel((0, 0)), (255, 128, 0), 1)
        assert close(photo.image.getpixel((1, 0)), (0, 64, 255), 1)

    def test_64_bit_rgba_png_is_scaled_and_flattened(self) -> None:
        row = struct.pack(">8H", 0xFFFF, 0, 0, 0xFFFF, 0xFFFF, 0, 0, 0)
        photo = load_photo(raw_png(2, 1, 16, 6, iter([row])))
        assert photo.image.getpixel((0, 0)) == (255, 0, 0)
        assert photo.image.getpixel((1, 0)) == (255, 255, 255)

    @pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
    def test_grey_loads_as_rgb(self, fmt: str) -> None:
        photo = load_photo(encode(Image.new("L", (16, 16), 77), fmt))
        assert photo.mode_converted_from == (None if fmt == "WEBP" else "L")  # WebP has no grey
        assert close(photo.image.getpixel((8, 8)), (77, 77, 77), 2)

    def test_one_bit_png_loads_as_rgb(self) -> None:
        image = Image.new("1", (8, 8), 0)
        image.putpixel((1, 1), 1)
        photo = load_photo(encode(image, "PNG"))
        assert photo.image.getpixel((1, 1)) == (255, 255, 255)
        assert photo.image.getpixel((0, 0)) == (0, 0, 0)

    @pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
    def test_rgba_is_flattened_on_white(self, fmt: str) -> None:
        image = Image.new("RGBA", (3, 1))
        image.putdata([(255, 0, 0, 255), (255, 0, 0, 0), (0, 0, 255, 128)])
        photo = load_photo(
            encode(image, fmt, lossless=True) if fmt == "WEBP" else encode(image, fmt)
        )
        assert photo.mode_converted_from == "RGBA"
        assert photo.image.getpixel((0, 0)) == (255, 0, 0)
        assert photo.image.getpixel((1, 0)) == (255, 255, 255)
        assert close(photo.image.getpixel((2, 0)), (127, 127, 255), 2)

    def test_grey_with_alpha_is_flattened_on_white(self) -> None:
        image = Image.new("LA", (2, 1))
        image.putdata([(0, 255), (0, 0)])
        photo = load_photo(encode(image, "PNG"))
        assert photo.image.getpixel((0, 0)) == (0, 0, 0)
        assert photo.image.getpixel((1, 0)) == (255, 255, 255)

    def test_palette_with_a_transparent_index_is_flattened_on_white(self) -> None:
        image = Image.new("P", (2, 1))
        image.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
        image.putdata([0, 1])
        photo = load_photo(encode(image, "PNG", transparency=0))
        assert photo.mode_converted_from == "P"
        assert photo.image.getpixel((0, 0)) == (255, 255, 255)
        assert photo.image.getpixel((1, 0)) == (0, 200, 0)

    def test_opaque_palette_keeps_its_colours(self) -> None:
        image = Image.new("P", (2, 1))
        image.putpalette([10, 20, 30, 0, 200, 0] + [0] * 762)
        image.putdata([0, 1])
        photo = load_photo(encode(image, "PNG"))
        assert photo.image.getpixel((0, 0)) == (10, 20, 30)

    def test_rgb_with_a_transparent_colour_is_flattened(self) -> None:
        image = Image.new("RGB", (2, 1), (9, 9, 9))
        image.putpixel((1, 0), (40, 50, 60))
        photo = load_photo(encode(image, "PNG", transparency=(9, 9, 9)))
        assert photo.mode_converted_from == "RGB"
        assert photo.image.getpixel((0, 0)) == (255, 255, 255)
        assert photo.image.getpixel((1, 0)) == (40, 50, 60)


# -- orientation -----------------------------------------------------------------

# Where the stored image's row 0 and column 0 are in the upright picture (EXIF 2.3,
# tag 0x0112), written out per orientation as stored (col, row) -> upright (x, y).
STORED_TO_UPRIGHT: dict[int, Callable[[int, int, int, int], tuple[int, int]]] = {
    1: lambda c, r, w, h: (c, r),
    2: lambda c, r, w, h: (w - 1 - c, r),
    3: lambda c, r, w, h: (w - 1 - c, h - 1 - r),
    4: lambda c, r, w, h: (c, h - 1 - r),
    5: lambda c, r, w, h: (r, c),
    6: lambda c, r, w, h: (w - 1 - r, c),
    7: lambda c, r, w, h: (w - 1 - r, h - 1 - c),
    8: lambda c, r, w, h: (r, h - 1 - c),
}


def upright_picture(width: int, height: int, block: int) -> Image.Image:
    """Four coloured quadrants and a marker: no symmetry maps it onto itself."""
    image = Image.new("RGB", (width * block, height * block))
    colours = {(0, 0): (220, 30, 30), (1, 0): (30, 200, 30), (0, 1): (30, 30, 220)}
    for x in range(width):
        for y in range(height):
            quadrant = (x * 2 // width, y * 2 // height)
            colour = colours.get(quadrant, (240, 240, 240))
            image.paste(colour, (x * block, y * block, (x + 1) * block, (y + 1) * block))
    return image


def stored_for(orientation: int, upright: Image.Image) -> Image.Image:
    w, h = upright.size
    stored_size = (h, w) if orientation >= 5 else (w, h)
    stored = Image.new("RGB", stored_size)
    mapping = STORED_TO_UPRIGHT[orientation]
    for c in range(stored_size[0]):
        for r in range(stored_size[1]):
            stored.putpixel((c, r), upright.getpixel(mapping(c, r, w, h)))
    return stored


class TestOrientation:
    @pytest.mark.parametrize("orientation", range(1, 9))
    def test_png_every_orientation_comes_out_upright_pixel_for_pixel(
        self, orientation: int
    ) -> None:
        upright = upright_picture(6, 4, 1)
        stored = stored_for(orientation, upright)
        photo = load_photo(encode(stored, "PNG", exif=with_orientation(orientation)))
        assert photo.orientation_applied == orientation
        assert photo.original_size == stored.size
        assert photo.size == upright.size
        assert photo.image.tobytes() == upright.tobytes()

    @pytest.mark.parametrize("orientation", range(1, 9))
    def test_jpeg_every_orientation_comes_out_upright(self, orientation: int) -> None:
        upright = upright_picture(6, 4, 16)
        stored = stored_for(orientation, upright)
        data = encode(stored, "JPEG", quality=95, exif=with_orientation(orientation))
        photo = load_photo(data)
        assert photo.orientation_applied == orientation
        assert photo.size == upright.size
        for x in range(8, upright.width, 16):
            for y in range(8, upright.height, 16):
                assert close(photo.image.getpixel((x, y)), upright.getpixel((x, y)), 12)

    def test_webp_orientation_is_applied(self) -> None:
        upright = upright_picture(6, 4, 1)
        data = encode(stored_for(6, upright), "WEBP", lossless=True, exif=with_orientation(6))
        photo = load_photo(data)
        assert photo.orientation_applied == 6
        assert photo.image.tobytes() == upright.tobytes()

    @pytest.mark.parametrize("value", [0, 9, 255])
    def test_an_out_of_range_orientation_is_ignored(self, value: int) -> None:
        picture = noise((30, 20))
        photo = load_photo(encode(picture, "PNG", exif=with_orientation(value)))
        assert photo.orientation_applied == 1
        assert photo.image.tobytes() == picture.tobytes()

    @pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")
    def test_a_broken_exif_block_does_not_refuse_the_photo(self) -> None:
        picture = noise((30, 20))
        photo = load_photo(encode(picture, "JPEG", exif=b"Exif\x00\x00MM\x00*garbage"))
        assert photo.orientation_applied == 1
        assert photo.size == (30, 20)


# -- target and draft decoding -------------------------------------------------------


class TestTarget:
    def test_a_jpeg_is_draft_decoded_then_fitted(self) -> None:
        photo = load_photo(encode(noise((1600, 1200)), "JPEG", quality=85), target=(224, 224))
        assert photo.original_size == (1600, 1200)
        assert photo.decoded_size == (400, 300)  # 1/4: the smallest scale still >= 224
        assert photo.size == (224, 168)

    def test_draft_targets_the_upright_size(self) -> None:
        stored = noise((1600, 800))  # upright 800 x 1600 after orientation 6
        data = encode(stored, "JPEG", exif=with_orientation(6))
        photo = load_photo(data, target=(200, 400))
        assert photo.decoded_size == (400, 200)  # 1/4 in both directions
        assert photo.size == (200, 400)

    def test_a_draft_decode_looks_like_a_full_decode(self) -> None:
        picture = upright_picture(8, 6, 100)
        data = encode(picture, "JPEG", quality=90)
        drafted = load_photo(data, target=(100, 75)).image
        full = load_photo(data).image
        full.thumbnail((100, 75))
        assert drafted.size == full.size
        for xy in [(10, 10), (90, 10), (10, 65), (90, 65)]:
            assert close(drafted.getpixel(xy), full.getpixel(xy), 10)

    def test_png_is_fitted_without_draft(self) -> None:
        photo = load_photo(encode(noise((400, 300)), "PNG"), target=(100, 100))
        assert photo.decoded_size == (400, 300)
        assert photo.size == (100, 75)

    def test_a_target_never_enlarges(self) -> None:
        photo = load_photo(encode(noise((50, 40)), "JPEG"), target=(500, 500))
        assert photo.size == (50, 40)


# -- any bytes -------------------------------------------------------------------


SIGNATURES = [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x00\x01\x00\x00WEBP", b""]


def outcome(data: bytes) -> str:
    """``"photo"`` for an upright RGB photo within the caps, else the rejection's reason."""
    try:
        photo = load_photo(data)
    except PhotoRejected as error:
        return error.reason
    assert photo.image.mode == "RGB"
    assert photo.image.width * photo.image.height <= DEFAULT_LIMITS.max_pixels
    return "photo"


class TestAnyBytes:
    @settings(max_examples=300, deadline=None)
    @given(signature=st.sampled_from(SIGNATURES), rest=st.binary(max_size=300))
    def test_any_bytes_give_a_photo_or_a_rejection(self, signature: bytes, rest: bytes) -> None:
        assert outcome(signature + rest) in (*REJECTION_REASONS, "photo")

    @settings(max_examples=200, deadline=None)
    @given(
        name=st.sampled_from(sorted(COMPLETE)),
        flips=st.lists(st.tuples(st.floats(0, 1), st.integers(1, 255)), min_size=1, max_size=4),
    )
    def test_damaged_photos_give_a_photo_or_a_rejection(
        self, name: str, flips: list[tuple[float, int]]
    ) -> None:
        data = bytearray(COMPLETE[name])
        for where, mask in flips:
            data[min(int(where * len(data)), len(data) - 1)] ^= mask
        assert outcome(bytes(data)) in (*REJECTION_REASONS, "photo")
