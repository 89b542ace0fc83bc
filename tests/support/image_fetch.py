"""The image fetcher's test bench (tests/integration/test_image_fetch_*.py): a local HTTP server on 127.0.0.1 that
serves a photo, redirects, a huge body and a slow answer; a resolver that maps test names to addresses
(`images.test` -> 127.0.0.1, `intranet.test` -> 10.0.0.5, ...); a policy subclass that allows exactly one thing,
`images.test` at 127.0.0.1; and the fixtures `server`, `guard` and `resolver`, which a test module imports to use.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import parse_qs

import anyio
import pytest

from airelay.images.fetch import FetchPolicy, fetch_image
from tests.support.no_egress import EgressGuard
from tests.support.photos import jpeg_bytes
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
