"""`python -m bench.visitors [--quick]`: fair use under abuse. 50 visitors behind one public key (each with its
visitor token) ask through airelay (the local API, SQLite ledger, the fake upstream with 50 ms to the first token),
once alone and once while one abusive visitor sends as fast as it can; its limit (requests per minute) refuses it.
Reported: the visitors' answer latency p50/p95 in both rounds, the abuser's refusals per second and their latency.
Target: the visitors' p95 with the abuser at most 1.5x their p95 alone. (Exactness is asserted in
tests/integration/test_visitor_load.py, not here.)"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import httpx

from airelay.visitors import mint

from . import report
from .servers import start_airelay, start_upstream
from .stats import percentile

KEY = "bench-web-key-0123456789abcdef"
SECRET = "bench-visitor-secret-" + "b" * 43
BODY = {"message": "Say hello.", "max_tokens": 32}
ABUSER_AT_ONCE = 8
TARGET_RATIO = 1.5


def headers(visitor: str) -> dict[str, str]:
    return {"x-api-key": KEY, "x-visitor-token": mint(SECRET, visitor, "airelay", ttl_s=3600)}


async def timed(client: httpx.AsyncClient, url: str, sent: dict[str, str]) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.post(f"{url}/api/chat", json=BODY, headers=sent)
    return response.status_code, (time.perf_counter() - started) * 1000


async def round_of(url: str, label: str, visitors: int, calls: int, abuser: bool) -> dict:
    done = asyncio.Event()
    flood: list[tuple[int, float]] = []

    async def visitor(client, number: int):
        own = headers(f"{label}-{number}")
        return [await timed(client, url, own) for _ in range(calls)]

    async def abuse(client):
        own = headers(f"{label}-abuser")
        while not done.is_set():
            flood.extend(await asyncio.gather(*(timed(client, url, own) for _ in range(ABUSER_AT_ONCE))))

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=visitors + 20)) as client:
        task = asyncio.create_task(abuse(client)) if abuser else None
        started = time.perf_counter()
        answers = [a for calls_ in await asyncio.gather(*(visitor(client, n) for n in range(visitors))) for a in calls_]
        seconds = time.perf_counter() - started
        done.set()
        if task:
            await task
    latencies = sorted(ms for status, ms in answers if status == 200)
    refused = sorted(ms for status, ms in flood if status == 429)
    return {
        "visitor_calls": len(answers),
        "visitor_answered": len(latencies),
        "visitor_p50_ms": percentile(latencies, 50),
        "visitor_p95_ms": percentile(latencies, 95),
        "visitor_calls_per_s": len(answers) / seconds,
        "abuser_sent": len(flood),
        "abuser_answered": sum(status == 200 for status, _ in flood),
        "abuser_refused_per_s": len(refused) / seconds,
        "refusal_p50_ms": percentile(refused, 50) if refused else None,
    }


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.visitors")
    parser.add_argument("--quick", action="store_true", help="20 visitors, 2 calls each")
    args = parser.parse_args(argv)
    visitors, calls = (20, 2) if args.quick else (50, 4)
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
            alone = asyncio.run(round_of(airelay.url, "alone", visitors, calls, abuser=False))
            abused = asyncio.run(round_of(airelay.url, "abused", visitors, calls, abuser=True))
        finally:
            airelay.stop()
            upstream.stop()
    ratio = abused["visitor_p95_ms"] / alone["visitor_p95_ms"]
    passed = ratio <= TARGET_RATIO and abused["visitor_answered"] == abused["visitor_calls"]
    document = {
        "benchmark": "visitors",
        "meta": report.machine(),
        "visitors": visitors,
        "calls_each": calls,
        "alone": alone,
        "with_abuser": abused,
        "targets": [
            {
                "target": f"visitors' p95 with an abuser <= {TARGET_RATIO:g}x alone, every call answered",
                "where": f"{visitors} visitors, SQLite",
                "value": f"{ratio:.2f}x ({abused['visitor_p95_ms']:.0f} / {alone['visitor_p95_ms']:.0f} ms)",
                "passed": passed,
            }
        ],
    }
    report.RESULTS.mkdir(exist_ok=True)
    stamp = document["meta"]["date_utc"].replace("-", "").replace(":", "")
    for name in (f"visitors-{stamp}.json", "visitors-latest.json"):
        (report.RESULTS / name).write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps({k: document[k] for k in ("alone", "with_abuser", "targets")}, indent=2))
    return document


if __name__ == "__main__":
    sys.exit(0 if run(sys.argv[1:])["targets"][0]["passed"] else 1)
