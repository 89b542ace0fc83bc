"""The usage ledger in a SQLite file (the local default). Money is stored as integer nano-dollars (requests and
tokens in the same nano units). Each reserve and settle is one transaction; the `holds` table keeps the calls
reserved and not yet settled, so repeating either changes nothing.

Automatic checkpoints are off. A checkpoint copies the write-ahead log into the database file and syncs it: 3-5 ms
inside whichever commit crossed SQLite's threshold, about one call in a hundred. A thread of its own runs them
instead, every CHECKPOINT_EVERY writes, as SQLite's WAL documentation suggests, while calls go on: small ones, often,
slow the calls beside them least. SQLite starts the log over only after a checkpoint that copied all of it, which
under steady writes needs a moment without them: calls wait (about 0.6 ms, a copy and a sync) once the log holds
RESTART_FRAMES pages, one call in about 250, rather than at every checkpoint, one in 50."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from .ledger import Hold, OverLimit, Totals, UsageLedger, UsageRow, identity_key, settle_keys, settled_amount

log = logging.getLogger("airelay.usage")

NANO = Decimal(1_000_000_000)
LARGEST = 2**63 - 1  # SQLite's largest INTEGER: a limit above it is as good as none
CHECKPOINT_EVERY = 100  # writes (50 calls) between two checkpoints
RESTART_FRAMES = 2500  # pages in the log (about 10 MB; a call writes about 10) before it is started over
CHECKPOINTS = ThreadPoolExecutor(1, thread_name_prefix="airelay-sqlite-checkpoint")  # one for every ledger

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    day TEXT NOT NULL, key TEXT NOT NULL,
    committed INTEGER NOT NULL DEFAULT 0, spent INTEGER NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    prompt_tokens INTEGER NOT NULL DEFAULT 0, cached_tokens INTEGER NOT NULL DEFAULT 0,
    completion_tokens INTEGER NOT NULL DEFAULT 0, cancelled INTEGER NOT NULL DEFAULT 0,
    refused INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, key)
);
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, at TEXT NOT NULL, day TEXT NOT NULL,
    identity TEXT NOT NULL, function TEXT NOT NULL, provider TEXT NOT NULL, model TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
    cost_nano INTEGER NOT NULL, latency_ms INTEGER NOT NULL, status TEXT NOT NULL, estimated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_day ON calls (day, at);
CREATE TABLE IF NOT EXISTS holds (call_id TEXT PRIMARY KEY, since INTEGER NOT NULL);
"""
# Each adds the call's row unless it is there already: the first statement of a reserve and of a settle, whose
# rowcount (0: reserved or settled before) makes repeating either change nothing.
OPEN_HOLD = """
INSERT INTO holds SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM calls WHERE call_id = ?) ON CONFLICT DO NOTHING
"""
RECORD_CALL = "INSERT INTO calls VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"

ADD_TO_COUNTER = """
INSERT INTO counters
    (day, key, committed, spent, calls, errors, cancelled, prompt_tokens, cached_tokens, completion_tokens)
VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)
ON CONFLICT (day, key) DO UPDATE SET
    committed = committed + excluded.committed, spent = spent + excluded.spent, calls = calls + 1,
    errors = errors + excluded.errors, cancelled = cancelled + excluded.cancelled, prompt_tokens = prompt_tokens + excluded.prompt_tokens,
    cached_tokens = cached_tokens + excluded.cached_tokens, completion_tokens = completion_tokens + excluded.completion_tokens
"""

HOLD = """
INSERT INTO counters (day, key, committed) VALUES (?, ?, ?)
ON CONFLICT (day, key) DO UPDATE SET committed = committed + excluded.committed
"""
HOLD_WITHIN = HOLD + "WHERE committed + excluded.committed <= ?"  # no row changed: over the limit

FIGURES = "key, calls, errors, prompt_tokens, cached_tokens, completion_tokens, spent, committed, cancelled, refused"
DAY_COUNTERS = f"SELECT {FIGURES} FROM counters WHERE day = ?"
# the identity's own counter and its counters by model ("idmodel:<model id>|<identity>": the identity follows the
# first "|"), found in the day's range of "idmodel:" keys
CALLERS_COUNTERS = f"""
SELECT {FIGURES} FROM counters WHERE day = ? AND (key = ? OR (
    key > 'idmodel:' AND key < 'idmodel;' AND substr(key, instr(key, '|') + 1) = ?
))
"""

COUNT_REFUSAL = """
INSERT INTO counters (day, key, refused) VALUES (?, ?, 1) ON CONFLICT (day, key) DO UPDATE SET refused = refused + 1
"""


def to_nano(amount: Decimal) -> int:
    return int((amount * NANO).to_integral_value())


def from_nano(value: int) -> Decimal:
    return Decimal(value) / NANO


def totals_by_key(found: list[tuple]) -> dict[str, Totals]:
    """Counter rows (FIGURES) as Totals by key."""
    return {
        key: Totals(calls, errors, prompt, cached, completion, from_nano(spent), from_nano(committed), *counts)
        for key, calls, errors, prompt, cached, completion, spent, committed, *counts in found
    }


