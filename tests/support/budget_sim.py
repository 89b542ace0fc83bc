"""Budgets at scale, simulated: execution environments metering paid calls through the real usage ledger against
the DynamoDB stand-in (tests/support/dynamo_standin.py) on a virtual clock.

Each paid call does what `usage.meter.Meter` does: reserve its worst case on every limit the real `LimitBook` gives
it (the global budget, its caller's budget, requests and tokens per minute), count a refusal, run (a virtual
duration), settle its real cost and tokens once. Some environments die holding leases and calls; their calls
never settle, and what they held stays counted. After the traffic, the day ends: leases run out, each living
environment's next call (on the next day) gives its ended lease back, one sweep finds the dead ones' leases, and the
figures are read back through the ledger's own reads and from the table.
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace

from botocore.exceptions import ClientError

from airelay.providers.base import Usage
from airelay.settings import Settings
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.dynamodb_leases import DynamoLeases
from airelay.usage.leases import LeasedLedger
from airelay.usage.ledger import TOTAL, OverLimit, UsageRow
from airelay.usage.limits import CALLER, GLOBAL, LimitBook
from airelay.usage.pricing import load_prices

from .dynamo_standin import Client, Table

DAY = "2026-12-04"
EPOCH = 1_796_342_400.0  # DAY's midnight UTC: the lease code's clock reads EPOCH + virtual seconds
MIDNIGHT = datetime(2026, 12, 4, tzinfo=UTC)
MODEL = "openai/gpt-4o-mini"


@dataclass
class Scenario:
    design: str = "leases"  # "leases" or "today" (main's DynamoLedger: every counter of the day on one key)
    envs: int = 1000
    calls_per_s: float = 10_000
    seconds: float = 60.0
    warm_up_s: float = 10.0
    shards: int = 128
    lease_seconds: float = 30.0
    identities: int = 20_000
    zipf: float = 1.1
    global_limit: Decimal = Decimal("100")
    identity_limit: Decimal = Decimal("0.5")
    requests_per_minute: int = 300  # per caller
    tokens_per_minute: int = 400_000
    deaths: float = 0.02  # share of the environments that die during the run
    seed: int = 1


class Sequential:
    """The ledger's writes that it sends at once run one after the other here, each from the same virtual start:
    the environment's clock moves on by the slowest, as it would waiting for all of them."""

    def _together(self, work, items: list) -> list:
        client = self.aws.dynamodb
        start, ends, results = client.now, [], []
        for item in items:
            client.now = start
            results.append(work(item))
            ends.append(client.now)
        client.now = max(ends, default=start)
        return results


class SimLedger(Sequential, DynamoLedger):
    pass


class SimLeases(Sequential, DynamoLeases):
    pass


@dataclass
class Environment:
    client: Client
    ledger: object
    alive: bool = True


@dataclass
class Open:
    number: int
    env: Environment
    identity: str
    prompt: int
    max_tokens: int
    amount: Decimal
    started: float
    holds: list = field(default_factory=list)


@dataclass
class Figures:
    scenario: dict
    admitted: int = 0
    refused_global: int = 0
    refused_identity: int = 0
    refused_rate: int = 0
    unavailable: int = 0  # reserve failed after the SDK's retries
    settled: int = 0
    settle_failed: int = 0
    lost_with_environment: int = 0  # in flight when their environment died: never settled
    held_by_lost_calls: Decimal = Decimal(0)
    lost_holds: dict = field(default_factory=dict)  # identity -> what its calls lost with their environments held
    settled_spend: Decimal = Decimal(0)
    admitted_per_second: dict = field(default_factory=dict)
    minute_requests: dict = field(default_factory=lambda: defaultdict(int))  # (identity, minute) -> admitted
    minute_tokens: dict = field(default_factory=lambda: defaultdict(int))  # (identity, minute) -> used or held


def zipf_weights(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1 / (rank**s) for rank in range(1, n + 1)))


def build(scenario: Scenario, table: Table, rng: random.Random) -> list[Environment]:
    envs = []
    for number in range(scenario.envs):
        client = Client(table, random.Random(rng.getrandbits(64)))
        aws = SimpleNamespace(dynamodb=client)
        if scenario.design == "today":
            ledger = SimLedger("usage", aws)  # one partition key per day, as main
        else:
            store = SimLeases("usage", aws, shards=scenario.shards)
            clock = (lambda c: lambda: EPOCH + c.now)(client)
            ledger = LeasedLedger(store, scenario.lease_seconds, clock=clock, rng=random.Random(number))
        envs.append(Environment(client, ledger))
    return envs


