"""``FakeUpstream``: the scripting and inspection API, the server thread and its event loop.

Request handling lives in the mixins: ``routing`` (connections, parsing,
routing), ``chat`` (chat completion answers) and ``connection`` (socket I/O).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Iterable
from typing import Any

from .behaviours import Behaviour, BehaviourLike, coerce_behaviour
from .chat import _ChatCompletions
from .connection import _READ_SIZE, _Conn, _ConnectionIO
from .deltas import _ScriptedDeltas
from .routing import _RequestRouting
from .wire import REPLY_TOKENS, SECRET_MARKER

DEFAULT_CHUNKS = 20
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "fake-model")


class FakeUpstream(_RequestRouting, _ChatCompletions, _ScriptedDeltas, _ConnectionIO):
    REPLY_TOKENS = REPLY_TOKENS
    SECRET_MARKER = SECRET_MARKER

    @staticmethod
    def reply_text(chunks: int = DEFAULT_CHUNKS) -> str:
        """Assembled reply for ``chunks`` content chunks."""
        n = len(REPLY_TOKENS)
        return "".join(REPLY_TOKENS[i % n] for i in range(chunks))

    REPLY_TEXT: str = ""  # set below the class: reply_text(DEFAULT_CHUNKS)

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay_s: float = 0.0,
        chunks: int = DEFAULT_CHUNKS,
        chunk_delay_s: float = 0.0,
        models: Iterable[str] = DEFAULT_MODELS,
        loop: str = "auto",
        behaviour: BehaviourLike = "ok",
    ) -> None:
        """``loop``: "auto" (uvloop when importable), "uvloop" or "asyncio"; ``behaviour``: what every chat request
        gets when nothing is scripted (e.g. ``Spend()``: each request spends all it allows)."""
        self.host = host
        self.port = port
        self.delay_s = delay_s
        self.chunks = chunks
        self.chunk_delay_s = chunk_delay_s
        self.models = tuple(models)
        self.loop_impl = loop
        self.behaviour = coerce_behaviour(behaviour)

        self.requests: list[dict] = []  # parsed JSON bodies of chat requests
        self.request_headers: list[dict[str, str]] = []  # same order, lower-case names
        self.connections = 0  # TCP connections accepted
        self.closed_early = 0
        self.closed_event = threading.Event()
        self.errors: list[str] = []  # unexpected server-side exceptions

        self._script: deque[Behaviour] = deque()
        self._cond = threading.Condition()
        self._counter = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._stop_fut: asyncio.Future | None = None
        self._conns: set[_Conn] = set()
        self._tasks: set[asyncio.Task] = set()
        self._started = threading.Event()
        self._start_error: BaseException | None = None

    # ------------------------------------------------------------ control
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def events(self) -> threading.Event:
        """Alias of ``closed_event`` (set whenever a client closes early)."""
        return self.closed_event

    @property
    def reply(self) -> str:
        """Reply text for this instance's chunk count."""
        return self.reply_text(self.chunks)

    def script(self, *behaviours: BehaviourLike) -> None:
        """Queue behaviours for the next chat requests (one each); then the default ``behaviour``."""
        items = [coerce_behaviour(b) for b in behaviours]
        with self._cond:
            self._script.extend(items)

    def pending_script(self) -> list[Behaviour]:
        with self._cond:
            return list(self._script)

    def reset(self) -> None:
        """Forget recorded requests, counters, the close event and the script."""
        with self._cond:
            self._script.clear()
            self.requests.clear()
            self.request_headers.clear()
            self.closed_early = 0
            self.connections = 0
            self.errors.clear()
            self.closed_event.clear()

    def wait_closed(self, timeout: float = 1.0, count: int = 1) -> bool:
        """Block until ``closed_early >= count``; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self.closed_early >= count, timeout)

    def wait_requests(self, n: int, timeout: float = 1.0) -> bool:
        """Block until at least ``n`` chat requests have been received."""
        with self._cond:
            return self._cond.wait_for(lambda: len(self.requests) >= n, timeout)

    def stats(self) -> dict:
        return {
            "requests": len(self.requests),
            "connections": self.connections,
            "closed_early": self.closed_early,
            "pending_script": len(self._script),
            "errors": list(self.errors),
        }

    # ------------------------------------------------------------ lifecycle
    def _new_loop(self) -> asyncio.AbstractEventLoop:
        if self.loop_impl in ("auto", "uvloop"):
            try:
                import uvloop  # type: ignore[import-not-found]

                return uvloop.new_event_loop()
            except ImportError:
                if self.loop_impl == "uvloop":
                    raise
        return asyncio.new_event_loop()

    def start(self) -> FakeUpstream:
        if self._thread is not None:
            return self
        self._started.clear()
        self._thread = threading.Thread(target=self._thread_main, name="FakeUpstream", daemon=True)
        self._thread.start()
        if not self._started.wait(10):
            raise RuntimeError("FakeUpstream did not start within 10 s")
        if self._start_error is not None:
            self._thread = None
            raise RuntimeError("FakeUpstream failed to start") from self._start_error
        return self

    def _thread_main(self) -> None:
        loop = self._new_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.serve())
        except BaseException as e:  # pragma: no cover - surfaced by start()
            self._start_error = e
            self._started.set()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    def stop(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._request_stop)
            except RuntimeError:
                pass
        thread.join(10)
        self._thread = None
        self._loop = None

    def _request_stop(self) -> None:
        if self._stop_fut is not None and not self._stop_fut.done():
            self._stop_fut.set_result(None)

    def __enter__(self) -> FakeUpstream:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    async def serve(self) -> None:
        """Run on the current loop until ``_request_stop`` (or cancellation)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop_fut = loop.create_future()
        self._server = await asyncio.start_server(self._handle, self.host, self.port, backlog=1024, limit=_READ_SIZE)
        self.port = self._server.sockets[0].getsockname()[1]
        self._started.set()
        try:
            await self._stop_fut
        finally:
            self._server.close()
            for c in list(self._conns):
                c.transport.abort()
            for t in list(self._tasks):
                t.cancel()
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=2)
            try:
                await asyncio.wait_for(self._server.wait_closed(), 2)
            except (TimeoutError, Exception):
                pass

    # ------------------------------------------------------------ bookkeeping
    def _next_behaviour(self) -> Behaviour:
        with self._cond:
            return self._script.popleft() if self._script else self.behaviour

    def _record(self, body: dict, headers: dict[str, str]) -> int:
        with self._cond:
            self.requests.append(body)
            self.request_headers.append(headers)
            self._counter += 1
            n = self._counter
            self._cond.notify_all()
        return n

    def _mark_closed_early(self) -> None:
        with self._cond:
            self.closed_early += 1
            self.closed_event.set()
            self._cond.notify_all()


FakeUpstream.REPLY_TEXT = FakeUpstream.reply_text(DEFAULT_CHUNKS)
