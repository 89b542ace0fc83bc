"""The usage ledger in DynamoDB (the UsageTable), through boto3's DynamoDB client: conditional single-item writes,
no read-modify-write and no transactions (concurrent transactions on the day's total item would cancel each other).
Retries, timeouts and endpoints are the client's (airelay.aws).

Items: day counters at pk "DAY#<day>", sk "total" or "id:<identity>"; each also carries the per-model figures of
its calls as attributes "<figure>@<model id>" (the day's per model totals on "total", the caller's own on
"id:<identity>"), and the caller's counter its requests and tokens of each recent minute ("rpm@HH:MM", "tpm@HH:MM";
minutes 7-12 back are removed as new ones come). Call rows at pk "CALLS#<day>", sk "<time>#<call id>", with `expires_at` for the table's TTL.
A day's total and its totals per model are read summed from the callers' counters, which the ledger with budget leases
writes too (it leaves the figures off "total"), so that a day settled partly with leases and partly without adds up.

With `shards` > 1 (USAGE_SHARDS) a day is spread over that many partition keys, as DynamoDB allows about 1,000
write units a second on one: a counter lives at "DAY#<day>#<crc32(key) mod shards>", a call row at
"CALLS#<day>#<crc32(call id) mod shards>"; a day's reads go over every shard (a caller's own: its counters only).

Exact under retries: a call's holds on one item are one write, which sets the attribute "hold:<call id>" and adds
their amounts, on the condition that the attribute is not there yet; the settlement removes it in the write that trues
the counter up, on the condition that it is still there. A write retried after its first attempt landed fails its
condition and is recognised as done, so no amount counts twice. Only calls in flight keep such an attribute.
"""

from __future__ import annotations

import heapq
import logging
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from functools import partial

from botocore.exceptions import ClientError

from .dynamo_items import (
    ROW_FIELDS,
    attempt,
    failed_condition,
    figures,
    hold_name,
    item_totals,
    number,
    over_limit,
    stale_minutes,
    summed_from_callers,
)
from .dynamo_reads import query_items
from .ledger import TOTAL, Hold, OverLimit, Totals, UsageLedger, UsageRow, identity_key, settled_amount

