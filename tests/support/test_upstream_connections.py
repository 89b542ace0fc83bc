"""Prove the fake upstream's connections with the real openai SDK (httpx2 underneath), httpx and a raw socket:
clients closing a stream early, keep-alive, chunked request bodies, and the CLI in its own process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.conftest import MESSAGES, assembled, client, collect_stream, run
from tests.support.upstream import FakeUpstream, Ok, StallMidStream, Status

REPO_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- client disconnects


@pytest.mark.parametrize(
    "behaviour", [StallMidStream(after_chunks=2, seconds=30), Ok(chunk_delay_s=0.2)], ids=["stall", "slow-stream"]
)
def test_client_closing_stream_early_is_detected(up, behaviour):
    up.script(behaviour)

    async def go():
        async with client(up) as c:
            stream = await c.chat.completions.create(model="m", messages=MESSAGES, stream=True)
            n = 0
            async for _ in stream:
                n += 1
                if n == 2:
                    break
            await stream.close()

    run(go())
    assert up.wait_closed(5.0)  # well before the 30 s stall ends: noticed while waiting, not at the next write
    assert up.closed_early == 1
    assert up.events.is_set()


def test_completed_stream_is_not_closed_early(up):
    async def go():
        async with client(up) as c:
            await collect_stream(c)

    run(go())
    # once the server has seen the client's connection end (polled), it has counted any early close
    deadline = time.monotonic() + 10
    while up._conns and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not up._conns and up.closed_early == 0


# --------------------------------------------------------------------------- keep-alive


def test_keep_alive_httpx(up):
    async def go():
        async with httpx.AsyncClient(base_url=up.base_url) as c:
            for _ in range(2):
                r = await c.post("/chat/completions", json={"model": "m", "messages": MESSAGES})
                assert r.status_code == 200

    run(go())
    assert up.connections == 1
    assert len(up.requests) == 2


def test_keep_alive_openai_sdk_mixed(up):
    """Buffered, streamed, error and buffered again all reuse one connection."""
    up.script("ok", "ok", Status(429))

    async def go():
        async with client(up) as c:
            await c.chat.completions.create(model="m", messages=MESSAGES)
            assert assembled(await collect_stream(c)) == FakeUpstream.REPLY_TEXT
            with pytest.raises(openai.RateLimitError):
                await c.chat.completions.create(model="m", messages=MESSAGES)
            await c.chat.completions.create(model="m", messages=MESSAGES)

    run(go())
    assert up.connections == 1
    assert len(up.requests) == 4


def test_chunked_request_body_and_connection_close(up):
    """Chunked request bodies are accepted; `Connection: close` streams close-delimited."""
    body = json.dumps({"model": "m", "messages": MESSAGES, "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", up.port), timeout=5) as s:
        s.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
            b"transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            + b"%x\r\n%s\r\n" % (10, body[:10])
            + b"%x\r\n%s\r\n0\r\n\r\n" % (len(body) - 10, body[10:])
        )
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"connection: close" in head and b"transfer-encoding" not in head
    assert rest.endswith(b"data: [DONE]\n\n")
    assert up.requests[-1]["stream"] is True


# --------------------------------------------------------------------------- CLI


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cli_foreground_process():
    port = _free_port()
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.upstream", "--port", str(port), "--chunks", "3"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert f"127.0.0.1:{port}/v1" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base) as c:
            r = c.post("/__fake/script", json=["503"])
            assert r.status_code == 200 and r.json()["pending"][0]["status"] == 503
            r = c.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
            assert r.status_code == 503
            r = c.post("/v1/chat/completions", json={"model": "m", "messages": MESSAGES})
            assert r.json()["choices"][0]["message"]["content"] == FakeUpstream.reply_text(3)
            stats = c.get("/__fake/stats").json()
            assert stats["requests"] == 2 and stats["connections"] == 1
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
