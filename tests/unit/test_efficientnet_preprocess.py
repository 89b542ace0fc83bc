"""preprocess: the centre crop of the image with its short side at 256, made from the source region it covers."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image

from airelay.providers.local_efficientnet import preprocess


def resized_then_cropped(image) -> np.ndarray:
    """The reference: the whole image resized (short side 256, bilinear), then its centre 224 x 224 cropped."""
    width, height = image.size
    scale = 256 / min(width, height)
    size = (round(width * scale), round(height * scale))
    left, top = (size[0] - 224) // 2, (size[1] - 224) // 2
    image = image.convert("RGB").resize(size, Image.Resampling.BILINEAR).crop((left, top, left + 224, top + 224))
    pixels = (np.asarray(image, dtype=np.float32) - 127.0) / 128.0
    return pixels.transpose(2, 0, 1)[np.newaxis]


def gradient(width: int, height: int) -> Image.Image:
    x = np.linspace(0, 255, width)[np.newaxis, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, np.newaxis].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, (x + y) / 2], axis=2).astype(np.uint8))


def noise(width: int, height: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(12).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "image",
    [gradient(640, 480), gradient(480, 640), noise(640, 480), noise(333, 1001)],
    ids=["gradient-landscape", "gradient-portrait", "noise-landscape", "noise-odd-portrait"],
)
def test_an_ordinary_image_is_preprocessed_as_if_resized_then_cropped(image):
    # GIVEN an ordinary image WHEN it is preprocessed
    pixels = preprocess(image)
    # THEN it is the model's input, and the same as resizing the whole image and cropping its centre (to within one
    # step of 8-bit rounding: 1/128 after normalising)
    assert pixels.shape == (1, 3, 224, 224) and pixels.dtype == np.float32
    assert np.abs(pixels - resized_then_cropped(image)).max() <= 1 / 128


def test_a_one_pixel_wide_image_is_preprocessed_quickly():
    # GIVEN a 1 x 100,000 pixel image (resized whole, it would be 256 x 25,600,000 pixels: 26 GB)
    image = Image.new("L", (1, 100_000), 200)
    # WHEN it is preprocessed
    started = time.perf_counter()
    pixels = preprocess(image)
    # THEN it is the model's input, made in well under a second
    assert time.perf_counter() - started < 1.0
    assert pixels.shape == (1, 3, 224, 224) and pixels.dtype == np.float32
    assert np.allclose(pixels, (200 - 127) / 128)
