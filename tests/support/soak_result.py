"""What a soak run (tests/support/soak.py) found, and whether the usage ledger adds up to the answers.

The workers count every request and its latency in a `Tally`, with the sums over the good chat answers (calls,
tokens, cost). Afterwards `wait_until_settled` reads the ledger's day totals once every call has settled, and
`summarize` puts the latencies, the server's resident memory and CPU time, the sums over the answers, the ledger's
totals and the usage report into a `SoakResult`, whose `ledger_matches` compares them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

from tests.support.soak_client import CHECKS, Answer
from tests.support.soak_processes import Sample


@dataclass
class Tally:
    requests: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CHECKS, 0))
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in CHECKS})
    errors: list[str] = field(default_factory=list)
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: Decimal = field(default_factory=Decimal)

    def add(self, kind: str, elapsed_ms: float, answer: Answer | None, measured: bool) -> None:
        if measured:
            self.requests[kind] += 1
            self.latencies_ms[kind].append(elapsed_ms)
        if answer is not None:
            self.calls += 1
            self.prompt_tokens += answer.prompt_tokens
            self.completion_tokens += answer.completion_tokens
            self.cost_usd += answer.cost_usd


def ledger_totals(db_path: Path, days: list[str]):
    from airelay.usage.ledger import TOTAL, Totals
    from airelay.usage.sqlite import SqliteLedger

    ledger, total = SqliteLedger(str(db_path)), Totals()
    for day in days:
        total.add(ledger.day_totals(day).get(TOTAL, Totals()))
    return total


def wait_until_settled(db_path: Path, days: list[str], calls: int, timeout_s: float = 15.0):
    """The ledger once every call is settled (a stream settles just after its last byte is sent)."""
    deadline = time.monotonic() + timeout_s
    while True:
        totals = ledger_totals(db_path, days)
        if (totals.calls >= calls and totals.committed == totals.spent) or time.monotonic() > deadline:
            return totals
        time.sleep(0.1)


@dataclass
class SoakResult:
    duration_s: float
    concurrency: int
    requests: dict[str, int]
    rps: float
    latency_ms: dict[str, dict[str, float]]
    errors: int
    error_samples: list[str]
    rss_mib: dict[str, float]
    rss_samples: list[tuple[float, int]]  # (seconds since the start, KiB)
    cpu_s: dict[str, float]  # the server's after the warm-up; the load client's (this process), warm-up included
    load_average: list[float]  # the machine's 1-minute load average before and after the run (2 cores here)
    responses: dict[str, str]  # sums over the good chat answers
    ledger: dict[str, str]  # the ledger's day totals
    usage_report: dict[str, str]  # /api/usage's total after the run
    server_errors: list[str]  # ERROR lines in the server's log

    @property
    def ledger_matches(self) -> bool:
        """The ledger and the usage report add up to exactly what the answers reported; nothing left on hold."""
        same = all(
            Decimal(self.responses[k]) == Decimal(self.ledger[k]) == Decimal(self.usage_report[k])
            for k in ("calls", "prompt_tokens", "completion_tokens", "cost_usd")
        )
        return (
            same
            and Decimal(self.ledger["committed_usd"]) == Decimal(self.ledger["cost_usd"])
            and self.ledger["errors"] == "0"
        )

    def to_dict(self) -> dict:
        return {**asdict(self), "ledger_matches": self.ledger_matches}


def percentile(values: list[float], p: float) -> float:
    """Nearest rank."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def summarize(
    tally: Tally,
    samples: list[Sample],
    measured_s: float,
    client_cpu_s: float,
    warmup_s: float,
    concurrency: int,
    ledger,
    report: dict,
    server_errors: list[str],
) -> SoakResult:
    measured = [kb for t, kb, _ in samples if t >= warmup_s]
    server_cpu = [cpu for t, _, cpu in samples if t >= warmup_s]
    all_latencies = [ms for values in tally.latencies_ms.values() for ms in values]
    latency = {
        kind: {
            "p50": round(percentile(v, 50), 2),
            "p99": round(percentile(v, 99), 2),
            "max": round(max(v, default=0.0), 2),
        }
        for kind, v in {**tally.latencies_ms, "all": all_latencies}.items()
    }
    return SoakResult(
        duration_s=round(measured_s, 2),
        concurrency=concurrency,
        requests=dict(tally.requests),
        rps=round(sum(tally.requests.values()) / measured_s, 1) if measured_s > 0 else 0.0,
        latency_ms=latency,
        errors=len(tally.errors),
        error_samples=tally.errors[:10],
        rss_mib={
            "start": round(measured[0] / 1024, 1),
            "end": round(measured[-1] / 1024, 1),
            "max": round(max(measured) / 1024, 1),
            "before_warmup": round(samples[0][1] / 1024, 1),
        },
        rss_samples=[(t, kb) for t, kb, _ in samples],
        cpu_s={"server": round(server_cpu[-1] - server_cpu[0], 2), "client_all": round(client_cpu_s, 2)},
        responses={
            "calls": str(tally.calls),
            "prompt_tokens": str(tally.prompt_tokens),
            "completion_tokens": str(tally.completion_tokens),
            "cost_usd": str(tally.cost_usd),
        },
        ledger={
            "calls": str(ledger.calls),
            "errors": str(ledger.errors),
            "prompt_tokens": str(ledger.prompt_tokens),
            "completion_tokens": str(ledger.completion_tokens),
            "cost_usd": str(ledger.spent),
            "committed_usd": str(ledger.committed),
        },
        usage_report={
            "calls": str(report["calls"]),
            "prompt_tokens": str(report["prompt_tokens"]),
            "completion_tokens": str(report["completion_tokens"]),
            "cost_usd": str(Decimal(repr(report["cost_usd"]))),
        },
        server_errors=server_errors,
        load_average=[],
    )
