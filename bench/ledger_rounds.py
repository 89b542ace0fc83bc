"""The timed calls behind `bench.ledger`: reserve + settle through each ledger's adapter, the meter's open + close as
a request pays for it (per-minute limits off and on), and one GetItem through each DynamoDB client, each round
alternating between the ledgers after a warm-up, as p50 / p99 and CPU per call; and the ledgers measured together,
each on its own server (SQLite, dynalite with its peer clients, moto) while it is measured.
"""

from __future__ import annotations

import contextlib
import statistics
import time
import uuid
from contextlib import ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
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
