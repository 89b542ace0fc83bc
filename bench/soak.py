"""Soak: 64 concurrent clients for 60 s against the local API in its own process, the fake upstream in another.

`python -m bench.soak [--duration 60] [--concurrency 64] [--quick]` (`--quick`: 10 s). The run itself is
tests/support/soak.py (tests/integration/test_load.py runs it for a fixed number of requests in `make test`, and
judges only exactness): buffered chats, streamed chats and usage reports on keep-alive connections, every answer
checked in full. Judged on: zero errors, a throughput floor, the server's resident memory flat after the warm-up,
and the usage ledger (and /api/usage) adding up exactly to the sums over the answers: calls, tokens and cost,
nothing left on hold.

Writes bench/results/soak-<UTC time>.json and soak-latest.json; exits 1 when a judgement fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MIN_RPS = 10  # after the warm-up, all kinds together (measured: 47 req/s on 2 cores at a load average of 10)
RSS_GROWTH_MAX_MIB = 32  # from the end of the warm-up to the end of the run
RSS_SECOND_HALF_MAX_MIB = 8  # from the middle of the run to its end: a leak keeps growing, a warm cache does not


def judge(result) -> dict:
    middle = result.rss_samples[-1][0] - result.duration_s / 2
    second_half = [kb for t, kb in result.rss_samples if t >= middle]
    grew = result.rss_mib["end"] - result.rss_mib["start"]
    grew_late = (second_half[-1] - second_half[0]) / 1024 if second_half else 0.0
    return {
        "no errors": result.errors == 0 and not result.server_errors,
        f"throughput {result.rps} req/s >= {MIN_RPS}": result.rps >= MIN_RPS,
        f"memory flat (+{grew:.1f} MiB <= {RSS_GROWTH_MAX_MIB}; second half +{grew_late:.1f} MiB <= "
        f"{RSS_SECOND_HALF_MAX_MIB})": grew <= RSS_GROWTH_MAX_MIB and grew_late <= RSS_SECOND_HALF_MAX_MIB,
        "ledger totals = sums over the answers": result.ledger_matches,
    }


def text(document: dict) -> str:
    r = document["result"]
    lines = [
        f"soak: {r['concurrency']} clients, {r['duration_s']} s, {sum(r['requests'].values())} requests "
        f"({', '.join(f'{k} {v}' for k, v in r['requests'].items())}), {r['rps']} req/s, {r['errors']} errors"
    ]
    for kind, p in r["latency_ms"].items():
        lines.append(f"  latency {kind:<9} p50 {p['p50']:8.1f} ms   p99 {p['p99']:8.1f} ms   max {p['max']:8.1f} ms")
    m = r["rss_mib"]
    cpu = r["cpu_s"]
    lines.append(
        f"  CPU: server {cpu['server']} s (after the warm-up), load client {cpu['client_all']} s; machine "
        f"load average {r['load_average'][0]} before, {r['load_average'][1]} after"
    )
    lines.append(
        f"  server RSS: {m['before_warmup']} MiB idle, {m['start']} MiB after warm-up, {m['end']} MiB at the "
        f"end (max {m['max']})"
    )
    for name in ("responses", "ledger", "usage_report"):
        lines.append(f"  {name:<13} " + ", ".join(f"{k} {v}" for k, v in r[name].items()))
    lines += [f"  [{'ok' if passed else 'FAILED'}] {label}" for label, passed in document["judged"].items()]
    return "\n".join(lines)


def run(argv: list[str] | None = None) -> dict:
    """Runs the soak, writes its JSON documents, prints the summary; returns the document."""
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds, after the warm-up")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="10 s")
    args = parser.parse_args(argv)
    from tests.support.soak import run_soak

    from . import report

    result = run_soak(
        duration_s=10.0 if args.quick else args.duration, concurrency=args.concurrency, warmup_s=args.warmup
    )
    document = {"benchmark": "soak", "meta": report.machine(), "result": result.to_dict(), "judged": judge(result)}
    document["passed"] = all(document["judged"].values())
    report.RESULTS.mkdir(exist_ok=True)
    stamp = document["meta"]["date_utc"].replace("-", "").replace(":", "")
    for name in (f"soak-{stamp}.json", "soak-latest.json"):
        (report.RESULTS / name).write_text(json.dumps(document, indent=2) + "\n")
    print(text(document), flush=True)
    return document


def main(argv: list[str] | None = None) -> int:
    return 0 if run(argv)["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
