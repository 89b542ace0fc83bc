"""Tail latency of one caller through the local API, with the SQLite ledger's file on disk (where `make dev` keeps it)
and in memory (/dev/shm), side by side: what the ledger's own disk writes add to the p99 and p999 of an answer.

    .venv/bin/python -m bench.tail [--quick] [--requests 5000] [--rounds 3] [--route v1|api]

The fake upstream (instant) and two airelay local APIs, one per ledger file, run in their own processes on loopback.
Each round sends --requests buffered answers to each, one at a time on one keep-alive connection, the sides taking
turns to go first. Latency is what the client waits for a whole answer; CPU is the server process's. Medians over
rounds; the ratio is disk against memory.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from . import report
from .local_model_run import write
from .overhead_scenarios import AIRELAY_BEARER, AIRELAY_KEY, MAX_TOKENS, MESSAGE, MODEL, airelay_env, direct_payload
from .servers import HOST, Server, start_airelay, start_upstream

SIDES = ("disk", "memory")
MEMORY = Path("/dev/shm")
PERCENTILES = (50, 90, 99, 99.9)
METRICS = (*(f"p{p:g}_ms" for p in PERCENTILES), "cpu_ms_per_request")
# The ledger's disk adds at most this much to one caller's p99 (x1.41 while every checkpoint took the ledger's lock,
# x1.91 with SQLite's own checkpoints; docs/architecture.md).
P99_TARGET = 1.25


def request(route: str) -> tuple[str, bytes, dict[str, str]]:
    """/v1/chat/completions with the OpenAI request the overhead benchmark sends, or /api/chat with its message."""
    if route == "v1":
        path, body, key = "/v1/chat/completions", direct_payload(False), AIRELAY_BEARER
    else:
        path, body, key = "/api/chat", {"message": MESSAGE, "max_tokens": MAX_TOKENS}, AIRELAY_KEY
    return path, json.dumps(body).encode(), {**key, "content-type": "application/json"}


def answers(server: Server, route: str, count: int) -> list[float]:
    """Milliseconds per answer, `count` answers one after another on one connection."""
    path, body, headers = request(route)
    connection = http.client.HTTPConnection(HOST, server.port)
    latencies = []
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{server.name} answered {response.status}")
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return latencies


def percentile(ordered: list[float], p: float) -> float:
    return ordered[max(0, round(p / 100 * len(ordered)) - 1)]


def one_round(server: Server, route: str, count: int) -> dict[str, float]:
    answers(server, route, max(50, count // 20))  # warm-up
    cpu_before = sum(server.cpu_ms())
    ordered = sorted(answers(server, route, count))
    cpu = (sum(server.cpu_ms()) - cpu_before) / count
    return {**{f"p{p:g}_ms": percentile(ordered, p) for p in PERCENTILES}, "cpu_ms_per_request": cpu}


def measure(route: str, count: int, rounds: int) -> dict:
    samples = {side: [] for side in SIDES}
    upstream = start_upstream(0.0, 20)
    servers = []
    try:
        with tempfile.TemporaryDirectory() as disk, tempfile.TemporaryDirectory(dir=MEMORY) as memory:
            for folder in (disk, memory):
                servers.append(start_airelay(upstream, MODEL, airelay_env(folder, []), AIRELAY_KEY))
            by_side = dict(zip(SIDES, servers, strict=True))
            for number in range(rounds):
                for side in SIDES[number % 2 :] + SIDES[: number % 2]:
                    samples[side].append(one_round(by_side[side], route, count))
                    print(f"  round {number + 1} {side:6s} " + progress(samples[side][-1]), flush=True)
    finally:
        for server in (*servers, upstream):
            server.stop()
    medians = {side: {m: statistics.median(r[m] for r in rows) for m in METRICS} for side, rows in samples.items()}
    ratio = {m: medians["disk"][m] / medians["memory"][m] for m in METRICS}
    return {"sides": medians, "disk_vs_memory": ratio, "rounds": samples}


def progress(row: dict[str, float]) -> str:
    return "  ".join(f"{m.removesuffix('_ms')} {row[m]:.2f}" for m in METRICS)


def table(measured: dict) -> str:
    lines = [f"{'ledger file':12s}" + "".join(f"{m:>20s}" for m in METRICS)]
    for side in SIDES:
        lines.append(f"{side:12s}" + "".join(f"{measured['sides'][side][m]:20.3f}" for m in METRICS))
    lines.append(f"{'disk/memory':12s}" + "".join(f"{measured['disk_vs_memory'][m]:19.2f}x" for m in METRICS))
    return "\n".join(lines)


def target(document: dict) -> tuple[str, str, str, bool]:
    """(target, where, value, passed): the p99 with the ledger's file on disk against in memory."""
    ratio = document["disk_vs_memory"]["p99_ms"]
    where = f"one caller, {document['route']}, ledger file on disk / in /dev/shm"
    return f"p99 on disk <= {P99_TARGET:g}x in memory", where, f"{ratio:.2f}x", ratio <= P99_TARGET


def markdown(document: dict) -> list[str]:
    """The section of bench/results/report.md."""
    rows = [(side, *(f"{document['sides'][side][m]:.3f}" for m in METRICS)) for side in SIDES]
    rows.append(("disk / memory", *(f"{document['disk_vs_memory'][m]:.2f}x" for m in METRICS)))
    return [
        f"One caller, buffered answers through `{document['route']}`, medians of {document['rounds_run']} rounds of "
        f"{document['requests']} (`python -m bench.tail`): the SQLite ledger's file on disk, where `make dev` keeps "
        "it, against /dev/shm.",
        "",
        *report.md_table(("ledger file", *METRICS), rows),
        "",
    ]


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.tail", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000, help="answers per side and round (default 5000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, the sides taking turns first (default 3)")
    parser.add_argument("--route", choices=("v1", "api"), default="v1", help="/v1/chat/completions or /api/chat")
    parser.add_argument("--quick", action="store_true", help="500 answers, 2 rounds: a smoke run")
    args = parser.parse_args(argv)
    if not MEMORY.is_dir():
        parser.error(f"{MEMORY} is missing: the in-memory side needs a tmpfs there (Linux)")
    count, rounds = (500, 2) if args.quick else (args.requests, args.rounds)
    measured = measure(args.route, count, rounds)
    document = {"route": args.route, "requests": count, "rounds_run": rounds, **measured}
    print(
        f"one caller, buffered answers through {args.route}, medians of {rounds} rounds of {count}\n{table(measured)}"
    )
    for path in write("tail", document):
        print(f"wrote {path}")
    return document


if __name__ == "__main__":
    run(sys.argv[1:])
    sys.exit(0)
