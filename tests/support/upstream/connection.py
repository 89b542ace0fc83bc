"""Byte-level I/O on one client connection.

Reading request bytes, writing responses, and noticing a client that went
away while a response was pending (``_ClientGone``).  ``_ConnectionIO`` is
mixed into ``FakeUpstream``; its methods keep no state of their own.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from .wire import _STATUS_TEXT

_READ_SIZE = 65536


class _ClientGone(Exception):
    """The client closed/reset the connection while a response was pending."""


class _Conn:
    __slots__ = ("buf", "eof", "gone", "reader", "transport", "watcher", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.transport = writer.transport
        self.buf = bytearray()
        self.eof = False
        self.gone: asyncio.Future | None = None  # resolved when the client goes away
        self.watcher: asyncio.Task | None = None


class _ConnectionIO:
    """Reading, writing and disconnect watching on a ``_Conn`` (a mixin of ``FakeUpstream``)."""

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
