"""The local API reads request bodies as API Gateway does: a size limit checked before and while reading, a deadline
for the whole body. Real sockets against real uvicorn, on every kind of route (a Mangum function, the Web Adapter
chat app)."""

from __future__ import annotations

import asyncio
import re
import select
import socket
import time
from pathlib import Path

import pytest

from local.server import API_GATEWAY_MAX_BODY
from tests.e2e.stack import ApiProcess

MB = 1024 * 1024
ROUTES = {"mangum function": "/api/sentiment", "web adapter app": "/api/chat"}


def headers(path: str, *lines: str) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", *lines, "", ""]
    return "\r\n".join(head).encode()


def read_answer(sock: socket.socket) -> str:
    """What the server said before it closed the connection ('reset' when it reset it without a word)."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        return received.decode("latin-1") or "reset"
    return received.decode("latin-1")


def status_of(answer: str) -> int | None:
    found = re.match(r"HTTP/1\.1 (\d{3})", answer)
    return int(found.group(1)) if found else None


def memory_kb(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1))


@pytest.fixture
def api_process(tmp_path):
    started = []

    def start(**environment) -> ApiProcess:
        started.append(ApiProcess(tmp_path, **environment))
        return started[-1]

    yield start
    for api in started:
        api.stop()


# ---------------------------------------------------------------- size


@pytest.mark.parametrize("path", ROUTES.values(), ids=ROUTES.keys())
def test_a_declared_200_mb_body_is_refused_before_any_of_it_is_read(local_api, path):
    # GIVEN the local API, with a body deadline far longer than the test waits
    base = local_api(BODY_READ_TIMEOUT_S=60)
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # WHEN a request says it carries 200 MB, and sends none of it
        sock.sendall(headers(path, f"Content-Length: {200 * MB}", "Origin: http://localhost:5173"))
        answer = read_answer(sock)
    # THEN it is answered 413 at once, in the shape of API Gateway's own errors (template.yaml GatewayResponses:
    # REQUEST_TOO_LARGE falls back to DEFAULT_4XX), and the connection is closed
    assert status_of(answer) == 413, answer
    assert '{"error": {"code": "request_rejected", "message": "Request Too Large"}}' in answer
    assert re.search(r"(?im)^connection: close", answer)
    # AND it names the first allowed origin, as API Gateway's own errors do (template.yaml GatewayResponses), not the
    # page's
    assert re.search(r"(?im)^access-control-allow-origin: http://127.0.0.1:8000\r$", answer)


@pytest.mark.parametrize("path", ROUTES.values(), ids=ROUTES.keys())
def test_a_body_without_content_length_is_cut_off_at_the_limit_in_bounded_memory(api_process, path):
    # GIVEN the local API in its own process, each function loaded by one small request
    api = api_process()
    port = int(api.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(headers(path, "Content-Length: 2", "Connection: close") + b"{}")
        assert status_of(read_answer(sock)) == 422
    Path(f"/proc/{api.process.pid}/clear_refs").write_text("5")  # peak RSS := current RSS
    before_kb = memory_kb(api.process.pid, "VmRSS")
    # WHEN a chunked body keeps coming, 1 MB at a time, up to 64 MB
    total, sent = 64 * MB, 0
    piece = b"%x\r\n" % MB + b"a" * MB + b"\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(headers(path, "Transfer-Encoding: chunked"))
        try:
            while sent < total and not select.select([sock], [], [], 0)[0]:
                sock.sendall(piece)
                sent += MB
            sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = read_answer(sock)
    # THEN the server stopped it soon after the limit: a 413 (or a reset, when the refusal raced the upload)
    assert sent < total, "the whole 64 MB was accepted"
    assert sent <= API_GATEWAY_MAX_BODY + 8 * MB
    assert answer == "reset" or status_of(answer) == 413, answer
    # AND the server's memory grew by about the limit, not by the upload
    grew_mb = (memory_kb(api.process.pid, "VmHWM") - before_kb) / 1024
    assert grew_mb < 3 * API_GATEWAY_MAX_BODY / MB, f"peak RSS grew {grew_mb:.0f} MB"


# ---------------------------------------------------------------- time


async def slowloris(port: int, path: str, drip_s: float, give_up_s: float) -> tuple[float, str]:
    """Sends the headers, then one byte of the body every `drip_s`; returns when and how the server closed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(headers(path, "Content-Length: 100000"))
    started = time.monotonic()

    async def drip() -> None:
        while True:
            await asyncio.sleep(drip_s)
            writer.write(b"x")
            await writer.drain()

    dripping = asyncio.create_task(drip())
    try:
        answer = (await asyncio.wait_for(reader.read(), give_up_s)).decode("latin-1")
    except (ConnectionResetError, BrokenPipeError):
        answer = "reset"
    except TimeoutError:
        answer = "still open"
    finally:
        dripping.cancel()
        writer.close()
    return time.monotonic() - started, answer


@pytest.mark.parametrize("path", ROUTES.values(), ids=ROUTES.keys())
def test_slow_bodies_are_closed_at_the_body_deadline(local_api, path):
    # GIVEN the local API with a 2 s body deadline
    timeout_s = 2.0
    base = local_api(BODY_READ_TIMEOUT_S=timeout_s)
    port = int(base.rsplit(":", 1)[1])

    # WHEN 30 clients each send their body one byte every 0.2 s
    async def many() -> list[tuple[float, str]]:
        return await asyncio.gather(*(slowloris(port, path, 0.2, give_up_s=6 * timeout_s) for _ in range(30)))

    results = asyncio.run(many())
    # THEN every connection is answered 408 (or reset) and closed: after the deadline, and well before 3 times it
    for elapsed, answer in results:
        assert answer != "still open", f"still open after {elapsed:.1f} s"
        assert answer == "reset" or status_of(answer) == 408, answer
        assert 0.95 * timeout_s <= elapsed < 3 * timeout_s  # the event loop's timer may fire a few ms early


def test_a_body_that_arrives_in_time_in_small_pieces_is_served(local_api):
    # GIVEN a 3 s body deadline
    base = local_api(BODY_READ_TIMEOUT_S=3)
    port = int(base.rsplit(":", 1)[1])
    body = b'{"message": "hi", "temperature": 9}'
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        # WHEN the body comes in three pieces, well within the deadline
        sock.sendall(headers("/api/chat", f"Content-Length: {len(body)}", "Connection: close"))
        for part in (body[:10], body[10:20], body[20:]):
            sock.sendall(part)
        answer = read_answer(sock)
    # THEN the function got all of it (its own validation answers)
    assert status_of(answer) == 422 and "temperature" in answer
