"""The simulation's figures (tests/support/budget_sim.py), judged from what the environments saw and what the table
holds at the day's end."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from airelay.usage.ledger import TOTAL

if TYPE_CHECKING:
    from .budget_sim import Scenario
    from .dynamo_standin import Table


@dataclass
class Figures:
    scenario: dict
    admitted: int = 0
    refused_global: int = 0
    refused_identity: int = 0
    refused_rate: int = 0
    unavailable: int = 0  # reserve failed after the SDK's retries, or too many settlements waited
    settled: int = 0
    settle_failed: int = 0  # settlements that failed after the SDK's retries and were kept to try again
    settled_again: int = 0  # of those, settled later
    lost_with_environment: int = 0  # in flight or waiting to settle again when their environment died: never settled
    lost_waiting: dict = field(default_factory=dict)  # of those, whose settlement waited: number -> (row, held)
    held_by_lost_calls: Decimal = Decimal(0)
    lost_holds: dict = field(default_factory=dict)  # identity -> what its calls lost with their environments held
    settled_spend: Decimal = Decimal(0)
    admitted_per_second: dict = field(default_factory=dict)
    minute_requests: dict = field(default_factory=lambda: defaultdict(int))  # (identity, minute) -> admitted
    minute_tokens: dict = field(default_factory=lambda: defaultdict(int))  # (identity, minute) -> used or held


def judge(scenario: Scenario, table: Table, figures: Figures, settled: bytearray, totals: dict, counted_lost) -> dict:
    """The figures; a call lost while its settlement waited may have left its row or its count, or both: its row is
    left out of the rows compared and its count, where its counter took it, out of the counts."""
    rows, spend_by_identity, rows_of_lost = set(), dict(figures.lost_holds), 0
    row_spend = Decimal(0)
    for (pk, _), item in table.items.items():
        if pk.startswith("CALLS#"):
            number, cost = int(item["call_id"]["S"]), Decimal(item["cost_usd"]["N"])
            if number in figures.lost_waiting:
                rows_of_lost += 1  # its worst case is in lost_holds
                continue
            rows.add(number)
            row_spend += cost
            identity = item["identity"]["S"]
            spend_by_identity[identity] = spend_by_identity.get(identity, 0) + cost
    settled_calls = {n for n, done in enumerate(settled) if done}
    total = totals.get(TOTAL)
    calls_counted = total.calls - len(counted_lost) if total else 0
    spent = total.spent - sum(row.cost_usd for row, _ in counted_lost) if total else Decimal(0)
    # without leases, a lost call whose count got through released its global hold down to its cost; with leases its
    # lease keeps the worst case
    released = sum(held - row.cost_usd for row, held in counted_lost) if scenario.design == "today" else 0
    worst_spend = figures.settled_spend + figures.held_by_lost_calls  # a lost call may have spent all it held
    identity_overshoot = sum(max(Decimal(0), spent - scenario.identity_limit) for spent in spend_by_identity.values())
    requests_over = sum(max(0, n - scenario.requests_per_minute) for n in figures.minute_requests.values())
    tokens_over = sum(max(0, n - scenario.tokens_per_minute) for n in figures.minute_tokens.values())
    stranded = total.committed - spent - figures.held_by_lost_calls + released if total else Decimal(0)
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
            "settled_again": figures.settled_again,
            "lost_with_environment": figures.lost_with_environment,
            "lost_waiting_to_settle_again": len(figures.lost_waiting),
            "rows_of_those": rows_of_lost,
            "counts_of_those": len(counted_lost),
            "unsettled": figures.admitted - figures.settled - figures.lost_with_environment,
        },
        "exactness": {
            "overshoot_global_usd": str(max(Decimal(0), worst_spend - scenario.global_limit)),
            "overshoot_identities_usd": str(identity_overshoot),
            "requests_over_rate": requests_over,
            "tokens_over_rate": tokens_over,
            "lost_rows": len(settled_calls - rows),
            "rows_of_unsettled_calls": len(rows - settled_calls),
            "double_counted_calls": max(0, calls_counted - len(rows)),
            "uncounted_calls": max(0, len(rows) - calls_counted),
            "ledger_spent_minus_rows_usd": str(spent - row_spend),
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
