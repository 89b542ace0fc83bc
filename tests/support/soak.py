"""A bounded load run against the local API in its own process, with the fake upstream in a third one.

`run_soak(duration_s, concurrency)` starts `tests.support.upstream` and the local API (`local.server` under uvicorn,
a fresh SQLite usage ledger, budgets out of reach) as separate processes on 127.0.0.1, then runs `concurrency`
closed-loop workers for `duration_s` seconds (after a warm-up), each on one keep-alive connection of a small
asyncio HTTP/1.1 client: buffered chats, streamed chats and a few usage reports. Every answer is checked in full
(status, the fake upstream's exact text, a finish, the usage figures); anything else counts as an error. The
server's resident memory is sampled from /proc while it runs; afterwards the ledger's day totals are compared
with the sums over the answers (calls, tokens, cost) and with the usage report.

The client and its checks are in soak_client.py, the processes and the /proc samples in soak_processes.py, the
tally, the ledger and the result in soak_result.py. Loopback only; bounded in time (and in requests:
`max_requests`); it stops by itself. Used by tests/integration/test_load.py (a fixed number of requests) and
bench/soak.py (`make bench`, 60 s).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support.servers import free_port
from tests.support.soak_client import CHECKS, Connection, http_request, usage_report
from tests.support.soak_processes import (
    Sample,
    child_environment,
    error_lines,
    sample,
    sample_memory,
    server_running,
    upstream_running,
)
from tests.support.soak_result import SoakResult, Tally, summarize, wait_until_settled
from tests.support.upstream import FakeUpstream

MESSAGE = "Say hello in two languages."
MAX_TOKENS = 64  # above the fake upstream's 20 chunks: every answer finishes with "stop"
PATTERN = ("buffered", "stream") * 5 + ("usage",)  # each worker's cycle: 45 % buffered, 45 % streamed, 9 % usage
REQUEST_TIMEOUT_S = 30.0


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


async def drive(
    port: int, pid: int, duration_s: float, warmup_s: float, concurrency: int, max_requests: int
) -> tuple[Tally, list[Sample], float, float]:
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
    samples.append(sample(pid, start))
    return tally, samples, measured_s, time.process_time() - client_cpu


def run_loop(coroutine):
    try:
        import uvloop

        return asyncio.run(coroutine, loop_factory=uvloop.new_event_loop)
    except ImportError:
        return asyncio.run(coroutine)


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
        env = child_environment()
        with (
            upstream_running(upstream_port, env),
            server_running(api_port, upstream_port, db_path, log_path, env) as server,
        ):
            first_day, load_before = datetime.now(UTC).date(), os.getloadavg()[0]
            load = drive(api_port, server.pid, duration_s, warmup_s, concurrency, max_requests)
            tally, samples, measured_s, client_cpu_s = run_loop(load)
            days = [
                (first_day + timedelta(days=n)).isoformat()
                for n in range((datetime.now(UTC).date() - first_day).days + 1)
            ]
            ledger = wait_until_settled(db_path, days, tally.calls)
            report = usage_report(api_port, len(days))
            server_errors = error_lines(log_path)
    result = summarize(tally, samples, measured_s, client_cpu_s, warmup_s, concurrency, ledger, report, server_errors)
    result.load_average = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    return result
