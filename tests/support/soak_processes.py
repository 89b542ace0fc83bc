"""The processes of a soak run (tests/support/soak.py), and the server's resident memory and CPU time from /proc.

`upstream_running` and `server_running` start `tests.support.upstream` and the local API (`local.server` under
uvicorn, a fresh SQLite usage ledger, budgets out of reach) as separate processes on 127.0.0.1, each with none of
this process's airelay settings, hand them over once they listen and stop them on the way out. `sample` reads the
server's resident memory and CPU time from /proc (`sample_memory`: every half second while it runs), and
`error_lines` picks the errors out of its log.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from local.template import ROOT

SERVER_ENVIRONMENT = {  # a paid model (so metering runs), budgets out of reach, quiet logs
    "CHAT_MODEL": "openai/gpt-4o-mini",
    "OPENAI_API_KEY": "sk-test",
    "DAILY_BUDGET_USD": "100000",
    "IDENTITY_DAILY_BUDGET_USD": "100000",
    "LOG_LEVEL": "WARNING",
    "UPSTREAM_TIMEOUT_S": "20",
}
Sample = tuple[float, int, float]  # (seconds since the start, RSS in KiB, CPU seconds used so far)


def setting_names() -> set[str]:
    """Every environment variable airelay reads: none of them leaks from this process into the server's."""
    from dataclasses import fields

    from airelay.settings import Settings

    return {f.metadata["env"] for f in fields(Settings)}


def child_environment() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in setting_names()}
    env["PYTHONPATH"] = str(ROOT)
    return env


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.args} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@contextmanager
def running(
    command: list[str], port: int, env: dict[str, str], log_path: Path | None = None
) -> Iterator[subprocess.Popen]:
    """`command` in its own process (its output in `log_path`, or discarded) once it listens on `port`."""
    with log_path.open("wb") if log_path else nullcontext(subprocess.DEVNULL) as output:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        yield process
    finally:
        stop(process)


def upstream_running(port: int, env: dict[str, str]) -> AbstractContextManager[subprocess.Popen]:
    return running([sys.executable, "-m", "tests.support.upstream", "--port", str(port)], port, env)


def server_running(
    port: int, upstream_port: int, db_path: Path, log_path: Path, env: dict[str, str]
) -> AbstractContextManager[subprocess.Popen]:
    command = [sys.executable, "-m", "uvicorn", "local.server:create", "--factory", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--log-level", "warning", "--no-access-log", "--no-proxy-headers"]
    server_env = {
        **env,
        **SERVER_ENVIRONMENT,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "USAGE_DB_PATH": str(db_path),
    }
    return running(command, port, server_env, log_path)


def error_lines(log_path: Path) -> list[str]:
    """The server log's first 20 ERROR lines and tracebacks."""
    lines = log_path.read_text("utf-8", "replace").splitlines()
    return [line for line in lines if '"level": "ERROR"' in line or "Traceback" in line][:20]


def cpu_s(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def sample(pid: int, start: float) -> Sample:
    return round(time.monotonic() - start, 2), rss_kib(pid), cpu_s(pid)


async def sample_memory(pid: int, samples: list[Sample], start: float, every_s: float = 0.5):
    while True:
        samples.append(sample(pid, start))
        await asyncio.sleep(every_s)
