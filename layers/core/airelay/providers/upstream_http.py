"""The chat models' request to an OpenAI-compatible server, on aiohttp: `POST {base_url}/chat/completions` with the
OpenAI SDK's retry rules, its statuses mapped once to airelay's errors.

Why not the OpenAI SDK here (DESIGN.md: a hand-written replacement needs a measured reason and the library's way
measured beside it): `python -m bench.upstream_client` measures the same call both ways in one run. On the SDK's own
aiohttp transport a buffered call costs about six times the CPU it costs here, a stream about four times, which was
most of what airelay added to a call (figures in docs/openai.md, "Speed"). The
SDK builds a request model, an httpx request and its URL for every call, then converts it for aiohttp. Its cost: this
module keeps the SDK's rules in step by hand (`openai/_base_client.py`: `_should_retry`, `_calculate_retry_timeout`,
`_parse_retry_after_header`; checked against openai 3.51). The embedders keep the SDK.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import weakref
from urllib.parse import urlsplit

import aiohttp
import httpx2
from httpx2._utils import URLPattern, get_environment_proxies
from pydantic_core import to_json

from .. import __version__
from ..errors import (
    AirelayError,
    InvalidInput,
    ProviderFailed,
    ProviderRateLimited,
    ProviderTimeout,
    ProviderUnavailable,
)
from .base import upstream_retry_after
from .retry_after import MAX_RETRY_AFTER_S, retry_after, retry_after_s

log = logging.getLogger("airelay.providers")

INITIAL_RETRY_DELAY_S = 0.5
MAX_RETRY_DELAY_S = 8.0
MAX_CONNECTIONS = 1000  # the SDK's pool size
# aiohttp stops reading a body held unread at twice its buffer (256 KiB by default), and over TLS a connection cut
# while it is stopped loses what the TLS layer and the parser hold: a stream's buffer is larger than any answer's
# events (a stream a slow client falls behind on is held in memory, up to its max_tokens and deadline).
STREAM_READ_BUFSIZE = 2**24


class UpstreamClient:
    """One OpenAI-compatible server and its key. A connection pool serves the event loop that opened it: one session
    per running loop (a Lambda environment has one; the local API runs each function on a loop of its own)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout_s: float,
        connect_timeout_s: float,
        stream_read_s: float,
        max_retries: int,
        organization: str = "",
        project: str = "",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_s = timeout_s
        self.connect_timeout_s = connect_timeout_s
        self.stream_read_s = stream_read_s
        self.max_retries = max_retries
        self.headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": f"airelay/{__version__}",
        }
        self.organization, self.project = organization, project
        if organization:
            self.headers["OpenAI-Organization"] = organization
        if project:
            self.headers["OpenAI-Project"] = project
        self.proxy = proxy_for(self.base_url)
        self.sessions: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self.lock = threading.Lock()  # the local API's loops run in threads of their own

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    def renewed(self, api_key: str | None = None) -> UpstreamClient:
        """The same server and settings, `api_key` or the same key, no pooled connection (a SnapStart restore)."""
        return UpstreamClient(
            self.base_url,
            api_key or self.api_key,
            timeout_s=self.timeout_s,
            connect_timeout_s=self.connect_timeout_s,
            stream_read_s=self.stream_read_s,
            max_retries=self.max_retries,
            organization=self.organization,
            project=self.project,
        )

    def session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        with self.lock:
            session = self.sessions.get(loop)
            if session is None or session.closed:
                for old in [old for old in self.sessions if old.is_closed()]:
                    del self.sessions[old]  # its session holds the loop: it would never be collected
                connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
                session = self.sessions[loop] = aiohttp.ClientSession(connector=connector)
            return session

    async def close(self) -> None:
        """Closes the running loop's session; the sessions of other loops go with their loops."""
        session = self.sessions.pop(asyncio.get_running_loop(), None)
        if session is not None:
            await session.close()

    async def post(self, path: str, body: dict, *, stream: bool = False) -> aiohttp.ClientResponse:
        """The server's 2xx answer to `body`: read whole, or with only its headers read when `stream` (then read
        with STREAM_IDLE_TIMEOUT_S between chunks, given as `stream_read_s`). Retried as the SDK retries: connection
        errors, timeouts, 408, 409, 429 and 5xx (`x-should-retry` decides first), up to `max_retries` times; a
        stream only until its headers have come."""
        read_s = self.stream_read_s if stream else self.timeout_s
        # `connect` covers the name lookup too (as the SDK's connect timeout does), `sock_connect` the TCP connect
        timeout = aiohttp.ClientTimeout(
            connect=self.connect_timeout_s, sock_connect=self.connect_timeout_s, sock_read=read_s
        )
        data = to_json(body)
        url = self.base_url + path
        for retry in range(self.max_retries + 1):
            try:
                response = await self.session().post(
                    url,
                    data=data,
                    headers=self.headers,
                    timeout=timeout,
                    proxy=self.proxy,
                    read_bufsize=STREAM_READ_BUFSIZE if stream else None,
                )
                if not stream and response.status < 400:
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                if retry == self.max_retries:
                    raise unreached(exc) from None
                log.info("upstream request failed (%s); retrying", type(exc).__name__)
                await asyncio.sleep(backoff_s(retry))
                continue
            if response.status == 429:
                upstream_retry_after.set(retry_after(response.headers) or 1)
            if response.status < 400:
                return response
            wait = retry_after_s(response.headers)
            response.release()  # the body, which may quote the request, is never read
            if retry < self.max_retries and should_retry(response, wait):
                await asyncio.sleep(wait if wait is not None and 0 < wait <= MAX_RETRY_AFTER_S else backoff_s(retry))
                continue
            raise status_error(response)
        raise AssertionError("unreachable")


