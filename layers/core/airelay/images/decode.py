"""Bytes -> a decoded RGB image, or a clear 4xx. The one place where images are decoded, or (image_format) checked
without decoding for a model that decodes them itself.

The pixel count that will be decoded is checked from the header first (decompression bombs; a JPEG decoded scan by scan,
progressive or with a scan per component, at its full size, which its decoder holds whatever the scale); only the first
frame of an animation is read. The classifiers look at 224-512 pixels a side, so nothing much larger is kept: a JPEG is
decoded at a reduced scale (DCT scaling), other formats are box-reduced right after decoding, a band of rows at a time,
and only the small image is converted to RGB and turned as its EXIF orientation says."""

from __future__ import annotations

import io
import warnings
from contextlib import contextmanager

from ..errors import InvalidInput, PayloadTooLarge
from .jpeg_scans import components_per_scan

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
# Pillow names a JPEG that carries more images (a phone's depth map, a second view: CIPA's Multi-Picture Format)
# "MPO"; its first image is the JPEG every decoder reads.
JPEG_FORMATS = ("JPEG", "MPO")
KEPT_SIDE = 512  # the decoded image is reduced to the smallest size that keeps both sides at least this large
BAND_ROWS = 64  # rows of the reduced image made at a time
EXIF_ORIENTATION = 0x0112
# An EXIF orientation -> the Image.Transpose that turns the image upright (the table ImageOps.exif_transpose uses)
UPRIGHT_TURNS = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}


class NotAnImage(InvalidInput):
    code = "not_an_image"
    message = "The data is not a JPEG, PNG, WebP, GIF or BMP image."


class ImageTooLarge(PayloadTooLarge):
    code = "image_too_large"
    message = "The image is too large."


def decode_image(data: bytes, max_pixels: int):
    """Decodes `data` into a small RGB PIL image; NotAnImage (422) or ImageTooLarge (413) otherwise."""
    with opened(data, max_pixels) as image:
        width, height = image.size
        if image.format in JPEG_FORMATS:
            held_whole = full_size_reason(image, data)
            if held_whole and width * height > max_pixels:
                raise ImageTooLarge(
                    f"The image is {held_whole} of {width} x {height} pixels; the limit for one is {max_pixels:,} pixels."
                )
            image.draft("RGB", (KEPT_SIDE, KEPT_SIDE))  # sets the decoded size, decodes nothing yet
        if image.width * image.height > max_pixels:
            raise ImageTooLarge(f"The image has {width} x {height} pixels; the limit is {max_pixels:,} pixels.")
        image.load()
        return upright_rgb(reduced(image))


def image_format(data: bytes, max_pixels: int | None) -> tuple[str, int, int]:
    """The format (one of FORMATS) `data` is and its width and height, from its header as Pillow reads it, nothing
    decoded; NotAnImage (422), or ImageTooLarge (413) over `max_pixels` at full size (None: over Pillow's own bomb
    limit only)."""
    with opened(data, max_pixels) as image:
        width, height = image.size
        if max_pixels is not None and width * height > max_pixels:
            raise ImageTooLarge(f"The image has {width} x {height} pixels; the limit is {max_pixels:,} pixels.")
        return ("JPEG" if image.format in JPEG_FORMATS else image.format), width, height


@contextmanager
def opened(data: bytes, max_pixels: int | None):
    """The image as Pillow opens it (its header read, no pixel decoded yet); what fails within, as NotAnImage or
    ImageTooLarge."""
    from PIL import Image, UnidentifiedImageError

    # Pillow's own bomb check warns above Image.MAX_IMAGE_PIXELS; ours (before decoding) decides instead.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    if not data:
        raise NotAnImage("The image is empty.")
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            yield image
    except Image.DecompressionBombError:  # more than twice Pillow's limit: refused by Pillow while reading the header
        limit = f"; the limit is {max_pixels:,} pixels" if max_pixels is not None else ""
        raise ImageTooLarge(f"The image has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels{limit}.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise NotAnImage() from None


def full_size_reason(image, data: bytes) -> str | None:
    """Why the decoder holds this JPEG's coefficients at full size, or None when it does not.

    A JPEG decoded scan by scan (progressive, or with its components in separate scans) keeps the whole image's
    coefficients, at full size, however small the scale it outputs (about 2 bytes per pixel and channel), so its full
    size is what the cap applies to. A header that cannot be read up to its first scan is counted the same way."""
    if image.info.get("progressive") or image.info.get("progression"):
        return "a progressive JPEG"
    counts = components_per_scan(data)
    if counts is None:
        return "a JPEG whose first scan cannot be read"
    frame, first_scan = counts
    return "a JPEG with its components in separate scans" if first_scan < frame else None


def sample_jpeg() -> bytes:
    """A small JPEG, for a warm-up at INIT (Pillow loads its plugins at first use)."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 80, 40)).save(out, "JPEG")
    return out.getvalue()


def reduced(image):
    """A box-filtered RGB copy with both sides still at least KEPT_SIDE, or the image itself when it is small.

    Reduced a band of rows at a time, so a palette, 1-bit or RGBA image is never converted at its full size."""
    from PIL import Image

    factor = min(image.size) // KEPT_SIDE
    if factor < 2:
        return image
    width, height = image.size
    band = factor * BAND_ROWS
    out = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    for top in range(0, height, band):
        rows = image.crop((0, top, width, min(top + band, height))).convert("RGB")
        out.paste(rows.reduce(factor), (0, top // factor))
    out.info = image.info  # the EXIF orientation, for upright_rgb
    return out


def upright_rgb(image):
    """A new RGB image, turned as its EXIF orientation says."""
    from PIL import Image

    rgb = image.convert("RGB")  # a copy even of an RGB image, so the decoder's image can be closed
    turn = UPRIGHT_TURNS.get(orientation(image))
    return rgb.transpose(Image.Transpose[turn]) if turn else rgb


def orientation(image) -> int | None:
    """The EXIF orientation, or None when there is none or the EXIF cannot be read: it is only a hint, and a tag of
    the wrong type elsewhere in it must not cost the image. The EXIF is only read, never written back."""
    try:
        value = image.getexif().get(EXIF_ORIENTATION)
    except Exception:
        return None
    return value if isinstance(value, int) else None
