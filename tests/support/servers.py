"""Servers the tests start themselves on 127.0.0.1 and stop afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import uvicorn

# How long a server process the tests start may take to answer, loaded box included: a bound for a hung start, not a
# pace the start must keep. Readiness is polled; a process that exits fails at once.
START_TIMEOUT_S = float(os.environ.get("TEST_SERVER_START_S", "300"))


async def read_body(receive) -> bytes:
    """An ASGI request's whole body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """Runs an ASGI app under real uvicorn in a background thread (as the Web Adapter's uvicorn would)."""

    def __init__(self, app, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                proxy_headers=False,  # as run.sh and local/dev.py: X-Forwarded-For is never trusted
            )
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the test server did not start (TEST_SERVER_START_S={START_TIMEOUT_S:.0f})")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def wait_until_answering(url: str, process: subprocess.Popen, log: Path, what: str) -> float:
    """Polls `url` until it answers 200, for up to TEST_SERVER_START_S; returns the seconds it took. Raises with the
    process's log when it exits first or the bound passes (the process is then left to the caller to stop)."""
    started = time.monotonic()
    pause = 0.05
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited ({process.returncode}) while starting:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        waited = time.monotonic() - started
        if waited > START_TIMEOUT_S:
            raise RuntimeError(
                f"{what} did not answer at {url} within TEST_SERVER_START_S={START_TIMEOUT_S:.0f} s:\n{log.read_text()}"
            )
        time.sleep(pause)
        pause = min(pause * 1.5, 1.0)  # quick for a fast start, light on a loaded box for a slow one
