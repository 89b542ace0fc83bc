"""A bounded load run against the local API in its own process, with the fake upstream in a third one.

`run_soak(duration_s, concurrency)` starts `tests.support.upstream` and the local API (`local.server` under uvicorn,
a fresh SQLite usage ledger, budgets out of reach) as separate processes on 127.0.0.1, then runs `concurrency`
closed-loop workers for `duration_s` seconds (after a warm-up), each on one keep-alive connection of a small
asyncio HTTP/1.1 client: buffered chats, streamed chats and a few usage reports. Every answer is checked in full
(status, the fake upstream's exact text, a finish, the usage figures); anything else counts as an error. The
server's resident memory is sampled from /proc while it runs; afterwards the ledger's day totals are compared
with the sums over the answers (calls, tokens, cost) and with the usage report.

Loopback only; bounded in time (and in requests: `max_requests`); it stops by itself.
Used by tests/integration/test_load.py (a fixed number of requests) and bench/soak.py (`make bench`, 60 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from local.template import ROOT
from tests.support.servers import free_port
from tests.support.upstream import FakeUpstream

MESSAGE = "Say hello in two languages."
MAX_TOKENS = 64  # above the fake upstream's 20 chunks: every answer finishes with "stop"
PATTERN = ("buffered", "stream") * 5 + ("usage",)  # each worker's cycle: 45 % buffered, 45 % streamed, 9 % usage
REQUEST_TIMEOUT_S = 30.0
ENVIRONMENT = {  # the server under test: a paid model (so metering runs), budgets out of reach, quiet logs
    "CHAT_MODEL": "openai/gpt-4o-mini",
    "OPENAI_API_KEY": "sk-test",
    "DAILY_BUDGET_USD": "100000",
    "IDENTITY_DAILY_BUDGET_USD": "100000",
    "LOG_LEVEL": "WARNING",
    "UPSTREAM_TIMEOUT_S": "20",
}


# --------------------------------------------------------------------------- client


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


# --------------------------------------------------------------------------- checking answers


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


# --------------------------------------------------------------------------- the run


@dataclass
class Tally:
    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECKS, 0))
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in CHECKS})
    errors: list[str] = field(default_factory=list)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)

    def add(self, kind: str, elapsed_ms: float, answer: Answer | None, measured: bool) -> None:
        if measured:
            self.requests[kind] += 1
            self.latencies_ms[kind].append(elapsed_ms)
        if answer is not None:
            self.calls += 1
            self.prompt_tokens += answer.prompt_tokens
            self.completion_tokens += answer.completion_tokens
            self.cost_usd += answer.cost_usd


async def worker(
    number: int,
    port: int,
    requests: dict[str, bytes],
    expected: str,
    warm_until: float,
    deadline: float,
    left: list[int],
    tally: Tally,
) -> None:
    connection = Connection(port)
    step = number  # workers start at different places in the cycle
    try:
        while time.monotonic() < deadline and left[0] > 0:
            left[0] -= 1
            kind = PATTERN[step % len(PATTERN)]
            step += 1
            started = time.perf_counter()
            measured = started >= warm_until
            try:
                status, body = await asyncio.wait_for(connection.request(requests[kind]), REQUEST_TIMEOUT_S)
                answer = CHECKS[kind](status, body, expected)
            except Exception as exc:  # every failure is an error, whatever it is
                connection.close()
                tally.errors.append(f"{kind}: {type(exc).__name__}: {str(exc)[:300]}")
                tally.add(kind, (time.perf_counter() - started) * 1000, None, measured)
                continue
            tally.add(kind, (time.perf_counter() - started) * 1000, answer, measured)
    finally:
        connection.close()


def cpu_s(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def sample_memory(pid: int, samples: list[tuple[float, int, float]], start: float, every_s: float = 0.5):
    """(seconds since the start, RSS in KiB, CPU seconds used so far) of the server, every `every_s` seconds."""
    while True:
        samples.append((round(time.monotonic() - start, 2), rss_kib(pid), cpu_s(pid)))
        await asyncio.sleep(every_s)


async def drive(
    port: int, pid: int, duration_s: float, warmup_s: float, concurrency: int, max_requests: int
) -> tuple[Tally, list[tuple[float, int, float]], float, float]:
    body = {"message": MESSAGE, "max_tokens": MAX_TOKENS}
    requests = {
        "buffered": http_request("POST", "/api/chat", port, body),
        "stream": http_request("POST", "/api/chat/stream", port, body),
        "usage": http_request("GET", "/api/usage?days=1", port),
    }
    tally, samples, left = Tally(), [], [max_requests]
    start = time.monotonic()
    warm_until = time.perf_counter() + warmup_s
    client_cpu = time.process_time()
    sampler = asyncio.create_task(sample_memory(pid, samples, start))
    await asyncio.gather(
        *(
            worker(n, port, requests, FakeUpstream.REPLY_TEXT, warm_until, start + warmup_s + duration_s, left, tally)
            for n in range(concurrency)
        )
    )
    measured_s = time.monotonic() - start - warmup_s
    sampler.cancel()
    samples.append((round(time.monotonic() - start, 2), rss_kib(pid), cpu_s(pid)))
    return tally, samples, measured_s, time.process_time() - client_cpu


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def ledger_totals(db_path: Path, days: list[str]):
    from airelay.usage.ledger import TOTAL, Totals
    from airelay.usage.sqlite import SqliteLedger

    ledger, total = SqliteLedger(str(db_path)), Totals()
    for day in days:
        total.add(ledger.day_totals(day).get(TOTAL, Totals()))
    return total


def wait_until_settled(db_path: Path, days: list[str], calls: int, timeout_s: float = 15.0):
    """The ledger once every call is settled (a stream settles just after its last byte is sent)."""
    deadline = time.monotonic() + timeout_s
    while True:
        totals = ledger_totals(db_path, days)
        if (totals.calls >= calls and totals.committed == totals.spent) or time.monotonic() > deadline:
            return totals
        time.sleep(0.1)


# --------------------------------------------------------------------------- processes


def wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    import socket

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


@dataclass
class SoakResult:
    duration_s: float
    concurrency: int
    requests: dict[str, int]
    rps: float
    latency_ms: dict[str, dict[str, float]]
    errors: int
    error_samples: list[str]
    rss_mib: dict[str, float]
    rss_samples: list[tuple[float, int]]  # (seconds since the start, KiB)
    cpu_s: dict[str, float]  # the server's after the warm-up; the load client's (this process), warm-up included
    load_average: list[float]  # the machine's 1-minute load average before and after the run (2 cores here)
    responses: dict[str, str]  # sums over the good chat answers
    ledger: dict[str, str]  # the ledger's day totals
    usage_report: dict[str, str]  # /api/usage's total after the run
    server_errors: list[str]  # ERROR lines in the server's log

    @property
    def ledger_matches(self) -> bool:
        """The ledger and the usage report add up to exactly what the answers reported; nothing left on hold."""
        same = all(
            Decimal(self.responses[k]) == Decimal(self.ledger[k]) == Decimal(self.usage_report[k])
            for k in ("calls", "prompt_tokens", "completion_tokens", "cost_usd")
        )
        return (
            same
            and Decimal(self.ledger["committed_usd"]) == Decimal(self.ledger["cost_usd"])
            and self.ledger["errors"] == "0"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "ledger_matches": self.ledger_matches}


def setting_names() -> set[str]:
    """Every environment variable airelay reads: none of them leaks from this process into the server's."""
    from dataclasses import fields

    from airelay.settings import Settings

    return {f.metadata["env"] for f in fields(Settings)}


