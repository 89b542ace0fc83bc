"""Fault-injecting, OpenAI-compatible fake upstream for tests and benchmarks.

Written directly on asyncio streams (``asyncio.start_server``) with a minimal
HTTP/1.1 parser (keep-alive, Content-Length and chunked request bodies) so
that per-request CPU stays small: it doubles as the "near-instant upstream"
for latency benchmarks.

In-process use (the server runs in a daemon thread with its own event loop)::

    with FakeUpstream().start() as up:
        client = AsyncOpenAI(base_url=up.base_url, api_key="x")
        up.script("429", "ok")               # next two chat requests
        ...
        assert up.wait_closed(1.0)           # client went away mid-stream

Foreground (separate process, e.g. for benchmarks)::

    python -m tests.support.upstream --port 9999 [--delay 0.05] [--chunks 20]

A process started that way can be scripted over HTTP:
``POST /__fake/script`` with a JSON list such as
``["429", {"type": "StallMidStream", "after_chunks": 5, "seconds": 3}]``,
``GET /__fake/stats`` and ``POST /__fake/reset``.

Endpoints: ``POST /v1/chat/completions`` and ``GET /v1/models``.

Reply text: content chunk ``i`` (0-based) is ``REPLY_TOKENS[i % len(REPLY_TOKENS)]``;
``FakeUpstream.reply_text(n)`` is the concatenation of the first ``n`` chunks and
``FakeUpstream.REPLY_TEXT`` is ``reply_text(20)`` (the default chunk count).
With ``max_tokens`` (or ``max_completion_tokens``) smaller than the chunk count
only that many chunks are produced and ``finish_reason`` is ``"length"``.

Usage: ``prompt_tokens`` = number of whitespace-separated words in all message
contents (string contents, or the ``text`` of list-of-parts contents) + 4 per
message; ``completion_tokens`` = number of content chunks.

Timing: ``delay_s`` (or ``Ok(delay_s=...)``) is waited before the response
headers of a buffered response; for a stream the headers go out at once and the
delay is waited before the first chunk (the ``role`` chunk).  ``SlowFirstByte``
waits before anything at all (headers included), for both kinds.
``chunk_delay_s`` optionally spaces the stream chunks.

Client disconnects: while a response is pending (delay, stall, slow stream,
slow first byte) a watcher task reads the socket; EOF or a reset there, or a
failed write, counts as "closed early" (``closed_early``, ``closed_event``,
``wait_closed``).  This covers streams, and buffered responses that were still
waiting when the client left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Union

__all__ = [
    "SECRET_MARKER",
    "REPLY_TOKENS",
    "Behaviour",
    "Ok",
    "Status",
    "SlowFirstByte",
    "StallMidStream",
    "ResetMidStream",
    "MalformedChunk",
    "FakeUpstream",
]

SECRET_MARKER = "UPSTREAM-SECRET-sk-test-123"

# Tricky content on purpose: bare "\n", "\n\n", a literal SSE terminator inside
# the content, multi-byte UTF-8 (Hangul) and a 4-byte emoji (surrogate pair in
# UTF-16), quotes and a backslash.  JSON is emitted with ensure_ascii=False, so
# the raw UTF-8 bytes go over the wire as real OpenAI does.
REPLY_TOKENS: tuple[str, ...] = (
    "Hello",
    " there",
    "!\n",
    "안녕하세요",
    " 👋",
    "\n\n",
    "data: [DONE]",
    " and",
    ' "quoted"',
    " back\\slash",
    " end",
    ".",
)

DEFAULT_CHUNKS = 20
DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "fake-model")

_MAX_HEAD = 64 * 1024
_READ_SIZE = 65536


# --------------------------------------------------------------------------- #
# Behaviours
# --------------------------------------------------------------------------- #


class Behaviour:
    """Base class of scripted behaviours (one is consumed per chat request)."""


@dataclass(frozen=True)
class Ok(Behaviour):
    """A normal answer; fields left as None use the server defaults."""

    chunks: int | None = None
    delay_s: float | None = None
    chunk_delay_s: float | None = None


@dataclass(frozen=True)
class Status(Behaviour):
    """An error status with an OpenAI-style error JSON body (contains SECRET_MARKER)."""

    status: int
    retry_after: float | int | None = None
    message: str | None = None


@dataclass(frozen=True)
class SlowFirstByte(Behaviour):
    """Wait ``seconds`` before sending anything (headers included), then answer ok."""

    seconds: float


@dataclass(frozen=True)
class StallMidStream(Behaviour):
    """Stream ``after_chunks`` content chunks, send nothing for ``seconds``, then finish."""

    after_chunks: int = 5
    seconds: float = 30.0


@dataclass(frozen=True)
class ResetMidStream(Behaviour):
    """Stream ``after_chunks`` content chunks then abort the TCP connection.

    ``rst=True`` sets SO_LINGER(1, 0) first so the client sees a real RST
    (ECONNRESET); with ``rst=False`` it just gets an EOF in the middle of the
    chunked body.  ``settle_s`` is slept before the abort so the chunks already
    written reach the client before the reset (an RST can discard unread data).
    """

    after_chunks: int = 5
    rst: bool = True
    settle_s: float = 0.05


@dataclass(frozen=True)
class MalformedChunk(Behaviour):
    """After ``after_chunks`` content chunks send ``data: {not json``.

    then="continue": carry on with the normal stream; then="close": end the
    chunked body (no finish chunk, no [DONE]) and close the connection.
    """

    after_chunks: int = 3
    then: str = "continue"


BehaviourLike = Union[str, int, Behaviour, dict]

_STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

_ERROR_DEFAULTS: dict[int, tuple[str, str | None, str]] = {
    # status: (type, code, message)
    400: ("invalid_request_error", None, "Bad request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided: {secret}."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Forbidden ({secret})."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist ({secret})."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests on key {secret}. Please try again in 1s.",
    ),
    500: ("server_error", None, "The server had an error while processing your request ({secret})."),
    502: ("server_error", None, "Bad gateway ({secret})."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later ({secret})."),
}

_BEHAVIOUR_TYPES: dict[str, type] = {
    c.__name__: c for c in (Ok, Status, SlowFirstByte, StallMidStream, ResetMidStream, MalformedChunk)
}

_OK = Ok()


def coerce_behaviour(b: BehaviourLike) -> Behaviour:
    """"ok" | "429" | 500 | Behaviour | {"type": "StallMidStream", ...} -> Behaviour."""
    if isinstance(b, Behaviour):
        return b
    if isinstance(b, int):
        return Status(b, retry_after=1 if b == 429 else None)
    if isinstance(b, str):
        if b == "ok":
            return _OK
        if b.isdigit() and len(b) == 3:
            code = int(b)
            return Status(code, retry_after=1 if code == 429 else None)
        raise ValueError(f"unknown behaviour string {b!r}")
    if isinstance(b, dict):
        d = dict(b)
        kind = d.pop("type", None)
        cls = _BEHAVIOUR_TYPES.get(kind or "")
        if cls is None:
            raise ValueError(f"unknown behaviour {b!r}")
        return cls(**d)
    raise TypeError(f"not a behaviour: {b!r}")


def _behaviour_to_json(b: Behaviour) -> dict:
    d = asdict(b)  # type: ignore[call-overload]
    d["type"] = type(b).__name__
    return d


# --------------------------------------------------------------------------- #
# Pre-rendered pieces
# --------------------------------------------------------------------------- #


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


_TOKEN_DELTAS = tuple('{"content":' + _dumps(t) + "}" for t in REPLY_TOKENS)
_CHUNK_TAIL = ',"logprobs":null,"finish_reason":null}]'
_USAGE_NULL = ',"usage":null'
_DONE_EVENT = b"data: [DONE]\n\n"
_MALFORMED_EVENT = b"data: {not json\n\n"
_CHUNKED_END = b"0\r\n\r\n"

_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\n"
    b"content-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\n"
    b"server: fake-upstream\r\n"
)


def _frame(event: bytes) -> bytes:
    """One SSE event as one HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(event), event)


