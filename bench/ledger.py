"""Usage ledger overhead per request: reserve + settle, on SQLite and on local DynamoDB servers.

Measured two ways: the adapter's blocking calls alone, and the meter as a request pays for it (open + close
from async code, worker-thread hops included). On dynalite, boto3 as airelay makes it is measured beside the same
client with botocore's parameter validation and beside the stdlib client the ledger used before boto3
(bench.ledger_previous), rounds alternating; then a fresh process's INIT and first metered call with each.
"""

from __future__ import annotations

import gc
import statistics
import time
from pathlib import Path
from tempfile import TemporaryDirectory
from types import SimpleNamespace

from airelay import aws
from airelay.settings import Settings
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.ledger import TOTAL

from . import ledger_previous
from .ledger_rounds import measure_adapters, measure_get_item, measure_meters, open_ledgers, usage_row

# name -> (calls measured, target p50 of meter open + close in ms or None, what it is)
LEDGERS = {
    "sqlite": (500, 1.0, "the local default, a file under .airelay/"),
    "dynalite": (500, 5.0, "the local DynamoDB server: its own process, as DynamoDB is; boto3 as airelay.aws makes it"),
    "moto": (500, None, "reference: pure Python in the benchmark's own process, about 2 ms a call"),
}
# Measured beside "dynalite" on the same server, rounds alternating between the clients.
DYNALITE_PEERS = {
    "dynalite, parameter_validation on": "boto3 with botocore's default Config(parameter_validation=True)",
    "dynalite, previous client": "the stdlib SigV4 client this project used before boto3 (from git {commit})",
    "dynalite, budget leases": "BUDGET_LEASES=true, USAGE_SHARDS=128: the global budget held on a leased slice",
}


def run(scale: float = 1.0) -> dict:
    results = {}
    with TemporaryDirectory() as workdir:
        commit = ledger_previous.write_sources(Path(workdir))
        for name, (calls, target, about) in LEDGERS.items():
            calls = max(20, int(calls * scale))
            with open_ledgers(name, Path(workdir)) as opened:
                ledgers = {n: ledger for n, (ledger, _) in opened.items()}
                getters = {n: get for n, (_, get) in opened.items() if get is not None}
                trips = measure_get_item(getters, calls) if getters else {}
                adapters = measure_adapters(ledgers, calls)
                meters = measure_meters(ledgers, calls)
            for measured in ledgers:
                results[measured] = {
                    "calls": calls,
                    "about": about if measured == name else DYNALITE_PEERS[measured].format(commit=commit[:7]),
                    "target_p50_ms": target if measured == name else None,
                    "round_trip": trips.get(measured),
                    "adapter": adapters[measured],
                    "meter": meters.get(measured),
                }
            gc.collect()
    return results