def run_soak(
    duration_s: float = 60.0,
    concurrency: int = 64,
    warmup_s: float = 3.0,
    max_requests: int = 2_000_000,
    workdir: Path | None = None,
) -> SoakResult:
    """Starts the fake upstream and the local API as their own processes, loads the API, stops both."""
    with tempfile.TemporaryDirectory(prefix="airelay-soak-") as scratch:
        work = Path(workdir or scratch)
        work.mkdir(parents=True, exist_ok=True)
        db_path, log_path = work / "usage.sqlite3", work / "server.log"
        upstream_port, api_port = free_port(), free_port()
        env = {name: value for name, value in os.environ.items() if name not in setting_names()}
        env["PYTHONPATH"] = str(ROOT)
        upstream = subprocess.Popen(
            [sys.executable, "-m", "tests.support.upstream", "--port", str(upstream_port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = None
        try:
            wait_for_port(upstream_port, upstream)
            server_env = {
                **env,
                **ENVIRONMENT,
                "OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
                "USAGE_DB_PATH": str(db_path),
            }
            with log_path.open("wb") as log:
                server = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "local.server:create",
                        "--factory",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(api_port),
                        "--log-level",
                        "warning",
                        "--no-access-log",
                        "--no-proxy-headers",
                    ],
                    cwd=ROOT,
                    env=server_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            wait_for_port(api_port, server)
            first_day, load_before = datetime.now(UTC).date(), os.getloadavg()[0]
            load = drive(api_port, server.pid, duration_s, warmup_s, concurrency, max_requests)
            tally, samples, measured_s, client_cpu_s = run_loop(load)
            days = [
                (first_day + timedelta(days=n)).isoformat()
                for n in range((datetime.now(UTC).date() - first_day).days + 1)
            ]
            ledger = wait_until_settled(db_path, days, tally.calls)
            report = usage_report(api_port, len(days))
            server_errors = [
                line
                for line in log_path.read_text("utf-8", "replace").splitlines()
                if '"level": "ERROR"' in line or "Traceback" in line
            ][:20]
        finally:
            if server is not None:
                stop(server)
            stop(upstream)
    result = summarize(tally, samples, measured_s, client_cpu_s, warmup_s, concurrency, ledger, report, server_errors)
    result.load_average = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result


def run_loop(coroutine):
    try:
        import uvloop

        return asyncio.run(coroutine, loop_factory=uvloop.new_event_loop)
    except ImportError:
        return asyncio.run(coroutine)


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


def summarize(
    tally: Tally,
    samples,
    measured_s: float,
    client_cpu_s: float,
    warmup_s: float,
    concurrency: int,
    ledger,
    report: dict,
    server_errors: list[str],
) -> SoakResult:
    measured = [kb for t, kb, _ in samples if t >= warmup_s]
    server_cpu = [cpu for t, _, cpu in samples if t >= warmup_s]
    all_latencies = [ms for values in tally.latencies_ms.values() for ms in values]
    latency = {
        kind: {
            "p50": round(percentile(v, 50), 2),
            "p99": round(percentile(v, 99), 2),
            "max": round(max(v, default=0.0), 2),
        }
        for kind, v in {**tally.latencies_ms, "all": all_latencies}.items()
    }
    return SoakResult(
        duration_s=round(measured_s, 2),
        concurrency=concurrency,
        requests=dict(tally.requests),
        rps=round(sum(tally.requests.values()) / measured_s, 1) if measured_s > 0 else 0.0,
        latency_ms=latency,
        errors=len(tally.errors),
        error_samples=tally.errors[:10],
        rss_mib={
            "start": round(measured[0] / 1024, 1),
            "end": round(measured[-1] / 1024, 1),
            "max": round(max(measured) / 1024, 1),
            "before_warmup": round(samples[0][1] / 1024, 1),
        },
        rss_samples=[(t, kb) for t, kb, _ in samples],
        cpu_s={"server": round(server_cpu[-1] - server_cpu[0], 2), "client_all": round(client_cpu_s, 2)},
        responses={
            "calls": str(tally.calls),
            "prompt_tokens": str(tally.prompt_tokens),
            "completion_tokens": str(tally.completion_tokens),
            "cost_usd": str(tally.cost_usd),
        },
        ledger={
            "calls": str(ledger.calls),
            "errors": str(ledger.errors),
            "prompt_tokens": str(ledger.prompt_tokens),
            "completion_tokens": str(ledger.completion_tokens),
            "cost_usd": str(ledger.spent),
            "committed_usd": str(ledger.committed),
        },
        usage_report={
            "calls": str(report["calls"]),
            "prompt_tokens": str(report["prompt_tokens"]),
            "completion_tokens": str(report["completion_tokens"]),
            "cost_usd": str(Decimal(repr(report["cost_usd"]))),
        },
        server_errors=server_errors,
        load_average=[],
    )
