"""A one-route aiohttp server on 127.0.0.1 in the test's own event loop, for the chat models' upstream client."""

from __future__ import annotations

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
