"""A one-route aiohttp server on 127.0.0.1 in the test's own event loop, for the chat models' upstream client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web

PATH = "/v1/chat/completions"


@asynccontextmanager
async def serving(handle: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    """Serves `handle` at POST /v1/chat/completions while the block runs; yields the base URL (…/v1)."""

    async def route(request: web.Request) -> web.StreamResponse:  # aiohttp wants a coroutine function
        return await handle(request)

    app = web.Application()
    app.router.add_post(PATH, route)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/v1"
    finally:
        await runner.cleanup()


async def stream_slowly(
    base_url: str, request, pause_s: Callable[[int], float], stream_read_s: float = 5
) -> tuple[list, Exception | None]:
    """The events an OpenAI-compatible chat model at `base_url` streams for `request`, read as the relay reads them:
    `pause_s(n)` seconds after the n-th (the relay writing it to its own client); and the error it raised, or None."""
    from airelay.providers.openai_compat import OpenAICompatChatModel
    from airelay.providers.upstream_http import UpstreamClient

    client = UpstreamClient(
        base_url, "sk-test", timeout_s=5, connect_timeout_s=2, stream_read_s=stream_read_s, max_retries=0
    )
    model = OpenAICompatChatModel("openai/local-model", client)
    events, error = [], None
    try:
        async for event in model.stream(request):
            events.append(event)
            await asyncio.sleep(pause_s(len(events)))
    except Exception as exc:
        error = exc
    finally:
        await client.close()
    return events, error