class SqliteLedger(UsageLedger):
    remote = False  # a local transaction takes about 0.1 ms: cheaper inline than a hop to a worker thread

    def __init__(self, path: str | Path, retention_days: int = 90) -> None:
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._path = str(path)
        self._db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=10)
        self._lock = threading.Lock()
        self._writes = 0
        self._checkpointer: sqlite3.Connection | None = None  # made and used on the CHECKPOINTS thread only
        with self._lock:
            self._wal = self._use_wal()
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.executescript(SCHEMA)
            columns = {column[1] for column in self._db.execute("PRAGMA table_info(counters)")}
            for added in ("cancelled", "refused"):  # older files
                if added not in columns:
                    self._db.execute(f"ALTER TABLE counters ADD COLUMN {added} INTEGER NOT NULL DEFAULT 0")
            cutoff = (datetime.now(UTC) - timedelta(days=retention_days)).date().isoformat()
            self._db.execute("DELETE FROM calls WHERE day < ?", (cutoff,))
            yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="minutes")[:16]
            self._db.execute("DELETE FROM counters WHERE length(day) > 10 AND day < ?", (yesterday,))  # minutes
            self._db.execute("DELETE FROM holds WHERE since < ?", (int(time.time()) - 86400,))

    def _use_wal(self) -> bool:
        """Once per file. Switching needs a moment with no other connection in a transaction, and SQLite does not
        wait for that by itself, so a busy file is retried briefly. False for an in-memory database (no log)."""
        for attempt in range(50):
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                    return True
                return self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
            except sqlite3.OperationalError:
                if attempt == 49:
                    raise
                time.sleep(0.02)

    @contextmanager
    def _transaction(self):
        """One write transaction, also atomic against other processes sharing the file."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            self._wrote()

    def _wrote(self) -> None:
        """Counts a committed write (under the lock); every CHECKPOINT_EVERY, hands a checkpoint to its thread."""
        self._writes += 1
        if self._wal and self._writes % CHECKPOINT_EVERY == 0:
            CHECKPOINTS.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        """The log is copied (and synced) while calls go on. Once it holds RESTART_FRAMES pages, the few that calls
        wrote meanwhile are copied between two of this ledger's writes: then the next write starts the log over."""
        try:
            if self._checkpointer is None:
                self._checkpointer = sqlite3.connect(self._path, isolation_level=None, timeout=10)
            written = self._writes
            _, frames, _ = self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if frames < RESTART_FRAMES:
                return
            with self._lock:
                if self._writes != written:
                    self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:  # the next one copies what this one could not
            log.warning("usage ledger checkpoint failed: %s", exc)

    def reserve(self, call_id: str, holds: list[Hold]) -> None:
        with self._transaction() as db:
            if not db.execute(OPEN_HOLD, (call_id, int(time.time()), call_id)).rowcount:
                return  # reserved (or settled) already
            for hold in holds:  # each is checked and added in one statement; a refusal rolls all of them back
                amount = to_nano(hold.amount)
                if hold.limit is None:
                    db.execute(HOLD, (hold.period, hold.key, amount))
                elif (
                    amount > to_nano(hold.limit)
                    or not db.execute(
                        HOLD_WITHIN, (hold.period, hold.key, amount, min(to_nano(hold.limit), LARGEST))
                    ).rowcount
                ):
                    raise OverLimit(hold, from_nano(self._committed(hold.period, hold.key)))

    def settle(self, row: UsageRow, holds: list[Hold] = ()) -> None:
        cost = to_nano(row.cost_usd)
        error, cancelled = int(row.status == "error"), int(row.status == "cancelled")
        with self._transaction() as db:
            if not db.execute(
                RECORD_CALL,
                (
                    row.call_id,
                    row.request_id,
                    row.at,
                    row.day,
                    row.identity,
                    row.function,
                    row.provider,
                    row.model,
                    row.prompt_tokens,
                    row.cached_tokens,
                    row.completion_tokens,
                    cost,
                    row.latency_ms,
                    row.status,
                    int(row.estimated),
                ),
            ).rowcount:
                return  # settled already
            reserved = db.execute("DELETE FROM holds WHERE call_id = ?", (row.call_id,)).rowcount
            held = {(hold.period, hold.key): hold for hold in holds} if reserved else {}
            for key in settle_keys(row):
                hold = held.pop((row.day, key), None)
                release = to_nano(hold.amount) if hold else 0
                stats = (cost - release, cost, error, cancelled, row.prompt_tokens, row.cached_tokens)
                db.execute(ADD_TO_COUNTER, (row.day, key, *stats, row.completion_tokens))
            for hold in held.values():
                change = to_nano(settled_amount(hold, row) - hold.amount)
                if not change:  # a request counts as held
                    continue
                db.execute(
                    "UPDATE counters SET committed = committed + ? WHERE day = ? AND key = ?",
                    (change, hold.period, hold.key),
                )

    def _committed(self, period: str, key: str) -> int:
        found = self._db.execute("SELECT committed FROM counters WHERE day = ? AND key = ?", (period, key)).fetchone()
        return found[0] if found else 0

    def committed(self, period: str, key: str) -> Decimal:
        with self._lock:
            return from_nano(self._committed(period, key))

    def day_totals(self, day: str) -> dict[str, Totals]:
        with self._lock:
            found = self._db.execute(DAY_COUNTERS, (day,)).fetchall()
        return totals_by_key(found)

    def caller_totals(self, identity: str, days: list[str]) -> list[dict[str, Totals]]:
        own = identity_key(identity)
        with self._lock:
            found = [self._db.execute(CALLERS_COUNTERS, (day, own, identity)).fetchall() for day in days]
        return [totals_by_key(rows) for rows in found]

    def count_refusal(self, day: str, identity: str) -> None:
        with self._lock:
            self._db.execute(COUNT_REFUSAL, (day, identity_key(identity)))
            self._wrote()

    def rows(self, day: str, limit: int = 1000) -> list[UsageRow]:
        with self._lock:
            found = self._db.execute(
                "SELECT * FROM calls WHERE day = ? ORDER BY at DESC LIMIT ?", (day, limit)
            ).fetchall()
        return [UsageRow(*r[:11], from_nano(r[11]), r[12], r[13], bool(r[14])) for r in found]
