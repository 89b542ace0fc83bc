"""The usage ledger in DynamoDB (the UsageTable), through boto3's DynamoDB client: conditional ADD for holds, no
read-modify-write. Retries, timeouts and endpoints are the client's (airelay.aws).

Items: counters at pk "DAY#<day>", sk "total", "id:<identity>" or "model:<model id>"; call rows at pk
"CALLS#<day>", sk "<time>#<call id>", with `expires_at` (epoch seconds) for the table's TTL. Counters stay small
items of their own: an item's write cost grows with its size.

With `shards` > 1 (USAGE_SHARDS) a day is spread over that many partition keys, as DynamoDB allows about 1,000
write units per second on one: a counter that holds a budget lives at "DAY#<day>#<crc32(key) mod shards>", and a
call adds its spend and tokens to the shard of its call id ("DAY#<day>#<n>", its row at "CALLS#<day>#<n>"), unless
it releases a hold of its own on that counter. Reads sum a key's items over the shards.
"""

from __future__ import annotations

import heapq
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial

from botocore.exceptions import ClientError

from .ledger import Hold, OverLimit, Totals, UsageLedger, UsageRow, settle_keys

STATS = {
    "spent": ":spent",
    "calls": ":one",
    "errors": ":errors",
    "cancelled": ":cancelled",
    "prompt_tokens": ":prompt",
    "cached_tokens": ":cached",
    "completion_tokens": ":completion",
}  # attribute: value
COUNTER_UPDATE = "ADD committed :committed, " + ", ".join(f"{name} {value}" for name, value in STATS.items())
ROW_FIELDS = {
    "call_id": "S",
    "request_id": "S",
    "at": "S",
    "day": "S",
    "identity": "S",
    "function": "S",
    "provider": "S",
    "model": "S",
    "prompt_tokens": "N",
    "cached_tokens": "N",
    "completion_tokens": "N",
    "cost_usd": "N",
    "latency_ms": "N",
    "status": "S",
}


def number(value) -> dict:
    return {"N": str(value)}


def attempt(write) -> BaseException | None:
    """Runs one write; returns its failure instead of raising it, so the writes sent with it still finish."""
    try:
        write()
    except Exception as error:
        return error
    return None


def counter_totals(item: dict) -> Totals:
    get = lambda name: item.get(name, {}).get("N", "0")  # noqa: E731
    return Totals(
        int(get("calls")),
        int(get("errors")),
        int(get("prompt_tokens")),
        int(get("cached_tokens")),
        int(get("completion_tokens")),
        Decimal(get("spent")),
        Decimal(get("committed")),
        int(get("cancelled")),
    )


