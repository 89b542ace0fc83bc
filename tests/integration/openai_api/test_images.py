"""Images on /v1, as on /api/chat: no model provider is ever asked to fetch a client's URL. An http(s) URL is fetched
here through the SSRF-safe fetcher and relayed inline as a data: URL; internal addresses, other schemes and what is
not an image are a 400 that names the image, before any upstream call.

The fetcher refuses loopback by design, so the tests give it the image-fetch test bench (tests/support/image_fetch.py):
a resolver (`images.test` -> 127.0.0.1, `intranet.test` -> 10.0.0.5, ...) and a policy that allows exactly
`images.test` at 127.0.0.1, where a local server serves a photo.
"""

import base64
import io
import time
from datetime import UTC, datetime

import openai
import pytest
from PIL import Image

from airelay.attachments import file_policy
from airelay.openai_api import images
from tests.integration.openai_api.conftest import KEY, rows
from tests.support.image_fetch import TEST_HOST, PolicyForTests, Resolver, server
from tests.support.upstream import Ok, Status

__all__ = ["server"]
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="


@pytest.fixture
def client(start, monkeypatch):
    monkeypatch.setattr(images, "system_resolver", Resolver())
    monkeypatch.setattr(images, "file_policy", lambda settings: PolicyForTests(**vars(file_policy(settings))))
    return openai.OpenAI(base_url=start(), api_key=KEY, max_retries=0)


def ask(client, *urls: str):
    content = [{"type": "text", "text": "What is this?"}]
    content += [{"type": "image_url", "image_url": {"url": url, "detail": "low"}} for url in urls]
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": content}])


def images_sent(upstream) -> list[dict]:
    content = upstream.requests[-1]["messages"][-1]["content"]
    return [part["image_url"] for part in content if part["type"] == "image_url"]


def test_an_image_url_is_fetched_here_and_relayed_inline(client, upstream, server):
    # GIVEN a photo at an http URL
    photo = f"data:image/jpeg;base64,{base64.b64encode(server.app.photo).decode()}"
    # WHEN a chat completion and a response name it
    ask(client, f"http://{TEST_HOST}:{server.port}/coffee.jpg")
    chat = images_sent(upstream)
    item = {"type": "input_image", "image_url": f"http://{TEST_HOST}:{server.port}/coffee.jpg"}
    client.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": [item]}])
    # THEN the model gets the photo's bytes as a data: URL of their type, never the URL
    assert chat == [{"url": photo, "detail": "low"}]
    assert images_sent(upstream) == [{"url": photo}]


@pytest.mark.parametrize(
    "url,code",
    [
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "image_url_refused"),
        ("http://intranet.test:8080/admin", "image_url_refused"),
        ("http://[::ffff:10.0.0.5]/", "image_url_refused"),
        (f"http://{TEST_HOST}:1/", "image_fetch_failed"),
        ("file:///etc/passwd", "invalid_request"),
        ("ftp://example.test/cat.jpg", "invalid_request"),
        ("data:image/png,not-base64", "invalid_file"),
        ("data:image/svg+xml;base64,PHN2Zy8+", "unsupported_media_type"),
        ("data:image/jpeg;base64," + PIXEL, "invalid_file"),  # a PNG declared as a JPEG
    ],
)
def test_an_image_that_cannot_be_relayed_safely_is_a_400_naming_it(client, upstream, url, code):
    # WHEN a caller names an internal address, another scheme, or something that is not the image it claims
    with pytest.raises(openai.BadRequestError) as refused:
        ask(client, "data:image/png;base64," + PIXEL, url)
    # THEN it is refused, naming the image, and the model provider is never asked for anything
    assert refused.value.code == code and refused.value.param.startswith("messages.0")
    assert upstream.requests == []


def test_what_is_at_a_url_must_be_an_image(client, upstream, server):
    with pytest.raises(openai.BadRequestError) as refused:
        ask(client, f"http://{TEST_HOST}:{server.port}/declared-big")  # zeros, not an image
    assert refused.value.code == "unsupported_media_type"
    assert refused.value.param == "messages.0.content.1.image_url.url"
    assert upstream.requests == []


