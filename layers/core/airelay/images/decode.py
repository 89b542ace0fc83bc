"""Bytes -> a decoded RGB image, or a clear 4xx. The one place where images are decoded.

The pixel count is checked from the header, before any pixel is decoded (decompression bombs); only the first frame
of an animation is read; EXIF rotation is applied; large JPEGs are decoded at a reduced scale (DCT scaling), since
the classifiers look at 224-512 pixels a side.
"""

from __future__ import annotations

import io
import warnings

from ..errors import InvalidInput, PayloadTooLarge

FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
DRAFT_SIDE = 512  # a JPEG is decoded at the smallest scale that keeps both sides at least this large


class NotAnImage(InvalidInput):
    code = "not_an_image"
    message = "The data is not a JPEG, PNG, WebP, GIF or BMP image."


class ImageTooLarge(PayloadTooLarge):
    code = "image_too_large"
    message = "The image is too large."


def decode_image(data: bytes, max_pixels: int):
    """Decodes `data` into an RGB PIL image; NotAnImage (422) or ImageTooLarge (413) otherwise."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    # Pillow's own bomb check warns above Image.MAX_IMAGE_PIXELS; ours (below, before decoding) decides instead.
    warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
    if not data:
        raise NotAnImage("The image is empty.")
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLarge(f"The image has {width} x {height} pixels; the limit is {max_pixels:,} pixels.")
        if image.format == "JPEG":
            image.draft("RGB", (DRAFT_SIDE, DRAFT_SIDE))
        image.load()
        return ImageOps.exif_transpose(image).convert("RGB")
    except Image.DecompressionBombError:  # more than twice Pillow's limit: refused by Pillow while reading the header
        raise ImageTooLarge(
            f"The image has more than {2 * Image.MAX_IMAGE_PIXELS:,} pixels; the limit is {max_pixels:,} pixels."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError):
        raise NotAnImage() from None
