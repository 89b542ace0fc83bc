"""Fetching an image_url safely, which URLs are fetched: no request may reach this server's network (SSRF), and none
may leave the machine. An allowed URL and a redirect to one are fetched; internal addresses in any spelling, other
schemes, credentials and bad URLs are refused before any connection, and so is a redirect to any of them.

A local HTTP server on 127.0.0.1 serves a photo and redirects. The fetcher refuses loopback by design, so the tests
inject a resolver (`images.test` -> 127.0.0.1, `intranet.test` -> 10.0.0.5, ...) and a policy subclass that allows
exactly one thing: `images.test` at 127.0.0.1 (tests/support/image_fetch.py). A socket-level guard blocks and
records every connection attempt to a non-loopback address; at the end of each test it must have seen none (the
last test checks the guard itself).
"""

from __future__ import annotations

import socket
from urllib.parse import urlencode

import httpx
import pytest

from airelay.images.decode import decode_image
from airelay.images.fetch import UrlRefused
from tests.support.image_fetch import TEST_HOST, fetch, guard, resolver, server
from tests.support.no_egress import EgressGuard

__all__ = ["guard", "resolver", "server"]  # the fixtures of tests/support/image_fetch.py, shared


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
