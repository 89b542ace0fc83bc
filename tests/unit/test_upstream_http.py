"""The chat models' upstream request (providers/upstream_http.py) against a scripted aiohttp server on loopback: the
OpenAI SDK's retry rules, each status as airelay's error, and no upstream body in any error."""

import asyncio
import time

import pytest
from aiohttp import web

from airelay.errors import (
    InvalidInput,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from airelay.providers.base import upstream_retry_after
from airelay.providers.retry_after import retry_after, retry_after_s
from airelay.providers.upstream_http import UpstreamClient, backoff_s, proxy_for
from tests.support.loopback_peer import serving

SECRET_BODY = '{"error": {"message": "the prompt was: my secret"}}'
FAST = {"retry-after-ms": "1"}  # the server's own wait, so that retries in these tests take a millisecond


def run(script: list, *, max_retries: int = 2, stream: bool = False, read_s: float = 5):
    """Posts once through a client of the scripted server; each request takes the script's next answer (the last
    one again when they run out), a web.Response or a number of seconds to stall. Returns (the result or the error
    raised, requests seen, the upstream_retry_after noted)."""
    seen: list[dict] = []

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append({"body": await request.json(), "headers": dict(request.headers)})
        step = script[min(len(seen), len(script)) - 1]
        if isinstance(step, (int, float)):
            await asyncio.sleep(step)
            return web.json_response({"late": True})
        return web.Response(status=step.status, body=step.body, headers=step.headers)  # a response is sent once

    async def go():
        async with serving(handle) as base_url:
            client = UpstreamClient(
                base_url,
                "sk-test",
                timeout_s=read_s,
                connect_timeout_s=2,
                stream_read_s=read_s,
                max_retries=max_retries,
            )
            try:
                response = await client.post("/chat/completions", {"model": "m"}, stream=stream)
                result = await response.read()
            except Exception as error:
                result = error
            finally:
                await client.close()
        return result, seen, upstream_retry_after.get()

    return asyncio.run(go())


def test_a_2xx_answer_is_returned_with_the_key_and_json_sent():
    result, seen, _ = run([web.json_response({"ok": 1})])
    assert result == b'{"ok": 1}'
    (request,) = seen
    assert request["body"] == {"model": "m"}
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    assert request["headers"]["Content-Type"] == "application/json"


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 529])
def test_retried_statuses_are_tried_again_until_an_answer(status):
    result, seen, _ = run([web.Response(status=status, headers=FAST), web.json_response({"ok": 1})])
    assert result == b'{"ok": 1}' and len(seen) == 2


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, InvalidInput),
        (401, ProviderFailed),
        (403, ProviderFailed),
        (404, ProviderFailed),
        (422, InvalidInput),
        (500, ProviderFailed),
        (503, ProviderUnavailable),
        (529, ProviderUnavailable),
        (429, ProviderRateLimited),
    ],
)
def test_each_status_that_is_not_retried_or_still_fails_is_airelays_error_without_the_upstream_body(status, error):
    answer = web.Response(status=status, text=SECRET_BODY, headers=FAST, content_type="application/json")
    result, seen, _ = run([answer], max_retries=1)
    assert type(result) is error
    assert "secret" not in str(result) and "secret" not in repr(result.__dict__)
    assert len(seen) == (2 if status in (429, 500, 503, 529) else 1)


def test_x_should_retry_decides_before_the_status():
    never = web.Response(status=503, headers={**FAST, "x-should-retry": "false"})
    result, seen, _ = run([never, web.json_response({"ok": 1})])
    assert isinstance(result, ProviderUnavailable) and len(seen) == 1
    always = web.Response(status=400, headers={**FAST, "x-should-retry": "true"})
    result, seen, _ = run([always, web.json_response({"ok": 1})])
    assert result == b'{"ok": 1}' and len(seen) == 2


def test_a_429_asking_for_more_than_two_minutes_is_not_retried_and_its_wait_is_passed_on():
    result, seen, noted = run([web.Response(status=429, headers={"retry-after": "600"}), web.json_response({})])
    assert isinstance(result, ProviderRateLimited) and result.retry_after == 600
    assert len(seen) == 1
    assert noted == 600  # what a deadline cutting the call short tells the client


