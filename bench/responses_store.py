"""What keeping a /v1/responses answer's output items (`store`, the default; docs/openai.md "Kept items") costs a
buffered answer, against the same answer with `store: false`, through one local API (the items in their SQLite file).

    .venv/bin/python -m bench.responses_store [--quick] [--requests 300] [--rounds 10]

The fake upstream (instant) and one airelay local API run in their own processes on loopback. Each round sends
--requests answers of each kind, one at a time on one keep-alive connection, the kinds taking turns to go first.
Latency is what the client waits for a whole answer; CPU is the server process's. Medians over rounds; the ratio is
kept against not kept.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time

from .local_model_run import write
from .overhead_scenarios import AIRELAY_BEARER, AIRELAY_KEY, MODEL, airelay_env
from .servers import HOST, Server, start_airelay, start_upstream

KINDS = {"kept": True, "not kept": False}
TARGET = 1.10  # keeping the items adds at most this much to an answer's latency and CPU


def answers(server: Server, store: bool, count: int) -> tuple[float, float]:
    """The median milliseconds per answer and the server's CPU milliseconds per answer, `count` answers in a row."""
    body = json.dumps({"model": MODEL, "input": "Say hello.", "store": store}).encode()
    headers = {**AIRELAY_BEARER, "content-type": "application/json"}
    connection = http.client.HTTPConnection(HOST, server.port)
    latencies, cpu_before = [], sum(server.cpu_ms())
    try:
        for _ in range(count):
            started = time.perf_counter()
            connection.request("POST", "/v1/responses", body=body, headers=headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
            if response.status != 200 or answer["store"] is not store:
                raise RuntimeError(f"answered {response.status}, store {answer.get('store')}")
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return statistics.median(latencies), (sum(server.cpu_ms()) - cpu_before) / count


def measure(count: int, rounds: int) -> dict:
    with tempfile.TemporaryDirectory() as ledger_dir:
        upstream = start_upstream(0.0, 20)
        airelay = start_airelay(upstream, MODEL, airelay_env(ledger_dir, []), AIRELAY_KEY)
        try:
            for store in KINDS.values():
                answers(airelay, store, 50)  # warm up both paths
            seen = {kind: {"latency_ms": [], "cpu_ms_per_answer": []} for kind in KINDS}
            for round_number in range(rounds):
                order = list(KINDS) if round_number % 2 == 0 else list(reversed(KINDS))
                for kind in order:
                    latency, cpu = answers(airelay, KINDS[kind], count)
                    seen[kind]["latency_ms"].append(latency)
                    seen[kind]["cpu_ms_per_answer"].append(cpu)
        finally:
            airelay.stop()
            upstream.stop()
    medians = {kind: {name: statistics.median(values) for name, values in got.items()} for kind, got in seen.items()}
    ratios = {name: medians["kept"][name] / medians["not kept"][name] for name in medians["kept"]}
    return {"rounds": seen, "medians": medians, "ratios": ratios, "target": TARGET}


def table(measured: dict) -> str:
    lines = [f"{'':10} {'latency p50 ms':>15} {'CPU ms/answer':>14}"]
    for kind, got in measured["medians"].items():
        lines.append(f"{kind:10} {got['latency_ms']:15.3f} {got['cpu_ms_per_answer']:14.3f}")
    ratios = measured["ratios"]
    verdict = "PASS" if max(ratios.values()) <= TARGET else "FAIL"
    lines.append(
        f"{'ratio':10} {ratios['latency_ms']:14.3f}x {ratios['cpu_ms_per_answer']:13.3f}x   "
        f"target <= {TARGET:.2f}x: {verdict}"
    )
    return "\n".join(lines)


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.responses_store", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="answers per kind and round (default 300)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds, the kinds taking turns first (default 10)")
    parser.add_argument("--quick", action="store_true", help="100 answers, 2 rounds: a smoke run")
    args = parser.parse_args(argv)
    count, rounds = (100, 2) if args.quick else (args.requests, args.rounds)
    measured = measure(count, rounds)
    document = {"requests": count, "rounds_run": rounds, **measured}
    print(f"/v1/responses, buffered, items kept or not, medians of {rounds} rounds of {count}\n{table(measured)}")
    for path in write("responses_store", document):
        print(f"wrote {path}")
    return document


if __name__ == "__main__":
    run(sys.argv[1:])
    sys.exit(0)