def _error_body(status: int, message: str | None = None) -> bytes:
    etype, code, default = _ERROR_DEFAULTS.get(status, ("server_error", None, "Upstream error {secret}."))
    msg = (message if message is not None else default).replace("{secret}", SECRET_MARKER)
    if SECRET_MARKER not in msg:
        msg = f"{msg} ({SECRET_MARKER})"
    return _dumps({"error": {"message": msg, "type": etype, "param": None, "code": code}}).encode()


def _count_prompt_tokens(messages: Any) -> int:
    if not isinstance(messages, list):
        return 0
    total = 0
    for m in messages:
        total += 4
        if not isinstance(m, dict):
            continue
        c = m.get("content")
        if isinstance(c, str):
            total += len(c.split())
        elif isinstance(c, list):
            for part in c:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    total += len(part["text"].split())
    return total


class _ClientGone(Exception):
    """The client closed/reset the connection while a response was pending."""


class _Conn:
    __slots__ = ("reader", "writer", "transport", "buf", "eof", "gone", "watcher")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.transport = writer.transport
        self.buf = bytearray()
        self.eof = False
        self.gone: asyncio.Future | None = None  # resolved when the client goes away
        self.watcher: asyncio.Task | None = None


# --------------------------------------------------------------------------- #
# Server
# --------------------------------------------------------------------------- #


