"""decode_image: every supported format, upright, small, and in bounded memory whatever the file claims."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap

import pytest
from PIL import Image
from skimage import data

from airelay.images.decode import ImageTooLarge, NotAnImage, decode_image
from airelay.settings import Settings
from tests.conftest import ROOT

MB = 1024 * 1024
DEFAULT_MAX_PIXELS = Settings().image_max_pixels

# Decodes one file in a fresh interpreter and prints how much its peak RSS grew. Pillow's pixel buffers are
# allocated outside Python's allocator, where tracemalloc cannot see them; getrusage's peak is inherited from the
# parent across fork, so the kernel's per-process high-water mark is reset (clear_refs) and read instead.
MEASURE = textwrap.dedent(
    """
    import json, re, sys
    from PIL import Image
    from airelay.errors import AirelayError
    from airelay.images.decode import decode_image
    from airelay.settings import Settings

    def status_kb(field):
        with open("/proc/self/status") as status:
            return int(re.search(field + r":\\s+(\\d+) kB", status.read()).group(1))

    Image.init()
    data = sys.stdin.buffer.read()
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")
    before = status_kb("VmRSS")
    try:
        image = decode_image(data, Settings().image_max_pixels)
        result = {"size": list(image.size), "mode": image.mode}
    except AirelayError as refused:
        result = {"status": refused.status, "code": refused.code}
    result["peak_growth_kb"] = status_kb("VmHWM") - before
    print(json.dumps(result))
    """
)


def peak_memory_of_decoding(data: bytes) -> dict:
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'core'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", MEASURE], input=data, capture_output=True, env=env, timeout=120, check=True
    )
    return json.loads(done.stdout)


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def animated_webp(side: int) -> bytes:
    frames = [Image.new("RGB", (side, side), colour) for colour in ("white", "black")]
    return encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True, duration=100)


def one_bit_png(width: int, height: int) -> bytes:
    return encoded(Image.new("1", (width, height)), "PNG", optimize=True)


def rle8_bmp(width: int, height: int) -> bytes:
    """An 8-bit run-length-encoded BMP of one colour (Pillow reads BI_RLE8 but does not write it)."""
    row = bytes([255, 0]) * (width // 255) + bytes([width % 255, 0]) + b"\0\0"  # runs, then end of line
    pixels = row * height + b"\0\1"  # end of bitmap
    palette = bytes(256 * 4)
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return struct.pack("<2sIHHI", b"BM", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def coffee() -> Image.Image:
    return Image.fromarray(data.coffee())  # scikit-image's 600 x 400 photo


# ---------------------------------------------------------------- memory


@pytest.mark.parametrize(
    "crafted",
    [
        pytest.param(lambda: animated_webp(6000), id="140-byte animated WebP of 6000 x 6000"),
        pytest.param(lambda: one_bit_png(6324, 6324), id="5 KB 1-bit PNG of 40 M pixels"),
    ],
)
def test_a_tiny_file_that_claims_a_huge_image_is_refused_in_little_memory(crafted):
    # GIVEN a file of a few bytes whose header claims far more pixels than the default limit
    payload = crafted()
    assert len(payload) < 6000
    # WHEN it is decoded in a fresh interpreter
    result = peak_memory_of_decoding(payload)
    # THEN it is a 413, refused from the header: the process hardly grew
    assert (result.get("status"), result.get("code")) == (413, "image_too_large")
    assert result["peak_growth_kb"] * 1024 < 32 * MB


@pytest.mark.parametrize(
    "mode,fmt",
    [("1", "PNG"), ("P", "GIF"), ("P", "PNG"), ("P", "BMP")],
    ids=["1-bit PNG", "GIF", "palette PNG", "8-bit BMP"],
)
def test_an_image_at_the_pixel_limit_decodes_small_without_a_full_size_copy(mode, fmt):
    # GIVEN a one-byte-per-pixel image as large as the default limit allows (16 M pixels: 16 MB decoded)
    side = int(DEFAULT_MAX_PIXELS**0.5)
    payload = rle8_bmp(side, side) if fmt == "BMP" else encoded(Image.new(mode, (side, side)), fmt)
    assert len(payload) < 5 * MB
    # WHEN it is decoded in a fresh interpreter
    result = peak_memory_of_decoding(payload)
    # THEN it comes out reduced to what the classifiers need (both sides still at least 512)
    assert result["mode"] == "RGB" and 512 <= min(result["size"]) < 1024
    # AND memory grew by about the decoded pixels, not by a full-size RGB copy (4 bytes a pixel) on top of them
    assert result["peak_growth_kb"] * 1024 < 4 * DEFAULT_MAX_PIXELS


def test_the_default_pixel_limit_is_refused_from_the_header():
    side = int(DEFAULT_MAX_PIXELS**0.5) + 1
    with pytest.raises(ImageTooLarge, match=f"{side} x {side} pixels; the limit is {DEFAULT_MAX_PIXELS:,}"):
        decode_image(one_bit_png(side, side), DEFAULT_MAX_PIXELS)


def test_a_jpeg_counts_at_the_scale_it_is_decoded_at():
    # GIVEN a JPEG of 64 M pixels, which the decoder reads at 1/8 scale (1000 x 1000)
    payload = encoded(Image.new("RGB", (8000, 8000), "navy"), "JPEG", quality=20)
    # WHEN it is decoded with a 16 M pixel limit
    image = decode_image(payload, 16_000_000)
    # THEN it is accepted, and small
    assert image.size == (1000, 1000) and image.getpixel((500, 500)) == pytest.approx((0, 0, 128), abs=2)


def progressive_jpeg_claiming(side: int) -> bytes:
    """A 64 x 64 progressive JPEG whose frame header (SOF2) says `side` x `side`."""
    payload = bytearray(encoded(Image.new("L", (64, 64), 128), "JPEG", progressive=True))
    frame = payload.index(b"\xff\xc2")
    payload[frame + 5 : frame + 9] = struct.pack(">HH", side, side)
    return bytes(payload)


def test_a_progressive_jpeg_counts_at_its_full_size():
    # GIVEN a progressive JPEG whose header says 13000 x 13000: its decoder would hold every coefficient at full
    # size (about 330 MB for a 0.7 MB grey file, 1 GB for an RGB one) whatever the scale it outputs
    payload = progressive_jpeg_claiming(13000)
    # WHEN it is decoded in a fresh interpreter with the default limit
    result = peak_memory_of_decoding(payload)
    # THEN it is a 413, refused from the header: the process hardly grew
    assert (result.get("status"), result.get("code")) == (413, "image_too_large")
    assert result["peak_growth_kb"] * 1024 < 32 * MB
    with pytest.raises(ImageTooLarge, match="progressive JPEG of 13000 x 13000 pixels"):
        decode_image(payload, DEFAULT_MAX_PIXELS)


def test_a_progressive_jpeg_within_the_limit_decodes_small():
    payload = encoded(Image.new("RGB", (4000, 4000), "navy"), "JPEG", progressive=True, quality=20)
    image = decode_image(payload, DEFAULT_MAX_PIXELS)
    assert image.size == (1000, 1000) and image.getpixel((500, 500)) == pytest.approx((0, 0, 128), abs=2)


# ---------------------------------------------------------------- formats and orientation


@pytest.mark.parametrize(
    "fmt,options",
    [("JPEG", {}), ("PNG", {}), ("WEBP", {"quality": 90}), ("GIF", {}), ("BMP", {})],
)
def test_every_supported_format_decodes_to_the_same_photo(fmt, options):
    photo = coffee()
    image = decode_image(encoded(photo, fmt, **options), DEFAULT_MAX_PIXELS)
    assert image.mode == "RGB" and image.size == photo.size
    # the centre pixel keeps its colour (GIF's 256-colour palette and lossy codecs stay close)
    assert image.getpixel((300, 200)) == pytest.approx(photo.getpixel((300, 200)), abs=24)


def test_only_the_first_frame_of_an_animated_gif_is_read():
    frames = [Image.new("RGB", (64, 64), "red"), Image.new("RGB", (64, 64), "blue")]
    payload = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert decode_image(payload, DEFAULT_MAX_PIXELS).getpixel((32, 32)) == (255, 0, 0)


@pytest.mark.parametrize(
    "fmt,size,upright_size",
    [
        ("JPEG", (800, 400), (400, 800)),
        ("PNG", (800, 400), (400, 800)),
        ("WEBP", (800, 400), (400, 800)),
        ("JPEG", (4000, 2000), (1000, 2000)),  # decoded at 1/2 scale
        ("PNG", (4000, 2000), (667, 1334)),  # box-reduced by 3
        ("WEBP", (4000, 2000), (667, 1334)),
    ],
)
def test_exif_orientation_is_applied(fmt, size, upright_size):
    # GIVEN a landscape image, left half blue, whose EXIF says "rotate 90 degrees clockwise to view"
    image = Image.new("RGB", size, "red")
    image.paste((0, 0, 255), (0, 0, size[0] // 2, size[1]))
    exif = Image.Exif()
    exif[0x0112] = 6
    # WHEN it is decoded
    upright = decode_image(encoded(image, fmt, exif=exif.tobytes()), DEFAULT_MAX_PIXELS)
    # THEN it is portrait with the blue half on top; a large one reduced so both sides stay at least 512
    assert upright.size == upright_size
    assert upright.getpixel((upright.width // 2, 4))[2] > 200
    assert upright.getpixel((upright.width // 2, upright.height - 4))[0] > 200


@pytest.mark.parametrize("payload", [b"", b"GIF89a", b"BM" + b"\0" * 40, b"RIFF\0\0\0\0WEBPVP8 "])
def test_truncated_or_empty_files_are_not_images(payload):
    with pytest.raises(NotAnImage):
        decode_image(payload, DEFAULT_MAX_PIXELS)
