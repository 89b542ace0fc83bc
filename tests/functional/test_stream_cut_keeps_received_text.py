"""A stream the upstream cuts (a TCP reset, or a close before `data: [DONE]`) delivers every text delta that arrived
before the cut, then fails: never a clean stop, never text dropped (aiohttp's StreamReader raises a stored error
before returning what it has buffered, aio-libs/aiohttp#3026).

The peer is a raw socket on 127.0.0.1 in a thread of its own, so that the bytes, the writes they go in and the reset
are exactly as scripted; the provider's `stream` is read directly, with a consumer that takes its time over each
event as the relay does while it writes the event to its own client."""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
import time
from contextlib import contextmanager

import pytest

from airelay.errors import AirelayError
from airelay.providers.base import ChatRequest, Finished, TextDelta
from tests.support.loopback_peer import stream_slowly

REQUEST = ChatRequest(messages=[{"role": "user", "content": "hi"}], max_tokens=100)
DELTAS = [f"piece {i}; " for i in range(8)]


def event(piece: str) -> bytes:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}}]}
    return f"data: {json.dumps(chunk)}\n\n".encode()


def framed(data: bytes, chunked: bool) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if chunked else data


def head(chunked: bool) -> bytes:
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Connection: close\r\n"
    return b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" + framing + b"\r\n"


def read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    header, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1]) for line in header.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        body += conn.recv(65536)


@contextmanager
def raw_peer(script: list[bytes | float], cut: str):
    """Serves one request: each bytes item of `script` in one sendall, each float a pause in seconds; then a reset
    (SO_LINGER 0, then close) or a plain close, at once. Yields the base URL."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    failures: list[BaseException] = []

    def serve() -> None:
        try:
            conn, _ = listener.accept()
            with conn:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                read_request(conn)
                for step in script:
                    if isinstance(step, float):
                        time.sleep(step)
                    else:
                        conn.sendall(step)
                if cut == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except BaseException as exc:  # seen by the test, not lost in the thread
            failures.append(exc)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    finally:
        thread.join(5)
        listener.close()
    assert not failures, failures


def read(base_url: str, consumer_pause_s: float) -> tuple[str, list, Exception | None]:
    events, error = asyncio.run(stream_slowly(base_url, REQUEST, lambda n: consumer_pause_s))
    return "".join(e.text for e in events if isinstance(e, TextDelta)), events, error


SLOW_READER_S = 0.2  # the relay's time over one event; the busy scripts' pauses are shorter


def script(how: str, chunked: bool) -> list[bytes | float]:
    """The response as the peer writes it; the cut follows the last step at once."""
    head_, events = head(chunked), [framed(event(piece), chunked) for piece in DELTAS]
    if how == "one-write":  # headers, every chunk and the cut together
        return [head_ + b"".join(events)]
    if how == "pause-then-cut":  # every chunk, then the cut a while later
        return [head_ + b"".join(events), 0.2]
    if how == "rest-while-busy":  # the first chunk; the rest and the cut while the reader is busy with its event
        return [head_ + events[0], 0.05, b"".join(events[1:])]
    if how == "write-per-chunk-while-busy":  # one write per chunk, a little apart, the cut after the last
        return [head_, events[0], *(step for e in events[1:] for step in (0.01, e))]
    raise AssertionError(how)


@pytest.mark.parametrize("consumer_pause_s", [0, SLOW_READER_S], ids=["prompt-reader", "slow-reader"])
@pytest.mark.parametrize("how", ["one-write", "pause-then-cut", "rest-while-busy", "write-per-chunk-while-busy"])
@pytest.mark.parametrize("cut", ["reset", "close"])
@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "until-close"])
def test_every_delta_received_before_a_cut_is_yielded_then_the_stream_fails(chunked, cut, how, consumer_pause_s):
    # GIVEN an upstream that sends N text deltas, then cuts the connection without `data: [DONE]`
    with raw_peer(script(how, chunked), cut) as base_url:
        # WHEN the provider's stream is read
        text, events, error = read(base_url, consumer_pause_s)
    # THEN every delta's text came out, then an error: no Finished event, no clean stop
    assert text == "".join(DELTAS)
    assert isinstance(error, AirelayError), f"the stream ended without an error: {events[-1:]!r}"
    assert not any(isinstance(e, Finished) for e in events)


def test_a_finished_answer_held_unread_when_the_connection_is_reset_is_delivered_finished():
    # GIVEN a peer whose finish, usage and [DONE] arrive with the reset while the reader is busy with the first delta
    finish = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    usage = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": len(DELTAS)}}
    tail = b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in (finish, usage)) + b"data: [DONE]\n\n"
    events = [framed(event(piece), True) for piece in DELTAS] + [framed(tail, True)]
    with raw_peer([head(True) + events[0], 0.05, b"".join(events[1:])], "reset") as base_url:
        text, out, error = read(base_url, SLOW_READER_S)
    # THEN the whole answer, finished as the peer finished it (as after any cut past [DONE]), not a broken stream
    assert text == "".join(DELTAS)
    assert error is None, f"finished answer failed: {error!r}"
    assert out[-1] == Finished("stop", out[-1].usage) and out[-1].usage.completion_tokens == len(DELTAS)