log = logging.getLogger("airelay.usage")


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
        return {"pk": {"S": self.partition("DAY", day, self.shard_of(key))}, "sk": {"S": key}}

    def place(self, hold: Hold) -> tuple[dict, str]:
        """The item and attribute a hold counts on: a day counter's `committed`, or for a minute's requests or tokens
        of an identity the attribute "rpm@HH:MM" or "tpm@HH:MM" on that identity's day counter, so that they are
        checked in the same write as the identity's budget."""
        if len(hold.period) == 10:
            return self.counter(hold.period, hold.key), "committed"
        measure, _, identity = hold.key.partition(":")
        return self.counter(hold.period[:10], identity_key(identity)), f"{measure}@{hold.period[11:]}"

    def reserve(self, call_id: str, holds: list[Hold]) -> None:
        """One write per item (the day's total; the caller's budget with its minute's requests and tokens), sent
        together (one round trip of latency); if one is refused, the others are taken back."""
        items: dict[tuple, tuple[dict, list]] = {}
        for hold in holds:
            key, attribute = self.place(hold)
            items.setdefault((key["pk"]["S"], key["sk"]["S"]), (key, []))[1].append((hold, attribute))
        groups = list(items.values())
        outcomes = self._together(lambda group: self._hold(call_id, *group), groups)
        refused = next((o for o in outcomes if isinstance(o, OverLimit)), None)
        failed = refused or next((o for o in outcomes if o is not None), None)
        if failed is None:
            return
        # a write that failed otherwise may still have landed: taking it back is a no-op if it did not
        taken = [group for group, outcome in zip(groups, outcomes) if not isinstance(outcome, OverLimit)]
        for error in filter(
            None, self._together(lambda group: attempt(partial(self._release, call_id, *group)), taken)
        ):
            log.error(
                "a hold could not be taken back: it stays counted (erring on the side of refusing)", exc_info=error
            )
        raise failed

    def _hold(self, call_id: str, key: dict, held: list) -> BaseException | None:
        """Adds the holds' amounts to one item if each stays within its limit; returns the refusal instead of
        raising it."""
        names, values = {"#hold": hold_name(call_id)}, {":one": number(1)}
        conditions, adds = ["attribute_not_exists(#hold)"], []
        for i, (hold, attribute) in enumerate(held):
            names[f"#a{i}"], values[f":a{i}"] = attribute, number(hold.amount)
            adds.append(f"#a{i} :a{i}")
            if hold.limit is not None:
                if hold.amount > hold.limit:
                    return OverLimit(hold, self.committed(hold.period, hold.key))
                values[f":r{i}"] = number(hold.limit - hold.amount)
                conditions.append(f"(attribute_not_exists(#a{i}) OR #a{i} <= :r{i})")
        update = "SET #hold = :one ADD " + ", ".join(adds)
        minutes = {hold.period for hold, _ in held if len(hold.period) > 10}
        gone = stale_minutes(max(minutes)) if minutes else []
        old = sorted(f"{counter}@{minute}" for counter in ("rpm", "tpm") for minute in gone)
        if old:  # minutes long gone (no call is in flight that long) leave the item; a day's first minutes have none
            names |= {f"#o{i}": name for i, name in enumerate(old)}
            update += " REMOVE " + ", ".join(f"#o{i}" for i in range(len(old)))
        try:
            self.aws.dynamodb.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=" AND ".join(conditions),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            return None
        except ClientError as refused:
            if not failed_condition(refused):
                return refused
            item = refused.response.get("Item") or self._get(key)
            if names["#hold"] in item:
                return None  # these holds were taken by an earlier attempt of the same write
            return over_limit(held, item)
        except Exception as error:
            return error

    def _release(self, call_id: str, key: dict, held: list) -> None:
        names = {"#hold": hold_name(call_id)} | {f"#a{i}": attribute for i, (_, attribute) in enumerate(held)}
        values = {f":a{i}": number(-hold.amount) for i, (hold, _) in enumerate(held)}
        self.aws.dynamodb.update_item(
            TableName=self.table,
            Key=key,
            UpdateExpression="REMOVE #hold ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(held))),
            ConditionExpression="attribute_exists(#hold)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )

    def _get(self, key: dict) -> dict:
        found = self.aws.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        return found.get("Item") or {}

    def committed(self, period: str, key: str) -> Decimal:
        item_key, attribute = self.place(Hold(period, key, "", Decimal(0), None))
        item = self._get(item_key)
        return Decimal(item[attribute]["N"]) if attribute in item else Decimal(0)

    def settle(self, row: UsageRow, holds: list[Hold] = ()) -> None:
        """The day's total and the caller's counter (with the minute's tokens trued up to what the call used), and
        the row: single-item writes at once. Each is retried on its own (the client's retries); if one still fails,
        its hold stays counted, so the budget errs on the side of refusing, never of overspending, and settling
        again finishes only what is missing."""
        on_item: dict[str, list] = {}
        for hold in holds:
            key, attribute = self.place(hold)
            on_item.setdefault(key["sk"]["S"], []).append((hold, attribute))
        writes = [self._settle_counter(row, key, on_item.get(key, [])) for key in self.settled_counters(row)]
        writes.append(
            partial(
                self.aws.dynamodb.put_item,
                TableName=self.table,
                Item=self.row_item(row),
                ConditionExpression="attribute_not_exists(pk)",
            )
        )
        failed = [failure for failure in self._together(attempt, writes) if failure is not None]
        if failed:
            raise failed[0]

    def settled_counters(self, row: UsageRow) -> tuple[str, ...]:
        """The counters a settled call adds its figures to."""
        return TOTAL, identity_key(row.identity)

    def _settle_counter(self, row: UsageRow, key: str, held: list):
        """One day counter's write: the call's figures, overall and under its model; its holds trued up to what the
        call used and released."""
        names, values, adds = {}, {}, []
        usd = next((hold.amount for hold, attribute in held if attribute == "committed"), Decimal(0))
        values[":committed"] = number(row.cost_usd - usd)
        for i, (name, value) in enumerate(figures(row).items()):
            names[f"#m{i}"] = f"{name}@{row.model}"
            values[f":f{i}"] = number(value)
            adds.append(f"{name} :f{i}, #m{i} :f{i}")
        for i, (hold, attribute) in enumerate(held):
            change = settled_amount(hold, row) - hold.amount
            if attribute != "committed" and change:
                names[f"#t{i}"], values[f":t{i}"] = attribute, number(change)
                adds.append(f"#t{i} :t{i}")
        update = "ADD committed :committed, " + ", ".join(adds)
        arguments = {}
        if held:  # released once: the settlement's retry finds the hold gone
            names["#hold"] = hold_name(row.call_id)
            update = "REMOVE #hold " + update
            arguments["ConditionExpression"] = "attribute_exists(#hold)"
        return partial(
            self.aws.dynamodb.update_item,
            TableName=self.table,
            Key=self.counter(row.day, key),
            UpdateExpression=update,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
            **arguments,
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

    def count_refusal(self, day: str, identity: str) -> None:
        self.aws.dynamodb.update_item(
            TableName=self.table,
            Key=self.counter(day, identity_key(identity)),
            UpdateExpression="ADD refused :one",
            ExpressionAttributeValues={":one": number(1)},
        )

    def day_totals(self, day: str) -> dict[str, Totals]:
        """One query per shard; the day's total and each model's are summed from the callers' counters, so that a
        day settled partly with budget leases and partly without counts every call once."""
        stored: dict[str, Totals] = {}
        for pk in self.partitions("DAY", day):
            for item in query_items(self.aws.dynamodb, self.table, pk):
                for key, counted in item_totals(item).items():
                    stored.setdefault(key, Totals()).add(counted)
        return summed_from_callers(stored)

    def totals_for_days(self, days: list[str]) -> list[dict[str, Totals]]:
        """One query per day and shard, eight at a time (the pool's size)."""
        return list(self._pool.map(self.day_totals, days))

    def caller_totals(self, identity: str, days: list[str]) -> list[dict[str, Totals]]:
        """The caller's own counter of each day, which keeps its figures per model too: one Query by the counter's
        whole key per day, eight at a time."""
        return list(self._pool.map(partial(self._callers_day, identity_key(identity)), days))

    def _callers_day(self, key: str, day: str) -> dict[str, Totals]:
        found = query_items(self.aws.dynamodb, self.table, self.counter(day, key)["pk"]["S"], sk=key)
        return next((item_totals(item) for item in found), {})

    def rows(self, day: str, limit: int = 1000) -> list[UsageRow]:
        shards = [
            list(query_items(self.aws.dynamodb, self.table, pk, newest_first=True, limit=limit))
            for pk in self.partitions("CALLS", day)
        ]
        newest = heapq.merge(*shards, key=lambda item: item["sk"]["S"], reverse=True)
        found = []
        for item, _ in zip(newest, range(limit)):
            values = {name: item[name][kind] for name, kind in ROW_FIELDS.items()}
            for name in ("prompt_tokens", "cached_tokens", "completion_tokens", "latency_ms"):
                values[name] = int(values[name])
            values["cost_usd"] = Decimal(values["cost_usd"])
            found.append(UsageRow(**values, estimated=item["estimated"]["BOOL"]))
        return found
