"""`python -m bench.visitors [--quick]`: fair use under abuse. 50 visitors behind one public key (each with its
visitor token) ask through airelay (the local API, SQLite ledger, the fake upstream with 50 ms to the first token),
alone and while one abusive visitor sends as fast as it can (8 in flight, from a process of its own so that its flood
does not slow the visitors' client); its limit (requests per minute) refuses it. Rounds alternate, alone first, then
with the abuser, twice (once with --quick); the ratio is the median of each pair's. Reported: the visitors' answer
latency p50/p95, the abuser's refusals per second and their latency, and the server's CPU per answered call and per
refusal (each measured on its own: the visitors alone, then only refusals).
Target: the visitors' p95 with the abuser at most 1.5x their p95 alone. (Exactness is asserted in
tests/integration/test_visitor_load.py, not here.)"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from airelay.visitors import mint

from . import report
from .servers import Server, start_airelay, start_upstream
from .stats import percentile

KEY = "bench-web-key-0123456789abcdef"
SECRET = "bench-visitor-secret-" + "b" * 43
BODY = {"message": "Say hello.", "max_tokens": 32}
ABUSER_AT_ONCE = 8
TARGET_RATIO = 1.5
REFUSALS_MEASURED = 400


def headers(visitor: str) -> dict[str, str]:
    return {"x-api-key": KEY, "x-visitor-token": mint(SECRET, visitor, "airelay", ttl_s=3600)}


async def timed(client: httpx.AsyncClient, url: str, sent: dict[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.post(f"{url}/api/chat", json=BODY, headers=sent)
    return response.status_code, (time.perf_counter() - started) * 1000


async def flood(url: str, visitor: str, stop, count: int | None = None) -> list[tuple[int, float]]:
    """One visitor sending ABUSER_AT_ONCE at a time until `stop` is set (or `count` are sent)."""
    own, sent = headers(visitor), []
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=ABUSER_AT_ONCE)) as client:
        while not stop.is_set() and (count is None or len(sent) < count):
            sent.extend(await asyncio.gather(*(timed(client, url, own) for _ in range(ABUSER_AT_ONCE))))
    return sent


def abuser_process(url: str, visitor: str, stop, results) -> None:
    started = time.perf_counter()
    sent = asyncio.run(flood(url, visitor, stop))
    results.put((sent, time.perf_counter() - started))


async def round_of(url: str, label: str, visitors: int, calls: int, abuser: bool) -> dict:
    async def visitor(client, number: int):
        own = headers(f"{label}-{number}")
        return [await timed(client, url, own) for _ in range(calls)]

    context = multiprocessing.get_context("spawn")
    stop, results = context.Event(), context.Queue()
    process = context.Process(target=abuser_process, args=(url, f"{label}-abuser", stop, results)) if abuser else None
    if process:
        process.start()
        await asyncio.sleep(1.0)  # the abuser is flooding before the visitors start
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=visitors + 20)) as client:
        started = time.perf_counter()
        answers = [a for calls_ in await asyncio.gather(*(visitor(client, n) for n in range(visitors))) for a in calls_]
        seconds = time.perf_counter() - started
    stop.set()
    sent, flooded_s = results.get(timeout=120) if process else ([], 1.0)
    if process:
        process.join(30)
    latencies = sorted(ms for status, ms in answers if status == 200)
    refused = sorted(ms for status, ms in sent if status == 429)
    return {
        "visitor_calls": len(answers),
        "visitor_answered": len(latencies),
        "visitor_p50_ms": percentile(latencies, 50),
        "visitor_p95_ms": percentile(latencies, 95),
        "visitor_calls_per_s": len(answers) / seconds,
        "abuser_sent": len(sent),
        "abuser_answered": sum(status == 200 for status, _ in sent),
        "abuser_refused_per_s": len(refused) / flooded_s,
        "refusal_p50_ms": percentile(refused, 50) if refused else None,
    }


def server_cpu(server: Server, work) -> float:
    user, system = server.cpu_ms()
    work()
    after_user, after_system = server.cpu_ms()
    return after_user + after_system - user - system


def cpu_per_answer_and_refusal(server: Server, calls: int) -> dict:
    """The server's CPU per answered visitor call and per refusal, each measured on its own."""
    answered = 40

    async def answers() -> None:
        async with httpx.AsyncClient(timeout=60) as client:
            for n in range(answered // calls):
                own = headers(f"cpu-{n}")
                for _ in range(calls):
                    assert (await timed(client, server.url, own))[0] == 200

    async def refusals() -> list[tuple[int, float]]:
        stop = asyncio.Event()
        await flood(server.url, "cpu-abuser", stop, calls + 1)  # its limit used up
        return await flood(server.url, "cpu-abuser", stop, REFUSALS_MEASURED)

    per_answer = server_cpu(server, lambda: asyncio.run(answers())) / answered
    sent: list = []
    spent = server_cpu(server, lambda: sent.extend(asyncio.run(refusals())))
    refused = sum(status == 429 for status, _ in sent)  # a new minute may have let a few through
    per_refusal = (spent - (len(sent) - refused + calls + 1) * per_answer) / refused
    return {
        "cpu_ms_per_answer": per_answer,
        "cpu_ms_per_refusal": per_refusal,
        "refusal_over_answer": per_refusal / per_answer,
    }


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.visitors")
    parser.add_argument("--quick", action="store_true", help="20 visitors, 2 calls each, one pair of rounds")
    args = parser.parse_args(argv)
    visitors, calls, pairs = (20, 2, 1) if args.quick else (50, 4, 2)
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        upstream = start_upstream(0.05, 8)
        env = {
            "API_KEYS": f"web={KEY}",
            "VISITOR_TOKEN_SECRET": SECRET,
            "VISITOR_REQUESTS_PER_MINUTE": str(calls + 1),
            "DAILY_BUDGET_USD": "1000",
            "USAGE_DB_PATH": str(Path(tmp) / "usage.sqlite3"),
        }
        airelay = start_airelay(upstream, "gpt-4o-mini", env, {"x-api-key": KEY})
        try:
            cpu = cpu_per_answer_and_refusal(airelay, calls)
            for pair in range(pairs):
                alone = asyncio.run(round_of(airelay.url, f"alone{pair}", visitors, calls, abuser=False))
                abused = asyncio.run(round_of(airelay.url, f"abused{pair}", visitors, calls, abuser=True))
                rounds.append(
                    {"alone": alone, "with_abuser": abused, "ratio": abused["visitor_p95_ms"] / alone["visitor_p95_ms"]}
                )
        finally:
            airelay.stop()
            upstream.stop()
    ratio = statistics.median(r["ratio"] for r in rounds)
    answered = all(r["with_abuser"]["visitor_answered"] == r["with_abuser"]["visitor_calls"] for r in rounds)
    document = {
        "benchmark": "visitors",
        "meta": report.machine(),
        "visitors": visitors,
        "calls_each": calls,
        "rounds": rounds,
        "alone": rounds[-1]["alone"],
        "with_abuser": rounds[-1]["with_abuser"],
        "server_cpu": cpu,
        "targets": [
            {
                "target": f"visitors' p95 with an abuser <= {TARGET_RATIO:g}x alone, every call answered",
                "where": f"{visitors} visitors, SQLite, median of {pairs} pair(s) of rounds",
                "value": f"{ratio:.2f}x (" + ", ".join(f"{r['ratio']:.2f}x" for r in rounds) + ")",
                "passed": ratio <= TARGET_RATIO and answered,
            }
        ],
    }
    document["meta"]["load_after"] = report.load_average()
    report.RESULTS.mkdir(exist_ok=True)
    stamp = document["meta"]["date_utc"].replace("-", "").replace(":", "")
    for name in (f"visitors-{stamp}.json", "visitors-latest.json"):
        (report.RESULTS / name).write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps({k: document[k] for k in ("rounds", "server_cpu", "targets")}, indent=2))
    return document


if __name__ == "__main__":
    sys.exit(0 if run(sys.argv[1:])["targets"][0]["passed"] else 1)
