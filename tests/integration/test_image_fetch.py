"""Fetching an image_url safely: no request may reach this server's network (SSRF), and none may leave the machine.

A local HTTP server on 127.0.0.1 serves a photo, redirects, a huge body and a slow answer. The fetcher refuses
loopback by design, so the tests inject a resolver (`images.test` -> 127.0.0.1, `intranet.test` -> 10.0.0.5, ...)
and a policy subclass that allows exactly one thing: `images.test` at 127.0.0.1. A socket-level guard blocks and
records every connection attempt to a non-loopback address; at the end of each test it must have seen none.
"""

from __future__ import annotations

import asyncio
import base64
import io
import ipaddress
import socket
import time
from urllib.parse import parse_qs, urlencode

import anyio
import httpx
import pytest
from PIL import Image
from skimage import data

from airelay.attachments import FilePart, FileTooLarge, with_images
from airelay.images.decode import ImageTooLarge, decode_image
from airelay.images.fetch import FetchFailed, FetchPolicy, UrlRefused, fetch_image
from airelay.providers.base import ChatRequest
from tests.support.no_egress import EgressGuard
from tests.support.servers import ServerThread

TEST_HOST = "images.test"
RESOLVES = {
    TEST_HOST: ["127.0.0.1"],
    "localhost": ["127.0.0.1", "::1"],
    "intranet.test": ["10.0.0.5"],
    "metadata.test": ["169.254.169.254"],
    "v6private.test": ["fd12:3456::1"],
    "mixed.test": ["93.184.216.34", "192.168.1.10"],
}


class PolicyForTests(FetchPolicy):
    """Production's policy, plus exactly one exception: the test server, reached by its test name."""

    def refusal(self, host, address):
        if host == TEST_HOST and address == ipaddress.ip_address("127.0.0.1"):
            return None
        return super().refusal(host, address)


class Resolver:
    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append(host)
        if host not in RESOLVES:
            raise socket.gaierror(socket.EAI_NONAME, "unknown test host")
        return RESOLVES[host]


def jpeg_bytes() -> bytes:
    out = io.BytesIO()
    Image.fromarray(data.coffee()).save(out, "JPEG", quality=90)
    return out.getvalue()


class ImageServer:
    """A tiny ASGI app: the photo, redirects, an oversized body (with and without a length) and a slow answer."""

    ENDLESS_CHUNKS = 4096  # 64 KiB each: 256 MiB, far more than the cap, sent until the client goes away

    def __init__(self) -> None:
        self.photo = jpeg_bytes()
        self.hosts: list[str] = []
        self.endless_sent = 0  # chunks of /endless sent before the client went away

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        headers = dict(scope["headers"])
        self.hosts.append(headers.get(b"host", b"").decode())
        query = parse_qs(scope["query_string"].decode())
        path = scope["path"]
        if path == "/coffee.jpg":
            await respond(send, 200, self.photo, [(b"content-type", b"image/jpeg")])
        elif path == "/redirect":
            await respond(send, 302, b"", [(b"location", query["to"][0].encode())])
        elif path == "/loop":
            await respond(send, 302, b"", [(b"location", b"/loop")])
        elif path == "/endless":
            await receive()  # the (empty) request body; the next message is the client's disconnect
            gone = asyncio.ensure_future(receive())
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"image/jpeg")]})
            self.endless_sent = 0
            while self.endless_sent < self.ENDLESS_CHUNKS and not gone.done():
                await send({"type": "http.response.body", "body": b"\0" * 65536, "more_body": True})
                self.endless_sent += 1
                await asyncio.sleep(0)
            await send({"type": "http.response.body", "body": b""})
        elif path == "/declared-big":
            await respond(send, 200, b"\0" * 300_000, [(b"content-type", b"image/jpeg")])
        elif path == "/slow":
            await asyncio.sleep(3)
            await respond(send, 200, self.photo, [(b"content-type", b"image/jpeg")])
        else:
            await respond(send, 404, b"not found", [])


async def respond(send, status: int, body: bytes, headers: list) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server():
    app = ImageServer()
    with ServerThread(app) as running:
        running.app = app
        yield running


@pytest.fixture
def guard():
    with EgressGuard() as installed:
        yield installed
    assert installed.blocked == [], f"connections to non-loopback addresses were attempted: {installed.blocked}"


@pytest.fixture
def resolver():
    return Resolver()


POLICY = PolicyForTests(max_bytes=200_000, timeout_s=2.0, max_redirects=3)


def fetch(url: str, resolver, policy: FetchPolicy = POLICY) -> bytes:
    return anyio.run(fetch_image, url, policy, resolver)


# ---------------------------------------------------------------- allowed


def test_an_allowed_url_is_fetched_from_the_address_that_was_checked(server, guard, resolver):
    # GIVEN images.test resolves (once) to the test server
    # WHEN the photo is fetched
    body = fetch(f"http://{TEST_HOST}:{server.port}/coffee.jpg", resolver)
    # THEN the bytes are the photo, and they decode as an image
    assert body == server.app.photo
    assert decode_image(body, 40_000_000).size == (600, 400)
    # AND the name was resolved exactly once, the connection went to that address, the Host header kept the name
    assert resolver.calls == [TEST_HOST]
    assert guard.allowed == [("127.0.0.1", server.port)]
    assert server.app.hosts[-1] == f"{TEST_HOST}:{server.port}"


