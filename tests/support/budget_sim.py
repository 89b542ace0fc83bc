"""Budgets at scale, simulated: execution environments metering paid calls through the real usage ledger against
the DynamoDB stand-in (tests/support/dynamo_standin.py) on a virtual clock.

Each paid call (budget_calls.py) does what `usage.meter.Meter` does: settle again its environment's failed settlements
that are due (the real `PendingSettles`), reserve its worst case on every limit the real `LimitBook` gives it (the
global budget, its caller's budget, requests and tokens per minute), count a refusal, run (a virtual duration), settle
its real cost and tokens once, or keep the settlement to try again if it fails. Some environments die holding leases,
calls and settlements waiting to be tried again; those calls never settle, and what they held stays counted. After the
traffic, the day ends: leases run out, each living environment's next calls (on the next day) settle what waits and give
its ended lease back, one sweep finds the dead ones' leases, and the figures are read back through the ledger's own
reads and from the table (budget_judge.py).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import random
from dataclasses import asdict, dataclass
from decimal import Decimal
from types import SimpleNamespace

from airelay.settings import Settings
from airelay.usage.dynamo_items import hold_name
from airelay.usage.dynamodb import DynamoLedger
from airelay.usage.dynamodb_leases import DynamoLeases
from airelay.usage.leases import LeasedLedger
from airelay.usage.ledger import TOTAL, UsageRow, identity_key
from airelay.usage.limits import LimitBook
from airelay.usage.pending import LONGEST_WAIT_S, PendingSettles
from airelay.usage.pricing import load_prices

from .budget_calls import DAY, EPOCH, MODEL, Environment, Open, admit, finish, lose, settle_again
from .budget_judge import Figures, judge
from .dynamo_standin import Client, Table


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
        clock = (lambda c: lambda: c.now)(client)
        envs.append(Environment(client, ledger, PendingSettles(clock, random.Random(number))))
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
            for call, row in payload.unsettled.values():
                figures.lost_waiting[call.number] = (row, call.amount)
                lose(call, figures)
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
            if admit(limits, call, figures, now, settled):
                env_now = env.client.now
                heapq.heappush(events, (env_now + rng.uniform(0.3, 3.0), next(sequence), "finish", call))
        else:
            finish(payload, price, rng, figures, settled, now)
    return day_end(scenario, table, envs, figures, settled)


def day_end(scenario: Scenario, table: Table, envs: list, figures: Figures, settled: bytearray) -> dict:
    """The living environments' next calls, on the next day, settle what waits and give their ended leases back; one
    sweep; then the day's figures, read through the ledger and from the table."""
    for env in (env for env in envs if env.alive):
        env.client.now = scenario.seconds + scenario.lease_seconds + 5
        for _ in range(20):  # a call every half minute, until nothing waits (or 20 tries each)
            settle_again(env, figures, settled)
            env.client.now += LONGEST_WAIT_S
        if scenario.design == "leases":
            env.ledger.give_back_ended()
    reader = Client(table, random.Random(0))
    reader.now = scenario.seconds + scenario.lease_seconds + 10
    if scenario.design == "today":
        store = DynamoLedger("usage", SimpleNamespace(dynamodb=reader))
    else:
        store = DynamoLeases("usage", SimpleNamespace(dynamodb=reader), shards=scenario.shards)
        store.sweep(DAY, EPOCH + reader.now, since=EPOCH)
    totals = store.day_totals(DAY)
    return judge(scenario, table, figures, settled, totals, counted_of_lost(scenario, store, figures))


def counted_of_lost(scenario: Scenario, store, figures: Figures) -> list[tuple[UsageRow, Decimal]]:
    """The calls lost while their settlement waited whose counter took it all the same (its hold marker gone): the
    counter of the day's calls is the caller's with leases, the day's total without."""
    counted = []
    for row, held in figures.lost_waiting.values():
        key = TOTAL if scenario.design == "today" else identity_key(row.identity)
        item = store.aws.dynamodb.table.items.get(tuple(k["S"] for k in store.counter(DAY, key).values()), {})
        if hold_name(row.call_id) not in item:
            counted.append((row, held))
    return counted
