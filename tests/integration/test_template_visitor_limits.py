"""The template's default limits against what the chat itself sends for an anonymous visitor (README: `useChat`
messages may carry images, the visitor limits are meant for a person). Each call holds its prompt's byte bound
(tokens.prompt_bound: one token per UTF-8 byte, an image at the most its model bills) plus max_tokens, settled to
what it used; a hold larger than the per-minute limit alone is refused for good (429, x-should-retry: false). The
prompt is not one message: the system prompt, up to HISTORY_MAX_CHARS of earlier turns (which `useChat` resends and
the server keeps), the new message and its images; and a chat with tools holds each step again."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from datetime import UTC, datetime

import anyio
from PIL import Image

from airelay import tokens
from airelay.attachments import FilePart, file_policy, with_images
from airelay.conversation import ChatBody, build_request
from airelay.settings import Settings
from airelay.usage.limits import LimitBook
from airelay.usage.pricing import load_prices
from tests.support.deployed_env import environment, parameters
from tests.support.template import raw

__all__ = ["raw"]  # the template fixture of tests/support/template.py, shared

PHOTO = {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}}
VISITOR = "ip:203.0.113.7@abc123"


def chat_settings(raw: dict) -> Settings:
    return Settings.from_env(environment(raw, "ChatFunction", parameters(raw)))


def history_of(chars: int, unit: str) -> list[dict[str, str]]:
    """Ten user/assistant turns, about `chars` characters in all."""
    per_turn = chars // 10
    return [{"role": ("user", "assistant")[i % 2], "content": (unit * per_turn)[:per_turn]} for i in range(10)]


def refused_holds(settings: Settings, request, already_used: int = 0) -> list[tuple[str, float, float]]:
    """The limits this call's holds do not fit in (the tokens hold also counts what this minute already settled)."""
    prompt = tokens.request_bound(request)
    price = load_prices(settings.model_prices).price(settings.chat_model)
    holds = LimitBook(settings).holds(
        VISITOR, datetime.now(UTC), price.worst_case(prompt, request.max_tokens), prompt + request.max_tokens
    )
    assert {hold.name for hold in holds} == {"global", "caller", "requests_per_minute", "tokens_per_minute"}
    refused = []
    for hold in holds:
        used = already_used if hold.name == "tokens_per_minute" else 0
        if used + hold.amount > hold.limit:
            refused.append((hold.name, float(used + hold.amount), float(hold.limit)))
    return refused


def with_photo(request):
    """What attachments.with_images makes of the newest message when it carries one image."""
    *earlier, latest = request.messages
    return replace(
        request, messages=[*earlier, {**latest, "content": [{"type": "text", "text": latest["content"]}, PHOTO]}]
    )


def kept_history(request) -> int:
    return sum(len(message["content"]) for message in request.messages[1:-1])


def test_a_visitor_can_send_a_photo_to_the_default_chat_model(raw):
    settings = chat_settings(raw)
    assert settings.chat_model in settings.vision_chat_models
    _, request = build_request(ChatBody(message="What is in this photo, and why? " * 30), settings)
    assert refused_holds(settings, replace(with_photo(request), max_tokens=settings.max_tokens_cap)) == []


def test_a_visitor_can_send_a_photo_late_in_a_long_conversation(raw):
    # GIVEN the longest English history the server keeps (useChat resends it all)
    settings = chat_settings(raw)
    history = history_of(settings.history_max_chars - 200, "It depends on the light. ")
    _, request = build_request(ChatBody(message="And what is in this photo?", conversation_history=history), settings)
    assert kept_history(request) > settings.history_max_chars - 400  # all of it is kept
    # THEN a photo with the next message still fits the minute
    assert refused_holds(settings, with_photo(request)) == []


def test_a_korean_visitor_can_keep_talking_at_the_longest_history_the_server_keeps(raw):
    # GIVEN the longest Korean history the server keeps: Hangul is 3 bytes a character, and the hold counts bytes
    settings = chat_settings(raw)
    history = history_of(settings.history_max_chars - 200, "안녕하세요 반갑습니다 ")
    _, request = build_request(
        ChatBody(message="고마워요, 하나만 더 물어볼게요.", conversation_history=history), settings
    )
    assert kept_history(request) > settings.history_max_chars - 400
    # THEN the next message, with a photo even, fits the minute
    assert refused_holds(settings, with_photo(request)) == []


def test_a_visitor_photo_to_a_chat_with_tools_reaches_its_second_step(raw):
    """docs/tools.md: model -> tools -> model, each step held on its own, and step 2 resends step 1's messages (the
    photo too, held at its largest again) after step 1 settled what the provider reported."""
    settings = chat_settings(raw)
    _, step1 = build_request(ChatBody(message="What is this? Please classify it.", max_tokens=256), settings)
    step1 = with_photo(step1)
    assert refused_holds(settings, step1) == []
    step1_billed = 2_833 + 4 * 5_667 + 40 + 20  # a phone photo (4 tiles on gpt-4o-mini), the text, the tool call
    assert refused_holds(settings, step1, already_used=step1_billed) == []


def test_a_first_message_with_the_most_files_at_their_largest_fits_the_chat_body(raw):
    """README "Images in chat": CHAT_FILES_MAX images of CHAT_FILE_MAX_BYTES each, as data: URLs (base64: 4/3 the
    bytes), in a useChat body of at most CHAT_BODY_MAX_BYTES."""
    settings = chat_settings(raw)
    photo = "data:image/jpeg;base64," + base64.b64encode(b"\xff" * settings.chat_file_max_bytes).decode()
    parts = [{"type": "file", "mediaType": "image/jpeg", "url": photo}] * settings.chat_files_max
    message = {"id": "m1", "role": "user", "parts": [{"type": "text", "text": "Compare these."}, *parts]}
    size = len(json.dumps({"id": "chat1", "trigger": "submit-message", "messages": [message]}).encode())
    assert size <= settings.chat_body_max_bytes, (size, settings.chat_body_max_bytes)


def test_a_visitor_can_send_as_many_phone_photos_as_a_message_may_carry(raw):
    """Each image is held at what its size can bill (pricing.image_bound): four 4032 x 3024 photos (4 tiles each on
    gpt-4o-mini, 25,501 tokens) with a question fit a visitor's minute; at the most any image bills (48,169) they
    would not."""
    settings = chat_settings(raw)
    photo = io.BytesIO()
    Image.new("RGB", (4032, 3024), (200, 120, 10)).save(photo, format="JPEG", quality=10)
    data_url = "data:image/jpeg;base64," + base64.b64encode(photo.getvalue()).decode()
    _, request = build_request(ChatBody(message="Which of these is the best?"), settings)
    files = [FilePart("image/jpeg", data_url)] * settings.chat_files_max
    policy = file_policy(settings)
    request = anyio.run(lambda: with_images(request, files, policy, max_pixels=settings.image_max_pixels))
    assert request.image_bounds == (25_501,) * settings.chat_files_max
    assert refused_holds(settings, request) == []
