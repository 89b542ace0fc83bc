"""`python -m bench.scale [--quick] [--docs]`: budgets at 10,000 paid calls a second, simulated.

1,000 execution environments meter paid calls through the real usage ledger against the DynamoDB stand-in of
tests/support (per-partition-key limits, botocore's standard retries, a virtual clock): budget leases for a minute
at 10,000 calls a second with a global and per-caller budgets and per-caller requests and tokens per minute that run
out, and environments that die; today's design (the ledger without leases or shards: every counter of the day on one
partition key) at the same load, and at rising loads for its ceiling (the highest with under 1 % of writes
throttled).

Writes bench/results/scale-<UTC time>.json, scale-latest.json and scale.png; --docs also copies the chart to
docs/scale.png.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from decimal import Decimal
from pathlib import Path

from tests.support.budget_sim import Scenario
from tests.support.budget_sim import run as simulate

from . import report

FULL = dict(
    envs=1000,
    calls_per_s=10_000,
    seconds=60,
    warm_up_s=10,
    identities=20_000,
    global_limit=Decimal("50"),
    identity_limit=Decimal("0.1"),
)
QUICK = dict(envs=200, calls_per_s=2_000, seconds=15, warm_up_s=5, identities=4_000, global_limit=Decimal("5"))
TODAY_RATES = (25, 50, 100, 125, 150, 200, 300, 500)
ACCEPT = (
    "overshoot 0 (budgets and rates), lost 0, double counts 0, every call settled, throttled < 1 % after warm-up, "
    "stranded < 1 %"
)


def timed(scenario: Scenario) -> dict:
    started = time.process_time()
    result = simulate(scenario)
    result["cpu_s"] = round(time.process_time() - started, 1)
    print(f"  {scenario.design} at {scenario.calls_per_s:g}/s for {scenario.seconds:g} s: {result['cpu_s']} s CPU")
    return result


def ceiling(runs: list[dict]) -> float:
    passing = [r["scenario"]["calls_per_s"] for r in runs if r["throttling"]["throttled_share_after_warm_up"] < 0.01]
    return max(passing, default=0)


def accepted(result: dict) -> bool:
    exact, calls = result["exactness"], result["calls"]
    return (
        Decimal(exact["overshoot_global_usd"]) == 0
        and Decimal(exact["overshoot_identities_usd"]) == 0
        and exact["requests_over_rate"] == 0
        and exact["tokens_over_rate"] == 0
        and exact["lost_rows"] == 0
        and exact["rows_of_unsettled_calls"] == 0
        and exact["double_counted_calls"] == 0
        and exact["uncounted_calls"] == 0
        and calls["unsettled"] == 0
        and result["throttling"]["throttled_share_after_warm_up"] < 0.01
        and result["budget"]["stranded_share"] < 0.01
    )


def run(argv: list[str]) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 environments, 2,000 calls a second, 15 s")
    parser.add_argument("--docs", action="store_true", help="also copy the chart to docs/scale.png")
    args = parser.parse_args(argv)
    load = FULL if not args.quick else QUICK
    leases = timed(Scenario(design="leases", **load))
    today = timed(Scenario(design="today", **{**load, "seconds": min(load["seconds"], 20)}))
    rising = [
        timed(Scenario(design="today", **{**load, "calls_per_s": rate, "seconds": 20, "global_limit": Decimal(1000)}))
        for rate in TODAY_RATES
    ]
    document = {
        "benchmark": "scale",
        "meta": report.machine(),
        "acceptance": ACCEPT,
        "leases": leases,
        "today_same_load": today,
        "today_rising": rising,
        "today_ceiling_calls_per_s": ceiling(rising),
        "leases_accepted": accepted(leases),
    }
    stamp = document["meta"]["date_utc"].replace("-", "").replace(":", "")
    for name in (f"scale-{stamp}.json", "scale-latest.json"):
        (report.RESULTS / name).write_text(json.dumps(document, indent=2) + "\n")
    from .charts import scale_chart

    drawn = scale_chart(document, report.RESULTS / "scale.png")
    if args.docs:
        shutil.copyfile(drawn, Path(__file__).resolve().parents[1] / "docs" / "scale.png")
    print(text(document))
    return document


def line(name: str, result: dict) -> str:
    calls, exact, budget, throttling = result["calls"], result["exactness"], result["budget"], result["throttling"]
    seconds = result["scenario"]["seconds"]
    return (
        f"{name:<24} {calls['admitted'] / seconds:>8,.0f} {throttling['throttled_share_after_warm_up']:>9.2%} "
        f"{calls['refused_ledger_unavailable']:>8,} {exact['overshoot_global_usd']:>9} {exact['lost_rows']:>6,} "
        f"{exact['double_counted_calls']:>7,} {exact['uncounted_calls']:>9,} {calls['unsettled']:>9,} "
        f"{budget['stranded_share']:>9.2%}"
    )


def text(document: dict) -> str:
    header = (
        f"{'design (calls/s offered)':<24} {'admitted/s':>8} {'throttled':>9} {'503s':>8} {'overshoot':>9} "
        f"{'lost':>6} {'doubled':>7} {'uncounted':>9} {'unsettled':>9} {'stranded':>9}"
    )
    rows = [line(f"leases ({document['leases']['scenario']['calls_per_s']:,.0f})", document["leases"])]
    rows.append(
        line(f"today ({document['today_same_load']['scenario']['calls_per_s']:,.0f})", document["today_same_load"])
    )
    rows += [line(f"today ({r['scenario']['calls_per_s']:,.0f})", r) for r in document["today_rising"]]
    verdict = "PASS" if document["leases_accepted"] else "FAIL"
    return (
        "budgets at scale (simulated; throttled: share of write attempts after warm-up; 503s: calls refused because "
        "the ledger failed after the SDK's retries)\n"
        + "\n".join([header, *rows])
        + f"\ntoday's ceiling: {document['today_ceiling_calls_per_s']:,} paid calls/s; leases: {verdict} ({ACCEPT})"
    )


def main(argv: list[str]) -> int:
    document = run(argv)
    return 0 if document["leases_accepted"] else 1


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
