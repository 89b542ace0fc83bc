"""Usage ledger overhead per request: reserve + settle, on SQLite and on local DynamoDB servers.

Measured two ways: the adapter's blocking calls alone, and the meter as a request pays for it (open + close
from async code, worker-thread hops included). On dynalite, boto3 as airelay makes it is measured beside the same
client with botocore's parameter validation and beside the stdlib client the ledger used before boto3
(bench.ledger_previous), rounds alternating; then a fresh process's INIT and first metered call with each.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import time
import uuid
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory
from types import SimpleNamespace

import anyio
import pytest

from airelay import aws
from airelay.providers.base import Usage
from airelay.settings import Settings
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.dynamodb_leases import DynamoLeases
from airelay.usage.leases import LeasedLedger
from airelay.usage.ledger import TOTAL, USD, Hold, UsageLedger, UsageRow, identity_key
from airelay.usage.meter import Meter
from airelay.usage.pricing import load_prices
from airelay.usage.sqlite import SqliteLedger
from tests.support.aws import create_table_from_template, dynalite_server, local_clients, moto_server

from . import ledger_previous

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


def percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"n": len(ordered), "p50_ms": statistics.median(ordered), "p99_ms": pick(0.99)}


def usage_row(day: str, identity: str) -> UsageRow:
    return UsageRow(
        call_id=uuid.uuid4().hex,
        request_id="bench",
        at=datetime.now(UTC).isoformat(),
        day=day,
        identity=identity,
        function="chat",
        provider="openai",
        model="openai/gpt-4o-mini",
        prompt_tokens=40,
        cached_tokens=0,
        completion_tokens=20,
        cost_usd=Decimal("0.000018"),
        latency_ms=3,
        status="ok",
        estimated=False,
    )


def adapter_round(ledger, day: str, identity: str) -> tuple[float, float]:
    """(wall ms, CPU ms of this process, every thread) of one reserve + settle."""
    started, started_cpu = time.perf_counter(), time.process_time()
    if isinstance(ledger, UsageLedger):
        row = usage_row(day, identity)
        holds = [
            Hold(day, TOTAL, USD, Decimal("0.0006"), Decimal(1000), "global"),
            Hold(day, identity_key(identity), USD, Decimal("0.0006"), Decimal(1000), "caller"),
        ]
        ledger.reserve(row.call_id, holds)
        ledger.settle(row, holds)
    else:  # the previous client's ledger, from git history, with the port of its day
        amount, held = Decimal("0.0006"), [ledger_previous.hold(key) for key in (TOTAL, identity_key(identity))]
        ledger.reserve(day, held, amount)
        ledger.settle(usage_row(day, identity), amount)
    return (time.perf_counter() - started) * 1000, (time.process_time() - started_cpu) * 1000


def measure_adapters(ledgers: dict, requests: int) -> dict:
    """reserve + settle through each ledger, alternating, after 50 warm-up rounds each."""
    day = datetime.now(UTC).date().isoformat()
    samples = {name: [] for name in ledgers}
    cpu = dict.fromkeys(ledgers, 0.0)
    for n in range(requests + 50):
        for name, ledger in ledgers.items():
            wall, used = adapter_round(ledger, day, f"ip:10.0.0.{n % 50}")
            if n >= 50:
                samples[name].append(wall)
                cpu[name] += used
    return {name: {**percentiles(samples[name]), "cpu_ms": cpu[name] / requests} for name in ledgers}


def measure_meters(ledgers: dict, requests: int) -> dict:
    """The meter's open + close as a request pays for it (worker-thread hops included), with the per-minute limits
    off and on (limits that never bind, so that every call is checked and admitted), rounds alternating; with the
    process's CPU per call. Only ledgers of today's port: the previous client's has the port of its day."""
    off = Settings(daily_budget_usd=Decimal(1000), identity_daily_budget_usd=Decimal(1000))
    on = replace(off, visitor_requests_per_minute=10**9, visitor_tokens_per_minute=10**12)
    meters = {
        (name, limits): Meter(ledger, load_prices(), settings)
        for name, ledger in ledgers.items()
        if isinstance(ledger, UsageLedger)
        for limits, settings in (("off", off), ("on", on))
    }

    async def rounds() -> dict:
        samples = {key: [] for key in meters}
        cpu = dict.fromkeys(meters, 0.0)
        for n in range(requests + 50):
            for key, meter in meters.items():
                started, started_cpu = time.perf_counter(), time.process_time()
                call = await meter.open(
                    request_id="bench",
                    identity=f"ip:10.0.0.{n % 50}",
                    function="chat",
                    model_id="openai/gpt-4o-mini",
                    prompt_tokens=60,
                    max_tokens=1000,
                )
                await meter.close(call, Usage(40, 20), "ok")
                if n >= 50:
                    samples[key].append((time.perf_counter() - started) * 1000)
                    cpu[key] += (time.process_time() - started_cpu) * 1000
        return {key: {**percentiles(values), "cpu_ms": cpu[key] / requests} for key, values in samples.items()}

    measured = anyio.run(rounds)
    return {name: {**measured[(name, "off")], "limits_on": measured[(name, "on")]} for name, _ in measured}


