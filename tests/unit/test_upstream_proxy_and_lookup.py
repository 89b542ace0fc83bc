"""The upstream's proxy and name lookup. The proxy comes from the environment as the SDK's httpx2 client reads it: a
proxy given without a scheme is http://; NO_PROXY takes `*.domain`, `host:port` and IPv4 networks; ALL_PROXY applies
to every scheme. UPSTREAM_CONNECT_TIMEOUT_S bounds the name lookup and the connect together, as in the SDK
(httpcore2's connect_tcp runs both under one timeout), so a stalled lookup is a timeout, retried."""

import asyncio
import socket
import time

import aiohttp.connector
import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from airelay.errors import ProviderTimeout
from airelay.providers.upstream_http import UpstreamClient, proxy_for
from tests.support.loopback_peer import serving

PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def clean_env(monkeypatch):
    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_a_proxy_given_without_a_scheme_is_used_as_http(clean_env):
    # GIVEN HTTP_PROXY=host:port (a form httpx, requests and curl all accept) naming a proxy on loopback
    async def proxy(request: web.Request) -> web.Response:  # a forward proxy answering for the upstream
        return web.json_response({"via_proxy": str(request.url)})

    async def go():
        async with serving(proxy) as proxy_url:
            clean_env.setenv("HTTP_PROXY", proxy_url.removeprefix("http://").removesuffix("/v1"))
            client = UpstreamClient(
                "http://llm.invalid/v1", "sk", timeout_s=5, connect_timeout_s=1, stream_read_s=5, max_retries=0
            )
            try:
                return await (await client.post("/chat/completions", {})).json()
            except Exception as exc:
                return exc
            finally:
                await client.close()

    # THEN the call goes through that proxy
    assert asyncio.run(go()) == {"via_proxy": "http://llm.invalid/v1/chat/completions"}


@pytest.mark.parametrize(
    ("env", "url", "proxy"),
    [
        ({"HTTPS_PROXY": "http://proxy:3128", "NO_PROXY": "*.openai.com"}, "https://api.openai.com/v1", None),
        ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "10.0.0.0/8"}, "http://10.1.2.3:8000/v1", None),
        ({"HTTP_PROXY": "http://proxy:3128", "NO_PROXY": "llm.internal:8080"}, "http://llm.internal:8080/v1", None),
        ({"ALL_PROXY": "http://proxy:3128"}, "https://api.openai.com/v1", "http://proxy:3128"),
    ],
    ids=["no-proxy-wildcard", "no-proxy-network", "no-proxy-host-port", "all-proxy"],
)
def test_the_proxy_is_chosen_as_the_sdks_httpx_client_chooses_it(clean_env, env, url, proxy):
    for name, value in env.items():
        clean_env.setenv(name, value)
    assert proxy_for(url) == proxy


class StalledResolver(AbstractResolver):
    """A DNS server that takes 3 s to answer, then answers 127.0.0.1."""

    def __init__(self, *args, **kwargs) -> None:
        pass

    async def resolve(self, host, port=0, family=socket.AF_INET):
        await asyncio.sleep(3)
        return [
            ResolveResult(
                hostname=host, host="127.0.0.1", port=port, family=socket.AF_INET, proto=0, flags=socket.AI_NUMERICHOST
            )
        ]

    async def close(self) -> None:
        pass


def test_a_stalled_name_lookup_is_bounded_by_the_connect_timeout(monkeypatch):
    monkeypatch.setattr(aiohttp.connector, "DefaultResolver", StalledResolver)
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": 1})

    async def go():
        async with serving(ok) as base_url:
            client = UpstreamClient(
                base_url.replace("127.0.0.1", "llm.test"),
                "sk-test",
                timeout_s=5,
                connect_timeout_s=0.3,
                stream_read_s=5,
                max_retries=0,
            )
            started = time.monotonic()
            try:
                await client.post("/chat/completions", {"model": "m"})
                outcome = "answered"
            except Exception as exc:
                outcome = exc
            finally:
                await client.close()
            return outcome, time.monotonic() - started

    outcome, took = asyncio.run(go())
    # the 0.3 s connect timeout ends the attempt (a ProviderTimeout with no retries left), not the 3 s lookup
    assert took < 1.5, f"the connect timeout was not applied: {took:.1f} s, {outcome!r}"
    assert isinstance(outcome, ProviderTimeout)
