"""The demo page attaches an image to a chat message: chosen with the file input, shown in the conversation, and
posted as useChat posts one (a `file` part with a data: URL), which reaches the model as image content. A file
type the server does not take is its clear 4xx, shown in the answer. Headless Chromium, the fake upstream answering
as a vision model."""

from __future__ import annotations

import base64

from tests.support.photos import jpeg_bytes
from tests.support.upstream import FakeUpstream, Ok

from .stack import run_node


def test_an_attached_image_is_shown_and_reaches_the_model(fake_stack, upstream):
    # GIVEN the demo page and a photo to attach
    photo = jpeg_bytes()
    upstream.script(Ok())
    # WHEN a message is sent with the photo attached, and then one with a text file attached
    seen = run_node(
        ["tests/e2e/browser/demo.mjs", "chat-image"],
        env={
            "BASE_URL": fake_stack,
            "EXPECTED_TEXT": FakeUpstream.REPLY_TEXT,
            "IMAGE_BASE64": base64.b64encode(photo).decode(),
        },
    )
    # THEN the photo was shown as the chosen attachment, then in the user's message, and the answer came
    assert seen["chip"] == "coffee.jpg" and seen["chipHiddenAfterSend"] is True
    assert seen["imageVisible"] is True and seen["imageAlt"] == "Attached image: coffee.jpg"
    assert seen["imageSrcPrefix"] == "data:image/jpeg;base64," and seen["imageWidth"] > 0
    # AND the model got the text and the photo as image content, byte for byte
    [request] = [r for r in upstream.requests if "photo" in str(r["messages"][-1]["content"])]
    content = request["messages"][-1]["content"]
    assert {"type": "text", "text": "What is in this photo?"} in content
    [image] = [c for c in content if c["type"] == "image_url"]
    assert base64.b64decode(image["image_url"]["url"].split(",", 1)[1]) == photo
    # AND the text file never reached the model: the server's refusal is shown with its code
    assert "unsupported_media_type" in seen["refused"]
    assert len(upstream.requests) == 1
