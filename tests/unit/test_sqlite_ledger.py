"""What only the SQLite ledger does: it deletes call rows past their retention when it opens the file (DynamoDB's
TTL does that on AWS) and makes the folder it is in, and a write that fails half way changes nothing and leaves the file usable."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from airelay.usage.ledger import TOTAL, USD, Hold, UsageRow
from airelay.usage.sqlite import SqliteLedger


def row(day: str, call_id: str, **changes) -> UsageRow:
    values = dict(
        call_id=call_id, request_id="r", at=f"{day}T10:00:00.000+00:00", day=day, identity="ip:1.2.3.4",
        function="chat", provider="openai", model="openai/gpt-4o-mini", prompt_tokens=10, cached_tokens=0,
        completion_tokens=5, cost_usd=Decimal("0.001"), latency_ms=3, status="ok", estimated=False,
    )  # fmt: skip
    return UsageRow(**(values | changes))


def days_ago(n: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=n)).isoformat()


@pytest.mark.parametrize("retention", [None, 90, 7])
def test_rows_older_than_the_retention_are_deleted_when_the_file_is_opened(tmp_path, retention):
    keep = 90 if retention is None else retention
    path = tmp_path / "new" / "folder" / "usage.sqlite3"  # made on first use
    ledger = SqliteLedger(path)
    for n in (0, keep, keep + 1):
        ledger.settle(row(days_ago(n), f"call-{n}"))
    reopened = SqliteLedger(path) if retention is None else SqliteLedger(path, retention)
    assert [[r.call_id for r in reopened.rows(days_ago(n))] for n in (0, keep, keep + 1)] == [
        ["call-0"],
        [f"call-{keep}"],
        [],
    ]
    assert reopened.day_totals(days_ago(keep + 1))[TOTAL].calls == 1  # counters stay: only call rows expire


def test_a_settle_that_fails_half_way_changes_nothing_and_the_ledger_goes_on(tmp_path):
    ledger = SqliteLedger(tmp_path / "usage.sqlite3")
    day = days_ago(0)
    half = [Hold(day, TOTAL, USD, Decimal("0.5"), Decimal("1"))]
    ledger.reserve("broken", half)
    with pytest.raises(Exception):  # noqa: B017 - whatever sqlite3 raises for a value it cannot store
        ledger.settle(row(day, "broken", prompt_tokens=object()), half)
    assert ledger.day_totals(day)[TOTAL].committed == Decimal("0.5")
    assert ledger.rows(day) == []
    ledger.settle(row(day, "broken"), half)  # the hold trued up to the call's cost, 0.001
    ledger.reserve("next", [Hold(day, TOTAL, USD, Decimal("0.999"), Decimal("1"))])
    assert ledger.day_totals(day)[TOTAL].committed == Decimal("1.000")
