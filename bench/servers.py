"""The processes under test: a fake OpenAI-compatible upstream and the airelay API in front of it.

Each runs in its own process (own session, so Ctrl+C reaches only the benchmark, which then stops them)
on 127.0.0.1, and reports its CPU time from /proc/<pid>/stat.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

AIRELAY = (
    "import uvicorn; uvicorn.run('local.server:create', factory=True, host='127.0.0.1', port={port}, "
    "log_level='warning', access_log=False)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        self.name = name
        self.port = free_port()
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the process; closed by stop()
        self.process = subprocess.Popen(
            [sys.executable, *[a.format(port=self.port) for a in args]],
            cwd=ROOT, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_ms(self) -> tuple[float, float]:
        """User and system CPU time of the whole process (all threads) so far."""
        with open(f"/proc/{self.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) * 1000 / CLOCK_TICKS, int(fields[12]) * 1000 / CLOCK_TICKS

    def wait_ready(self, probe) -> None:
        """Polls `probe()` (True when ready) until it holds; stops the process if it never does."""
        try:
            self._poll(probe)
        except BaseException:
            self.stop()
            raise

    def _poll(self, probe) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.output()}")
            try:
                if probe():
                    return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} was not ready after {START_TIMEOUT_S:.0f} s:\n{self.output()}")

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()[-4000:].decode("utf-8", "replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_S)
        if not self.log.closed:
            self.log.close()


def machine_busy_ms() -> float:
    """CPU time all processes spent running so far, summed over the machine's CPUs (/proc/stat, no idle or steal)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    return (user + nice + system + irq + softirq) * 1000 / CLOCK_TICKS


def status_of(method: str, url: str, payload: dict | None = None) -> int:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            response.read()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def start_upstream(delay_s: float, chunks: int) -> Server:
    args = ["-m", "tests.support.upstream", "--port", "{port}", "--delay", str(delay_s), "--chunks", str(chunks)]
    server = Server(f"upstream (delay {delay_s * 1000:g} ms)", args)
    server.wait_ready(lambda: status_of("GET", f"{server.url}/v1/models") == 200)
    return server


def start_airelay(upstream: Server, model: str, extra_env: dict[str, str]) -> Server:
    env = {"CHAT_MODEL": f"openai/{model}", "OPENAI_BASE_URL": f"{upstream.url}/v1", "OPENAI_API_KEY": "sk-bench",
           "OPENAI_API_KEY_PARAM": "", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
           **extra_env}
    server = Server(f"airelay -> {upstream.name}", ["-c", AIRELAY], env)
    server.wait_ready(lambda: airelay_ready(server))
    return server


def airelay_ready(server: Server) -> bool:
    # local.server only serves template.yaml's routes, so /api/health may be a 404 there (the Web Adapter
    # reaches it on the app directly); then a real chat answer is the readiness check.
    if status_of("GET", f"{server.url}/api/health") == 200:
        return True
    return status_of("POST", f"{server.url}/api/chat", {"message": "ready?", "max_tokens": 4}) == 200
