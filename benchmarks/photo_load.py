"""How fast return photos load through load_photo, beside Pillow's own decode of the same files.

Usage::

    python benchmarks/photo_load.py [--quick] [--photos N] [--repeat R] [--json-only]

The photos are realistic phone-sized JPEGs made here: 1600 x 1200, noise over colour
gradients (so they compress like a photo, not like a flat card), quality 85, every
third one stored sideways with EXIF orientation 6. Two sections, each in the same run:

1. full size: ``load_photo(data)`` beside the floor, Pillow alone:
   ``Image.open`` + ``ImageOps.exif_transpose`` + ``convert("RGB")`` (which decodes);
2. reduced to 224 x 224: ``load_photo(data, target=(224, 224))`` (JPEG draft decoding)
   beside Pillow alone with the same ``draft``, transpose, convert and ``thumbnail``.

What load_photo adds over the floor is its checks (signature, caps, a full decode
that refuses truncated files) and a copy of the pixels. Targets are ratios, printed
met or not; the last line is one JSON object with every figure. Nothing is asserted;
the exit status is 0.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from collections.abc import Sequence

from _harness import Report, compare, loop
from PIL import Image, ImageOps

import ordercore
from ordercore.returns import load_photo

SIZE = (1600, 1200)
TARGET = (224, 224)
DISTINCT = 12
FULL_PHOTOS, QUICK_PHOTOS = 200, 40
FULL_REPEAT, QUICK_REPEAT = 7, 5


def make_photo(index: int) -> bytes:
    """A 1600x1200 JPEG, quality 85: noise over two gradients; orientation 6 on every third."""
    ramp = Image.linear_gradient("L").resize(SIZE)
    across = ramp.rotate(90, expand=False).resize(SIZE)
    grain = Image.effect_noise(SIZE, 25 + index)
    channels = [
        Image.blend(ramp, grain, 0.35),
        Image.blend(across, grain, 0.25),
        Image.blend(ImageOps.invert(ramp), grain, 0.45),
    ]
    picture = Image.merge("RGB", channels)
    exif = Image.Exif()
    if index % 3 == 0:
        exif[0x0112] = 6
        picture = picture.transpose(Image.Transpose.ROTATE_90).resize(SIZE)
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=85, exif=exif)
    return buffer.getvalue()


def pillow_floor(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        upright = ImageOps.exif_transpose(image)
        return upright.convert("RGB")


def pillow_floor_draft(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", TARGET)
        upright = ImageOps.exif_transpose(image)
        rgb = upright.convert("RGB")
        rgb.thumbnail(TARGET)
        return rgb


def ours(data: bytes) -> Image.Image:
    return load_photo(data).image


def ours_draft(data: bytes) -> Image.Image:
    return load_photo(data, target=TARGET).image


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer photos and runs")
    parser.add_argument(
        "--photos",
        type=int,
        help=f"photos per run (default {FULL_PHOTOS}; {QUICK_PHOTOS} with --quick)",
    )
    parser.add_argument("--repeat", type=int, help="timed runs per contender (default 7 / 5)")
    parser.add_argument(
        "--json-only", action="store_true", help="print only the JSON line on stdout"
    )
    args = parser.parse_args(argv)
    if args.photos is None:
        args.photos = QUICK_PHOTOS if args.quick else FULL_PHOTOS
    if args.repeat is None:
        args.repeat = QUICK_REPEAT if args.quick else FULL_REPEAT
    if args.photos < 1 or args.repeat < 1:
        parser.error("--photos and --repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    out = sys.stderr if args.json_only else sys.stdout
    started = time.perf_counter()
    distinct = [make_photo(i) for i in range(DISTINCT)]
    photos = [distinct[i % DISTINCT] for i in range(args.photos)]
    mean_bytes = sum(len(p) for p in distinct) // DISTINCT
    print(
        f"ordercore {ordercore.__version__} photo-load benchmark: {args.photos} JPEGs of "
        f"{SIZE[0]}x{SIZE[1]} (mean {mean_bytes:,} bytes, orientation 6 on 1 in 3), median of "
        f"{args.repeat} runs after a warm-up; Python {platform.python_version()}, "
        f"Pillow {Image.__version__}, {os.cpu_count()} CPUs",
        file=out,
    )
    # The two ways give the same picture: a check that the floor does the same work.
    same = ours(distinct[0]).tobytes() == pillow_floor(distinct[0]).tobytes()
    report = Report()
    report.figures.update(
        {
            "python": platform.python_version(),
            "pillow": Image.__version__,
            "ordercore": ordercore.__version__,
            "photos": args.photos,
            "repeat": args.repeat,
            "quick": args.quick,
            "mean_jpeg_bytes": mean_bytes,
            "same_pixels_as_floor": same,
        }
    )
    warm = photos[: min(5, len(photos))]

    report.section(f"full size {SIZE[0]}x{SIZE[1]}")
    rates = compare(
        {"ours": loop(ours, photos), "floor": loop(pillow_floor, photos)},
        items=len(photos),
        repeat=args.repeat,
        warmups={"ours": loop(ours, warm), "floor": loop(pillow_floor, warm)},
    )
    ratio = rates["ours"].median / rates["floor"].median
    report.figures["photos_per_s"] = round(rates["ours"].median, 1)
    report.figures["floor_photos_per_s"] = round(rates["floor"].median, 1)
    report.contender("load_photo", rates["ours"])
    report.contender(
        "Pillow open + exif_transpose + convert",
        rates["floor"],
        ours=rates["ours"],
        target=report.target("ratio_vs_decode", 0.85, round(ratio, 3)),
    )

    report.section(f"reduced to fit {TARGET[0]}x{TARGET[1]} (JPEG draft)")
    rates_draft = compare(
        {"ours": loop(ours_draft, photos), "floor": loop(pillow_floor_draft, photos)},
        items=len(photos),
        repeat=args.repeat,
        warmups={"ours": loop(ours_draft, warm), "floor": loop(pillow_floor_draft, warm)},
    )
    ratio_draft = rates_draft["ours"].median / rates_draft["floor"].median
    report.figures["draft_photos_per_s"] = round(rates_draft["ours"].median, 1)
    report.figures["draft_floor_photos_per_s"] = round(rates_draft["floor"].median, 1)
    report.figures["draft_speedup"] = round(rates_draft["ours"].median / rates["ours"].median, 2)
    report.contender("load_photo(target=(224, 224))", rates_draft["ours"])
    report.contender(
        "Pillow open + draft + exif_transpose + convert + thumbnail",
        rates_draft["floor"],
        ours=rates_draft["ours"],
        target=report.target("draft_ratio_vs_decode", 0.85, round(ratio_draft, 3)),
    )
    report.line("draft speed-up of load_photo", f"{report.figures['draft_speedup']:.2f}x")
    report.figures["seconds"] = round(time.perf_counter() - started, 1)
    if not args.json_only:
        print(report.table())
        print()
        if not same:
            print("WARNING: load_photo and the floor gave different pixels for the same file")
        print(
            "Targets: ratio_vs_decode is load_photo's rate over Pillow's own decode of the "
            "same files in the same run, full size and with draft:"
        )
        print(report.targets_table())
    print(report.json_line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
