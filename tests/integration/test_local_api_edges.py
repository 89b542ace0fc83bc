"""The local API (local/server.py, `make dev`) on requests a browser, curl or a proxy may send: a clear 4xx for each,
never a 500 or a crashed function, and the documentation routes on every method it sends them."""

from __future__ import annotations

import re
import socket
import threading
import time

import httpx
import pytest
import uvicorn

from local.server import create
from tests.integration.conftest import forget_cached_state


def raw_request(base: str, request: str) -> tuple[int, str]:
    """One request over a socket (httpx would fix up what we want to send as is); (status, whole answer)."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request.encode("utf-8"))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    text = answer.decode("utf-8", "replace")
    return int(re.match(r"HTTP/1\.1 (\d{3})", text).group(1)), text


def test_static_paths_that_are_not_files_get_404_not_500(local_api):
    # GIVEN paths no file system takes: a NUL byte, a name longer than NAME_MAX
    base = local_api()
    for path in ("/%00", "/index.html%00.js", "/" + "a" * 300):
        answer = httpx.get(base + path, timeout=30)
        assert answer.status_code == 404, f"GET {path[:20]}: {answer.status_code} {answer.text[:60]}"
        assert answer.json()["error"]["code"] == "not_found"


def test_head_of_the_documentation_answers_like_get(local_api):
    # GIVEN what link checkers, `curl -I` and uptime probes send
    base = local_api()
    for path in ("/openapi.json", "/docs"):
        get, head = httpx.get(base + path, timeout=60), httpx.head(base + path, timeout=60)
        assert get.status_code == 200
        assert head.status_code == 200, f"HEAD {path}: {head.status_code} {head.text}"
        assert head.headers["content-type"] == get.headers["content-type"]


def test_a_host_header_with_a_port_or_an_ipv6_literal_does_not_crash_the_functions(local_api):
    # GIVEN Host headers a browser sends for an API on ::1 or through a port forward: API Gateway gives a function its
    # own domain name as Host whatever the client sent, and so does the local API (Mangum parses Host)
    base = local_api()
    body = '{"text": "good"}'
    for host in ("[::1]:8000", "localhost:http"):
        status, answer = raw_request(
            base,
            f"POST /api/sentiment HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n{body}",
        )
        assert status == 200, f"Host {host}: {answer.splitlines()[0]} {answer[-90:]}"


@pytest.fixture
def ipv6_local_api(monkeypatch, tmp_path):
    """The local API as `uvicorn local.server:create --factory --host ::1` (or `--host ::`) serves it."""
    probe = socket.socket(socket.AF_INET6)
    probe.bind(("::1", 0))
    port = probe.getsockname()[1]
    probe.close()
    monkeypatch.setenv("USAGE_DB_PATH", str(tmp_path / "usage.sqlite3"))
    forget_cached_state()
    server = uvicorn.Server(
        uvicorn.Config(create(), host="::1", port=port, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://[::1]:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    monkeypatch.undo()
    forget_cached_state()


def test_a_mangum_function_answers_on_a_local_api_bound_to_ipv6(ipv6_local_api):
    # GIVEN the local API listening on ::1, and a browser on http://localhost:<port> (localhost resolves to ::1)
    # WHEN a Mangum function is called
    port = ipv6_local_api.rsplit(":", 1)[1]
    answer = httpx.post(
        f"{ipv6_local_api}/api/sentiment", json={"text": "good"}, headers={"host": f"localhost:{port}"}, timeout=60
    )
    # THEN it answers: the function is given a Host it can parse, the port in X-Forwarded-Port
    assert answer.status_code == 200, answer.text
