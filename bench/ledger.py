"""Usage ledger overhead per request: reserve + settle, on SQLite and on local DynamoDB servers.

Measured two ways: the adapter's blocking calls alone, and the meter as a request pays for it (open + close
from async code, worker-thread hops included).
"""

from __future__ import annotations

import contextlib
import gc
import os
import statistics
import subprocess
import sys
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

import anyio
import pytest

from airelay.providers.base import Usage
from airelay.settings import Settings
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.ledger import TOTAL, Hold, UsageRow, identity_key
from airelay.usage.meter import Meter
from airelay.usage.pricing import load_prices
from airelay.usage.sqlite import SqliteLedger
from tests.support.aws import create_table_from_template, dynalite_server, dynamo_api, moto_server

# name -> (calls measured, target p50 of meter open + close in ms or None, what it is)
LEDGERS = {
    "sqlite": (500, 1.0, "the local default, a file under .airelay/"),
    "dynalite": (500, 5.0, "the local DynamoDB server: its own process, as DynamoDB is"),
    "moto": (500, None, "reference: pure Python in the benchmark's own process, about 2 ms a call"),
}


def percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"n": len(ordered), "p50_ms": statistics.median(ordered), "p99_ms": pick(0.99)}


def adapter_round(ledger, day: str, identity: str) -> float:
    started = time.perf_counter()
    ledger.reserve(day, [Hold(TOTAL, Decimal(1000)), Hold(identity_key(identity), Decimal(1000))], Decimal("0.0006"))
    ledger.settle(
        UsageRow(
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
        ),
        Decimal("0.0006"),
    )
    return (time.perf_counter() - started) * 1000


def measure_adapter(ledger, requests: int) -> dict:
    day = datetime.now(UTC).date().isoformat()
    for _ in range(50):
        adapter_round(ledger, day, "ip:warmup")
    return percentiles([adapter_round(ledger, day, f"ip:10.0.0.{n % 50}") for n in range(requests)])


def measure_meter(ledger, requests: int) -> dict:
    settings = Settings(daily_budget_usd=Decimal(1000), identity_daily_budget_usd=Decimal(1000))
    meter = Meter(ledger, load_prices(), settings)

    async def rounds() -> list[float]:
        samples = []
        for n in range(requests + 50):
            started = time.perf_counter()
            call = await meter.open(
                request_id="bench",
                identity=f"ip:10.0.0.{n % 50}",
                function="chat",
                model_id="openai/gpt-4o-mini",
                prompt_tokens=60,
                max_tokens=1000,
            )
            await meter.close(call, Usage(40, 20), "ok")
            samples.append((time.perf_counter() - started) * 1000)
        return samples[50:]

    return percentiles(anyio.run(rounds))


@contextlib.contextmanager
def open_ledger(name: str, workdir: Path):
    """The ledger and, for DynamoDB, the API client (for the round-trip floor); each server only while measured."""
    if name == "sqlite":
        yield SqliteLedger(workdir / "usage.sqlite3"), None
        return
    with ExitStack() as stack:
        if name == "moto":
            endpoint = stack.enter_context(moto_server(stack.enter_context(pytest.MonkeyPatch.context())))
        else:
            endpoint = stack.enter_context(dynalite_server())
        api = dynamo_api(endpoint)
        table = create_table_from_template(api, "UsageTable", f"bench-{name}")
        yield DynamoLedger(table, api), api


def round_trip(api, table: str, requests: int) -> dict:
    """One GetItem, the server's own floor under every ledger call, through our client and (the baseline) through
    boto3, alternating; with the client's CPU time per call."""
    import boto3

    key = {"pk": {"S": "DAY#1970-01-01"}, "sk": {"S": "total"}}
    sdk = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{api.host}",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    clients = {
        "airelay": lambda: api.call("GetItem", {"TableName": table, "Key": key}),
        "boto3": lambda: sdk.get_item(TableName=table, Key=key),
    }
    samples = {name: [] for name in clients}
    cpu = dict.fromkeys(clients, 0.0)
    for n in range(requests + 50):
        for name, get in clients.items():
            started, started_cpu = time.perf_counter(), time.thread_time()
            get()
            if n >= 50:
                samples[name].append((time.perf_counter() - started) * 1000)
                cpu[name] += time.thread_time() - started_cpu
    result = {name: {**percentiles(values), "cpu_ms": cpu[name] * 1000 / requests} for name, values in samples.items()}
    return {**result["airelay"], "boto3": result["boto3"]}


