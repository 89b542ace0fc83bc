"""decode_image at its edges: every EXIF orientation, EXIF that cannot be read, and JPEGs whose first scan does not
hold every component (decoded at full size, like a progressive one)."""

from __future__ import annotations

import io
import random
import struct

import pytest
from PIL import Image, ImageOps

from airelay.images.decode import ImageTooLarge, decode_image, orientation
from airelay.images.jpeg_scans import components_per_scan

LIMIT = 16_000_000


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def quadrants(width: int, height: int) -> Image.Image:
    """Four colours, one a corner, so every turn and flip gives different pixels."""
    image = Image.new("RGB", (width, height), "red")
    image.paste((0, 255, 0), (width // 2, 0, width, height // 2))
    image.paste((0, 0, 255), (0, height // 2, width // 2, height))
    image.paste((255, 255, 0), (width // 2, height // 2, width, height))
    return image


def exif_saying(turn: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = turn
    return exif.tobytes()


# ---------------------------------------------------------------- orientation


@pytest.mark.parametrize("turn", range(1, 9))
def test_every_exif_orientation_turns_the_image_as_pillow_would(turn):
    # GIVEN a lossless image whose EXIF carries one of the eight orientations
    payload = encoded(quadrants(40, 20), "PNG", exif=exif_saying(turn))
    # WHEN it is decoded
    image = decode_image(payload, LIMIT)
    # THEN its pixels are those Pillow's own exif_transpose gives
    with Image.open(io.BytesIO(payload)) as original:
        expected = ImageOps.exif_transpose(original).convert("RGB")
    assert image.size == expected.size and image.tobytes() == expected.tobytes()


def test_orientation_6_turns_a_landscape_photo_to_portrait():
    image = decode_image(encoded(quadrants(40, 20), "PNG", exif=exif_saying(6)), LIMIT)
    assert image.size == (20, 40)
    assert image.getpixel((15, 5)) == (255, 0, 0)  # the top-left red corner is now top right


def test_an_orientation_beside_a_tag_of_the_wrong_type_is_still_applied():
    # GIVEN EXIF with WhitePoint (a RATIONAL tag) written as ASCII, which Pillow cannot write back, and orientation 6
    entries = struct.pack(">HHI4s", 0x013E, 2, 4, b"cam\0") + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0)
    exif = b"Exif\0\0MM\0*" + struct.pack(">IH", 8, 2) + entries + struct.pack(">I", 0)
    # WHEN a JPEG carrying it is decoded
    image = decode_image(encoded(Image.new("RGB", (64, 48), "red"), "JPEG", exif=exif), LIMIT)
    # THEN it is turned, and nothing was raised
    assert image.size == (48, 64)


def test_exif_that_cannot_be_read_is_ignored():
    # GIVEN a PNG large enough to be box-reduced, whose EXIF is not a TIFF structure at all
    payload = encoded(quadrants(1200, 1100), "PNG", exif=b"Exif\0\0MX\0*\0\0\0\x08\0\0")
    # WHEN it is decoded
    image = decode_image(payload, LIMIT)
    # THEN it comes out reduced and unturned
    assert image.size == (600, 550) and image.getpixel((5, 5)) == (255, 0, 0)


@pytest.mark.parametrize("value", ["6", 6.0, (6, 6)], ids=["text", "float", "tuple"])
def test_an_orientation_that_is_not_a_number_means_no_turn(value):
    class Stated:
        def getexif(self):
            return {0x0112: value}

    assert orientation(Stated()) is None


def test_an_exif_reader_that_raises_means_no_turn():
    class Unreadable:
        def getexif(self):
            raise struct.error("unpack requires a buffer of 4 bytes")

    assert orientation(Unreadable()) is None


# ---------------------------------------------------------------- scans


def segment(marker: int, payload: bytes) -> bytes:
    return struct.pack(">HH", marker, len(payload) + 2) + payload


def flat_baseline_jpeg(width: int, height: int, interleaved: bool) -> bytes:
    """A flat grey 4:4:4 baseline JPEG, its three components in one scan or one scan each. Huffman tables of one
    one-bit code make every 8 x 8 block two bits: "no DC change", "end of block"."""
    blocks = -(-width // 8) * -(-height // 8)
    components = b"".join(bytes([c, 0x11, 0]) for c in (1, 2, 3))
    frame = segment(0xFFC0, struct.pack(">BHHB", 8, height, width, 3) + components)
    one_code = bytes([1] + [0] * 15) + b"\0"
    tables = segment(0xFFDB, b"\0" + b"\1" * 64) + segment(0xFFC4, b"\0" + one_code + b"\x10" + one_code)

    def scan(ids: tuple[int, ...]) -> bytes:
        bits = 2 * blocks * len(ids)
        data = bytes(bits // 8) + (bytes([0xFF >> (bits % 8)]) if bits % 8 else b"")
        return segment(0xFFDA, bytes([len(ids)]) + b"".join(bytes([c, 0]) for c in ids) + b"\0\x3f\0") + data

    scans = scan((1, 2, 3)) if interleaved else scan((1,)) + scan((2,)) + scan((3,))
    return b"\xff\xd8" + frame + tables + scans + b"\xff\xd9"


def test_a_baseline_jpeg_from_pillow_has_every_component_in_its_first_scan():
    assert components_per_scan(encoded(Image.new("RGB", (64, 64)), "JPEG")) == (3, 3)
    assert components_per_scan(encoded(Image.new("L", (64, 64)), "JPEG")) == (1, 1)


def test_a_scan_per_component_is_read_from_the_header():
    assert components_per_scan(flat_baseline_jpeg(64, 64, interleaved=True)) == (3, 3)
    assert components_per_scan(flat_baseline_jpeg(64, 64, interleaved=False)) == (3, 1)


def test_fill_bytes_and_junk_between_segments_are_skipped_as_libjpeg_does():
    payload = flat_baseline_jpeg(64, 64, interleaved=False)
    padded = payload[:2] + b"junk\xff\x00\xff\xff" + payload[2:]
    assert components_per_scan(padded) == (3, 1)


def test_a_header_that_cannot_be_read_gives_no_answer_and_raises_nothing():
    header = flat_baseline_jpeg(64, 64, interleaved=True)
    header = header[: header.index(b"\xff\xda") + 6]
    for cut in range(len(header) - 1):  # every truncation before the scan's component count
        assert components_per_scan(header[:cut]) is None
    assert components_per_scan(header[:2] + b"\xff\xda\x00\x01") is None  # a length below its own two bytes
    assert components_per_scan(header[:2] + segment(0xFFDA, b"\x03")) is None  # a scan before any frame
    rng = random.Random(12)
    for _ in range(200):
        components_per_scan(b"\xff\xd8" + rng.randbytes(rng.randrange(64)))


def test_an_interleaved_baseline_jpeg_counts_at_its_reduced_scale():
    # 64 M pixels decoded at 1/8 scale: 1 M
    image = decode_image(flat_baseline_jpeg(8000, 8000, interleaved=True), LIMIT)
    assert image.size == (1000, 1000)


def test_a_jpeg_with_a_scan_per_component_counts_at_its_full_size():
    with pytest.raises(ImageTooLarge, match="components in separate scans of 8000 x 8000 pixels"):
        decode_image(flat_baseline_jpeg(8000, 8000, interleaved=False), LIMIT)


def test_a_jpeg_with_a_scan_per_component_within_the_limit_decodes_small():
    image = decode_image(flat_baseline_jpeg(2048, 2048, interleaved=False), LIMIT)
    assert image.size == (512, 512) and image.getpixel((256, 256)) == pytest.approx((128, 128, 128), abs=2)


def test_a_jpeg_whose_first_scan_cannot_be_read_counts_at_its_full_size():
    # GIVEN a JPEG header Pillow can open (its frame says 8000 x 8000) that ends before any scan
    payload = flat_baseline_jpeg(8000, 8000, interleaved=True)
    header_only = payload[: payload.index(b"\xff\xda")]
    # WHEN it is decoded, THEN it is refused from its header: the safe side
    with pytest.raises(ImageTooLarge, match="first scan cannot be read"):
        decode_image(header_only, LIMIT)
