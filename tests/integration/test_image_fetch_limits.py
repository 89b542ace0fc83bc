"""A visitor over its requests-per-minute limit cannot make the classify function fetch (or decode) anything: the
request is admitted by its metered call before the image is fetched, and a URL that fails to fetch is a failed call
that counts against the visitor, so a script cannot make the function send GETs to hosts of its choosing.

The ClassifyFunction's real Lambda handler is invoked with the repository's API Gateway event; the fetcher is the
real one, given the test bench's resolver and policy (tests/support/image_fetch.py) so that `images.test` reaches a
server on 127.0.0.1. Nothing leaves loopback.
"""

from __future__ import annotations

import copy
import json
import time
from datetime import UTC, datetime

import pytest

from airelay.images import fetch as fetch_module
from airelay.settings import get_settings
from local.invoke import find_function
from local.lambda_bridge import Container
from tests.functional.conftest import load_event
from tests.support import state
from tests.support.image_fetch import POLICY, TEST_HOST, Resolver, guard, server

__all__ = ["guard", "server"]


@pytest.fixture
def one_request_a_minute(monkeypatch, tmp_path):
    monkeypatch.setenv("VISITOR_REQUESTS_PER_MINUTE", "1")
    monkeypatch.setenv("USAGE_DB_PATH", str(tmp_path / "usage.sqlite3"))
    get_settings.cache_clear()
    state.forget_meter()
    resolver = Resolver()
    real = fetch_module.fetch_image

    async def fetch_on_the_test_bench(url, policy, _resolver=None):
        return await real(url, POLICY, resolver)

    # the router's own call, with the test bench's resolver and policy (loopback allowed for images.test only)
    monkeypatch.setattr("airelay.routers.classify.fetch_image", fetch_on_the_test_bench)
    yield
    get_settings.cache_clear()
    state.forget_meter()


def classify_url(url: str) -> dict:
    event = copy.deepcopy(load_event("classify_base64"))  # the same visitor (sourceIp 203.0.113.10) every time
    event["body"] = json.dumps({"image_url": url})
    return event


def same_minute(seconds_needed: float = 20) -> None:
    while datetime.now(UTC).second > 60 - seconds_needed:
        time.sleep(0.2)


def test_a_visitor_over_its_request_limit_cannot_make_the_function_fetch_urls(one_request_a_minute, server, guard):
    container = Container(find_function("ClassifyFunction"))
    same_minute()
    photo = f"http://{TEST_HOST}:{server.port}/coffee.jpg"
    missing = f"http://{TEST_HOST}:{server.port}/no-such-image"
    # GIVEN a visitor allowed one request a minute, who has used it
    first = container.invoke(classify_url(photo)).result(timeout=120)
    assert first["statusCode"] == 200, first["body"]
    fetched_before = len(server.app.hosts)
    # WHEN it sends five more requests this minute, naming a photo and then a URL that does not answer with an image
    answers = [container.invoke(classify_url(u)).result(timeout=120) for u in [photo] * 2 + [missing] * 3]
    statuses = [a["statusCode"] for a in answers]
    fetches = len(server.app.hosts) - fetched_before
    # THEN every one is refused for the rate limit, and none of them makes the function fetch anything
    assert (statuses, fetches) == ([429] * 5, 0), (
        f"over its limit, the visitor got {statuses} and the function fetched {fetches} URLs for it "
        f"({[json.loads(a['body'])['error']['code'] for a in answers]})"
    )