class FakeUpstream:
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
    ) -> None:
        """``loop``: "auto" (uvloop when importable), "uvloop" or "asyncio"."""
        self.host = host
        self.port = port
        self.delay_s = delay_s
        self.chunks = chunks
        self.chunk_delay_s = chunk_delay_s
        self.models = tuple(models)
        self.loop_impl = loop

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
        """Queue behaviours for the next chat requests (one each); then "ok"."""
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

    def start(self) -> "FakeUpstream":
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

    def __enter__(self) -> "FakeUpstream":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    async def serve(self) -> None:
        """Run on the current loop until ``_request_stop`` (or cancellation)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stop_fut = loop.create_future()
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, backlog=1024, limit=_READ_SIZE
        )
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
            except (asyncio.TimeoutError, Exception):
                pass

    # ------------------------------------------------------------ bookkeeping
    def _next_behaviour(self) -> Behaviour:
        with self._cond:
            return self._script.popleft() if self._script else _OK

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

    # ------------------------------------------------------------ connection
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conn = _Conn(reader, writer)
        self._conns.add(conn)
        with self._cond:
            self.connections += 1
        try:
            while await self._one_request(conn):
                pass
        except (_ClientGone, ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        except Exception as e:  # keep the fake alive; tests can inspect .errors
            self.errors.append(f"{type(e).__name__}: {e}")
        finally:
            await self._stop_watch(conn)
            self._conns.discard(conn)
            if task is not None:
                self._tasks.discard(task)
            if not conn.transport.is_closing():
                conn.transport.close()

    async def _fill(self, conn: _Conn) -> bool:
        """Read more bytes into conn.buf; False on EOF."""
        if conn.eof:
            return False
        data = await conn.reader.read(_READ_SIZE)
        if not data:
            conn.eof = True
            return False
        conn.buf += data
        return True

    async def _read_body(self, conn: _Conn, clen: int, chunked: bool) -> bytes | None:
        buf = conn.buf
        if not chunked:
            while len(buf) < clen:
                if not await self._fill(conn):
                    return None
            body = bytes(buf[:clen])
            del buf[:clen]
            return body
        out = bytearray()
        while True:
            while (i := buf.find(b"\r\n")) < 0:
                if not await self._fill(conn):
                    return None
            size = int(bytes(buf[:i]).split(b";", 1)[0].strip() or b"0", 16)
            del buf[: i + 2]
            if size == 0:
                # trailers until an empty line
                while True:
                    while (i := buf.find(b"\r\n")) < 0:
                        if not await self._fill(conn):
                            return None
                    line_empty = i == 0
                    del buf[: i + 2]
                    if line_empty:
                        return bytes(out)
            while len(buf) < size + 2:
                if not await self._fill(conn):
                    return None
            out += buf[:size]
            del buf[: size + 2]

    async def _one_request(self, conn: _Conn) -> bool:
        """Serve one request; return whether to keep the connection open."""
        buf = conn.buf
        idx = buf.find(b"\r\n\r\n")
        while idx < 0:
            if len(buf) > _MAX_HEAD:
                self._send_simple(conn, 431, _error_body(431, "Request header too large"), False)
                return False
            start = max(0, len(buf) - 3)
            if not await self._fill(conn):
                return False
            idx = buf.find(b"\r\n\r\n", start)
        head = bytes(buf[:idx])
        del buf[: idx + 4]
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            self._send_simple(conn, 400, _error_body(400, "Malformed request line"), False)
            return False
        method, target, version = parts
        keep_alive = version == b"HTTP/1.1"
        clen = 0
        chunked = False
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                clen = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"connection":
                v = value.lower()
                if b"close" in v:
                    keep_alive = False
                elif b"keep-alive" in v:
                    keep_alive = True
            headers[name.decode("latin-1")] = value.decode("latin-1")

        raw = await self._read_body(conn, clen, chunked)
        if raw is None:
            return False
        path = target.split(b"?", 1)[0]

        if path == b"/v1/chat/completions":
            if method != b"POST":
                self._send_simple(conn, 405, _error_body(405, "Method not allowed"), keep_alive)
                return keep_alive
            return await self._chat(conn, raw, headers, keep_alive, version == b"HTTP/1.1")
        if path == b"/v1/models" and method == b"GET":
            body = _dumps(
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 1700000000, "owned_by": "fake-upstream"}
                        for m in self.models
                    ],
                }
            ).encode()
            self._send_simple(conn, 200, body, keep_alive)
            return keep_alive
        if path.startswith(b"/__fake/"):
            return self._control(conn, method, path, raw, keep_alive)
        self._send_simple(conn, 404, _error_body(404, f"Unknown path {path.decode('latin-1')}"), keep_alive)
        return keep_alive

    def _send_simple(
        self,
        conn: _Conn,
        status: int,
        body: bytes,
        keep_alive: bool,
        extra: bytes = b"",
        request_id: int = 0,
    ) -> None:
        head = (
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"x-request-id: req_fake_%d\r\nserver: fake-upstream\r\n%s%s\r\n"
        ) % (
            status,
            _STATUS_TEXT.get(status, "Status").encode(),
            len(body),
            request_id,
            extra,
            b"" if keep_alive else b"connection: close\r\n",
        )
        conn.transport.write(head + body)

    def _control(self, conn: _Conn, method: bytes, path: bytes, raw: bytes, keep_alive: bool) -> bool:
        try:
            if path == b"/__fake/script" and method == b"POST":
                items = json.loads(raw or b"[]")
                self.script(*(items if isinstance(items, list) else [items]))
                body = _dumps({"pending": [_behaviour_to_json(b) for b in self.pending_script()]})
            elif path == b"/__fake/reset" and method == b"POST":
                self.reset()
                body = _dumps({"ok": True})
            elif path == b"/__fake/stats":
                body = _dumps(self.stats())
            else:
                self._send_simple(conn, 404, _error_body(404, "unknown control path"), keep_alive)
                return keep_alive
        except (ValueError, TypeError) as e:
            self._send_simple(conn, 400, _dumps({"error": {"message": str(e)}}).encode(), keep_alive)
            return keep_alive
        self._send_simple(conn, 200, body.encode(), keep_alive)
        return keep_alive

    # ------------------------------------------------------------ disconnect watching
    def _start_watch(self, conn: _Conn) -> asyncio.Future:
        if conn.gone is None:
            loop = asyncio.get_running_loop()
            conn.gone = loop.create_future()
            conn.watcher = loop.create_task(self._watch(conn))
        return conn.gone

    async def _watch(self, conn: _Conn) -> None:
        """Read the socket while a response is pending; EOF/reset => client gone.

        Bytes that arrive (a pipelined next request) are kept in conn.buf.
        """
        try:
            while True:
                if conn.eof:
                    break
                data = await conn.reader.read(_READ_SIZE)
                if not data:
                    conn.eof = True
                    break
                conn.buf += data
        except (ConnectionError, OSError):
            conn.eof = True
        gone = conn.gone
        if gone is not None and not gone.done():
            gone.set_result(None)

    async def _stop_watch(self, conn: _Conn) -> None:
        w = conn.watcher
        conn.watcher = None
        conn.gone = None
        if w is not None and not w.done():
            w.cancel()
            try:
                await w
            except BaseException:
                pass

    async def _pause(self, conn: _Conn, seconds: float) -> None:
        """Sleep, but raise _ClientGone as soon as the client disconnects."""
        if seconds <= 0:
            if conn.transport.is_closing():
                raise _ClientGone
            return
        gone = self._start_watch(conn)
        if gone.done():
            raise _ClientGone
        await asyncio.wait((gone,), timeout=seconds)
        if gone.done() or conn.transport.is_closing():
            raise _ClientGone

    async def _send(self, conn: _Conn, data: bytes) -> None:
        t = conn.transport
        if t.is_closing():
            raise _ClientGone
        t.write(data)
        try:
            await conn.writer.drain()
        except (ConnectionError, OSError) as e:
            raise _ClientGone from e
        if t.is_closing():
            raise _ClientGone

    # ------------------------------------------------------------ chat completions
    async def _chat(
        self, conn: _Conn, raw: bytes, headers: dict[str, str], keep_alive: bool, http11: bool
    ) -> bool:
        try:
            body = json.loads(raw)
        except ValueError:
            err = _error_body(400, "We could not parse the JSON body of your request.")
            self._send_simple(conn, 400, err, keep_alive)
            return keep_alive
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or "model" not in body:
            self._send_simple(conn, 400, _error_body(400, "'model' and 'messages' are required."), keep_alive)
            return keep_alive
        rid = self._record(body, headers)
        beh = self._next_behaviour()
        stream = bool(body.get("stream"))

        try:
            if isinstance(beh, SlowFirstByte):
                await self._pause(conn, beh.seconds)
            if isinstance(beh, Status):
                extra = b""
                if beh.retry_after is not None:
                    extra = b"retry-after: %s\r\n" % str(beh.retry_after).encode()
                self._send_simple(conn, beh.status, _error_body(beh.status, beh.message), keep_alive, extra, rid)
                return keep_alive

            ok = beh if isinstance(beh, Ok) else _OK
            n = ok.chunks if ok.chunks is not None else self.chunks
            finish = "stop"
            mt = body.get("max_completion_tokens")
            if mt is None:
                mt = body.get("max_tokens")
            if isinstance(mt, int) and mt < n:
                n = max(mt, 0)
                finish = "length"
            delay = ok.delay_s if ok.delay_s is not None else self.delay_s
            if isinstance(beh, SlowFirstByte):
                delay = 0.0
            model = body.get("model")
            model_json = _dumps(model)
            created = int(time.time())
            prompt_tokens = _count_prompt_tokens(body["messages"])

            if not stream:
                if delay > 0:
                    await self._pause(conn, delay)
                text = self.reply_text(n)
                out = (
                    '{"id":"chatcmpl-fake-%d","object":"chat.completion","created":%d,"model":%s,'
                    '"system_fingerprint":"fp_fake","choices":[{"index":0,"message":{"role":"assistant",'
                    '"content":%s,"refusal":null,"annotations":[]},"logprobs":null,"finish_reason":"%s"}],'
                    '"usage":{"prompt_tokens":%d,"completion_tokens":%d,"total_tokens":%d,'
                    '"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},'
                    '"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
                    '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},'
                    '"service_tier":"default"}'
                    % (rid, created, model_json, _dumps(text), finish, prompt_tokens, n, prompt_tokens + n)
                )
                self._send_simple(conn, 200, out.encode(), keep_alive, b"", rid)
                return keep_alive

            so = body.get("stream_options")
            include_usage = isinstance(so, dict) and bool(so.get("include_usage"))
            return await self._stream(
                conn, beh, rid, created, model_json, n, finish, prompt_tokens, include_usage,
                delay, ok.chunk_delay_s if ok.chunk_delay_s is not None else self.chunk_delay_s,
                keep_alive and http11,
            )
        except _ClientGone:
            self._mark_closed_early()
            conn.transport.abort()
            return False
        finally:
            await self._stop_watch(conn)

    async def _stream(
        self,
        conn: _Conn,
        beh: Behaviour,
        rid: int,
        created: int,
        model_json: str,
        n: int,
        finish: str,
        prompt_tokens: int,
        include_usage: bool,
        delay: float,
        chunk_delay: float,
        keep_alive: bool,
    ) -> bool:
        # keep_alive False (HTTP/1.0 or Connection: close): close-delimited body.
        chunked = keep_alive
        frame = _frame if chunked else (lambda e: e)
        head = _STREAM_HEAD + b"x-request-id: req_fake_%d\r\n" % rid + (
            b"transfer-encoding: chunked\r\n\r\n" if chunked else b"connection: close\r\n\r\n"
        )
        prefix = (
            'data: {"id":"chatcmpl-fake-%d","object":"chat.completion.chunk","created":%d,"model":%s,'
            '"system_fingerprint":"fp_fake","choices":[{"index":0,"delta":' % (rid, created, model_json)
        )
        suffix = _CHUNK_TAIL + (_USAGE_NULL if include_usage else "") + "}\n\n"
        ntok = len(_TOKEN_DELTAS)

        # events[0] = role, events[1..n] = content, then finish, usage, [DONE]
        events: list[bytes] = [(prefix + '{"role":"assistant","content":"","refusal":null}' + suffix).encode()]
        events.extend((prefix + _TOKEN_DELTAS[i % ntok] + suffix).encode() for i in range(n))
        tail: list[bytes] = [
            (
                prefix + '{},"logprobs":null,"finish_reason":"%s"}]' % finish
                + (_USAGE_NULL if include_usage else "") + "}\n\n"
            ).encode()
        ]
        if include_usage:
            tail.append(
                (
                    'data: {"id":"chatcmpl-fake-%d","object":"chat.completion.chunk","created":%d,"model":%s,'
                    '"system_fingerprint":"fp_fake","choices":[],"usage":{"prompt_tokens":%d,'
                    '"completion_tokens":%d,"total_tokens":%d,"prompt_tokens_details":{"cached_tokens":0,'
                    '"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,'
                    '"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}\n\n'
                    % (rid, created, model_json, prompt_tokens, n, prompt_tokens + n)
                ).encode()
            )
        tail.append(_DONE_EVENT)
        end = _CHUNKED_END if chunked else b""

        # Where does the fault kick in? (index into events: after role + k content chunks)
        cut = None
        if isinstance(beh, (StallMidStream, ResetMidStream, MalformedChunk)):
            cut = 1 + min(max(beh.after_chunks, 0), n)

        if delay <= 0 and chunk_delay <= 0 and cut is None:
            # Fast path: the whole stream in one write.
            conn.transport.write(head + b"".join(map(frame, events)) + b"".join(map(frame, tail)) + end)
            if not keep_alive:
                conn.transport.close()
            return keep_alive

        await self._send(conn, head)
        self._start_watch(conn)
        if delay > 0:
            await self._pause(conn, delay)

        async def emit(evs: list[bytes]) -> None:
            if chunk_delay > 0:
                for i, e in enumerate(evs):
                    if i:
                        await self._pause(conn, chunk_delay)
                    await self._send(conn, frame(e))
            elif evs:
                await self._send(conn, b"".join(map(frame, evs)))

        if cut is None:
            await emit(events)
        else:
            await emit(events[:cut])
            if isinstance(beh, StallMidStream):
                await self._pause(conn, beh.seconds)
            elif isinstance(beh, ResetMidStream):
                if beh.settle_s > 0:
                    await self._pause(conn, beh.settle_s)
                self._reset(conn, beh.rst)
                return False
            elif isinstance(beh, MalformedChunk):
                await self._send(conn, frame(_MALFORMED_EVENT))
                if beh.then == "close":
                    await self._send(conn, end)
                    conn.transport.close()
                    return False
            if chunk_delay > 0:
                await self._pause(conn, chunk_delay)
            await emit(events[cut:])
        if chunk_delay > 0:
            await self._pause(conn, chunk_delay)
        await self._send(conn, b"".join(map(frame, tail)) + end)
        if not keep_alive:
            conn.transport.close()
        return keep_alive

    @staticmethod
    def _reset(conn: _Conn, rst: bool) -> None:
        if rst:
            sock = conn.transport.get_extra_info("socket")
            if sock is not None:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                except (OSError, AttributeError):
                    pass
        conn.transport.abort()


FakeUpstream.REPLY_TEXT = FakeUpstream.reply_text(DEFAULT_CHUNKS)


# --------------------------------------------------------------------------- #
# CLI
# --------------------------------------------------------------------------- #


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.support.upstream", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9999)
    p.add_argument("--delay", type=float, default=0.0, help="seconds before headers / first chunk")
    p.add_argument("--chunks", type=int, default=DEFAULT_CHUNKS)
    p.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    p.add_argument("--loop", choices=("auto", "uvloop", "asyncio"), default="auto")
    a = p.parse_args(argv)
    up = FakeUpstream(
        host=a.host, port=a.port, delay_s=a.delay, chunks=a.chunks, chunk_delay_s=a.chunk_delay, loop=a.loop
    )
    loop = up._new_loop()
    asyncio.set_event_loop(loop)

    async def run() -> None:
        task = asyncio.ensure_future(up.serve())
        while not up._started.is_set() and not task.done():
            await asyncio.sleep(0.01)
        if task.done():
            task.result()
        print(f"fake upstream listening on {up.base_url} (loop={type(loop).__module__})", flush=True)
        try:
            import signal

            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, up._request_stop)
        except (NotImplementedError, RuntimeError):
            pass
        await task

    try:
        loop.run_until_complete(run())
    except KeyboardInterrupt:
        pass
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
