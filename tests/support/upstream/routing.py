"""Accepting connections, parsing HTTP/1.1 requests and routing them.

``/v1/chat/completions`` goes to ``_ChatCompletions._chat``; ``/v1/models``
and the ``/__fake/...`` control endpoints are answered here.
"""

from __future__ import annotations

import asyncio
import json

from .behaviours import _behaviour_to_json
from .connection import _ClientGone, _Conn
from .wire import _dumps, _error_body

_MAX_HEAD = 64 * 1024


class _RequestRouting:
    """Connection loop, request parsing and routing (a mixin of ``FakeUpstream``)."""

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
