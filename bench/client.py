"""A minimal HTTP/1.1 keep-alive client on asyncio streams, cheap enough not to be what a benchmark measures.

One `Connection` sends one request at a time and times it with `perf_counter_ns`: the time to the first
text token of a streamed answer (`first_text` decides which SSE event carries it) and the time to the
end of the body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from time import perf_counter_ns

MAX_BODY = 1 << 20


@dataclass(slots=True)
class Reply:
    status: int
    body: bytes
    first_text_ns: int | None  # since the request was written; None for buffered answers or no text
    total_ns: int


def post_request(host: str, port: int, path: str, payload: dict, headers: dict[str, str] | None = None) -> bytes:
    body = json.dumps(payload).encode()
    extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Accept: */*\r\n{extra}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def send(self, request: bytes, first_text: Callable[[dict], bool] | None = None) -> Reply:
        """`first_text` given: the body is an SSE stream, and the first event it accepts stops the TTFT clock."""
        if self.writer is None:
            await self.open()
        started = perf_counter_ns()
        self.writer.write(request)
        status, headers = await self._head()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body, first_ns = await self._chunked(first_text)
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
            first_ns = None
        total = perf_counter_ns() - started
        if headers.get("connection", "").lower() == "close":
            self.close()
        return Reply(status, body, None if first_ns is None else first_ns - started, total)

    async def _head(self) -> tuple[int, dict[str, str]]:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def _chunked(self, first_text: Callable[[dict], bool] | None) -> tuple[bytes, int | None]:
        body = bytearray()
        scanned = 0  # body[:scanned] holds only complete SSE events already looked at
        first_ns = None
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")  # no trailers expected
                return bytes(body), first_ns
            body += (await self.reader.readexactly(size + 2))[:-2]
            if len(body) > MAX_BODY:
                raise ValueError("response body too large")
            if first_text is not None and first_ns is None:
                scanned, found = _scan_events(body, scanned, first_text)
                if found:
                    first_ns = perf_counter_ns()


def _scan_events(body: bytearray, start: int, first_text: Callable[[dict], bool]) -> tuple[int, bool]:
    while True:
        end = body.find(b"\n\n", start)
        if end < 0:
            return start, False
        event = bytes(body[start:end])
        start = end + 2
        if event.startswith(b"data: {") and first_text(json.loads(event[6:])):
            return start, True