def unreached(exc: BaseException) -> AirelayError:
    log.warning("upstream request failed (%s)", type(exc).__name__)
    if isinstance(exc, TimeoutError):
        return ProviderTimeout()
    return ProviderUnavailable("The model provider could not be reached.")


def proxy_for(url: str) -> str | None:
    """The proxy for `url` from HTTP(S)_PROXY, ALL_PROXY and NO_PROXY, chosen by the same code as the SDK's client
    (and so the embedders) chooses it: httpx2's own (`_utils`, its version locked; a test holds it to the forms
    curl documents). Read once: aiohttp's reading of the environment (`trust_env`) follows urllib's rules instead,
    and looks for a .netrc in a worker thread on every request."""
    mounts = sorted(((URLPattern(key), proxy) for key, proxy in get_environment_proxies().items()), key=first)
    target = httpx2.URL(url)
    return next((proxy for pattern, proxy in mounts if pattern.matches(target)), None)


def first(item: tuple):
    return item[0]


def backoff_s(retry: int) -> float:
    return min(INITIAL_RETRY_DELAY_S * 2.0**retry, MAX_RETRY_DELAY_S) * (1 - 0.25 * random.random())


def should_retry(response: aiohttp.ClientResponse, wait: float | None) -> bool:
    if wait is not None and wait > MAX_RETRY_AFTER_S:
        return False
    told = response.headers.get("x-should-retry")
    if told in ("true", "false"):
        return told == "true"
    return response.status in (408, 409, 429) or response.status >= 500


def status_error(response: aiohttp.ClientResponse) -> AirelayError:
    """An upstream status as airelay's error, without the upstream's body."""
    status = response.status
    log.warning("upstream error (status %s)", status)
    if status == 429:
        return ProviderRateLimited(retry_after=retry_after(response.headers))
    if status in (401, 403):
        return ProviderFailed("The model provider refused this server's credentials.")
    if status == 404:
        return ProviderFailed("The configured model is not available at the model provider.")
    if status in (400, 422):
        return InvalidInput("The model provider rejected the request (for example, the conversation is too long).")
    if status in (503, 529):
        return ProviderUnavailable()
    return ProviderFailed()