def run(scenario: Scenario) -> dict:
    rng = random.Random(scenario.seed)
    table = Table()
    envs = build(scenario, table, rng)
    price = load_prices().price(MODEL)
    limits = LimitBook(
        Settings(
            daily_budget_usd=scenario.global_limit,
            identity_daily_budget_usd=scenario.identity_limit,
            requests_per_minute=scenario.requests_per_minute,
            tokens_per_minute=scenario.tokens_per_minute,
        )
    )
    weights = zipf_weights(scenario.identities, scenario.zipf)
    figures = Figures(asdict(scenario))
    settled = bytearray(int(scenario.calls_per_s * scenario.seconds * 1.2) + 1000)
    events: list = []
    sequence = itertools.count()
    for env in rng.sample(envs, int(scenario.deaths * scenario.envs)):
        heapq.heappush(events, (rng.uniform(5, scenario.seconds - 5), next(sequence), "death", env))
    heapq.heappush(events, (rng.expovariate(scenario.calls_per_s), next(sequence), "arrival", None))
    numbers = itertools.count()
    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "death":
            payload.alive = False
        elif kind == "arrival":
            following = now + rng.expovariate(scenario.calls_per_s)
            if following < scenario.seconds:
                heapq.heappush(events, (following, next(sequence), "arrival", None))
            env = rng.choice(envs)
            while not env.alive:
                env = rng.choice(envs)
            identity = f"key:{bisect.bisect(weights, rng.random() * weights[-1])}"
            call = Open(next(numbers), env, identity, rng.randint(100, 1500), rng.choice((256, 512, 1024)), 0, now)
            call.amount = price.worst_case(call.prompt, call.max_tokens)
            if admit(limits, call, figures, now):
                env_now = env.client.now
                heapq.heappush(events, (env_now + rng.uniform(0.3, 3.0), next(sequence), "finish", call))
        else:
            finish(payload, price, rng, figures, settled, now)
    return day_end(scenario, table, envs, figures, settled)


def admit(limits: LimitBook, call: Open, figures: Figures, now: float) -> bool:
    call.env.client.now = now
    at = MIDNIGHT + timedelta(seconds=now)
    call.holds = limits.holds(call.identity, at, call.amount, call.prompt + call.max_tokens)
    call_id = str(call.number)
    try:
        call.env.ledger.reserve(call_id, call.holds)
    except OverLimit as over:
        if over.hold.name == GLOBAL:
            figures.refused_global += 1
        elif over.hold.name == CALLER:
            figures.refused_identity += 1
        else:
            figures.refused_rate += 1
        try:
            call.env.ledger.count_refusal(DAY, call.identity)
        except ClientError:
            pass  # the meter logs it and answers the refusal
        return False
    except ClientError:
        figures.unavailable += 1
        return False
    figures.admitted += 1
    second = int(now)
    figures.admitted_per_second[second] = figures.admitted_per_second.get(second, 0) + 1
    minute = at.isoformat(timespec="minutes")
    figures.minute_requests[(call.identity, minute)] += 1
    return True


def finish(call: Open, price, rng: random.Random, figures: Figures, settled: bytearray, now: float) -> None:
    minute = (MIDNIGHT + timedelta(seconds=call.started)).isoformat(timespec="minutes")
    if not call.env.alive:
        figures.lost_with_environment += 1
        figures.held_by_lost_calls += call.amount
        figures.lost_holds[call.identity] = figures.lost_holds.get(call.identity, 0) + call.amount
        figures.minute_tokens[(call.identity, minute)] += call.prompt + call.max_tokens
        return
    call.env.client.now = now
    status = rng.choices(("ok", "error", "cancelled"), (95, 3, 2))[0]
    usage = Usage(call.prompt, int(call.max_tokens * rng.uniform(0.05, 1.0)))
    cost = price.cost(usage)
    row = UsageRow(
        call_id=str(call.number),
        request_id=f"req-{call.number}",
        at=f"{DAY}T00:00:{now:09.6f}",
        day=DAY,
        identity=call.identity,
        function="chat",
        provider="openai",
        model=MODEL,
        prompt_tokens=usage.prompt_tokens,
        cached_tokens=0,
        completion_tokens=usage.completion_tokens,
        cost_usd=cost,
        latency_ms=int((now - call.started) * 1000),
        status=status,
        estimated=False,
    )
    try:
        call.env.ledger.settle(row, call.holds)
    except ClientError:
        figures.settle_failed += 1
        figures.minute_tokens[(call.identity, minute)] += call.prompt + call.max_tokens
    else:
        figures.minute_tokens[(call.identity, minute)] += row.counted_tokens
        figures.settled += 1
        figures.settled_spend += cost
        settled[call.number] = 1


