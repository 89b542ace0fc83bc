"""The sample photo of the image tests: scikit-image's coffee photo (600 x 400, shipped in its wheel) as JPEG bytes,
and a small copy of it as base64 for request bodies."""

from __future__ import annotations

import base64
import io

from PIL import Image
from skimage import data


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.fromarray(data.coffee()).save(out, "JPEG", quality=90)
    return out.getvalue()


def small_jpeg_base64() -> str:
    out = io.BytesIO()
    Image.fromarray(data.coffee()).resize((64, 42)).save(out, "JPEG", quality=70)
    return base64.b64encode(out.getvalue()).decode()