def test_a_message_carries_at_most_chat_files_max_images(client, upstream):
    with pytest.raises(openai.BadRequestError) as refused:
        ask(client, *["data:image/png;base64," + PIXEL] * 5)
    assert refused.value.code == "too_many_files" and refused.value.param == "messages.0.content.5.image_url.url"
    assert upstream.requests == []


def conversation_with_images(turns: int) -> list[dict]:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PIXEL}}
    messages = []
    for turn in range(turns):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"And this one? ({turn})"}, image]})
        messages.append({"role": "assistant", "content": "A pixel."})
    return [*messages, {"role": "user", "content": "Which was the brightest?"}]


def test_a_conversation_carries_four_times_as_many_images_as_a_message(client, upstream):
    # GIVEN a conversation that showed the model an image in each of 16 turns (four times CHAT_FILES_MAX)
    # WHEN it goes on THEN every image is relayed, inline
    client.chat.completions.create(model="gpt-4o-mini", messages=conversation_with_images(16))
    sent = [p for m in upstream.requests[-1]["messages"] if isinstance(m["content"], list) for p in m["content"]]
    assert sum(p["type"] == "image_url" and p["image_url"]["url"].startswith("data:") for p in sent) == 16
    # AND one more is a 400 naming it
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="gpt-4o-mini", messages=conversation_with_images(17))
    assert refused.value.code == "too_many_files" and refused.value.param == "messages.32.content.1.image_url.url"


@pytest.fixture
def one_request_a_minute(start, monkeypatch):
    """A client whose key is allowed one request a minute, at the start of a minute with time for a few requests."""
    monkeypatch.setattr(images, "system_resolver", Resolver())
    monkeypatch.setattr(images, "file_policy", lambda settings: PolicyForTests(**vars(file_policy(settings))))
    client = openai.OpenAI(
        base_url=start(REQUESTS_PER_MINUTE=1, VISITOR_REQUESTS_PER_MINUTE=1), api_key=KEY, max_retries=0
    )
    while datetime.now(UTC).second > 40:
        time.sleep(0.2)
    return client


def statuses_asking(client, url: str, times: int) -> list[int]:
    statuses = []
    for _ in range(times):
        try:
            ask(client, url)
            statuses.append(200)
        except openai.RateLimitError:
            statuses.append(429)
        except openai.BadRequestError:
            statuses.append(400)
    return statuses


def test_requests_whose_image_fails_count_against_the_callers_requests_per_minute(
    one_request_a_minute, upstream, server
):
    # GIVEN a key allowed one request a minute, and a URL that does not give an image
    fetched = len(server.app.hosts)
    # WHEN it names that URL six times in that minute
    statuses = statuses_asking(one_request_a_minute, f"http://{TEST_HOST}:{server.port}/declared-big", 6)
    # THEN the first is a 400 that counts as a request, the second finds the limit, the rest are refused unfetched
    assert statuses == [400, 429, 429, 429, 429, 429]
    assert len(server.app.hosts) - fetched == 2


def test_a_caller_over_its_requests_per_minute_gets_nothing_fetched(one_request_a_minute, upstream, server):
    # GIVEN a key allowed one request a minute, and a photo at an http URL
    fetched = len(server.app.hosts)
    # WHEN it asks four times in that minute
    statuses = statuses_asking(one_request_a_minute, f"http://{TEST_HOST}:{server.port}/coffee.jpg", 4)
    # THEN the first is answered, the rest refused; the photo was fetched for the first, and once more for the request
    # whose reservation found the limit (this environment learns it then), never after
    assert statuses == [200, 429, 429, 429]
    assert len(server.app.hosts) - fetched == 2


def seeing_only(start, vision_models: str, **environment):
    return openai.OpenAI(base_url=start(VISION_CHAT_MODELS=vision_models, **environment), api_key=KEY, max_retries=0)


def photo_url(server) -> str:
    return f"data:image/jpeg;base64,{base64.b64encode(server.app.photo).decode()}"


