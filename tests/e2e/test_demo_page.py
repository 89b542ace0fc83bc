"""The demo page (web/demo, served by the local API at /) in headless Chromium, with chat answered by a fake
upstream whose text, timing and faults the tests choose. Screenshots: test-output/screenshots/."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image
from skimage import data

from tests.support.upstream import FakeUpstream, Ok, ResetMidStream, Status

from .stack import run_node

DEMO = "tests/e2e/browser/demo.mjs"


def drive(scenario: str, base_url: str, **env: str) -> dict:
    return run_node([DEMO, scenario], env={"BASE_URL": base_url, **env})


def test_a_streamed_answer_appears_incrementally_with_tokens_and_cost(fake_stack, upstream):
    # GIVEN an upstream that takes 1 s to start and then sends 20 chunks 0.1 s apart
    upstream.script(Ok(delay_s=1.0, chunk_delay_s=0.1))
    # WHEN the page sends a message
    seen = drive("chat-incremental", fake_stack, EXPECTED_TEXT=FakeUpstream.REPLY_TEXT)
    # THEN the first characters were on screen while the stream went on, and the whole text matches exactly
    assert 0 < len(seen["early"]) < len(seen["final"]) == len(FakeUpstream.REPLY_TEXT)
    assert seen["steps"] >= 5
    assert upstream.requests[-1]["messages"][-1] == {"role": "user", "content": "Say hello."}


def test_stop_keeps_the_partial_answer_and_closes_the_upstream(fake_stack, upstream):
    upstream.script(Ok(chunks=200, chunk_delay_s=0.05))
    seen = drive("chat-stop", fake_stack)
    assert upstream.wait_closed(5.0), "the server must close the upstream request when the page stops"
    assert seen["text"] and FakeUpstream.reply_text(200).startswith(seen["text"])
    assert len(seen["text"]) < len(FakeUpstream.reply_text(200))


def test_a_stopped_answer_is_sent_with_the_next_message_as_history(fake_stack, upstream):
    """Stop keeps what has arrived: the stopped question and its partial answer stay in the conversation the model is
    sent, as useChat keeps a stopped message, so "Make it shorter." reaches the model with what it follows."""
    upstream.script(Ok(chunks=200, chunk_delay_s=0.05), Ok())
    seen = drive("chat-stop-then-follow-up", fake_stack)
    *history, latest = [m for m in upstream.requests[-1]["messages"] if m["role"] != "system"]
    assert latest == {"role": "user", "content": "Make it shorter."}
    assert seen["stopped"] and history == [
        {"role": "user", "content": "Tell me a long story."},
        {"role": "assistant", "content": seen["stopped"]},
    ]


@pytest.mark.upstream_failure
def test_errors_are_shown_with_a_retry_that_resends(fake_stack, upstream):
    # GIVEN the upstream is down once, then breaks after 3 chunks, then answers
    upstream.script(Status(503), ResetMidStream(after_chunks=3), "ok")
    seen = drive("chat-error-retry", fake_stack, EXPECTED_TEXT=FakeUpstream.REPLY_TEXT)
    # THEN the first error is the server's safe message with status and code
    assert "(HTTP 503 · provider_unavailable)" in seen["first"]
    assert FakeUpstream.SECRET_MARKER not in seen["first"] + seen["second"]
    # the mid-stream failure keeps what had arrived and says it failed
    assert seen["partial"] == FakeUpstream.reply_text(3)
    assert seen["second"]
    # and each Retry sent the same message again, once
    assert len(upstream.requests) == 3
    assert [r["messages"][-1]["content"] for r in upstream.requests] == ["Say hello."] * 3


def test_the_dashboard_changes_after_a_chat_and_the_token_limit_is_noticed(fake_stack, upstream):
    seen = drive("dashboard", fake_stack)
    assert seen["after"]["calls"] == seen["before"]["calls"] + 1
    assert upstream.requests[-1]["max_tokens"] == 5


def test_sentiment_and_faq_panels(fake_stack, upstream):
    seen = drive("tools", fake_stack)
    assert seen["korean"] == "Positive" and seen["english"] == "Negative"
    assert seen["source"] == "faq"
    assert not upstream.requests  # the FAQ matched: no chat model call


def test_an_uploaded_image_gets_labels(fake_stack, coffee_jpeg):
    seen = drive("image", fake_stack, IMAGE_FILE=str(coffee_jpeg))
    assert seen["labels"][0] == "espresso"


def test_a_photo_over_the_upload_limit_is_scaled_down_in_the_browser_and_classified(fake_stack, tmp_path):
    """GIVEN a phone-sized photo (4200x2800 px, about 6 MB) over IMAGE_MAX_BYTES (4,400,000), which the local API,
    like Lambda, refuses before the function runs
    WHEN it is chosen in the image panel and classified, and then a file that is no image
    THEN the photo was sent as a JPEG 2048 px on its long side, well under the limit, and labelled; the other file
    gets a clear message in the panel and is never sent."""
    big = Image.fromarray(data.coffee()).resize((4200, 2800), Image.BICUBIC)
    noise = np.random.default_rng(7).normal(0, 10, (2800, 4200, 3))
    photo = tmp_path / "holiday.jpg"
    Image.fromarray((np.asarray(big) + noise).clip(0, 255).astype(np.uint8)).save(photo, quality=95)
    assert photo.stat().st_size > 5_500_000

    seen = drive("image-large", fake_stack, IMAGE_FILE=str(photo))

    assert seen["labels"][0] == "espresso"
    [upload] = seen["uploads"]  # the file that is no image was never sent
    sent = base64.b64decode(upload["image"])
    assert len(sent) < upload["bodyBytes"] < 3_000_000
    assert upload["name"] == "holiday.jpg" and upload["type"] == "image/jpeg"
    with Image.open(io.BytesIO(sent)) as image:
        assert image.format == "JPEG" and image.size == (2048, 1365)
    assert "scaled down" in seen["caption"]
    assert "notes.png could not be read as an image" in seen["refused"]