def day_end(scenario: Scenario, table: Table, envs: list, figures: Figures, settled: bytearray) -> dict:
    """Past the last lease's end, one sweep; then the day's figures, read through the ledger and from the table."""
    if scenario.design == "leases":  # the living environments' next calls, on the next day, give their leases back
        for env in (env for env in envs if env.alive):
            env.client.now = scenario.seconds + scenario.lease_seconds + 5
            env.ledger.give_back_ended()
    reader = Client(table, random.Random(0))
    reader.now = scenario.seconds + scenario.lease_seconds + 10
    if scenario.design == "today":
        store = DynamoLedger("usage", SimpleNamespace(dynamodb=reader))
    else:
        store = DynamoLeases("usage", SimpleNamespace(dynamodb=reader), shards=scenario.shards)
        store.sweep(DAY, EPOCH + reader.now, since=EPOCH)
    totals = store.day_totals(DAY)
    return judge(scenario, table, figures, settled, totals)


def judge(scenario: Scenario, table: Table, figures: Figures, settled: bytearray, totals: dict) -> dict:
    rows, spend_by_identity = set(), dict(figures.lost_holds)
    row_spend = Decimal(0)
    for (pk, _), item in table.items.items():
        if pk.startswith("CALLS#"):
            number, cost = int(item["call_id"]["S"]), Decimal(item["cost_usd"]["N"])
            rows.add(number)
            row_spend += cost
            identity = item["identity"]["S"]
            spend_by_identity[identity] = spend_by_identity.get(identity, 0) + cost
    settled_calls = {n for n, done in enumerate(settled) if done}
    total = totals.get(TOTAL)
    worst_spend = figures.settled_spend + figures.held_by_lost_calls  # a lost call may have spent all it held
    identity_overshoot = sum(max(Decimal(0), spent - scenario.identity_limit) for spent in spend_by_identity.values())
    requests_over = sum(max(0, n - scenario.requests_per_minute) for n in figures.minute_requests.values())
    tokens_over = sum(max(0, n - scenario.tokens_per_minute) for n in figures.minute_tokens.values())
    stranded = total.committed - total.spent - figures.held_by_lost_calls if total else Decimal(0)
    after = [s for s in table.writes if s >= scenario.warm_up_s]
    writes_after = sum(table.writes[s] for s in after)
    throttled_after = sum(table.throttled_writes[s] for s in after)
    seconds = range(int(scenario.seconds) + 1)
    return {
        "scenario": {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(scenario).items()},
        "calls": {
            "admitted": figures.admitted,
            "refused_over_global_budget": figures.refused_global,
            "refused_over_caller_budget": figures.refused_identity,
            "refused_over_caller_rates": figures.refused_rate,
            "refused_ledger_unavailable": figures.unavailable,
            "settled": figures.settled,
            "settle_failed": figures.settle_failed,
            "lost_with_environment": figures.lost_with_environment,
            "unsettled": figures.admitted - figures.settled - figures.lost_with_environment,
        },
        "exactness": {
            "overshoot_global_usd": str(max(Decimal(0), worst_spend - scenario.global_limit)),
            "overshoot_identities_usd": str(identity_overshoot),
            "requests_over_rate": requests_over,
            "tokens_over_rate": tokens_over,
            "lost_rows": len(settled_calls - rows),
            "rows_of_unsettled_calls": len(rows - settled_calls),
            "double_counted_calls": max(0, total.calls - len(rows)) if total else 0,
            "uncounted_calls": max(0, len(rows) - total.calls) if total else len(rows),
            "ledger_spent_minus_rows_usd": str((total.spent if total else 0) - row_spend),
            "rows_minus_settled_usd": str(row_spend - figures.settled_spend),
        },
        "budget": {
            "limit_usd": str(scenario.global_limit),
            "spent_usd": str(total.spent if total else 0),
            "held_by_lost_calls_usd": str(figures.held_by_lost_calls),
            "stranded_usd": str(stranded),
            "never_committed_usd": str(scenario.global_limit - total.committed if total else scenario.global_limit),
            "stranded_share": float(stranded / scenario.global_limit),
        },
        "throttling": {
            "writes_after_warm_up": writes_after,
            "throttled_after_warm_up": throttled_after,
            "throttled_share_after_warm_up": throttled_after / writes_after if writes_after else 0.0,
            "sdk_gave_up": table.gave_up,
            "most_throttled_keys": sorted(table.throttled_by_key.items(), key=lambda kv: -kv[1])[:5],
        },
        "per_second": {
            "admitted": [figures.admitted_per_second.get(s, 0) for s in seconds],
            "writes": [table.writes.get(s, 0) for s in seconds],
            "throttled_writes": [table.throttled_writes.get(s, 0) for s in seconds],
            "throttled_reads": [table.throttled_reads.get(s, 0) for s in seconds],
        },
    }