# A cold container's first metered call opens the ledger: our DynamoDB client, or (the baseline) boto3's.
FIRST_USE = {
    "airelay": "from airelay.settings import Settings\nfrom airelay.usage import open_ledger\n"
    "open_ledger(Settings(usage_table='usage'))",
    "boto3": "import boto3\nboto3.client('dynamodb')",
}
FIRST_USE_CHILD = """
import sys, time
import airelay.usage.meter, http.client, ssl  # what a function has imported before its first AI call
started = time.perf_counter()
exec(sys.argv[1])
print((time.perf_counter() - started) * 1000)
"""


def first_use(runs: int = 7) -> dict:
    """Median time to open the DynamoDB ledger in a fresh process, and the same for a boto3 DynamoDB client."""
    layer = Path(__file__).resolve().parents[1] / "layers" / "core"
    env = {
        **os.environ,
        "PYTHONPATH": str(layer),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    samples = {name: [] for name in FIRST_USE}
    for _ in range(runs):
        for name, code in FIRST_USE.items():
            child = subprocess.run(
                [sys.executable, "-c", FIRST_USE_CHILD, code], env=env, capture_output=True, text=True, check=True
            )
            samples[name].append(float(child.stdout))
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {"runs": runs, "median_ms": medians, "ratio_to_boto3": medians["airelay"] / medians["boto3"]}


def run(scale: float = 1.0) -> dict:
    results = {}
    with TemporaryDirectory() as workdir:
        for name, (calls, target, about) in LEDGERS.items():
            calls = max(20, int(calls * scale))
            with open_ledger(name, Path(workdir)) as (ledger, api):
                results[name] = {
                    "calls": calls,
                    "about": about,
                    "target_p50_ms": target,
                    "round_trip": round_trip(api, ledger.table, calls) if api else None,
                    "adapter": measure_adapter(ledger, calls),
                    "meter": measure_meter(ledger, calls),
                }
            gc.collect()
    return results


def table(results: dict) -> str:
    lines = [
        "| ledger | calls | one round trip p50 (boto3) | reserve+settle p50 | p99 | meter open+close p50 | p99 | "
        "target p50 | |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        a, m, trip, target = r["adapter"], r["meter"], r.get("round_trip"), r["target_p50_ms"]
        verdict = "reference" if target is None else "PASS" if m["p50_ms"] <= target else "FAIL"
        lines.append(
            f"| {name} | {r.get('calls', '')} | {trip_cell(trip)} | "
            f"{a['p50_ms']:.3f} ms | {a['p99_ms']:.3f} ms | {m['p50_ms']:.3f} ms | {m['p99_ms']:.3f} ms | "
            f"{'—' if target is None else f'≤ {target:g} ms'} | {verdict} |"
        )
    return "\n".join(lines)


def trip_cell(trip: dict | None) -> str:
    if not trip:
        return "—"
    if "boto3" not in trip:
        return f"{trip['p50_ms']:.3f} ms"
    return f"{trip['p50_ms']:.3f} ms ({trip['boto3']['p50_ms']:.3f} ms)"


def round_trip_line(results: dict) -> str:
    """Per call, our client against boto3 on the same server in the same run."""
    parts = []
    for name, r in results.items():
        trip = r.get("round_trip") or {}
        if "boto3" in trip:
            parts.append(
                f"{name}: p50 {trip['p50_ms']:.3f} vs {trip['boto3']['p50_ms']:.3f} ms "
                f"({trip['p50_ms'] / trip['boto3']['p50_ms']:.2f}x), client CPU {trip['cpu_ms']:.3f} vs "
                f"{trip['boto3']['cpu_ms']:.3f} ms ({trip['cpu_ms'] / trip['boto3']['cpu_ms']:.2f}x)"
            )
    return "One GetItem through our client vs boto3 — " + "; ".join(parts) + "." if parts else ""


def first_use_line(first: dict | None) -> str:
    if not first:
        return ""
    ours, boto3 = first["median_ms"]["airelay"], first["median_ms"]["boto3"]
    return (
        f"Opening the DynamoDB ledger in a fresh process (median of {first['runs']}): {ours:.1f} ms; "
        f"boto3 client instead: {boto3:.1f} ms ({first['ratio_to_boto3']:.2f}x)."
    )


if __name__ == "__main__":
    print(table(run()))