def measure_get_item(getters: dict, requests: int) -> dict:
    """One GetItem, the server's own floor under every ledger call, through each client, alternating; with the
    client's CPU time per call (this thread's)."""
    samples = {name: [] for name in getters}
    cpu = dict.fromkeys(getters, 0.0)
    for n in range(requests + 50):
        for name, get in getters.items():
            started, started_cpu = time.perf_counter(), time.thread_time()
            get()
            if n >= 50:
                samples[name].append((time.perf_counter() - started) * 1000)
                cpu[name] += time.thread_time() - started_cpu
    return {name: {**percentiles(values), "cpu_ms": cpu[name] * 1000 / requests} for name, values in samples.items()}


@contextlib.contextmanager
def open_ledgers(name: str, workdir: Path):
    """{ledger name: (ledger, GetItem of one key or None)} measured together; each server only while measured."""
    if name == "sqlite":
        yield {"sqlite": (SqliteLedger(workdir / "usage.sqlite3"), None)}
        return
    with ExitStack() as stack:
        if name == "moto":
            endpoint = stack.enter_context(moto_server(stack.enter_context(pytest.MonkeyPatch.context())))
        else:
            endpoint = stack.enter_context(dynalite_server())
        clients = local_clients(endpoint)
        table = create_table_from_template(clients.dynamodb, "UsageTable", f"bench-{name}")
        key = {"pk": {"S": "DAY#1970-01-01"}, "sk": {"S": "total"}}
        ledgers = {name: (DynamoLedger(table, clients), lambda: clients.dynamodb.get_item(TableName=table, Key=key))}
        if name == "dynalite":
            validating = validating_client(endpoint)
            previous = ledger_previous.load(workdir)
            api = previous.DynamoApi(
                region="us-east-1", endpoint=endpoint, credentials=lambda: previous.Credentials("testing", "testing")
            )
            leases = DynamoLeases(table, clients, shards=128)
            ledgers |= {
                "dynalite, budget leases": (LeasedLedger(leases), None),
                "dynalite, parameter_validation on": (
                    DynamoLedger(table, SimpleNamespace(dynamodb=validating)),
                    lambda: validating.get_item(TableName=table, Key=key),
                ),
                "dynalite, previous client": (
                    previous.DynamoLedger(table, api),
                    lambda: api.call("GetItem", {"TableName": table, "Key": key}),
                ),
            }
        yield ledgers


def validating_client(endpoint: str):
    """The ledger's boto3 client as airelay.aws makes it, but with botocore's default parameter_validation=True."""
    import boto3
    from botocore.config import Config

    config = aws.sdk_config(Settings()).merge(Config(parameter_validation=True))
    keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    return boto3.client("dynamodb", config=config, endpoint_url=endpoint, region_name="us-east-1", **keys)


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