class DynamoLedger(UsageLedger):
    def __init__(self, table: str, aws, retention_days: int = 90, shards: int = 1) -> None:
        """`aws`: the container's airelay.aws.Clients; the ledger asks it for the DynamoDB client at each call, so
        a client made anew by a restore hook is used at once."""
        self.table = table
        self.aws = aws
        self.retention_s = retention_days * 86400
        self.shards = max(1, shards)
        self._pool = ThreadPoolExecutor(8, thread_name_prefix="usage-ledger")

    def partition(self, prefix: str, day: str, shard: int) -> str:
        return f"{prefix}#{day}" if self.shards == 1 else f"{prefix}#{day}#{shard}"

    def partitions(self, prefix: str, day: str) -> list[str]:
        return [self.partition(prefix, day, n) for n in range(self.shards)]

    def shard_of(self, text: str) -> int:
        return zlib.crc32(text.encode()) % self.shards

    def counter(self, day: str, key: str) -> dict:
        """The item whose `committed` holds a budget: one per key and day, so a conditional write sees all of it."""
        return {"pk": {"S": self.partition("DAY", day, self.shard_of(key))}, "sk": {"S": key}}

    def reserve(self, day: str, holds: list[Hold], amount: Decimal) -> None:
        """The holds go out together (one round trip of latency); if any is refused, the others are taken back."""
        outcomes = self._together(lambda hold: self._hold(day, hold, amount), holds)
        refused = next((o for o in outcomes if isinstance(o, BaseException)), None)
        if refused is None:
            return
        taken = [hold for hold, outcome in zip(holds, outcomes) if outcome is None]
        self._release(day, taken, amount)
        raise refused

    def _hold(self, day: str, hold: Hold, amount: Decimal) -> BaseException | None:
        """Adds `amount` to the counter if it stays within the limit; returns the refusal instead of raising it."""
        room = hold.limit - amount
        try:
            if room < 0:
                return OverLimit(hold, self._committed(day, hold.key))
            self.aws.dynamodb.update_item(
                TableName=self.table,
                Key=self.counter(day, hold.key),
                UpdateExpression="ADD committed :amount",
                ConditionExpression="attribute_not_exists(committed) OR committed <= :room",
                ExpressionAttributeValues={":amount": number(amount), ":room": number(room)},
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except ClientError as refused:
            if refused.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                return refused
            item = refused.response.get("Item") or {}
            committed = Decimal(item["committed"]["N"]) if "committed" in item else self._committed(day, hold.key)
            return OverLimit(hold, committed)
        except Exception as error:
            return error

    def _release(self, day: str, holds: list[Hold], amount: Decimal) -> None:
        for hold in holds:
            self.aws.dynamodb.update_item(
                TableName=self.table,
                Key=self.counter(day, hold.key),
                UpdateExpression="ADD committed :amount",
                ExpressionAttributeValues={":amount": number(-amount)},
            )

    def _committed(self, day: str, key: str) -> Decimal:
        item = self.aws.dynamodb.get_item(TableName=self.table, Key=self.counter(day, key), ConsistentRead=True).get(
            "Item"
        )
        return Decimal(item["committed"]["N"]) if item and "committed" in item else Decimal(0)

    def settle(self, row: UsageRow, reserved: Decimal, leased: frozenset[str] = frozenset()) -> None:
        """Five single-item writes at once, not a transaction: transactions on the day's total item would cancel
        each other under concurrency (TransactionConflict). Each write is retried on its own (the client's retries);
        if one still fails, its hold stays counted, so the budget errs on the side of refusing, never of
        overspending. `leased`: held keys whose amount came from a budget lease (usage.leases), which the lease's
        return settles: the call adds only its spend to them, on its own shard."""
        client = self.aws.dynamodb
        shard = self.shard_of(row.call_id)
        writes = []
        for key, was_held in settle_keys(row):
            own_hold = was_held and key not in leased
            committed = row.cost_usd - reserved if own_hold else (0 if was_held else row.cost_usd)
            item = self.counter(row.day, key) if own_hold else self.stats_item(row.day, key, shard)
            writes.append(partial(self._add, item, row, committed))
        writes.append(partial(client.put_item, TableName=self.table, Item=self.row_item(row)))
        failed = [failure for failure in self._together(attempt, writes) if failure is not None]
        if failed:
            raise failed[0]

    def stats_item(self, day: str, key: str, shard: int) -> dict:
        return {"pk": {"S": self.partition("DAY", day, shard)}, "sk": {"S": key}}

    def _add(self, item: dict, row: UsageRow, committed: Decimal) -> None:
        self.aws.dynamodb.update_item(
            TableName=self.table,
            Key=item,
            UpdateExpression=COUNTER_UPDATE,
            ExpressionAttributeValues={
                ":committed": number(committed),
                ":spent": number(row.cost_usd),
                ":one": number(1),
                ":errors": number(int(row.status == "error")),
                ":cancelled": number(int(row.status == "cancelled")),
                ":prompt": number(row.prompt_tokens),
                ":cached": number(row.cached_tokens),
                ":completion": number(row.completion_tokens),
            },
        )

    def _together(self, work, items: list) -> list:
        """work(item) for every item at once: the first in this thread, the others in the pool."""
        others = [self._pool.submit(work, item) for item in items[1:]]
        return [work(items[0]), *(other.result() for other in others)] if items else []

    def row_item(self, row: UsageRow) -> dict:
        item = {
            "pk": {"S": self.partition("CALLS", row.day, self.shard_of(row.call_id))},
            "sk": {"S": f"{row.at}#{row.call_id}"},
            "estimated": {"BOOL": row.estimated},
            "expires_at": number(int(time.time()) + self.retention_s),
        }
        for name, kind in ROW_FIELDS.items():
            item[name] = {kind: str(getattr(row, name))}
        return item

    def day_totals(self, day: str) -> dict[str, Totals]:
        totals: dict[str, Totals] = {}
        for pk in self.partitions("DAY", day):
            for item in self._query(pk):
                totals.setdefault(item["sk"]["S"], Totals()).add(counter_totals(item))
        return totals

    def totals_for_days(self, days: list[str]) -> list[dict[str, Totals]]:
        """One query per day and shard, eight at a time (the pool's size)."""
        return list(self._pool.map(self.day_totals, days))

    def rows(self, day: str, limit: int = 1000) -> list[UsageRow]:
        shards = [list(self._query(pk, newest_first=True, limit=limit)) for pk in self.partitions("CALLS", day)]
        newest = heapq.merge(*shards, key=lambda item: item["sk"]["S"], reverse=True)
        found = []
        for item, _ in zip(newest, range(limit)):
            values = {name: item[name][kind] for name, kind in ROW_FIELDS.items()}
            for name in ("prompt_tokens", "cached_tokens", "completion_tokens", "latency_ms"):
                values[name] = int(values[name])
            values["cost_usd"] = Decimal(values["cost_usd"])
            found.append(UsageRow(**values, estimated=item["estimated"]["BOOL"]))
        return found

    def _query(self, pk: str, newest_first: bool = False, limit: int | None = None):
        arguments = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": not newest_first,
        }
        if limit is not None:
            arguments["Limit"] = limit
        seen = 0
        while True:
            page = self.aws.dynamodb.query(**arguments)
            for item in page.get("Items", []):
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            if "LastEvaluatedKey" not in page:
                return
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
