"""A paid call of the budget simulation (budget_sim.py), as `usage.meter.Meter` makes it: settle again its
environment's failed settlements that are due, reserve its worst case or count a refusal, then settle its real cost
and tokens once or keep the settlement to try again; or be lost with its environment, all it held counted."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from botocore.exceptions import ClientError

from airelay.providers.base import Usage
from airelay.usage.ledger import OverLimit, UsageRow
from airelay.usage.limits import CALLER, GLOBAL, LimitBook
from airelay.usage.pending import PendingSettles

from .budget_judge import Figures
from .dynamo_standin import Client

DAY = "2026-12-04"
EPOCH = 1_796_342_400.0  # DAY's midnight UTC: the lease code's clock reads EPOCH + virtual seconds
MIDNIGHT = datetime(2026, 12, 4, tzinfo=UTC)
MODEL = "openai/gpt-4o-mini"


@dataclass
class Environment:
    client: Client
    ledger: object
    pending: PendingSettles
    unsettled: dict = field(default_factory=dict)  # call id -> (Open call, its row) whose settlement waits
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


def admit(limits: LimitBook, call: Open, figures: Figures, now: float, settled: bytearray) -> bool:
    call.env.client.now = now
    at = MIDNIGHT + timedelta(seconds=now)
    call.holds = limits.holds(call.identity, at, call.amount, call.prompt + call.max_tokens)
    call_id = str(call.number)
    if call.env.pending.due():
        settle_again(call.env, figures, settled)
    if call.env.pending.full:
        figures.unavailable += 1
        return False
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


def minute_of(call: Open) -> str:
    return (MIDNIGHT + timedelta(seconds=call.started)).isoformat(timespec="minutes")


def lose(call: Open, figures: Figures) -> None:
    """A call lost with its environment: all it held stays counted."""
    figures.lost_with_environment += 1
    figures.held_by_lost_calls += call.amount
    figures.lost_holds[call.identity] = figures.lost_holds.get(call.identity, 0) + call.amount
    figures.minute_tokens[(call.identity, minute_of(call))] += call.prompt + call.max_tokens


def finish(call: Open, price, rng: random.Random, figures: Figures, settled: bytearray, now: float) -> None:
    if not call.env.alive:
        lose(call, figures)
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
        call.env.pending.add(row, call.holds)
        call.env.unsettled[row.call_id] = (call, row)
    else:
        count_settled(call, row, figures, settled)


def count_settled(call: Open, row: UsageRow, figures: Figures, settled: bytearray) -> None:
    figures.minute_tokens[(call.identity, minute_of(call))] += row.counted_tokens
    figures.settled += 1
    figures.settled_spend += row.cost_usd
    settled[call.number] = 1


def settle_again(env: Environment, figures: Figures, settled: bytearray) -> None:
    for row in env.pending.retry(env.ledger):
        count_settled(env.unsettled.pop(row.call_id)[0], row, figures, settled)
        figures.settled_again += 1
