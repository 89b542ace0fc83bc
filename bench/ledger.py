"""Usage ledger overhead per request: reserve + settle, on SQLite and on local DynamoDB servers.

Measured two ways: the adapter's blocking calls alone, and the meter as a request pays for it (open + close
from async code, worker-thread hops included).
"""

from __future__ import annotations

import statistics
import time
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from tempfile import TemporaryDirectory

import anyio
import boto3
import pytest

from airelay.providers.base import Usage
from airelay.settings import Settings
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.ledger import TOTAL, Hold, UsageRow, identity_key
from airelay.usage.meter import Meter
from airelay.usage.pricing import load_prices
from airelay.usage.sqlite import SqliteLedger
from tests.support.aws import create_table_from_template, dynalite_server, moto_server

TARGETS_MS = {"sqlite": 1.0, "moto": 5.0, "dynalite": 5.0}


def percentiles(samples_ms: list[float]) -> dict:
    ordered = sorted(samples_ms)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"n": len(ordered), "p50_ms": statistics.median(ordered), "p99_ms": pick(0.99)}


def adapter_round(ledger, day: str, identity: str) -> float:
    started = time.perf_counter()
    ledger.reserve(day, [Hold(TOTAL, Decimal(1000)), Hold(identity_key(identity), Decimal(1000))], Decimal("0.0006"))
    ledger.settle(UsageRow(
        call_id=uuid.uuid4().hex, request_id="bench", at=datetime.now(UTC).isoformat(), day=day, identity=identity,
        function="chat", provider="openai", model="openai/gpt-4o-mini", prompt_tokens=40, cached_tokens=0,
        completion_tokens=20, cost_usd=Decimal("0.000018"), latency_ms=3, status="ok", estimated=False),
        Decimal("0.0006"))
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
            call = await meter.open(request_id="bench", identity=f"ip:10.0.0.{n % 50}", function="chat",
                                    model_id="openai/gpt-4o-mini", prompt_tokens=60, max_tokens=1000)
            await meter.close(call, Usage(40, 20), "ok")
            samples.append((time.perf_counter() - started) * 1000)
        return samples[50:]

    return percentiles(anyio.run(rounds))


def open_ledgers(stack: ExitStack, workdir: Path) -> dict:
    ledgers = {"sqlite": SqliteLedger(workdir / "usage.sqlite3")}
    moto_endpoint = stack.enter_context(moto_server(stack.enter_context(pytest.MonkeyPatch.context())))
    dynalite_endpoint = stack.enter_context(dynalite_server())
    for name, endpoint in (("moto", moto_endpoint), ("dynalite", dynalite_endpoint)):
        client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="bench", aws_secret_access_key="bench")
        table = create_table_from_template(client, "UsageTable", f"bench-{name}")
        ledgers[name] = DynamoLedger(table, client, atomic_settle=name == "moto")
    return ledgers


def run(requests: int = 1000) -> dict:
    results = {}
    with ExitStack() as stack, TemporaryDirectory() as workdir:
        for name, ledger in open_ledgers(stack, Path(workdir)).items():
            results[name] = {"adapter": measure_adapter(ledger, requests), "meter": measure_meter(ledger, requests),
                             "target_p50_ms": TARGETS_MS[name]}
    return results


def table(results: dict) -> str:
    lines = ["| ledger | reserve+settle p50 | p99 | meter open+close p50 | p99 | target p50 | |",
             "|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        a, m = r["adapter"], r["meter"]
        verdict = "PASS" if m["p50_ms"] <= r["target_p50_ms"] else "FAIL"
        lines.append(f"| {name} | {a['p50_ms']:.3f} ms | {a['p99_ms']:.3f} ms | {m['p50_ms']:.3f} ms | "
                     f"{m['p99_ms']:.3f} ms | ≤ {r['target_p50_ms']:g} ms | {verdict} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(run()))