def test_a_429_waits_what_the_server_asks_then_tries_again():
    started = time.monotonic()
    result, seen, noted = run([web.Response(status=429, headers={"retry-after": "1"}), web.json_response({})])
    assert result == b"{}" and len(seen) == 2
    assert time.monotonic() - started >= 0.9
    assert noted == 1


def test_without_a_wait_from_the_server_retries_back_off():
    started = time.monotonic()
    result, seen, _ = run([web.Response(status=500), web.json_response({})], max_retries=1)
    assert result == b"{}" and len(seen) == 2
    assert time.monotonic() - started >= 0.375  # 0.5 s less at most 25 % jitter
    assert all(0.375 <= backoff_s(0) <= 0.5 for _ in range(100))
    assert all(6 <= backoff_s(n) <= 8 for n in (4, 10, 1000) for _ in range(10))


def test_an_unreachable_server_is_provider_unavailable_after_the_retries():
    async def go():
        client = UpstreamClient(
            "http://127.0.0.1:9/v1", "k", timeout_s=1, connect_timeout_s=1, stream_read_s=1, max_retries=0
        )
        try:
            await client.post("/chat/completions", {})
        finally:
            await client.close()

    with pytest.raises(ProviderUnavailable, match="could not be reached"):
        asyncio.run(go())


def test_a_server_that_does_not_answer_in_time_is_a_timeout():
    result, seen, _ = run([3], max_retries=0, read_s=0.3)
    assert isinstance(result, ProviderTimeout) and len(seen) == 1


def test_a_stream_is_returned_once_its_headers_came_and_read_by_the_caller():
    async def chunks(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        for i in range(3):
            await response.write(f"data: {i}\n\n".encode())
        return response

    async def go():
        async with serving(chunks) as base_url:
            client = UpstreamClient(base_url, "k", timeout_s=5, connect_timeout_s=5, stream_read_s=5, max_retries=0)
            try:
                response = await client.post("/chat/completions", {}, stream=True)
                return b"".join([piece async for piece in response.content.iter_any()])
            finally:
                await client.close()

    assert asyncio.run(go()) == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"


class Headers(dict):
    def get(self, name, default=None):
        return super().get(name.lower(), default)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "soon"}, None),
        ({}, None),
        ({"retry-after": "1e999"}, 121.0),
    ],
)
def test_a_servers_wait_is_read_as_the_openai_sdk_reads_it(headers, seconds):
    assert retry_after_s(Headers(headers)) == seconds


def test_a_wait_given_as_an_http_date_is_seconds_from_now():
    in_30_s = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 30))
    assert 28 <= retry_after_s(Headers({"retry-after": in_30_s})) <= 31
    assert retry_after(Headers({"retry-after": "0.2"})) == 1
    assert retry_after(Headers({"retry-after": "-5"})) is None


def test_the_environments_proxy_is_used_unless_no_proxy_exempts_the_host(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "llm.internal")
    assert proxy_for("https://api.openai.com/v1") == "http://proxy.internal:3128"
    assert proxy_for("https://llm.internal/v1") is None
    assert proxy_for("http://127.0.0.1:8081/v1") is None  # no HTTP_PROXY


@pytest.mark.parametrize("value", ["inf", "Infinity", "nan", "-inf"])
def test_a_malformed_non_finite_wait_is_ignored_and_the_503_retried(value):
    """As the SDK: a literal infinity or NaN says nothing (backoff, retried); only a number too large for a float
    (1e999) asks for a wait longer than any retried."""
    seen = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(1)
        if len(seen) == 1:
            return web.Response(status=503, headers={"retry-after": value})
        return web.json_response({"ok": 1})

    async def go():
        async with serving(handle) as base_url:
            client = UpstreamClient(base_url, "k", timeout_s=5, connect_timeout_s=2, stream_read_s=5, max_retries=1)
            try:
                return await (await client.post("/chat/completions", {})).json()
            except Exception as exc:
                return exc
            finally:
                await client.close()

    assert asyncio.run(go()) == {"ok": 1} and len(seen) == 2