def client_cpu(calls: int = 2000) -> dict:
    """CPU per settle-sized UpdateItem in boto3 itself, no server (a before-send handler answers): with and without
    botocore's parameter validation, alternating in blocks of 100; median ms per call."""
    import boto3
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    class Answer:
        def stream(self, *_, **__):
            yield b"{}"

    def answer(request, **_):
        return AWSResponse(request.url, 200, {"content-type": "application/x-amz-json-1.0"}, Answer())

    clients = {}
    for name, validate in (("validation on", True), ("validation off", False)):
        config = aws.sdk_config(Settings()).merge(Config(parameter_validation=validate))
        keys = {"aws_access_key_id": "bench", "aws_secret_access_key": "bench"}
        clients[name] = boto3.client("dynamodb", region_name="us-east-1", config=config, **keys)
        clients[name].meta.events.register("before-send.dynamodb", answer)
    recorder = SimpleNamespace(dynamodb=SimpleNamespace(update_item=dict))  # the adapter's request, not sent
    request = DynamoLedger("usage", recorder)._settle_counter(usage_row("2026-11-26", "ip:bench"), TOTAL, [])()
    samples = {name: [] for name in clients}
    for block in range(calls // 100 + 2):
        for name, client in clients.items():
            started = time.thread_time()
            for _ in range(100):
                client.update_item(**request)
            if block >= 2:
                samples[name].append((time.thread_time() - started) * 10)
    return {name: statistics.median(values) for name, values in samples.items()}


def table(results: dict) -> str:
    lines = [
        "| ledger | calls | GetItem p50 | GetItem client CPU | reserve+settle p50 | p99 | CPU per reserve+settle | "
        "meter open+close p50 | p99 | target p50 | |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        a, m, trip, target = r["adapter"], r["meter"], r.get("round_trip"), r["target_p50_ms"]
        verdict = "reference" if target is None or not m else "PASS" if m["p50_ms"] <= target else "FAIL"
        lines.append(
            f"| {name} | {r.get('calls', '')} | {ms(trip, 'p50_ms')} | {ms(trip, 'cpu_ms')} | "
            f"{a['p50_ms']:.3f} ms | {a['p99_ms']:.3f} ms | {ms(a, 'cpu_ms')} | {ms(m, 'p50_ms')} | "
            f"{ms(m, 'p99_ms')} | {'—' if target is None else f'≤ {target:g} ms'} | {verdict} |"
        )
    return "\n".join(lines)


def limits_table(results: dict) -> str:
    """The meter's open + close with the per-minute limits off and on, side by side in the same run."""
    lines = [
        "| ledger | open+close p50, limits off | on | added | CPU per call, off | on | added |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        off = r.get("meter")
        if not off or "limits_on" not in off:
            continue
        on = off["limits_on"]
        lines.append(
            f"| {name} | {off['p50_ms']:.3f} ms | {on['p50_ms']:.3f} ms | {percent(on['p50_ms'], off['p50_ms'])} | "
            f"{off['cpu_ms']:.3f} ms | {on['cpu_ms']:.3f} ms | {percent(on['cpu_ms'], off['cpu_ms'])} |"
        )
    return "\n".join(lines)


def percent(now: float, before: float) -> str:
    return f"{(now / before - 1) * 100:+.1f} %" if before else "—"


def ms(measured: dict | None, key: str) -> str:
    return "—" if not measured or key not in measured else f"{measured[key]:.3f} ms"


def round_trip_line(results: dict) -> str:
    """boto3 against the previous client on the same dynalite server in the same run."""
    now, before = results.get("dynalite"), results.get("dynalite, previous client")
    if not now or not before or "cpu_ms" not in now["adapter"]:
        return ""

    def ratio(key: str, part: str) -> str:
        return f"{now[part][key]:.3f} vs {before[part][key]:.3f} ms ({now[part][key] / before[part][key]:.2f}x)"

    return (
        "boto3 vs the previous client on dynalite, same run — reserve+settle p50 "
        f"{ratio('p50_ms', 'adapter')}, CPU per reserve+settle {ratio('cpu_ms', 'adapter')}; one GetItem p50 "
        f"{ratio('p50_ms', 'round_trip')}, client CPU {ratio('cpu_ms', 'round_trip')}."
    )


def leases_line(results: dict) -> str:
    """reserve + settle with budget leases against today's adapter, on the same dynalite server in the same run."""
    before, now = results.get("dynalite"), results.get("dynalite, budget leases")
    if not before or not now:
        return ""
    b, n = before["adapter"], now["adapter"]
    return (
        f"Budget leases on dynalite, same run — reserve+settle p50 {n['p50_ms']:.3f} ms with leases vs "
        f"{b['p50_ms']:.3f} ms before ({percent(n['p50_ms'], b['p50_ms'])}; target within +10 %), CPU "
        f"{n['cpu_ms']:.3f} vs {b['cpu_ms']:.3f} ms."
    )


def client_cpu_line(cpu: dict | None) -> str:
    if not cpu:
        return ""
    on, off = cpu["validation on"], cpu["validation off"]
    return (
        f"boto3's own CPU per settle UpdateItem, no server: {on:.3f} ms with parameter validation, {off:.3f} ms "
        f"without ({off / on:.2f}x)."
    )


if __name__ == "__main__":
    print(table(run()))
