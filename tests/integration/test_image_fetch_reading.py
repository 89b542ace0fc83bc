"""Fetching an image_url safely, how much is read and for how long: the size cap holds while streaming and against a
declared length, a slow server hits the deadline, an error status and an unknown host are clear 4xx; and chat's
file parts, whose image URLs are fetched here (under the chat's own limit) and sent to the model as data.

A local HTTP server on 127.0.0.1 serves a photo, a huge body and a slow answer, reached through the test resolver
and policy of tests/support/image_fetch.py. A socket-level guard blocks and records every connection attempt to a
non-loopback address; at the end of each test it must have seen none.
"""

from __future__ import annotations

import base64
import time

import anyio
import pytest

from airelay.attachments import FilePart, FileTooLarge, with_images
from airelay.images.decode import ImageTooLarge
from airelay.images.fetch import FetchFailed, FetchPolicy, UrlRefused
from airelay.providers.base import ChatRequest
from tests.support.image_fetch import POLICY, TEST_HOST, ImageServer, PolicyForTests, fetch, guard, resolver, server

__all__ = ["guard", "resolver", "server"]  # the fixtures of tests/support/image_fetch.py, shared


# ---------------------------------------------------------------- size, time, content


def test_the_size_cap_is_enforced_while_streaming(server, guard, resolver):
    # GIVEN a server that streams 1 GiB with no content-length, until the client goes away
    # WHEN the image is fetched with a 200,000 byte cap (and the default 10 s deadline)
    with pytest.raises(ImageTooLarge) as too_large:
        fetch(f"http://{TEST_HOST}:{server.port}/endless", resolver)
    # THEN reading stops at the cap with a 413, and the client goes away: the server could send only what the
    # socket buffers hold (a few MiB), not the whole body
    assert too_large.value.status == 413 and "200,000 bytes" in too_large.value.message
    assert server.app.endless_sent < ImageServer.ENDLESS_CHUNKS // 4


def test_a_declared_length_over_the_cap_is_refused_before_reading(server, guard, resolver):
    with pytest.raises(ImageTooLarge):
        fetch(f"http://{TEST_HOST}:{server.port}/declared-big", resolver)


def test_a_slow_server_hits_the_deadline(server, guard, resolver):
    # GIVEN a server that answers after 3 s, and a 0.5 s deadline
    policy = PolicyForTests(max_bytes=200_000, timeout_s=0.5, max_redirects=3)
    started = time.monotonic()
    with pytest.raises(FetchFailed, match=r"did not answer within 0\.5 s"):
        fetch(f"http://{TEST_HOST}:{server.port}/slow", resolver, policy)
    # THEN the fetch gives up at the deadline, not when the answer comes
    assert policy.timeout_s <= time.monotonic() - started < 4 * policy.timeout_s


def test_an_error_status_and_an_unknown_host_are_clear_4xx(server, guard, resolver):
    with pytest.raises(FetchFailed, match="HTTP 404"):
        fetch(f"http://{TEST_HOST}:{server.port}/missing.png", resolver)
    with pytest.raises(FetchFailed, match="could not be resolved"):
        fetch("http://nowhere.test/x.png", resolver)


# ---------------------------------------------------------------- chat's file parts


def chat_with(url: str, resolver, policy: FetchPolicy = POLICY, media_type: str = "image/jpeg"):
    request = ChatRequest(messages=[{"role": "user", "content": "What is this?"}], max_tokens=8)
    return anyio.run(with_images, request, [FilePart(media_type, url)], policy, resolver)


def test_a_chat_image_url_is_fetched_here_and_sent_to_the_model_as_data(server, guard, resolver):
    request = chat_with(f"http://{TEST_HOST}:{server.port}/coffee.jpg", resolver)
    image, text = request.messages[-1]["content"]
    assert text == {"type": "text", "text": "What is this?"}
    assert image["image_url"]["url"] == "data:image/jpeg;base64," + base64.b64encode(server.app.photo).decode()
    assert guard.allowed == [("127.0.0.1", server.port)]


def test_a_chat_image_url_past_the_chat_limit_is_file_too_large(server, guard, resolver):
    with pytest.raises(FileTooLarge):
        chat_with(f"http://{TEST_HOST}:{server.port}/coffee.jpg", resolver, PolicyForTests(max_bytes=1000))


def test_a_chat_image_url_to_an_internal_address_is_refused(guard, resolver):
    with pytest.raises(UrlRefused):
        chat_with("http://intranet.test/cat.png", resolver)