def test_an_image_to_a_model_that_cannot_see_is_a_400_before_any_upstream_call(start, upstream, server, tmp_path):
    """docs/configuration.md, VISION_CHAT_MODELS: an image to a model not listed is refused before any upstream
    call, on /v1 as OpenAI's 400 `model_cannot_see_images` naming the image, on chat completions and responses alike;
    each refusal is a failed call of the model asked for, as on /api/chat."""
    # GIVEN gpt-4o-mini, the fake upstream's model, cannot see here
    client = seeing_only(start, "openai/gpt-4o")
    item = {"type": "input_image", "image_url": photo_url(server)}
    # WHEN a chat completion and a response show it an image
    with pytest.raises(openai.BadRequestError) as chat:
        ask(client, photo_url(server))
    with pytest.raises(openai.BadRequestError) as response:
        client.responses.create(model="gpt-4o-mini", input=[{"role": "user", "content": [item]}])
    # THEN both are refused, naming the image, and the model provider is never asked for anything
    assert (chat.value.code, chat.value.param) == ("model_cannot_see_images", "messages.0.content.1.image_url.url")
    assert response.value.code == "model_cannot_see_images" and response.value.param.startswith("input.0")
    assert upstream.requests == []
    assert [(r.model, r.status) for r in rows(tmp_path, 2)] == [("openai/gpt-4o-mini", "error")] * 2


def test_fallbacks_that_cannot_see_are_skipped_for_a_request_with_an_image(start, upstream, server):
    """A request with images falls back only to models that can see: a text-only fallback is never sent an image."""
    # GIVEN gpt-4o-mini falls back to gpt-4.1-nano, which cannot see here, then to gpt-4o, which can
    client = seeing_only(
        start,
        "openai/gpt-4o-mini,openai/gpt-4o",
        ALLOWED_CHAT_MODELS="openai/gpt-4o",
        CHAT_FALLBACK_MODELS="openai/gpt-4.1-nano,openai/gpt-4o",
    )
    # WHEN the first model is unavailable
    upstream.script(Status(503), Ok(tokens=("A pixel.",)))
    answer = ask(client, photo_url(server))
    # THEN the image goes to the next model that can see
    assert answer.choices[0].message.content == "A pixel."
    assert [r["model"] for r in upstream.requests] == ["gpt-4o-mini", "gpt-4o"]


def test_an_image_of_more_pixels_than_image_max_pixels_is_refused_before_any_upstream_call(start, upstream):
    """IMAGE_MAX_PIXELS holds on /v1 as on /api/chat/stream: read from the image's header, before the model is asked."""
    client = openai.OpenAI(base_url=start(IMAGE_MAX_PIXELS="100"), api_key=KEY, max_retries=0)
    wide = io.BytesIO()
    Image.new("RGB", (20, 20), (10, 120, 200)).save(wide, format="PNG")
    with pytest.raises(openai.APIStatusError) as refused:
        ask(client, "data:image/png;base64," + base64.b64encode(wide.getvalue()).decode())
    assert refused.value.status_code in (400, 413) and refused.value.code == "file_too_large"
    assert upstream.requests == []


def test_an_image_is_held_at_the_most_its_size_can_bill(start, upstream):
    """A call holds each image at what its size can bill (a 1024 x 768 photo: 4 tiles, 25,501 tokens on gpt-4o-mini,
    pricing.image_bound), not at the most any image can (48,169): a visitor allowed 40,000 tokens a minute may send
    one such photo, and two are over its minute alone."""
    client = openai.OpenAI(base_url=start(VISITOR_TOKENS_PER_MINUTE="40000"), api_key=KEY, max_retries=0)
    photo = io.BytesIO()
    Image.new("RGB", (1024, 768), (10, 120, 200)).save(photo, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(photo.getvalue()).decode()
    ask(client, url)
    assert len(upstream.requests) == 1
    with pytest.raises(openai.RateLimitError) as refused:
        ask(client, url, url)
    assert "tokens per minute" in refused.value.message and "images" in refused.value.message
    assert refused.value.response.headers.get("x-should-retry") == "false"
    assert len(upstream.requests) == 1
