"""Chat images: which models of a chain can see them, what counts as the declared type."""

import pytest

from airelay.attachments import BadFile, ModelCannotSeeImages, image_content, seeing_models
from airelay.settings import Settings

SETTINGS = Settings(vision_chat_models=("openai/gpt-4o-mini", "openai/gpt-4o"))


def test_fallbacks_that_cannot_see_are_skipped():
    chain = ("openai/gpt-4o-mini", "local/smollm2-135m", "openai/gpt-4o")
    assert seeing_models(chain, SETTINGS) == ("openai/gpt-4o-mini", "openai/gpt-4o")


def test_a_requested_model_that_cannot_see_is_refused_even_with_a_seeing_fallback():
    with pytest.raises(ModelCannotSeeImages):
        seeing_models(("local/smollm2-135m", "openai/gpt-4o-mini"), SETTINGS)


@pytest.mark.parametrize(
    ("media_type", "data"),
    [
        ("image/webp", b"RIFF\x00\x00\x00\x00WEBPVP8 "),
        ("image/gif", b"GIF89a\x01\x00"),
        ("image/png", b"\x89PNG\r\n\x1a\n\x00"),
        ("image/jpeg", b"\xff\xd8\xff\xe0"),
    ],
)
def test_each_type_is_recognised_by_its_signature(media_type, data):
    assert image_content(media_type, data)["image_url"]["url"].startswith(f"data:{media_type};base64,")


@pytest.mark.parametrize(("media_type", "data"), [("image/webp", b"RIFF\x00\x00\x00\x00WAVEfmt "), ("image/gif", b"")])
def test_other_bytes_under_an_image_type_are_refused(media_type, data):
    with pytest.raises(BadFile):
        image_content(media_type, data)
