"""The processes under test: a fake OpenAI-compatible upstream, and in front of it the airelay API and the
LiteLLM proxy (the peer airelay is compared with).

Each runs in its own process (own session, so Ctrl+C reaches only the benchmark, which then stops them)
on 127.0.0.1, and reports the CPU time of its process tree from /proc/<pid>/stat.
"""

from __future__ import annotations

import json
import os
import secrets
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
LITELLM_START_TIMEOUT_S = 120.0  # it imports a lot: about 10 s on an idle 2-core machine
LITELLM_VENV = ROOT / "bench" / ".venv-litellm"  # made by `make bench-litellm` (mk/bench.mk)
STOP_TIMEOUT_S = 5.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

AIRELAY = (
    "import uvicorn; uvicorn.run('local.server:create', factory=True, host='127.0.0.1', port={port}, "
    "log_level='warning', access_log=False, proxy_headers=False)"
)


FLOOR = (
    "import uvicorn; uvicorn.run('bench.floor:app', host='127.0.0.1', port={port}, log_level='warning', "
    "access_log=False, proxy_headers=False)"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    def __init__(
        self,
        name: str,
        args: list[str],
        env: dict[str, str] | None = None,
        executable: str = sys.executable,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.name = name
        self.port = free_port()
        self.start_timeout_s = start_timeout_s
        self.log = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [executable, *[a.format(port=self.port) for a in args]],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_ms(self) -> tuple[float, float]:
        """User and system CPU time so far of the process (all threads) and of its live descendants, if any."""
        stats = process_stats()
        tree, todo = set(), [self.pid]
        while todo:
            pid = todo.pop()
            tree.add(pid)
            todo += [child for child, (parent, *_rest) in stats.items() if parent == pid and child not in tree]
        user = sum(stats[pid][1] for pid in tree if pid in stats)
        system = sum(stats[pid][2] for pid in tree if pid in stats)
        return user * 1000 / CLOCK_TICKS, system * 1000 / CLOCK_TICKS

    def wait_ready(self, probe) -> None:
        """Polls `probe()` (True when ready) until it holds; stops the process if it never does."""
        try:
            self._poll(probe)
        except BaseException:
            self.stop()
            raise

    def _poll(self, probe) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.output()}")
            try:
                if probe():
                    return
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} was not ready after {self.start_timeout_s:.0f} s:\n{self.output()}")

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


def process_stats() -> dict[int, tuple[int, int, int]]:
    """pid -> (parent pid, user ticks, system ticks) of every process still running."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        out[int(entry)] = (int(fields[1]), int(fields[11]), int(fields[12]))
    return out


def machine_busy_ms() -> float:
    """CPU time all processes spent running so far, summed over the machine's CPUs (/proc/stat, no idle or steal)."""
    with open("/proc/stat") as f:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, f.readline().split()[1:8])
    return (user + nice + system + irq + softirq) * 1000 / CLOCK_TICKS


def status_of(method: str, url: str, payload: dict | None = None, headers: dict[str, str] | None = None) -> int:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json", **(headers or {})}
    )
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


def start_airelay(
    upstream: Server, model: str, extra_env: dict[str, str], headers: dict[str, str] | None = None
) -> Server:
    env = {
        "CHAT_MODEL": f"openai/{model}",
        "OPENAI_BASE_URL": f"{upstream.url}/v1",
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_API_KEY_PARAM": "",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        **extra_env,
    }
    server = Server(f"airelay -> {upstream.name}", ["-c", AIRELAY], env)
    server.wait_ready(lambda: airelay_ready(server, headers))
    return server


def start_floor(upstream: Server) -> Server:
    """The bare relay (bench/floor.py) in front of `upstream`."""
    server = Server(f"bare relay -> {upstream.name}", ["-c", FLOOR], {"UPSTREAM_URL": f"{upstream.url}/v1"})
    payload = {"model": "ready", "messages": [{"role": "user", "content": "ready?"}], "max_tokens": 4}
    server.wait_ready(lambda: status_of("POST", f"{server.url}/v1/chat/completions", payload) == 200)
    return server


def airelay_ready(server: Server, headers: dict[str, str] | None = None) -> bool:
    # local.server only serves template.yaml's routes, so /api/health may be a 404 there (the Web Adapter
    # reaches it on the app directly); then a real chat answer is the readiness check.
    if status_of("GET", f"{server.url}/api/health") == 200:
        return True
    return status_of("POST", f"{server.url}/api/chat", {"message": "ready?", "max_tokens": 4}, headers) == 200


# What LiteLLM is given: the bench model at the fake upstream, priced per token like airelay's (so its cost
# calculation runs as for a paid model); its master key (it refuses to start without one, and with it every
# request's cost is added to the key's spend in memory); `max_budget`, which with no database keeps its in-memory
# proxy-wide spend counter running (it logs that the budget is not enforced without a database).
LITELLM_CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: {api_base}
      api_key: sk-bench-upstream
    model_info:
      input_cost_per_token: {input_per_token}
      output_cost_per_token: {output_per_token}
litellm_settings:
  max_budget: 1000000
  telemetry: false
general_settings:
  master_key: {master_key}
"""

# No network at run time: the bundled price map instead of fetching it; logs at WARNING like airelay's (no access
# log). Checked once with both processes in a network namespace that has only a loopback (`unshare -n`).
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOG": "WARNING",
    "LITELLM_TELEMETRY": "False",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}


def litellm_available() -> bool:
    return (LITELLM_VENV / "bin" / "litellm").is_file()


def litellm_version() -> str | None:
    found = sorted((LITELLM_VENV / "lib").glob("python3.*/site-packages/litellm-*.dist-info"))
    return found[-1].name.removeprefix("litellm-").removesuffix(".dist-info") if found else None


class LiteLLM(Server):
    """The LiteLLM proxy: 1 worker (uvicorn), no database, pointed at `upstream`. `key` authorizes requests."""

    def __init__(self, upstream: Server, model: str, price_per_million: dict[str, str]) -> None:
        self.key = "sk-bench-" + secrets.token_hex(24)
        self.config = tempfile.NamedTemporaryFile("w", suffix=".yaml")
        self.config.write(
            LITELLM_CONFIG.format(
                model=model,
                api_base=f"{upstream.url}/v1",
                master_key=self.key,
                input_per_token=float(price_per_million["input"]) / 1e6,
                output_per_token=float(price_per_million["output"]) / 1e6,
            )
        )
        self.config.flush()
        args = ["--config", self.config.name, "--host", HOST, "--port", "{port}", "--num_workers", "1"]
        super().__init__(
            f"litellm -> {upstream.name}",
            args,
            LITELLM_ENV,
            executable=str(LITELLM_VENV / "bin" / "litellm"),
            start_timeout_s=LITELLM_START_TIMEOUT_S,
        )
        probe = {"model": model, "max_tokens": 4, "messages": [{"role": "user", "content": "ready?"}]}
        self.wait_ready(
            lambda: (
                status_of("GET", f"{self.url}/health/liveliness") == 200
                and status_of("POST", f"{self.url}/v1/chat/completions", probe, self.auth) == 200
            )
        )

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def stop(self) -> None:
        super().stop()
        self.config.close()