def test_a_redirect_to_an_allowed_url_is_followed(server, guard, resolver):
    target = f"http://{TEST_HOST}:{server.port}/coffee.jpg"
    body = fetch(f"http://{TEST_HOST}:{server.port}/redirect?to={target}", resolver)
    assert body == server.app.photo
    assert resolver.calls == [TEST_HOST, TEST_HOST]  # every hop is resolved and checked again


# ---------------------------------------------------------------- refused before any connection


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/coffee.jpg", "loopback"),
        ("http://localhost:{port}/coffee.jpg", "loopback"),
        ("http://LOCALHOST.:{port}/coffee.jpg", "loopback"),
        ("http://[::1]:{port}/coffee.jpg", "loopback"),
        ("http://[::ffff:127.0.0.1]:{port}/coffee.jpg", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://metadata.test/latest/meta-data/", "metadata"),
        ("http://[fe80::1]/x.png", "link-local"),
        ("http://10.0.0.1/x.png", "private"),
        ("http://192.168.0.1/x.png", "private"),
        ("http://172.16.5.4/x.png", "private"),
        ("http://100.64.0.1/x.png", "public"),
        ("http://0.0.0.0:{port}/coffee.jpg", "unspecified"),
        ("http://224.0.0.1/x.png", "multicast"),
        ("http://[ff02::1]/x.png", "multicast"),
        ("http://2130706433:{port}/coffee.jpg", "loopback"),  # decimal-encoded 127.0.0.1
        ("http://0x7f000001:{port}/coffee.jpg", "loopback"),  # hexadecimal
        ("http://0177.0.0.1:{port}/coffee.jpg", "loopback"),  # octal
        ("http://127.1:{port}/coffee.jpg", "loopback"),  # short form
        ("http://167772161/x.png", "private"),  # 10.0.0.1
        ("http://intranet.test/x.png", "private"),  # a name that resolves to a private address
        ("http://v6private.test/x.png", "private"),
        ("http://mixed.test/x.png", "private"),  # one public and one private answer: refused
    ],
)
def test_internal_addresses_are_refused(server, guard, resolver, url, reason):
    # WHEN a client asks for a URL on an internal address, in any spelling
    with pytest.raises(UrlRefused) as refused:
        fetch(url.format(port=server.port), resolver)
    # THEN it is a 422 that says why, and nothing was connected to
    assert refused.value.status == 422 and refused.value.code == "image_url_refused"
    assert reason in refused.value.message
    assert guard.allowed == []


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/x.png",
        "gopher://127.0.0.1:70/",
        "data:image/png;base64,AAAA",
        "http://user:secret@example.com/x.png",
        "http:///x.png",
        "http://example.com:99999/x.png",
    ],
)
def test_other_schemes_credentials_and_bad_urls_are_refused(guard, resolver, url):
    with pytest.raises(UrlRefused):
        fetch(url, resolver)
    assert resolver.calls == [] and guard.allowed == []


# ---------------------------------------------------------------- redirects


@pytest.mark.parametrize(
    "to",
    [
        "http://127.0.0.1:{port}/coffee.jpg",
        "http://localhost:{port}/coffee.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://intranet.test/x.png",
        "http://2130706433:{port}/coffee.jpg",
        "file:///etc/passwd",
    ],
)
def test_a_redirect_to_an_internal_url_is_refused(server, guard, resolver, to):
    # GIVEN an allowed URL that redirects to an internal one
    url = f"http://{TEST_HOST}:{server.port}/redirect?to={to.format(port=server.port)}"
    # WHEN it is fetched THEN the second hop is refused before it is contacted
    with pytest.raises(UrlRefused):
        fetch(url, resolver)
    assert guard.allowed == [("127.0.0.1", server.port)]  # only the first, allowed hop


def redirects_to_the_photo(server, hops: int) -> str:
    url = f"http://{TEST_HOST}:{server.port}/coffee.jpg"
    for _ in range(hops):
        url = f"http://{TEST_HOST}:{server.port}/redirect?" + urlencode({"to": url})
    return url


def test_exactly_max_redirects_are_followed_and_one_more_is_refused(server, guard, resolver):
    assert fetch(redirects_to_the_photo(server, 3), resolver) == server.app.photo
    with pytest.raises(UrlRefused, match="redirects more than 3 times"):
        fetch(redirects_to_the_photo(server, 4), resolver)


def test_too_many_redirects_are_refused(server, guard, resolver):
    with pytest.raises(UrlRefused, match="redirects more than 3 times"):
        fetch(f"http://{TEST_HOST}:{server.port}/loop", resolver)


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


# ---------------------------------------------------------------- the guard itself


def test_the_guard_blocks_and_records_connections_off_this_machine(monkeypatch):
    # GIVEN a guard installed over a stand-in for the real connect (so even a broken guard sends nothing)
    reached = []

    def stand_in(sock, address):
        reached.append(address)
        raise OSError("the stand-in connect was reached")

    monkeypatch.setattr(socket.socket, "connect", stand_in)
    with EgressGuard() as probe:
        # WHEN code tries to reach a non-loopback address, directly or through an HTTP client
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("192.0.2.1", 80), timeout=0.5)
        with pytest.raises(httpx.ConnectError):
            httpx.get("http://192.0.2.1/", timeout=0.5)
    # THEN both attempts were blocked and recorded before reaching connect
    assert probe.blocked == [("192.0.2.1", 80), ("192.0.2.1", 80)]
    assert reached == []


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
