"""The small asyncio HTTP/1.1 client of the soak run (tests/support/soak.py), and the checks of its answers.

Each worker sends one request at a time on one keep-alive `Connection`: buffered chats, streamed chats and usage
reports, their bytes built by `http_request`. Every answer is checked in full (status, the fake upstream's exact
text, a finish, the usage figures); a check returns what a good chat answer reported (an `Answer`, which the ledger
must add up to) and raises on anything else, which counts as an error. `usage_report` reads /api/usage's total once
the run is over.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from decimal import Decimal


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time; Content-Length or chunked bodies."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = bytearray()
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                body += (await self.reader.readexactly(size + 2))[:-2]
            await self.reader.readuntil(b"\r\n")
        else:
            body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, bytes(body)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


def http_request(method: str, path: str, port: int, payload: dict | None = None) -> bytes:
    body = json.dumps(payload).encode() if payload is not None else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\n"
    if payload is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return (head + "\r\n").encode() + body


@dataclass
class Answer:
    """What one good chat answer reported: it is what the ledger must add up to."""

    prompt_tokens: int
    completion_tokens: int
    cost_usd: Decimal


def check_buffered(status: int, body: bytes, expected: str) -> Answer:
    data = json.loads(body) if status == 200 else None
    if data is None or data.get("response") != expected or data.get("finish_reason") != "stop":
        raise ValueError(f"buffered: status {status}: {body[:200]!r}")
    usage = data["usage"]
    return Answer(usage["prompt_tokens"], usage["completion_tokens"], Decimal(repr(data["cost_usd"])))


def check_stream(status: int, body: bytes, expected: str) -> Answer:
    if status != 200:
        raise ValueError(f"stream: status {status}: {body[:200]!r}")
    events = [event.removeprefix(b"data: ") for event in body.split(b"\n\n") if event]
    if events[-1] != b"[DONE]":
        raise ValueError(f"stream: no [DONE] at the end: {body[-200:]!r}")
    parts = [json.loads(event) for event in events[:-1]]
    text = "".join(p["delta"] for p in parts if p["type"] == "text-delta")
    usage = [p["data"] for p in parts if p["type"] == "data-usage"]
    finish = [p for p in parts if p["type"] == "finish"]
    if text != expected or len(usage) != 1 or [p.get("finishReason") for p in finish] != ["stop"]:
        raise ValueError(f"stream: incomplete or wrong answer: {body[-300:]!r}")
    return Answer(usage[0]["inputTokens"], usage[0]["outputTokens"], Decimal(repr(usage[0]["costUsd"])))


def check_usage(status: int, body: bytes, expected: str) -> None:
    if status != 200 or "total" not in json.loads(body):
        raise ValueError(f"usage: status {status}: {body[:200]!r}")


CHECKS = {"buffered": check_buffered, "stream": check_stream, "usage": check_usage}


def usage_report(port: int, days: int) -> dict:
    async def fetch():
        connection = Connection(port)
        try:
            return await connection.request(http_request("GET", f"/api/usage?days={days}", port))
        finally:
            connection.close()

    status, body = asyncio.run(fetch())
    if status != 200:
        raise RuntimeError(f"the usage report answered {status}: {body[:200]!r}")
    return json.loads(body)["total"]
