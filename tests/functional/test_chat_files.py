"""Images in chat (useChat's `file` parts) through ChatFunction's handler: what reaches a model that sees, and every
refusal, each a clear 4xx before any upstream call, recorded as a failed call of no tokens (it counts against the
caller's limits: a script cannot make the server fetch URLs for free)."""

from __future__ import annotations

import base64
import io
import json
import random
import time
from datetime import UTC, datetime

import pytest
from PIL import Image

from airelay.routers import chat as chat_router
from airelay.settings import get_settings
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.support import state

from .conftest import load_event
from .test_chat_function import sse_parts, usage_rows


def png(side: int = 8, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (side, side), 1 if mode == "1" else (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def noise_png(side: int) -> bytes:
    """A photo-sized PNG: random pixels do not compress (190 pixels a side: about 110 KB)."""
    pixels = random.Random(side).randbytes(side * side * 3)
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), pixels).save(out, format="PNG")
    return out.getvalue()


def data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def file_part(media_type: str = "image/png", data: bytes | None = None, url: str | None = None) -> dict:
    return {"type": "file", "mediaType": media_type, "filename": "x", "url": url or data_url(media_type, data or png())}


def usechat_event(*files: dict, model: str | None = None) -> dict:
    return messages_event(
        [{"id": "m1", "role": "user", "parts": [*files, {"type": "text", "text": "What is this?"}]}], model=model
    )


def messages_event(messages: list[dict], model: str | None = None) -> dict:
    event = load_event("chat_stream_usechat")
    body = {"id": "chat_1", "messages": messages, "trigger": "submit-message", **({"model": model} if model else {})}
    event["body"] = json.dumps(body)
    return event


@pytest.fixture(scope="module")
def chat_function():
    return Container(find_function("ChatFunction"))


def invoke(container, event) -> tuple[int, str]:
    response = container.invoke(event).result(timeout=30)
    return response["statusCode"], response["body"]


def test_an_image_reaches_a_vision_model_as_image_content_before_the_text(chat_function, upstream):
    image = png()
    status, body = invoke(chat_function, usechat_event(file_part(data=image)))
    assert status == 200
    assert any(p["type"] == "finish" for p in sse_parts(body))
    content = upstream.requests[-1]["messages"][-1]["content"]
    assert content == [
        {"type": "image_url", "image_url": {"url": data_url("image/png", image)}},
        {"type": "text", "text": "What is this?"},
    ]
    (row,) = usage_rows()
    assert row.status == "ok"


def test_only_the_newest_messages_files_are_sent(chat_function, upstream):
    event = usechat_event(file_part())
    body = json.loads(event["body"])
    older = [
        {"id": "u0", "role": "user", "parts": [file_part(), {"type": "text", "text": "first"}]},
        {"id": "a0", "role": "assistant", "parts": [{"type": "text", "text": "a red square"}]},
    ]
    body["messages"] = [*older, *body["messages"]]
    event["body"] = json.dumps(body)
    status, _ = invoke(chat_function, event)
    assert status == 200
    messages = upstream.requests[-1]["messages"]
    assert [m["content"] for m in messages[1:3]] == ["first", "a red square"]
    assert sum(isinstance(m["content"], list) for m in messages) == 1


def test_a_message_of_files_only_reaches_the_model_as_its_images(chat_function, upstream):
    """useChat's `sendMessage({files})` posts a user message of `file` parts only: the model gets the images, and no
    empty text part."""
    image = png()
    status, body = invoke(
        chat_function, messages_event([{"id": "m1", "role": "user", "parts": [file_part(data=image)]}])
    )
    assert status == 200, body
    assert any(p["type"] == "finish" for p in sse_parts(body))
    content = upstream.requests[-1]["messages"][-1]["content"]
    assert content == [{"type": "image_url", "image_url": {"url": data_url("image/png", image)}}]


def test_a_conversation_with_photos_goes_on_though_usechat_resends_them(chat_function, upstream):
    """useChat posts every earlier message again, its files too, which the server leaves unread: after two turns of a
    ~110 KB photo each (together past MAX_BODY_BYTES, 256 KiB), a text-only message is answered, the route's limit
    being CHAT_BODY_MAX_BYTES; only the text reaches the model."""
    history = []
    for n, photo in enumerate([noise_png(190), noise_png(191)]):
        history.append(
            {"id": f"u{n}", "role": "user", "parts": [file_part(data=photo), {"type": "text", "text": "And this?"}]}
        )
        status, body = invoke(chat_function, messages_event(history[-1:]))
        assert status == 200, body
        history.append({"id": f"a{n}", "role": "assistant", "parts": [{"type": "text", "text": "A pattern."}]})
    history.append({"id": "u9", "role": "user", "parts": [{"type": "text", "text": "Which one did you like?"}]})
    event = messages_event(history)
    assert len(event["body"]) > get_settings().max_body_bytes
    status, body = invoke(chat_function, event)
    assert status == 200, body
    assert all(isinstance(m["content"], str) for m in upstream.requests[-1]["messages"])


