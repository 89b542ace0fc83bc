"""What only the SQLite ledger does: it deletes call rows past their retention when it opens the file (DynamoDB's
TTL does that on AWS) and makes the folder it is in, and a write that fails half way changes nothing and leaves the file usable."""

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from airelay.usage.ledger import REQUESTS, TOTAL, USD, Hold, OverLimit, UsageRow, requests_key
from airelay.usage.sqlite import CHECKPOINTS, RESTART_FRAMES, SqliteLedger


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


def test_a_ledger_opened_again_keeps_this_minutes_counts_and_the_holds_of_calls_in_flight(tmp_path):
    # GIVEN a call in flight, holding this minute's one request of the caller and a dollar of the day's budget
    path, now = tmp_path / "usage.sqlite3", datetime.now(UTC)
    day, minute = now.date().isoformat(), now.isoformat(timespec="minutes")[:16]
    rpm = Hold(minute, requests_key("ip:1.2.3.4"), REQUESTS, Decimal(1), Decimal(1), "requests_per_minute")
    holds = [Hold(day, TOTAL, USD, Decimal(1), Decimal(10), "global"), rpm]
    SqliteLedger(path).reserve("in-flight", holds)
    # WHEN another function opens the same file (it clears what is a day old)
    reopened = SqliteLedger(path)
    # THEN the caller's request of this minute still counts: a second one this minute is refused
    assert reopened.committed(minute, rpm.key) == 1
    with pytest.raises(OverLimit):
        reopened.reserve("second", [rpm])
    # AND the call in flight settles against its hold: the day counts its cost, not its hold as well
    reopened.settle(row(day, "in-flight", cost_usd=Decimal("0.25")), holds)
    assert reopened.day_totals(day)[TOTAL].committed == Decimal("0.25")


@pytest.mark.parametrize("opened_before", [False, True], ids=["new file", "file in WAL mode already"])
def test_no_call_copies_the_log_into_the_database_file_and_the_log_stays_small(tmp_path, opened_before):
    # GIVEN a ledger written to without a pause: 3,000 calls, each reserved and settled
    path = tmp_path / "usage.sqlite3"
    if opened_before:
        SqliteLedger(path)
    ledger, day = SqliteLedger(path), days_ago(0)
    for n in range(3000):
        holds = [Hold(day, TOTAL, USD, Decimal("0.01"), Decimal("1000"))]
        ledger.reserve(f"call-{n}", holds)
        ledger.settle(row(day, f"call-{n}"), holds)
    CHECKPOINTS.submit(lambda: None).result()  # the checkpoints handed over so far have run
    # THEN the calls' own connection never checkpoints (that took 3-5 ms in one call of a hundred) ...
    assert ledger._db.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
    # ... and the checkpoint thread started the log over: never checkpointed, or never copied to its end, it
    # would hold every call's pages (about 110 MB here); it restarts after RESTART_FRAMES pages (about 10 MB), and
    # a loop this tight writes a few MB more while a checkpoint syncs
    assert (tmp_path / "usage.sqlite3-wal").stat().st_size < 32 * 1024 * 1024
    assert ledger.day_totals(day)[TOTAL].calls == 3000


class WatchedLock:
    """The ledger's lock, noting each time the checkpoint thread takes it (then calls wait for the checkpoint)."""

    def __init__(self) -> None:
        self.lock, self.checkpoint_waits = threading.Lock(), 0

    def __enter__(self):
        self.lock.acquire()
        if threading.current_thread().name.startswith("airelay-sqlite-checkpoint"):
            self.checkpoint_waits += 1

    def __exit__(self, *exc) -> None:
        self.lock.release()


def test_calls_do_not_wait_for_a_checkpoint_that_can_copy_the_whole_log_while_they_go_on(tmp_path):
    # GIVEN 1,000 calls, 2,000 writes, so 20 checkpoints, each with a pause to finish before the next 50 calls
    ledger, day = SqliteLedger(tmp_path / "usage.sqlite3"), days_ago(0)
    ledger._lock = watched = WatchedLock()
    for n in range(1000):
        holds = [Hold(day, TOTAL, USD, Decimal("0.01"), Decimal("1000"))]
        ledger.reserve(f"call-{n}", holds)
        ledger.settle(row(day, f"call-{n}"), holds)
        if n % 50 == 49:
            CHECKPOINTS.submit(lambda: None).result()
    # THEN no call waited: each checkpoint copied the log to its end, so the next write started it over, and the
    # log never held RESTART_FRAMES pages (under writes without a pause, see the test above, calls wait for one
    # checkpoint in several; waiting for every one put a copy and a sync on one call in 50)
    assert watched.checkpoint_waits == 0
    assert ledger._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()[1] < RESTART_FRAMES
