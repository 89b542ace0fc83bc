"""Chat images: which models of a chain can see them, what counts as the declared type."""

import io

import pytest
from PIL import Image

from airelay.attachments import BadFile, FileTooLarge, ModelCannotSeeImages, image_content, seeing_models
from airelay.images.decode import decode_image
from airelay.settings import Settings

SETTINGS = Settings(vision_chat_models=("openai/gpt-4o-mini", "openai/gpt-4o"))


def test_fallbacks_that_cannot_see_are_skipped():
    chain = ("openai/gpt-4o-mini", "local/smollm2-135m", "openai/gpt-4o")
    assert seeing_models(chain, SETTINGS) == ("openai/gpt-4o-mini", "openai/gpt-4o")


def test_a_requested_model_that_cannot_see_is_refused_even_with_a_seeing_fallback():
    with pytest.raises(ModelCannotSeeImages):
        seeing_models(("local/smollm2-135m", "openai/gpt-4o-mini"), SETTINGS)


def encoded(format: str, size: tuple[int, int] = (4, 4), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format=format)
    return out.getvalue()


@pytest.mark.parametrize(
    ("media_type", "format"),
    [("image/webp", "WEBP"), ("image/gif", "GIF"), ("image/png", "PNG"), ("image/jpeg", "JPEG")],
)
def test_each_type_is_recognised_by_its_bytes(media_type, format):
    """An image of the declared type goes on as a data: URL of that type."""
    assert image_content(media_type, encoded(format))[0]["image_url"]["url"].startswith(f"data:{media_type};base64,")


@pytest.mark.parametrize(
    ("media_type", "data"),
    [
        ("image/webp", b"RIFF\x00\x00\x00\x00WAVEfmt "),
        ("image/gif", b""),
        ("image/jpeg", b"\xff\xd8\xff" + b"this is not a jpeg at all" * 10),
        ("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 "),
        ("image/png", encoded("PNG", (64, 64))[:20]),
        ("image/jpeg", encoded("PNG")),
    ],
    ids=[
        "wav",
        "empty",
        "jpeg-signature-then-text",
        "webp-signature-only",
        "png-cut-in-its-header",
        "png-declared-jpeg",
    ],
)
def test_other_bytes_under_an_image_type_are_refused(media_type, data):
    """The bytes must be an image of the declared type, its whole header read, not only start like one."""
    with pytest.raises(BadFile):
        image_content(media_type, data)


def test_an_image_of_more_pixels_than_allowed_is_too_large_without_being_decoded():
    """Its header's size is enough: over max_pixels is a 413 file_too_large."""
    with pytest.raises(FileTooLarge, match="5000 x 5000 pixels; the limit is 1,000,000"):
        image_content("image/png", encoded("PNG", (5000, 5000), "1"), max_pixels=1_000_000)


def phone_jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    """A JPEG carrying a second image after the first, as phones write portrait photos (Pillow: format "MPO")."""
    out = io.BytesIO()
    first, second = Image.new("RGB", size, (200, 120, 10)), Image.new("L", size, 90)
    first.save(out, format="MPO", save_all=True, append_images=[second])
    return out.getvalue()


def test_a_phone_photo_with_a_second_image_is_a_jpeg():
    content, held = image_content("image/jpeg", phone_jpeg())
    assert content["image_url"]["url"].startswith("data:image/jpeg;base64,") and held > 0
    # AND it is decoded as a JPEG is: drafted to a reduced size while it is read, not decoded whole
    plain = encoded("JPEG", (2000, 1500))
    assert decode_image(phone_jpeg((2000, 1500)), 16_000_000).size == decode_image(plain, 16_000_000).size