def test_a_body_past_the_chat_streams_own_limit_is_refused(chat_function, upstream, monkeypatch):
    """CHAT_BODY_MAX_BYTES bounds the stream's body: past it, 413 payload_too_large naming the limit."""
    monkeypatch.setenv("CHAT_BODY_MAX_BYTES", "100000")
    get_settings.cache_clear()
    status, body = invoke(chat_function, usechat_event(file_part(data=noise_png(190))))
    assert status == 413, body
    error = json.loads(body)["error"]
    assert error["code"] == "payload_too_large" and "100000 bytes" in error["message"]
    assert not upstream.requests


def too_large() -> dict:
    return file_part(data=png(8) + b"\0" * 3000)


@pytest.mark.parametrize(
    ("files", "model", "status", "code"),
    [
        ([file_part("application/pdf", b"%PDF-1.7")], None, 415, "unsupported_media_type"),
        ([file_part("image/svg+xml", b"<svg/>")], None, 415, "unsupported_media_type"),
        ([file_part() for _ in range(3)], None, 422, "too_many_files"),
        ([too_large()], None, 413, "file_too_large"),
        ([file_part("image/jpeg", png())], None, 422, "invalid_file"),  # declared JPEG, is a PNG
        ([file_part("image/jpeg", b"\xff\xd8\xff" + b"not a jpeg" * 20)], None, 422, "invalid_file"),
        ([file_part(data=png(1001, "1"))], None, 413, "file_too_large"),  # 1,002,001 pixels in 520 bytes
        ([file_part(url="data:image/png;base64,%%%notbase64")], None, 422, "invalid_file"),
        ([file_part(url="data:image/png,rawtext")], None, 422, "invalid_file"),
        ([file_part(url="file:///etc/passwd")], None, 422, "invalid_file"),
        ([file_part(url="http://169.254.169.254/latest/meta-data/")], None, 422, "image_url_refused"),
        ([file_part(url="http://127.0.0.1:1/cat.png")], None, 422, "image_url_refused"),
        ([file_part()], "local/smollm2-135m", 422, "model_cannot_see_images"),
    ],
    ids=[
        "pdf",
        "svg",
        "too-many",
        "too-large",
        "type-mismatch",
        "jpeg-signature-then-text",
        "too-many-pixels",
        "bad-base64",
        "not-base64",
        "file-scheme",
        "metadata-url",
        "loopback-url",
        "text-only-model",
    ],
)
def test_bad_files_get_a_clear_4xx_before_any_upstream_call(
    chat_function, upstream, monkeypatch, files, model, status, code
):
    monkeypatch.setenv("CHAT_FILES_MAX", "2")
    monkeypatch.setenv("CHAT_FILE_MAX_BYTES", "2048")
    monkeypatch.setenv("IMAGE_MAX_PIXELS", "1000000")
    monkeypatch.setenv("ALLOWED_CHAT_MODELS", "local/smollm2-135m")
    from airelay.settings import get_settings

    get_settings.cache_clear()
    got, body = invoke(chat_function, usechat_event(*files, model=model))
    assert got == status, body
    error = json.loads(body)["error"]
    assert error["code"] == code and len(error["message"]) < 200
    assert not upstream.requests
    # AND it is a failed call of no tokens: it counts against the caller's limits
    assert [(row.status, row.prompt_tokens, row.cost_usd) for row in usage_rows()] == [("error", 0, 0)]


def test_a_visitor_over_its_requests_per_minute_gets_no_file_read(chat_function, upstream, monkeypatch):
    # GIVEN a visitor allowed one request a minute, and the chat route's file reading counted
    monkeypatch.setenv("VISITOR_REQUESTS_PER_MINUTE", "1")
    get_settings.cache_clear()
    state.forget_meter()
    read = []
    attach = chat_router.attach_files
    monkeypatch.setattr(chat_router, "attach_files", lambda *args: read.append(1) or attach(*args))
    while datetime.now(UTC).second > 40:  # the four requests in one minute
        time.sleep(0.2)
    # WHEN it sends four messages with an image in that minute
    statuses = [invoke(chat_function, usechat_event(file_part()))[0] for _ in range(4)]
    # THEN the first is answered and the rest refused; its files were read for the first, and once more for the
    # request whose reservation found the limit (this environment learns it then), never after
    assert statuses == [200, 429, 429, 429]
    assert len(read) == 2
